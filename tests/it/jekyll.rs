//! Jekyll sites with Liquid (issue 21): posts are Liquid templates rendered
//! before Markdown as Jekyll does, compared with the real Jekyll and
//! jekyll-feed where they are installed; anything not rendered is an error
//! at its line, never template text in a feed.

use crate::support::jekyll::{atom_entries, available, build, hrefs};
use crate::support::site::Site;
use std::fs;

const CONFIG_YML: &str = "title: River Notes\n\
description: Notes from the river.\n\
url: https://example.org\n\
timezone: America/Los_Angeles\n\
permalink: /news/:year/:month/:day/:title/\n\
plugins: [jekyll-feed]\n\
include: [_pages]\n\
collections:\n  projects:\n    output: true\n    permalink: /projects/:path/\n\
exclude: [tributary.yaml, tributary.ledger, feeds, public, content]\n";

const TRIBUTARY_YAML: &str = "title: River Notes\n\
base_url: https://example.org/\n\
content: _posts\n\
permalink: /news/:year/:month/:day/:title/\n\
timezone: America/Los_Angeles\n\
ids: jekyll\n";

/// A Jekyll site switched in place: `_config.yml`, pages of a collection,
/// an included `_pages` folder and a plain page, posts with Liquid, and a
/// hand-written `tributary.yaml` beside them.
fn jekyll_site() -> Site {
    let site = Site::new(TRIBUTARY_YAML);
    site.feed("feed", "formats: [atom]\noutput: feed.xml\nlimit: all\n");
    site.write("_config.yml", CONFIG_YML);
    site.write("about.md", "---\ntitle: About\n---\nAbout us.\n");
    site.write("_data/crew.yml", "- Ana\n- Bo\n");
    site.write(
        "_pages/team.md",
        "---\ntitle: Team\npermalink: /team/\n---\nThe team.\n",
    );
    site.write(
        "_projects/tributary.md",
        "---\ntitle: Tributary\n---\nA project.\n",
    );
    site.write(
        "_posts/2024-03-01-welcome.md",
        "---\ntitle: Welcome\ndate: 2024-03-01 09:30:00 -0800\ntags: [news]\n---\n\
         Welcome to {{ site.title }}: {{ site.description }}\n\n\
         Read [about us]({% link about.md %}), meet [the team]({% link _pages/team.md %}) \
         and see [our project]({% link _projects/tributary.md %}).\n",
    );
    site.write(
        "_posts/2024-03-08-code.md",
        "---\ntitle: Code\ndate: 2024-03-08 10:00:00 -0800\n---\nSome code:\n\n\
         {% highlight ruby %}\ndef hello\n  puts \"<hi>\"\nend\n{% endhighlight %}\n\n\
         Liquid as text: {% raw %}`{{ page.title }}`{% endraw %}.\n\n\
         See also [the welcome post]({% post_url 2024-03-01-welcome %}).\n",
    );
    site.write(
        "_posts/2024-03-15-lists.md",
        "---\ntitle: Lists\ndate: 2024-03-15 12:00:00 -0700\neditions: [one, two, three]\n---\n\
         {% assign count = page.editions | size %}This post, \"{{ page.title }}\", has {{ count }} editions:\n\n\
         {% for e in page.editions %}* [{{ e }}]({{ '/editions/' | append: e | append: '/' | relative_url }})\n{% endfor %}\n\
         [Home]({{ '/' | absolute_url }})\n\n\
         Crew: {{ site.data.crew | join: ', ' }}; written {{ page.date | date_to_xmlschema }} as {{ page.title | slugify }}.\n",
    );
    // A YAML timestamp without a zone: Jekyll reads it as UTC, so in Los
    // Angeles this post is of March 11.
    site.write(
        "_posts/2024-03-12-early.md",
        "---\ntitle: Early\ndate: 2024-03-12 02:00:00\n---\nEarly, at {{ page.url }}.\n",
    );
    // A malformed date, read as Jekyll reads it: seconds kept, the zone
    // after the year ignored (so the site's time zone).
    site.write(
        "_posts/2024-03-20-late.md",
        "---\ntitle: Late\ndate: 2024-03-20 18:30:22 2024 -0800\n---\n\
         {% if page.title == 'Late' %}Late, as {{ page.url }} says.{% else %}wrong{% endif %}\n",
    );
    site
}

fn published(entry_xml: &str) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    entry_xml
        .split("<published>")
        .skip(1)
        .filter_map(|s| s.split("</published>").next())
        .map(|s| chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339"))
        .collect()
}

#[test]
fn liquid_posts_get_the_links_and_content_jekyll_feed_gives() {
    let site = jekyll_site();
    let run = site.build();
    run.expect_success();
    let ours = site.read("feed.xml");
    // The one `{{` left is the text `{% raw %}` keeps.
    let rest = ours.replacen("{{ page.title }}", "", 1);
    assert!(
        !rest.contains("{{") && !rest.contains("{%"),
        "template text published:\n{ours}"
    );
    let entries = atom_entries(&ours);
    assert_eq!(entries.len(), 5, "{ours}");
    let text: String = entries.iter().map(|e| e.content.clone()).collect();
    for want in [
        "Welcome to River Notes: Notes from the river.",
        "href=\"https://example.org/about/\"",
        "href=\"https://example.org/team/\"",
        "href=\"https://example.org/projects/tributary/\"",
        "href=\"https://example.org/news/2024/03/01/welcome/\"",
        "<figure class=\"highlight\"><pre><code class=\"language-ruby\" data-lang=\"ruby\">",
        "puts \"&lt;hi&gt;\"",
        "<code>{{ page.title }}</code>",
        "has 3 editions",
        "href=\"https://example.org/editions/two/\"",
        "Late, as /news/2024/03/20/late/ says.",
        "Crew: Ana, Bo; written 2024-03-15T12:00:00-07:00 as lists.",
        "Early, at /news/2024/03/11/early/.",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }

    if !available("liquid_posts_get_the_links_and_content_jekyll_feed_gives") {
        return;
    }
    build(site.root());
    let theirs = fs::read_to_string(site.root().join("_site/feed.xml")).unwrap();
    let jekyll = atom_entries(&theirs);
    assert_eq!(jekyll.len(), entries.len(), "{theirs}");
    for j in &jekyll {
        let ours = entries
            .iter()
            .find(|e| e.id == j.id)
            .unwrap_or_else(|| panic!("jekyll-feed's entry {} is not ours", j.id));
        assert_eq!(ours.link, j.link, "link of {}", j.id);
        assert_eq!(
            hrefs(&ours.content, "https://example.org"),
            hrefs(&j.content, "https://example.org"),
            "links in the content of {}",
            j.id
        );
        for text in [
            "River Notes",
            "has 3 editions",
            "{{ page.title }}",
            "Late, as",
            "Crew: Ana, Bo; written 2024-03-15T12:00:00-07:00 as lists.",
        ] {
            assert_eq!(
                ours.content.contains(text),
                j.content.contains(text),
                "{text:?} in {}: ours\n{}\njekyll's\n{}",
                j.id,
                ours.content,
                j.content
            );
        }
        if j.content.contains("<figure class=\"highlight\">") {
            assert!(ours.content.contains(
                "<figure class=\"highlight\"><pre><code class=\"language-ruby\" data-lang=\"ruby\">"
            ));
        }
    }
    assert_eq!(published(&ours), published(&theirs), "publication dates");
}

#[test]
fn liquid_not_rendered_is_an_error_at_its_line_and_skipped_with_keep_going() {
    let site = jekyll_site();
    site.write(
        "_posts/2024-04-01-broken.md",
        "---\ntitle: Broken\n---\nFine.\n\n{% include footer.html %}\n",
    );
    site.write(
        "_posts/2024-04-02-missing.md",
        "---\ntitle: Missing\n---\n[x]({% post_url 2020-01-01-nothing %})\n",
    );
    site.write(
        "_posts/2024-04-03-filter.md",
        "---\ntitle: Filter\n---\nText\n{{ page.title | jsonify_me }}\n",
    );
    let run = site.build();
    run.expect_code(1)
        .stderr_has("_posts/2024-04-01-broken.md:6:")
        .stderr_has("include")
        .stderr_has("_posts/2024-04-02-missing.md:4:")
        .stderr_has("2020-01-01-nothing")
        .stderr_has("_posts/2024-04-03-filter.md:5:");
    assert!(!site.public().join("feed.xml").exists());
    site.run(&["check"])
        .expect_code(1)
        .stderr_has("_posts/2024-04-01-broken.md:6:");

    // --keep-going reports the broken posts as every broken post is
    // reported, and publishes the others.
    site.run(&["build", "--keep-going"])
        .expect_success()
        .stderr_has(
            "_posts/2024-04-01-broken.md:6: warning: Liquid: {% include %} is not rendered",
        );
    let ours = site.read("feed.xml");
    assert_eq!(atom_entries(&ours).len(), 5);
    assert!(!ours.contains("{%"), "{ours}");
}

#[test]
fn hostile_loops_fail_quickly() {
    let site = jekyll_site();
    site.write(
        "_posts/2024-05-01-loop.md",
        "---\ntitle: Loop\n---\n{% for i in (1..100000) %}{% for j in (1..100000) %}x{% endfor %}{% endfor %}\n",
    );
    let started = std::time::Instant::now();
    site.build()
        .expect_code(1)
        .stderr_has("_posts/2024-05-01-loop.md:4:");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn sites_that_are_not_jekyll_keep_braces_as_text() {
    let site = Site::basic();
    site.post(
        "2024-01-01-braces.md",
        "---\ntitle: Braces\n---\nA Go template: `{{ .Title }}` and {% not liquid %}.\n",
    );
    site.build_ok();
    let json = site.json("main.json");
    let html = json["items"][0]["content_html"].as_str().unwrap();
    assert!(
        html.contains("{{ .Title }}") && html.contains("{% not liquid %}"),
        "{html}"
    );
}

#[test]
fn a_change_of_config_yml_rebuilds_the_posts_that_use_it() {
    let site = jekyll_site();
    site.build().expect_success();
    assert!(site.read("feed.xml").contains("Notes from the river."));
    site.build().expect_success();
    site.write(
        "_config.yml",
        CONFIG_YML.replace("Notes from the river.", "News from the delta."),
    );
    site.build().expect_success();
    let ours = site.read("feed.xml");
    assert!(ours.contains("News from the delta."), "{ours}");
    assert!(!ours.contains("Notes from the river."), "{ours}");
}
