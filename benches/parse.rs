//! Upstream parser throughput: every file of the shared upstream corpus
//! (`../shared/corpus/upstream`, 2,522 files) parsed by tributary's
//! `parse_upstream` and by the feed-rs crate, in the same run, from the same
//! bytes in memory (reading the files is not timed). Each parser's time is
//! the best of several rounds (the machine's other load is noise, not cost);
//! peak memory is the high-water mark of its first round.
//!
//! Run with `cargo bench --bench parse`; prints the figures and whether
//! tributary is at least as fast (issue 22); exits 0 whatever the figures,
//! and skips with a reason when the corpus is not there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod support;
use support::{mb, peak_text, reset_peak};

const ROUNDS: usize = 15;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("TRIBUTARY_UPSTREAM_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/upstream")
        });
    dir.is_dir().then_some(dir)
}

/// What one parser made of the corpus: documents read, refused, entries.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    feeds: usize,
    refused: usize,
    entries: usize,
    panics: usize,
}

fn tributary(docs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for d in docs {
        match tributary::parse::parse_upstream(d, None) {
            Ok(f) => {
                t.feeds += 1;
                t.entries += f.items.len();
            }
            Err(_) => t.refused += 1,
        }
    }
    t
}

/// As [`tributary`], and every item's HTML sanitized as a fetch stores it
/// (ammonia): work feed-rs (built without its `sanitize` feature) never does.
fn tributary_sanitized(docs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for d in docs {
        match tributary::parse::parse_upstream(d, None) {
            Ok(f) => {
                t.feeds += 1;
                t.entries += f.items.len();
                for it in &f.items {
                    std::hint::black_box((it.summary(), it.content()));
                }
            }
            Err(_) => t.refused += 1,
        }
    }
    t
}

fn feed_rs(docs: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    for d in docs {
        // feed-rs panics on some corpus files: counted as refused.
        match std::panic::catch_unwind(|| feed_rs::parser::parse(d.as_slice())) {
            Ok(Ok(f)) => {
                t.feeds += 1;
                t.entries += f.entries.len();
            }
            Ok(Err(_)) => t.refused += 1,
            Err(_) => {
                t.refused += 1;
                t.panics += 1;
            }
        }
    }
    t
}

/// Best time of `rounds` runs and the peak RSS of the first.
fn measure(
    docs: &[Vec<u8>],
    f: fn(&[Vec<u8>]) -> Tally,
    rounds: usize,
) -> (Duration, Option<u64>, Tally) {
    reset_peak();
    let t0 = Instant::now();
    let tally = std::hint::black_box(f(docs));
    let mut best = t0.elapsed();
    let peak = support::peak_rss();
    for _ in 1..rounds {
        let t = Instant::now();
        std::hint::black_box(f(docs));
        best = best.min(t.elapsed());
    }
    (best, peak, tally)
}

fn main() {
    let Some(dir) = corpus() else {
        println!("parse bench: skipped: no upstream corpus at ../shared/corpus/upstream (set TRIBUTARY_UPSTREAM_CORPUS)");
        return;
    };
    let inputs = tributary::parse::jsonl::inputs(std::slice::from_ref(&dir));
    let docs: Vec<Vec<u8>> = inputs
        .iter()
        .filter_map(|i| std::fs::read(&i.path).ok())
        .collect();
    let bytes: usize = docs.iter().map(Vec::len).sum();
    println!(
        "parse bench: {} files, {} from {}; best of {ROUNDS} rounds, one thread",
        docs.len(),
        mb(bytes as u64),
        dir.display()
    );
    let base = support::current_rss();
    // feed-rs's panics are counted, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    // Peaks and tallies from one run each; then the times from rounds that
    // alternate the two parsers, so that a burst of load elsewhere on the
    // machine does not land on one of them only.
    let (_, fp, ftally) = measure(&docs, feed_rs, 1);
    let (_, tp, ttally) = measure(&docs, tributary, 1);
    let (mut tt, mut ft) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        tt = tt.min(measure(&docs, tributary, 1).0);
        ft = ft.min(measure(&docs, feed_rs, 1).0);
    }
    let (st, sp, _) = measure(&docs, tributary_sanitized, 3);
    let extra = |p: Option<u64>| {
        p.zip(base)
            .map(|(p, b)| format!(" (+{} over the loaded corpus)", mb(p.saturating_sub(b))))
            .unwrap_or_default()
    };
    println!(
        "  tributary  {:>8.3} s  {:>7.1} MB/s  peak {}{}  feeds {} refused {} entries {}",
        tt.as_secs_f64(),
        bytes as f64 / 1048576.0 / tt.as_secs_f64(),
        peak_text(tp),
        extra(tp),
        ttally.feeds,
        ttally.refused,
        ttally.entries
    );
    assert_eq!(ttally.panics, 0);
    println!(
        "  feed-rs    {:>8.3} s  {:>7.1} MB/s  peak {}{}  feeds {} refused {} (panics {}) entries {}",
        ft.as_secs_f64(),
        bytes as f64 / 1048576.0 / ft.as_secs_f64(),
        peak_text(fp),
        extra(fp),
        ftally.feeds,
        ftally.refused,
        ftally.panics,
        ftally.entries
    );
    println!(
        "  (tributary with every item's HTML sanitized too, as a fetch stores it: {:.3} s, peak {})",
        st.as_secs_f64(),
        peak_text(sp)
    );
    let ratio = tt.as_secs_f64() / ft.as_secs_f64();
    println!(
        "  tributary / feed-rs time: {ratio:.2}x ({})",
        if ratio <= 1.0 {
            "tributary at least as fast: target met"
        } else {
            "tributary slower: target missed"
        }
    );
}
