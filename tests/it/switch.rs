//! Switching over: the ledger keeps published ids; `diff` gates a deploy.

use crate::support::reader::{newsboat_reload, serve_file};
use crate::support::site::*;
use std::fs;

fn two_posts(site: &Site) {
    site.post(
        "2024-01-07-update.md",
        post_text("title: Week One", "One.\n"),
    );
    site.post(
        "2024-01-14-update.md",
        post_text("title: Week Two", "Two.\n"),
    );
}

#[test]
fn diff_exits_3_and_names_the_entry_when_a_slug_change_alters_an_id_without_the_ledger() {
    let site = Site::basic();
    two_posts(&site);
    site.run(&["build"]).expect_success();
    fs::remove_file(site.root().join("tributary.ledger")).unwrap();
    fs::rename(
        site.root().join("content/2024-01-14-update.md"),
        site.root().join("content/2024-01-14-renamed.md"),
    )
    .unwrap();
    let r = site.run(&["diff"]);
    r.expect_code(3);
    assert!(
        r.stdout.contains("ID CHANGES: \"Week Two\""),
        "diff should list the entry whose id changes:\n{}",
        r.stdout
    );
}

#[test]
fn with_the_ledger_a_renamed_post_keeps_its_id_and_diff_exits_0() {
    let site = Site::basic();
    two_posts(&site);
    site.run(&["build"]).expect_success();
    let before = fs::read_to_string(site.public().join("main.atom")).unwrap();
    fs::rename(
        site.root().join("content/2024-01-14-update.md"),
        site.root().join("content/2024-01-14-renamed.md"),
    )
    .unwrap();
    let r = site.run(&["diff"]);
    r.expect_success();
    assert!(r.stdout.contains("0 id changes"), "{}", r.stdout);
    assert!(!r.stdout.contains("new:"), "{}", r.stdout);
    site.run(&["build"]).expect_success();
    let after = fs::read_to_string(site.public().join("main.atom")).unwrap();
    assert_eq!(elements(&before, "id"), elements(&after, "id"));
}

/// (id, alternate link) of every Atom entry, in document order.
fn atom_ids_and_links(xml: &str) -> Vec<(String, String)> {
    xml.split("<entry")
        .skip(1)
        .map(|e| {
            let id = e
                .split("<id>")
                .nth(1)
                .and_then(|s| s.split("</id>").next())
                .unwrap_or_default();
            let link = e
                .split("<link ")
                .skip(1)
                .map(|l| l.split('>').next().unwrap_or_default())
                .find(|l| l.contains("rel=\"alternate\""))
                .and_then(|l| l.split("href=\"").nth(1))
                .and_then(|s| s.split('"').next())
                .unwrap_or_default();
            (id.to_string(), link.to_string())
        })
        .collect()
}

/// Build the repo's 30 LWKD fixtures with the real Jekyll 4 + jekyll-feed;
/// returns the directory holding `_site/feed.xml`, or None (with a reason
/// printed) where Jekyll is not installed.
fn jekyll_site() -> Option<tempfile::TempDir> {
    if std::process::Command::new("jekyll")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: jekyll is not installed (apt-get install jekyll ruby-jekyll-feed)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("_posts")).unwrap();
    for f in lwkd_fixtures() {
        fs::copy(&f, dir.path().join("_posts").join(f.file_name().unwrap())).unwrap();
    }
    // LWKD's _config.yml (without its remote theme, which needs the network) and its URL.
    fs::write(
        dir.path().join("_config.yml"),
        "title: Last Week in Kubernetes Development\n\
         description: Stay up-to-date on Kubernetes development in 15 minutes a week.\n\
         permalink: /:year/:year:month:day\nplugins:\n  - jekyll-feed\nurl: https://lwkd.info\n",
    )
    .unwrap();
    run_tool(
        std::process::Command::new("jekyll").arg("build"),
        dir.path(),
    );
    Some(dir)
}

fn lwkd_site(ids: &str, limit: &str) -> Site {
    let site = Site::new(&format!(
        "title: Last Week in Kubernetes Development\nbase_url: https://lwkd.info\n\
         permalink: /:year/:year:month:day\n{ids}"
    ));
    site.feed(
        "feed",
        &format!("formats: [atom]\noutput: feed.xml\nlimit: {limit}\n"),
    );
    for f in lwkd_fixtures() {
        site.post(
            f.file_name().unwrap().to_str().unwrap(),
            fs::read(&f).unwrap(),
        );
    }
    site
}

fn assert_same_entries(jekyll: &str, ours: &str) {
    let ours = atom_ids_and_links(ours);
    let theirs = atom_ids_and_links(jekyll);
    assert!(!theirs.is_empty());
    for pair in &theirs {
        assert!(
            ours.contains(pair),
            "jekyll-feed's entry {pair:?} is not in tributary's feed"
        );
    }
}

#[test]
fn ids_jekyll_reproduces_jekyll_feed_ids_and_links() {
    let Some(j) = jekyll_site() else { return };
    let jekyll = fs::read_to_string(j.path().join("_site/feed.xml")).unwrap();
    let site = lwkd_site("ids: jekyll\n", "all");
    site.run(&["build"]).expect_success();
    let ours = fs::read_to_string(site.public().join("feed.xml")).unwrap();
    assert_same_entries(&jekyll, &ours);
    assert!(
        ours.contains("<id>https://lwkd.info/feed.xml</id>"),
        "feed id"
    );
}

#[test]
fn adopt_takes_over_jekyll_feed_ids_with_the_default_scheme() {
    let Some(j) = jekyll_site() else { return };
    let feed = j.path().join("_site/feed.xml");
    let jekyll = fs::read_to_string(&feed).unwrap();
    let site = lwkd_site("", "all");
    site.run(&["adopt", feed.to_str().unwrap()])
        .expect_success();
    site.run(&["build"]).expect_success();
    let ours = fs::read_to_string(site.public().join("feed.xml")).unwrap();
    assert_same_entries(&jekyll, &ours);
}

fn rss_guids(xml: &str) -> Vec<String> {
    let mut out: Vec<String> = xml
        .split("<guid")
        .skip(1)
        .filter_map(|g| g.split('>').nth(1).and_then(|s| s.split("</guid").next()))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

#[test]
fn ids_hugo_reproduces_hugo_rss_guids() {
    if std::process::Command::new("hugo")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: hugo is not installed (apt-get install hugo)");
        return;
    }
    let h = tempfile::tempdir().unwrap();
    let w = |p: &str, s: &str| {
        let p = h.path().join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
    };
    w(
        "hugo.toml",
        "baseURL = \"https://hugo.example/\"\ntitle = \"H\"\n[permalinks]\nposts = \"/:year/:month/:slug/\"\n",
    );
    let one = "---\ntitle: \"Week One\"\ndate: 2024-01-07T10:00:00Z\n---\nOne.\n";
    let two = "---\ntitle: \"Week Two\"\ndate: 2024-01-14T10:00:00Z\n---\nTwo.\n";
    w("content/posts/week-one.md", one);
    w("content/posts/week-two.md", two);
    run_tool(&mut std::process::Command::new("hugo"), h.path());
    let theirs = rss_guids(&fs::read_to_string(h.path().join("public/index.xml")).unwrap());

    assert_eq!(theirs.len(), 2);
    let old_feed = h.path().join("public/index.xml");
    // `ids: hugo` with no ledger, and the default ids plus `adopt`.
    for (ids, adopt) in [("ids: hugo\n", false), ("", true)] {
        let site = Site::new(&format!(
            "title: H\nbase_url: https://hugo.example/\npermalink: /:year/:month/:slug/\n{ids}"
        ));
        site.feed("main", "formats: [rss]\n");
        site.post("2024-01-07-week-one.md", one);
        site.post("2024-01-14-week-two.md", two);
        if adopt {
            site.run(&["adopt", old_feed.to_str().unwrap()])
                .expect_success();
        }
        site.run(&["build"]).expect_success();
        // adopt also takes over the subscription URL, so nobody resubscribes.
        let written = if adopt { "index.xml" } else { "main.rss" };
        let ours = rss_guids(&fs::read_to_string(site.public().join(written)).unwrap());
        assert_eq!(ours, theirs, "{ids:?}, adopt: {adopt}");
    }
}

#[test]
fn newsboat_sees_nothing_new_after_the_switch_a_slug_change_and_a_new_base_url() {
    let have = |c: &str| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok()
    };
    if !have("newsboat") || !have("sqlite3") {
        eprintln!("skipped: newsboat and sqlite3 are needed (apt-get install newsboat sqlite3)");
        return;
    }
    let Some(j) = jekyll_site() else { return };
    let reader = tempfile::tempdir().unwrap();
    let serving = std::sync::Arc::new(std::sync::Mutex::new(j.path().join("_site/feed.xml")));
    let url = serve_file(serving.clone());
    let before = newsboat_reload(reader.path(), &url);
    assert_eq!(before, 10, "jekyll-feed publishes the newest 10");

    let site = lwkd_site("", "10");
    let feed = j.path().join("_site/feed.xml");
    site.run(&["adopt", feed.to_str().unwrap()])
        .expect_success();
    site.run(&["build"]).expect_success();
    *serving.lock().unwrap() = site.public().join("feed.xml");
    assert_eq!(
        newsboat_reload(reader.path(), &url),
        before,
        "new items after the switch"
    );

    // The newest post gets a new slug and the site moves to another host.
    let newest = fs::read_dir(site.root().join("content"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .max()
        .unwrap();
    let text = fs::read_to_string(&newest).unwrap();
    fs::write(
        &newest,
        text.replacen("---\n", "---\nslug: renamed-edition\n", 1),
    )
    .unwrap();
    site.write(
        "tributary.yaml",
        "title: Last Week in Kubernetes Development\nbase_url: https://lwkd.example.net\n\
         permalink: /:year/:year:month:day\n",
    );
    let d = site.run(&["diff"]);
    d.expect_success();
    assert!(
        d.stdout.contains("updated:") && !d.stdout.contains("new:"),
        "diff should say updated, not new:\n{}",
        d.stdout
    );
    site.run(&["build"]).expect_success();
    assert_eq!(
        newsboat_reload(reader.path(), &url),
        before,
        "new items after slug and base_url changed"
    );
}

/// Run another generator in `dir`; panic with its stderr if it fails.
fn run_tool(cmd: &mut std::process::Command, dir: &std::path::Path) {
    let out = cmd.current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repo's LWKD fixture posts (CC BY 4.0, see tests/fixtures/NOTICE).
fn lwkd_fixtures() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lwkd");
    fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect()
}

/// (id, alternate link) pairs of an Atom document, as a set.
fn id_link_set(xml: &str) -> std::collections::BTreeSet<(String, String)> {
    atom_ids_and_links(xml).into_iter().collect()
}

/// Issue 14: a Jekyll site switched in place (`content: _posts`, Jekyll's
/// `permalink: date`), with `.markdown` posts, categories that Jekyll puts
/// in URLs ("Release Notes" is `/release%20notes/`), and more posts than
/// jekyll-feed's 10-entry window. A reader subscribed since the first ten
/// posts holds the ids of all fourteen; after `adopt` of the live feed
/// (served over HTTP) and a build, every one of those (id, link) pairs is
/// in tributary's feed, unchanged. Was: the four posts that had left the
/// window got new `tag:` ids (the reader sees them again), and the links of
/// categorised posts were `/release-notes/...`, pages that do not exist.
#[test]
fn adopt_of_a_live_jekyll_feed_keeps_every_id_a_long_time_reader_holds() {
    if std::process::Command::new("jekyll")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: jekyll is not installed (apt-get install jekyll ruby-jekyll-feed)");
        return;
    }
    let site = Site::new(
        "title: Field Notes\nbase_url: https://notes.example\ncontent: _posts\n\
         permalink: date\ntimezone: America/New_York\n",
    );
    site.feed("feed", "formats: [atom]\noutput: feed.xml\nlimit: all\n");
    site.write(
        "_config.yml",
        "title: Field Notes\nurl: https://notes.example\ntimezone: America/New_York\n\
         plugins:\n  - jekyll-feed\n\
         exclude: [content, feeds, public, tributary.yaml, tributary.ledger]\n",
    );
    let post = |i: usize| {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 4).unwrap()
            + chrono::Duration::weeks(i as i64);
        let ext = if i % 3 == 0 { "markdown" } else { "md" };
        let cats = match i % 4 {
            0 => "categories: [Release Notes, News]\n",
            1 => "category: Updates\n",
            _ => "",
        };
        let time = if i % 5 == 0 {
            format!("date: {day} 21:30:00 -0500\n")
        } else {
            String::new()
        };
        site.write(
            &format!("_posts/{day}-note-{i}.{ext}"),
            format!("---\nlayout: post\ntitle: \"Note {i}: what changed\"\n{cats}{time}---\nBody of note {i}.\n"),
        );
    };
    let jekyll_feed = || {
        run_tool(
            std::process::Command::new("jekyll").arg("build"),
            site.root(),
        );
        fs::read_to_string(site.root().join("_site/feed.xml")).unwrap()
    };
    // The reader subscribed when there were ten posts, and has read every
    // version of the feed since.
    (0..10).for_each(post);
    let mut held = id_link_set(&jekyll_feed());
    (10..14).for_each(post);
    let live = jekyll_feed();
    assert_eq!(atom_ids_and_links(&live).len(), 10, "jekyll-feed's window");
    held.extend(id_link_set(&live));
    assert_eq!(held.len(), 14, "{held:#?}");

    let server = crate::support::upstream_server::TestServer::start();
    server.route(
        "/feed.xml",
        crate::support::upstream_server::Response::ok(live.clone())
            .header("Content-Type", "application/atom+xml"),
    );
    let r = site.run(&["adopt", &server.url("/feed.xml")]);
    r.expect_success();
    assert!(r.stdout.contains("adopted 10 of 10"), "{}", r.stdout);
    site.build_ok();
    let ours = id_link_set(&site.read("feed.xml"));
    let missing: Vec<_> = held.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "ids or links a reader holds, missing from tributary's feed: {missing:#?}\nours: {ours:#?}"
    );
    assert!(site
        .read("feed.xml")
        .contains("<id>https://notes.example/feed.xml</id>"));
}
