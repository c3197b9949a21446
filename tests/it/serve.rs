//! `tributary serve` end to end: the real binary as a child process on
//! 127.0.0.1:0 with a temporary site, spoken to over plain HTTP/1.1 (a raw
//! socket, so that paths such as `/../x` are sent as written and compressed
//! bodies arrive as sent). Every daemon is killed by a Drop guard and every
//! wait is bounded.

#![allow(dead_code)]

use crate::support::daemon::{
    copy_example_site, http, parse_response, terminate, wait_for, Daemon, Resp,
};
use crate::support::feeds::{Entry, Feed};
use crate::support::site::{post_text, Site, BASIC_CONFIG};
use crate::support::upstream_server::{Response, TestServer};
use chrono::{DateTime, Utc};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a change (edit, future post) gets to show in the served feed.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// What SIGTERM may take: the daemon's 10 s grace for fetches plus a margin.
const STOP_LIMIT: Duration = Duration::from_secs(13);

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate).
fn imf_date(d: DateTime<Utc>) -> String {
    d.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A post file's text.
fn post(title: &str, date: &str, body: &str) -> String {
    post_text(&format!("title: {title}\ndate: {date}\n"), body)
}

/// A site with the feed `main` (Atom, RSS, JSON Feed), `cache_max_age: 123`,
/// `extra` appended to `tributary.yaml`, and one post.
fn site_with(extra: &str) -> Site {
    let site = Site::new(&format!("{BASIC_CONFIG}cache_max_age: 123\n{extra}"));
    site.feed("main", "title: Main\n");
    site.post(
        "2026-01-02-hello.md",
        post("Hello", "2026-01-02 10:00:00 +0000", "First body.\n"),
    );
    site
}

/// The site config for upstreams on the loopback test server.
fn fetch_config(timeout: u64) -> String {
    format!("fetch: {{ allow_private_addresses: true, timeout: {timeout} }}\n")
}

/// A small valid Atom document, different per `tag`.
fn upstream_atom(tag: &str) -> String {
    Feed::new(tag, &format!("urn:feed:{tag}"))
        .entries([Entry::new(
            &format!("urn:{tag}:1"),
            &format!("Upstream {tag} one"),
            &format!("https://{tag}.example/1"),
            "2026-01-05T10:00:00Z",
        )
        .author("W")
        .summary("About one.")])
        .atom()
}

/// `feeds/stream.yaml` drawing from `upstreams` (url, name, schedule).
fn stream_feed(upstreams: &[(&str, &str, Option<&str>)]) -> String {
    let mut out = String::from("title: Stream\nposts: all\nlimit: 50\nupstreams:\n");
    for (url, name, schedule) in upstreams {
        out.push_str(&format!("  - url: \"{url}\"\n    name: \"{name}\"\n"));
        if let Some(s) = schedule {
            out.push_str(&format!("    schedule: \"{s}\"\n"));
        }
    }
    out
}

/// The text between `<tag>` and `</tag>` (first one).
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&close).expect("closing tag") + start;
    &xml[start..end]
}

/// Whether the served `path` contains `needle`.
fn serves(d: &Daemon, path: &str, needle: &str) -> bool {
    let r = d.get(path);
    r.status == 200 && r.text().contains(needle)
}

// 1. Headers, HEAD, 404/405, no path escapes.
#[test]
fn feeds_are_served_with_their_headers() {
    let site = site_with("");
    let d = Daemon::serve(&site);

    let atom = d.get("/main.atom");
    assert_eq!(atom.status, 200, "{}", d.log());
    assert_eq!(
        atom.must("Content-Type"),
        "application/atom+xml; charset=utf-8"
    );
    // What is served is what the build wrote.
    assert_eq!(atom.body, site.read_bytes("main.atom"));
    let updated = DateTime::parse_from_rfc3339(element(&atom.text(), "updated"))
        .expect("feed updated")
        .with_timezone(&Utc);
    assert_eq!(atom.must("Last-Modified"), imf_date(updated));

    let rss = d.get("/main.rss");
    assert_eq!(rss.status, 200);
    assert_eq!(
        rss.must("Content-Type"),
        "application/rss+xml; charset=utf-8"
    );
    assert_eq!(rss.body, site.read_bytes("main.rss"));
    let built = DateTime::parse_from_rfc2822(element(&rss.text(), "lastBuildDate"))
        .expect("lastBuildDate")
        .with_timezone(&Utc);
    assert_eq!(rss.must("Last-Modified"), imf_date(built));

    let json = d.get("/main.json");
    assert_eq!(json.status, 200);
    assert_eq!(
        json.must("Content-Type"),
        "application/feed+json; charset=utf-8"
    );
    assert_eq!(json.body, site.read_bytes("main.json"));
    // JSON Feed has no feed-level date: the same feed's `updated`.
    assert_eq!(json.must("Last-Modified"), imf_date(updated));

    for r in [&atom, &rss, &json] {
        let etag = r.must("ETag");
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "strong ETag: {etag}"
        );
        assert!(
            r.must("Cache-Control").contains("max-age=123"),
            "{:?}",
            r.headers
        );
        assert!(r.must("Vary").contains("Accept-Encoding"));
        assert_eq!(r.must("Content-Length"), r.body.len().to_string());
    }
    assert_ne!(atom.must("ETag"), rss.must("ETag"));

    let head = d.request("HEAD", "/main.atom", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body: {:?}", head.text());
    for h in [
        "Content-Type",
        "ETag",
        "Last-Modified",
        "Cache-Control",
        "Vary",
        "Content-Length",
    ] {
        assert_eq!(head.header(h), atom.header(h), "HEAD {h}");
    }

    assert_eq!(d.get("/nope.atom").status, 404);
    assert_eq!(d.get("/main.atom/x").status, 404);
    let post = d.request("POST", "/main.atom", &[]);
    assert_eq!(post.status, 405);
    assert!(post.must("Allow").contains("GET"));
    // Only generated documents: never the site's own files.
    for path in [
        "/tributary.yaml",
        "/../tributary.yaml",
        "/%2e%2e/tributary.yaml",
        "/%2E%2E/%2e%2e/site/tributary.yaml",
        "/..%2ftributary.yaml",
        "/feeds/main.yaml",
        "/content/2026-01-02-hello.md",
        "/.tributary/build-manifest.json",
        "//etc/passwd",
    ] {
        let r = d.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(!r.text().contains("base_url"), "{path} leaked the config");
    }
}

// 2. Revalidation.
#[test]
fn conditional_requests_get_304() {
    let site = site_with("");
    let d = Daemon::serve(&site);
    let first = d.get("/main.atom");
    assert_eq!(first.status, 200);
    let etag = first.must("ETag").to_string();
    let modified = first.must("Last-Modified").to_string();

    let r = d.request("GET", "/main.atom", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.must("ETag"), etag);

    let r = d.request("GET", "/main.atom", &[("If-Modified-Since", &modified)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    let r = d.request(
        "GET",
        "/main.atom",
        &[("If-None-Match", "\"0000000000000000\"")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, first.body);
    // If-None-Match wins over a matching If-Modified-Since.
    let r = d.request(
        "GET",
        "/main.atom",
        &[
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", &modified),
        ],
    );
    assert_eq!(r.status, 200);
    // A date before the feed's `updated` is not a match.
    let r = d.request(
        "GET",
        "/main.atom",
        &[("If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT")],
    );
    assert_eq!(r.status, 200);
    // The ETag of another document does not revalidate this one.
    let rss_etag = d.get("/main.rss").must("ETag").to_string();
    let r = d.request("GET", "/main.atom", &[("If-None-Match", &rss_etag)]);
    assert_eq!(r.status, 200);
}

// 3. gzip and brotli.
#[test]
fn gzip_and_brotli_decode_to_the_identity_bytes() {
    let site = site_with("");
    for i in 0..20 {
        // Enough text for compression to matter.
        site.post(
            &format!("2026-02-{:02}-p.md", i + 1),
            post(
                &format!("Post {i}"),
                &format!("2026-02-{:02} 10:00:00 +0000", i + 1),
                &"Some words that repeat and repeat. ".repeat(20),
            ),
        );
    }
    let d = Daemon::serve(&site);
    for path in ["/main.atom", "/main.rss", "/main.json", "/main.html", "/"] {
        let plain = d.get(path);
        assert_eq!(plain.status, 200, "{path}");
        assert_eq!(plain.header("Content-Encoding"), None);

        let gz = d.request("GET", path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(gz.status, 200);
        assert_eq!(gz.must("Content-Encoding"), "gzip", "{path}");
        assert!(gz.body.len() < plain.body.len(), "{path}: gzip is smaller");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gz.body[..])
            .read_to_end(&mut unzipped)
            .expect("gzip body decodes");
        assert_eq!(unzipped, plain.body, "{path}: gzip");

        let br = d.request("GET", path, &[("Accept-Encoding", "gzip, deflate, br")]);
        assert_eq!(br.status, 200);
        assert_eq!(br.must("Content-Encoding"), "br", "{path}");
        let mut unbrotli = Vec::new();
        brotli::Decompressor::new(&br.body[..], 4096)
            .read_to_end(&mut unbrotli)
            .expect("brotli body decodes");
        assert_eq!(unbrotli, plain.body, "{path}: brotli");

        let etags = [plain.must("ETag"), gz.must("ETag"), br.must("ETag")];
        assert!(
            etags[0] != etags[1] && etags[1] != etags[2] && etags[0] != etags[2],
            "{path}: one ETag per coding: {etags:?}"
        );
        for r in [&gz, &br] {
            assert!(r.must("Vary").contains("Accept-Encoding"));
            assert_eq!(r.must("Content-Length"), r.body.len().to_string());
        }
        // Each coding revalidates with its own ETag.
        let r = d.request(
            "GET",
            path,
            &[("Accept-Encoding", "gzip"), ("If-None-Match", etags[1])],
        );
        assert_eq!(r.status, 304, "{path}: gzip revalidation");
    }
    // q=0 refuses a coding.
    let r = d.request("GET", "/main.atom", &[("Accept-Encoding", "br;q=0, gzip")]);
    assert_eq!(r.must("Content-Encoding"), "gzip");
}

// 4. Edits are picked up; a broken edit keeps the last good feeds.
#[test]
fn edits_are_served_without_restart_and_broken_edits_keep_the_old_feed() {
    let site = site_with("");
    let d = Daemon::serve(&site);
    assert!(serves(&d, "/main.atom", "<title>Hello</title>"));

    site.post(
        "2026-01-02-hello.md",
        post("Hello edited", "2026-01-02 10:00:00 +0000", "First body.\n"),
    );
    site.post(
        "2026-01-03-second.md",
        post("Second post", "2026-01-03 10:00:00 +0000", "Second.\n"),
    );
    wait_for(CHANGE_TIMEOUT, "the edit in the served feed", || {
        let r = d.get("/main.atom");
        let t = r.text();
        (t.contains("<title>Hello edited</title>") && t.contains("<title>Second post</title>"))
            .then_some(())
    });
    let good = d.get("/main.atom");
    let good_json = d.get("/main.json");

    // Invalid YAML front matter.
    site.write(
        "content/2026-01-04-broken.md",
        "---\ntitle: Broken\ndate: [2026-01-04\n---\nBody.\n",
    );
    let error = wait_for(CHANGE_TIMEOUT, "last_build_error in /healthz", || {
        let h: serde_json::Value = serde_json::from_slice(&d.get("/healthz").body).ok()?;
        h["last_build_error"].as_str().map(str::to_string)
    });
    let line_ref = regex::Regex::new(r"content/2026-01-04-broken\.md:\d+:").unwrap();
    assert!(
        line_ref.is_match(&error),
        "the error names the file and line: {error}"
    );
    let still = d.get("/main.atom");
    assert_eq!(still.status, 200);
    assert_eq!(still.body, good.body, "the last good feed is still served");
    assert_eq!(still.must("ETag"), good.must("ETag"));
    assert_eq!(d.get("/main.json").body, good_json.body);
    // The log reaches this test through a pipe and a thread: a moment
    // after /healthz.
    wait_for(
        Duration::from_secs(5),
        "the broken file named in the log",
        || d.log().contains("2026-01-04-broken.md").then_some(()),
    );

    // Fixing it recovers.
    site.write(
        "content/2026-01-04-broken.md",
        post("Fixed now", "2026-01-04 10:00:00 +0000", "Body.\n"),
    );
    wait_for(CHANGE_TIMEOUT, "the fixed post in the served feed", || {
        serves(&d, "/main.atom", "<title>Fixed now</title>").then_some(())
    });
    let h: serde_json::Value = serde_json::from_slice(&d.get("/healthz").body).expect("json");
    assert!(h["last_build_error"].is_null(), "{h}");
}

// 5. SIGTERM, idle and with a fetch in flight.
#[test]
fn sigterm_exits_zero() {
    let site = site_with("");
    let mut d = Daemon::serve(&site);
    assert_eq!(d.get("/main.atom").status, 200);
    let addr = d.addr;
    let (status, took) = d.terminate(STOP_LIMIT);
    let status = status.unwrap_or_else(|| panic!("still running after {took:?}"));
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the port is closed"
    );
}

#[test]
fn sigterm_exits_in_time_with_a_fetch_in_flight() {
    let server = TestServer::start();
    // Answers after 30 s: the fetch is in flight when SIGTERM comes, and a
    // fetch timeout of 60 s does not end it first.
    server.route(
        "/slow.atom",
        Response::ok(upstream_atom("slow")).delay(Duration::from_secs(30)),
    );
    let site = site_with(&fetch_config(60));
    site.feed(
        "stream",
        &stream_feed(&[(&server.url("/slow.atom"), "Slow", None)]),
    );
    let mut d = Daemon::serve(&site);
    wait_for(
        Duration::from_secs(10),
        "the upstream fetch to start",
        || (!server.requests_to("/slow.atom").is_empty()).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = d.terminate(STOP_LIMIT);
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running {took:?} after SIGTERM with a fetch in flight; log:\n{}",
            d.log()
        )
    });
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(took < Duration::from_secs(10), "took {took:?}: {}", d.log());
}

/// `tributary serve` on `site`, not waiting for it to listen; stderr to a file
/// in the site's working directory.
fn serve_unready(site: &Site) -> Child {
    let log = std::fs::File::create(site.cwd().join("serve.log")).expect("log file");
    site.command(&["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start tributary serve")
}

/// SIGTERM while the first build runs: exit 0 within 10 s, not death by
/// the signal (143). The build is held up deterministically: on PostgreSQL
/// builds take turns under an advisory lock, which the test holds.
#[test]
fn sigterm_during_the_first_build_exits_zero() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let site = site_with(&format!("store: \"{url}\"\n"));
    // Create the schema first, so that the daemon gets to its build.
    site.run(&["sources", "list"]).expect_success();
    /// `BUILD_LOCK` in `src/store/postgres.rs`.
    const BUILD_LOCK: i64 = 0x7472_6962_0000_0002;
    let lock = crate::support::pg::hold_advisory_lock(&url, BUILD_LOCK);
    let mut child = serve_unready(&site);
    let log = || std::fs::read_to_string(site.cwd().join("serve.log")).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!log().contains("tributary: serving"), "{}", log());
    let (status, took) = terminate(&mut child, STOP_LIMIT);
    drop(lock);
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("still running {took:?} after SIGTERM; log:\n{}", log())
    });
    assert_eq!(status.code(), Some(0), "{status:?}; log:\n{}", log());
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// SIGTERM while waiting for a store that does not answer: exit 0 at once.
#[test]
fn sigterm_while_waiting_for_the_store_exits_zero() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let site = site_with(&format!(
        "store: \"postgres://nobody@127.0.0.1:{port}/none\"\n"
    ));
    let mut child = serve_unready(&site);
    let log = || std::fs::read_to_string(site.cwd().join("serve.log")).unwrap_or_default();
    wait_for(Duration::from_secs(30), "waiting for the store", || {
        log().contains("waiting for the store").then_some(())
    });
    let (status, took) = terminate(&mut child, STOP_LIMIT);
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("still running {took:?} after SIGTERM; log:\n{}", log())
    });
    assert_eq!(status.code(), Some(0), "{status:?}; log:\n{}", log());
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

// 6. Per-second schedules: fetched repeatedly, never twice at once.
fn per_second_schedule(delay: Option<Duration>) {
    let server = TestServer::start();
    let mut r = Response::ok(upstream_atom("tick"));
    if let Some(delay) = delay {
        r = r.delay(delay);
    }
    server.route("/tick.atom", r);
    let site = site_with(&fetch_config(10));
    site.feed(
        "stream",
        &stream_feed(&[(&server.url("/tick.atom"), "Tick", Some("* * * * * *"))]),
    );
    let d = Daemon::serve(&site);
    let first = wait_for(Duration::from_secs(10), "the first fetch", || {
        server.requests_to("/tick.atom").first().map(|r| r.at)
    });
    let window = Duration::from_secs(4);
    std::thread::sleep(window.saturating_sub(first.elapsed()) + Duration::from_millis(100));
    let reqs: Vec<_> = server
        .requests_to("/tick.atom")
        .into_iter()
        .filter(|r| r.at.duration_since(first) <= window)
        .collect();
    assert!(
        reqs.len() >= 2,
        "fetched {} times in {window:?}; log:\n{}",
        reqs.len(),
        d.log()
    );
    assert!(
        server.max_concurrent() <= 1,
        "{} fetches at once",
        server.max_concurrent()
    );
    if let Some(delay) = delay {
        // Each fetch starts after the previous one's answer.
        for pair in reqs.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at);
            assert!(
                gap >= delay,
                "fetches {gap:?} apart overlap a {delay:?} answer"
            );
        }
    }
}

#[test]
fn per_second_schedule_fetches_repeatedly() {
    per_second_schedule(None);
}

#[test]
fn per_second_schedule_never_overlaps_a_slow_fetch() {
    per_second_schedule(Some(Duration::from_millis(1500)));
}

// 7. /healthz and /metrics.
#[test]
fn healthz_and_metrics_report_builds_and_fetches() {
    let server = TestServer::start();
    server.route("/good.atom", Response::ok(upstream_atom("good")));
    let site = site_with(&fetch_config(5));
    site.feed(
        "stream",
        &stream_feed(&[
            (&server.url("/good.atom"), "Good Source", None),
            (&server.url("/missing.atom"), "Missing Source", None),
        ]),
    );
    let d = Daemon::serve(&site);

    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
    };
    let metrics = wait_for(Duration::from_secs(10), "both sources fetched", || {
        let t = d.get("/metrics").text();
        let fetched = value(&t, "tributary_fetches_total{result=\"fetched\"}")?;
        let failing = value(
            &t,
            "tributary_source_consecutive_failures{source=\"Missing Source\"}",
        )?;
        (fetched > 0.0 && failing >= 1.0).then_some(t)
    });
    let m = d.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.must("Content-Type").starts_with("text/plain"));
    assert!(
        metrics.contains("# TYPE tributary_fetches_total counter"),
        "{metrics}"
    );
    assert_eq!(
        value(
            &metrics,
            "tributary_source_consecutive_failures{source=\"Good Source\"}"
        ),
        Some(0.0),
        "{metrics}"
    );
    assert!(value(&metrics, "tributary_fetches_total{result=\"failed\"}") >= Some(1.0));
    assert!(value(&metrics, "tributary_builds_total{result=\"ok\"}") >= Some(1.0));
    assert!(value(&metrics, "tributary_build_duration_seconds").is_some());
    // The fetched items reach the combined feed (a fetch that changed the
    // store rebuilds).
    wait_for(CHANGE_TIMEOUT, "the upstream item in stream.atom", || {
        serves(&d, "/stream.atom", "Upstream good one").then_some(())
    });
    let metrics = d.get("/metrics").text();
    assert_eq!(
        value(&metrics, "tributary_items_stored{source=\"Good Source\"}"),
        Some(1.0),
        "{metrics}"
    );

    let h = d.get("/healthz");
    assert_eq!(h.status, 200);
    assert!(h.must("Content-Type").starts_with("application/json"));
    let j: serde_json::Value = serde_json::from_slice(&h.body).expect("healthz is JSON");
    for key in ["last_build", "last_fetch"] {
        let v = j[key].as_str().unwrap_or_else(|| panic!("{key} in {j}"));
        DateTime::parse_from_rfc3339(v).unwrap_or_else(|e| panic!("{key} {v:?}: {e}"));
    }
    assert!(j["last_build_error"].is_null(), "{j}");
}

// 8. A future-dated post goes live by itself.
#[test]
fn future_post_appears_when_its_time_comes() {
    let site = site_with("");
    // Whole seconds: the date in the front matter is what goes live.
    let at = chrono::DurationRound::duration_trunc(
        Utc::now() + chrono::Duration::seconds(6),
        chrono::Duration::seconds(1),
    )
    .expect("truncate");
    site.post(
        "2026-09-09-future.md",
        post(
            "From the future",
            &at.format("%Y-%m-%d %H:%M:%S +0000").to_string(),
            "Soon.\n",
        ),
    );
    let d = Daemon::serve(&site);
    let before = d.get("/main.atom");
    assert!(
        Utc::now() < at,
        "the daemon took too long to start for this test to mean anything"
    );
    assert!(!before.text().contains("From the future"));
    wait_for(CHANGE_TIMEOUT, "the future post in the served feed", || {
        serves(&d, "/main.atom", "<title>From the future</title>").then_some(())
    });
    assert!(Utc::now() >= at, "not before its date");
}

/// One request the hub received.
#[derive(Debug, Clone)]
struct HubRequest {
    method: String,
    path: String,
    content_type: String,
    body: String,
}

/// A WebSub hub stand-in that keeps request bodies (the TestServer records
/// heads only).
struct Hub {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<HubRequest>>>,
    stop: Arc<AtomicBool>,
}

impl Hub {
    fn start() -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                if let Some(req) = read_request(&mut c) {
                    g.lock().unwrap_or_else(|e| e.into_inner()).push(req);
                }
                let _ = c.write_all(
                    b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Hub { addr, got, stop }
    }

    fn url(&self) -> String {
        format!("http://{}/hub", self.addr)
    }

    fn requests(&self) -> Vec<HubRequest> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `hub.url`s of the publish pings so far.
    fn published(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes())
                    .into_owned()
                    .collect();
                let mode = form.iter().find(|(k, _)| k == "hub.mode")?;
                (mode.1 == "publish")
                    .then(|| form.into_iter().find(|(k, _)| k == "hub.url"))
                    .flatten()
                    .map(|(_, v)| v)
            })
            .collect()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn read_request(c: &mut TcpStream) -> Option<HubRequest> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = c.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let mut len = 0usize;
    let mut ctype = String::new();
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            if n.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            } else if n.trim().eq_ignore_ascii_case("content-type") {
                ctype = v.trim().to_string();
            }
        }
    }
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = c.read(&mut byte).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&byte[..n]);
    }
    Some(HubRequest {
        method,
        path,
        content_type: ctype,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

// 9. WebSub.
#[test]
fn websub_hub_is_linked_and_pinged_on_change() {
    let hub = Hub::start();
    let site = site_with(&format!("hub: {}\n", hub.url()));
    let d = Daemon::serve(&site);
    let atom = d.get("/main.atom");
    let text = atom.text();
    assert!(
        text.contains("rel=\"hub\"") && text.contains(&hub.url()),
        "the feed links the hub: {text}"
    );
    let link = atom.all("Link").join(", ");
    assert!(
        link.contains(&format!("<{}>; rel=\"hub\"", hub.url())),
        "Link: {link}"
    );
    assert!(
        link.contains("<https://example.org/main.atom>; rel=\"self\""),
        "Link: {link}"
    );
    assert!(d.get("/main.rss").text().contains(&hub.url()));

    let main_atom = "https://example.org/main.atom";
    // The first build publishes too; wait for those pings to be in.
    wait_for(CHANGE_TIMEOUT, "the start-up publish ping", || {
        hub.published().iter().any(|u| u == main_atom).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let before = hub.requests().len();

    site.post(
        "2026-01-02-hello.md",
        post("Hello again", "2026-01-02 10:00:00 +0000", "Changed.\n"),
    );
    let new = wait_for(CHANGE_TIMEOUT, "a publish ping after the edit", || {
        let all = hub.requests();
        (all.len() > before && hub.published().len() > before).then(|| all[before..].to_vec())
    });
    for r in &new {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hub");
        assert_eq!(r.content_type, "application/x-www-form-urlencoded");
        assert!(
            r.body.starts_with("hub.mode=publish&hub.url="),
            "{}",
            r.body
        );
    }
    wait_for(CHANGE_TIMEOUT, "every format of main pinged", || {
        let after: Vec<String> = hub.published().split_off(before);
        ["main.atom", "main.rss", "main.json"]
            .iter()
            .all(|f| after.contains(&format!("https://example.org/{f}")))
            .then_some(())
    });
    let after: Vec<String> = hub.published().split_off(before);
    assert!(
        after.iter().all(|u| !u.ends_with(".html")),
        "only feeds are published: {after:?}"
    );
}

// 10. The index and the feed pages.
#[test]
fn index_lists_feeds_with_autodiscovery_and_pages_are_html() {
    let site = site_with("");
    site.feed("second", "title: Second Feed\nformats: [atom]\n");
    let d = Daemon::serve(&site);
    let index = d.get("/");
    assert_eq!(index.status, 200);
    assert_eq!(index.must("Content-Type"), "text/html; charset=utf-8");
    let html = index.text();
    for (kind, url) in [
        ("application/atom+xml", "https://example.org/main.atom"),
        ("application/rss+xml", "https://example.org/main.rss"),
        ("application/feed+json", "https://example.org/main.json"),
        ("application/atom+xml", "https://example.org/second.atom"),
    ] {
        let link = format!("<link rel=\"alternate\" type=\"{kind}\" href=\"{url}\"");
        assert!(html.contains(&link), "{link} in\n{html}");
    }
    assert!(html.contains("Main") && html.contains("Second Feed"));
    assert!(html.contains("https://example.org/main.html"));

    let page = d.get("/main.html");
    assert_eq!(page.status, 200);
    assert_eq!(page.must("Content-Type"), "text/html; charset=utf-8");
    assert!(page.text().contains("Hello"), "{}", page.text());
    assert!(page
        .text()
        .contains("<link rel=\"alternate\" type=\"application/atom+xml\""));
    assert_eq!(page.body, site.read_bytes("main.html"));
}

// 11. A real reader against the served example site.
#[test]
fn newsboat_reads_the_served_example_site() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/oracles/newsboat-check.sh");
    if !script.exists() {
        println!("skipped: {} does not exist", script.display());
        return;
    }
    if std::env::var("TRIBUTARY_ORACLES").as_deref() != Ok("1") {
        println!(
            "skipped: set TRIBUTARY_ORACLES=1 to run {}",
            script.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("site");
    copy_example_site(&root);
    let d = Daemon::start(&root, tmp.path());
    // The example's local upstreams are fetched right after the start, and
    // the stream rebuilt: subscribe once that has settled, or the reader's
    // second reload sees the fetched items as new.
    wait_for(CHANGE_TIMEOUT, "the first fetch", || {
        let h: serde_json::Value = serde_json::from_slice(&d.get("/healthz").body).ok()?;
        h["last_fetch"].as_str().map(|_| ())
    });
    let mut last = String::new();
    wait_for(
        CHANGE_TIMEOUT,
        "the stream to settle after the fetch",
        || {
            std::thread::sleep(Duration::from_millis(700));
            let etag = d
                .get("/stream.atom")
                .header("etag")
                .unwrap_or("")
                .to_string();
            let settled = etag == last;
            last = etag;
            settled.then_some(())
        },
    );
    let urls: Vec<String> = crate::support::site::list_files(&root.join("public"))
        .into_iter()
        .filter(|f| f.ends_with(".atom") || f.ends_with(".rss"))
        .map(|f| d.url(&format!("/{f}")))
        .collect();
    assert!(urls.len() >= 6, "{urls:?}");
    for u in &urls {
        assert_eq!(http(d.addr, "HEAD", &u[d.url("").len()..], &[]).status, 200);
    }
    let out = Command::new("bash")
        .arg(&script)
        .args(&urls)
        .output()
        .expect("run newsboat-check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "newsboat-check.sh failed:\n{stdout}");
}

// 2b. A change that leaves `updated` alone (the feed's title) still moves
// Last-Modified, so that If-Modified-Since never hides it.
#[test]
fn last_modified_moves_when_bytes_change_without_a_new_entry() {
    let site = site_with("");
    let d = Daemon::serve(&site);
    let first = d.get("/main.atom");
    let lm = first
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    site.feed("main", "title: Main, renamed\n");
    wait_for(CHANGE_TIMEOUT, "the new title served", || {
        serves(&d, "/main.atom", "Main, renamed").then_some(())
    });
    let r = d.request("GET", "/main.atom", &[("If-Modified-Since", lm.as_str())]);
    assert_eq!(r.status, 200, "a changed feed answered 304 to its old date");
    let newer = r.header("last-modified").expect("Last-Modified");
    assert_ne!(newer, lm);
    // Its new date revalidates.
    let again = d.request("GET", "/main.atom", &[("If-Modified-Since", newer)]);
    assert_eq!(again.status, 304);
}

/// One GET on its own connection that must be answered whole within
/// `limit` (connect included); the error says what did not happen in time.
fn get_within(addr: SocketAddr, target: &str, limit: Duration) -> Result<Resp, String> {
    let started = Instant::now();
    let left = || {
        limit
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("GET {target}: no answer within {limit:?}"))
    };
    let mut s = TcpStream::connect_timeout(&addr, left()?)
        .map_err(|e| format!("GET {target}: connect: {e}"))?;
    s.set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("GET {target}: send: {e}"))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Err(format!(
                    "GET {target}: read after {:?}: {e}",
                    started.elapsed()
                ))
            }
        }
    }
    parse_response(&raw).ok_or_else(|| {
        format!(
            "GET {target}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Whether the daemon has closed `s` (a non-blocking socket): end of
/// stream or a reset. Whatever it sent first (a 408) is read and dropped.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

// 12. Hostile clients (issue 18): 400 connections that never finish their
// headers, against a daemon allowed 256 descriptors, lock nobody out.
#[test]
fn slow_clients_are_shed_and_readers_still_served_with_256_descriptors() {
    const SLOW: usize = 400;
    const READERS: usize = 3;
    crate::support::site::raise_nofile(SLOW as u64 + 256);
    let site = site_with("serve: { header_timeout: 2s }\n");
    // Soft and hard alike: the daemon raises its soft limit to the hard one,
    // and this test is about running with 256.
    let d = Daemon::start_with(site.root(), site.cwd(), |cmd| {
        crate::support::site::limit_nofile(cmd, 256, 256)
    });
    assert!(
        serves(&d, "/main.atom", "<title>Hello</title>"),
        "{}",
        d.log()
    );

    // Each sends part of a request line and then nothing, holding its socket.
    let opened = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|i| {
            let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("slow connection {i} not accepted: {e}\n{}", d.log()));
            // A write refused because the daemon already closed this one
            // is that closing, which the end of the test counts.
            let _ = s.write_all(b"GET /main.atom HTT");
            s.set_nonblocking(true).expect("non-blocking");
            s
        })
        .collect();

    // New readers are answered, all of them, promptly.
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let addr = d.addr;
            std::thread::spawn(move || get_within(addr, "/main.atom", Duration::from_secs(3)))
        })
        .collect();
    let answered: Vec<Result<Resp, String>> = readers
        .into_iter()
        .map(|h| h.join().expect("reader thread"))
        .collect();
    let ok = answered
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == 200))
        .count();
    assert_eq!(
        ok,
        READERS,
        "readers answered within 3 s: {:?}\n{}",
        answered
            .iter()
            .map(|r| r.as_ref().map(|r| r.status))
            .collect::<Vec<_>>(),
        d.log()
    );

    // An edit made meanwhile is built (descriptors are left for it) and served.
    site.post(
        "2026-01-02-hello.md",
        post(
            "Hello under siege",
            "2026-01-02 10:00:00 +0000",
            "First body.\n",
        ),
    );
    let edited = Instant::now();
    let mut last = String::new();
    let seen = loop {
        match get_within(d.addr, "/main.atom", Duration::from_secs(1)) {
            Ok(r) if r.text().contains("<title>Hello under siege</title>") => break true,
            Ok(r) => last = format!("status {}", r.status),
            Err(e) => last = e,
        }
        if edited.elapsed() > Duration::from_secs(5) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        seen,
        "the edit was not served within 5 s (last: {last})\n{}",
        d.log()
    );

    // The slow connections are closed: by the header timeout at the latest.
    let mut closed = vec![false; SLOW];
    loop {
        for (s, c) in slow.iter_mut().zip(closed.iter_mut()) {
            if !*c {
                *c = closed_by_peer(s);
            }
        }
        let n = closed.iter().filter(|c| **c).count();
        if n * 10 >= SLOW * 9 {
            break;
        }
        assert!(
            opened.elapsed() < Duration::from_secs(30),
            "only {n} of {SLOW} slow connections closed after 30 s\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let closed_after = opened.elapsed();
    let metrics = get_within(d.addr, "/metrics", Duration::from_secs(3))
        .expect("/metrics")
        .text();
    let figure = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
    };
    let cap = figure("tributary_http_connections_max ");
    assert!(cap < 256, "the cap {cap} leaves descriptors for builds");
    let shed = figure("tributary_http_connections_shed_total{reason=\"header_timeout\"}")
        + figure("tributary_http_connections_shed_total{reason=\"evicted\"}");
    assert!(shed as usize * 10 >= SLOW * 9, "{metrics}");
    eprintln!("slow connections closed within {closed_after:?}; cap {cap}; shed {shed}");
}

// 13. The soft limit on open files is raised to the hard one at start.
#[test]
fn soft_descriptor_limit_is_raised_to_the_hard_one() {
    let site = site_with("");
    let d = Daemon::start_with(site.root(), site.cwd(), |cmd| {
        crate::support::site::limit_nofile(cmd, 256, 1024)
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let figures: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(figures, ["1024", "1024"], "{line}");
    assert!(d.log().contains("1024 open files"), "{}", d.log());
}

/// One request on an open kept-alive connection: the status, or `None` if
/// the daemon closed the connection.
fn keep_alive_get(s: &mut TcpStream, addr: SocketAddr, target: &str) -> Option<u16> {
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("Content-Length");
            if raw.len() >= end + 4 + length {
                return head.split(' ').nth(1)?.parse().ok();
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

// 14. Kept-alive connections are reused while active and closed once idle
// for `idle_timeout`; a request begun on one gets `header_timeout` from its
// first byte.
#[test]
fn kept_alive_connections_are_closed_when_idle() {
    let site = site_with("serve: { idle_timeout: 3s, header_timeout: 1s }\n");
    let d = Daemon::serve(&site);
    let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Longer than the header timeout between requests: idle is not slow.
    for _ in 0..3 {
        assert_eq!(keep_alive_get(&mut s, d.addr, "/main.atom"), Some(200));
        std::thread::sleep(Duration::from_millis(1500));
    }
    let idle = Instant::now();
    let mut buf = [0u8; 64];
    let r = s.read(&mut buf);
    assert!(matches!(r, Ok(0)), "closed when idle: {r:?}");
    let took = idle.elapsed();
    // Idle for 1.5 s already: 1.5 s more, give or take a check.
    assert!(took < Duration::from_secs(4), "closed after {took:?} more");

    // Half a request on a kept-alive connection: closed by the header timeout.
    let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(keep_alive_get(&mut s, d.addr, "/main.atom"), Some(200));
    s.write_all(b"GET /main.atom HTTP/1.1\r\nHo").unwrap();
    let begun = Instant::now();
    let r = s.read(&mut buf);
    assert!(matches!(r, Ok(0) | Err(_)), "closed: {r:?}");
    let took = begun.elapsed();
    // The idle timeout would take 3 s.
    assert!(
        took < Duration::from_millis(2500),
        "closed {took:?} after the request began, not at the header timeout"
    );
    let metrics = d.get("/metrics").text();
    assert!(
        metrics.contains("tributary_http_connections_shed_total{reason=\"idle_timeout\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tributary_http_connections_shed_total{reason=\"header_timeout\"} 1"),
        "{metrics}"
    );
}

// 15. A build that fails for a passing reason (here the store, locked by
// another process past its busy timeout) is tried again until it succeeds;
// the edit that asked for it is not left waiting for the next edit.
#[test]
fn a_build_the_store_refused_is_retried_until_it_succeeds() {
    let site = site_with(&fetch_config(5));
    // An upstream makes every build read the store; nothing listens on
    // port 9 of the loopback, so its fetches fail at once.
    site.feed(
        "stream",
        &stream_feed(&[("http://127.0.0.1:9/feed.atom", "Nowhere", Some("@yearly"))]),
    );
    let d = Daemon::serve(&site);
    assert!(
        serves(&d, "/main.atom", "<title>Hello</title>"),
        "{}",
        d.log()
    );

    // Another process takes the store for itself: readers get SQLITE_BUSY.
    let db = rusqlite::Connection::open(site.root().join(".tributary/store.db")).expect("open");
    db.execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
        .expect("lock the store");
    site.post(
        "2026-01-02-hello.md",
        post("Hello again", "2026-01-02 10:00:00 +0000", "First body.\n"),
    );
    wait_for(
        Duration::from_secs(20),
        "the build to fail on the locked store",
        || d.log().contains("the build failed").then_some(()),
    );
    assert!(serves(&d, "/main.atom", "<title>Hello</title>"));
    drop(db);
    wait_for(CHANGE_TIMEOUT, "the retried build served", || {
        serves(&d, "/main.atom", "<title>Hello again</title>").then_some(())
    });
    assert!(
        d.log()
            .contains("the store is locked: the build is tried again"),
        "{}",
        d.log()
    );
}
