//! The upstream corpus (../shared/corpus/upstream): no panics, agreement with feedparser and feed-rs.
//!
//! Runs the real binary (`tributary parse --jsonl`) over every data file, the
//! way `compare_refs.py` expects (corpus dir as working directory, relative
//! paths), then scores the output against both references.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The real-world sources of the corpus README (Atom 0.3 excluded by format).
const REAL_WORLD: &str = "simplepie-ng/tests/Integration,simplepie-ng/tests/__unsorted__/nokogiri,\
rsparser,feedjira,rss-parser-js,node-feedparser,rss-funnel,github-releases,miniflux,feed-rs,simplepie/";

/// Floors on real-world sources: measured minus a small margin.
/// (reference, field, floor)
const FLOORS: &[(&str, &str, f64)] = &[
    // measured 98.8 / 98.6 / 100.0 / 99.0 / 100.0 / 99.2 / 100.0 / 97.6
    ("feedparser", "entry.id", 0.975),
    ("feedparser", "entry.title~loose", 0.975),
    ("feedparser", "entry.link~loose", 0.985),
    ("feedparser", "entry.date~effective", 0.98),
    ("feedparser", "entry.count", 0.985),
    ("feedparser", "feed.title~loose", 0.975),
    ("feedparser", "feed.link~loose", 0.985),
    ("feedparser", "feed.id", 0.96),
    // measured 100.0 / 98.6 / 99.4 / 98.7 / 97.4: feed-rs refuses what we read
    ("feed-rs", "entry.id", 0.985),
    ("feed-rs", "entry.title~loose", 0.975),
    ("feed-rs", "entry.link~loose", 0.98),
    ("feed-rs", "entry.date~effective", 0.975),
    ("feed-rs", "entry.count", 0.96),
];

/// Every file inside a sub-folder of the corpus, by path in byte order.
fn data_files(root: &Path) -> Vec<String> {
    crate::support::site::list_files(root)
        .into_iter()
        .filter(|f| f.contains('/'))
        .collect()
}

fn produced_feed(v: &serde_json::Value) -> bool {
    v.get("error").is_none()
        && (!v["format"].is_null() || v["entries"].as_array().is_some_and(|e| !e.is_empty()))
}

#[test]
fn upstream_corpus_parses_and_agrees_with_references() {
    let corpus: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/upstream");
    if !corpus.is_dir() {
        println!("skipped: ../shared/corpus/upstream not found");
        return;
    }
    let files = data_files(&corpus);
    assert!(files.len() > 2000, "{} data files", files.len());
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .current_dir(&corpus)
        .arg("parse")
        .arg("--jsonl")
        .args(&files)
        .output()
        .expect("run tributary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), files.len(), "one line per file");
    let mut accepted_not_feeds = Vec::new();
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"].as_str(), Some(file.as_str()));
        if file.starts_with("not-feeds/") && produced_feed(line) {
            accepted_not_feeds.push(file.clone());
        }
    }
    assert!(
        accepted_not_feeds.len() <= 1,
        "not-feeds read as feeds: {accepted_not_feeds:?}"
    );
    let produced = lines.iter().filter(|l| produced_feed(l)).count();
    println!("{produced} of {} files read as feeds", files.len());

    if Command::new("python3").arg("--version").output().is_err() {
        println!("python3 not found: agreement not measured");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cand = dir.path().join("tributary.jsonl");
    std::fs::write(&cand, &stdout).expect("write candidate");
    let mut failures = Vec::new();
    for reference in ["feedparser", "feed-rs"] {
        for (scope, extra) in [
            ("all files", vec![]),
            (
                "real-world",
                vec!["--exclude-format", "atom03", "--prefix", REAL_WORLD],
            ),
        ] {
            let out = Command::new("python3")
                .current_dir(&corpus)
                .arg("compare_refs.py")
                .arg(format!("{reference}.reference.jsonl"))
                .arg(&cand)
                .arg("--json")
                .args(&extra)
                .output()
                .expect("run compare_refs.py");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("compare_refs JSON");
            let all = &report["fields"]["ALL"];
            println!("against {reference}, {scope}: files {}", report["files"]);
            if let Some(fields) = all.as_object() {
                for (field, t) in fields {
                    if let Some(rate) = t["rate"].as_f64() {
                        println!(
                            "  {field:22} {:6.1}% ({}/{})",
                            rate * 100.0,
                            t["agree"],
                            t["compared"]
                        );
                    }
                }
            }
            if scope != "real-world" {
                continue;
            }
            for (r, field, floor) in FLOORS {
                if *r != reference {
                    continue;
                }
                let rate = all[field]["rate"].as_f64().unwrap_or(0.0);
                if rate < *floor {
                    failures.push(format!("{reference} {field}: {rate:.4} < {floor}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "below the floors: {failures:#?}");
}
