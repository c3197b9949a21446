//! `check` and `new`.

use crate::support::site::*;

#[test]
fn check_passes_a_good_site_and_writes_nothing() {
    let site = Site::basic();
    site.post(
        "2020-01-01-a.md",
        post_text("title: A\ntags: [x]", "Fine [link](/x).\n"),
    );
    site.feed("tags", "per_tag: true\n");
    let r = site.run(&["check"]);
    r.expect_success();
    r.stderr_has("checked 1 post and 6 feed documents: 0 errors, 0 warnings");
    assert!(
        !site.public().exists(),
        "check wrote {:?}",
        site.public_files()
    );
    assert!(
        !site.root().join(".tributary").exists(),
        "check wrote a manifest"
    );
    assert_eq!(
        list_files(site.cwd()).len(),
        list_files(site.root()).len(),
        "wrote beside the site"
    );
}

#[test]
fn check_warns_about_raw_tags_that_are_not_html() {
    let site = Site::basic();
    site.post(
        "2020-01-01-a.md",
        post_text(
            "title: A",
            "Intro.\n\nUse `isIP(<string>)` in code.\n\nBut isIP(<string>) hides text.\n",
        ),
    );
    let r = site.run(&["check"]);
    r.expect_success();
    // The second `isIP(<string>)` is on line 8 of the file; the one in code is fine.
    r.stderr_has("content/2020-01-01-a.md:8: warning: <string> is not an HTML tag");
    assert_eq!(r.warnings().len(), 1, "{}", r.stderr);
    r.stderr_has("0 errors, 1 warning");
    assert!(!site.public().exists());

    let r = site.run(&["check", "--deny-warnings"]);
    r.expect_code(1);
    r.stderr_has("content/2020-01-01-a.md:8: warning:");
    assert!(!site.public().exists());
}

#[test]
fn check_reports_broken_posts_with_exit_1() {
    let site = Site::basic();
    site.post("2020-01-01-a.md", post_text("title: A", "x\n"));
    site.post("undated.md", post_text("title: U", "x\n"));
    let r = site.run(&["check"]);
    r.expect_code(1);
    r.stderr_has("content/undated.md:1: no usable date");
    r.stderr_has("1 error");
    assert!(!site.public().exists());
}

#[test]
fn quiet_build_prints_nothing_on_success() {
    let site = Site::basic();
    site.post(
        "2024-04-14-x.md",
        post_text("title: X\ndate: 2024-04-17 14:4g5:00 -0000", "x\n"),
    );
    let r = site.build_with(&["-q"]);
    r.expect_success();
    assert_eq!(r.stderr, "", "quiet build printed");
    assert_eq!(r.stdout, "");
    assert!(site.public().join("main.atom").exists());
    // Without -q the warning is shown.
    site.build()
        .expect_success()
        .stderr_has("content/2024-04-14-x.md:3: warning:");
}

fn today_candidates() -> Vec<String> {
    let now = chrono::Utc::now();
    // The binary may run across midnight; accept the day before and after too.
    [-1i64, 0, 1]
        .iter()
        .map(|d| {
            (now + chrono::Duration::days(*d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect()
}

#[test]
fn new_creates_a_dated_post_that_the_next_build_includes() {
    let site = Site::basic();
    let r = site.run(&["new", "Hello, World!", "--tags", "rust, feeds"]);
    r.expect_success();
    let files = list_files(&site.root().join("content"));
    assert_eq!(files.len(), 1, "{files:?}");
    let name = &files[0];
    let day = &name[..10];
    assert!(today_candidates().iter().any(|d| d == day), "{name}");
    assert_eq!(&name[10..], "-hello-world.md");
    assert_eq!(r.stdout.trim(), format!("content/{name}"));

    let text = std::fs::read_to_string(site.root().join("content").join(name)).unwrap();
    assert!(text.starts_with("---\n"), "{text}");
    assert!(text.contains("title: Hello, World!\n"), "{text}");
    assert!(text.contains(&format!("date: {day} ")), "{text}");
    assert!(text.contains("- rust\n- feeds\n"), "{text}");
    // A draft (issue 21): its placeholder is not published before it is written.
    assert!(text.contains("draft: true\n"), "{text}");
    site.build_ok();
    assert!(items(&site.json("main.json")).is_empty());
    let path = site.root().join("content").join(name);
    std::fs::write(&path, text.replace("draft: true\n", "")).unwrap();

    // Now-dated, not future: the plain build publishes it.
    site.build_ok();
    let doc = site.json("main.json");
    let it = items(&doc);
    assert_eq!(it.len(), 1);
    assert_eq!(it[0]["title"], "Hello, World!");
    assert_eq!(it[0]["tags"], serde_json::json!(["rust", "feeds"]));
    assert!(it[0]["date_published"].as_str().unwrap().starts_with(day));
}

#[test]
fn new_never_overwrites_a_post() {
    let site = Site::basic();
    site.run(&["new", "Same"]).expect_success();
    let files = list_files(&site.root().join("content"));
    let path = site.root().join("content").join(&files[0]);
    std::fs::write(&path, post_text("title: Mine", "Precious.\n")).unwrap();
    let r = site.run(&["new", "Same"]);
    if files == list_files(&site.root().join("content")) {
        // Same day: the existing file is kept and the command fails.
        r.expect_code(1);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("Precious."));
    }
}

#[test]
fn new_outside_a_site_fails() {
    let site = Site::basic();
    std::fs::remove_file(site.root().join("tributary.yaml")).unwrap();
    let r = site.run(&["new", "X"]);
    r.expect_code(1);
    r.stderr_has("tributary.yaml");
    assert!(list_files(&site.root().join("content")).is_empty());
}

#[test]
fn check_shows_when_the_schedule_fires_next() {
    let site = Site::new(&format!("{BASIC_CONFIG}schedule: \"*/15 * * * *\"\n"));
    site.feed("main", MAIN_FEED);
    let r = site.run(&["check"]);
    r.expect_success();
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("fires next at"))
        .unwrap_or_else(|| panic!("no schedule note:\n{}", r.stderr));
    assert!(
        line.starts_with("tributary.yaml:3: note: schedule \"*/15 * * * *\""),
        "{line}"
    );
    // Three quarter-hours, in order.
    let times: Vec<&str> = line
        .split("fires next at ")
        .nth(1)
        .unwrap()
        .split(", ")
        .collect();
    assert_eq!(times.len(), 3, "{line}");
    for t in &times {
        let minute: u32 = t[14..16].parse().unwrap();
        assert_eq!(minute % 15, 0, "{t}");
        assert!(t.ends_with(":00 UTC"), "{t}");
    }
    assert!(times[0] < times[1] && times[1] < times[2]);

    let bad = Site::new(&format!("{BASIC_CONFIG}schedule: \"every day\"\n"));
    bad.run(&["check"])
        .expect_code(1)
        .stderr_has("tributary.yaml:3: schedule \"every day\" is not a cron expression");
}
