//! WebSub, subscriber side: `serve` subscribes to the hub an upstream
//! advertises and takes its pushes. Two real daemons on 127.0.0.1: site A
//! is its own hub (`hub: self`), site B's upstream is A's feed, polled
//! only `@daily`. The address guard is opened for 127.0.0.1 only.

use crate::support::daemon::{free_port, http, wait_for, Daemon};
use crate::support::site::{count, post_text, Site};
use crate::support::websub::{hmac_hex, post_bytes};
use std::time::{Duration, Instant};
use tributary::store::push::{PushState, PushSubscription};
use tributary::store::{open, Location};

/// How long a subscription, a push or a rebuild gets.
const WAIT: Duration = Duration::from_secs(20);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_secs(3);

/// Site A on `port`: its own hub, with leases of `lease` seconds.
fn publisher(port: u16, lease: u32) -> Site {
    let site = Site::new(&format!(
        "title: A\nbase_url: http://127.0.0.1:{port}/\nhub: self\n\
         fetch: {{ allow: [127.0.0.1], timeout: 2 }}\n\
         websub: {{ lease_min: 1s, lease_default: {lease}s, retries: 1, retry_after: 1s, timeout: 2s }}\n"
    ));
    site.feed("main", "title: A main\n");
    site.post(
        "2026-01-02-hello.md",
        post_text(
            "title: Hello from A\ndate: 2026-01-02 10:00:00 +0000\n",
            "First.\n",
        ),
    );
    site
}

/// Site B on `port`: a combined feed of its one post and A's feed, which
/// it polls daily and subscribes to.
fn subscriber(port: u16, a_port: u16) -> Site {
    let site = Site::new(&format!(
        "title: B\nbase_url: http://127.0.0.1:{port}/\nstore: store.db\n\
         fetch: {{ allow: [127.0.0.1], timeout: 2 }}\n\
         websub: {{ subscribe: true, retry_after: 1s, timeout: 2s }}\n"
    ));
    site.feed("stream", &stream_feed(a_port));
    site.post(
        "2026-01-01-b.md",
        post_text("title: B's own\ndate: 2026-01-01 10:00:00 +0000\n", "B.\n"),
    );
    site
}

fn stream_feed(a_port: u16) -> String {
    format!(
        "title: B stream\nposts: all\nupstreams:\n  - url: http://127.0.0.1:{a_port}/main.atom\n    \
         name: A\n    schedule: \"@daily\"\n"
    )
}

/// The pair, B subscribed to A (verified by A), A's lease `lease` seconds.
struct Pair {
    a: Site,
    b: Site,
    da: Daemon,
    db: Daemon,
    b_port: u16,
}

fn pair(lease: u32) -> Pair {
    let (pa, pb) = (free_port(), free_port());
    let a = publisher(pa, lease);
    let b = subscriber(pb, pa);
    let da = Daemon::serve_on(&a, pa);
    let db = Daemon::serve_on(&b, pb);
    wait_for(WAIT, "A's hub to verify B's subscription", || {
        (count(&da.log(), "websub: subscribe verified") >= 1).then_some(())
    });
    wait_for(WAIT, "B's subscription to be live", || {
        (subscription(&b).state == PushState::Active).then_some(())
    });
    Pair {
        a,
        b,
        da,
        db,
        b_port: pb,
    }
}

/// B's subscription to A's hub, as B's store holds it.
fn subscription(b: &Site) -> PushSubscription {
    let store = open(&Location::Sqlite(b.root().join("store.db"))).expect("B's store");
    let mut all = store.push_subscriptions().expect("read");
    assert!(all.len() <= 1, "{all:?}");
    all.pop()
        .unwrap_or_else(|| PushSubscription::discovered("none", "none", "none"))
}

/// How many documents A served (the request counter of its `/metrics`).
fn served(d: &Daemon) -> u64 {
    metric(d, "tributary_http_requests_total ")
}

fn metric(d: &Daemon, prefix: &str) -> u64 {
    let text = d.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in /metrics:\n{text}"))
}

fn add_post(a: &Site, n: u32) {
    a.post(
        &format!("2026-01-1{n}-news.md"),
        post_text(
            &format!("title: News {n} from A\ndate: 2026-01-1{n} 10:00:00 +0000\n"),
            "Pushed.\n",
        ),
    );
}

#[test]
fn a_post_on_a_reaches_bs_combined_feed_by_push_within_3_seconds() {
    let p = pair(600);
    assert!(
        p.db.get("/stream.atom").text().contains("Hello from A"),
        "B's first fetch"
    );
    let sub = subscription(&p.b);
    assert_eq!(sub.hub, format!("{}/websub", p.da.url("")));
    assert_eq!(sub.topic, p.da.url("/main.atom"));
    let fetches = served(&p.da);
    let list = p.b.run(&["sources", "list"]);
    assert!(list.stdout.contains("pushed"), "{}", list.stdout);
    wait_for(WAIT, "B's index page to say A is pushed", || {
        p.db.get("/").text().contains("ok · pushed").then_some(())
    });

    let started = Instant::now();
    add_post(&p.a, 1);
    wait_for(WAIT, "the pushed post in B's feed", || {
        p.db.get("/stream.atom")
            .text()
            .contains("News 1 from A")
            .then_some(())
    });
    let took = started.elapsed();
    eprintln!("A to B by push: {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(
        served(&p.da),
        fetches,
        "B did not fetch A's feed: it was pushed"
    );
    assert_eq!(
        metric(
            &p.db,
            "tributary_websub_pushes_received_total{result=\"stored\"} "
        ),
        1
    );
    assert!(p.db.get("/stream.json").text().contains("News 1 from A"));
    let show = p.b.run(&["sources", "show", "A"]);
    assert!(show.stdout.contains("pushes:         1"), "{}", show.stdout);
}

#[test]
fn pushes_without_the_subscriptions_signature_are_refused() {
    let p = pair(600);
    let sub = subscription(&p.b);
    let path = format!(
        "/websub/callback/{}",
        sub.token.as_deref().expect("a token")
    );
    let forged = b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>A</title><id>x</id>\
        <updated>2026-02-01T00:00:00Z</updated><entry><title>Forged</title><id>f</id>\
        <link href=\"http://127.0.0.1/forged\"/><updated>2026-02-01T00:00:00Z</updated></entry></feed>";
    let post = |sig: Option<&str>| {
        let mut headers = vec![("Content-Type", "application/atom+xml")];
        if let Some(s) = sig {
            headers.push(("X-Hub-Signature", s));
        }
        post_bytes(p.db.addr, &path, &headers, forged)
    };
    let none = post(None);
    assert_eq!(none.status, 403, "{}", none.text());
    assert!(none.text().contains("no X-Hub-Signature"));
    let other_key = hmac_hex("not the secret", forged);
    assert_eq!(post(Some(&format!("sha256={other_key}"))).status, 403);
    assert_eq!(post(Some("sha512=00ff")).status, 403);
    // A push to a callback nobody has: the hub is told to stop.
    let gone = post_bytes(p.db.addr, "/websub/callback/0000", &[], forged);
    assert_eq!(gone.status, 410);
    std::thread::sleep(QUIET);
    assert!(!p.db.get("/stream.atom").text().contains("Forged"));
    assert_eq!(
        metric(
            &p.db,
            "tributary_websub_pushes_received_total{result=\"refused\"} "
        ),
        3
    );
    // The same body signed with the subscription's secret is taken: the
    // refusals were the signature's.
    let secret = sub.secret.as_deref().expect("a secret");
    assert_eq!(
        post(Some(&format!("sha256={}", hmac_hex(secret, forged)))).status,
        200
    );
    wait_for(WAIT, "the signed push in B's feed", || {
        p.db.get("/stream.atom")
            .text()
            .contains("Forged")
            .then_some(())
    });
}

#[test]
fn verifications_b_never_asked_for_fail() {
    let p = pair(600);
    let sub = subscription(&p.b);
    let token = sub.token.clone().expect("a token");
    let verify = |token: &str, mode: &str, topic: &str| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", mode)
            .append_pair("hub.topic", topic)
            .append_pair("hub.challenge", "c4allenge")
            .append_pair("hub.lease_seconds", "60")
            .finish();
        http(
            p.db.addr,
            "GET",
            &format!("/websub/callback/{token}?{q}"),
            &[],
        )
    };
    let unknown = verify("feedc0de", "subscribe", &sub.topic);
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(
        verify(&token, "subscribe", "http://127.0.0.1:1/other.atom").status,
        404
    );
    assert_eq!(
        verify(&token, "unsubscribe", &sub.topic).status,
        404,
        "B asked for no unsubscription"
    );
    assert_eq!(
        subscription(&p.b).state,
        PushState::Active,
        "nothing changed"
    );
    // What B did ask for is echoed exactly.
    let ok = verify(&token, "subscribe", &sub.topic);
    assert_eq!((ok.status, ok.text()), (200, "c4allenge".to_string()));
}

#[test]
fn leases_are_renewed_and_a_restart_keeps_the_subscription() {
    // A grants 5 s: B renews when a fifth is left.
    let mut p = pair(5);
    wait_for(WAIT, "a renewal verified by A", || {
        (count(&p.da.log(), "websub: subscribe verified") >= 3).then_some(())
    });
    let before = subscription(&p.b);
    let (status, _) = p.db.terminate(Duration::from_secs(13));
    assert!(status.is_some_and(|s| s.success()));
    p.db = Daemon::serve_on(&p.b, p.b_port);
    let after = subscription(&p.b);
    assert_eq!(
        after.token, before.token,
        "the same callback after a restart"
    );
    assert_eq!(after.secret, before.secret);
    add_post(&p.a, 2);
    wait_for(WAIT, "a push after the restart", || {
        p.db.get("/stream.atom")
            .text()
            .contains("News 2 from A")
            .then_some(())
    });
}

#[test]
fn removing_the_source_unsubscribes() {
    let p = pair(600);
    assert!(p.db.get("/stream.atom").text().contains("Hello from A"));
    // The feed file keeps B's posts and drops A.
    p.b.feed("stream", "title: B stream\nposts: all\n");
    wait_for(WAIT, "A's hub to verify the unsubscription", || {
        (count(&p.da.log(), "websub: unsubscribe verified") >= 1).then_some(())
    });
    wait_for(WAIT, "B to forget the subscription", || {
        (subscription(&p.b).source == "none").then_some(())
    });
    add_post(&p.a, 3);
    std::thread::sleep(QUIET);
    assert_eq!(
        count(&p.da.log(), "websub: pushed"),
        0,
        "nothing pushed after the unsubscription"
    );
}

/// An Atom document of one entry per title, for the flask-websub publisher.
fn atom(titles: &[&str]) -> String {
    let entries: String = titles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "<entry><title>{t}</title><id>urn:x:{i}</id><link href=\"http://127.0.0.1/{i}\"/>\
                 <updated>2026-02-0{}T00:00:00Z</updated></entry>",
                i + 1
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Flask</title>\
         <id>urn:x</id><updated>2026-02-01T00:00:00Z</updated>{entries}</feed>"
    )
}

/// Interop with an independent implementation: tributary subscribes
/// through flask-websub's hub (Celery eager) to the feed flask-websub's
/// publisher serves, takes the sha512-signed push after a publish, and
/// shows the pushed item.
#[test]
fn tributary_subscribes_through_flask_websubs_hub() {
    let state = tempfile::tempdir().unwrap();
    let feed = state.path().join("feed.atom");
    std::fs::write(&feed, atom(&["Before the push"])).unwrap();
    let args = [feed.to_str().unwrap(), state.path().to_str().unwrap()];
    let Some(flask) = crate::support::websub::Script::start("flask_hub.py", &args) else {
        return;
    };
    let line = flask.next("LISTENING", String::new);
    let flask_port: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let topic = format!("http://127.0.0.1:{flask_port}/feed.atom");
    let pb = free_port();
    let b = subscriber(pb, 0);
    b.feed(
        "stream",
        &format!("title: B stream\nposts: all\nupstreams:\n  - url: {topic}\n    name: Flask\n    schedule: \"@daily\"\n"),
    );
    let db = Daemon::serve_on(&b, pb);
    wait_for(
        WAIT,
        "flask-websub's hub to verify the subscription",
        || (subscription(&b).state == PushState::Active).then_some(()),
    );
    let sub = subscription(&b);
    assert_eq!(
        sub.hub,
        format!("http://127.0.0.1:{flask_port}/hub"),
        "from the Link header"
    );
    assert_eq!(sub.topic, topic);
    assert!(db.get("/stream.atom").text().contains("Before the push"));

    std::fs::write(&feed, atom(&["Before the push", "Pushed by flask-websub"])).unwrap();
    let form = crate::support::websub::form(&[("hub.mode", "publish"), ("hub.topic", &topic)]);
    let hub_addr = format!("127.0.0.1:{flask_port}").parse().unwrap();
    let r = crate::support::websub::post_form(hub_addr, "/hub", &form);
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for(WAIT, "the pushed item in B's feed", || {
        db.get("/stream.atom")
            .text()
            .contains("Pushed by flask-websub")
            .then_some(())
    });
    assert_eq!(
        metric(
            &db,
            "tributary_websub_pushes_received_total{result=\"stored\"} "
        ),
        1
    );
    assert_eq!(
        metric(
            &db,
            "tributary_websub_pushes_received_total{result=\"refused\"} "
        ),
        0
    );
}
