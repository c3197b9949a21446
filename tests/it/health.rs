//! Source health that people see: `sources list` and `sources show`, the
//! digest's notes on sources it could not read, truncated documents, and the
//! daemon's log of a source that starts failing and recovers.

use crate::support::daemon::{wait_for, Daemon};
use crate::support::feeds::atom;
use crate::support::site::{stream_site, summary, Site, LOOPBACK_FETCH};
use crate::support::upstream_server::{Response, TestServer};
use std::time::Duration;

fn alpha() -> String {
    atom(
        "Alpha releases",
        &[
            (
                "tag:alpha,2026:v1.2.0",
                "v1.2.0",
                "https://alpha.example/releases/tag/v1.2.0",
                "2026-11-10T10:00:00Z",
            ),
            (
                "tag:alpha,2026:v1.2.1",
                "v1.2.1",
                "https://alpha.example/releases/tag/v1.2.1",
                "2026-11-11T10:00:00Z",
            ),
        ],
    )
}

fn beta() -> String {
    atom(
        "Beta releases",
        &[(
            "tag:beta,2026:v0.9.0",
            "v0.9.0",
            "https://beta.example/releases/tag/v0.9.0",
            "2026-11-12T10:00:00Z",
        )],
    )
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn digest_names_sources_that_failed_or_were_never_fetched() {
    let server = TestServer::start();
    server.route("/alpha.atom", Response::ok(alpha()));
    server.route("/beta.atom", Response::ok(beta()));
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[
            (&server.url("/alpha.atom"), "Alpha releases"),
            (&server.url("/beta.atom"), "Beta releases"),
            (&server.url("/gone.atom"), "Gamma releases"),
            (&server.url("/later.atom"), "Delta releases"),
        ],
    );
    for source in ["Alpha releases", "Beta releases"] {
        site.run(&["fetch", "--source", source]).expect_success();
    }
    // Beta worked once, then fails; Gamma has only ever failed; Delta was
    // never fetched at all.
    server.route("/beta.atom", Response::status(500));
    site.run(&["fetch", "--source", "Beta releases"]);
    site.run(&["fetch", "--source", "Gamma releases"]);

    let r = site.run(&["digest", "--from", "2026-11-08", "--to", "2026-11-14"]);
    r.expect_success();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        r.stdout,
        format!(
            "\
* [Alpha to 1.2.1](https://alpha.example/releases/tag/v1.2.1)
* [Alpha to 1.2.0](https://alpha.example/releases/tag/v1.2.0)
<!-- Beta releases: not fetched since {today} (HTTP 500) -->
* [Beta to 0.9.0](https://beta.example/releases/tag/v0.9.0)
<!-- Gamma releases: never fetched (HTTP 404) -->
<!-- Delta releases: never fetched -->
"
        )
    );
    r.stderr_has(&format!(
        "feeds/stream.yaml: warning: Beta releases: not fetched since {today} (HTTP 500)"
    ));
    r.stderr_has("feeds/stream.yaml: warning: Gamma releases: never fetched (HTTP 404)");
    r.stderr_has("feeds/stream.yaml: warning: Delta releases: never fetched");
    r.stderr_has("3 sources not fetched");
}

#[test]
fn a_truncated_document_is_a_failed_fetch() {
    let server = TestServer::start();
    let full = alpha();
    server.route("/alpha.atom", Response::ok(full.clone()));
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[(&server.url("/alpha.atom"), "Alpha releases")],
    );
    site.run(&["fetch"]).expect_success();

    // Cut off halfway, answered with 200 and validators.
    let cut = &full[..full.find("</entry>").expect("an entry") + "</entry>".len() + 20];
    server.route(
        "/alpha.atom",
        Response::ok(cut.to_string())
            .header("ETag", "\"cut\"")
            .header("Last-Modified", "Sun, 06 Dec 2026 10:00:00 GMT"),
    );
    let r = site.run(&["fetch", "--all"]);
    r.expect_code(1);
    assert_eq!(
        summary(&r),
        "fetched 0, not modified 0, failed 1, new items 0"
    );
    let list = site.run(&["sources", "list"]);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("Alpha releases "))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(row.contains("failing (1x): truncated"), "{row}");
    // The stored items are kept.
    assert!(row.contains(" 2 "), "{row}");
    site.run(&["sources", "show", "Alpha releases"])
        .expect_success();

    // The cut document's validators were not stored: the next fetch asks
    // for the whole document.
    server.route("/alpha.atom", Response::ok(full));
    site.run(&["fetch", "--all"]).expect_success();
    let reqs = server.requests_to("/alpha.atom");
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].header("If-None-Match"), None);
    assert_eq!(reqs[2].header("If-Modified-Since"), None);
}

#[test]
fn sources_list_fits_120_columns_and_show_has_the_details() {
    let server = TestServer::start();
    server.route(
        "/releases/alpha/feed.atom",
        Response::ok(alpha()).header("ETag", "\"a1\""),
    );
    let dead = format!(
        "http://127.0.0.1:{}/some/rather/long/path/to/the/project/releases.atom",
        closed_port()
    );
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[
            (&server.url("/releases/alpha/feed.atom"), "Alpha releases"),
            (&dead, "Beta releases"),
            (&server.url("/missing.atom"), "Gamma"),
        ],
    );
    site.run(&["fetch"]);
    let r = site.run(&["sources", "list"]);
    r.expect_success();
    for line in r.stdout.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns: {line}\n{}",
            line.chars().count(),
            r.stdout
        );
    }
    let beta = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Beta releases "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(beta.contains("failing (1x): cannot connect"), "{beta}");
    let gamma = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Gamma "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(gamma.contains("failing (1x): HTTP 404"), "{gamma}");

    // `sources show` has the whole story.
    let r = site.run(&["sources", "show", "Beta releases"]);
    r.expect_success();
    for needle in [
        "name:           Beta releases",
        &format!("url:            {dead}"),
        "status:         failing (1x): cannot connect",
        "error:          ",
        "last success:   never",
        "next due:       ",
        "feeds:          stream",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} in:\n{}", r.stdout);
    }
    assert!(r.stdout.contains(&dead), "{}", r.stdout);
    let r = site.run(&["sources", "show", "Alpha releases"]);
    r.expect_success();
    for needle in [
        "status:         ok",
        "etag:           \"a1\"",
        "items:          2",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} in:\n{}", r.stdout);
    }
    site.run(&["sources", "show", "Nope"])
        .expect_code(1)
        .stderr_has("no source named \"Nope\"");
}

#[test]
fn serve_logs_one_warning_when_a_source_fails_and_one_line_when_it_recovers() {
    let server = TestServer::start();
    server.route("/flaky.atom", Response::status(503));
    let site = Site::new(&format!(
        "{}fetch: {{ allow_private_addresses: true, timeout: 5 }}\n",
        crate::support::site::BASIC_CONFIG
    ));
    site.feed("main", "title: Main\n");
    site.feed(
        "stream",
        &format!(
            "title: Stream\nupstreams:\n  - url: \"{}\"\n    name: Flaky\n    schedule: \"* * * * * *\"\n",
            server.url("/flaky.atom")
        ),
    );
    let d = Daemon::serve(&site);
    let warn = |log: &str| {
        log.lines()
            .filter(|l| l.contains(" WARN ") && l.contains("Flaky"))
            .count()
    };
    wait_for(Duration::from_secs(10), "the warning", || {
        (warn(&d.log()) >= 1).then_some(())
    });
    // Backoff holds it for minutes: make it due again, twice, still failing.
    let due_now = || {
        let loc = tributary::store::Location::parse(".tributary/store.db", site.root());
        let mut store = tributary::store::open(&loc).expect("open the store");
        let mut st = store
            .sources()
            .expect("sources")
            .into_iter()
            .find(|s| s.name == "Flaky")
            .expect("Flaky in the store");
        st.next_due = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        store.save_source(&st).expect("save");
    };
    let requests = || server.requests_to("/flaky.atom").len();
    due_now();
    wait_for(Duration::from_secs(10), "a second failed fetch", || {
        (requests() >= 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = d.log();
    assert_eq!(warn(&log), 1, "{log}");
    let line = log
        .lines()
        .find(|l| l.contains(" WARN ") && l.contains("Flaky"))
        .unwrap_or_default();
    assert!(line.contains("HTTP 503"), "{line}");
    assert!(line.len() < 200, "{line}");

    server.route("/flaky.atom", Response::ok(beta()));
    due_now();
    wait_for(Duration::from_secs(10), "the recovery", || {
        d.log()
            .lines()
            .any(|l| l.contains(" INFO ") && l.contains("Flaky") && l.contains("recovered"))
            .then_some(())
    });
    // Healthy fetches after that say nothing more.
    std::thread::sleep(Duration::from_millis(2500));
    let log = d.log();
    let flaky: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Flaky") && (l.contains(" INFO ") || l.contains(" WARN ")))
        .collect();
    assert_eq!(flaky.len(), 2, "{log}");
    assert!(requests() >= 4, "{} requests", requests());
}
