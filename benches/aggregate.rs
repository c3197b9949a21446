//! Aggregation benchmark: 1,000 upstream Atom feeds of 50 items each, served
//! over HTTP from 127.0.0.1 by a child process (so that the server's memory
//! is not counted), drawn into one combined feed.
//!
//! - cold run: fetch every source, parse, sanitize, store, merge, emit;
//! - warm run: the same again, every answer a 304.
//!
//! Prints wall time and peak RSS of each phase. Run with
//! `cargo bench --bench aggregate`; exits 0 whatever the figures.
//! Where PostgreSQL is installed, the same runs follow on PostgreSQL: one
//! process, then three at once on one database (replicas sharing the work).
//! Environment: `BENCH_FEEDS` (default 1000), `BENCH_ITEMS` (default 50),
//! `BENCH_DELAY_MS` (each answer delayed so long, as a distant upstream;
//! default 0).
//!
//! All sources are on one host here, so `per_host` is raised to the global
//! `concurrency` (16): a site whose sources all live on github.com does the same.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use tributary::app::aggregate::{self, FetchOptions};
use tributary::app::build::{self, Options};
use tributary::site::Site;

mod support;
use support::{mb, peak_rss, peak_text, reset_peak};

#[path = "../tests/it/support/upstream_server.rs"]
mod http_server;

#[path = "../tests/it/support/pg.rs"]
mod pg;

const COLD_TARGET: Duration = Duration::from_secs(3);
const WARM_TARGET: Duration = Duration::from_millis(500);
const MEMORY_TARGET: u64 = 150 * 1024 * 1024;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// One GitHub-releases-shaped Atom feed: `items` releases with ~1 KB of notes.
fn feed(index: usize, items: usize) -> String {
    let mut s = String::with_capacity(items * 1400);
    let _ = write!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US">
  <id>tag:github.com,2008:https://github.com/org{index}/project{index}/releases</id>
  <link type="text/html" rel="alternate" href="https://github.com/org{index}/project{index}/releases"/>
  <title>Release notes from project{index}</title>
  <updated>2026-11-30T12:00:00Z</updated>
"#
    );
    for k in 0..items {
        let day = 1 + (k % 28);
        let month = 1 + (k / 28) % 12;
        let _ = write!(
            s,
            r#"  <entry>
    <id>tag:github.com,2008:Repository/{index}/v1.{k}.0</id>
    <updated>2026-{month:02}-{day:02}T{h:02}:00:00Z</updated>
    <link rel="alternate" type="text/html" href="https://github.com/org{index}/project{index}/releases/tag/v1.{k}.0"/>
    <title>project{index} v1.{k}.0</title>
    <content type="html">&lt;h2&gt;Changes&lt;/h2&gt;
&lt;ul&gt;&lt;li&gt;Fix a race in the &lt;code&gt;watch&lt;/code&gt; cache (&lt;a href="https://github.com/org{index}/project{index}/pull/{pr}"&gt;#{pr}&lt;/a&gt;)&lt;/li&gt;
&lt;li&gt;Faster startup when the data directory holds many snapshots; see &lt;a href="/org{index}/project{index}/blob/main/CHANGELOG.md"&gt;the changelog&lt;/a&gt;.&lt;/li&gt;
&lt;li&gt;Update the Go toolchain and every dependency that had a security advisory this month.&lt;/li&gt;&lt;/ul&gt;
&lt;p&gt;Thanks to all contributors of this release: reviewers, testers and everyone who reported issues. Binaries and checksums are attached below.&lt;/p&gt;</content>
    <author><name>maintainer{index}</name></author>
  </entry>
"#,
            h = k % 24,
            pr = 1000 + k,
        );
    }
    s.push_str("</feed>\n");
    s
}

/// Child process: serve the generated feeds (with ETags) until stdin closes.
fn serve(dir: &Path) {
    // Real upstreams answer in tens to hundreds of milliseconds: with a
    // delay the run is bound by waiting, as it is in production.
    let delay = Duration::from_millis(env_count("BENCH_DELAY_MS", 0) as u64);
    let server = http_server::TestServer::start();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("feeds dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let body = std::fs::read(&p).expect("read feed");
        let name = p.file_name().and_then(|f| f.to_str()).unwrap_or("x");
        let mut response = http_server::Response::ok(body)
            .header("Content-Type", "application/atom+xml")
            .header("ETag", &format!("\"{name}-1\""));
        if delay > Duration::ZERO {
            response = response.delay(delay);
        }
        server.route(&format!("/{name}"), response);
        n += 1;
    }
    println!("{} {n}", server.port());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

struct Phase {
    fetch: Duration,
    build: Duration,
    peak: Option<u64>,
    summary: String,
    written: usize,
}

fn run(root: &Path) -> Phase {
    reset_peak();
    let start = Instant::now();
    let site = Site::load(root).expect("site");
    let mut store = aggregate::open_store(&site).expect("store");
    let report = tributary::app::lease::fetch(
        &site,
        &mut *store,
        &FetchOptions {
            all: true,
            only: None,
            keys: None,
            slots: None,
            release_to: None,
            in_flight: None,
            now: Utc::now(),
            progress: false,
        },
    )
    .expect("fetch");
    drop(store);
    let fetch = start.elapsed();
    let t = Instant::now();
    let built = build::build(root, &Options::default()).expect("build");
    Phase {
        fetch,
        build: t.elapsed(),
        peak: peak_rss(),
        summary: report.summary(),
        written: built.written,
    }
}

/// Run one phase in a fresh process (as `tributary fetch` + `build` would
/// run), so that its peak memory is its own; returns what it printed.
fn phase_in_child(root: &Path, store: Option<&str>) -> Phase {
    finish_phase(spawn_phase(root, store))
}

/// Start one phase in a child process, with `TRIBUTARY_STORE` set when a
/// store other than the site's SQLite file is measured.
fn spawn_phase(root: &Path, store: Option<&str>) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().expect("exe"));
    cmd.env("BENCH_PHASE", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match store {
        Some(url) => cmd.env("TRIBUTARY_STORE", url),
        None => cmd.env_remove("TRIBUTARY_STORE"),
    };
    cmd.spawn().expect("run phase")
}

fn finish_phase(child: std::process::Child) -> Phase {
    let out = child.wait_with_output().expect("phase output");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.trim().splitn(5, '\t');
    let mut secs = || Duration::from_secs_f64(f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0));
    let fetch = secs();
    let build = secs();
    let peak = f.next().and_then(|v| v.parse().ok());
    let written = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let summary = f.next().unwrap_or("").to_string();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        eprintln!("phase failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Phase {
        fetch,
        build,
        peak,
        summary,
        written,
    }
}

/// `replicas` processes fetching and building at once against one store,
/// each with its own copy of the site (as replicas on several machines):
/// the wall time of the whole, and each one's phase.
fn replicas_run(roots: &[std::path::PathBuf], store: &str) -> (Duration, Vec<Phase>) {
    let start = Instant::now();
    let children: Vec<_> = roots.iter().map(|r| spawn_phase(r, Some(store))).collect();
    let phases = children.into_iter().map(finish_phase).collect();
    (start.elapsed(), phases)
}

fn copy_site(from: &Path, to: &Path) {
    for dir in ["feeds", "content"] {
        std::fs::create_dir_all(to.join(dir)).expect("mkdir");
    }
    for file in ["tributary.yaml", "feeds/stream.yaml"] {
        std::fs::copy(from.join(file), to.join(file)).expect("copy site");
    }
}

fn main() {
    if let Some(dir) = std::env::var_os("BENCH_SERVE") {
        serve(Path::new(&dir));
        return;
    }
    if let Some(root) = std::env::var_os("BENCH_PHASE") {
        let p = run(Path::new(&root));
        println!(
            "{}\t{}\t{}\t{}\t{}",
            p.fetch.as_secs_f64(),
            p.build.as_secs_f64(),
            p.peak.unwrap_or(0),
            p.written,
            p.summary
        );
        return;
    }
    let feeds = env_count("BENCH_FEEDS", 1000);
    let items = env_count("BENCH_ITEMS", 50);
    let tmp = tempfile::tempdir().expect("temp dir");
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).expect("mkdir");
    let mut bytes = 0;
    for i in 0..feeds {
        let f = feed(i, items);
        bytes += f.len();
        std::fs::write(served.join(format!("f{i:04}.atom")), f).expect("write feed");
    }
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env("BENCH_SERVE", &served)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("server port");
    let port: u16 = first
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    let root = tmp.path().join("site");
    std::fs::create_dir_all(root.join("feeds")).expect("mkdir");
    std::fs::create_dir_all(root.join("content")).expect("mkdir");
    std::fs::write(
        root.join("tributary.yaml"),
        "title: Bench Weekly\nbase_url: https://bench.example.org\n\
         fetch:\n  allow_private_addresses: true\n  concurrency: 16\n  per_host: 16\n",
    )
    .expect("config");
    let mut yaml = String::from("title: Everything upstream\nlimit: 200\nupstreams:\n");
    for i in 0..feeds {
        let _ = writeln!(
            yaml,
            "  - url: http://127.0.0.1:{port}/f{i:04}.atom\n    name: project{i}"
        );
    }
    std::fs::write(root.join("feeds/stream.yaml"), yaml).expect("feed file");
    println!(
        "{feeds} upstream feeds x {items} items ({} of Atom) served from 127.0.0.1:{port}",
        mb(bytes as u64)
    );

    let cold = phase_in_child(&root, None);
    let warm = phase_in_child(&root, None);
    let line = |name: &str, p: &Phase| {
        println!(
            "{name:<5} {:>7.3} s (fetch+parse+store {:.3} s, merge+emit {:.3} s)   peak RSS {:>9}   {}; {} documents written",
            (p.fetch + p.build).as_secs_f64(),
            p.fetch.as_secs_f64(),
            p.build.as_secs_f64(),
            peak_text(p.peak),
            p.summary,
            p.written,
        );
    };
    line("cold", &cold);
    line("warm", &warm);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "targets: cold < 3 s: {}; warm < 0.5 s: {}; peak < 150 MB: {}",
        verdict(cold.fetch + cold.build < COLD_TARGET),
        verdict(warm.fetch + warm.build < WARM_TARGET),
        verdict(cold.peak.unwrap_or(0) < MEMORY_TARGET && warm.peak.unwrap_or(0) < MEMORY_TARGET),
    );
    if let Ok((store_bytes, _)) =
        std::fs::metadata(root.join(".tributary/store.db")).map(|m| (m.len(), ()))
    {
        println!("store: {}", mb(store_bytes));
    }

    // The same on PostgreSQL: one process, then three at once.
    if let Some(server) = pg::server() {
        println!("PostgreSQL (server started by the bench, fsync off as in the tests):");
        let one = pg::database().expect("database");
        let cold = phase_in_child(&root_copy(&tmp, &root, "pg1"), Some(&one));
        let warm = phase_in_child(&root_copy(&tmp, &root, "pg1"), Some(&one));
        line("cold", &cold);
        line("warm", &warm);
        let name = one.rsplit('/').next().unwrap_or_default().to_string();
        let size = pg::query(
            &server.url("postgres"),
            &format!("SELECT pg_database_size('{name}')"),
        );
        if let Some(bytes) = size.first().and_then(|s| s.parse::<u64>().ok()) {
            println!("store: {} (pg_database_size)", mb(bytes));
        }
        let three = pg::database().expect("database");
        let roots: Vec<_> = (0..3)
            .map(|i| root_copy(&tmp, &root, &format!("pg3-{i}")))
            .collect();
        for name in ["cold", "warm"] {
            let (wall, phases) = replicas_run(&roots, &three);
            println!(
                "{name:<5} {:>7.3} s wall with 3 replicas",
                wall.as_secs_f64()
            );
            for (i, p) in phases.iter().enumerate() {
                line(&format!("  r{i}"), p);
            }
        }
    } else {
        println!("PostgreSQL: not installed, skipped (apt-get install postgresql)");
    }
    drop(child.stdin.take());
    let _ = child.wait();
}

/// A fresh copy of the site under `tmp/NAME` (created once).
fn root_copy(tmp: &tempfile::TempDir, root: &Path, name: &str) -> std::path::PathBuf {
    let dest = tmp.path().join(name);
    if !dest.exists() {
        copy_site(root, &dest);
    }
    dest
}
