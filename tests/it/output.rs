//! The documents written: required elements per format, absolute URLs,
//! archives, per-tag feeds, XML safety, determinism and failure safety.

use crate::support::site::*;
use std::collections::BTreeSet;

/// Three posts; the middle one was updated last.
fn three_post_site(config: &str) -> Site {
    let site = Site::new(config);
    site.feed("main", "title: Main Feed\ndescription: All the posts\n");
    site.post(
        "2021-01-01-first.md",
        post_text("title: First\ndate: 2021-01-01 08:00:00 +0000", "One.\n"),
    );
    site.post(
        "2021-02-01-second.md",
        post_text(
            "title: Second\ndate: 2021-02-01 08:00:00 +0000\nupdated: 2021-03-15 12:30:00 +0000",
            "Two.\n",
        ),
    );
    site.post(
        "2021-03-01-third.md",
        post_text("title: Third\ndate: 2021-03-01 08:00:00 +0000", "Three.\n"),
    );
    site
}

const AUTHOR_CONFIG: &str =
    "title: Test Site\nbase_url: https://example.org/\nauthor: Jane Doe <jane@example.org>\nlanguage: en\n";

// ---- Atom ----

#[test]
fn atom_feed_has_required_elements() {
    let site = three_post_site(AUTHOR_CONFIG);
    site.build_ok();
    let atom = site.read("main.atom");
    assert!(atom.starts_with("<?xml version=\"1.0\""), "{atom}");
    assert!(atom.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""));
    let head = before_first(&atom, "<entry>");
    assert_eq!(elements(head, "id"), ["https://example.org/main.atom"]);
    assert_eq!(elements(head, "title"), ["Main Feed"]);
    assert_eq!(elements(head, "subtitle"), ["All the posts"]);
    // Newest change of any entry: Second's update.
    assert_eq!(elements(head, "updated"), ["2021-03-15T12:30:00+00:00"]);
    assert!(head.contains(
        "<link href=\"https://example.org/main.atom\" rel=\"self\" type=\"application/atom+xml\"/>"
    ));
    assert_eq!(elements(head, "name"), ["Jane Doe"]);
    assert_eq!(elements(head, "email"), ["jane@example.org"]);

    let feed = site.atom("main.atom");
    assert_eq!(feed.entries.len(), 3);
    let titles: Vec<&str> = feed
        .entries
        .iter()
        .map(|e| e.title.value.as_str())
        .collect();
    assert_eq!(titles, ["Third", "Second", "First"], "newest first");
    for e in &feed.entries {
        assert!(e.id.starts_with("tag:example.org,2021-"), "{}", e.id);
        let alt: Vec<_> = e.links.iter().filter(|l| l.rel == "alternate").collect();
        assert_eq!(alt.len(), 1);
        assert!(alt[0].href.starts_with("https://example.org/2021/"));
        let c = e.content.as_ref().expect("content");
        assert_eq!(c.content_type.as_deref(), Some("html"));
    }
    let entries = after_first(&atom, "<entry>");
    assert_eq!(count(entries, "<content type=\"html\">"), 3);
    assert_eq!(count(entries, "<updated>"), 3);
}

#[test]
fn atom_feed_without_site_author_names_the_site() {
    let site = three_post_site(BASIC_CONFIG);
    site.build_ok();
    let head = before_first(&site.read("main.atom"), "<entry>").to_string();
    assert_eq!(elements(&head, "name"), ["Test Site"]);
}

// ---- RSS ----

#[test]
fn rss_channel_has_required_elements_and_last_build_date_is_the_newest_change() {
    let site = three_post_site(AUTHOR_CONFIG);
    site.build_ok();
    let rss = site.read("main.rss");
    assert!(rss.contains("<rss version=\"2.0\""));
    let head = before_first(&rss, "<item>");
    assert_eq!(elements(head, "title"), ["Main Feed"]);
    assert_eq!(elements(head, "link"), ["https://example.org/"]);
    assert_eq!(elements(head, "description"), ["All the posts"]);
    assert_eq!(elements(head, "language"), ["en"]);
    assert_eq!(
        elements(head, "lastBuildDate"),
        ["Mon, 15 Mar 2021 12:30:00 +0000"]
    );
    assert!(head.contains(
        "<atom:link href=\"https://example.org/main.rss\" rel=\"self\" type=\"application/rss+xml\"/>"
    ));
    assert!(rss.contains("xmlns:atom=\"http://www.w3.org/2005/Atom\""));
    let ch = site.rss("main.rss");
    assert_eq!(ch.items.len(), 3);
    let dates: Vec<&str> = ch
        .items
        .iter()
        .map(|i| i.pub_date.as_deref().unwrap())
        .collect();
    assert_eq!(
        dates,
        [
            "Mon, 1 Mar 2021 08:00:00 +0000",
            "Mon, 1 Feb 2021 08:00:00 +0000",
            "Fri, 1 Jan 2021 08:00:00 +0000"
        ]
    );
}

#[test]
fn rss_last_build_date_is_the_newest_post_date_without_updates() {
    let site = Site::basic();
    site.post(
        "a.md",
        post_text("title: A\ndate: 2022-05-06 07:08:09 +0200", "x\n"),
    );
    site.post(
        "b.md",
        post_text("title: B\ndate: 2021-05-06 07:08:09 +0000", "x\n"),
    );
    site.build_ok();
    let rss = site.read("main.rss");
    assert_eq!(
        elements(&rss, "lastBuildDate"),
        ["Fri, 6 May 2022 07:08:09 +0200"]
    );
}

#[test]
fn rss_channel_description_falls_back_to_the_title() {
    let site = Site::basic();
    site.post("2020-01-01-a.md", post_text("title: A", "x\n"));
    site.build_ok();
    let head = before_first(&site.read("main.rss"), "<item>").to_string();
    assert_eq!(elements(&head, "description"), ["Main"]);
}

#[test]
fn rss_guid_is_not_a_permalink_for_tag_ids() {
    let site = three_post_site(BASIC_CONFIG);
    site.build_ok();
    let rss = site.read("main.rss");
    assert_eq!(
        count(&rss, "<guid isPermaLink=\"false\">tag:example.org,"),
        3,
        "{rss}"
    );
    assert!(!rss.contains("isPermaLink=\"true\""));
}

#[test]
fn rss_guid_is_a_permalink_with_ids_permalink() {
    let site = three_post_site(&format!("{BASIC_CONFIG}ids: permalink\n"));
    site.build_ok();
    let rss = site.read("main.rss");
    // isPermaLink defaults to true in RSS 2.0: written out or left off, but never "false".
    let url = "https://example.org/2021/03/01/third/";
    assert!(
        rss.contains(&format!("<guid isPermaLink=\"true\">{url}</guid>"))
            || rss.contains(&format!("<guid>{url}</guid>")),
        "{rss}"
    );
    assert!(!rss.contains("isPermaLink=\"false\""), "{rss}");
    let ch = site.rss("main.rss");
    for it in &ch.items {
        let g = it.guid.as_ref().unwrap();
        assert!(g.permalink, "{g:?}");
        assert_eq!(Some(&g.value), it.link.as_ref());
    }
    let atom = site.atom("main.atom");
    assert_eq!(atom.entries[0].id, url);
}

// ---- JSON Feed ----

#[test]
fn json_feed_has_required_fields() {
    let site = three_post_site(AUTHOR_CONFIG);
    site.build_ok();
    let doc = site.json("main.json");
    assert_eq!(doc["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(doc["title"], "Main Feed");
    assert_eq!(doc["description"], "All the posts");
    assert_eq!(doc["home_page_url"], "https://example.org/");
    assert_eq!(doc["feed_url"], "https://example.org/main.json");
    assert_eq!(doc["language"], "en");
    assert_eq!(
        doc["authors"],
        serde_json::json!([{"name": "Jane Doe", "url": "mailto:jane@example.org"}])
    );
    let it = items(&doc);
    assert_eq!(it.len(), 3);
    assert_eq!(it[0]["id"], "tag:example.org,2021-03-01:third");
    assert_eq!(it[0]["url"], "https://example.org/2021/03/01/third/");
    assert_eq!(it[0]["title"], "Third");
    assert_eq!(it[0]["content_html"], "<p>Three.</p>\n");
    assert_eq!(it[0]["date_published"], "2021-03-01T08:00:00Z");
    assert_eq!(it[0]["date_modified"], "2021-03-01T08:00:00Z");
    assert_eq!(it[1]["date_modified"], "2021-03-15T12:30:00Z");
    for i in it {
        for k in [
            "id",
            "url",
            "content_html",
            "date_published",
            "date_modified",
        ] {
            assert!(i[k].is_string(), "item lacks {k}: {i:#}");
        }
    }
}

#[test]
fn output_flag_writes_elsewhere() {
    let site = three_post_site(BASIC_CONFIG);
    let out = site.cwd().join("elsewhere");
    site.build_with(&["--output", out.to_str().unwrap()])
        .expect_success();
    assert_eq!(
        list_files(&out),
        [
            "index.html",
            "main.atom",
            "main.html",
            "main.json",
            "main.rss"
        ]
    );
    assert!(!site.public().exists(), "public/ written despite --output");
}

#[test]
fn formats_and_single_output_path() {
    let site = Site::basic();
    site.feed("main", "title: Main\nformats: [rss]\noutput: feed.xml\n");
    site.post("2020-01-01-a.md", post_text("title: A", "x\n"));
    site.build_ok();
    // The feed, its human page and the `/` page (issue 21).
    assert_eq!(site.public_files(), ["feed.html", "feed.xml", "index.html"]);
    let xml = site.read("feed.xml");
    assert!(xml.contains("<rss version=\"2.0\""));
    assert!(xml.contains("<atom:link href=\"https://example.org/feed.xml\" rel=\"self\""));
}

#[test]
fn site_without_posts_builds_valid_empty_feeds() {
    let site = Site::basic();
    std::fs::remove_dir(site.root().join("content")).unwrap();
    let r = site.build_ok();
    r.stderr_has("built 0 posts into 3 feed documents");
    assert_eq!(count(&site.read("main.atom"), "<entry>"), 0);
    assert!(site.read("main.atom").contains("<fh:complete/>"));
    assert_eq!(items(&site.json("main.json")).len(), 0);
}

// ---- URL absolutizing ----

#[test]
fn relative_urls_in_content_become_absolute_in_every_format() {
    let site = Site::basic();
    site.post(
        "2020-05-06-links.md",
        post_text(
            "title: Links",
            "Intro [a](/x/y) and [b](rel/path).\n\n![i](/img.png) <a href=\"/raw\">raw</a> \
             <img src='pic.jpg'> [frag](#top) [ext](https://k8s.io/)\n",
        ),
    );
    site.build_ok();
    let want = [
        "href=\"https://example.org/x/y\"",
        "href=\"https://example.org/2020/05/06/links/rel/path\"",
        "src=\"https://example.org/img.png\"",
        "href=\"https://example.org/raw\"",
        "src='https://example.org/2020/05/06/links/pic.jpg'",
        "href=\"https://k8s.io/\"",
    ];
    let atom = site.atom("main.atom");
    let atom_html = atom.entries[0]
        .content
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    let rss = site.rss("main.rss");
    let rss_html = rss.items[0].content.clone().unwrap();
    let json = site.json("main.json");
    let json_html = items(&json)[0]["content_html"]
        .as_str()
        .unwrap()
        .to_string();
    for (name, html) in [
        ("atom", &atom_html),
        ("rss", &rss_html),
        ("json", &json_html),
    ] {
        for w in want {
            assert!(html.contains(w), "{name} content lacks {w}: {html}");
        }
        assert!(!html.contains("href=\"/"), "{name}: {html}");
        assert!(!html.contains("src=\"/"), "{name}: {html}");
    }
    // The excerpt (summary) is absolutized too.
    let summary = atom.entries[0].summary.as_ref().unwrap().value.clone();
    assert!(
        summary.contains("href=\"https://example.org/x/y\""),
        "{summary}"
    );
    // build_ok found no relative-link warning; the validator does warn when
    // one is there, so that finding means something.
    let doc = site.read("main.atom").replace(
        "href=&quot;https://example.org/raw&quot;",
        "href=&quot;/raw&quot;",
    );
    assert!(doc.contains("href=&quot;/raw&quot;"));
    let ds = tributary::emit::validate::check(
        tributary::config::Format::Atom,
        doc.as_bytes(),
        std::path::Path::new("main.atom"),
    );
    assert!(
        ds.iter()
            .any(|d| d.message.contains("relative link \"/raw\"")),
        "validator misses a relative link: {ds:?}"
    );
}

#[test]
fn root_relative_links_resolve_against_the_host_under_a_base_path() {
    let site = Site::new("title: T\nbase_url: https://example.org/blog\n");
    site.feed("main", MAIN_FEED);
    site.post("2020-05-06-p.md", post_text("title: P", "[a](/x) [b](y)\n"));
    site.build_ok();
    let json = site.json("main.json");
    let it = &items(&json)[0];
    assert_eq!(it["url"], "https://example.org/blog/2020/05/06/p/");
    let html = it["content_html"].as_str().unwrap();
    // As a browser on the post's page resolves them.
    assert!(html.contains("href=\"https://example.org/x\""), "{html}");
    assert!(
        html.contains("href=\"https://example.org/blog/2020/05/06/p/y\""),
        "{html}"
    );
    assert_eq!(json["feed_url"], "https://example.org/blog/main.json");
}

// ---- archives ----

fn archive_site(feed: &str) -> Site {
    let site = Site::basic();
    site.feed("main", feed);
    for d in 1..=25 {
        site.post(
            &format!("2020-01-{d:02}-post-{d:02}.md"),
            post_text(&format!("title: Post {d}"), &format!("Body {d}.\n")),
        );
    }
    site
}

fn links(feed: &atom_syndication::Feed, rel: &str) -> Vec<String> {
    feed.links
        .iter()
        .filter(|l| l.rel == rel)
        .map(|l| l.href.clone())
        .collect()
}

fn ids(feed: &atom_syndication::Feed) -> Vec<String> {
    feed.entries.iter().map(|e| e.id.clone()).collect()
}

#[test]
fn archive_pages_hold_limit_entries_and_link_to_each_other() {
    let site = archive_site("title: Main\nlimit: 10\narchive: true\n");
    site.build_ok();
    assert_eq!(
        site.public_files(),
        [
            "archive/main-1.atom",
            "archive/main-1.json",
            "archive/main-1.rss",
            "archive/main-2.atom",
            "archive/main-2.json",
            "archive/main-2.rss",
            "index.html",
            "main.atom",
            "main.html",
            "main.json",
            "main.rss",
        ]
    );
    let base = "https://example.org/";
    let sub = site.atom("main.atom");
    let a1 = site.atom("archive/main-1.atom");
    let a2 = site.atom("archive/main-2.atom");
    assert_eq!(sub.entries.len(), 10);
    assert_eq!(a1.entries.len(), 10);
    assert_eq!(a2.entries.len(), 10);
    assert_eq!(sub.entries[0].title.value, "Post 25");
    assert_eq!(
        a1.entries[0].title.value, "Post 10",
        "archive 1 holds the oldest"
    );
    assert_eq!(a1.entries[9].title.value, "Post 1");
    assert_eq!(a2.entries[0].title.value, "Post 20");

    // Subscription document: prev-archive to the newest archive, not complete.
    assert_eq!(
        links(&sub, "prev-archive"),
        [format!("{base}archive/main-2.atom")]
    );
    assert!(links(&sub, "next-archive").is_empty());
    let sub_text = site.read("main.atom");
    assert!(!sub_text.contains("<fh:complete/>") && !sub_text.contains("<fh:archive/>"));

    // Archive pages: fh:archive, current, prev/next.
    for (doc, name) in [(&a1, "archive/main-1.atom"), (&a2, "archive/main-2.atom")] {
        assert!(site.read(name).contains("<fh:archive/>"), "{name}");
        assert_eq!(
            links(doc, "current"),
            [format!("{base}main.atom")],
            "{name}"
        );
        assert_eq!(links(doc, "self"), [format!("{base}{name}")], "{name}");
    }
    assert!(links(&a1, "prev-archive").is_empty());
    assert_eq!(
        links(&a1, "next-archive"),
        [format!("{base}archive/main-2.atom")]
    );
    assert_eq!(
        links(&a2, "prev-archive"),
        [format!("{base}archive/main-1.atom")]
    );
    assert!(links(&a2, "next-archive").is_empty());

    // fh:archive comes before the first entry (RFC 4287 allows extensions there only).
    let t = site.read("archive/main-1.atom");
    assert!(t.find("<fh:archive/>").unwrap() < t.find("<entry>").unwrap());

    // Together they hold every post exactly once per page.
    let all: BTreeSet<String> = [&sub, &a1, &a2].iter().flat_map(|f| ids(f)).collect();
    assert_eq!(all.len(), 25);
    let archived: BTreeSet<String> = [&a1, &a2].iter().flat_map(|f| ids(f)).collect();
    assert_eq!(archived.len(), 20);

    // RSS carries the same links.
    let rss2 = site.read("archive/main-2.rss");
    assert!(rss2.contains("<fh:archive"), "{rss2}");
    assert!(rss2.contains(&format!(
        "<atom:link href=\"{base}archive/main-1.rss\" rel=\"prev-archive\""
    )));
    assert!(rss2.contains(&format!(
        "<atom:link href=\"{base}main.rss\" rel=\"current\""
    )));
    let rss_sub = site.read("main.rss");
    assert!(rss_sub.contains(&format!(
        "<atom:link href=\"{base}archive/main-2.rss\" rel=\"prev-archive\""
    )));
    assert_eq!(count(&rss_sub, "<item>"), 10);

    // JSON pages newer to older through next_url.
    let j = site.json("main.json");
    assert_eq!(items(&j).len(), 10);
    assert_eq!(j["next_url"], format!("{base}archive/main-2.json"));
    let j2 = site.json("archive/main-2.json");
    assert_eq!(j2["next_url"], format!("{base}archive/main-1.json"));
    assert_eq!(j2["feed_url"], format!("{base}main.json"));
    let j1 = site.json("archive/main-1.json");
    assert!(j1.get("next_url").is_none(), "{j1:#}");
    assert_eq!(items(&j1).len(), 10);
}

#[test]
fn limit_all_makes_one_complete_document() {
    let site = archive_site("title: Main\nlimit: all\n");
    site.build_ok();
    assert_eq!(
        site.public_files(),
        [
            "index.html",
            "main.atom",
            "main.html",
            "main.json",
            "main.rss"
        ]
    );
    let atom = site.read("main.atom");
    assert!(atom.contains("<fh:complete/>"));
    assert!(atom.contains("xmlns:fh=\"http://purl.org/syndication/history/1.0\""));
    assert_eq!(count(&atom, "<entry>"), 25);
    let rss = site.read("main.rss");
    assert!(rss.contains("<fh:complete"));
    assert_eq!(count(&rss, "<item>"), 25);
    assert_eq!(items(&site.json("main.json")).len(), 25);
}

#[test]
fn limit_without_archive_truncates_and_is_not_complete() {
    let site = archive_site("title: Main\nlimit: 5\n");
    site.build_ok();
    assert_eq!(
        site.public_files(),
        [
            "index.html",
            "main.atom",
            "main.html",
            "main.json",
            "main.rss"
        ]
    );
    let atom = site.read("main.atom");
    assert_eq!(count(&atom, "<entry>"), 5);
    assert!(
        !atom.contains("<fh:complete/>"),
        "a truncated feed is not complete"
    );
    assert!(!atom.contains("prev-archive"));
}

#[test]
fn default_limit_is_twenty() {
    let site = archive_site(MAIN_FEED);
    site.build_ok();
    assert_eq!(count(&site.read("main.atom"), "<entry>"), 20);
}

// ---- per-tag feeds ----

#[test]
fn per_tag_feeds_slug_spaces_and_unicode() {
    let site = Site::basic();
    site.feed("tags", "title: \"Posts about {tag}\"\nper_tag: true\n");
    site.post(
        "2020-01-01-a.md",
        post_text("title: A\ntags: [Release Notes, Übersicht]", "x\n"),
    );
    site.post(
        "2020-01-02-b.md",
        post_text("title: B\ntags: [日本語, release notes]", "y\n"),
    );
    site.build_ok();
    let mut want = Vec::new();
    for slug in ["release-notes", "übersicht", "日本語"] {
        for ext in ["atom", "json", "rss"] {
            want.push(format!("tags/{slug}.{ext}"));
        }
    }
    want.push("main.atom".into());
    want.push("main.json".into());
    want.push("main.rss".into());
    want.sort();
    assert_eq!(site.feed_files(), want);
    // Each feed, per-tag ones included, has its human page beside it.
    for f in want.iter().filter(|f| f.ends_with(".atom")) {
        let page = f.replace(".atom", ".html");
        assert!(site.public_files().contains(&page), "{page}");
    }

    let ue = site.atom("tags/übersicht.atom");
    assert_eq!(ue.title.value, "Posts about Übersicht");
    let self_link = &links(&ue, "self")[0];
    assert_eq!(self_link, "https://example.org/tags/%C3%BCbersicht.atom");
    let parsed = url::Url::parse(self_link).unwrap();
    assert_eq!(parsed.scheme(), "https");
    assert_eq!(ue.entries.len(), 1);

    // Case-insensitive grouping: both posts are in "release notes".
    let rn = site.atom("tags/release-notes.atom");
    assert_eq!(rn.entries.len(), 2);

    let ja = site.json("tags/日本語.json");
    assert_eq!(ja["title"], "Posts about 日本語");
    assert_eq!(
        ja["feed_url"],
        "https://example.org/tags/%E6%97%A5%E6%9C%AC%E8%AA%9E.json"
    );
    let rss = site.read("tags/日本語.rss");
    assert!(rss.contains(
        "<atom:link href=\"https://example.org/tags/%E6%97%A5%E6%9C%AC%E8%AA%9E.rss\" rel=\"self\""
    ));
}

#[test]
fn per_tag_feed_of_a_removed_tag_is_deleted() {
    let site = Site::basic();
    site.feed("tags", "per_tag: true\n");
    site.post(
        "2020-01-01-a.md",
        post_text("title: A\ntags: [keep, drop]", "x\n"),
    );
    site.build_ok();
    assert!(site.public_files().contains(&"tags/drop.atom".to_string()));
    site.post(
        "2020-01-01-a.md",
        post_text("title: A\ntags: [keep]", "x\n"),
    );
    site.build().expect_success().stderr_has("3 removed");
    let files = site.public_files();
    assert!(
        !files.iter().any(|f| f.starts_with("tags/drop.")),
        "{files:?}"
    );
    assert!(files.contains(&"tags/keep.atom".to_string()));
}

// ---- XML safety ----

#[test]
fn control_characters_entities_and_cdata_end_are_safe() {
    let site = Site::basic();
    // `\x01` is a YAML escape: the title holds U+0001.
    site.post(
        "2020-01-01-unsafe.md",
        "---\ntitle: \"Ctl \\x01 here &mdash; there\"\ntags: [\"a\\x02b\"]\n---\n\
         A ]]> B \u{2} C\n\n```\nfoo ]]> bar \u{1b}\n```\n\n<div>raw ]]> in html</div>\n",
    );
    site.build_ok();
    for f in ["main.atom", "main.rss", "main.json"] {
        let b = site.read_bytes(f);
        for c in [1u8, 2, 0x1b] {
            assert!(!b.contains(&c), "{f} contains byte {c:#x}");
        }
        let t = String::from_utf8(b).unwrap();
        assert!(
            !t.contains("\\u0001") && !t.contains("\\u0002"),
            "{f} escapes a control char"
        );
        assert!(t.contains("here — there"), "{f}: {t}");
        assert!(!t.contains("&mdash;"), "{f}");
    }
    let j = site.json("main.json");
    assert_eq!(items(&j)[0]["title"], "Ctl here — there");
    assert_eq!(items(&j)[0]["tags"], serde_json::json!(["ab"]));
    let html = items(&j)[0]["content_html"].as_str().unwrap().to_string();
    assert!(html.contains("foo ]]&gt; bar"), "{html}");
    // The raw `]]>` survives as text in every format after parsing.
    let rss = site.rss("main.rss");
    assert!(rss.items[0]
        .content
        .as_ref()
        .unwrap()
        .contains("raw ]]> in html"));
    let atom = site.atom("main.atom");
    assert!(atom.entries[0]
        .content
        .as_ref()
        .unwrap()
        .value
        .as_ref()
        .unwrap()
        .contains("raw ]]> in html"));
    assert_eq!(atom.entries[0].title.value, "Ctl here — there");
}

// ---- determinism ----

#[test]
fn rebuild_without_changes_is_byte_identical_and_writes_nothing() {
    let site = three_post_site(BASIC_CONFIG);
    let first = site.build_ok();
    first.stderr_has("3 written, 0 unchanged");
    let before = site.snapshot();
    let second = site.build();
    second.expect_success();
    second.stderr_has("(0 written, 3 unchanged)");
    assert_eq!(site.snapshot(), before);

    // A fresh build in another place gives the same bytes (no clock, no paths).
    let out = site.cwd().join("fresh");
    site.build_with(&["--output", out.to_str().unwrap()])
        .expect_success()
        .stderr_has("3 written");
    for f in list_files(&out) {
        assert_eq!(std::fs::read(out.join(&f)).unwrap(), before[&f], "{f}");
    }
}

#[cfg(unix)]
fn inode(site: &Site, rel: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(site.public().join(rel)).unwrap().ino()
}

#[test]
fn editing_a_post_changes_only_the_documents_that_hold_it() {
    let site = Site::basic();
    site.feed("main", "title: Main\nlimit: 2\n");
    site.feed("bytag", "per_tag: true\n");
    site.feed("xonly", "title: Only x\nposts: {tags: [x]}\n");
    site.post(
        "2020-01-01-old.md",
        post_text("title: Old\ntags: [x]", "Old body.\n"),
    );
    site.post(
        "2020-01-02-mid.md",
        post_text("title: Mid\ntags: [y]", "Mid body.\n"),
    );
    site.post(
        "2020-01-03-new.md",
        post_text("title: New\ntags: [y]", "New body.\n"),
    );
    site.build_ok().stderr_has("(12 written, 0 unchanged)");
    let before = site.snapshot();
    #[cfg(unix)]
    let inodes: Vec<(String, u64)> = site
        .public_files()
        .into_iter()
        .map(|f| (f.clone(), inode(&site, &f)))
        .collect();

    site.post(
        "2020-01-01-old.md",
        post_text("title: Old\ntags: [x]", "Edited body.\n"),
    );
    site.build_ok().stderr_has("(6 written, 6 unchanged)");
    let after = site.snapshot();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let changed: Vec<&str> = before
        .keys()
        .filter(|k| *k != "<manifest>" && before[*k] != after[*k])
        .map(String::as_str)
        .collect();
    assert_eq!(
        changed,
        [
            "bytag/x.atom",
            "bytag/x.html",
            "bytag/x.json",
            "bytag/x.rss",
            "xonly.atom",
            "xonly.html",
            "xonly.json",
            "xonly.rss"
        ]
    );
    assert!(String::from_utf8_lossy(&after["xonly.atom"]).contains("Edited body."));
    #[cfg(unix)]
    for (f, ino) in inodes {
        if !changed.contains(&f.as_str()) {
            assert_eq!(
                inode(&site, &f),
                ino,
                "{f} was rewritten although unchanged"
            );
        }
    }
}

#[test]
fn changing_the_site_configuration_rewrites_every_document() {
    let site = three_post_site(BASIC_CONFIG);
    site.build_ok();
    site.write("tributary.yaml", format!("{BASIC_CONFIG}language: de\n"));
    site.build_ok().stderr_has("(3 written, 0 unchanged)");
    assert!(site.read("main.rss").contains("<language>de</language>"));
}

#[test]
fn deleted_output_is_rewritten() {
    let site = three_post_site(BASIC_CONFIG);
    site.build_ok();
    let before = site.read_bytes("main.rss");
    std::fs::remove_file(site.public().join("main.rss")).unwrap();
    site.build_ok().stderr_has("(1 written, 2 unchanged)");
    assert_eq!(site.read_bytes("main.rss"), before);
}

// ---- failure safety ----

fn temp_leftovers(site: &Site) -> Vec<String> {
    let mut all = site.public_files();
    all.extend(list_files(&site.root().join(".tributary")));
    all.into_iter()
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap();
            name.starts_with('.') && name.contains(".tmp-")
        })
        .collect()
}

#[test]
fn failed_build_leaves_every_output_untouched() {
    let site = three_post_site(BASIC_CONFIG);
    site.feed("tags", "per_tag: true\n");
    site.post(
        "2021-03-02-tagged.md",
        post_text("title: Tagged\ntags: [k8s]", "x\n"),
    );
    site.build_ok();
    let before = site.snapshot();
    assert!(before.len() > 3);

    // Break a post: its YAML is invalid on line 3 of the file.
    site.post(
        "2021-01-01-first.md",
        "---\ntitle: First\ntags: a: b\n---\nChanged body.\n",
    );
    // And change another, so that a partial write would show.
    site.post(
        "2021-03-01-third.md",
        post_text("title: Third changed", "Three.\n"),
    );
    let r = site.build();
    r.expect_code(1);
    r.stderr_has("content/2021-01-01-first.md:3: front matter is not valid YAML");
    assert!(!r.stderr.contains("built "), "{}", r.stderr);
    assert_eq!(site.snapshot(), before, "outputs changed by a failed build");
    assert_eq!(temp_leftovers(&site), Vec::<String>::new());
}

#[test]
fn failed_plan_leaves_every_output_untouched() {
    let site = three_post_site(BASIC_CONFIG);
    site.build_ok();
    let before = site.snapshot();
    site.post(
        "2021-05-01-dup.md",
        post_text("title: Dup\nid: same-id", "x\n"),
    );
    site.post(
        "2021-05-02-dup.md",
        post_text("title: Dup 2\nid: same-id", "x\n"),
    );
    site.build().expect_code(1);
    assert_eq!(site.snapshot(), before);
    assert_eq!(temp_leftovers(&site), Vec::<String>::new());
}

#[test]
fn keep_going_skips_and_reports_broken_posts() {
    let site = three_post_site(BASIC_CONFIG);
    site.post("2021-04-01-broken.md", "---\ntitle: [unclosed\n---\nx\n");
    let r = site.run(&["build", "--keep-going"]);
    r.expect_success();
    r.stderr_has("content/2021-04-01-broken.md:")
        .stderr_has("front matter is not valid YAML")
        .stderr_has("1 broken post skipped");
    site.assert_all_valid();
    let doc = site.json("main.json");
    let titles: Vec<&str> = items(&doc)
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Third", "Second", "First"]);
    assert_eq!(temp_leftovers(&site), Vec::<String>::new());
}

#[test]
fn a_feed_page_shows_the_newest_entries_and_how_to_subscribe() {
    let site = Site::basic();
    site.feed("main", "title: Main\nlimit: all\n");
    for i in 0..120 {
        let day = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(i);
        site.post(
            &format!("{day}-post-{i}.md"),
            post_text(&format!("title: Post {i}"), &format!("Body {i}.\n")),
        );
    }
    site.build_ok();
    assert_eq!(
        items(&site.json("main.json")).len(),
        120,
        "the feed has every post"
    );
    let page = site.read("main.html");
    assert_eq!(
        page.matches("<article>").count(),
        tributary::app::build::PAGE_ENTRIES,
        "the page shows the newest"
    );
    assert!(page.contains("Post 119"), "newest first");
    assert!(!page.contains(">Post 0<"), "the oldest is only in the feed");
    for alt in ["main.atom", "main.rss", "main.json"] {
        assert!(
            page.contains(&format!("https://example.org/{alt}")),
            "{alt} offered on the page"
        );
    }
}
