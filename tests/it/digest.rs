//! `tributary digest` and `new --from-digest` end to end: release feeds
//! served from a real HTTP server on 127.0.0.1, fetched into the store by
//! the real binary, and the section it writes checked to the byte.

use crate::support::feeds::{atom, rss, Entry, Feed};
use crate::support::site::{stream_site, summary, Site, LOOPBACK_FETCH};
use crate::support::upstream_server::{Response, TestServer};

/// The project's release feed as first fetched: a window of three releases.
fn releases_before() -> String {
    atom(
        "Alpha releases",
        &[
            (
                "tag:alpha,2026:v1.2.0",
                "v1.2.0",
                "https://alpha.example/releases/tag/v1.2.0",
                "2026-11-01T10:00:00Z",
            ),
            (
                "tag:alpha,2026:v1.2.1",
                "v1.2.1",
                "https://alpha.example/releases/tag/v1.2.1",
                "2026-11-02T10:00:00Z",
            ),
            (
                "tag:alpha,2026:v1.2.2",
                "v1.2.2",
                "https://alpha.example/releases/tag/v1.2.2",
                "2026-11-03T10:00:00Z",
            ),
        ],
    )
}

/// The same feed a week later: three releases, none of them fetched
/// before (1.2.3 to 1.2.5 came and went in between).
fn releases_after() -> String {
    atom(
        "Alpha releases",
        &[
            (
                "tag:alpha,2026:v1.2.6",
                "v1.2.6",
                "https://alpha.example/releases/tag/v1.2.6",
                "2026-11-10T10:00:00Z",
            ),
            (
                "tag:alpha,2026:v1.3.0-rc.1",
                "v1.3.0-rc.1",
                "https://alpha.example/releases/tag/v1.3.0-rc.1",
                "2026-11-11T10:00:00Z",
            ),
            (
                "tag:alpha,2026:v1.2.7",
                "v1.2.7",
                "https://alpha.example/releases/tag/v1.2.7",
                "2026-11-12T10:00:00Z",
            ),
        ],
    )
}

/// A community planet that reposts 1.2.7 (its link with tracking
/// parameters) and has a post without a version.
fn planet() -> String {
    rss(
        "Planet Alpha",
        &[
            (
                "planet-1",
                "Alpha 1.2.7 released",
                "http://alpha.example/releases/tag/v1.2.7/?utm_source=planet",
                "2026-11-12T12:00:00Z",
            ),
            (
                "planet-2",
                "Alpha community call notes",
                "https://planet.example/call",
                "2026-11-13T09:00:00Z",
            ),
        ],
    )
}

/// A site whose stream draws from both, served by `server`, fetched twice
/// with the release feed changed in between (the second fetch overlaps
/// nothing the first stored).
fn fetched_twice(server: &TestServer) -> Site {
    server.route("/alpha.atom", Response::ok(releases_before()));
    server.route("/planet.rss", Response::ok(planet()));
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[
            (&server.url("/alpha.atom"), "Alpha releases"),
            (&server.url("/planet.rss"), "Planet Alpha"),
        ],
    );
    site.feed("main", "title: Main\n");
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 5"
    );
    server.route("/alpha.atom", Response::ok(releases_after()));
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 3"
    );
    site
}

const WINDOW: &[&str] = &["--from", "2026-11-08", "--to", "2026-11-14"];

fn digest(site: &Site, extra: &[&str]) -> crate::support::site::Run {
    let mut args = vec!["digest"];
    args.extend_from_slice(WINDOW);
    args.extend_from_slice(extra);
    site.run(&args)
}

const GAP: &str = "possible gap: 3 releases may be missing between 1.2.2 and 1.2.6";

#[test]
fn digest_of_a_fixed_store_and_window() {
    let server = TestServer::start();
    let site = fetched_twice(&server);
    let r = digest(&site, &[]);
    r.expect_success();
    // The planet's repost of 1.2.7 is folded into the release (one bullet,
    // the project's own link); the release candidate is marked; the gap is
    // a comment where 1.2.3 to 1.2.5 would be.
    assert_eq!(
        r.stdout,
        "\
* [Alpha to 1.2.7](https://alpha.example/releases/tag/v1.2.7)
* [Alpha to 1.3.0-rc.1](https://alpha.example/releases/tag/v1.3.0-rc.1) (pre-release)
* [Alpha to 1.2.6](https://alpha.example/releases/tag/v1.2.6)
<!-- possible gap: 3 releases may be missing between 1.2.2 and 1.2.6 -->
* [Alpha community call notes](https://planet.example/call)
"
    );
    r.stderr_has(&format!(
        "feeds/stream.yaml: warning: Alpha releases: {GAP}"
    ));
    r.stderr_has("digest of stream: 4 entries between 2026-11-08 and 2026-11-14, 1 possible gap");

    // Notes: the first paragraph of each, the longest copy's for the merged one.
    let r = digest(&site, &["--notes", "--pre-releases", "omit"]);
    r.expect_success();
    assert_eq!(
        r.stdout,
        "\
* [Alpha to 1.2.7](https://alpha.example/releases/tag/v1.2.7)
  * About Alpha 1.2.7 released.
* [Alpha to 1.2.6](https://alpha.example/releases/tag/v1.2.6)
  * About v1.2.6.
<!-- possible gap: 3 releases may be missing between 1.2.2 and 1.2.6 -->
* [Alpha community call notes](https://planet.example/call)
  * About Alpha community call notes.
"
    );
    let r = digest(&site, &["--pre-releases", "include"]);
    assert!(
        r.stdout
            .contains("* [Alpha to 1.3.0-rc.1](https://alpha.example/releases/tag/v1.3.0-rc.1)\n"),
        "{}",
        r.stdout
    );

    // A window after the gap does not report it; `--since` ends at `--to`.
    let r = site.run(&["digest", "--since", "2d", "--to", "2026-11-13"]);
    r.expect_success();
    assert_eq!(
        r.stdout,
        "* [Alpha to 1.2.7](https://alpha.example/releases/tag/v1.2.7)\n\
         * [Alpha community call notes](https://planet.example/call)\n"
    );
    assert!(!r.stderr.contains("possible gap"), "{}", r.stderr);

    // The gap is still reported after a fetch that overlaps the last one.
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    digest(&site, &[]).expect_success().stderr_has(GAP);
}

#[test]
fn digest_into_a_template_a_file_and_a_new_post() {
    let server = TestServer::start();
    let site = fetched_twice(&server);
    site.write(
        "digest.md",
        "# {{title}}, {{from}} to {{to}} ({{feed}}, {{date}})\n\n{{ digest }}\n\nThat's all.\n",
    );
    let template = site.root().join("digest.md");
    let out = site.root().join("out.md");
    let mut args = vec!["--output", out.to_str().unwrap_or_default(), "digest"];
    args.extend_from_slice(WINDOW);
    args.extend_from_slice(&["--template", template.to_str().unwrap_or_default()]);
    let r = site.run(&args);
    r.expect_success();
    assert_eq!(r.stdout, "");
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        written.starts_with(
            "# Stream, 2026-11-08 to 2026-11-14 (stream, 2026-11-14)\n\n* [Alpha to 1.2.7]"
        ),
        "{written}"
    );
    assert!(
        written.ends_with(
            "* [Alpha community call notes](https://planet.example/call)\n\nThat's all.\n"
        ),
        "{written}"
    );

    // `new --from-digest`: the shipped template, the post's title in front matter.
    let r = site.run(&[
        "new",
        "Week Ending November 14, 2026",
        "--from-digest",
        "--from",
        "2026-11-08",
        "--to",
        "2026-11-14",
    ]);
    r.expect_success().stderr_has(GAP);
    let rel = r.stdout.trim();
    let post = std::fs::read_to_string(site.root().join(rel)).unwrap_or_default();
    assert!(post.starts_with("---\ndate: "), "{post}");
    assert!(
        post.contains("\ntitle: Week Ending November 14, 2026\n---\n"),
        "{post}"
    );
    assert!(
        post.contains(
            "---\n\nWrite the week's summary here.\n\n## Subprojects and Dependency Updates\n\n\
             * [Alpha to 1.2.7](https://alpha.example/releases/tag/v1.2.7)\n"
        ),
        "{post}"
    );
    assert!(post.contains(&format!("<!-- {GAP} -->\n")), "{post}");
    // The post builds: the digest is Markdown the site takes as it is.
    site.build().expect_success();

    // A misspelt slot names its line and the slots there are.
    site.write("bad.md", "intro\n{{digset}}\n");
    let bad = site.root().join("bad.md");
    let mut args = vec!["digest"];
    args.extend_from_slice(WINDOW);
    args.extend_from_slice(&["--template", bad.to_str().unwrap_or_default()]);
    site.run(&args)
        .expect_code(1)
        .stderr_has("bad.md:2: unknown slot {{digset}}; the slots are {{title}}, {{date}}");
    // Digest options without --from-digest are a mistake, not ignored.
    site.run(&["new", "Other", "--notes"])
        .expect_code(1)
        .stderr_has("add --from-digest");
}

#[test]
fn digest_errors() {
    let server = TestServer::start();
    server.route("/alpha.atom", Response::ok(releases_before()));
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[(&server.url("/alpha.atom"), "Alpha releases")],
    );
    site.feed("main", "title: Main\n");

    // Never fetched: no store yet.
    site.run(&["digest"]).expect_code(1).stderr_has(
        "feeds/stream.yaml: the store has no items for feed stream: run `tributary fetch` first",
    );
    // An unknown feed lists the feeds that would do.
    site.run(&["digest", "--feed", "streem"])
        .expect_code(1)
        .stderr_has(
            "there is no feed \"streem\" (feeds/streem.yaml); pass --feed with one of the feeds with upstreams: stream",
        );
    site.run(&["digest", "--feed", "main"])
        .expect_code(1)
        .stderr_has("feed \"main\" has no `upstreams:`");

    site.run(&["fetch"]).expect_success();
    // An empty window.
    site.run(&["digest", "--from", "2026-10-01", "--to", "2026-10-07"])
        .expect_code(1)
        .stderr_has(
            "feeds/stream.yaml: no releases between 2026-10-01 and 2026-10-07 in feed stream",
        );
    // Bad windows.
    site.run(&["digest", "--since", "a week"])
        .expect_code(1)
        .stderr_has("--since \"a week\" is not a duration");
    site.run(&["digest", "--from", "2026-11-09", "--to", "2026-11-01"])
        .expect_code(1)
        .stderr_has("the window ends before it starts");
    site.run(&["digest", "--from", "yesterday"])
        .expect_code(1)
        .stderr_has("--from \"yesterday\" is not a date");

    // A store that exists but holds nothing for this feed's sources.
    let other = stream_site(
        LOOPBACK_FETCH,
        50,
        &[(&server.url("/missing.atom"), "Gone")],
    );
    other.run(&["fetch"]);
    other
        .run(&["digest"])
        .expect_code(1)
        .stderr_has("the store has no items for feed stream: run `tributary fetch` first (its fetches failed: Gone: never fetched (HTTP 404))");
}

/// The bundled example site's digest is the one README.md shows, to the
/// byte: the README's example is real output, and stays so.
#[test]
fn the_example_site_digest_is_the_one_the_readme_shows() {
    let site = Site::new("");
    crate::support::daemon::copy_example_site(site.root());
    // The two local sources only: the GitHub ones need the network.
    for source in ["Riverbed releases", "Planet Riverbed"] {
        site.run(&["fetch", "--source", source]).expect_success();
    }
    // The example's files have fixed dates: end the window on the day the
    // README's run covers.
    let run = site.run(&["digest", "--since", "7d", "--to", "2026-12-06", "--notes"]);
    run.expect_success();

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("$ tributary digest --since 7d --notes\n")
        .expect("README shows `tributary digest --since 7d --notes`");
    // The README's run fetched the GitHub sources offline, so its comments
    // add the reason (`never fetched (unknown host)`); this one never tried.
    let shown: Vec<String> = readme[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("feeds/stream.yaml:") && !l.starts_with("digest of stream:"))
        .map(|l| match (l.starts_with("<!-- "), l.find(" (")) {
            (true, Some(at)) => format!("{} -->", &l[..at]),
            _ => l.to_string(),
        })
        .collect();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), shown);
    assert!(
        shown[0].starts_with("<!-- etcd: never fetched"),
        "{shown:?}"
    );
    assert!(run.stdout.contains("(pre-release)"));
    assert!(
        !run.stdout.contains("nightly"),
        "exclude: drops the nightly:\n{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("releases/tag/v3.2.0)").count(),
        1,
        "the planet's repost of 3.2.0 merged into the release:\n{}",
        run.stdout
    );
}

/// A release feed shaped like GitHub's `releases.atom`: entries carry only
/// `<updated>`, which moves when a release's notes are edited.
fn updated_only(items: &[(&str, &str, &str, &str)]) -> String {
    Feed::new(
        "Release notes from alpha",
        "tag:github.com,2008:https://github.com/alpha/alpha/releases",
    )
    .updated("2026-11-12T10:00:00Z")
    .entries(items.iter().map(|(id, title, link, updated)| {
        Entry::new(id, title, link, updated)
            .author("alpha")
            .content_html(&format!("<p>Notes for {title}.</p>"))
    }))
    .atom()
}

fn releases_site(server: &TestServer) -> Site {
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[(&server.url("/alpha.atom"), "Alpha releases")],
    );
    site.feed("main", "title: Main\n");
    site
}

/// An October release whose notes are edited in November (only its
/// `<updated>` moves): an update, not a new release. It stays out of
/// November's digest and keeps its place in the combined feed.
#[test]
fn an_old_release_edited_later_stays_in_its_week() {
    let server = TestServer::start();
    let old = (
        "tag:github.com,2008:Repository/1/v1.0.0",
        "v1.0.0",
        "https://alpha.example/releases/tag/v1.0.0",
    );
    let new = (
        "tag:github.com,2008:Repository/1/v1.1.0",
        "v1.1.0",
        "https://alpha.example/releases/tag/v1.1.0",
        "2026-11-10T10:00:00Z",
    );
    server.route(
        "/alpha.atom",
        Response::ok(updated_only(&[
            new,
            (old.0, old.1, old.2, "2026-10-05T10:00:00Z"),
        ])),
    );
    let site = releases_site(&server);
    site.run(&["fetch"]).expect_success();
    // Edited on 2026-11-12: the newest `<updated>` of the feed.
    server.route(
        "/alpha.atom",
        Response::ok(updated_only(&[
            (old.0, old.1, old.2, "2026-11-12T10:00:00Z"),
            new,
        ])),
    );
    site.run(&["fetch", "--all"]).expect_success();
    let r = digest(&site, &[]);
    r.expect_success();
    assert_eq!(
        r.stdout, "* [Alpha to 1.1.0](https://alpha.example/releases/tag/v1.1.0)\n",
        "{}",
        r.stderr
    );
    site.build_ok();
    let doc = site.json("stream.json");
    let items = crate::support::site::items(&doc);
    let titles: Vec<&str> = items
        .iter()
        .map(|i| i["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, ["v1.1.0", "v1.0.0"], "newest publication first");
    assert_eq!(
        items[1]["date_published"].as_str(),
        Some("2026-10-05T10:00:00Z")
    );
    assert_eq!(
        items[1]["date_modified"].as_str(),
        Some("2026-11-12T10:00:00Z"),
        "the edit is an update"
    );
}

/// The feed's entry ids change (a host changed its id scheme) while the
/// releases stay the same (same link and title): each is stored once,
/// keeping when it was first seen, and no gap is reported.
#[test]
fn changed_ids_with_the_same_link_and_title_are_the_same_release() {
    let server = TestServer::start();
    let feed = |scheme: &str| {
        atom(
            "Alpha releases",
            &[
                (
                    &format!("{scheme}v3.0.8"),
                    "v3.0.8",
                    "https://alpha.example/releases/tag/v3.0.8",
                    "2026-11-09T10:00:00Z",
                ),
                (
                    &format!("{scheme}v3.0.9"),
                    "v3.0.9",
                    "https://alpha.example/releases/tag/v3.0.9",
                    "2026-11-10T10:00:00Z",
                ),
            ],
        )
    };
    server.route("/alpha.atom", Response::ok(feed("tag:alpha,2026:")));
    let site = releases_site(&server);
    site.run(&["fetch"]).expect_success();
    server.route(
        "/alpha.atom",
        Response::ok(feed("tag:github.com,2008:Repository/1/")),
    );
    let r = site.run(&["fetch", "--all"]);
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 0, new items 0"
    );
    let r = digest(&site, &[]);
    r.expect_success();
    assert_eq!(
        r.stdout,
        "* [Alpha to 3.0.9](https://alpha.example/releases/tag/v3.0.9)\n\
         * [Alpha to 3.0.8](https://alpha.example/releases/tag/v3.0.8)\n"
    );
    assert!(!r.stderr.contains("possible gap"), "{}", r.stderr);
    site.build_ok();
    let doc = site.json("stream.json");
    assert_eq!(
        crate::support::site::items(&doc).len(),
        2,
        "each release once"
    );
}

/// A store that already holds a release twice under two ids (and one
/// whose title changed with its id): the versions of the two fetches
/// overlap, so there is no gap "between 3.0.9 and 3.0.9".
#[test]
fn changed_ids_with_other_titles_report_no_gap_between_equal_versions() {
    let server = TestServer::start();
    let feed = |scheme: &str, prefix: &str| {
        atom(
            "Alpha releases",
            &[
                (
                    &format!("{scheme}v3.0.8"),
                    &format!("{prefix}v3.0.8"),
                    "https://alpha.example/releases/tag/v3.0.8",
                    "2026-11-09T10:00:00Z",
                ),
                (
                    &format!("{scheme}v3.0.9"),
                    &format!("{prefix}v3.0.9"),
                    "https://alpha.example/releases/tag/v3.0.9",
                    "2026-11-10T10:00:00Z",
                ),
            ],
        )
    };
    server.route("/alpha.atom", Response::ok(feed("tag:alpha,2026:", "")));
    let site = releases_site(&server);
    site.run(&["fetch"]).expect_success();
    server.route(
        "/alpha.atom",
        Response::ok(feed("tag:github.com,2008:Repository/1/", "Alpha ")),
    );
    site.run(&["fetch", "--all"]).expect_success();
    let r = digest(&site, &[]);
    r.expect_success();
    assert!(!r.stderr.contains("possible gap"), "{}", r.stderr);
    assert!(!r.stdout.contains("possible gap"), "{}", r.stdout);
}

/// An Atom release feed whose entries carry HTML notes: (id, title, link,
/// published, notes).
fn releases_with_notes(title: &str, items: &[(&str, &str, &str, &str, &str)]) -> String {
    Feed::new(title, "urn:feed:notes")
        .updated("2026-11-12T00:00:00Z")
        .entries(items.iter().map(|(id, t, link, date, notes)| {
            Entry::new(id, t, link, date)
                .published(date)
                .author("Writer")
                .content_html(notes)
        }))
        .atom()
}

/// GitHub's generated notes: a "What's Changed" list and a changelog link.
const WHATS_CHANGED: &str = "<h2>What's Changed</h2>\n<ul>\n\
<li>Bump the etcd client to 3.5.17 by <a class=\"user-mention\" href=\"https://github.com/bob\">@bob</a> in <a href=\"https://github.com/kubernetes/ingress-nginx/pull/12\">#12</a></li>\n\
<li>Fix the chart by @carol in https://github.com/kubernetes/ingress-nginx/pull/13</li>\n</ul>\n\
<p><strong>Full Changelog</strong>: <a href=\"https://github.com/kubernetes/ingress-nginx/compare/controller-v1.11.2...controller-v1.11.3\">controller-v1.11.2...controller-v1.11.3</a></p>";

#[test]
fn digest_text_for_generated_notes_component_tags_and_tracking_links() {
    let server = TestServer::start();
    server.route(
        "/ingress.atom",
        Response::ok(releases_with_notes(
            "Release notes from ingress-nginx",
            &[
                (
                    "tag:github.com,2008:Repository/1/controller-v1.11.3",
                    "controller-v1.11.3",
                    "https://github.com/kubernetes/ingress-nginx/releases/tag/controller-v1.11.3",
                    "2026-11-10T10:00:00Z",
                    WHATS_CHANGED,
                ),
                (
                    "tag:github.com,2008:Repository/1/helm-chart-4.11.3",
                    "helm-chart-4.11.3",
                    "https://github.com/kubernetes/ingress-nginx/releases/tag/helm-chart-4.11.3",
                    "2026-11-09T10:00:00Z",
                    "<p>Prose first. More prose.</p><h2>What's Changed</h2><ul><li>Chart bump by @bob in https://github.com/kubernetes/ingress-nginx/pull/14</li></ul>",
                ),
            ],
        )),
    );
    server.route(
        "/kustomize.atom",
        Response::ok(releases_with_notes(
            "Release notes from kustomize",
            &[
                (
                    "tag:github.com,2008:Repository/2/cmd/config/v0.15.0",
                    "cmd/config/v0.15.0",
                    "https://github.com/kubernetes-sigs/kustomize/releases/tag/cmd/config/v0.15.0",
                    "2026-11-11T10:00:00Z",
                    "<p><strong>Full Changelog</strong>: <a href=\"https://github.com/kubernetes-sigs/kustomize/compare/a...b\">a...b</a></p>",
                ),
                (
                    "tag:github.com,2008:Repository/2/kustomize/v5.5.0",
                    "kustomize/v5.5.0",
                    "https://github.com/kubernetes-sigs/kustomize/releases/tag/kustomize%2Fv5.5.0?utm_source=feed&utm_medium=rss",
                    "2026-11-12T10:00:00Z",
                    "<p>Kustomize 5.5 is out. It has plugins.</p>",
                ),
            ],
        )),
    );
    let site = stream_site(
        LOOPBACK_FETCH,
        50,
        &[
            (&server.url("/ingress.atom"), "ingress-nginx"),
            (&server.url("/kustomize.atom"), "kustomize"),
        ],
    );
    site.run(&["fetch"]).expect_success();
    let r = digest(&site, &["--notes"]);
    r.expect_success();
    assert_eq!(
        r.stdout,
        "\
* [ingress-nginx controller to 1.11.3](https://github.com/kubernetes/ingress-nginx/releases/tag/controller-v1.11.3)
  * Bump the etcd client to 3.5.17
* [ingress-nginx helm-chart to 4.11.3](https://github.com/kubernetes/ingress-nginx/releases/tag/helm-chart-4.11.3)
  * Prose first. More prose.
* [kustomize to 5.5.0](https://github.com/kubernetes-sigs/kustomize/releases/tag/kustomize%2Fv5.5.0)
  * Kustomize 5.5 is out. It has plugins.
* [kustomize cmd/config to 0.15.0](https://github.com/kubernetes-sigs/kustomize/releases/tag/cmd/config/v0.15.0)
"
    );
}
