//! WebSub, hub side (`hub: self`): the real daemon on 127.0.0.1 and a
//! subscriber's callback on 127.0.0.1 (`support/websub.rs`); the address
//! guard is opened for 127.0.0.1 only (`fetch.allow`), so nothing leaves
//! the machine. Plus the store's side of it on both backends.

use crate::support::daemon::{wait_for, wait_showing, Daemon, Resp};
use crate::support::pg;
use crate::support::site::{count, post_text, Site, BASIC_CONFIG};
use crate::support::websub::{form, hmac_hex, post_form, Callback, CallbackRequest, Script};
use chrono::{Duration as Span, Utc};
use std::time::Duration;
use tributary::store::{open, Location};

const TOPIC: &str = "https://example.org/main.atom";
const HUB: &str = "https://example.org/websub";
/// How long a verification, a push or a rebuild gets.
const WAIT: Duration = Duration::from_secs(15);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_secs(3);

/// A site that is its own hub, with short leases and retries allowed.
fn hub_site() -> Site {
    hub_site_with("")
}

/// [`hub_site`] with more of `tributary.yaml` (`store:`).
fn hub_site_with(extra: &str) -> Site {
    let site = Site::new(&format!(
        "{BASIC_CONFIG}hub: self\n{extra}fetch: {{ allow: [127.0.0.1], timeout: 2 }}\n\
         websub: {{ lease_min: 1s, retries: 2, retry_after: 1s, timeout: 2s }}\n"
    ));
    site.feed("main", "title: Main\n");
    site.post(
        "2026-01-02-hello.md",
        post_text(
            "title: Hello\ndate: 2026-01-02 10:00:00 +0000\n",
            "First body.\n",
        ),
    );
    site
}

/// Add (or replace) a post titled `News N`, and wait until it is served.
fn edit(site: &Site, d: &Daemon, n: u32) {
    site.post(
        "2026-01-03-news.md",
        post_text(
            &format!("title: News {n}\ndate: 2026-01-03 10:00:00 +0000\n"),
            "More.\n",
        ),
    );
    wait_for(WAIT, "the edit in the served feed", || {
        d.get("/main.atom")
            .text()
            .contains(&format!("<title>News {n}</title>"))
            .then_some(())
    });
}

fn request(d: &Daemon, mode: &str, callback: &str, extra: &[(&str, &str)]) -> Resp {
    let mut pairs = vec![
        ("hub.mode", mode),
        ("hub.topic", TOPIC),
        ("hub.callback", callback),
    ];
    pairs.extend_from_slice(extra);
    post_form(d.addr, "/websub", &form(&pairs))
}

/// Wait until the daemon's log holds `needle` `n` times.
fn wait_log(d: &Daemon, needle: &str, n: usize) {
    wait_for(WAIT, needle, || {
        (count(&d.log(), needle) >= n).then_some(())
    });
}

/// Subscribe `cb`'s `/cb` and wait until the subscription is stored.
fn subscribe(d: &Daemon, cb: &Callback, extra: &[(&str, &str)]) -> CallbackRequest {
    let before = count(&d.log(), "websub: subscribe verified");
    let r = request(d, "subscribe", &cb.url("/cb"), extra);
    assert_eq!(r.status, 202, "{}", r.text());
    wait_log(d, "websub: subscribe verified", before + 1);
    cb.verifications().pop().expect("a verification")
}

fn pushes_with(cb: &Callback, needle: &str) -> Vec<CallbackRequest> {
    cb.pushes()
        .into_iter()
        .filter(|p| String::from_utf8_lossy(&p.body).contains(needle))
        .collect()
}

#[test]
fn a_verified_subscriber_gets_a_signed_push_of_every_change() {
    let site = hub_site();
    let d = Daemon::serve(&site);
    // The feed and its response advertise the hub and the topic.
    let feed = d.get("/main.atom");
    let link = feed.must("Link");
    assert!(link.contains(&format!("<{HUB}>; rel=\"hub\"")), "{link}");
    assert!(link.contains(&format!("<{TOPIC}>; rel=\"self\"")), "{link}");
    assert!(feed.text().contains(HUB), "the feed links the hub");

    let cb = Callback::start();
    let v = subscribe(
        &d,
        &cb,
        &[("hub.secret", "s3cret"), ("hub.lease_seconds", "600")],
    );
    assert_eq!(v.query("hub.mode").as_deref(), Some("subscribe"));
    assert_eq!(v.query("hub.topic").as_deref(), Some(TOPIC));
    assert_eq!(v.query("hub.lease_seconds").as_deref(), Some("600"));
    assert!(v.query("hub.challenge").is_some_and(|c| c.len() >= 32));
    assert!(v.target.starts_with("/cb?"), "{}", v.target);
    assert!(cb.pushes().is_empty(), "nothing is pushed before a change");

    for n in 1..=2 {
        edit(&site, &d, n);
        let push = wait_for(WAIT, "the push", || {
            pushes_with(&cb, &format!("<title>News {n}</title>")).pop()
        });
        assert_eq!(push.target, "/cb");
        assert_eq!(
            push.header("Content-Type"),
            Some("application/atom+xml; charset=utf-8")
        );
        let links = push.all("Link");
        assert!(
            links.contains(&format!("<{HUB}>; rel=\"hub\"").as_str()),
            "{links:?}"
        );
        assert!(
            links.contains(&format!("<{TOPIC}>; rel=\"self\"").as_str()),
            "{links:?}"
        );
        assert_eq!(
            push.body,
            d.get("/main.atom").body,
            "the whole document, as served"
        );
        let expected = format!("sha256={}", hmac_hex("s3cret", &push.body));
        assert_eq!(push.header("X-Hub-Signature"), Some(expected.as_str()));
    }
    // The RSS and JSON documents changed too, but nobody subscribed to them.
    assert!(cb.pushes().iter().all(|p| p.target == "/cb"));
    assert_eq!(cb.pushes().len(), 2, "one push per change");
    let metrics = d.get("/metrics").text();
    assert!(
        metrics.contains("tributary_websub_pushes_sent_total{result=\"delivered\"} 2"),
        "{metrics}"
    );
}

#[test]
fn bad_requests_are_refused_and_no_echo_means_no_subscription() {
    let site = hub_site();
    let d = Daemon::serve(&site);
    let cb = Callback::start();
    let url = cb.url("/cb");
    for (extra, topic, callback, why) in [
        (
            vec![],
            "https://elsewhere.example/feed.atom",
            url.as_str(),
            "not a feed this hub serves",
        ),
        (vec![], TOPIC, "http://10.0.0.1/cb", "private network"),
        (vec![], TOPIC, "http://169.254.169.254/latest", "metadata"),
        (vec![], TOPIC, "ftp://127.0.0.1/cb", "absolute http(s) URL"),
        (
            vec![("hub.secret", "x".repeat(200))],
            TOPIC,
            url.as_str(),
            "hub.secret",
        ),
    ] {
        let mut pairs = vec![
            ("hub.mode", "subscribe".to_string()),
            ("hub.topic", topic.to_string()),
            ("hub.callback", callback.to_string()),
        ];
        pairs.extend(extra);
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post_form(d.addr, "/websub", &form(&pairs));
        assert_eq!(r.status, 400, "{topic} {callback}: {}", r.text());
        assert!(r.text().contains(why), "{}", r.text());
    }
    assert_eq!(d.get("/websub").status, 405);
    assert!(
        cb.requests().is_empty(),
        "no refused request reached the callback"
    );

    cb.set_echo(false);
    let r = request(&d, "subscribe", &url, &[]);
    assert_eq!(r.status, 202);
    wait_log(&d, "websub: subscribe not verified", 1);
    edit(&site, &d, 1);
    std::thread::sleep(QUIET);
    assert!(
        cb.pushes().is_empty(),
        "an unverified callback gets nothing"
    );
}

#[test]
fn unsubscribing_stops_pushes() {
    let site = hub_site();
    let d = Daemon::serve(&site);
    let cb = Callback::start();
    subscribe(&d, &cb, &[]);
    edit(&site, &d, 1);
    wait_for(WAIT, "the first push", || pushes_with(&cb, "News 1").pop());
    let r = request(&d, "unsubscribe", &cb.url("/cb"), &[]);
    assert_eq!(r.status, 202);
    wait_log(&d, "websub: unsubscribe verified", 1);
    let v = cb.verifications().pop().unwrap();
    assert_eq!(v.query("hub.mode").as_deref(), Some("unsubscribe"));
    edit(&site, &d, 2);
    std::thread::sleep(QUIET);
    assert_eq!(cb.pushes().len(), 1, "no push after unsubscribing");
}

#[test]
fn a_lease_expires() {
    let site = hub_site();
    let d = Daemon::serve(&site);
    let cb = Callback::start();
    let v = subscribe(&d, &cb, &[("hub.lease_seconds", "2")]);
    assert_eq!(v.query("hub.lease_seconds").as_deref(), Some("2"));
    wait_log(&d, "subscriptions expired", 1);
    edit(&site, &d, 1);
    std::thread::sleep(QUIET);
    assert!(cb.pushes().is_empty(), "no push after the lease");
}

#[test]
fn a_failing_callback_is_retried_with_backoff_then_dropped() {
    let site = hub_site();
    let d = Daemon::serve(&site);
    let cb = Callback::start();
    cb.set_push_status(500);
    subscribe(&d, &cb, &[]);
    let started = std::time::Instant::now();
    edit(&site, &d, 1);
    // The first push and `retries: 2` more, 1 s then 2 s apart.
    wait_for(WAIT, "three pushes", || {
        (cb.pushes().len() >= 3).then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "retries back off"
    );
    wait_log(&d, "subscription dropped after 3 failed pushes", 1);
    cb.set_push_status(200);
    edit(&site, &d, 2);
    std::thread::sleep(QUIET);
    assert_eq!(
        cb.pushes().len(),
        3,
        "a dropped subscription gets nothing more"
    );
    let metrics = d.get("/metrics").text();
    for counted in ["result=\"failed\"} 3", "result=\"dropped\"} 1"] {
        assert!(metrics.contains(counted), "{counted} in {metrics}");
    }
}

#[test]
fn subscriptions_survive_a_restart() {
    let site = hub_site();
    let mut d = Daemon::serve(&site);
    let cb = Callback::start();
    subscribe(&d, &cb, &[("hub.secret", "kept")]);
    let (status, _) = d.terminate(Duration::from_secs(13));
    assert!(status.is_some_and(|s| s.success()));
    let d = Daemon::serve(&site);
    std::thread::sleep(QUIET);
    assert!(cb.pushes().is_empty(), "a restart pushes nothing unchanged");
    edit(&site, &d, 1);
    let push = wait_for(WAIT, "the push after a restart", || {
        pushes_with(&cb, "News 1").pop()
    });
    let expected = format!("sha256={}", hmac_hex("kept", &push.body));
    assert_eq!(push.header("X-Hub-Signature"), Some(expected.as_str()));
}

/// The store's part on one backend: marking, claiming, delivering,
/// retrying, expiring.
fn hub_store_semantics(location: &Location) {
    let mut s = open(location).unwrap_or_else(|e| panic!("open {location}: {e}"));
    let t0 = Utc::now();
    let (topic, cb) = ("https://example.org/main.atom", "http://127.0.0.1:1/cb");
    s.hub_subscribe(topic, cb, Some("k"), 60, Some(1), t0)
        .unwrap();
    s.hub_subscribe(topic, "http://127.0.0.1:1/other", None, 3, None, t0)
        .unwrap();
    assert_eq!(s.hub_subscriptions().unwrap().len(), 2);
    // Bytes a subscription already has are not marked; newer ones are.
    assert_eq!(s.hub_changed(topic, 1, t0).unwrap(), 1);
    assert_eq!(
        s.hub_changed(topic, 2, t0).unwrap(),
        2,
        "newer bytes: the one that had 1, and the one waiting for 1"
    );
    assert_eq!(s.hub_changed(topic, 2, t0).unwrap(), 0, "already pending");
    let until = t0 + Span::seconds(30);
    let got = s.hub_claim("a", t0, until, 10).unwrap();
    assert_eq!(got.len(), 2);
    assert!(
        s.hub_claim("b", t0, until, 10).unwrap().is_empty(),
        "claimed once"
    );
    let mine = got.iter().find(|g| g.callback == cb).unwrap();
    assert_eq!(mine.secret.as_deref(), Some("k"));
    assert_eq!(mine.pending, Some(2));
    assert_eq!(mine.delivered, Some(1));
    s.hub_delivered(topic, cb, "a", 2, 2).unwrap();
    s.hub_retry(
        topic,
        "http://127.0.0.1:1/other",
        "a",
        1,
        t0 + Span::seconds(2),
        Some("HTTP 500"),
    )
    .unwrap();
    assert!(
        s.hub_claim("b", t0, until, 10).unwrap().is_empty(),
        "not due yet"
    );
    let later = s.hub_claim("b", t0 + Span::seconds(2), until, 10).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].failures, 1);
    assert_eq!(later[0].last_error.as_deref(), Some("HTTP 500"));
    let all = s.hub_subscriptions().unwrap();
    let done = all.iter().find(|x| x.callback == cb).unwrap();
    assert_eq!(
        (done.pending, done.delivered, done.failures),
        (None, Some(2), 0)
    );
    // Renewal keeps the delivery state; leases end.
    s.hub_subscribe(topic, cb, None, 60, Some(9), t0).unwrap();
    let renewed = s.hub_subscriptions().unwrap();
    let r = renewed.iter().find(|x| x.callback == cb).unwrap();
    assert_eq!((r.secret.clone(), r.delivered), (None, Some(2)));
    assert_eq!(
        s.hub_expire(t0 + Span::seconds(4)).unwrap(),
        1,
        "the 3 s lease"
    );
    assert!(s.hub_unsubscribe(topic, cb).unwrap());
    assert!(!s.hub_unsubscribe(topic, cb).unwrap());
    assert!(s.hub_subscriptions().unwrap().is_empty());
}

#[test]
fn hub_subscriptions_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    hub_store_semantics(&Location::Sqlite(dir.path().join("store.db")));
}

#[test]
fn hub_subscriptions_in_postgres() {
    match pg::database() {
        Some(url) => hub_store_semantics(&Location::Postgres(url)),
        None => eprintln!("skipped: no PostgreSQL for the hub store test"),
    }
}

/// Interop with an independent implementation: flask-websub's subscriber
/// (PyPI `flask-websub`) subscribes to the hub with a secret, and accepts a
/// push only when its signature checks.
#[test]
fn flask_websub_subscribes_and_gets_a_signed_push() {
    let site = hub_site();
    let d = Daemon::serve(&site);
    let state = tempfile::tempdir().unwrap();
    let hub = d.url("/websub");
    let dir = state.path().to_str().unwrap();
    let args = [hub.as_str(), TOPIC, dir, "<title>News 1</title>"];
    let Some(script) = Script::start("flask_subscriber.py", &args) else {
        return;
    };
    let log = || format!("hub log:\n{}", d.log());
    script.next("VERIFIED subscribe", log);
    wait_log(&d, "websub: subscribe verified", 1);
    edit(&site, &d, 1);
    script.next("PUSHED", log);
}

/// `store migrate` copies subscriptions with their delivery state.
fn hub_subscriptions_are_copied(to: &Location) {
    let dir = tempfile::tempdir().unwrap();
    let from_at = Location::Sqlite(dir.path().join("from.db"));
    let mut from = open(&from_at).unwrap();
    let t0 = Utc::now();
    from.hub_subscribe(TOPIC, "http://127.0.0.1:1/a", Some("k"), 600, Some(7), t0)
        .unwrap();
    from.hub_subscribe(TOPIC, "http://127.0.0.1:1/b", None, 600, None, t0)
        .unwrap();
    from.hub_changed(TOPIC, 8, t0).unwrap();
    let claimed = from.hub_claim("x", t0, t0 + Span::seconds(9), 1).unwrap();
    from.hub_retry(
        TOPIC,
        &claimed[0].callback,
        "x",
        2,
        t0 + Span::seconds(30),
        Some("HTTP 503"),
    )
    .unwrap();
    let mut dest = open(to).unwrap();
    let report = tributary::store::copy(&*from, &mut *dest).unwrap();
    assert_eq!(report.subscriptions, 2);
    let (a, b) = (
        from.hub_subscriptions().unwrap(),
        dest.hub_subscriptions().unwrap(),
    );
    // Instants are kept to the nanosecond on both backends.
    assert_eq!(a, b);
    assert!(b.iter().any(|s| s.failures == 2 && s.pending == Some(8)));
}

#[test]
fn hub_subscriptions_are_copied_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    hub_subscriptions_are_copied(&Location::Sqlite(dir.path().join("to.db")));
}

#[test]
fn hub_subscriptions_are_copied_to_postgres() {
    match pg::database() {
        Some(url) => hub_subscriptions_are_copied(&Location::Postgres(url)),
        None => eprintln!("skipped: no PostgreSQL for the hub copy test"),
    }
}

/// Two replicas on one PostgreSQL share the hub: a subscription made
/// through one is served by both, and each change reaches the callback
/// once, whichever replica built it.
#[test]
fn replicas_on_postgres_deliver_each_change_once() {
    let Some(url) = pg::database() else {
        eprintln!("skipped: no PostgreSQL for the replica hub test");
        return;
    };
    let site = hub_site_with(&format!("store: \"{url}\"\n"));
    let one = Daemon::serve(&site);
    let two = Daemon::serve(&site);
    let cb = Callback::start();
    subscribe(&one, &cb, &[("hub.secret", "shared")]);
    for n in 1..=3 {
        edit(&site, &one, n);
        wait_showing(WAIT, "the push", &[&one, &two], || {
            pushes_with(&cb, &format!("<title>News {n}</title>")).pop()
        });
        wait_showing(
            WAIT,
            "the other replica to serve the edit",
            &[&one, &two],
            || {
                two.get("/main.atom")
                    .text()
                    .contains(&format!("<title>News {n}</title>"))
                    .then_some(())
            },
        );
    }
    std::thread::sleep(QUIET);
    let titles: Vec<String> = cb
        .pushes()
        .iter()
        .map(|p| {
            let body = String::from_utf8_lossy(&p.body).into_owned();
            let at = body.find("<title>News").map_or(0, |i| i + 7);
            body[at..].split('<').next().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(
        titles,
        ["News 1", "News 2", "News 3"],
        "each change once, in order"
    );
    let sent: usize = [&one, &two]
        .iter()
        .map(|d| count(&d.log(), "websub: pushed"))
        .sum();
    assert_eq!(sent, 3);
}
