//! Error messages: `path:line: message` on stderr, exit code 1 (2 for usage).

use crate::support::site::*;

/// Build, expect exit 1 and nothing written, and return stderr.
#[track_caller]
fn fails(site: &Site) -> String {
    let r = site.build();
    r.expect_code(1);
    assert!(
        !site.public().exists(),
        "a failed build wrote {:?}",
        site.public_files()
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r.stderr
}

fn with_good_post(site: &Site) {
    site.post("2020-01-01-good.md", post_text("title: Good", "Fine.\n"));
}

#[test]
fn unknown_key_in_site_config_names_file_line_and_key() {
    let site = Site::new("title: T\nbase_url: https://example.org/\ntitel: typo\n");
    site.feed("main", MAIN_FEED);
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("tributary.yaml:3: unknown key \"titel\""),
        "{err}"
    );
}

#[test]
fn bad_serve_settings_name_file_line_and_key() {
    for (serve, needle) in [
        (
            "serve: { header_timeout: 0s }",
            "tributary.yaml:3: serve: header_timeout \"0s\" is not a duration between 1s and 1h",
        ),
        (
            "serve:\n  idle_timeout: soon",
            "tributary.yaml:3: serve: idle_timeout \"soon\" is not a duration",
        ),
        (
            "serve: { max_connections: 0 }",
            "tributary.yaml:3: serve: max_connections must be at least 1",
        ),
        (
            "serve:\n  max_conections: 10",
            "tributary.yaml:4: serve: unknown key \"max_conections\"",
        ),
    ] {
        let site = Site::new(&format!(
            "title: T\nbase_url: https://example.org/\n{serve}\n"
        ));
        site.feed("main", MAIN_FEED);
        with_good_post(&site);
        let err = fails(&site);
        assert!(err.contains(needle), "{serve}: {err}");
    }
}

#[test]
fn unknown_key_in_feed_file_names_file_line_and_key() {
    let site = Site::basic();
    site.feed("main", "title: Main\nlimt: 5\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("feeds/main.yaml:2: unknown key \"limt\""),
        "{err}"
    );
}

#[test]
fn every_broken_feed_file_is_reported() {
    let site = Site::basic();
    site.feed("a", "title: A\nlimt: 5\n");
    site.feed("b", "title: B\n\nformts: [rss]\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("feeds/a.yaml:2: unknown key \"limt\""),
        "{err}"
    );
    assert!(
        err.contains("feeds/b.yaml:3: unknown key \"formts\""),
        "{err}"
    );
}

#[test]
fn limit_that_is_not_a_number_is_an_error() {
    let site = Site::basic();
    site.feed("main", "title: Main\nlimit: lots\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(err.contains("feeds/main.yaml:2:"), "{err}");
    assert!(
        err.contains("limit \"lots\" is not a number or \"all\""),
        "{err}"
    );
}

#[test]
fn limit_zero_is_an_error() {
    let site = Site::basic();
    site.feed("main", "title: Main\nlimit: 0\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(err.contains("feeds/main.yaml:2:"), "{err}");
    assert!(err.contains("limit must be at least 1"), "{err}");
}

#[test]
fn negative_limit_is_an_error() {
    let site = Site::basic();
    site.feed("main", "title: Main\nlimit: -3\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("feeds/main.yaml:2:") && err.contains("limit"),
        "{err}"
    );
}

#[test]
fn bad_yaml_in_a_post_names_the_line() {
    let site = Site::basic();
    with_good_post(&site);
    site.post(
        "2020-01-02-bad.md",
        "---\ntitle: Bad\ndate: 2020-01-02\ntags: a: b\n---\nBody.\n",
    );
    let err = fails(&site);
    assert!(
        err.contains("content/2020-01-02-bad.md:4: front matter is not valid YAML"),
        "{err}"
    );
}

#[test]
fn missing_title_is_an_error() {
    let site = Site::basic();
    with_good_post(&site);
    site.post(
        "2020-01-02-untitled.md",
        "---\nlayout: post\ndate: 2020-01-02\n---\nBody.\n",
    );
    let err = fails(&site);
    assert!(
        err.contains("content/2020-01-02-untitled.md:1: missing title"),
        "{err}"
    );
}

#[test]
fn post_without_a_usable_date_is_an_error() {
    let site = Site::basic();
    with_good_post(&site);
    site.post("about.md", post_text("title: About", "Body.\n"));
    let err = fails(&site);
    assert!(err.contains("content/about.md:1: no usable date"), "{err}");
}

#[test]
fn unparseable_date_without_dated_file_name_is_an_error() {
    let site = Site::basic();
    with_good_post(&site);
    site.post(
        "undated.md",
        post_text("title: U\ndate: 2022-13-40 07:10:00 -0000", "Body.\n"),
    );
    let err = fails(&site);
    assert!(
        err.contains("content/undated.md:3: date \"2022-13-40 07:10:00 -0000\": \"2022-13-40\" is not a calendar date"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_post_is_an_error_with_its_line() {
    let site = Site::basic();
    with_good_post(&site);
    site.post("2020-01-02-latin1.md", b"---\ntitle: Caf\xe9\n---\nBody.\n");
    let err = fails(&site);
    assert!(
        err.contains("content/2020-01-02-latin1.md:2: is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn post_without_front_matter_is_an_error() {
    let site = Site::basic();
    with_good_post(&site);
    site.post(
        "2020-01-02-plain.md",
        "# Just Markdown\n\nNo front matter.\n",
    );
    let err = fails(&site);
    assert!(
        err.contains("content/2020-01-02-plain.md:1: has no front matter"),
        "{err}"
    );
}

#[test]
fn unclosed_front_matter_is_an_error() {
    let site = Site::basic();
    with_good_post(&site);
    site.post(
        "2020-01-02-open.md",
        "---\ntitle: Open\n\nBody without a closing line.\n",
    );
    let err = fails(&site);
    assert!(err.contains("content/2020-01-02-open.md:1:"), "{err}");
    assert!(err.contains("no closing `---`"), "{err}");
}

#[test]
fn every_broken_post_is_reported_with_a_count() {
    let site = Site::basic();
    with_good_post(&site);
    site.post("a.md", post_text("title: A", "x\n"));
    site.post("b.md", post_text("title: B", "x\n"));
    let err = fails(&site);
    assert!(err.contains("content/a.md:1: no usable date"), "{err}");
    assert!(err.contains("content/b.md:1: no usable date"), "{err}");
    assert!(err.contains("tributary: 2 errors"), "{err}");
}

#[test]
fn bad_timezone_is_an_error() {
    let site = Site::new(&format!("{BASIC_CONFIG}timezone: Mars/Olympus_Mons\n"));
    site.feed("main", MAIN_FEED);
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains(
            "tributary.yaml:3: timezone \"Mars/Olympus_Mons\" is not an IANA time zone name"
        ),
        "{err}"
    );
}

#[test]
fn relative_base_url_is_an_error() {
    let site = Site::new("title: T\nbase_url: /blog/\n");
    site.feed("main", MAIN_FEED);
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("tributary.yaml:2: base_url \"/blog/\""),
        "{err}"
    );
}

#[test]
fn missing_site_config_is_an_error() {
    let site = Site::basic();
    std::fs::remove_file(site.root().join("tributary.yaml")).unwrap();
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("tributary.yaml: cannot read the site configuration"),
        "{err}"
    );
}

#[test]
fn output_path_with_dotdot_is_rejected() {
    let site = Site::basic();
    site.feed(
        "main",
        "title: Main\nformats: [atom]\noutput: ../escape.atom\n",
    );
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("feeds/main.yaml:3: output \"../escape.atom\" must be a relative path inside the output directory"),
        "{err}"
    );
    assert!(!site.cwd().join("escape.atom").exists());
    assert!(!site.root().join("escape.atom").exists());
}

#[test]
fn output_map_path_with_dotdot_or_absolute_is_rejected() {
    for bad in ["sub/../../x.atom", "/etc/x.atom"] {
        let site = Site::basic();
        site.feed(
            "main",
            &format!("title: Main\noutput:\n  atom: \"{bad}\"\n"),
        );
        with_good_post(&site);
        let err = fails(&site);
        assert!(err.contains("feeds/main.yaml:2: output"), "{bad}: {err}");
        assert!(err.contains("must be a relative path"), "{bad}: {err}");
    }
}

#[test]
fn single_output_path_needs_one_format() {
    let site = Site::basic();
    site.feed("main", "title: Main\noutput: feed.xml\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(
        err.contains("feeds/main.yaml:2: output: a single path needs exactly one format"),
        "{err}"
    );
}

#[test]
fn two_feeds_writing_the_same_file_is_an_error() {
    let site = Site::basic();
    site.feed("other", "formats: [atom]\noutput: main.atom\n");
    with_good_post(&site);
    let err = fails(&site);
    assert!(err.contains("main.atom"), "{err}");
    assert!(
        err.contains("feeds/main.yaml") && err.contains("feeds/other.yaml"),
        "{err}"
    );
}

#[test]
fn two_posts_with_the_same_id_name_both_files() {
    let site = Site::basic();
    site.post(
        "2020-01-01-one.md",
        post_text("title: One\nid: shared", "x\n"),
    );
    site.post(
        "2020-02-01-two.md",
        post_text("title: Two\nid: shared", "x\n"),
    );
    let err = fails(&site);
    assert!(err.contains("content/2020-01-01-one.md"), "{err}");
    assert!(err.contains("content/2020-02-01-two.md"), "{err}");
    assert!(err.contains("same entry id"), "{err}");
}

#[test]
fn two_posts_with_the_same_slug_and_day_collide() {
    // Same date and slug give the same tag: id; in different folders.
    let site = Site::basic();
    site.post("2020-01-01-same.md", post_text("title: One", "x\n"));
    site.post("archive/2020-01-01-same.md", post_text("title: Two", "x\n"));
    let err = fails(&site);
    assert!(err.contains("content/2020-01-01-same.md"), "{err}");
    assert!(err.contains("content/archive/2020-01-01-same.md"), "{err}");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let site = Site::basic();
    let r = site.run(&["frobnicate"]);
    r.expect_code(2);
    r.stderr_has("frobnicate");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let site = Site::basic();
    let r = site.run(&["build", "--no-such-flag"]);
    r.expect_code(2);
    assert!(!site.public().exists());
}

#[test]
fn missing_subcommand_is_a_usage_error() {
    let site = Site::basic();
    site.run(&[]).expect_code(2);
}
