//! The first ten minutes (issue 21, finding 5): starting a site or
//! switching one, the first post, the first mistakes, each said in words.

use crate::support::feeds;
use crate::support::folder::{installed, run_in, write};
use crate::support::reader::{newsboat_reload, serve_file};
use crate::support::site::*;
use std::fs;

fn post_files(site: &Site) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(site.root().join("content"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

// ---- new ----

#[test]
fn new_writes_a_draft_and_says_how_to_publish() {
    let site = Site::basic();
    let r = site.run(&["new", "First light"]);
    r.expect_success()
        .stderr_has("draft")
        .stderr_has("delete the `draft: true` line to publish");
    let text = fs::read_to_string(site.root().join(r.stdout.trim())).unwrap();
    assert!(text.contains("\ndraft: true\n"), "{text}");
    // The running `serve` (and `build`) do not publish the placeholder.
    site.build_ok();
    assert!(items(&site.json("main.json")).is_empty());
    site.build_ok_with(&["--drafts"]);
    assert_eq!(items(&site.json("main.json")).len(), 1);
}

#[test]
fn new_on_an_existing_title_says_so_in_words() {
    let site = Site::basic();
    site.run(&["new", "Same"]).expect_success();
    let before = post_files(&site);
    let r = site.run(&["new", "Same"]);
    if before == post_files(&site) {
        r.expect_code(1).stderr_has("already exists");
        assert!(!r.stderr.contains("os error"), "{}", r.stderr);
    }
}

// ---- a folder that is not a site yet ----

#[test]
fn an_empty_folder_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(dir.path(), &["build"]);
    r.expect_code(1).stderr_has("`tributary init`");
}

#[test]
fn a_site_without_feeds_says_so_instead_of_building_nothing() {
    let site = Site::new(BASIC_CONFIG);
    site.post("2026-01-01-a.md", post_text("title: A", "Body.\n"));
    for cmd in ["build", "check"] {
        site.run(&[cmd])
            .expect_code(1)
            .stderr_has("no feed to publish")
            .stderr_has("feeds/main.yaml");
    }
    fs::remove_dir_all(site.root().join("feeds")).unwrap();
    site.run(&["build"])
        .expect_code(1)
        .stderr_has("no feed to publish");
    assert!(!site.public().exists());
}

#[test]
fn init_starts_a_site_that_builds() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(
        dir.path(),
        &[
            "init",
            "--title",
            "Notes",
            "--base-url",
            "https://notes.example/",
        ],
    );
    r.expect_success();
    for f in ["tributary.yaml", "feeds/main.yaml"] {
        assert!(dir.path().join(f).is_file(), "{f}: {}", r.stdout);
    }
    assert!(dir.path().join("content").is_dir());
    let config = fs::read_to_string(dir.path().join("tributary.yaml")).unwrap();
    assert!(
        config.contains("base_url: \"https://notes.example/\""),
        "{config}"
    );
    assert!(r.stdout.contains("tributary new"), "{}", r.stdout);

    let new = run_in(dir.path(), &["new", "Hello"]);
    new.expect_success();
    let rel = new.stdout.trim().to_string();
    let text = fs::read_to_string(dir.path().join(&rel)).unwrap();
    fs::write(dir.path().join(&rel), text.replace("draft: true\n", "")).unwrap();
    run_in(dir.path(), &["build"])
        .expect_success()
        .stderr_has("built 1 post into");
    let atom = fs::read_to_string(dir.path().join("public/main.atom")).unwrap();
    assert!(atom.contains("<title>Hello</title>"), "{atom}");

    // A second init changes nothing and says why.
    run_in(dir.path(), &["init"])
        .expect_code(1)
        .stderr_has("already exists");
}

#[test]
fn init_from_jekyll_reads_its_config() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "_config.yml",
        "title: Field Notes\nurl: https://notes.example\nbaseurl: /blog\n\
         permalink: /news/:year/:month/:day/:title/\ntimezone: America/New_York\n",
    );
    write(
        dir.path(),
        "_posts/2026-01-04-hello.md",
        "---\ntitle: Hello\n---\nBody.\n",
    );
    let r = run_in(dir.path(), &["init", "--from-jekyll", "."]);
    r.expect_success();
    let config = fs::read_to_string(dir.path().join("tributary.yaml")).unwrap();
    for want in [
        "title: \"Field Notes\"",
        "base_url: \"https://notes.example/blog\"",
        "permalink: \"/news/:year/:month/:day/:title/\"",
        "timezone: \"America/New_York\"",
        "content: \"_posts\"",
        "ids: \"jekyll\"",
    ] {
        assert!(config.contains(want), "{want}:\n{config}");
    }
    run_in(dir.path(), &["build"]).expect_success();
    let json = fs::read_to_string(dir.path().join("public/main.json")).unwrap();
    assert!(
        json.contains("https://notes.example/blog/news/2026/01/04/hello/"),
        "{json}"
    );
}

#[test]
fn init_from_hugo_reads_hugo_toml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hugo.toml",
        "baseURL = \"https://hugo.example/\"\ntitle = \"H\"\ntimeZone = \"Europe/Berlin\"\n\
         [permalinks]\n  posts = \"/:year/:month/:slug/\"\n",
    );
    write(
        dir.path(),
        "content/posts/week-one.md",
        "---\ntitle: \"Week One\"\ndate: 2024-01-07T10:00:00Z\n---\nOne.\n",
    );
    run_in(dir.path(), &["init", "--from-hugo", "."]).expect_success();
    let config = fs::read_to_string(dir.path().join("tributary.yaml")).unwrap();
    for want in [
        "title: \"H\"",
        "base_url: \"https://hugo.example/\"",
        "permalink: \"/:year/:month/:slug/\"",
        "timezone: \"Europe/Berlin\"",
        "content: \"content/posts\"",
        "ids: \"hugo\"",
    ] {
        assert!(config.contains(want), "{want}:\n{config}");
    }
    run_in(dir.path(), &["build"]).expect_success();
}

#[test]
fn init_from_hugo_reads_hugo_yaml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hugo.yaml",
        "baseURL: https://hugo.example/blog/\ntitle: Y\ncontentDir: text\n\
         permalinks:\n  blog: /:year/:slug/\n",
    );
    write(
        dir.path(),
        "text/blog/one.md",
        "---\ntitle: One\ndate: 2024-01-07T10:00:00Z\n---\nOne.\n",
    );
    let r = run_in(dir.path(), &["init", "--from-hugo", "."]);
    r.expect_success();
    assert!(
        r.stdout
            .contains("note: no built feed of the old site was found"),
        "{}",
        r.stdout
    );
    let config = fs::read_to_string(dir.path().join("tributary.yaml")).unwrap();
    for want in [
        "base_url: \"https://hugo.example/blog/\"",
        "permalink: \"/:year/:slug/\"",
        "content: \"text/blog\"",
    ] {
        assert!(config.contains(want), "{want}:\n{config}");
    }
    run_in(dir.path(), &["build"]).expect_success();
}

/// The three-command switch: `init --from-jekyll`, `build`, `diff
/// --against _site` on a Jekyll site with more posts than jekyll-feed's
/// window; readers see no entry they did not have.
#[test]
fn a_jekyll_site_switches_in_three_commands() {
    if !installed("jekyll", "--version") {
        eprintln!("skipped: jekyll is not installed (apt-get install jekyll ruby-jekyll-feed)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "_config.yml",
        "title: Field Notes\nurl: https://notes.example\ntimezone: UTC\n\
         plugins:\n  - jekyll-feed\n\
         exclude: [content, feeds, public, tributary.yaml, tributary.ledger]\n",
    );
    for i in 0..14 {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 4).unwrap() + chrono::Duration::weeks(i);
        write(
            dir.path(),
            &format!("_posts/{day}-note-{i}.md"),
            &format!("---\nlayout: post\ntitle: \"Note {i}\"\n---\nBody of note {i}.\n"),
        );
    }
    let jekyll = std::process::Command::new("jekyll")
        .arg("build")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(jekyll.status.success(), "{jekyll:?}");

    let init = run_in(dir.path(), &["init", "--from-jekyll", "."]);
    init.expect_success();
    assert!(init.stdout.contains("adopted 10 of 10"), "{}", init.stdout);
    assert!(
        init.stdout.contains("the old feed held 10 entries"),
        "{}",
        init.stdout
    );
    let feed = fs::read_to_string(dir.path().join("feeds/main.yaml")).unwrap();
    assert!(feed.contains("\nlimit: 10\n"), "{feed}");
    // A reader subscribed to jekyll-feed's feed.xml before the switch.
    let newsboat = installed("newsboat", "--version") && installed("sqlite3", "--version");
    let reader = tempfile::tempdir().unwrap();
    let serving = std::sync::Arc::new(std::sync::Mutex::new(dir.path().join("_site/feed.xml")));
    let url = serve_file(serving.clone());
    let before = newsboat.then(|| newsboat_reload(reader.path(), &url));

    run_in(dir.path(), &["build"]).expect_success();
    let diff = run_in(dir.path(), &["diff", "--against", "_site"]);
    diff.expect_success();

    // The same URL now serves tributary's feed: nothing is new to the reader.
    let ours = fs::read_dir(dir.path().join("public"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.file_name().is_some_and(|n| n == "feed.xml"))
        .expect("the switched site publishes feed.xml, jekyll-feed's path");
    *serving.lock().unwrap() = ours;
    match before {
        Some(before) => {
            assert_eq!(before, 10, "jekyll-feed publishes the newest 10");
            assert_eq!(
                newsboat_reload(reader.path(), &url),
                before,
                "newsboat saw new articles after the switch"
            );
        }
        None => eprintln!("newsboat part skipped: newsboat and sqlite3 are needed"),
    }
}

// ---- mistakes, said in words ----

#[test]
fn an_unquoted_colon_in_a_title_says_to_quote_it() {
    let site = Site::basic();
    site.post(
        "2026-01-01-a.md",
        "---\ntitle: Part 1: the start\n---\nBody.\n",
    );
    site.build()
        .expect_code(1)
        .stderr_has("content/2026-01-01-a.md:2:")
        .stderr_has("must be quoted");
}

#[test]
fn an_unknown_format_names_the_valid_ones() {
    let site = Site::basic();
    site.feed("main", "title: Main\nformats: [rss2]\n");
    site.build()
        .expect_code(1)
        .stderr_has("\"atom\", \"rss\", \"json\"")
        .stderr_has("did you mean \"rss\"?");
}

#[test]
fn a_misspelt_front_matter_key_is_named() {
    let site = Site::basic();
    site.post(
        "2026-01-01-a.md",
        "---\ntitle: A\ntgas: [rust]\n---\nBody.\n",
    );
    let r = site.build_ok();
    r.stderr_has(
        "content/2026-01-01-a.md:3: warning: unknown key \"tgas\": did you mean \"tags\"?",
    );
    site.post("2026-01-02-b.md", "---\ntilte: B\n---\nBody.\n");
    site.build().expect_code(1).stderr_has(
        "content/2026-01-02-b.md:2: missing title: unknown key \"tilte\": did you mean \"title\"?",
    );
}

// ---- sources ----

fn combined_site() -> Site {
    let site = Site::basic();
    let items: &[feeds::Item] = &[(
        "urn:a:1",
        "One",
        "https://a.example/1",
        "2026-01-01T00:00:00Z",
    )];
    site.write("feeds/local/a.rss", feeds::rss("Local A", items));
    site.write("feeds/local/x.rss", feeds::rss("Local X", items));
    site.feed(
        "stream",
        "title: Stream\nupstreams:\n  - url: feeds/local/a.rss\n",
    );
    site
}

#[test]
fn sources_add_takes_a_local_path() {
    let site = combined_site();
    site.run(&["sources", "add", "feeds/local/x.rss"])
        .expect_success()
        .stderr_has("added feeds/local/x.rss to feeds/stream.yaml");
    let text = fs::read_to_string(site.root().join("feeds/stream.yaml")).unwrap();
    assert!(text.contains("url: \"feeds/local/x.rss\""), "{text}");
    assert!(text.contains("name: \"Local X\""), "{text}");
    assert!(!site.root().join("feeds/upstreams.yaml").exists());
}

#[test]
fn sources_import_adds_to_the_only_feed_with_upstreams() {
    let site = combined_site();
    site.write(
        "subs.opml",
        "<?xml version=\"1.0\"?>\n<opml version=\"2.0\"><head><title>s</title></head><body>\n\
         <outline type=\"rss\" text=\"B\" xmlUrl=\"https://b.example/feed.xml\"/>\n</body></opml>\n",
    );
    let file = site.root().join("subs.opml");
    site.run(&["sources", "import", file.to_str().unwrap()])
        .expect_success()
        .stderr_has("added 1 of 1 source to feeds/stream.yaml");
    assert!(!site.root().join("feeds/upstreams.yaml").exists());
    // With two such feeds, the user chooses.
    site.feed(
        "other",
        "title: O\nupstreams:\n  - url: https://c.example/f\n",
    );
    site.run(&["sources", "import", file.to_str().unwrap()])
        .expect_code(1)
        .stderr_has("--feed");
}

#[test]
fn sources_export_writes_paths_as_configured() {
    let site = combined_site();
    let r = site.run(&["sources", "export"]);
    r.expect_success();
    assert!(
        r.stdout.contains("xmlUrl=\"feeds/local/a.rss\""),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("file://"), "{}", r.stdout);
}

// ---- listen, plurals ----

#[test]
fn listen_takes_a_port_alone_and_localhost() {
    for listen in [":8095", "8095", "localhost:8095", "127.0.0.1:8095"] {
        let site = Site::new(&format!("{BASIC_CONFIG}listen: \"{listen}\"\n"));
        site.feed("main", MAIN_FEED);
        site.run(&["check"]).expect_success();
    }
    let site = Site::basic();
    site.run(&["serve", "--listen", "nowhere"])
        .expect_code(2)
        .stderr_has("localhost:8080");
}

#[test]
fn counts_of_one_are_singular() {
    let site = Site::basic();
    site.post("2026-01-01-a.md", post_text("title: A", "Body.\n"));
    site.run(&["check"])
        .expect_success()
        .stderr_has("checked 1 post and")
        .stderr_has(": 0 errors, 0 warnings");
    let r = site.build_ok();
    r.stderr_has("built 1 post into");
    assert!(!r.stderr.contains(" 1 pages"), "{}", r.stderr);
    site.post("undated.md", post_text("title: U", "x\n"));
    let r = site.run(&["check"]);
    r.expect_code(1).stderr_has(": 1 error, 0 warnings");
}

// ---- serve, previewed on this machine ----

#[test]
fn serve_public_url_links_its_pages_to_the_local_server() {
    let site = Site::basic();
    site.post("2026-01-01-a.md", post_text("title: A", "Body.\n"));
    let local = "http://127.0.0.1:9/";
    let daemon = crate::support::daemon::Daemon::start_with(site.root(), site.cwd(), |c| {
        c.args(["--public-url", local]);
    });
    let index = daemon.get("/").text();
    assert!(index.contains("http://127.0.0.1:9/main.atom"), "{index}");
    assert!(!index.contains("https://example.org/"), "{index}");
    // The feeds keep the URLs readers get once the site is published.
    let atom = daemon.get("/main.atom").text();
    assert!(atom.contains("https://example.org/"), "{atom}");
}

// ---- adopt: the old feed's window ----

/// An old Atom feed holding the newest `n` of the posts `a`, `b`, `c`.
fn old_window(n: usize) -> String {
    let entries = [("c", "03"), ("b", "02"), ("a", "01")]
        .into_iter()
        .take(n)
        .map(|(slug, day)| {
            let date = format!("2026-01-{day}T00:00:00Z");
            feeds::Entry::new(
                &format!("https://old.example/{slug}"),
                slug,
                &format!("https://example.org/2026/01/{day}/{slug}/"),
                &date,
            )
            .published(&date)
        });
    feeds::Feed::new("Old", "https://example.org/feed.xml")
        .entries(entries)
        .atom()
}

fn three_posts(feed: &str) -> Site {
    let site = Site::new(BASIC_CONFIG);
    site.feed("main", feed);
    for (slug, day) in [("a", "01"), ("b", "02"), ("c", "03")] {
        site.post(
            &format!("2026-01-{day}-{slug}.md"),
            post_text(&format!("title: {slug}"), "Body.\n"),
        );
    }
    site
}

#[test]
fn adopt_writes_the_old_feeds_window_as_limit() {
    let site = three_posts(MAIN_FEED);
    site.write("old.atom", old_window(2));
    let old = site.root().join("old.atom");
    let r = site.run(&["adopt", old.to_str().unwrap()]);
    r.expect_success();
    assert!(
        r.stdout
            .contains("the old feed held 2 entries: wrote limit: 2 into feeds/main.yaml"),
        "{}",
        r.stdout
    );
    let feed = fs::read_to_string(site.root().join("feeds/main.yaml")).unwrap();
    assert!(feed.ends_with("\nlimit: 2\n"), "{feed}");
    site.build_ok();
    assert_eq!(items(&site.json("main.json")).len(), 2);
}

#[test]
fn adopt_leaves_a_limit_the_user_set_and_says_what_to_set() {
    let site = three_posts("title: Main\nlimit: all\n");
    site.write("old.atom", old_window(2));
    let old = site.root().join("old.atom");
    let r = site.run(&["adopt", old.to_str().unwrap()]);
    r.expect_success();
    assert!(
        r.stdout.contains(
            "warning: the old feed held 2 entries but feeds/main.yaml has limit: all; set limit: 2 there"
        ),
        "{}",
        r.stdout
    );
    let feed = fs::read_to_string(site.root().join("feeds/main.yaml")).unwrap();
    assert_eq!(feed, "title: Main\nlimit: all\n");
    // An old feed that held every post cut nothing: no limit to write.
    let site = three_posts(MAIN_FEED);
    site.write("old.atom", old_window(3));
    let old = site.root().join("old.atom");
    let r = site.run(&["adopt", old.to_str().unwrap()]);
    r.expect_success();
    assert_eq!(
        fs::read_to_string(site.root().join("feeds/main.yaml")).unwrap(),
        MAIN_FEED
    );
}

/// The same three commands for a Hugo site: `init --from-hugo`, `build`,
/// `diff --against public` (tributary writes into `public-feeds`).
#[test]
fn a_hugo_site_switches_in_three_commands() {
    if !installed("hugo", "version") {
        eprintln!("skipped: hugo is not installed (apt-get install hugo)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hugo.toml",
        "baseURL = \"https://hugo.example/\"\ntitle = \"H\"\n\
         [permalinks]\n  posts = \"/:year/:month/:slug/\"\n",
    );
    for i in 1..=12 {
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::weeks(i);
        write(
            dir.path(),
            &format!("content/posts/week-{i}.md"),
            &format!("---\ntitle: \"Week {i}\"\ndate: {day}T10:00:00Z\n---\nBody {i}.\n"),
        );
    }
    let hugo = std::process::Command::new("hugo")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(hugo.status.success(), "{hugo:?}");
    let init = run_in(dir.path(), &["init", "--from-hugo", "."]);
    init.expect_success();
    assert!(init.stdout.contains("adopted 12 of 12"), "{}", init.stdout);
    run_in(dir.path(), &["build"]).expect_success();
    assert!(dir.path().join("public-feeds/index.xml").is_file());
    run_in(dir.path(), &["diff", "--against", "public"]).expect_success();
}

#[test]
fn init_says_what_is_left_when_the_old_feed_cannot_be_adopted() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "_config.yml",
        "title: T\nurl: https://t.example\n",
    );
    write(
        dir.path(),
        "_posts/2026-01-01-broken.md",
        "---\ntitle: [unclosed\n---\nx\n",
    );
    write(dir.path(), "_site/feed.xml", &old_window(1));
    let r = run_in(dir.path(), &["init", "--from-jekyll", "."]);
    r.expect_code(1)
        .stderr_has("_posts/2026-01-01-broken.md:3: front matter is not valid YAML")
        .stderr_has("then run `tributary adopt ./_site/feed.xml`");
    assert!(dir.path().join("tributary.yaml").is_file());
}

#[test]
fn diff_counts_of_one_are_singular() {
    let site = Site::new(BASIC_CONFIG);
    site.feed("main", "title: Main\nformats: [atom]\n");
    site.post("2026-01-01-a.md", post_text("title: A", "Body.\n"));
    site.build_ok();
    let r = site.run(&["diff"]);
    r.expect_success();
    assert!(
        r.stdout.contains("1 document compared; 0 id changes"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("unchanged:  1 entry\n") || !r.stdout.contains("unchanged"));
}
