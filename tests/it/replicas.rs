//! Three `tributary serve` replicas on one PostgreSQL: the fetch work is
//! shared through leases (each source requested once per schedule period,
//! a killed replica's sources taken over within one lease), and every
//! replica serves the same bytes with the same validators.

use crate::support::daemon::{wait_for, Daemon, Resp};
use crate::support::feeds::{Entry, Feed};
use crate::support::site::Site;
use crate::support::upstream_server::{Response, TestServer};
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SOURCES: usize = 1000;
/// The schedule period (`*/15 * * * * *`).
const PERIOD: i64 = 15;
/// `lease:` in the site's configuration.
const LEASE: i64 = 5;
/// Every 40th source answers slowly, so that a replica is mid-fetch when killed.
const SLOW_EVERY: usize = 40;
const SLOW: Duration = Duration::from_secs(3);

fn rss(n: usize) -> String {
    Feed::new(&format!("Upstream {n}"), &format!("urn:up:{n}"))
        .home(&format!("https://up{n}.example/"))
        .entries((0..2).map(|i| {
            let link = format!("https://up{n}.example/r/{i}");
            Entry::new(&link, &format!("Release {n}.{i}"), &link, "")
                .published(&format!("2026-06-0{}T10:00:00Z", i + 1))
        }))
        .rss()
}

fn post(title: &str) -> String {
    format!("---\ntitle: {title}\ndate: 2026-06-01 09:00:00 +0000\n---\nThe body.\n")
}

/// The wall-clock time of a request, from the instant it arrived.
struct Clock {
    instant: Instant,
    wall: DateTime<Utc>,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            instant: Instant::now(),
            wall: Utc::now(),
        }
    }

    fn wall(&self, at: Instant) -> DateTime<Utc> {
        let d = at.saturating_duration_since(self.instant);
        self.wall + Span::from_std(d).unwrap_or_default()
    }
}

/// Requests per path whose arrival lies in `[from, to)`, as wall-clock times.
fn requests_in(
    server: &TestServer,
    clock: &Clock,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashMap<String, Vec<DateTime<Utc>>> {
    let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for r in server.requests() {
        let at = clock.wall(r.at);
        if at >= from && at < to {
            out.entry(r.path.clone()).or_default().push(at);
        }
    }
    out
}

fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        std::thread::sleep(d);
    }
}

/// The same bytes and validators from every replica.
fn same_everywhere(replicas: &[&Daemon], path: &str) -> Resp {
    let answers: Vec<Resp> = replicas.iter().map(|d| d.get(path)).collect();
    let first = &answers[0];
    assert_eq!(first.status_text().0, 200, "{path}: {}", first.text());
    for (i, a) in answers.iter().enumerate().skip(1) {
        assert_eq!(a.status_text().0, 200, "replica {i}: {path}");
        assert!(
            a.body == first.body,
            "replica {i} serves other bytes for {path}"
        );
        assert_eq!(
            a.header("etag"),
            first.header("etag"),
            "replica {i}: {path} ETag"
        );
        assert_eq!(
            a.header("last-modified"),
            first.header("last-modified"),
            "replica {i}: {path} Last-Modified"
        );
    }
    answers.into_iter().next().expect("three answers")
}

/// What the replicas logged above INFO, for a failure message.
fn warnings(replicas: &[Daemon]) -> String {
    let mut out = String::new();
    for (i, d) in replicas.iter().enumerate() {
        for line in d.log().lines().filter(|l| !l.contains(" INFO ")) {
            out.push_str(&format!("replica {i}: {line}\n"));
        }
    }
    out
}

#[test]
fn three_replicas_share_fetching_and_serve_identical_feeds() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let server = TestServer::start();
    let mut upstreams = String::from("title: Stream\nlimit: 50\nupstreams:\n");
    for n in 0..SOURCES {
        let mut r = Response::ok(rss(n)).header("Content-Type", "application/rss+xml");
        if n % SLOW_EVERY == 0 {
            r = r.delay(SLOW);
        }
        server.route(&format!("/f{n}.rss"), r);
        upstreams.push_str(&format!(
            "  - url: \"{}\"\n    name: \"up{n}\"\n",
            server.url(&format!("/f{n}.rss"))
        ));
    }
    let site = Site::new(&format!(
        "title: Replicated\nbase_url: https://example.org/\nstore: \"{url}\"\n\
         schedule: \"*/{PERIOD} * * * * *\"\nlease: {LEASE}s\n\
         fetch: {{ allow_private_addresses: true, timeout: 10, per_host: 16 }}\n"
    ));
    site.feed("main", "title: Main\n");
    site.feed("stream", &upstreams);
    site.post("2026-06-01-hello.md", post("Hello"));

    let clock = Clock::now();
    let mut replicas: Vec<Daemon> = (0..3).map(|_| Daemon::serve(&site)).collect();

    // The first round: every source is new, so due at once.
    wait_for(Duration::from_secs(60), "every source fetched once", || {
        let seen: std::collections::HashSet<String> =
            server.requests().into_iter().map(|r| r.path).collect();
        (seen.len() == SOURCES).then_some(())
    });
    let first_round_done = Utc::now();
    let boundary = |t: DateTime<Utc>| {
        t.duration_trunc(Span::seconds(PERIOD)).unwrap_or(t) + Span::seconds(PERIOD)
    };
    // Wait for the first round's stragglers (slow sources) to finish.
    let b1 = boundary(first_round_done + Span::seconds(4));
    let b2 = b1 + Span::seconds(PERIOD);
    let b3 = b2 + Span::seconds(PERIOD);

    // Period 1, undisturbed: every source exactly once.
    sleep_until(b2);
    let p1 = requests_in(&server, &clock, b1, b2);
    let missing = (0..SOURCES)
        .filter(|n| !p1.contains_key(&format!("/f{n}.rss")))
        .count();
    let twice: Vec<(&String, usize)> = p1
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(p, v)| (p, v.len()))
        .collect();
    assert_eq!(
        missing,
        0,
        "sources not fetched in period 1; warnings:\n{}",
        warnings(&replicas)
    );
    assert!(
        twice.is_empty(),
        "sources fetched twice in period 1: {twice:?}; warnings:\n{}",
        warnings(&replicas)
    );

    // Period 2: kill one replica in the middle of fetching a slow source
    // (it holds the lease and the server has the request).
    let victim_pid = replicas[0].pid();
    let (killed_at, slow_key) = wait_for(
        Duration::from_secs(PERIOD as u64),
        "replica 0 fetching a slow source in period 2",
        || {
            let held = crate::support::pg::query(
                &url,
                &format!(
                    "SELECT key FROM sources WHERE lease_holder LIKE '%:{victim_pid}:%' \
                     AND lease_until > 0"
                ),
            );
            let since = Utc::now() - Span::seconds(2);
            let slow = held.into_iter().find(|key| {
                let path = key.rsplit('/').next().map(|f| format!("/{f}"));
                let n: Option<usize> = path
                    .as_deref()
                    .and_then(|p| p.strip_prefix("/f")?.strip_suffix(".rss")?.parse().ok());
                n.is_some_and(|n| n % SLOW_EVERY == 0)
                    && path.is_some_and(|p| {
                        requests_in(&server, &clock, since, Utc::now()).contains_key(&p)
                    })
            })?;
            let status = std::process::Command::new("kill")
                .args(["-KILL", &victim_pid.to_string()])
                .status()
                .expect("run kill");
            assert!(status.success());
            Some((Utc::now(), slow))
        },
    );
    sleep_until(b3);
    let p2 = requests_in(&server, &clock, b2, b3);
    for n in 0..SOURCES {
        let path = format!("/f{n}.rss");
        let times = p2
            .get(&path)
            .unwrap_or_else(|| panic!("{path} not fetched in period 2 (kill at {killed_at})"));
        // A second request only as the takeover of a killed replica's lease:
        // the first before the kill, the next within one lease after it.
        if times.len() > 1 {
            assert_eq!(
                times.len(),
                2,
                "{path} fetched {} times: {times:?}",
                times.len()
            );
            assert!(
                times[0] <= killed_at
                    && times[1] > killed_at
                    && times[1] <= killed_at + Span::seconds(LEASE + 2),
                "{path}: fetched at {times:?}, the kill at {killed_at}"
            );
        }
    }
    let slow_path = format!("/{}", slow_key.rsplit('/').next().unwrap_or_default());
    assert_eq!(
        p2.get(&slow_path).map(Vec::len),
        Some(2),
        "{slow_path}, in flight in the killed replica, was fetched again by another"
    );
    let taken_over = p2.values().filter(|v| v.len() == 2).count();
    eprintln!("replicas: period 2: {taken_over} sources taken over after the kill");

    // The killed replica comes back; all three serve the same documents.
    replicas[0] = Daemon::serve(&site);
    let all: Vec<&Daemon> = replicas.iter().collect();
    for d in &all {
        assert_eq!(d.get("/readyz").status_text(), (200, "ready\n".to_string()));
    }
    for path in [
        "/main.atom",
        "/main.rss",
        "/main.json",
        "/stream.atom",
        "/stream.json",
    ] {
        let r = same_everywhere(&all, path);
        assert!(!r.body.is_empty(), "{path}");
    }
    // The `/` page is published too: once the others have loaded the
    // restarted replica's build, all three answer it alike.
    wait_for(Duration::from_secs(10), "the same / from all three", || {
        let pages: Vec<Resp> = all.iter().map(|d| d.get("/")).collect();
        pages
            .iter()
            .all(|p| p.body == pages[0].body && p.header("etag") == pages[0].header("etag"))
            .then_some(())
    });
    let generations: Vec<String> = all
        .iter()
        .map(|d| {
            d.get("/metrics")
                .text()
                .lines()
                .find(|l| l.starts_with("tributary_documents_generation "))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        generations
            .iter()
            .all(|g| g == &generations[0] && !g.ends_with(" 0")),
        "{generations:?}"
    );
    let stream = same_everywhere(&all, "/stream.atom").text();
    assert!(
        stream.contains("<title>Release "),
        "the stream has upstream items"
    );

    // An edit on disk is served by every replica within a few seconds.
    site.post("2026-06-01-hello.md", post("Hello again"));
    let started = Instant::now();
    wait_for(
        Duration::from_secs(10),
        "the edit served by all three",
        || {
            all.iter()
                .all(|d| d.get("/main.atom").text().contains("Hello again"))
                .then_some(())
        },
    );
    eprintln!(
        "replicas: the edit was served by all three after {:?}",
        started.elapsed()
    );
    same_everywhere(&all, "/main.atom");
    same_everywhere(&all, "/stream.atom");
}

/// `tributary fetch --all` run by three processes at once on one store:
/// every source requested once, the work split between them.
#[test]
fn fetch_runs_at_once_split_the_sources() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    const N: usize = 150;
    let (server, site) = sources_site(
        &url,
        N,
        Duration::from_millis(30),
        "Split",
        "fetch: { allow_private_addresses: true, timeout: 10, per_host: 16, concurrency: 4 }\n",
    );
    let children: Vec<std::process::Child> = (0..3)
        .map(|_| {
            site.command(&["fetch", "--all"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start fetch")
        })
        .collect();
    let mut fetched = Vec::new();
    for c in children {
        let out = c.wait_with_output().expect("fetch output");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let summary = stderr
            .lines()
            .find(|l| l.starts_with("fetched "))
            .unwrap_or_else(|| panic!("no summary in {stderr}"))
            .to_string();
        let n: usize = summary["fetched ".len()..]
            .split(',')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{summary}"));
        fetched.push(n);
    }
    let mut per_path: HashMap<String, usize> = HashMap::new();
    for r in server.requests() {
        *per_path.entry(r.path).or_default() += 1;
    }
    assert_eq!(per_path.len(), N, "every source requested");
    assert!(
        per_path.values().all(|&c| c == 1),
        "a source requested twice: {:?}",
        per_path.iter().filter(|(_, &c)| c > 1).collect::<Vec<_>>()
    );
    assert_eq!(fetched.iter().sum::<usize>(), N, "{fetched:?}");
    assert!(
        fetched.iter().filter(|&&n| n > 0).count() >= 2,
        "the work was split: {fetched:?}"
    );
}

/// The database goes away and comes back: the replica keeps serving its
/// feeds from memory meanwhile, `/readyz` says it is not ready (so a load
/// balancer sends readers elsewhere), and once the database is back an edit
/// made during the outage is built and served without a restart.
#[test]
fn a_replica_rides_out_a_database_outage() {
    let Some(server) = crate::support::pg::private_server() else {
        return;
    };
    let url = server.url("postgres");
    let upstream = TestServer::start();
    upstream.route(
        "/f.rss",
        Response::ok(rss(1)).header("Content-Type", "application/rss+xml"),
    );
    let site = Site::new(&format!(
        "title: Outage\nbase_url: https://example.org/\nstore: \"{url}\"\n\
         fetch: {{ allow_private_addresses: true, timeout: 5 }}\n"
    ));
    site.feed("main", "title: Main\n");
    site.feed(
        "stream",
        &format!(
            "title: Stream\nupstreams:\n  - url: \"{}\"\n",
            upstream.url("/f.rss")
        ),
    );
    site.post("2026-06-01-hello.md", post("Before"));
    let d = Daemon::serve(&site);
    assert_eq!(d.get("/readyz").status, 200);
    let before = d.get("/main.atom");
    assert!(before.text().contains("Before"));

    server.stop();
    wait_for(Duration::from_secs(15), "/readyz to say not ready", || {
        (d.get("/readyz").status == 503).then_some(())
    });
    let during = d.get("/main.atom");
    assert_eq!(during.status, 200, "feeds are served from memory");
    assert_eq!(during.body, before.body);
    assert_eq!(during.header("etag"), before.header("etag"));
    site.post("2026-06-01-hello.md", post("During"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        d.get("/main.atom").text().contains("Before"),
        "no build without the store"
    );

    server.start_again();
    wait_for(
        Duration::from_secs(60),
        "the edit built once the store is back",
        || d.get("/main.atom").text().contains("During").then_some(()),
    );
    wait_for(
        Duration::from_secs(15),
        "/readyz to say ready again",
        || (d.get("/readyz").status == 200).then_some(()),
    );
    let log = d.log();
    assert!(log.contains("the store is unreachable"), "{log}");
    // The scheduler ticks every 250 ms: an outage is not a warning a tick.
    let warned = log.matches("cannot read the store").count();
    assert!(warned <= 2, "{warned} warnings:\n{log}");
}

/// `n` upstreams that answer after `delay`, on a site titled `title` whose
/// store is `url`, with `settings` (its `lease:` and `fetch:` lines) added.
fn sources_site(
    url: &str,
    n: usize,
    delay: Duration,
    title: &str,
    settings: &str,
) -> (TestServer, Site) {
    let server = TestServer::start();
    let mut upstreams = String::from("title: Stream\nupstreams:\n");
    for k in 0..n {
        let mut answer = Response::ok(rss(k)).header("Content-Type", "application/rss+xml");
        if delay > Duration::ZERO {
            answer = answer.delay(delay);
        }
        server.route(&format!("/f{k}.rss"), answer);
        upstreams.push_str(&format!(
            "  - url: \"{}\"\n    name: \"up{k}\"\n",
            server.url(&format!("/f{k}.rss"))
        ));
    }
    let site = Site::new(&format!(
        "title: {title}\nbase_url: https://example.org/\nstore: \"{url}\"\n{settings}"
    ));
    site.feed("stream", &upstreams);
    (server, site)
}

/// 40 slow upstreams on a site with a long `lease:`, fetching
/// `concurrency` at once.
fn slow_sources_site(url: &str, delay: Duration, concurrency: usize) -> (TestServer, Site) {
    sources_site(
        url,
        40,
        delay,
        "Killed",
        &format!(
            "lease: 60s\nfetch: {{ allow_private_addresses: true, timeout: 10, per_host: 64, concurrency: {concurrency} }}\n"
        ),
    )
}

/// The sources whose lease the process `pid` holds.
fn leases_held(url: &str, pid: u32) -> Vec<String> {
    crate::support::pg::query(
        url,
        &format!("SELECT key FROM sources WHERE lease_holder LIKE '%:{pid}:%' AND lease_until > 0"),
    )
}

/// Once `pid` holds leases and fetching has begun, `kill -9` it; returns
/// when, and the sources it held.
fn kill_a_lease_holder(url: &str, server: &TestServer, pid: u32) -> (Instant, Vec<String>) {
    let taken = wait_for(Duration::from_secs(30), "the victim holding leases", || {
        let keys = leases_held(url, pid);
        (!keys.is_empty() && !server.requests().is_empty()).then_some(keys)
    });
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    (Instant::now(), taken)
}

/// Wait (at most `within`) until the killed `pid` holds no lease and every
/// source it held was requested again after `killed`.
fn wait_for_takeover(
    url: &str,
    server: &TestServer,
    pid: u32,
    (killed, taken): &(Instant, Vec<String>),
    within: Duration,
) {
    wait_for(
        within,
        "the killed replica's leases freed and its sources fetched again",
        || {
            let requested = server.requests();
            let again = taken.iter().all(|key| {
                let path = format!("/{}", key.rsplit('/').next().unwrap_or_default());
                requested.iter().any(|r| r.path == path && r.at > *killed)
            });
            (leases_held(url, pid).is_empty() && again).then_some(())
        },
    );
}

/// A replica killed with `kill -9` mid-fetch: another replica on the same
/// host frees its leases at once (its pid is gone) and fetches its sources,
/// rather than waiting for a long `lease:` to run out.
#[test]
fn a_killed_replicas_leases_are_freed_at_once_on_its_host() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let (server, site) = slow_sources_site(&url, Duration::from_secs(4), 64);
    let victim = Daemon::serve(&site);
    let victim_pid = victim.pid();
    let kill = kill_a_lease_holder(&url, &server, victim_pid);
    // The killed process stays a zombie until reaped: still dead.
    let survivor = Daemon::serve(&site);
    wait_for_takeover(&url, &server, victim_pid, &kill, Duration::from_secs(15));
    assert!(
        kill.0.elapsed() < Duration::from_secs(30),
        "freed after {:?}, survivor log:\n{}",
        kill.0.elapsed(),
        survivor.log()
    );
    drop(victim);
}

/// A replica that was already running when another on its host died
/// frees the dead one's leases too, not only a replica starting afterwards.
#[test]
fn a_running_replica_frees_a_killed_ones_leases() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let (server, site) = slow_sources_site(&url, Duration::from_secs(3), 8);
    let mut replicas: Vec<Daemon> = (0..2).map(|_| Daemon::serve(&site)).collect();
    let victim_pid = replicas[0].pid();
    let kill = kill_a_lease_holder(&url, &server, victim_pid);
    wait_for_takeover(&url, &server, victim_pid, &kill, Duration::from_secs(20));
    eprintln!(
        "replicas: leases of a killed replica freed after {:?}",
        kill.0.elapsed()
    );
    replicas.truncate(1);
}

/// Three `fetch --all` at once on a fresh store with 1,000 sources, each
/// started a moment after the previous one (cron jobs on three machines do
/// not start in the same millisecond): each source requested exactly once.
#[test]
fn three_fetch_all_runs_request_each_of_1000_sources_once() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    const N: usize = 1000;
    let (server, site) = sources_site(
        &url,
        N,
        Duration::ZERO,
        "Split",
        "fetch: { allow_private_addresses: true, timeout: 10, per_host: 16 }\n",
    );
    let children: Vec<std::process::Child> = (0..3)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(400));
            }
            site.command(&["fetch", "--all"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start fetch")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("fetch output");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut per_path: HashMap<String, usize> = HashMap::new();
    for r in server.requests() {
        *per_path.entry(r.path).or_default() += 1;
    }
    assert_eq!(per_path.len(), N, "every source requested");
    let twice: Vec<_> = per_path.iter().filter(|(_, &c)| c > 1).collect();
    assert!(
        twice.is_empty(),
        "{} requests for {N} sources; {} requested more than once",
        per_path.values().sum::<usize>(),
        twice.len()
    );
}
