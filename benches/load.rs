//! Serving benchmark: `tributary serve` on a generated site (100 posts) while
//! 200 concurrent clients GET its feeds in a loop for 30 s and one post is
//! edited every second (so the watcher rebuilds and swaps the documents).
//!
//! Every response is checked: status 200, a body whose xxh3 hash is the one
//! its `ETag` advertises (a torn or mixed body would not match), the length
//! `Content-Length` announced, and a complete parse as Atom, RSS or JSON.
//! Prints requests/s, latency percentiles, failures, rebuilds and the
//! server's RSS sampled every second. Never fails.
//!
//! Run with `cargo bench --bench load`. Environment:
//! - `LOAD_CLIENTS=N` (default 200), `LOAD_SECS=N` (default 30),
//!   `LOAD_POSTS=N` (default 100).

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/it/support/load_check.rs"]
mod load_check;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Write a site of `posts` weekly posts: a `limit: all` feed, an archived
/// feed and per-tag feeds. Returns the post paths, newest first.
fn generate(root: &Path, posts: u64) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(root.join("content"))?;
    std::fs::create_dir_all(root.join("feeds"))?;
    std::fs::write(
        root.join("tributary.yaml"),
        "title: Load Weekly\nbase_url: https://load.example.org/\nlanguage: en\n",
    )?;
    std::fs::write(root.join("feeds/main.yaml"), "title: Main\nlimit: all\n")?;
    std::fs::write(
        root.join("feeds/arch.yaml"),
        "title: Archived\nlimit: 10\narchive: true\n",
    )?;
    std::fs::write(
        root.join("feeds/tags.yaml"),
        "title: \"Tag {tag}\"\nper_tag: true\nlimit: 20\n",
    )?;
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 5).unwrap_or_default();
    let mut paths = Vec::new();
    for i in 0..posts {
        let day = start + chrono::Duration::days(7 * i as i64);
        let rel = PathBuf::from(format!("content/{day}-week-{i}.md"));
        let body: String = (0..8)
            .map(|j| {
                format!(
                    "## Section {j}\n\nWeek {i}, item {j}: see [the change](https://example.com/{i}/{j}) \
                     and *why* it matters for `component-{j}`.\n\n"
                )
            })
            .collect();
        std::fs::write(
            root.join(&rel),
            format!(
                "---\ntitle: Week {i}\ntags: [t{}, weekly]\n---\n{body}",
                i % 6
            ),
        )?;
        paths.push(rel);
    }
    paths.reverse();
    Ok(paths)
}

/// Every feed document under `dir`, relative with `/`.
fn feed_paths(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if [".atom", ".rss", ".json"].iter().any(|x| rel.ends_with(x)) {
                    out.push(rel);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Start `tributary serve`; returns the child and its base URL.
fn start_serve(root: &Path) -> Result<(Child, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("-C")
        .arg(root)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let Some(stderr) = child.stderr.take() else {
        return Err("no stderr".into());
    };
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("tributary: serving ") {
            base = Some(rest.trim_end_matches('/').to_string());
            break;
        }
        eprintln!("serve: {line}");
    }
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    match base {
        Some(b) => Ok((child, b)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err("serve exited before listening".into())
        }
    }
}

/// `VmRSS` of process `pid`, in bytes.
fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn metric(base: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|n| n.trim().parse().ok())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let clients = env_or("LOAD_CLIENTS", 200) as usize;
    let span = Duration::from_secs(env_or("LOAD_SECS", 30));
    let posts = env_or("LOAD_POSTS", 100);
    if let Err(e) = run(clients, span, posts) {
        println!("load: could not run: {e}");
    }
}

fn run(clients: usize, span: Duration, posts: u64) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = tmp.path().join("site");
    let edited = generate(&root, posts).map_err(|e| e.to_string())?;
    let built = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("-C")
        .arg(&root)
        .args(["-q", "build"])
        .status()
        .map_err(|e| e.to_string())?;
    if !built.success() {
        return Err(format!("build failed: {built}"));
    }
    let paths = Arc::new(feed_paths(&root.join("public")));
    let (mut child, base) = start_serve(&root)?;
    let pid = child.id();
    println!(
        "load: {posts} posts, {} feed documents, {clients} clients for {span:?}, one edit per second; {base}",
        paths.len()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let builds_before = rt
        .block_on(metric(&base, "tributary_builds_total{result=\"ok\"} "))
        .unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));

    // Edits one post per second; samples the server's RSS at the same time.
    let sampler = {
        let (stop, root) = (stop.clone(), root.clone());
        std::thread::spawn(move || {
            let (mut edits, mut rss) = (0u64, Vec::new());
            rss.extend(rss_of(pid));
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(1));
                let path = root.join(&edited[edits as usize % edited.len()]);
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&path) {
                    let _ = writeln!(f, "\nEdit number {edits}.");
                    edits += 1;
                }
                rss.extend(rss_of(pid));
            }
            (edits, rss)
        })
    };

    let started = Instant::now();
    let seen = load_check::load(&base, &paths, clients, span);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (edits, rss) = sampler.join().unwrap_or_default();
    std::thread::sleep(Duration::from_millis(1500));
    let builds = rt
        .block_on(metric(&base, "tributary_builds_total{result=\"ok\"} "))
        .unwrap_or(0);
    let failed_builds = rt
        .block_on(metric(&base, "tributary_builds_total{result=\"failed\"} "))
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();

    let mut lat = seen.latencies;
    lat.sort();
    let total = lat.len();
    println!(
        "load: {total} requests in {:.1} s = {:.0} req/s; {} ok, {} bad",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        seen.ok,
        seen.bad.len()
    );
    println!(
        "load: latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "load: {edits} edits, {} rebuilds ({failed_builds} failed)",
        builds.saturating_sub(builds_before)
    );
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    if let (Some(first), Some(max), Some(last)) = (rss.first(), rss.iter().max(), rss.last()) {
        println!(
            "load: server RSS start {:.1} MB, max {:.1} MB, end {:.1} MB ({} samples)",
            mb(*first),
            mb(*max),
            mb(*last),
            rss.len()
        );
        let trace: Vec<String> = rss.iter().map(|b| format!("{:.0}", mb(*b))).collect();
        println!("load: server RSS each second (MB): {}", trace.join(" "));
    }
    for e in seen.bad.iter().take(10) {
        println!("load: bad response: {e}");
    }
    Ok(())
}
