//! Hostile-input benchmark: how the cost of one upstream item and of one
//! post's front matter grows with their nesting. Each shape is parsed at
//! 20k, 80k and 320k levels (4x steps): linear code takes ~4x the time per
//! step; the target is at most ~6x per step, and 320k levels in under 1 s.
//!
//! Run with `cargo bench --bench hostile`; exits 0 whatever the figures.

use std::path::Path;
use std::time::{Duration, Instant};

use tributary::content::{parse_post, LoadOptions};
use tributary::parse::parse_upstream;

mod support;
use support::{peak_text, reset_peak};

const LEVELS: [usize; 3] = [20_000, 80_000, 320_000];
const TARGET: Duration = Duration::from_secs(1);

/// One RSS item whose description (escaped HTML) is `open` x `n`.
fn nested_item(open: &str, n: usize) -> Vec<u8> {
    let markup = open.repeat(n);
    let escaped = markup
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
         <link>https://example.org/</link><description>d</description>\
         <item><title>deep</title><link>https://example.org/1</link>\
         <description>{escaped}</description></item></channel></rss>"
    )
    .into_bytes()
}

/// A post whose front matter nests a flow sequence `n` deep.
fn nested_front_matter(n: usize) -> Vec<u8> {
    format!(
        "---\ntitle: deep\ndate: 2026-01-01\ntags: {}{}\n---\nbody\n",
        "[".repeat(n),
        "]".repeat(n)
    )
    .into_bytes()
}

/// The best of three runs (the machine's other load is noise, not cost),
/// and the peak memory of the first.
fn time(f: impl Fn()) -> (Duration, Option<u64>) {
    reset_peak();
    let t = Instant::now();
    f();
    let mut best = t.elapsed();
    let peak = support::peak_rss();
    for _ in 0..2 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    (best, peak)
}

fn report(name: &str, times: &[(usize, Duration, Option<u64>)]) -> bool {
    let mut ok = true;
    for (i, (n, t, peak)) in times.iter().enumerate() {
        let step = match i {
            0 => String::new(),
            _ => {
                let prev = times[i - 1].1.as_secs_f64().max(1e-6);
                let ratio = t.as_secs_f64() / prev;
                // Below a few milliseconds the ratio is noise, not growth.
                if ratio > 6.0 && t.as_millis() > 20 {
                    ok = false;
                }
                format!("  x{ratio:.1} for x4 levels")
            }
        };
        println!(
            "{name:<28} {n:>7} levels  {:>9.1} ms  peak {}{step}",
            t.as_secs_f64() * 1e3,
            peak_text(*peak)
        );
    }
    let last = times.last().map(|x| x.1).unwrap_or_default();
    ok && last < TARGET
}

fn main() {
    let base = url::Url::parse("https://example.org/feed.xml").expect("static URL");
    let mut all_ok = true;
    for (name, open) in [
        ("<div> nested", "<div>"),
        ("<b> unclosed", "<b>"),
        ("<table><tr><td>", "<table><tr><td>"),
        ("<div></p> (stray ends)", "<div></p>"),
    ] {
        let mut times = Vec::new();
        for n in LEVELS {
            let doc = nested_item(open, n);
            let (t, peak) = time(|| {
                let feed = parse_upstream(&doc, Some(&base)).expect("parsed");
                assert_eq!(feed.items.len(), 1);
                // The HTML is sanitized when it is used: time that too.
                assert!(feed.items[0].summary().is_some());
            });
            times.push((n, t, peak));
        }
        all_ok &= report(name, &times);
    }
    let mut times = Vec::new();
    for n in LEVELS {
        let post = nested_front_matter(n);
        let opts = LoadOptions {
            timezone: chrono_tz::UTC,
            hugo: None,
            jekyll: false,
        };
        let (t, peak) = time(|| {
            let _ = parse_post(&post, Path::new("content/2026-01-01-deep.md"), opts);
        });
        times.push((n, t, peak));
    }
    all_ok &= report("front matter [[[...]]]", &times);
    println!(
        "{}",
        if all_ok {
            "ok: every shape grows at most ~6x per 4x nesting, 320k levels under 1 s"
        } else {
            "SLOW: a shape grows faster than ~6x per 4x nesting, or 320k levels took 1 s or more"
        }
    );
}
