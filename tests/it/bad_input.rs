//! Hostile local input: posts a build must refuse or survive. Each is
//! reported naming the file (and line where there is one), `--keep-going`
//! publishes the other posts, and the run stays fast and small.

use crate::support::site::{items, post_text, Run, Site};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Wall time and peak RSS (when `/usr/bin/time` can tell) a run may use.
const MAX_WALL: Duration = Duration::from_secs(5);
const MAX_RSS_KB: u64 = 200 * 1024;

/// A run of the binary with its wall time and peak RSS in kB.
struct Measured {
    run: Run,
    wall: Duration,
    max_rss_kb: Option<u64>,
}

/// `tributary -C SITE ARGS...`, under `/usr/bin/time -v` when present.
fn measured(site: &Site, args: &[&str]) -> Measured {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-v").arg(env!("CARGO_BIN_EXE_tributary"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_tributary"))
    };
    cmd.current_dir(site.cwd())
        .arg("-C")
        .arg(site.root())
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    let t = Instant::now();
    let mut run = crate::support::site::run_command(cmd);
    let wall = t.elapsed();
    let max_rss_kb = run
        .stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.trim().parse().ok());
    if time.exists() {
        // `time -v` appends its report; keep only the program's lines.
        if let Some(i) = run.stderr.find("\tCommand being timed:") {
            run.stderr.truncate(i);
        }
        run.stderr = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("Command exited with non-zero status"))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    Measured {
        run,
        wall,
        max_rss_kb,
    }
}

/// A site with two good posts; returns it and their titles.
fn site_with_good_posts() -> Site {
    let site = Site::basic();
    site.post(
        "2024-01-01-good-one.md",
        post_text("title: Good one", "Hello.\n"),
    );
    site.post(
        "2024-01-02-good-two.md",
        post_text("title: Good two", "Hello again.\n"),
    );
    site
}

/// Titles in `public/main.json`.
fn titles(site: &Site) -> Vec<String> {
    let mut out: Vec<String> = items(&site.json("main.json"))
        .iter()
        .filter_map(|i| i["title"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

#[track_caller]
fn within_bounds(m: &Measured, what: &str) {
    assert!(m.wall < MAX_WALL, "{what} took {:?}", m.wall);
    if Path::new("/usr/bin/time").exists() {
        assert!(m.max_rss_kb.is_some(), "no peak RSS in {}", m.run.stderr);
    }
    if let Some(kb) = m.max_rss_kb {
        assert!(kb < MAX_RSS_KB, "{what} peaked at {kb} kB");
    }
}

/// The bad post `name` is an error: `build` fails naming it (`needle` is the
/// start of its message line, `content/NAME[:LINE]: ...`) and writes nothing;
/// `--keep-going` publishes the good posts; `check` names it too.
#[track_caller]
fn refused(site: &Site, needle: &str, message: &str) {
    let m = measured(site, &["build"]);
    within_bounds(&m, "build");
    m.run.expect_code(1);
    let line = m
        .run
        .stderr
        .lines()
        .find(|l| l.starts_with(needle))
        .unwrap_or_else(|| panic!("no line starting {needle:?} in:\n{}", m.run.stderr));
    assert!(line.contains(message), "{line:?} should say {message:?}");
    assert!(
        !site.public().join("main.json").exists(),
        "a failed build wrote feeds"
    );

    let m = measured(site, &["build", "--keep-going"]);
    within_bounds(&m, "build --keep-going");
    m.run.expect_success().stderr_has(needle);
    site.assert_all_valid();
    assert_eq!(titles(site), ["Good one", "Good two"]);

    let m = measured(site, &["check"]);
    within_bounds(&m, "check");
    m.run.expect_code(1).stderr_has(needle);
}

#[test]
fn invalid_utf8_is_refused_with_its_line() {
    let site = site_with_good_posts();
    site.post(
        "2024-02-01-latin1.md",
        b"---\ntitle: Caf\xc3\xa9\n---\nfirst line\nna\xefve latin-1\n".as_slice(),
    );
    refused(
        &site,
        "content/2024-02-01-latin1.md:5: ",
        "is not valid UTF-8",
    );
}

#[test]
fn a_100_mb_post_is_refused_without_being_read() {
    let site = site_with_good_posts();
    site.post("2024-02-02-huge.md", post_text("title: Huge", "x\n"));
    // Sparse: 100 MB on paper, no time or disk spent writing it.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(site.root().join("content/2024-02-02-huge.md"))
        .expect("open");
    f.set_len(100 * 1024 * 1024).expect("set_len");
    refused(
        &site,
        "content/2024-02-02-huge.md: ",
        "is 104857600 bytes; posts larger than 16777216 bytes are refused",
    );
}

#[test]
fn a_front_matter_alias_bomb_is_refused() {
    let site = site_with_good_posts();
    // 9 levels of 9 aliases each: 9^9 (387 million) nodes if expanded.
    let mut fm = String::from("title: Bomb\na: &a [x,x,x,x,x,x,x,x,x]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        fm.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    site.post("2024-02-03-bomb.md", post_text(&fm, "body\n"));
    refused(
        &site,
        "content/2024-02-03-bomb.md:2: ",
        "front matter is not valid YAML: repetition limit exceeded (aliases expand too far)",
    );
}

#[test]
fn an_empty_file_is_refused() {
    let site = site_with_good_posts();
    site.post("2024-02-05-empty.md", "");
    refused(
        &site,
        "content/2024-02-05-empty.md:1: ",
        "has no front matter",
    );
}

#[test]
fn png_bytes_named_md_are_refused() {
    let site = site_with_good_posts();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    png.extend((0..4096u32).map(|i| (i * 31 % 256) as u8));
    site.post("2024-02-06-image.md", png);
    refused(
        &site,
        "content/2024-02-06-image.md:1: ",
        "is not valid UTF-8",
    );
}

#[test]
fn a_date_in_the_year_99999_is_a_warning_and_the_file_name_date_is_used() {
    let site = site_with_good_posts();
    site.post(
        "2024-02-04-far.md",
        post_text(
            "title: Far future\ndate: 99999-01-01 10:00:00 +0000",
            "body\n",
        ),
    );
    for args in [&["build"][..], &["build", "--keep-going"]] {
        let m = measured(&site, args);
        within_bounds(&m, "build");
        m.run.expect_success();
        let w = m.run.warnings();
        assert!(
            w.iter()
                .any(|l| l.starts_with("content/2024-02-04-far.md:3: warning: date \"99999")),
            "{w:?}"
        );
        site.assert_all_valid();
        assert_eq!(titles(&site), ["Far future", "Good one", "Good two"]);
    }
    let doc = site.json("main.json");
    let far = items(&doc)
        .iter()
        .find(|i| i["title"] == "Far future")
        .expect("far post");
    assert!(
        far["date_published"]
            .as_str()
            .is_some_and(|d| d.starts_with("2024-02-04")),
        "{far}"
    );
}

#[test]
fn all_bad_posts_at_once_are_each_reported_and_the_rest_published() {
    let site = site_with_good_posts();
    site.post(
        "2024-02-01-latin1.md",
        b"---\ntitle: x\n---\n\xff\n".as_slice(),
    );
    site.post("2024-02-05-empty.md", "");
    site.post("2024-02-06-image.md", b"\x89PNG\r\n\x1a\n".as_slice());
    let m = measured(&site, &["build", "--keep-going"]);
    within_bounds(&m, "build --keep-going");
    m.run
        .expect_success()
        .stderr_has("content/2024-02-01-latin1.md:4: ")
        .stderr_has("content/2024-02-05-empty.md:1: ")
        .stderr_has("content/2024-02-06-image.md:1: ")
        .stderr_has("3 broken posts skipped");
    assert_eq!(titles(&site), ["Good one", "Good two"]);
}
