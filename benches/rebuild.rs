//! Rebuild benchmark: a site whose combined feed (`limit: 50`) draws from
//! four sources, with 5k, 50k, 200k and 1M items stored (`keep: all`).
//! One new item is stored, then the site is rebuilt, as `serve` does after a
//! fetch that brought news; the rebuild's wall time and peak memory are
//! printed, on SQLite and (where PostgreSQL is installed) on PostgreSQL.
//!
//! A rebuild reads each source's newest items through the date index, so its
//! cost follows the feed (50 entries), not the store: the target is that the
//! time at 200k is at most 3x the time at 5k, and peak memory stays under
//! 150 MB at 1M. Each size runs in a child process of its own, so that one
//! run's memory is not the next one's peak.
//!
//! Run with `cargo bench --bench rebuild`; `BENCH_SIZES=5000,50000` picks
//! sizes. Exits 0 whatever the figures.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, TimeZone, Utc};
use tributary::app::aggregate;
use tributary::app::build::{self, Options};
use tributary::site::Site;
use tributary::store::StoredItem;
use tributary::{Entry, Source};

mod support;
use support::{peak_rss, peak_text, reset_peak};

#[path = "../tests/it/support/pg.rs"]
mod pg;

const SOURCES: usize = 4;
const TARGET_RATIO: f64 = 3.0;
const MEMORY_TARGET: u64 = 150 * 1024 * 1024;

fn item(source: usize, k: usize) -> StoredItem {
    let t = Utc
        .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .single()
        .expect("date")
        - Span::minutes((k * SOURCES + source) as i64);
    let url = format!("https://releases.example/p{source}/v{k}");
    StoredItem {
        entry: Entry {
            id: format!("tag:releases.example,2026:p{source}/{k}"),
            url: url.clone(),
            title: format!("project{source} v1.{k}.0"),
            summary_html: Some(format!("<p>Release {k} of project {source}: fixes and features.</p>")),
            content_html: Some(format!(
                "<h2>Changes</h2><ul><li>Fix #{k}</li><li>Faster start</li></ul><p>Thanks to everyone who helped with release {k}.</p>"
            )),
            published: t.fixed_offset(),
            updated: t.fixed_offset(),
            sources: vec![Source {
                name: format!("p{source}"),
                feed_url: format!("https://releases.example/p{source}.atom"),
                item_url: Some(url.clone()),
                id: None,
            }],
            ..Entry::default()
        },
        canonical_url: Some(url),
        first_seen: t,
    }
}

fn site(dir: &Path, store: Option<&str>) {
    let mut cfg = String::from("title: Bench\nbase_url: https://bench.example/\n");
    if let Some(url) = store {
        cfg.push_str(&format!("store: {url}\n"));
    }
    std::fs::write(dir.join("tributary.yaml"), cfg).expect("config");
    std::fs::create_dir_all(dir.join("feeds")).expect("feeds");
    std::fs::create_dir_all(dir.join("content")).expect("content");
    let mut feed = String::from("title: Stream\nlimit: 50\nposts: none\nupstreams:\n");
    for s in 0..SOURCES {
        feed.push_str(&format!(
            "  - url: https://releases.example/p{s}.atom\n    name: p{s}\n    keep: all\n"
        ));
    }
    std::fs::write(dir.join("feeds/stream.yaml"), feed).expect("feed");
}

/// Fill the store with `total` items, build once (the cold build), store one
/// new item, then time the rebuild. Prints `secs\tpeak_bytes`.
fn phase(dir: &Path, total: usize) {
    let s = Site::load(dir).expect("site");
    let mut store = aggregate::open_store(&s).expect("store");
    let per = total / SOURCES;
    let now = Utc::now();
    // `BENCH_AGAIN=1` on a directory filled before: only the new item and
    // the rebuild (for a profiler).
    let again = std::env::var_os("BENCH_AGAIN").is_some();
    for src in (0..SOURCES).filter(|_| !again) {
        let key = format!("https://releases.example/p{src}.atom");
        store
            .ensure_source(&key, &format!("p{src}"))
            .expect("source");
        let items: Vec<StoredItem> = (1..=per).map(|k| item(src, k)).collect();
        for chunk in items.chunks(10_000) {
            store.put_items(&key, chunk, now).expect("put");
        }
    }
    drop(store);
    if !again {
        build::build(dir, &Options::default()).expect("cold build");
    }
    let mut store = aggregate::open_store(&s).expect("store");
    let key = "https://releases.example/p0.atom";
    let mut new = item(0, 0);
    new.entry.id = format!(
        "tag:releases.example,2026:new-{}",
        now.timestamp_nanos_opt().unwrap_or(0)
    );
    new.entry.published = now.fixed_offset() - Span::days(6);
    store.put_items(key, &[new], now).expect("put new");
    drop(store);
    reset_peak();
    let t = Instant::now();
    let built = build::build(dir, &Options::default()).expect("rebuild");
    let secs = t.elapsed().as_secs_f64();
    assert!(built.written > 0, "the new item changed nothing");
    println!("{secs}\t{}", peak_rss().unwrap_or(0));
}

/// Fill the store and build once in one child, then store one new item and
/// rebuild in another: the rebuild's peak is its own, not the filling's.
fn measure(total: usize, store: Option<&str>) -> Option<(Duration, u64)> {
    let dir = tempfile::tempdir().expect("tempdir");
    site(dir.path(), store);
    let mut out = None;
    for again in [false, true] {
        let mut cmd = Command::new(std::env::current_exe().expect("exe"));
        cmd.env("BENCH_PHASE", dir.path())
            .env("BENCH_TOTAL", total.to_string());
        if again {
            cmd.env("BENCH_AGAIN", "1");
        }
        let o = cmd.output().expect("phase");
        if !o.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&o.stderr));
            return None;
        }
        out = Some(o);
        // A store filled in one go has no planner statistics yet; a running
        // one has had autovacuum's ANALYZE long before.
        if let Some(url) = store.filter(|_| !again) {
            pg::execute(url, "VACUUM ANALYZE");
        }
    }
    let out = out?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.trim().split('\t');
    let secs: f64 = f.next()?.parse().ok()?;
    let peak: u64 = f.next()?.parse().ok()?;
    Some((Duration::from_secs_f64(secs), peak))
}

fn table(name: &str, sizes: &[usize], store: impl Fn() -> Option<String>) {
    println!("\n{name}: rebuild of a 50-entry combined feed after one new item");
    println!("{:>10}  {:>10}  {:>10}", "stored", "rebuild", "peak");
    let mut first: Option<Duration> = None;
    for &n in sizes {
        let url = store();
        match measure(n, url.as_deref()) {
            Some((t, peak)) => {
                let ratio = first.map_or(String::new(), |f| {
                    format!(
                        "  {:.2}x the smallest",
                        t.as_secs_f64() / f.as_secs_f64().max(1e-9)
                    )
                });
                first.get_or_insert(t);
                let mem = if peak >= MEMORY_TARGET {
                    "  OVER 150 MB"
                } else {
                    ""
                };
                println!(
                    "{n:>10}  {:>8.1}ms  {:>10}{ratio}{mem}",
                    t.as_secs_f64() * 1e3,
                    peak_text(Some(peak))
                );
            }
            None => println!("{n:>10}  failed"),
        }
    }
    println!("(target: at most {TARGET_RATIO}x from the smallest to 200k; peak under 150 MB)");
}

fn main() {
    if let Ok(dir) = std::env::var("BENCH_PHASE") {
        let total = std::env::var("BENCH_TOTAL")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(5000);
        phase(Path::new(&dir), total);
        return;
    }
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![5_000, 50_000, 200_000, 1_000_000]);
    table("SQLite", &sizes, || None);
    if pg::server().is_some() {
        table("PostgreSQL", &sizes, pg::database);
    } else {
        println!("\nPostgreSQL: not installed here, skipped");
    }
}
