//! Build benchmark: generates an LWKD-style site (10,000 posts of ~6 KB by
//! default; override with `BENCH_POSTS`) and times, in process, a cold build,
//! a no-change rebuild and a rebuild after one post changed, with the peak
//! RSS of each phase (Linux: `/proc/self/clear_refs` + `VmHWM`).
//!
//! Run with `cargo bench --bench build`; exits 0 whatever the figures.
//! Environment:
//! - `BENCH_POSTS=N`: number of posts (default 10000); e.g. 300 for a smoke run.
//! - `BENCH_REBUILDS=N`: number of no-change rebuilds (default 5).
//! - `BENCH_BREAKDOWN=1`: afterwards, time a cold build stage by stage.
//! - `BENCH_KEEP=1`: keep the generated site (its path is printed) for profiling.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use tributary::app::build::{self, Options, Report};

mod support;
use support::{current_rss, mb, peak_rss, peak_text, reset_peak};

const DEFAULT_POSTS: usize = 10_000;
const FULL_TARGET: Duration = Duration::from_secs(1);
const NO_CHANGE_TARGET: Duration = Duration::from_millis(200);
const DEFAULT_REBUILDS: usize = 5;

const SITE_YAML: &str = "title: Bench Weekly
description: Benchmark site
base_url: https://bench.example.org
language: en
author:
  name: Bench
permalink: /:year/:year:month:day
";

const FEED_YAML: &str = "title: Everything\nlimit: all\n";

/// A tiny deterministic generator (64-bit LCG); no `rand` needed.
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Self {
        Lcg(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x2545_F491_4F6C_DD1D))
    }

    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SECTIONS: &[&str] = &[
    "Developer News",
    "Release Schedule",
    "Featured PRs",
    "KEP of the Week",
    "Other Merges",
    "Promotions",
    "Deprecated",
    "Version Updates",
    "Subprojects and Dependency Updates",
];

const SUBJECTS: &[&str] = &[
    "SIG Node",
    "SIG API Machinery",
    "SIG Storage",
    "SIG Network",
    "SIG Scheduling",
    "SIG Auth",
    "SIG Release",
    "SIG Testing",
    "The steering committee",
    "WG Device Management",
];

const VERBS: &[&str] = &[
    "is looking for reviewers for",
    "has merged",
    "wants feedback on",
    "reverted",
    "finally landed",
    "is proposing",
    "has graduated",
    "deprecated",
];

const THINGS: &[&str] = &[
    "the new pod lifecycle hooks",
    "in-place pod resize",
    "structured authentication config",
    "the kubelet image credential provider",
    "CEL admission policies",
    "sidecar containers",
    "dynamic resource allocation",
    "the scheduler queueing hints",
    "service account token projection",
    "volume group snapshots",
];

const CODE: &[&str] = &[
    "kubectl debug",
    "--feature-gates",
    "PodSchedulingReadiness",
    "kube-proxy --proxy-mode=nftables",
    "spec.containers[*].resizePolicy",
    "ValidatingAdmissionPolicy",
    "kubeadm upgrade apply",
    "k8s.io/apimachinery",
    "go 1.23",
    "/healthz",
];

const FILLER: &[&str] = &[
    "This should make life easier for cluster operators who have been waiting on it for several releases.",
    "Contributors are asked to test it on their own clusters and report any regressions before code freeze.",
    "The discussion on the mailing list is worth reading if you maintain a controller that depends on this behaviour.",
    "Expect follow-up work in the next cycle as the remaining edge cases are resolved.",
    "Thanks to everyone who reviewed the many iterations of this change over the past months.",
    "If your tests relied on the old ordering you will need to update them.",
];

fn link(rng: &mut Lcg, text: &str) -> String {
    format!(
        "[{text}](https://github.com/kubernetes/kubernetes/pull/{})",
        100_000 + rng.below(30_000)
    )
}

fn paragraph(rng: &mut Lcg, out: &mut String) {
    let sentences = 2 + rng.below(3);
    for s in 0..sentences {
        if s > 0 {
            out.push(' ');
        }
        let subject = rng.pick(SUBJECTS);
        let verb = rng.pick(VERBS);
        let thing = rng.pick(THINGS);
        let linked = link(rng, thing);
        let _ = write!(out, "{subject} {verb} {linked}");
        if rng.below(2) == 0 {
            let _ = write!(out, ", which touches `{}`", rng.pick(CODE));
        }
        out.push_str(". ");
        out.push_str(rng.pick(FILLER));
    }
    out.push_str("\n\n");
}

fn bullets(rng: &mut Lcg, out: &mut String) {
    let n = 3 + rng.below(5);
    for _ in 0..n {
        let thing = rng.pick(THINGS);
        let linked = link(rng, thing);
        let _ = write!(out, "- {linked}");
        if rng.below(3) == 0 {
            let _ = write!(out, ": use `{}` instead", rng.pick(CODE));
        }
        let _ = writeln!(out, " ({})", rng.pick(SUBJECTS));
    }
    out.push('\n');
}

/// One post's full text: LWKD front matter plus a ~6 KB newsletter body.
fn post_text(index: usize, week_ending: NaiveDate, target: usize) -> String {
    let mut rng = Lcg::new(index as u64);
    let published = week_ending + Days::days(4);
    // The permalink of last week's issue, which was published four days after its week ended.
    let prev = week_ending - Days::days(7) + Days::days(4);
    let mut out = String::with_capacity(target + 1024);
    let _ = write!(
        out,
        "---\nlayout: post\ntitle: Week Ending {}\ndate: {} 22:00:00 -0000\nslug: {}-update\n---\n\n",
        week_ending.format("%B %-d, %Y"),
        published.format("%Y-%m-%d"),
        week_ending.format("%Y-%m-%d"),
    );
    let _ = write!(
        out,
        "Stay up to date with the latest in Kubernetes development, picking up where \
         [last week]({}) left off. Issue #{index}.\n\n",
        prev.format("/%Y/%Y%m%d")
    );
    // Later sections: anything but "Developer News" (SECTIONS[0]).
    let later = &SECTIONS[1..];
    let mut s = rng.below(later.len());
    // "Developer News" always comes first, like the real newsletter.
    out.push_str("## Developer News\n\n");
    paragraph(&mut rng, &mut out);
    while out.len() < target {
        s = (s + 1 + rng.below(2)) % later.len();
        let _ = write!(out, "## {}\n\n", later[s]);
        for _ in 0..1 + rng.below(2) {
            paragraph(&mut rng, &mut out);
        }
        if rng.below(3) != 0 {
            bullets(&mut rng, &mut out);
        }
    }
    out
}

/// Writes the site; returns the bytes of content written.
fn generate(root: &Path, posts: usize) -> std::io::Result<u64> {
    std::fs::create_dir_all(root.join("content"))?;
    std::fs::create_dir_all(root.join("feeds"))?;
    std::fs::write(root.join("tributary.yaml"), SITE_YAML)?;
    std::fs::write(root.join("feeds/all.yaml"), FEED_YAML)?;
    let newest = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let mut total = 0u64;
    for i in 0..posts {
        let day = newest - Days::days(i as i64);
        // ~6 KB, varied by a few hundred bytes either way.
        let target = 5_000 + (i * 37) % 800;
        let text = post_text(i, day, target);
        let name = format!("content/{}-update.md", day.format("%Y-%m-%d"));
        std::fs::write(root.join(name), &text)?;
        total += text.len() as u64;
    }
    Ok(total)
}

fn dir_bytes(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if let Ok(m) = e.metadata() {
                bytes += m.len();
                files += 1;
            }
        }
    }
    (bytes, files)
}

struct Phase {
    time: Duration,
    /// RSS when the phase started (memory the allocator kept from earlier phases).
    start_rss: Option<u64>,
    peak: Option<u64>,
    report: Report,
}

fn run(root: &Path) -> Phase {
    reset_peak();
    let start_rss = current_rss();
    let start = Instant::now();
    let report = match build::build(root, &Options::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("build failed: {e}");
            std::process::exit(1);
        }
    };
    let time = start.elapsed();
    Phase {
        time,
        start_rss,
        peak: peak_rss(),
        report,
    }
}

/// With `BENCH_BREAKDOWN=1`: a cold build again, stage by stage, through the
/// public pipeline functions (into a separate output dir), to show where the
/// time goes. Mirrors `build::build` without the manifest.
fn breakdown(root: &Path) {
    let opts = Options::default();
    let mut t = Instant::now();
    let mut lap = |what: &str| {
        println!("  {what:<34} {:>8.3} s", t.elapsed().as_secs_f64());
        t = Instant::now();
    };
    let site = tributary::site::Site::load(root).expect("load site");
    lap("load site config");
    let loaded = build::load_posts(&site).expect("load posts");
    lap("read + parse posts (2 threads)");
    let mut ledger = build::load_ledger(root).expect("load ledger");
    lap("load ledger");
    let mut plan = build::plan(
        &site,
        &loaded.posts,
        &mut ledger,
        &tributary::app::aggregate::Upstream::default(),
        &opts,
    )
    .expect("plan");
    lap("plan (entries, docs, fingerprints)");
    let posts = &loaded.posts;
    let all: Vec<usize> = (0..plan.docs.len()).collect();
    build::render_bodies(&mut plan, posts, &all);
    lap("render Markdown (2 threads)");
    let mut docs = Vec::new();
    for d in 0..plan.docs.len() {
        let bytes = build::render_docs(&mut plan, posts, &[d])
            .expect("emit")
            .into_iter()
            .next()
            .unwrap_or_default();
        let doc = &plan.docs[d];
        lap(&format!("emit {} ({})", doc.path, mb(bytes.len() as u64)));
        docs.push((doc.path.clone(), bytes));
    }
    let out = root.join("breakdown");
    for (path, bytes) in &docs {
        let dest = out.join(path);
        tributary::util::write::stage(&dest, bytes)
            .and_then(|s| s.commit())
            .expect("write");
    }
    lap("write (stage + fsync + rename)");
    for (path, bytes) in &docs {
        std::fs::write(out.join(format!("{path}.plain")), bytes).expect("write");
    }
    lap("for comparison: plain fs::write");
    let text = ledger.to_text();
    lap(&format!("ledger to text ({})", mb(text.len() as u64)));
    drop(docs);
    drop(plan);
    drop(loaded);
    lap("free documents, entries, posts");
}

fn line(name: &str, p: &Phase) {
    println!(
        "{name:<22} {:>8.3} s   peak RSS {:>9} (at start {:>9})   {} posts, {} entries, {} documents: {} written, {} unchanged",
        p.time.as_secs_f64(),
        peak_text(p.peak),
        peak_text(p.start_rss),
        p.report.posts_read,
        p.report.entries,
        p.report.documents,
        p.report.written,
        p.report.unchanged,
    );
}

fn verdict(time: Duration, target: Duration) -> &'static str {
    if time < target {
        "PASS"
    } else {
        "MISS"
    }
}

/// A positive count from the environment, or `default`.
/// The peer, in the same run: Hugo reading the same `content/` (the same
/// YAML front matter and Markdown) and writing its RSS feed, its sitemap
/// and, without a theme, no HTML pages: the least it can do for these
/// posts. Cold (no `resources/` cache), best of two. Skipped when `hugo`
/// is not on the PATH.
fn hugo_peer(root: &Path) {
    let version = std::process::Command::new("hugo").arg("version").output();
    let Some(version) = version.ok().filter(|o| o.status.success()) else {
        println!("hugo: not on the PATH, no peer figure");
        return;
    };
    let config = "baseURL = 'https://bench.example.org/'\ntitle = 'Bench Weekly'\n\
                  disableKinds = ['taxonomy', 'term']\n[services.rss]\nlimit = -1\n";
    std::fs::write(root.join("hugo.toml"), config).expect("write hugo.toml");
    let mut best: Option<Duration> = None;
    for _ in 0..2 {
        let dest = root.join("hugo-public");
        let _ = std::fs::remove_dir_all(&dest);
        let start = Instant::now();
        let out = std::process::Command::new("hugo")
            .arg("--source")
            .arg(root)
            .arg("--destination")
            .arg(&dest)
            .args(["--quiet", "--noBuildLock"])
            .output()
            .expect("run hugo");
        let took = start.elapsed();
        if !out.status.success() {
            println!(
                "hugo failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        best = Some(best.map_or(took, |b| b.min(took)));
    }
    let rss = std::fs::metadata(root.join("hugo-public/index.xml")).map_or(0, |m| m.len());
    println!(
        "hugo (same posts, RSS only, {}): {:.3} s best of 2, index.xml {}",
        String::from_utf8_lossy(&version.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap_or("?"),
        best.unwrap_or_default().as_secs_f64(),
        mb(rss)
    );
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let posts = env_count("BENCH_POSTS", DEFAULT_POSTS);
    let rebuilds = env_count("BENCH_REBUILDS", DEFAULT_REBUILDS);

    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    print!("generating {posts} posts in {} ... ", root.display());
    let _ = std::io::stdout().flush();
    let gen_start = Instant::now();
    let content_bytes = generate(root, posts).expect("generate site");
    println!(
        "{:.2} s, {} of content",
        gen_start.elapsed().as_secs_f64(),
        mb(content_bytes)
    );
    let baseline = peak_rss();

    let full = run(root);
    let (out_bytes, out_files) = dir_bytes(&root.join("public"));

    let no_change: Vec<Phase> = (0..rebuilds).map(|_| run(root)).collect();

    // Touch one post in the middle of the archive: append a line to its body.
    let touched =
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date") - Days::days((posts / 2) as i64);
    let touched = root.join(format!("content/{}-update.md", touched.format("%Y-%m-%d")));
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&touched)
            .expect("open post to touch");
        writeln!(f, "\nOne more thing: [a late addition](https://github.com/kubernetes/kubernetes/pull/99999).")
            .expect("append to post");
    }
    let one_changed = run(root);

    println!();
    println!(
        "posts: {posts}, content {}, output {} in {out_files} files under public/",
        mb(content_bytes),
        mb(out_bytes)
    );
    if let Some(w) = full.report.warnings.first() {
        println!(
            "note: the build reported {} warnings, e.g. {w}",
            full.report.warnings.len()
        );
    }
    if let Some(b) = baseline {
        println!("peak RSS after generating (before building): {}", mb(b));
    }
    println!();
    line("full build", &full);
    for (i, p) in no_change.iter().enumerate() {
        line(&format!("no-change rebuild #{}", i + 1), p);
    }
    line("one post changed", &one_changed);

    let mut times: Vec<Duration> = no_change.iter().map(|p| p.time).collect();
    times.sort();
    let min = times[0];
    // The upper median for an even count.
    let median = times[times.len() / 2];
    let max_peak = no_change.iter().filter_map(|p| p.peak).max();
    println!();
    println!(
        "full build:        {:.3} s, peak RSS {}, {} documents written   target < {:.1} s: {}",
        full.time.as_secs_f64(),
        peak_text(full.peak),
        full.report.written,
        FULL_TARGET.as_secs_f64(),
        verdict(full.time, FULL_TARGET)
    );
    println!(
        "no-change rebuild: min {:.3} s, median {:.3} s ({rebuilds} runs), peak RSS {}, {} written   target < {:.1} s: {}",
        min.as_secs_f64(),
        median.as_secs_f64(),
        peak_text(max_peak),
        no_change[0].report.written,
        NO_CHANGE_TARGET.as_secs_f64(),
        verdict(median, NO_CHANGE_TARGET)
    );
    println!(
        "one post changed:  {:.3} s, peak RSS {}, {} documents written",
        one_changed.time.as_secs_f64(),
        peak_text(one_changed.peak),
        one_changed.report.written
    );
    println!("(targets are informational; MISS does not fail the run)");
    hugo_peer(root);

    if env_flag("BENCH_BREAKDOWN") {
        println!();
        println!("cold build, stage by stage (BENCH_BREAKDOWN):");
        breakdown(root);
    }
    if env_flag("BENCH_KEEP") {
        let kept = tmp.keep();
        println!("site kept in {}", kept.display());
    }
}
