//! Front matter variants, each seen in the published feeds.

use crate::support::site::*;

/// A basic site with one post `content/NAME`, built (and validated).
fn built_with_post(file: &str, fm: &str, body: &str) -> Site {
    let site = Site::basic();
    site.post(file, post_text(fm, body));
    site.build_ok();
    site
}

fn atom_entry(site: &Site) -> String {
    after_first(&site.read("main.atom"), "<entry>").to_string()
}

fn rss_item(site: &Site) -> String {
    after_first(&site.read("main.rss"), "<item>").to_string()
}

fn json_item(site: &Site) -> serde_json::Value {
    let doc = site.json("main.json");
    let it = items(&doc);
    assert_eq!(it.len(), 1, "one item: {doc:#}");
    it[0].clone()
}

// ---- dates ----

#[test]
fn jekyll_date_with_offset_gives_exact_dates_in_every_format() {
    let site = built_with_post(
        "2018-07-23-update.md",
        "title: Update\ndate: 2018-07-23 20:00:00 -0000",
        "Body.\n",
    );
    let atom = atom_entry(&site);
    assert_eq!(elements(&atom, "published"), ["2018-07-23T20:00:00+00:00"]);
    assert_eq!(elements(&atom, "updated"), ["2018-07-23T20:00:00+00:00"]);
    let rss = rss_item(&site);
    assert_eq!(
        elements(&rss, "pubDate"),
        ["Mon, 23 Jul 2018 20:00:00 +0000"]
    );
    let it = json_item(&site);
    assert_eq!(it["date_published"], "2018-07-23T20:00:00Z");
    assert_eq!(it["date_modified"], "2018-07-23T20:00:00Z");
}

#[test]
fn date_without_time_is_midnight_in_the_site_timezone() {
    let site = Site::new(&format!("{BASIC_CONFIG}timezone: Europe/Berlin\n"));
    site.feed("main", MAIN_FEED);
    site.post(
        "a.md",
        post_text("title: Summer\ndate: 2018-07-23", "Body.\n"),
    );
    site.build_ok();
    let atom = site.read("main.atom");
    assert_eq!(
        elements(after_first(&atom, "<entry>"), "published"),
        ["2018-07-23T00:00:00+02:00"]
    );
    let rss = site.read("main.rss");
    assert_eq!(
        elements(&rss, "pubDate"),
        ["Mon, 23 Jul 2018 00:00:00 +0200"]
    );
    assert_eq!(
        json_item(&site)["date_published"],
        "2018-07-23T00:00:00+02:00"
    );
}

#[test]
fn rfc3339_date_with_zone_keeps_its_offset() {
    let site = built_with_post(
        "a.md",
        "title: India\ndate: 2018-07-23T20:00:00+05:30",
        "Body.\n",
    );
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2018-07-23T20:00:00+05:30"]
    );
    assert_eq!(
        elements(&rss_item(&site), "pubDate"),
        ["Mon, 23 Jul 2018 20:00:00 +0530"]
    );
    assert_eq!(
        json_item(&site)["date_published"],
        "2018-07-23T20:00:00+05:30"
    );
}

#[test]
fn rfc3339_date_with_z_is_utc() {
    let site = built_with_post("a.md", "title: Zulu\ndate: 2018-07-23T20:00:00Z", "Body.\n");
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2018-07-23T20:00:00+00:00"]
    );
    assert_eq!(
        elements(&rss_item(&site), "pubDate"),
        ["Mon, 23 Jul 2018 20:00:00 +0000"]
    );
    assert_eq!(json_item(&site)["date_published"], "2018-07-23T20:00:00Z");
}

#[test]
fn rfc3339_date_without_zone_is_read_in_the_site_timezone() {
    let site = Site::new(&format!("{BASIC_CONFIG}timezone: America/New_York\n"));
    site.feed("main", MAIN_FEED);
    site.post(
        "a.md",
        post_text("title: NY\ndate: 2018-07-23T20:00:00", "Body.\n"),
    );
    site.build_ok();
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2018-07-23T20:00:00-04:00"]
    );
    assert_eq!(
        elements(&rss_item(&site), "pubDate"),
        ["Mon, 23 Jul 2018 20:00:00 -0400"]
    );
}

#[test]
fn missing_date_comes_from_the_file_name() {
    let site = built_with_post("2019-03-04-from-name.md", "title: From the name", "Body.\n");
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2019-03-04T00:00:00+00:00"]
    );
    assert_eq!(
        elements(&rss_item(&site), "pubDate"),
        ["Mon, 4 Mar 2019 00:00:00 +0000"]
    );
    // The file name's title part is the slug of the default permalink.
    assert_eq!(
        json_item(&site)["url"],
        "https://example.org/2019/03/04/from-name/"
    );
}

#[test]
fn garbled_time_is_read_as_jekyll_reads_it_with_a_warning() {
    // The permalink must be the page Jekyll wrote: Ruby's Time.parse reads
    // "14:4g5:00" as 14:04, so tributary does too, and says so.
    let site = Site::basic();
    site.post(
        "2024-04-14-update.md",
        post_text(
            "title: Week\nlayout: post\ndate: 2024-04-17 14:4g5:00 -0000",
            "Body.\n",
        ),
    );
    let r = site.build();
    r.expect_success();
    r.stderr_has(
        "content/2024-04-14-update.md:4: warning: date \"2024-04-17 14:4g5:00 -0000\": \
         \"14:4g5:00\" is not a time",
    )
    .stderr_has("read as 2024-04-17 14:04:00 +00:00 as Jekyll does");
    site.assert_all_valid();
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2024-04-17T14:04:00+00:00"]
    );
}

#[test]
fn day_past_the_end_of_the_month_rolls_over_as_in_jekyll() {
    let site = Site::basic();
    site.post(
        "2022-02-27-update.md",
        post_text("title: Week\ndate: 2022-02-29 07:10:00 -0000", "Body.\n"),
    );
    let r = site.build();
    r.expect_success();
    r.stderr_has("content/2022-02-27-update.md:3: warning: date \"2022-02-29 07:10:00 -0000\"")
        .stderr_has("read as 2022-03-01 07:10:00 +00:00");
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2022-03-01T07:10:00+00:00"]
    );
}

#[test]
fn unreadable_date_with_dated_file_name_warns_and_uses_the_file_date() {
    let site = Site::basic();
    site.post(
        "2024-04-14-update.md",
        post_text("title: Week\nlayout: post\ndate: next tuesday", "Body.\n"),
    );
    let r = site.build();
    r.expect_success();
    r.stderr_has("content/2024-04-14-update.md:4: warning: date \"next tuesday\"")
        .stderr_has("using the date of the file name, 2024-04-14");
    site.assert_all_valid();
    assert_eq!(
        elements(&atom_entry(&site), "published"),
        ["2024-04-14T00:00:00+00:00"]
    );
}

// ---- tags ----

fn tags_of(site: &Site) -> (Vec<String>, serde_json::Value) {
    let atom = atom_entry(site);
    let terms: Vec<String> = atom
        .match_indices("<category term=\"")
        .map(|(i, m)| {
            let rest = &atom[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    (terms, json_item(site)["tags"].clone())
}

#[test]
fn tags_as_a_yaml_list() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\ntags: [kubernetes, \"release notes\"]",
        "Body.\n",
    );
    let (atom, json) = tags_of(&site);
    assert_eq!(atom, ["kubernetes", "release notes"]);
    assert_eq!(json, serde_json::json!(["kubernetes", "release notes"]));
    assert!(rss_item(&site).contains("<category>release notes</category>"));
}

#[test]
fn tags_as_a_space_separated_string() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\ntags: alpha beta  gamma",
        "Body.\n",
    );
    let (atom, json) = tags_of(&site);
    assert_eq!(atom, ["alpha", "beta", "gamma"]);
    assert_eq!(json, serde_json::json!(["alpha", "beta", "gamma"]));
}

#[test]
fn tags_as_a_comma_separated_string() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\ntags: \"release notes, sig node,api\"",
        "Body.\n",
    );
    let (atom, json) = tags_of(&site);
    assert_eq!(atom, ["release notes", "sig node", "api"]);
    assert_eq!(
        json,
        serde_json::json!(["release notes", "sig node", "api"])
    );
}

#[test]
fn tag_and_categories_are_merged_without_duplicates() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\ntag: one\ncategories: [news, One]\ncategory: extra",
        "Body.\n",
    );
    let (atom, json) = tags_of(&site);
    assert_eq!(atom, ["one", "news", "extra"]);
    assert_eq!(json, serde_json::json!(["one", "news", "extra"]));
}

// ---- drafts and future posts ----

fn drafts_site() -> Site {
    let site = Site::basic();
    site.post(
        "2020-01-01-public.md",
        post_text("title: Public", "Body.\n"),
    );
    site.post(
        "2020-01-02-draft.md",
        post_text("title: Drafty\ndraft: true", "Body.\n"),
    );
    site.post(
        "2020-01-03-unpublished.md",
        post_text("title: Unpublished\npublished: false", "Body.\n"),
    );
    site
}

#[test]
fn drafts_and_unpublished_posts_are_left_out() {
    let site = drafts_site();
    site.build_ok();
    for f in ["main.atom", "main.rss", "main.json"] {
        let t = site.read(f);
        assert!(t.contains("Public"), "{f}");
        assert!(!t.contains("Drafty"), "{f} has the draft");
        assert!(!t.contains("Unpublished"), "{f} has the unpublished post");
    }
}

#[test]
fn drafts_flag_includes_drafts_and_unpublished_posts() {
    let site = drafts_site();
    site.build_ok_with(&["--drafts"]);
    let doc = site.json("main.json");
    let titles: Vec<&str> = items(&doc)
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Unpublished", "Drafty", "Public"]);
    assert_eq!(count(&site.read("main.atom"), "<entry>"), 3);
    assert_eq!(count(&site.read("main.rss"), "<item>"), 3);
}

fn future_site() -> Site {
    let site = Site::basic();
    site.post("2020-01-01-past.md", post_text("title: Past", "Body.\n"));
    site.post(
        "future.md",
        post_text(
            "title: Tomorrow\ndate: 2999-01-01 10:00:00 +0000",
            "Body.\n",
        ),
    );
    site
}

#[test]
fn future_posts_are_left_out() {
    let site = future_site();
    site.build_ok();
    for f in ["main.atom", "main.rss", "main.json"] {
        let t = site.read(f);
        assert!(t.contains("Past"), "{f}");
        assert!(!t.contains("Tomorrow"), "{f} has the future post");
    }
}

#[test]
fn future_flag_includes_future_posts() {
    let site = future_site();
    site.build_ok_with(&["--future"]);
    let doc = site.json("main.json");
    let titles: Vec<&str> = items(&doc)
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Tomorrow", "Past"]);
    assert!(site
        .read("main.rss")
        .contains("<pubDate>Tue, 1 Jan 2999 10:00:00 +0000</pubDate>"));
}

// ---- summary, author, updated, image ----

#[test]
fn summary_front_matter_overrides_the_excerpt() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\nsummary: Short *one*",
        "First paragraph.\n\nSecond paragraph.\n",
    );
    let atom = atom_entry(&site);
    assert_eq!(
        elements(&atom, "summary"),
        ["&lt;p&gt;Short &lt;em&gt;one&lt;/em&gt;&lt;/p&gt;"]
    );
    assert!(atom.contains("<summary type=\"html\">"));
    assert!(!atom.contains("First paragraph.&lt;/p&gt;</summary>"));
    assert_eq!(json_item(&site)["summary"], "Short one");
    assert!(rss_item(&site)
        .contains("<description><![CDATA[<p>Short <em>one</em></p>]]></description>"));
}

#[test]
fn description_is_a_summary_too() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\ndescription: From description",
        "First paragraph.\n\nSecond paragraph.\n",
    );
    assert_eq!(
        elements(&atom_entry(&site), "summary"),
        ["&lt;p&gt;From description&lt;/p&gt;"]
    );
}

#[test]
fn author_without_email_is_dc_creator_in_rss() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\nauthor: Bob Builder",
        "Body.\n",
    );
    let rss = rss_item(&site);
    assert!(
        rss.contains("<dc:creator>Bob Builder</dc:creator>"),
        "{rss}"
    );
    assert!(!rss.contains("<author>"), "{rss}");
    assert!(site
        .read("main.rss")
        .contains("xmlns:dc=\"http://purl.org/dc/elements/1.1/\""));
    let atom = atom_entry(&site);
    assert!(
        atom.contains("<author>\n      <name>Bob Builder</name>\n    </author>"),
        "{atom}"
    );
    assert_eq!(
        json_item(&site)["authors"],
        serde_json::json!([{"name": "Bob Builder"}])
    );
}

#[test]
fn author_with_email_is_rss_author() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\nauthor: Bob Builder <bob@example.org>",
        "Body.\n",
    );
    let rss = rss_item(&site);
    assert!(
        rss.contains("<author>bob@example.org (Bob Builder)</author>"),
        "{rss}"
    );
    assert!(!rss.contains("dc:creator"), "{rss}");
    let atom = atom_entry(&site);
    assert!(atom.contains("<email>bob@example.org</email>"), "{atom}");
    assert_eq!(
        json_item(&site)["authors"],
        serde_json::json!([{"name": "Bob Builder", "url": "mailto:bob@example.org"}])
    );
}

#[test]
fn updated_sets_atom_updated_and_json_date_modified() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\ndate: 2020-01-01 10:00:00 +0000\nupdated: 2020-02-03 04:05:06 +0000",
        "Body.\n",
    );
    let atom = site.read("main.atom");
    assert_eq!(
        elements(after_first(&atom, "<entry>"), "updated"),
        ["2020-02-03T04:05:06+00:00"]
    );
    assert_eq!(
        elements(after_first(&atom, "<entry>"), "published"),
        ["2020-01-01T10:00:00+00:00"]
    );
    // The feed is as new as its newest change.
    assert_eq!(
        elements(before_first(&atom, "<entry>"), "updated"),
        ["2020-02-03T04:05:06+00:00"]
    );
    let it = json_item(&site);
    assert_eq!(it["date_published"], "2020-01-01T10:00:00Z");
    assert_eq!(it["date_modified"], "2020-02-03T04:05:06Z");
    assert_eq!(
        elements(&site.read("main.rss"), "lastBuildDate"),
        ["Mon, 3 Feb 2020 04:05:06 +0000"]
    );
}

#[test]
fn last_modified_at_is_an_update_date() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\nlast_modified_at: 2020-01-05",
        "Body.\n",
    );
    assert_eq!(json_item(&site)["date_modified"], "2020-01-05T00:00:00Z");
}

#[test]
fn image_is_absolute_in_json() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\nimage: /img/cover.png",
        "Body.\n",
    );
    assert_eq!(
        json_item(&site)["image"],
        "https://example.org/img/cover.png"
    );
}

#[test]
fn relative_image_resolves_against_the_post_url() {
    let site = built_with_post("2020-01-01-a.md", "title: A\nimage: cover.png", "Body.\n");
    assert_eq!(
        json_item(&site)["image"],
        "https://example.org/2020/01/01/a/cover.png"
    );
}

// ---- permalink, slug, id ----

#[test]
fn permalink_override_sets_the_entry_url() {
    let site = built_with_post(
        "2020-01-01-a.md",
        "title: A\npermalink: /custom/place/",
        "Body.\n",
    );
    let url = "https://example.org/custom/place/";
    assert_eq!(json_item(&site)["url"], url);
    assert!(atom_entry(&site).contains(&format!("<link href=\"{url}\" rel=\"alternate\"")));
    assert_eq!(elements(&rss_item(&site), "link"), [url]);
}

#[test]
fn slug_override_changes_the_url_with_slug_placeholder() {
    let site = Site::new(&format!("{BASIC_CONFIG}permalink: /:year/:slug/\n"));
    site.feed("main", MAIN_FEED);
    site.post(
        "2020-01-01-file-name.md",
        post_text("title: A\nslug: My Nice Slug", "Body.\n"),
    );
    site.build_ok();
    assert_eq!(
        json_item(&site)["url"],
        "https://example.org/2020/my-nice-slug/"
    );
    assert!(!site.read("main.atom").contains("file-name"));
}

#[test]
fn id_override_is_the_entry_id_everywhere() {
    let id = "urn:uuid:0b4e2c4e-7d5a-4b7e-9c55-3f6f1f7a9e21";
    let site = built_with_post("2020-01-01-a.md", &format!("title: A\nid: {id}"), "Body.\n");
    assert_eq!(elements(&atom_entry(&site), "id"), [id]);
    assert!(rss_item(&site).contains(&format!("<guid isPermaLink=\"false\">{id}</guid>")));
    assert_eq!(json_item(&site)["id"], id);
}

#[test]
fn default_id_is_a_tag_uri() {
    let site = built_with_post("2020-01-01-a.md", "title: A", "Body.\n");
    assert_eq!(json_item(&site)["id"], "tag:example.org,2020-01-01:a");
}

// ---- feed_content ----

#[test]
fn feed_content_override_per_post() {
    let site = Site::basic();
    let body = "First paragraph.\n\nSecond paragraph.\n";
    site.post("2020-01-01-both.md", post_text("title: Both", body));
    site.post(
        "2020-01-02-sum.md",
        post_text("title: Sum\nfeed_content: summary", body),
    );
    site.post(
        "2020-01-03-full.md",
        post_text("title: Full\nfeed_content: full", body),
    );
    site.build_ok();
    let feed = site.atom("main.atom");
    let by_title = |t: &str| {
        feed.entries
            .iter()
            .find(|e| e.title.value == t)
            .unwrap()
            .clone()
    };
    let both = by_title("Both");
    assert!(both.summary.is_some() && both.content.is_some());
    let sum = by_title("Sum");
    assert_eq!(
        sum.summary.as_ref().map(|s| s.value.as_str()),
        Some("<p>First paragraph.</p>")
    );
    assert!(sum.content.is_none(), "summary-only entry has content");
    let full = by_title("Full");
    assert!(full.summary.is_none(), "full-only entry has a summary");
    assert!(full
        .content
        .unwrap()
        .value
        .unwrap()
        .contains("Second paragraph."));

    let rss = site.rss("main.rss");
    let item = |t: &str| {
        rss.items
            .iter()
            .find(|i| i.title.as_deref() == Some(t))
            .unwrap()
            .clone()
    };
    assert!(item("Sum").content.is_none());
    assert!(item("Full").description.is_none());
}

#[test]
fn feed_content_summary_in_the_feed_definition() {
    let site = Site::basic();
    site.feed("main", "title: Main\ncontent: summary\n");
    site.post(
        "2020-01-01-a.md",
        post_text("title: A", "First paragraph.\n\nSecond paragraph.\n"),
    );
    site.build_ok();
    let atom = atom_entry(&site);
    assert!(!atom.contains("<content"), "{atom}");
    assert!(!site.read("main.atom").contains("Second paragraph"));
}

// ---- file encodings ----

#[test]
fn crlf_line_endings_and_a_byte_order_mark_are_accepted() {
    let site = Site::basic();
    site.post(
        "win.md",
        "\u{feff}---\r\ntitle: Windows\r\ndate: 2020-01-01\r\ntags: a b\r\n---\r\nLine one\r\n\r\nLine two\r\n",
    );
    site.build_ok();
    let it = json_item(&site);
    assert_eq!(it["title"], "Windows");
    assert_eq!(it["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(it["date_published"], "2020-01-01T00:00:00Z");
    assert!(it["content_html"]
        .as_str()
        .unwrap()
        .contains("<p>Line two</p>"));
}

// ---- unknown keys ----

#[test]
fn unknown_front_matter_keys_are_accepted() {
    let site = Site::basic();
    site.post(
        "2020-01-01-a.md",
        post_text(
            "layout: post\ntitle: A\ncomments: true\nredirect_from:\n  - /old/\nseo: {type: BlogPosting}",
            "Body.\n",
        ),
    );
    let r = site.build_ok();
    assert!(r.warnings().is_empty(), "warnings: {}", r.stderr);
    assert_eq!(json_item(&site)["title"], "A");
}
