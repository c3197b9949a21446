//! Issue 21, "Hugo, as Hugo reads it": with `ids: hugo` posts are read as
//! Hugo reads a section, checked against real Hugo's RSS where it is installed.

use crate::support::hugo::{hugo_available, rss_guid_links, run_hugo};
use crate::support::site::Site;

/// A Hugo site's `hugo.yaml`, and tributary switched in place beside it.
const HUGO_YAML: &str =
    "baseURL: https://example.org/\ntitle: H\npermalinks:\n  blog: /blog/:year/:month/:slug/\n";
const IN_PLACE: &str = "title: H\nbase_url: https://example.org/\ncontent: content/blog\n\
                        permalink: /blog/:year/:month/:slug/\nids: hugo\n";

/// Posts of a Hugo section that exercise each of Hugo's rules; (path, text).
fn hugo_posts() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("_index.md".into(), "---\ntitle: Blog\n---\nThe blog.\n".into()),
        (
            "trip-to-köln/index.md".into(),
            "---\ntitle: \"Hello, Wörld: C++ / Go! (part 2)\"\ndate: 2022-05-10 8:30:00+00:00\n---\n\
             See {{< ref \"plain.md\" >}} and [the other]({{< relref \"/blog/b2\" >}}).\n\n\
             {{< figure src=\"photo.png\" title=\"Köln\" >}}\n\n\
             {{< youtube abc123 >}}\n\n\
             {{< note \"warn\" >}}**Careful**{{< /note >}}\n"
                .into(),
        ),
        ("trip-to-köln/notes.md".into(), "---\ntitle: a resource, not a page\n---\nx\n".into()),
        (
            "b2/index.md".into(),
            "---\ntitle: B2\ndate: 2021-03-01\nurl: /custom/Path\naliases: [/old/]\n---\nMoved.\n".into(),
        ),
        (
            "plain.md".into(),
            "+++\ntitle = \"Plain TOML\"\ndate = 2021-03-04T10:00:00-05:00\nslug = \"My Slug\"\n+++\nTOML.\n".into(),
        ),
        (
            "url2.md".into(),
            "---\ntitle: U2\ndate: 2021-03-05\nurl: /custom/dir/\n---\nx\n".into(),
        ),
        (
            "late-night.md".into(),
            "---\ntitle: \"Late night: 50% off & Ünïcode — ‘quotes’\"\ndate: 2021-12-31T23:30:00-05:00\n---\nx\n".into(),
        ),
        (
            "code.md".into(),
            "---\ntitle: Code\ndate: 2021-06-01T12:00:00Z\n---\n\
             {{< highlight go >}}\nfmt.Println(\"hi\")\n{{< /highlight >}}\n\n\
             Write `{{</* figure src=\"x\" */>}}` for a figure.\n"
                .into(),
        ),
        (
            "later.md".into(),
            "---\ntitle: Later\ndate: 2021-03-05\npublishDate: 2999-01-01\n---\nx\n".into(),
        ),
        (
            "gone.md".into(),
            "---\ntitle: Gone\ndate: 2021-03-05\nexpiryDate: 2022-01-01\n---\nx\n".into(),
        ),
        (
            "wip.md".into(),
            "---\ntitle: Work in progress\ndate: 2021-03-05\ndraft: true\n---\nx\n".into(),
        ),
    ];
    // Issue 21, finding 1: most posts are bundles, none with `slug:`.
    for n in 1..=20 {
        v.push((
            format!("week-{n:02}/index.md"),
            format!("---\ntitle: \"Week {n}: notes & more\"\ndate: 2021-03-{n:02}T09:00:00+01:00\n---\nWeek {n}.\n"),
        ));
    }
    v
}

/// The site's own shortcode: plain HTML with `.Get` and `.Inner`.
const NOTE_SHORTCODE: &str =
    "<div class=\"note {{ .Get 0 }}\">\n  {{- .Inner | markdownify -}}\n</div>\n";

fn hugo_site() -> Site {
    let site = Site::new(IN_PLACE);
    site.feed("main", "formats: [rss]\nlimit: all\n");
    site.write("hugo.yaml", HUGO_YAML);
    site.write("layouts/shortcodes/note.html", NOTE_SHORTCODE);
    for (path, text) in hugo_posts() {
        site.write(&format!("content/blog/{path}"), text);
    }
    site
}

/// Acceptance: a Hugo section with bundles, `url:`, title slugs, TOML,
/// publish/expiry dates, drafts and shortcodes, switched in place with a
/// hand-written `tributary.yaml` beside its `hugo.yaml`, gives every entry
/// the guid and link real Hugo gives it in the section's RSS.
#[test]
fn a_hugo_section_switched_in_place_has_every_guid_and_link_hugo_gives() {
    if !hugo_available() {
        return;
    }
    let site = hugo_site();
    let dest = site.cwd().join("hugo-public");
    run_hugo(site.root(), &dest);
    let theirs = rss_guid_links(&std::fs::read_to_string(dest.join("blog/index.xml")).unwrap());
    assert_eq!(theirs.len(), 26, "Hugo's own feed: {theirs:#?}");

    site.build_ok();
    let xml = site.read("main.rss");
    let ours = rss_guid_links(&xml);
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "Hugo has, tributary not: {missing:#?}\ntributary has, Hugo not: {extra:#?}"
    );
    // Shortcodes are rendered, never published as text: the one `{{` left
    // is the shortcode written as text (`{{</* figure */>}}`), as in Hugo.
    assert_only_the_escaped_shortcode_is_text(&xml);
    // ...with Hugo's links: `ref` absolute, `relref` site-relative (made absolute in feeds).
    assert!(
        xml.contains("https://example.org/blog/2021/03/my-slug/"),
        "{xml}"
    );
    assert!(xml.contains("https://example.org/custom/Path/"), "{xml}");
    assert!(xml.contains("photo.png"), "{xml}");
    assert!(
        xml.contains("https://www.youtube.com/watch?v=abc123"),
        "{xml}"
    );
    assert!(xml.contains("Careful"), "{xml}");
}

/// Every `{{` in `xml` is the shortcode `code.md` writes as text.
#[track_caller]
fn assert_only_the_escaped_shortcode_is_text(xml: &str) {
    let escaped = xml
        .matches("<code>{{&lt; figure src=\"x\" &gt;}}</code>")
        .count();
    assert!(escaped > 0, "{xml}");
    assert_eq!(xml.matches("{{").count(), escaped, "{xml}");
}

/// Issue 21, finding 1, without Hugo: twenty page bundles under `ids: hugo`
/// are twenty entries (the bundle is the page's name, its other Markdown
/// files are resources) where they were twenty "same entry id" errors.
#[test]
fn page_bundles_are_named_by_their_directory_and_their_resources_are_not_posts() {
    let site = hugo_site();
    site.build_ok();
    let xml = site.read("main.rss");
    let ours = rss_guid_links(&xml);
    assert_eq!(ours.len(), 26, "{ours:#?}");
    assert!(ours.contains(&(
        "https://example.org/blog/2021/03/week-7-notes-more/".to_string(),
        "https://example.org/blog/2021/03/week-7-notes-more/".to_string()
    )));
    assert!(!xml.contains("a resource, not a page"));
    assert!(!xml.contains("/index/"), "{xml}");
}

/// A shortcode tributary cannot render is an error at its `file:line`, and
/// the build writes nothing; with `--keep-going` the post is left out (never
/// published with the shortcode as text) and the others are published.
#[test]
fn an_unrenderable_shortcode_is_an_error_at_its_line_and_keep_going_leaves_the_post_out() {
    let site = hugo_site();
    site.write(
        "content/blog/insta.md",
        "---\ntitle: Insta\ndate: 2021-03-05\n---\nA photo:\n\n{{< instagram BWNjjyYFxVx >}}\n",
    );
    site.build()
        .expect_code(1)
        .stderr_has("content/blog/insta.md:7")
        .stderr_has("instagram");
    assert!(!site.public().join("main.rss").exists());

    let r = site.run(&["build", "--keep-going"]);
    r.expect_success()
        .stderr_has("content/blog/insta.md:7: warning: shortcode \"instagram\" cannot be rendered");
    let xml = site.read("main.rss");
    assert_eq!(rss_guid_links(&xml).len(), 26);
    assert!(!xml.contains("instagram"), "{xml}");
    assert_only_the_escaped_shortcode_is_text(&xml);
}

/// Two posts with one entry id fail the build; `--keep-going` publishes
/// the first, warns about the other and exits 0 (it exited 1 and wrote nothing).
#[test]
fn keep_going_publishes_despite_a_duplicate_entry_id() {
    let site = Site::new("title: T\nbase_url: https://example.org/\n");
    site.feed("main", "formats: [rss]\n");
    site.post("2024-01-01-a.md", "---\ntitle: A\nid: same\n---\nA.\n");
    site.post("2024-01-02-b.md", "---\ntitle: B\nid: same\n---\nB.\n");
    site.post("2024-01-03-c.md", "---\ntitle: C\n---\nC.\n");
    site.build().expect_code(1).stderr_has("same entry id");
    assert!(!site.public().join("main.rss").exists());
    site.run(&["build", "--keep-going"])
        .expect_success()
        .stderr_has("same entry id");
    let ids = rss_guid_links(&site.read("main.rss"));
    assert_eq!(ids.len(), 2, "{ids:?}");
}

/// Hugo's placeholders as Hugo reads them: `:section`, `:sections` (a
/// nested directory is a section only with an `_index.md`), `:filename`
/// (a bundle's directory, not lower-cased by Hugo's own rules but urlized),
/// `:slugorfilename`, `:title`, `:yearday`, `:monthname`, `:weekdayname`,
/// dates in their own offset, and a slug with `+` in it.
#[test]
fn hugo_s_placeholders_give_hugo_s_links() {
    if !hugo_available() {
        return;
    }
    let patterns = [
        "/:section/:year/:filename/",
        "/:sections/:yearday/:slugorfilename/",
        "/:title/",
        "/posts/:monthname/:weekdayname/:slug/",
        "/:year/:month/:day/:slug",
    ];
    for pattern in patterns {
        let site = Site::new(&format!(
            "title: H\nbase_url: https://example.org/\ncontent: content/blog\n\
             permalink: \"{pattern}\"\nids: hugo\n"
        ));
        site.feed("main", "formats: [rss]\nlimit: all\n");
        site.write(
            "hugo.yaml",
            format!(
                "baseURL: https://example.org/\ntitle: H\npermalinks:\n  blog: \"{pattern}\"\n"
            ),
        );
        let posts = [
            (
                "Cafe_File.md",
                "title: \"Über Café\"\ndate: 2021-05-02T23:00:00-03:00",
            ),
            (
                "sluggy.md",
                "title: With Slug\nslug: \"A Slug+Plus\"\ndate: 2021-05-03",
            ),
            ("My-Bundle/index.md", "title: Bundle\ndate: 2021-05-04"),
            ("sub/nested.md", "title: Nested\ndate: 2021-05-05"),
            ("sec/_index.md", "title: A section"),
            ("sec/in-section.md", "title: In a section\ndate: 2021-05-06"),
        ];
        for (path, fm) in posts {
            site.write(
                &format!("content/blog/{path}"),
                format!("---\n{fm}\n---\nx\n"),
            );
        }
        let dest = site.cwd().join("hugo-public");
        run_hugo(site.root(), &dest);
        // The home page's feed has every regular page (the section's leaves
        // out its subsection's).
        let theirs = rss_guid_links(&std::fs::read_to_string(dest.join("index.xml")).unwrap());
        assert_eq!(theirs.len(), 5, "{pattern}: {theirs:#?}");
        site.build_ok();
        let ours = rss_guid_links(&site.read("main.rss"));
        assert_eq!(ours, theirs, "{pattern}");
    }
}

/// A post whose `ref` shows another page's URL is read again at every build
/// (the post cache would keep the old URL when only the other page changed).
#[test]
fn a_ref_follows_its_page_when_only_that_page_changes() {
    let site = hugo_site();
    let trip = "content/blog/trip-to-köln/index.md";
    let text = std::fs::read_to_string(site.root().join(trip))
        .unwrap()
        .replacen("title:", "tags: [trip]\ntitle:", 1);
    site.write(trip, text);
    // A feed of that post alone: its document depends on the other page too.
    site.feed("trips", "formats: [rss]\nposts: {tags: [trip]}\n");
    site.build_ok();
    assert!(site
        .read("main.rss")
        .contains("https://example.org/blog/2021/03/my-slug/"));
    site.write(
        "content/blog/plain.md",
        "+++\ntitle = \"Plain TOML\"\ndate = 2021-03-04T10:00:00-05:00\nslug = \"New Slug\"\n+++\nTOML.\n",
    );
    site.build_ok();
    let xml = site.read("main.rss");
    assert!(
        xml.contains("See https://example.org/blog/2021/03/new-slug/"),
        "{xml}"
    );
    // (The page's guid stays `…/my-slug/`: the ledger keeps ids.)
    assert!(
        !xml.contains("See https://example.org/blog/2021/03/my-slug/"),
        "{xml}"
    );
    let xml = site.read("trips.rss");
    assert!(
        xml.contains("See https://example.org/blog/2021/03/new-slug/"),
        "{xml}"
    );
}
