//! Regression tests for bugs found and fixed; each says what went wrong.

use crate::support::site::*;

/// Was: `util::text::html_to_text` turned every `<` into a space,
/// so inline markup splits words in JSON Feed `summary`:
/// "First **bold**ly and [a link](/x)." gives "First bold ly and a link ."
#[test]
fn json_summary_does_not_split_words_at_inline_markup() {
    let site = Site::basic();
    site.post(
        "2020-01-01-a.md",
        post_text(
            "title: A",
            "First **bold**ly and *it*alic, [a link](/x).\n\nSecond.\n",
        ),
    );
    site.build_ok();
    let doc = site.json("main.json");
    assert_eq!(
        items(&doc)[0]["summary"],
        "First boldly and italic, a link."
    );
}

/// Was: in src/build.rs `paginate`/`entry_meta` (and emitters): the site
/// `author` and a post author's `email`/`uri` are not passed through
/// `util::text::xml_clean`, so a control character written as a YAML escape
/// reaches the Atom and RSS bytes. `build` exits 0 and writes documents that
/// are not well-formed XML (`tributary check` reports them).
#[test]
fn control_characters_in_authors_never_reach_the_xml() {
    let site = Site::new(
        "title: T\nbase_url: https://example.org/\nauthor: \"Jane \\x02 Doe <jane@example.org>\"\n",
    );
    site.feed("main", MAIN_FEED);
    site.post(
        "2020-01-01-a.md",
        post_text(
            "title: A\nauthor: {name: Bob, email: \"bob\\x05@example.org\"}",
            "x\n",
        ),
    );
    let r = site.build();
    if r.ok() {
        for f in site.public_files() {
            let b = site.read_bytes(&f);
            assert!(
                !b.iter()
                    .any(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')),
                "{f} holds a control character:\n{}",
                String::from_utf8_lossy(&b)
            );
        }
        site.assert_all_valid();
    } else {
        // Refusing the configuration is fine too, with a message.
        r.expect_code(1);
        assert!(!site.public().exists());
    }
}

/// Was: in `SiteConfig::url_for` (src/config/site.rs): a `#` or `?` in an
/// `output:` path is taken as URL syntax, so the self link of
/// `public/news#1.atom` is `https://example.org/news#1.atom` (the document
/// `news` with a fragment) instead of `https://example.org/news%231.atom`.
#[test]
fn self_link_of_an_output_path_with_hash_names_the_file() {
    let site = Site::basic();
    site.feed("main", "formats: [atom]\noutput: \"news#1.atom\"\n");
    site.post("2020-01-01-a.md", post_text("title: A", "x\n"));
    let r = site.build();
    if r.ok() {
        let feed = site.atom("news#1.atom");
        let self_link = &feed.links.iter().find(|l| l.rel == "self").unwrap().href;
        let u = url::Url::parse(self_link).unwrap();
        assert_eq!(u.fragment(), None, "self link {self_link}");
        assert_eq!(u.path(), "/news%231.atom", "self link {self_link}");
    } else {
        // Rejecting such a path is fine too, with a message naming the feed file.
        r.expect_code(1).stderr_has("feeds/main.yaml");
    }
}

/// Was (issue 14): `tributary parse --jsonl DIR` printed no line at all for
/// a directory of crawled `.dat` files ("cannot read: Is a directory"), and
/// a file that could not be read got no line either, so agreement tools
/// (`compare_refs.py`) could not line the output up with a reference.
/// Every file now yields exactly one line in the reference shape, named by
/// its path under the directory, an error line for what is not a feed.
#[test]
fn parse_jsonl_gives_every_file_of_a_crawl_directory_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let crawl = dir.path().join("crawl");
    let w = |rel: &str, bytes: &[u8]| {
        let p = crawl.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    w(
        "0001.dat",
        b"<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>A</title>\
          <id>urn:a</id><updated>2026-01-02T03:04:05Z</updated><entry><id>urn:a:1</id>\
          <title>One</title><link href=\"https://a.example/1\"/>\
          <updated>2026-01-02T03:04:05Z</updated></entry></feed>",
    );
    w(
        "0002.dat",
        b"<!doctype html><html><head><title>not a feed</title></head><body>hi</body></html>",
    );
    w("0003.dat", b"");
    w(
        "0004.dat",
        &[0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x01, 0x80],
    );
    w(
        "sub/0005.dat",
        b"<rss version=\"2.0\"><channel><title>R</title><link>https://r.example/</link>\
          <item><title>Two</title><guid>https://r.example/2</guid></item></channel></rss>",
    );
    std::os::unix::fs::symlink(crawl.join("missing.dat"), crawl.join("0006.dat")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .current_dir(dir.path())
        .args(["parse", "--jsonl", "crawl"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "0001.dat",
            "0002.dat",
            "0003.dat",
            "0004.dat",
            "0006.dat",
            "sub/0005.dat"
        ],
        "{stdout}"
    );
    assert_eq!(lines[0]["format"], "atom");
    assert_eq!(lines[0]["entries"][0]["id"], "urn:a:1");
    for i in [1, 2, 3, 4] {
        assert!(
            lines[i]["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}: not refused with a reason: {}",
            names[i],
            lines[i]
        );
    }
    assert!(lines[4]["error"].as_str().unwrap().contains("cannot read"));
    assert_eq!(lines[5]["format"], "rss2");
    assert_eq!(lines[5]["entries"][0]["title"], "Two");
    // The unreadable file is reported, and the exit code says so.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0006.dat"));
}

/// Was: in src/content/mod.rs `post_files`, a post that is a symbolic link
/// is passed over without a word: the author sees a post missing from the
/// feeds and nothing saying why. Links are still not followed (a link could
/// publish a file from outside the site), but each is a warning naming it.
#[cfg(unix)]
#[test]
fn a_symlinked_post_is_skipped_with_a_warning() {
    let site = Site::basic();
    site.post("2020-01-02-real.md", post_text("title: Real", "Kept.\n"));
    site.write(
        "elsewhere/2020-01-01-linked.md",
        post_text("title: Linked", "Not published.\n"),
    );
    std::os::unix::fs::symlink(
        site.root().join("elsewhere/2020-01-01-linked.md"),
        site.root().join("content/2020-01-01-linked.md"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(
        site.root().join("elsewhere"),
        site.root().join("content/more"),
    )
    .expect("symlink");
    let r = site.build_ok();
    let warnings = r.warnings();
    assert_eq!(warnings.len(), 2, "{}", r.stderr);
    assert!(
        warnings[0].starts_with(
            "content/2020-01-01-linked.md: warning: skipped: a symbolic link (links are not followed"
        ),
        "{}",
        r.stderr
    );
    assert!(
        warnings[1].starts_with("content/more: warning: skipped: a symbolic link to a directory"),
        "{}",
        r.stderr
    );
    let doc = site.json("main.json");
    let titles: Vec<&str> = items(&doc)
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    assert_eq!(titles, ["Real"]);
}

/// Was: in src/config/feed.rs `load_all`, every `feeds/*.yaml` is a feed,
/// so an editor's lock file or a file hidden on purpose (`.hidden.yaml`) is
/// published as `.hidden.atom`.
#[test]
fn feed_files_starting_with_a_dot_are_not_feeds() {
    let site = Site::basic();
    site.feed(".hidden", "title: Hidden\n");
    site.feed(".#main", "title: Lock file\n");
    site.post("2020-01-01-a.md", post_text("title: A", "Body.\n"));
    site.build_ok();
    assert_eq!(
        site.public_files(),
        [
            "index.html",
            "main.atom",
            "main.html",
            "main.json",
            "main.rss"
        ]
    );
}

/// Was: in src/config/feed.rs `check_upstream`, an upstream `url:` that is
/// not a valid URL is taken as a file path without a word; the mistake shows
/// only at fetch time as a missing file. Now it is an error at its line.
#[test]
fn an_upstream_url_that_does_not_parse_is_an_error_at_its_line() {
    for (url, why, hint) in [
        (
            "example.org/feed.xml",
            "it has no scheme",
            "https://example.org/feed.xml",
        ),
        (
            "www.example.org/feed",
            "it has no scheme",
            "https://www.example.org/feed",
        ),
        (
            "https://exa mple.org/feed",
            "invalid international domain name",
            "",
        ),
    ] {
        let site = Site::basic();
        site.feed(
            "stream",
            &format!(
                "title: Stream\nupstreams:\n  - url: upstream/ok.atom\n  - url: \"{url}\"\n    name: typo\n"
            ),
        );
        let r = site.build();
        r.expect_code(1).stderr_has(&format!(
            "feeds/stream.yaml:4: upstreams: url \"{url}\" is not a valid URL ({why}) and no such file exists; write the URL in full"
        ));
        r.stderr_has(hint);
        assert!(site.public_files().is_empty(), "{:?}", site.public_files());
    }
    // A path that exists is a local file, whatever it looks like.
    let site = Site::basic();
    site.write("mirror.example/feed.xml", "<rss/>");
    site.feed(
        "stream",
        "title: Stream\nupstreams:\n  - url: mirror.example/feed.xml\n",
    );
    site.build_ok();
}

/// Was: a 1 MB title (upstream item or local post) is republished whole in
/// every document and page that lists the entry. Now titles are cut at a
/// word after 1,000 characters, with `…`; a post's author is told.
#[test]
fn megabyte_titles_are_cut_at_a_word() {
    let words = "lorem ipsum dolor ".repeat(60_000);
    let site = Site::new(BASIC_CONFIG);
    site.feed(
        "stream",
        "title: Stream\nupstreams:\n  - url: upstream/long.atom\n    name: long\n",
    );
    site.write(
        "upstream/long.atom",
        crate::support::feeds::atom(
            "Long",
            &[(
                "tag:long.example,2026:1",
                &words,
                "https://long.example/1",
                "2026-01-02T10:00:00Z",
            )],
        ),
    );
    let post_title = "word ".repeat(1000);
    site.post(
        "2026-01-03-long.md",
        post_text(&format!("date: 2026-01-03\ntitle: {post_title}"), "Body.\n"),
    );
    site.run(&["fetch"]).expect_success();
    let r = site.build_ok();
    r.stderr_has(
        "content/2026-01-03-long.md:3: warning: title is 4999 characters; feeds carry its first 1000",
    );
    let doc = site.json("stream.json");
    let titles: Vec<&str> = items(&doc)
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    for t in &titles {
        assert!(
            t.chars().count() <= 1001,
            "{} characters",
            t.chars().count()
        );
        assert!(t.ends_with("…"), "{}", &t[t.len() - 20..]);
        let words = t.trim_end_matches('…');
        assert!(
            words.ends_with("lorem")
                || words.ends_with("ipsum")
                || words.ends_with("dolor")
                || words.ends_with("word"),
            "cut inside a word: {}",
            &t[t.len() - 20..]
        );
    }
    // (The summaries the test feed gives its items repeat the title: only
    // titles are cut.)
    for file in ["stream.atom", "stream.rss"] {
        let xml = site.read(file);
        let titles = elements(&xml, "title");
        assert_eq!(titles.len(), 3, "{file}: the feed's and two entries'");
        for t in titles {
            assert!(
                t.chars().count() <= 1001,
                "{file}: {} characters",
                t.chars().count()
            );
        }
    }
}
