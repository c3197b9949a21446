//! Error messages: `path:line: message` on stderr, exit code 1 (2 for usage).
//!
//! One table: each case is a basic site ([`Site::basic`]) with some files
//! written or removed, a command, and what it must print and exit with. A
//! failed build (exit 1) must also write nothing and not panic. Every case
//! runs; the test fails naming each case that did not hold.

use crate::support::site::*;

/// The post every build case has next to the broken input.
const GOOD: &str = "content/2020-01-01-good.md";

/// A file to write (relative to the site root), or to remove (`None`).
type File = (String, Option<Vec<u8>>);

struct Case {
    name: &'static str,
    files: Vec<File>,
    /// Arguments after `-C SITE`.
    args: &'static [&'static str],
    /// Text stderr must contain, each.
    stderr: Vec<String>,
    code: i32,
    /// Paths (relative to the working directory, the site's parent) that must
    /// not exist afterwards.
    absent: &'static [&'static str],
}

fn write(rel: &str, text: impl AsRef<[u8]>) -> File {
    (rel.to_string(), Some(text.as_ref().to_vec()))
}

fn good() -> File {
    write(GOOD, post_text("title: Good", "Fine.\n"))
}

/// `build` with `files`, expecting exit 1 and `stderr`.
fn build(name: &'static str, files: Vec<File>, stderr: &[&str]) -> Case {
    Case {
        name,
        files,
        args: &["build"],
        stderr: stderr.iter().map(|s| s.to_string()).collect(),
        code: 1,
        absent: &[],
    }
}

fn cases() -> Vec<Case> {
    let mut cases = vec![build(
        "unknown_key_in_site_config_names_file_line_and_key",
        vec![
            write(
                "tributary.yaml",
                "title: T\nbase_url: https://example.org/\ntitel: typo\n",
            ),
            good(),
        ],
        &["tributary.yaml:3: unknown key \"titel\""],
    )];
    for (name, serve, needle) in [
        (
            "bad_serve_settings_name_file_line_and_key/header_timeout",
            "serve: { header_timeout: 0s }",
            "tributary.yaml:3: serve: header_timeout \"0s\" is not a duration between 1s and 1h",
        ),
        (
            "bad_serve_settings_name_file_line_and_key/idle_timeout",
            "serve:\n  idle_timeout: soon",
            "tributary.yaml:3: serve: idle_timeout \"soon\" is not a duration",
        ),
        (
            "bad_serve_settings_name_file_line_and_key/max_connections",
            "serve: { max_connections: 0 }",
            "tributary.yaml:3: serve: max_connections must be at least 1",
        ),
        (
            "bad_serve_settings_name_file_line_and_key/unknown_key",
            "serve:\n  max_conections: 10",
            "tributary.yaml:4: serve: unknown key \"max_conections\"",
        ),
    ] {
        cases.push(build(
            name,
            vec![
                write(
                    "tributary.yaml",
                    format!("title: T\nbase_url: https://example.org/\n{serve}\n"),
                ),
                good(),
            ],
            &[needle],
        ));
    }
    cases.extend([
        build(
            "unknown_key_in_feed_file_names_file_line_and_key",
            vec![write("feeds/main.yaml", "title: Main\nlimt: 5\n"), good()],
            &["feeds/main.yaml:2: unknown key \"limt\""],
        ),
        build(
            "every_broken_feed_file_is_reported",
            vec![
                write("feeds/a.yaml", "title: A\nlimt: 5\n"),
                write("feeds/b.yaml", "title: B\n\nformts: [rss]\n"),
                good(),
            ],
            &[
                "feeds/a.yaml:2: unknown key \"limt\"",
                "feeds/b.yaml:3: unknown key \"formts\"",
            ],
        ),
        build(
            "limit_that_is_not_a_number_is_an_error",
            vec![write("feeds/main.yaml", "title: Main\nlimit: lots\n"), good()],
            &[
                "feeds/main.yaml:2:",
                "limit \"lots\" is not a number or \"all\"",
            ],
        ),
        build(
            "limit_zero_is_an_error",
            vec![write("feeds/main.yaml", "title: Main\nlimit: 0\n"), good()],
            &["feeds/main.yaml:2:", "limit must be at least 1"],
        ),
        build(
            "negative_limit_is_an_error",
            vec![write("feeds/main.yaml", "title: Main\nlimit: -3\n"), good()],
            &["feeds/main.yaml:2:", "limit"],
        ),
        build(
            "bad_yaml_in_a_post_names_the_line",
            vec![
                good(),
                write(
                    "content/2020-01-02-bad.md",
                    "---\ntitle: Bad\ndate: 2020-01-02\ntags: a: b\n---\nBody.\n",
                ),
            ],
            &["content/2020-01-02-bad.md:4: front matter is not valid YAML"],
        ),
        build(
            "missing_title_is_an_error",
            vec![
                good(),
                write(
                    "content/2020-01-02-untitled.md",
                    "---\nlayout: post\ndate: 2020-01-02\n---\nBody.\n",
                ),
            ],
            &["content/2020-01-02-untitled.md:1: missing title"],
        ),
        build(
            "post_without_a_usable_date_is_an_error",
            vec![
                good(),
                write("content/about.md", post_text("title: About", "Body.\n")),
            ],
            &["content/about.md:1: no usable date"],
        ),
        build(
            "unparseable_date_without_dated_file_name_is_an_error",
            vec![
                good(),
                write(
                    "content/undated.md",
                    post_text("title: U\ndate: 2022-13-40 07:10:00 -0000", "Body.\n"),
                ),
            ],
            &["content/undated.md:3: date \"2022-13-40 07:10:00 -0000\": \"2022-13-40\" is not a calendar date"],
        ),
        build(
            "invalid_utf8_post_is_an_error_with_its_line",
            vec![
                good(),
                write(
                    "content/2020-01-02-latin1.md",
                    b"---\ntitle: Caf\xe9\n---\nBody.\n",
                ),
            ],
            &["content/2020-01-02-latin1.md:2: is not valid UTF-8"],
        ),
        build(
            "post_without_front_matter_is_an_error",
            vec![
                good(),
                write(
                    "content/2020-01-02-plain.md",
                    "# Just Markdown\n\nNo front matter.\n",
                ),
            ],
            &["content/2020-01-02-plain.md:1: has no front matter"],
        ),
        build(
            "unclosed_front_matter_is_an_error",
            vec![
                good(),
                write(
                    "content/2020-01-02-open.md",
                    "---\ntitle: Open\n\nBody without a closing line.\n",
                ),
            ],
            &["content/2020-01-02-open.md:1:", "no closing `---`"],
        ),
        build(
            "every_broken_post_is_reported_with_a_count",
            vec![
                good(),
                write("content/a.md", post_text("title: A", "x\n")),
                write("content/b.md", post_text("title: B", "x\n")),
            ],
            &[
                "content/a.md:1: no usable date",
                "content/b.md:1: no usable date",
                "tributary: 2 errors",
            ],
        ),
        build(
            "bad_timezone_is_an_error",
            vec![
                write(
                    "tributary.yaml",
                    format!("{BASIC_CONFIG}timezone: Mars/Olympus_Mons\n"),
                ),
                good(),
            ],
            &["tributary.yaml:3: timezone \"Mars/Olympus_Mons\" is not an IANA time zone name"],
        ),
        build(
            "relative_base_url_is_an_error",
            vec![
                write("tributary.yaml", "title: T\nbase_url: /blog/\n"),
                good(),
            ],
            &["tributary.yaml:2: base_url \"/blog/\""],
        ),
        build(
            "missing_site_config_is_an_error",
            vec![("tributary.yaml".to_string(), None), good()],
            &["tributary.yaml: cannot read the site configuration"],
        ),
        Case {
            absent: &["escape.atom", "site/escape.atom"],
            ..build(
                "output_path_with_dotdot_is_rejected",
                vec![
                    write(
                        "feeds/main.yaml",
                        "title: Main\nformats: [atom]\noutput: ../escape.atom\n",
                    ),
                    good(),
                ],
                &["feeds/main.yaml:3: output \"../escape.atom\" must be a relative path inside the output directory"],
            )
        },
    ]);
    for (name, bad) in [
        (
            "output_map_path_with_dotdot_or_absolute_is_rejected/dotdot",
            "sub/../../x.atom",
        ),
        (
            "output_map_path_with_dotdot_or_absolute_is_rejected/absolute",
            "/etc/x.atom",
        ),
    ] {
        cases.push(build(
            name,
            vec![
                write(
                    "feeds/main.yaml",
                    format!("title: Main\noutput:\n  atom: \"{bad}\"\n"),
                ),
                good(),
            ],
            &["feeds/main.yaml:2: output", "must be a relative path"],
        ));
    }
    cases.extend([
        build(
            "single_output_path_needs_one_format",
            vec![
                write("feeds/main.yaml", "title: Main\noutput: feed.xml\n"),
                good(),
            ],
            &["feeds/main.yaml:2: output: a single path needs exactly one format"],
        ),
        build(
            "two_feeds_writing_the_same_file_is_an_error",
            vec![
                write("feeds/other.yaml", "formats: [atom]\noutput: main.atom\n"),
                good(),
            ],
            &["main.atom", "feeds/main.yaml", "feeds/other.yaml"],
        ),
        build(
            "two_posts_with_the_same_id_name_both_files",
            vec![
                write(
                    "content/2020-01-01-one.md",
                    post_text("title: One\nid: shared", "x\n"),
                ),
                write(
                    "content/2020-02-01-two.md",
                    post_text("title: Two\nid: shared", "x\n"),
                ),
            ],
            &[
                "content/2020-01-01-one.md",
                "content/2020-02-01-two.md",
                "same entry id",
            ],
        ),
        // Same date and slug give the same tag: id; in different folders.
        build(
            "two_posts_with_the_same_slug_and_day_collide",
            vec![
                write("content/2020-01-01-same.md", post_text("title: One", "x\n")),
                write(
                    "content/archive/2020-01-01-same.md",
                    post_text("title: Two", "x\n"),
                ),
            ],
            &[
                "content/2020-01-01-same.md",
                "content/archive/2020-01-01-same.md",
            ],
        ),
        Case {
            name: "unknown_subcommand_is_a_usage_error",
            files: vec![],
            args: &["frobnicate"],
            stderr: vec!["frobnicate".to_string()],
            code: 2,
            absent: &[],
        },
        Case {
            name: "unknown_flag_is_a_usage_error",
            files: vec![],
            args: &["build", "--no-such-flag"],
            stderr: vec![],
            code: 2,
            absent: &["site/public"],
        },
        Case {
            name: "missing_subcommand_is_a_usage_error",
            files: vec![],
            args: &[],
            stderr: vec![],
            code: 2,
            absent: &[],
        },
    ]);
    cases
}

/// Run `case`: what did not hold, if anything.
fn check(case: &Case) -> Vec<String> {
    let site = Site::basic();
    for (rel, text) in &case.files {
        match text {
            Some(text) => site.write(rel, text),
            None => std::fs::remove_file(site.root().join(rel)).unwrap(),
        }
    }
    let r = site.run(case.args);
    let mut failed = Vec::new();
    if r.code != Some(case.code) {
        failed.push(format!("exit code {:?}, expected {}", r.code, case.code));
    }
    for needle in &case.stderr {
        if !r.stderr.contains(needle.as_str()) {
            failed.push(format!("stderr lacks {needle:?}"));
        }
    }
    // A failed build writes nothing and does not panic.
    if case.args == ["build"] && case.code == 1 {
        if site.public().exists() {
            failed.push(format!("a failed build wrote {:?}", site.public_files()));
        }
        if r.stderr.contains("panicked") {
            failed.push("panicked".to_string());
        }
    }
    for path in case.absent {
        if site.cwd().join(path).exists() {
            failed.push(format!("{path} exists"));
        }
    }
    if !failed.is_empty() {
        failed.push(format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr));
    }
    failed
}

#[test]
fn each_bad_input_fails_with_its_message_and_exit_code() {
    let cases = cases();
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "two cases named {}", c.name);
    }
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let failed = check(case);
            (!failed.is_empty()).then(|| format!("{}:\n  {}", case.name, failed.join("\n  ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
