//! The files under `deploy/`, checked without a container runtime: the
//! Dockerfile's dependency stage replayed in a temporary directory, the
//! systemd units through `systemd-analyze verify`, the Kubernetes layouts
//! through `kubectl kustomize`. Each tool that is missing is a printed skip.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Dockerfile's instructions, continuation lines joined and comments
/// dropped: (keyword, arguments).
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                let (kw, args) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((kw.to_ascii_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// Copy `src` (a file or a directory) to `dest`.
fn copy_into(src: &Path, dest: &Path) {
    if src.is_dir() {
        std::fs::create_dir_all(dest).expect("mkdir");
        for e in std::fs::read_dir(src).expect("read_dir").flatten() {
            copy_into(&e.path(), &dest.join(e.file_name()));
        }
    } else {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::copy(src, dest).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
}

/// The build stage up to its first `cargo build` (the dependency layer),
/// replayed in `dir` (the stage's WORKDIR): COPY from the build context
/// and the RUN steps, without the cargo commands themselves.
fn replay_dependency_stage(dockerfile: &str, dir: &Path) {
    let mut stages = 0;
    for (kw, args) in instructions(dockerfile) {
        match kw.as_str() {
            "FROM" => {
                stages += 1;
                assert_eq!(stages, 1, "the dependency stage ended before a cargo build");
            }
            "COPY" => {
                assert!(
                    !args.starts_with("--from"),
                    "COPY --from in the build stage"
                );
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let (dest, srcs) = words.split_last().expect("COPY SRC... DEST");
                for s in srcs {
                    let from = repo().join(s);
                    let to = if dest.ends_with('/') || srcs.len() > 1 {
                        dir.join(dest)
                            .join(Path::new(s).file_name().expect("a name"))
                    } else {
                        dir.join(dest)
                    };
                    copy_into(&from, &to);
                }
            }
            "RUN" => {
                let steps: Vec<&str> = args
                    .split(" && ")
                    .map(str::trim)
                    .filter(|s| !s.starts_with("cargo "))
                    .collect();
                let script = steps.join(" && ");
                let out = Command::new("sh")
                    .args(["-ec", &script])
                    .current_dir(dir)
                    .output()
                    .expect("run sh");
                assert!(
                    out.status.success(),
                    "RUN {script}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                if args.contains("cargo build") {
                    return;
                }
            }
            _ => {}
        }
    }
    panic!("no RUN with cargo build in the build stage");
}

/// `cargo metadata --offline --no-deps` in `dir`: each lib, bin and bench
/// target as (kind, name, source path).
fn targets(dir: &Path) -> Vec<(String, String, PathBuf)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--no-deps",
        ])
        .current_dir(dir)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    meta["packages"][0]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            (
                t["kind"][0].as_str().unwrap_or("?").to_string(),
                t["name"].as_str().unwrap_or("?").to_string(),
                PathBuf::from(t["src_path"].as_str().unwrap_or("?")),
            )
        })
        .filter(|(kind, _, _)| matches!(kind.as_str(), "lib" | "bin" | "bench"))
        .collect()
}

#[test]
fn the_dockerfile_dependency_stage_loads_the_manifest() {
    let path = repo().join("deploy/docker/Dockerfile");
    let dockerfile = std::fs::read_to_string(&path).expect("deploy/docker/Dockerfile");
    let tmp = tempfile::tempdir().expect("tempdir");
    replay_dependency_stage(&dockerfile, tmp.path());
    // `cargo metadata` leaves out a declared target whose file is missing,
    // where `cargo build` stops (``can't find `load` bench``): every target
    // of the real manifest must be there, its file stubbed.
    let stubbed = targets(tmp.path());
    let wanted = targets(&repo());
    assert!(wanted.len() >= 3, "{wanted:?}");
    for (kind, name, real) in &wanted {
        let rel = real.strip_prefix(repo()).unwrap_or(real);
        assert!(
            stubbed
                .iter()
                .any(|(k, n, p)| k == kind && n == name && p.is_file()),
            "the Dockerfile's dependency stage has no {} for the {kind} target {name:?}: cargo build fails there",
            rel.display()
        );
    }
}

/// Whether `tool` runs at all (`tool ARGS`); else the reason to skip.
fn tool(tool: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(tool).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("`{tool}` does not run ({})", o.status)),
        Err(e) => Err(format!("no `{tool}` ({e})")),
    }
}

#[test]
fn systemd_units_verify() {
    if let Err(why) = tool("systemd-analyze", &["--version"]) {
        eprintln!("skipped: {why}");
        return;
    }
    // The units name the installed binary; the test's own build stands in.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = repo().join("deploy/systemd");
    let mut units = Vec::new();
    for e in std::fs::read_dir(&dir).expect("deploy/systemd").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).expect("read unit");
        std::fs::write(
            tmp.path().join(&name),
            text.replace("/usr/local/bin/tributary", env!("CARGO_BIN_EXE_tributary")),
        )
        .expect("write unit");
        if name.ends_with(".service") || name.ends_with(".timer") {
            units.push(tmp.path().join(&name));
        }
    }
    assert!(units.len() >= 3, "{units:?}");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("run systemd-analyze");
    assert!(
        out.status.success(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubernetes_layouts_build_with_kustomize() {
    if let Err(why) = tool("kubectl", &["version", "--client"]) {
        eprintln!("skipped: {why}");
        return;
    }
    for layout in ["deploy/kubernetes", "deploy/kubernetes/replicated"] {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(repo().join(layout))
            .output()
            .expect("run kubectl kustomize");
        assert!(
            out.status.success(),
            "kubectl kustomize {layout}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = String::from_utf8_lossy(&out.stdout);
        for kind in ["kind: Deployment", "kind: Service"] {
            assert!(yaml.contains(kind), "{layout} has no {kind}");
        }
    }
}
