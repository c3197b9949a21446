//! `check` finds broken links (issue 21): links to posts the site does not
//! have, local images that are not there, malformed URLs, empty hrefs, and
//! anchors to footnotes or headings that are not there; each an error at
//! the `file:line` of the link in the Markdown file.

use crate::support::site::*;

/// A site whose posts live at `/YEAR/YEARMMDD` (LWKD's permalink).
fn site() -> Site {
    let site = Site::new(&format!(
        "{BASIC_CONFIG}permalink: /:year/:year:month:day\n"
    ));
    site.feed("main", MAIN_FEED);
    site.post(
        "2026-01-04-update.md",
        post_text("title: Week one", "First week.\n"),
    );
    site
}

/// `check` on `body` (a post's Markdown, from line 4 of its file): exit 1,
/// and an error naming the line and saying `message`.
#[track_caller]
fn refused(site: &Site, body: &str, line: usize, message: &str) {
    site.post("2026-01-11-update.md", post_text("title: Week two", body));
    let r = site.run(&["check"]);
    r.expect_code(1);
    let at = format!("content/2026-01-11-update.md:{line}: ");
    let found = r
        .stderr
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no line starting {at:?} in:\n{}", r.stderr));
    assert!(found.contains(message), "{found:?} should say {message:?}");
    r.stderr_has("1 error");
    assert!(!site.public().exists(), "check wrote files");
}

#[test]
fn good_links_pass() {
    let site = site();
    site.write("2026/images/graph.png", b"png");
    site.post(
        "2026-01-11-update.md",
        post_text(
            "title: Week two",
            "See [last week](/2026/20260104) and [its copy](https://example.org/2026/20260104/).\n\n\
             ![graph](/2026/images/graph.png) and [notes](#notes) and a note[^1].\n\n\
             [an about page](/about/), \
             [mail](mailto:a@example.org).\n\n\
             ## Notes\n\nText.\n\n[^1]: The note, [back](#notes).\n",
        ),
    );
    let r = site.run(&["check"]);
    r.expect_success();
    r.stderr_has("0 errors");
}

#[test]
fn a_link_to_a_post_the_site_does_not_have_is_an_error() {
    refused(
        &site(),
        "Intro.\n\nAs said [before](/2026/20269999), again.\n",
        6,
        "/2026/20269999",
    );
}

#[test]
fn an_absolute_link_to_a_missing_post_is_an_error() {
    refused(
        &site(),
        "Intro.\n\n[gone](https://example.org/2025/20251231)\n",
        6,
        "no post",
    );
}

#[test]
fn a_missing_local_image_is_an_error() {
    refused(
        &site(),
        "Intro.\n\n![graph](/2026/images/nothere.png)\n",
        6,
        "/2026/images/nothere.png",
    );
}

#[test]
fn a_malformed_url_is_an_error() {
    refused(
        &site(),
        "Intro.\n\nSee [the example](http://exa mple.com/x).\n",
        6,
        "http://exa mple.com/x",
    );
}

#[test]
fn an_empty_href_is_an_error() {
    refused(
        &site(),
        "Intro.\n\nThe [Helm Summit]() was busy.\n",
        6,
        "empty",
    );
}

#[test]
fn an_anchor_to_a_heading_that_is_not_there_is_an_error() {
    refused(
        &site(),
        "Intro.\n\n## Release notes\n\nSee [the notes](#release-notes) and [more](#missing).\n",
        8,
        "#missing",
    );
}

#[test]
fn a_footnote_in_the_summary_is_an_error() {
    // The summary is the first paragraph: its footnote's definition is not
    // in it, so the reader's link goes nowhere.
    refused(
        &site(),
        "The first paragraph cites[^a].\n\nMore.\n\n[^a]: The source.\n",
        4,
        "footnote",
    );
}

#[test]
fn an_anchor_to_a_footnote_that_is_not_there_is_an_error() {
    refused(
        &site(),
        "Intro.\n\nAs the note[^1] says, and [the other](#fn:2).\n\n[^1]: One.\n",
        6,
        "#fn:2",
    );
}

#[test]
fn images_beside_the_post_and_pages_of_unknown_shape_pass() {
    // With `/:title/` a link cannot tell a post from another page: it passes.
    let site = Site::new(&format!("{BASIC_CONFIG}permalink: /:title/\n"));
    site.feed("main", MAIN_FEED);
    site.write("content/bundle/photo.png", b"png");
    site.post(
        "bundle/2026-01-04-with-photo.md",
        post_text(
            "title: Photo",
            "Intro.\n\n![a photo](photo.png) and [a page](/no-such-page/).\n",
        ),
    );
    let r = site.run(&["check"]);
    r.expect_success();
    r.stderr_has("checked 1 post").stderr_has("0 errors");
}
