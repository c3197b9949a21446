//! Upstream aggregation end to end: the real binary (`fetch`, `build`,
//! `sources ...`) against a real HTTP server on 127.0.0.1, with what a user
//! sees checked: exit codes, summary lines, requests, output files.

use crate::support::feeds::{atom, rss, Item};
use crate::support::site::{
    check_feed_oracle, config, items, stream_site, stream_yaml, summary, Site, BASIC_CONFIG,
    LOOPBACK_FETCH,
};
use crate::support::upstream_server::{Response, TestServer};
use chrono::{DateTime, Duration as Span, NaiveDateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// Two plain items of a source called `tag`.
fn two_items(tag: &str) -> String {
    let a = format!("https://{tag}.example/posts/1");
    let b = format!("https://{tag}.example/posts/2");
    let ida = format!("tag:{tag}.example,2026:1");
    let idb = format!("tag:{tag}.example,2026:2");
    atom(
        tag,
        &[
            (
                &ida,
                &format!("First post of {tag}"),
                &a,
                "2026-01-02T10:00:00Z",
            ),
            (
                &idb,
                &format!("Second post of {tag}"),
                &b,
                "2026-01-03T10:00:00Z",
            ),
        ],
    )
}

/// `feeds/NAME.yaml` with `upstreams` (url, name).
fn feed_yaml(upstreams: &[(&str, &str)]) -> String {
    stream_yaml(50, upstreams)
}

/// A site whose `feeds/stream.yaml` draws from `upstreams`.
fn site_with(upstreams: &[(&str, &str)]) -> Site {
    stream_site(LOOPBACK_FETCH, 50, upstreams)
}

/// The `sources list` row of the source named `name`.
#[track_caller]
fn row(site: &Site, name: &str) -> String {
    let r = site.run(&["sources", "list"]);
    r.expect_success();
    r.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", r.stdout))
        .to_string()
}

/// The NEXT DUE column of a row (the last column, `YYYY-MM-DD HH:MM`, UTC).
#[track_caller]
fn next_due(row: &str) -> DateTime<Utc> {
    let tail = row
        .get(row.len().saturating_sub(16)..)
        .unwrap_or_else(|| panic!("short row {row:?}"));
    NaiveDateTime::parse_from_str(tail, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("next due of {row:?}: {e}"))
        .and_utc()
}

fn ids(doc: &Value) -> Vec<String> {
    items(doc)
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

fn source_names(item: &Value) -> BTreeSet<String> {
    item["_tributary"]["sources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn item_with_id<'a>(doc: &'a Value, id: &str) -> &'a Value {
    items(doc)
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {:?}", ids(doc)))
}

#[test]
fn second_fetch_is_conditional_and_304_is_not_parsed() {
    let server = TestServer::start();
    let etag = "W/\"5f-a/b c\"";
    let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
    server.route(
        "/a.atom",
        Response::ok(two_items("alpha"))
            .header("ETag", etag)
            .header("Last-Modified", lm)
            .header("Content-Type", "application/atom+xml"),
    );
    let site = site_with(&[(&server.url("/a.atom"), "alpha")]);
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 2"
    );
    let first = server.requests_to("/a.atom");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].method, "GET");
    assert_eq!(first[0].header("If-None-Match"), None);
    assert_eq!(first[0].header("If-Modified-Since"), None);

    // Same validators, garbage body: only a 304 keeps this run clean.
    server.route(
        "/a.atom",
        Response::ok("this is not a feed at all")
            .header("ETag", etag)
            .header("Last-Modified", lm),
    );
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 1, failed 0, new items 0"
    );
    let reqs = server.requests_to("/a.atom");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("If-None-Match"), Some(etag));
    assert_eq!(reqs[1].header("If-Modified-Since"), Some(lm));

    site.build_ok();
    assert_eq!(
        ids(&site.json("stream.json")),
        ["tag:alpha.example,2026:2", "tag:alpha.example,2026:1"]
    );
    assert!(row(&site, "alpha").contains("  ok  "));
}

#[test]
fn one_request_per_source_even_when_two_feeds_name_it() {
    let server = TestServer::start();
    server.route("/shared.atom", Response::ok(two_items("shared")));
    let site = site_with(&[(&server.url("/shared.atom"), "shared")]);
    site.feed(
        "digest",
        &feed_yaml(&[(&server.url("/shared.atom"), "shared")]),
    );
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 2"
    );
    assert_eq!(server.requests_to("/shared.atom").len(), 1);
    assert_eq!(server.requests().len(), 1);

    site.build_ok();
    for doc in ["stream.json", "digest.json"] {
        assert_eq!(
            ids(&site.json(doc)),
            ["tag:shared.example,2026:2", "tag:shared.example,2026:1"],
            "{doc}"
        );
    }
}

#[test]
fn permanent_redirects_are_remembered_temporary_ones_are_not() {
    let server = TestServer::start();
    server.route("/old.atom", Response::redirect(301, "/new.atom"));
    server.route("/new.atom", Response::ok(two_items("moved")));
    server.route("/tmp.atom", Response::redirect(302, "/dest.atom"));
    server.route("/dest.atom", Response::ok(two_items("temp")));
    let site = site_with(&[
        (&server.url("/old.atom"), "moved"),
        (&server.url("/tmp.atom"), "temp"),
    ]);
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 4"
    );

    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 0"
    );
    // 301: the second run asks the new URL directly.
    assert_eq!(server.requests_to("/old.atom").len(), 1);
    assert_eq!(server.requests_to("/new.atom").len(), 2);
    // 302: the second run starts from the configured URL again.
    assert_eq!(server.requests_to("/tmp.atom").len(), 2);
    assert_eq!(server.requests_to("/dest.atom").len(), 2);

    let moved = row(&site, "moved");
    assert!(moved.contains(&server.url("/new.atom")), "{moved}");
    assert!(!moved.contains("/old.atom"), "{moved}");
    // `sources show` has both: the URL fetched and the one configured.
    let shown = site.run(&["sources", "show", "moved"]).stdout;
    assert!(
        shown.contains(&format!("url:            {}", server.url("/new.atom")))
            && shown.contains(&format!("configured url: {}", server.url("/old.atom"))),
        "{shown}"
    );
    let temp = row(&site, "temp");
    assert!(temp.contains(&server.url("/tmp.atom")), "{temp}");
    assert!(!temp.contains("/dest.atom"), "{temp}");

    site.build_ok();
    assert_eq!(items(&site.json("stream.json")).len(), 4);
}

/// A site drawing from two sources, `gone` and `live`, both answering with
/// two items for now.
fn gone_and_live() -> (TestServer, Site) {
    let server = TestServer::start();
    server.route("/gone.atom", Response::ok(two_items("gone")));
    server.route("/live.atom", Response::ok(two_items("live")));
    let site = site_with(&[
        (&server.url("/gone.atom"), "gone"),
        (&server.url("/live.atom"), "live"),
    ]);
    (server, site)
}

#[test]
fn gone_disables_the_source_and_keeps_its_items() {
    let (server, site) = gone_and_live();
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 4"
    );

    server.route("/gone.atom", Response::status(410));
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 1, new items 0"
    );
    assert_eq!(server.requests_to("/gone.atom").len(), 2);
    let gone = row(&site, "gone");
    assert!(gone.contains("disabled: 410 Gone"), "{gone}");
    assert!(row(&site, "live").contains("  ok  "));

    // Not even --all asks a disabled source again.
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 0 (0 not due, 1 disabled)"
    );
    assert_eq!(server.requests_to("/gone.atom").len(), 2);
    assert_eq!(server.requests_to("/live.atom").len(), 3);

    site.build_ok();
    let doc = site.json("stream.json");
    let got: BTreeSet<String> = ids(&doc).into_iter().collect();
    for id in ["tag:gone.example,2026:1", "tag:gone.example,2026:2"] {
        assert!(got.contains(id), "{id} missing from {got:?}");
        assert_eq!(
            source_names(item_with_id(&doc, id)),
            BTreeSet::from(["gone".to_string()])
        );
    }
    assert_eq!(got.len(), 4);
}

#[test]
fn retry_after_on_429_postpones_the_source() {
    let server = TestServer::start();
    server.route(
        "/busy.atom",
        Response::status(429).header("Retry-After", "3600"),
    );
    let site = site_with(&[(&server.url("/busy.atom"), "busy")]);
    let r = site.run(&["fetch"]);
    r.expect_code(1);
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    r.stderr_has("busy: ").stderr_has("HTTP 429");
    assert_eq!(server.requests_to("/busy.atom").len(), 1);

    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 0, new items 0 (1 not due, 0 disabled)"
    );
    assert_eq!(server.requests_to("/busy.atom").len(), 1);

    let busy = row(&site, "busy");
    assert!(busy.contains("failing (1x)"), "{busy}");
    let due = next_due(&busy);
    let now = Utc::now();
    // The minute is truncated in the table; backoff alone would be ~5 minutes.
    assert!(
        due >= now + Span::minutes(58) && due <= now + Span::minutes(61),
        "next due {due} is not about an hour after {now}: {busy}"
    );

    let r = site.run(&["fetch", "--all"]);
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    assert_eq!(server.requests_to("/busy.atom").len(), 2);
}

#[test]
fn huge_body_is_cut_off_at_max_body() {
    let server = TestServer::start();
    server.route(
        "/huge.atom",
        Response::ok("")
            .generated(50 * MIB)
            .without_content_length(),
    );
    let site = Site::new(&format!(
        "{BASIC_CONFIG}fetch: {{ allow_private_addresses: true, timeout: 2, max_body: 1048576 }}\n"
    ));
    site.feed("stream", &feed_yaml(&[(&server.url("/huge.atom"), "huge")]));
    let r = site.run(&["fetch"]);
    r.expect_code(1);
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    r.stderr_has("huge: ")
        .stderr_has("larger than 1048576 bytes");
    // Give the server's writer a moment to notice the closed connection.
    std::thread::sleep(Duration::from_millis(200));
    let sent = server.body_bytes_sent();
    // Loopback socket buffers take up to ~12 MiB that nobody reads; a client
    // that kept reading would take all 50.
    assert!(
        (MIB..25 * MIB).contains(&sent),
        "the server wrote {sent} bytes"
    );
    assert!(row(&site, "huge").contains("failing (1x): too large"));
    let shown = site.run(&["sources", "show", "huge"]).stdout;
    assert!(shown.contains("larger than 1048576 bytes"), "{shown}");
}

#[test]
fn stalled_server_is_timed_out() {
    let server = TestServer::start();
    server.route(
        "/slow.atom",
        Response::ok(two_items("slow")).stall(Duration::from_secs(20)),
    );
    let site = site_with(&[(&server.url("/slow.atom"), "slow")]);
    let start = Instant::now();
    let r = site.run(&["fetch"]);
    let took = start.elapsed();
    r.expect_code(1);
    r.stderr_has("timed out after 2 s (fetch.timeout)");
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

#[test]
fn broken_feed_keeps_previous_items() {
    let server = TestServer::start();
    server.route(
        "/b.atom",
        Response::ok(two_items("bravo")).header("ETag", "\"v1\""),
    );
    let site = site_with(&[(&server.url("/b.atom"), "bravo")]);
    site.run(&["fetch"]).expect_success();
    site.build_ok();
    let before = site.read("stream.json");
    assert_eq!(
        ids(&site.json("stream.json")),
        ["tag:bravo.example,2026:2", "tag:bravo.example,2026:1"]
    );

    server.route(
        "/b.atom",
        Response::ok("<html><body><h1>Down for maintenance</h1></body></html>")
            .header("ETag", "\"v2\""),
    );
    let r = site.run(&["fetch", "--all"]);
    r.expect_code(1);
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    r.stderr_has("bravo: failed: not a feed")
        .stderr_has("root element <html>");
    let reqs = server.requests_to("/b.atom");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("If-None-Match"), Some("\"v1\""));

    site.build_ok();
    assert_eq!(site.read("stream.json"), before);
    let bravo = row(&site, "bravo");
    assert!(bravo.contains("failing (1x): not a feed"), "{bravo}");
    let shown = site.run(&["sources", "show", "bravo"]).stdout;
    assert!(shown.contains("root element <html>"), "{shown}");
    // The old validators are kept: the next try reads the document again.
    let r = site.run(&["fetch", "--all"]);
    r.expect_code(1);
    assert_eq!(
        server.requests_to("/b.atom")[2].header("If-None-Match"),
        Some("\"v1\"")
    );
    assert!(row(&site, "bravo").contains("failing (2x): not a feed"));
}

#[test]
fn a_document_that_is_not_a_feed_is_reported_once() {
    let server = TestServer::start();
    server.route(
        "/page.atom",
        Response::ok("<html><body>Not here</body></html>"),
    );
    let site = site_with(&[(&server.url("/page.atom"), "page")]);
    let r = site.run(&["fetch"]);
    r.expect_code(1);
    r.stderr_has("page: failed: not a feed: root element <html>");
    assert!(!r.stderr.contains("not a feed: not a feed"), "{}", r.stderr);
    let page = row(&site, "page");
    assert!(!page.contains("not a feed: not a feed"), "{page}");
}

#[test]
fn private_addresses_are_refused_without_the_setting() {
    let server = TestServer::start();
    server.route("/a.atom", Response::ok(two_items("alpha")));
    let site = Site::new(&format!("{BASIC_CONFIG}fetch: {{ timeout: 2 }}\n"));
    site.feed("stream", &feed_yaml(&[(&server.url("/a.atom"), "alpha")]));
    let r = site.run(&["fetch"]);
    r.expect_code(1);
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    r.stderr_has("alpha: ")
        .stderr_has("loopback")
        .stderr_has("`fetch: { allow: [127.0.0.1] }`");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    site.build_ok();
    assert!(items(&site.json("stream.json")).is_empty());
}

/// `fetch: { allow: [HOST] }` opens that host, not its address by number;
/// a bad entry is an error at its own line.
#[test]
fn fetch_allow_opens_one_host() {
    let server = TestServer::start();
    server.route("/a.atom", Response::ok(two_items("alpha")));
    server.route("/b.atom", Response::ok(two_items("beta")));
    let site = Site::new(&format!(
        "{BASIC_CONFIG}fetch:\n  timeout: 2\n  allow:\n    - localhost\n"
    ));
    let by_name = format!("http://localhost:{}/a.atom", server.port());
    site.feed(
        "stream",
        &feed_yaml(&[(&by_name, "alpha"), (&server.url("/b.atom"), "beta")]),
    );
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 1, new items 2"
    );
    r.stderr_has("beta: ")
        .stderr_has("loopback")
        .stderr_has("`fetch: { allow: [127.0.0.1] }`");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/a.atom"]);

    site.write(
        "tributary.yaml",
        format!("{BASIC_CONFIG}fetch:\n  allow:\n    - 10.0.0.0/8\n    - localhost:8080\n"),
    );
    site.run(&["fetch"])
        .expect_code(1)
        .stderr_has("tributary.yaml:6: fetch.allow: \"localhost:8080\" is not a host name");
}

#[test]
fn copies_of_a_story_merge_and_upstream_ids_are_kept() {
    let server = TestServer::start();
    let story = "2026-01-03T10:00:00Z";
    server.route(
        "/a.atom",
        Response::ok(atom(
            "Feed A",
            &[
                (
                    "tag:a.example,2026:story-1",
                    "Story one",
                    "https://news.example/story/1?utm_source=feedA&utm_medium=rss",
                    story,
                ),
                (
                    "tag:a.example,2026:other",
                    "Unrelated news",
                    "https://news.example/other-a",
                    "2026-01-04T10:00:00Z",
                ),
                (
                    "tag:a.example,2026:hello-copy",
                    "Reposted: hello",
                    "https://example.org/2026/01/05/hello/?utm_source=x",
                    "2026-01-05T12:00:00Z",
                ),
            ],
        )),
    );
    server.route(
        "/b.rss",
        Response::ok(rss(
            "Feed B",
            &[
                (
                    "https://b.example/p/77",
                    "Completely different headline",
                    "http://news.example/story/1/",
                    "2026-01-03T11:00:00Z",
                ),
                (
                    "https://b.example/p/78",
                    "Only in B",
                    "https://b.example/p/78",
                    "2026-01-02T09:00:00Z",
                ),
            ],
        )),
    );
    server.route(
        "/c.atom",
        Response::ok(atom(
            "Feed C",
            &[(
                "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
                "Yet another title for it",
                "https://news.example/story/1/?utm_campaign=c",
                "2026-01-03T12:00:00Z",
            )],
        )),
    );
    let site = site_with(&[
        (&server.url("/a.atom"), "A"),
        (&server.url("/b.rss"), "B"),
        (&server.url("/c.atom"), "C"),
    ]);
    site.post(
        "2026-01-05-hello.md",
        "---\ntitle: Hello\ndate: 2026-01-05 10:00:00 +0000\n---\nHello, world.\n",
    );
    // Before any fetch: the local post alone, with its own id.
    site.build_ok();
    let local = site.json("stream.json");
    assert_eq!(items(&local).len(), 1);
    let post_id = items(&local)[0]["id"].as_str().expect("id").to_string();
    let post_url = items(&local)[0]["url"].as_str().expect("url").to_string();
    assert_eq!(post_url, "https://example.org/2026/01/05/hello/");

    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 3, not modified 0, failed 0, new items 6"
    );
    site.build_ok();
    let doc = site.json("stream.json");
    let got = ids(&doc);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            post_id.clone(),
            "tag:a.example,2026:story-1".to_string(),
            "tag:a.example,2026:other".to_string(),
            "https://b.example/p/78".to_string(),
        ]),
        "{doc:#}"
    );
    assert_eq!(got.len(), 4);

    // The story: one item, the earliest copy's id, three sources.
    let merged = item_with_id(&doc, "tag:a.example,2026:story-1");
    let sources = merged["_tributary"]["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 3, "{merged:#}");
    assert_eq!(
        source_names(merged),
        BTreeSet::from(["A".to_string(), "B".to_string(), "C".to_string()])
    );
    let feed_urls: BTreeSet<&str> = sources
        .iter()
        .map(|s| s["feed_url"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        feed_urls,
        BTreeSet::from([
            server.url("/a.atom").as_str(),
            server.url("/b.rss").as_str(),
            server.url("/c.atom").as_str()
        ])
    );

    // The local post stays itself, with the upstream copy named as a source.
    let post = item_with_id(&doc, &post_id);
    assert_eq!(post["url"], post_url.as_str());
    assert_eq!(post["title"], "Hello");
    assert_eq!(source_names(post), BTreeSet::from(["A".to_string()]));
    assert!(!got.iter().any(|i| i == "tag:a.example,2026:hello-copy"));

    // The same ids after fetching again and rebuilding.
    let r = site.run(&["fetch", "--all"]);
    assert_eq!(
        summary(&r),
        "fetched 3, not modified 0, failed 0, new items 0"
    );
    site.build_ok();
    assert_eq!(ids(&site.json("stream.json")), got);
    let atom_ids: Vec<String> = site
        .atom("stream.atom")
        .entries()
        .iter()
        .map(|e| e.id().to_string())
        .collect();
    assert_eq!(atom_ids, got);
}

#[test]
fn opml_round_trip_and_add_by_autodiscovery() {
    let server = TestServer::start();
    let site = site_with(&[("https://first.example/feed.xml", "first")]);
    let opml = r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="Go">
    <outline type="rss" text="Go Blog" xmlUrl="https://go.dev/blog/feed.atom"/>
  </outline>
  <outline type="rss" text="etcd" xmlUrl="https://github.com/etcd-io/etcd/releases.atom"/>
  <outline type="rss" text="Q &amp; A" xmlUrl="https://qa.example/feed.xml?a=1&amp;b=2"/>
</body></opml>
"#;
    site.write("subs.opml", opml);
    let file = site.root().join("subs.opml");
    let file = file.to_str().expect("utf-8 path");
    let r = site.run(&["sources", "import", file, "--feed", "stream"]);
    r.expect_success();
    r.stderr_has("added 3 of 3 sources to feeds/stream.yaml");
    // Importing again adds nothing.
    site.run(&["sources", "import", file, "--feed", "stream"])
        .expect_success()
        .stderr_has("added 0 of 3 sources");

    let r = site.run(&["sources", "export"]);
    r.expect_success();
    let exported: BTreeSet<String> = r
        .stdout
        .split("xmlUrl=\"")
        .skip(1)
        .map(|s| {
            html_escape::decode_html_entities(s.split('"').next().unwrap_or_default()).into_owned()
        })
        .collect();
    assert_eq!(
        exported,
        BTreeSet::from([
            "https://first.example/feed.xml".to_string(),
            "https://go.dev/blog/feed.atom".to_string(),
            "https://github.com/etcd-io/etcd/releases.atom".to_string(),
            "https://qa.example/feed.xml?a=1&b=2".to_string(),
        ]),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("text=\"Q &amp; A\""), "{}", r.stdout);

    // `sources add` on an HTML page finds the feed it announces.
    server.route(
        "/blog/",
        Response::ok(
            "<!doctype html><html><head><title>Blog</title>\
             <link rel=\"stylesheet\" href=\"/s.css\">\
             <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/feed.atom\">\
             </head><body>hi</body></html>",
        )
        .header("Content-Type", "text/html; charset=utf-8"),
    );
    server.route("/feed.atom", Response::ok(two_items("blog")));
    let r = site.run(&["sources", "add", &server.url("/blog/"), "--feed", "stream"]);
    r.expect_success();
    let feed_url = server.url("/feed.atom");
    r.stderr_has(&format!("added {feed_url} to feeds/stream.yaml"));
    assert_eq!(server.requests_to("/blog/").len(), 1);
    assert_eq!(server.requests_to("/feed.atom").len(), 1);
    let yaml = std::fs::read_to_string(site.root().join("feeds/stream.yaml")).expect("feed file");
    assert!(yaml.contains(&feed_url), "{yaml}");
    assert!(yaml.contains("https://first.example/feed.xml"), "{yaml}");

    // The feed file still loads, and the new source works end to end.
    site.build_ok();
    let r = site.run(&["fetch", "--source", &feed_url]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 2"
    );
    assert_eq!(server.requests().len(), 3);
    site.build_ok();
    assert_eq!(
        ids(&site.json("stream.json")),
        ["tag:blog.example,2026:2", "tag:blog.example,2026:1"]
    );
}

#[test]
fn schedules_decide_what_is_due_and_source_picks_one() {
    let server = TestServer::start();
    server.route("/yearly.atom", Response::ok(two_items("yearly")));
    server.route("/hourly.atom", Response::ok(two_items("hourly")));
    let site = Site::new(&config());
    site.feed(
        "stream",
        &format!(
            "title: Stream\nupstreams:\n  - url: \"{}\"\n    name: yearly\n    schedule: \"0 0 1 1 *\"\n  - url: \"{}\"\n    name: hourly\n",
            server.url("/yearly.atom"),
            server.url("/hourly.atom")
        ),
    );
    // Only the named source.
    let r = site.run(&["fetch", "--source", "yearly"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 2"
    );
    assert_eq!(server.requests_to("/yearly.atom").len(), 1);
    assert_eq!(server.requests_to("/hourly.atom").len(), 0);
    let yearly = row(&site, "yearly");
    let due = next_due(&yearly);
    assert_eq!(
        due.format("%m-%d %H:%M").to_string(),
        "01-01 00:00",
        "{yearly}"
    );
    assert!(due > Utc::now(), "{yearly}");

    // A plain fetch: the yearly source is not due, the other never fetched.
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 2 (1 not due, 0 disabled)"
    );
    assert_eq!(server.requests_to("/yearly.atom").len(), 1);
    assert_eq!(server.requests_to("/hourly.atom").len(), 1);

    // --all with --source: that source only, schedule or not.
    let r = site.run(&["fetch", "--all", "--source", "yearly"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 0"
    );
    assert_eq!(server.requests_to("/yearly.atom").len(), 2);
    assert_eq!(server.requests_to("/hourly.atom").len(), 1);

    let r = site.run(&["fetch", "--source", "nope"]);
    r.expect_code(1)
        .stderr_has("no upstream source is named \"nope\"");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn combined_feeds_validate_in_all_formats() {
    let server = TestServer::start();
    server.route(
        "/rich.atom",
        Response::ok(
            "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
             <title>Rich &amp; Co</title><id>https://rich.example/</id><updated>2026-01-04T00:00:00Z</updated>\
             <entry><id>tag:rich.example,2026:1</id><title type=\"html\">Release &lt;b&gt;1.0&lt;/b&gt; &amp; more</title>\
             <link rel=\"alternate\" href=\"/posts/one\"/><published>2026-01-04T08:00:00+02:00</published>\
             <updated>2026-01-04T09:00:00+02:00</updated><author><name>Ann</name><email>ann@rich.example</email></author>\
             <category term=\"release\"/><content type=\"html\">&lt;p&gt;See &lt;a href=\"/docs\"&gt;the docs&lt;/a&gt; \
             and &lt;img src=\"img/shot.png\" alt=\"shot\"&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</content></entry>\
             <entry><id>https://rich.example/posts/two</id><title>Untitled?</title><link href=\"https://rich.example/posts/two\"/>\
             <updated>2026-01-03T08:00:00Z</updated><summary>Just text with a \u{1F600}.</summary></entry>\
             </feed>\n",
        ),
    );
    server.route(
        "/plain.rss",
        Response::ok(
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel>\
             <title>Plain</title><link>https://plain.example/</link><description>x</description>\
             <item><title>Weekly notes</title><link>https://plain.example/notes/1</link>\
             <guid>https://plain.example/notes/1</guid><pubDate>Fri, 02 Jan 2026 10:00:00 GMT</pubDate>\
             <dc:creator>Bob</dc:creator><category>notes</category>\
             <description>&lt;p&gt;Relative &lt;a href=\"../about\"&gt;about&lt;/a&gt;.&lt;/p&gt;</description></item>\
             <item><title>No guid</title><link>https://plain.example/notes/2</link>\
             <pubDate>Thu, 01 Jan 2026 10:00:00 +0000</pubDate><description>Plain text &amp; more</description></item>\
             </channel></rss>\n",
        ),
    );
    server.route(
        "/j.json",
        Response::ok(
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","home_page_url":"https://j.example/",
               "items":[{"id":"42","url":"https://j.example/42","title":"From JSON",
               "content_html":"<p>Hi <a href=\"x\">x</a></p>","date_published":"2026-01-05T10:00:00Z",
               "authors":[{"name":"Jay"}],"tags":["json"]}]}"#,
        )
        .header("Content-Type", "application/feed+json"),
    );
    let site = Site::new(&config());
    site.feed(
        "stream",
        &format!(
            "title: Stream\nlimit: 2\narchive: true\nupstreams:\n  - url: \"{}\"\n    name: Rich\n  - url: \"{}\"\n    name: Plain\n  - url: \"{}\"\n    name: J\n",
            server.url("/rich.atom"),
            server.url("/plain.rss"),
            server.url("/j.json")
        ),
    );
    site.post(
        "2026-01-05-hello.md",
        "---\ntitle: Hello & welcome\ndate: 2026-01-05 10:00:00 +0000\ntags: [news]\n---\nSee [notes](https://plain.example/notes/1).\n",
    );
    let r = site.run(&["build", "--fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 3, not modified 0, failed 0, new items 5"
    );
    site.assert_all_valid();
    let files = site.public_files();
    for f in ["stream.atom", "stream.rss", "stream.json"] {
        assert!(files.contains(&f.to_string()), "{files:?}");
    }
    // 6 entries in pages of 2: three archive pages, and the subscription
    // document with the newest 2.
    for ext in ["atom", "rss", "json"] {
        let archives = files
            .iter()
            .filter(|f| f.starts_with("archive/") && f.ends_with(ext))
            .count();
        assert_eq!(archives, 3, "{files:?}");
    }
    assert_eq!(items(&site.json("stream.json")).len(), 2);
    let all_json: BTreeSet<String> = files
        .iter()
        .filter(|f| f.ends_with(".json"))
        .flat_map(|f| ids(&site.json(f)))
        .collect();
    assert_eq!(all_json.len(), 6, "{all_json:?}");
    assert!(all_json.contains("tag:rich.example,2026:1"));
    assert!(all_json.contains("https://plain.example/notes/1"));
    // A bare JSON Feed id is only unique within its feed: made stable instead.
    assert!(!all_json.contains("42"), "{all_json:?}");
    let everything: String = files.iter().map(|f| site.read(f)).collect();
    assert!(
        !everything.contains("<script"),
        "script survived sanitizing"
    );
    assert!(!everything.contains("alert(1)"));
}

#[test]
fn implausible_upstream_dates_become_the_time_first_seen() {
    let server = TestServer::start();
    server.route(
        "/odd.atom",
        Response::ok(atom(
            "odd",
            &[
                (
                    "tag:odd.example,2026:future",
                    "From the year 2999",
                    "https://odd.example/future",
                    "2999-01-01T00:00:00Z",
                ),
                (
                    "tag:odd.example,2026:past",
                    "From before 1970",
                    "https://odd.example/past",
                    "1969-07-20T20:17:00Z",
                ),
                (
                    "tag:odd.example,2026:fine",
                    "An ordinary item",
                    "https://odd.example/fine",
                    "2026-01-02T10:00:00Z",
                ),
            ],
        )),
    );
    let site = site_with(&[(&server.url("/odd.atom"), "odd")]);
    let before = Utc::now() - Span::seconds(5);
    site.run(&["fetch"]).expect_success();
    site.build_ok();
    let after = Utc::now() + Span::seconds(5);
    let doc = site.json("stream.json");
    let date = |title: &str| {
        let it = items(&doc)
            .iter()
            .find(|i| i["title"] == title)
            .unwrap_or_else(|| panic!("no item {title}"));
        DateTime::parse_from_rfc3339(it["date_published"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    for odd in ["From the year 2999", "From before 1970"] {
        let d = date(odd);
        assert!(d >= before && d <= after, "{odd}: {d}");
    }
    assert_eq!(
        date("An ordinary item").to_rfc3339(),
        "2026-01-02T10:00:00+00:00"
    );
    // No date in the future reaches a reader, so the feeds stay valid.
    site.assert_all_valid();
    // And the substitute does not move on the next build.
    let first = site.read("stream.atom");
    std::thread::sleep(Duration::from_millis(1100));
    site.run(&["fetch", "--all"]).expect_success();
    site.build_ok();
    assert_eq!(site.read("stream.atom"), first);
}

/// `n` items of a release feed `p`, one an hour back from 2026-11-30.
fn releases(p: &str, n: usize) -> Vec<(String, String, String, String)> {
    let start = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z").expect("date");
    (0..n)
        .map(|k| {
            (
                format!("tag:{p}.example,2026:{k}"),
                format!("{p} release number {k}"),
                format!("https://{p}.example/releases/{k}"),
                (start - Span::hours(k as i64)).to_rfc3339(),
            )
        })
        .collect()
}

fn as_items(v: &[(String, String, String, String)]) -> Vec<Item<'_>> {
    v.iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect()
}

#[test]
fn keep_bounds_what_one_source_stores() {
    let server = TestServer::start();
    let many = releases("many", 30);
    server.route("/many.atom", Response::ok(atom("Many", &as_items(&many))));
    let site = Site::new(&config());
    site.feed(
        "stream",
        &format!(
            "title: Stream\nlimit: all\nupstreams:\n  - url: \"{}\"\n    name: many\n    keep: 5\n",
            server.url("/many.atom")
        ),
    );
    site.run(&["fetch"]).expect_success();
    // The latest fetch still lists all 30: none can go yet (they would come
    // back as new on the next fetch).
    site.build_ok();
    assert_eq!(items(&site.json("stream.json")).len(), 30);
    // The upstream moves on: 3 new releases, the window of 30 slides.
    let newer: Vec<_> = (0..3)
        .map(|k| {
            (
                format!("tag:many.example,2026:new{k}"),
                format!("many new release {k}"),
                format!("https://many.example/releases/new{k}"),
                format!("2026-12-0{}T12:00:00Z", k + 1),
            )
        })
        .collect();
    let mut window = newer.clone();
    window.extend(many[..27].iter().cloned());
    server.route("/many.atom", Response::ok(atom("Many", &as_items(&window))));
    site.run(&["fetch", "--all"]).expect_success();
    site.build_ok();
    // Kept: the 30 of the latest fetch (still in the feed), and of the 3 that
    // left it only those among the newest 5: none.
    let got = items(&site.json("stream.json")).len();
    assert_eq!(got, 30, "{got} items published");
    let rows = site.run(&["sources", "list"]);
    rows.expect_success();
    let row = rows
        .stdout
        .lines()
        .find(|l| l.starts_with("many "))
        .unwrap_or_default();
    assert!(row.split_whitespace().any(|w| w == "30"), "{}", rows.stdout);

    let bad = Site::new(&config());
    bad.feed(
        "stream",
        "title: S\nupstreams:\n  - url: https://x.example/f.atom\n    keep: none\n",
    );
    let r = bad.run(&["check"]);
    assert!(!r.ok());
    assert!(r.stderr.contains("feeds/stream.yaml"), "{}", r.stderr);
}

#[test]
fn a_feed_of_n_entries_is_the_same_whether_the_store_is_read_whole_or_by_window() {
    let server = TestServer::start();
    // 600 releases; a planet that reposts every tenth one two hours later
    // with tracking parameters (a copy to merge); a quiet blog whose posts
    // are older than everything else.
    let a = releases("alpha", 600);
    let repost: Vec<_> = a
        .iter()
        .step_by(10)
        .map(|(id, t, link, d)| {
            let later = DateTime::parse_from_rfc3339(d).expect("date") + Span::hours(2);
            (
                format!("{id}-planet"),
                t.clone(),
                format!("{link}?utm_source=planet"),
                later.to_rfc3339(),
            )
        })
        .collect();
    let mut blog = releases("blog", 40);
    for (_, _, _, d) in &mut blog {
        let older = DateTime::parse_from_rfc3339(d).expect("date") - Span::days(60);
        *d = older.to_rfc3339();
    }
    server.route("/alpha.atom", Response::ok(atom("Alpha", &as_items(&a))));
    server.route(
        "/planet.rss",
        Response::ok(rss("Planet", &as_items(&repost))),
    );
    server.route("/blog.atom", Response::ok(atom("Blog", &as_items(&blog))));
    let ups = format!(
        "upstreams:\n  - url: \"{}\"\n    name: alpha\n    keep: all\n  - url: \"{}\"\n    name: planet\n  - url: \"{}\"\n    name: blog\n",
        server.url("/alpha.atom"),
        server.url("/planet.rss"),
        server.url("/blog.atom")
    );
    let site = Site::new(&config());
    site.feed("all", &format!("title: All\nlimit: all\n{ups}"));
    site.feed("top", &format!("title: Top\nlimit: 25\n{ups}"));
    site.feed(
        "quiet",
        &format!(
            "title: Quiet\nlimit: 25\nupstreams:\n  - url: \"{}\"\n    name: alpha\n    keep: all\n    exclude: {{ regex: \"release\" }}\n  - url: \"{}\"\n    name: blog\n",
            server.url("/alpha.atom"),
            server.url("/blog.atom")
        ),
    );
    site.run(&["fetch"]).expect_success();
    site.build_ok();
    let ids = |name: &str| -> Vec<(String, String)> {
        items(&site.json(name))
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap_or_default().to_string(),
                    i["date_published"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let all = ids("all.json");
    let top = ids("top.json");
    assert_eq!(top.len(), 25);
    assert_eq!(top, all[..25].to_vec(), "the window changed the feed");
    // Reposts merged into the release they copy, within the window too.
    let merged = items(&site.json("top.json"))
        .iter()
        .filter(|i| {
            i["_tributary"]["sources"]
                .as_array()
                .is_some_and(|s| s.len() == 2)
        })
        .count();
    assert!(merged >= 2, "{merged} merged entries");
    // A feed whose rules drop the busy source's items reaches back to the
    // old blog posts (pages grow until the feed is full).
    let quiet = ids("quiet.json");
    assert_eq!(quiet.len(), 25);
    assert!(
        quiet.iter().all(|(id, _)| id.contains("blog.example")),
        "{quiet:?}"
    );
}

/// The default store of a test site, opened through the library (to move
/// a source's clock forward without waiting a week).
fn open_store(site: &Site) -> Box<dyn tributary::store::Store + Send> {
    let path = site.root().join(".tributary/store.db");
    tributary::store::open(&tributary::store::Location::Sqlite(path)).expect("open the store")
}

/// A 410 disables a source until `sources enable NAME`; `sources disable
/// NAME REASON` stops one by hand, and `sources list` says why.
#[test]
fn sources_enable_brings_a_gone_source_back_and_disable_stops_one() {
    let (server, site) = gone_and_live();
    site.run(&["fetch"]).expect_success();
    server.route("/gone.atom", Response::status(410));
    site.run(&["fetch", "--all"]).expect_success();
    let gone = row(&site, "gone");
    assert!(gone.contains("disabled: 410 Gone"), "{gone}");
    // Retried weekly: the row says when.
    let retry = next_due(&gone);
    let week = retry - Utc::now();
    assert!(
        week > Span::days(6) && week <= Span::days(7),
        "retried in a week: {gone}"
    );

    // The upstream is back: still disabled until enabled.
    server.route("/gone.atom", Response::ok(two_items("gone")));
    site.run(&["fetch", "--all"]).expect_success();
    assert_eq!(server.requests_to("/gone.atom").len(), 2);
    let r = site.run(&["sources", "enable", "gone"]);
    r.expect_success();
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(server.requests_to("/gone.atom").len(), 3);
    assert!(
        row(&site, "gone").contains("  ok  "),
        "{}",
        row(&site, "gone")
    );

    // Disabled by hand, with a reason: not fetched, even with --all.
    site.run(&["sources", "disable", "live", "moved to the planet"])
        .expect_success();
    let live = row(&site, "live");
    assert!(live.contains("disabled: moved to the planet"), "{live}");
    let before = server.requests_to("/live.atom").len();
    site.run(&["fetch", "--all"]).expect_success();
    assert_eq!(server.requests_to("/live.atom").len(), before);
    site.run(&["sources", "enable", "live"]).expect_success();
    site.run(&["fetch", "--all"]).expect_success();
    assert_eq!(server.requests_to("/live.atom").len(), before + 1);

    let r = site.run(&["sources", "enable", "nosuch"]);
    r.expect_code(1).stderr_has("no source named \"nosuch\"");
}

/// A gone source is asked again once a week; when it answers with a feed
/// it is enabled again by itself, and a new 410 puts it off another week.
#[test]
fn a_gone_source_is_retried_weekly_and_reenabled_when_it_answers() {
    let server = TestServer::start();
    server.route("/gone.atom", Response::status(410));
    let url = server.url("/gone.atom");
    let site = site_with(&[(&url, "gone")]);
    site.run(&["fetch"]);
    assert!(row(&site, "gone").contains("disabled: 410 Gone"));
    let week_ago = |site: &Site| {
        let mut store = open_store(site);
        let mut state = store.source(&url).expect("read").expect("the source");
        state.next_due = Some(Utc::now() - Span::seconds(1));
        store.save_source(&state).expect("save");
    };
    // A week later, still gone: asked once, put off another week.
    week_ago(&site);
    site.run(&["fetch"]);
    assert_eq!(server.requests_to("/gone.atom").len(), 2);
    let gone = row(&site, "gone");
    assert!(gone.contains("disabled: 410 Gone"), "{gone}");
    assert!(next_due(&gone) - Utc::now() > Span::days(6), "{gone}");
    // Back: fetched and enabled again.
    server.route("/gone.atom", Response::ok(two_items("gone")));
    week_ago(&site);
    site.run(&["fetch"]).expect_success();
    assert_eq!(server.requests_to("/gone.atom").len(), 3);
    let back = row(&site, "gone");
    assert!(back.contains("  ok  "), "{back}");
}

/// A podcast-style RSS upstream and a JSON Feed with attachments: the
/// enclosures, category schemes and content language reach every combined
/// format (RSS: the first enclosure only), and each document still passes
/// the checks.
#[test]
fn enclosures_and_category_schemes_reach_every_format() {
    let server = TestServer::start();
    let rss_doc = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Pod</title><link>https://pod.example/</link>
<description>A podcast</description><language>en-GB</language>
<item><title>Episode 1</title><link>https://pod.example/ep1</link>
<guid>https://pod.example/ep1</guid><pubDate>Fri, 02 Jan 2026 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Show notes&lt;/p&gt;</description>
<category domain="https://pod.example/topics">science</category>
<category domain="Syndic8">misc</category>
<enclosure url="https://pod.example/ep1.mp3" length="24986239" type="audio/mpeg"/>
<enclosure url="https://pod.example/ep1.ogg" length="0" type="audio/ogg"/>
</item></channel></rss>"#;
    let json_doc = r#"{"version":"https://jsonfeed.org/version/1.1","title":"Rel",
"home_page_url":"https://rel.example/","language":"de",
"items":[{"id":"rel-1","url":"https://rel.example/1","title":"Release 1",
"content_html":"<p>Notes</p>","date_published":"2026-01-03T10:00:00Z",
"attachments":[{"url":"https://rel.example/1.tar.gz","mime_type":"application/gzip"}]}]}"#;
    server.route(
        "/pod.rss",
        Response::ok(rss_doc).header("Content-Type", "application/rss+xml"),
    );
    server.route(
        "/rel.json",
        Response::ok(json_doc).header("Content-Type", "application/feed+json"),
    );
    let site = site_with(&[
        (&server.url("/pod.rss"), "pod"),
        (&server.url("/rel.json"), "rel"),
    ]);
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 2"
    );
    site.build_ok();
    site.assert_all_valid();

    // JSON Feed: every attachment, the size when known, the language.
    let json = site.json("stream.json");
    let by_url = |url: &str| {
        items(&json)
            .iter()
            .find(|i| i["url"] == url)
            .unwrap_or_else(|| panic!("no item {url} in {json}"))
            .clone()
    };
    let ep = by_url("https://pod.example/ep1");
    assert_eq!(ep["attachments"][0]["url"], "https://pod.example/ep1.mp3");
    assert_eq!(ep["attachments"][0]["mime_type"], "audio/mpeg");
    assert_eq!(ep["attachments"][0]["size_in_bytes"], 24986239);
    assert_eq!(ep["attachments"][1]["url"], "https://pod.example/ep1.ogg");
    assert!(ep["attachments"][1].get("size_in_bytes").is_none(), "{ep}");
    assert_eq!(ep["language"], "en-GB");
    let rel = by_url("https://rel.example/1");
    assert_eq!(rel["attachments"][0]["url"], "https://rel.example/1.tar.gz");
    assert_eq!(rel["attachments"][0]["mime_type"], "application/gzip");
    assert_eq!(rel["language"], "de");

    // Atom: every enclosure as a link, the category's scheme, xml:lang.
    let atom = site.atom("stream.atom");
    let entry = atom
        .entries
        .iter()
        .find(|e| {
            e.links
                .iter()
                .any(|l| l.rel == "alternate" && l.href == "https://pod.example/ep1")
        })
        .expect("the episode in Atom");
    let enclosures: Vec<(&str, Option<&str>, Option<&str>)> = entry
        .links
        .iter()
        .filter(|l| l.rel == "enclosure")
        .map(|l| (l.href.as_str(), l.mime_type.as_deref(), l.length.as_deref()))
        .collect();
    assert_eq!(
        enclosures,
        [
            (
                "https://pod.example/ep1.mp3",
                Some("audio/mpeg"),
                Some("24986239")
            ),
            ("https://pod.example/ep1.ogg", Some("audio/ogg"), None),
        ]
    );
    let cat = &entry.categories[0];
    assert_eq!(
        (cat.term.as_str(), cat.scheme.as_deref()),
        ("science", Some("https://pod.example/topics"))
    );
    // An RSS domain that is no IRI is no Atom scheme.
    assert_eq!(
        (
            entry.categories[1].term.as_str(),
            entry.categories[1].scheme.as_deref()
        ),
        ("misc", None)
    );
    assert_eq!(
        entry.content.as_ref().and_then(|c| c.lang.as_deref()),
        Some("en-GB")
    );

    // RSS: one enclosure per item (the first), with all three attributes;
    // the category's domain.
    let rss = site.rss("stream.rss");
    let item = rss
        .items
        .iter()
        .find(|i| i.link.as_deref() == Some("https://pod.example/ep1"))
        .expect("the episode in RSS");
    let enc = item.enclosure.as_ref().expect("an enclosure");
    assert_eq!(
        (
            enc.url.as_str(),
            enc.length.as_str(),
            enc.mime_type.as_str()
        ),
        ("https://pod.example/ep1.mp3", "24986239", "audio/mpeg")
    );
    assert_eq!(
        site.read("stream.rss").matches("<enclosure ").count(),
        2,
        "one per item"
    );
    assert_eq!(
        item.categories[0].domain.as_deref(),
        Some("https://pod.example/topics")
    );
    assert_eq!(item.categories[1].domain.as_deref(), Some("Syndic8"));
    let rel_item = rss
        .items
        .iter()
        .find(|i| i.link.as_deref() == Some("https://rel.example/1"))
        .expect("the release in RSS");
    let enc = rel_item.enclosure.as_ref().expect("an enclosure");
    assert_eq!(
        (enc.length.as_str(), enc.mime_type.as_str()),
        ("0", "application/gzip")
    );

    // The enclosures are in the store: a second build reads them back.
    site.build_ok();
    assert_eq!(
        site.json("stream.json"),
        json,
        "rebuilt from the store, the same"
    );
    check_feed_oracle(
        &site.public(),
        &["stream.atom", "stream.rss", "stream.json"],
    );
}

/// A local-file upstream names itself by its home page, `http://host`
/// without a path: the `atom:source/atom:id` republished is the normalized
/// IRI (RFC 4287 4.2.6.1: `/` for an empty path), as the feed oracle asks.
#[test]
fn a_source_id_with_an_empty_path_is_normalized() {
    let site = Site::new(BASIC_CONFIG);
    site.write(
        "feeds/local/pod.rss",
        "<rss version=\"2.0\"><channel><title>Pod</title><link>http://pod.example</link>\
         <item><title>Episode</title><link>http://pod.example/1</link>\
         <pubDate>Mon, 01 Jun 2026 10:00:00 GMT</pubDate></item></channel></rss>",
    );
    site.feed(
        "stream",
        "title: S\nupstreams:\n  - url: feeds/local/pod.rss\n    name: Pod\n",
    );
    site.run(&["fetch"]).expect_success();
    site.build_ok();
    let atom = site.read("stream.atom");
    assert!(atom.contains("<id>http://pod.example/</id>"), "{atom}");
    check_feed_oracle(
        &site.public(),
        &["stream.atom", "stream.rss", "stream.json"],
    );
}
