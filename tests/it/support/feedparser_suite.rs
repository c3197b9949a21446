//! Where feedparser's well-formed suite and its runner are (`../shared`),
//! and running the runner on the test binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared/tools/feedparser-suite/run.py` and `../shared/corpus/feedparser-tests`,
/// or why they cannot be used here.
pub fn runner() -> Result<PathBuf, String> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let run = shared.join("tools/feedparser-suite/run.py");
    let suite = shared.join("corpus/feedparser-tests/tests/wellformed");
    if !run.is_file() || !suite.is_dir() {
        return Err(format!(
            "no feedparser suite: {} or {} is missing",
            run.display(),
            suite.display()
        ));
    }
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(run),
        _ => Err("no python3 to run the feedparser suite".into()),
    }
}

/// The runner's source: what it maps from `--jsonl`.
pub fn runner_source(run: &Path) -> String {
    std::fs::read_to_string(run).unwrap_or_default()
}

/// Run the suite on `binary` with `--json --min-pass-rate <min>`; the exit
/// code and the JSON summary it prints.
pub fn run(run: &Path, binary: &Path, min: f64) -> (Option<i32>, serde_json::Value, String) {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new("python3")
        .arg(run)
        .arg("--tributary")
        .arg(binary)
        .args(["--feedparser", "none", "--json", "--min-pass-rate"])
        .arg(min.to_string())
        .arg("--out-dir")
        .arg(out_dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), summary, stderr)
}
