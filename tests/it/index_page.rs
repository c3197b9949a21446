//! `build` writes the `/` page as `index.html` (issue 21): the page `serve`
//! serves at `/`, so that a static host serves what the daemon serves.

use crate::support::daemon::Daemon;
use crate::support::site::*;

#[test]
fn build_writes_the_page_serve_serves_at_the_root() {
    let site = Site::basic();
    site.post("2020-01-01-a.md", post_text("title: A", "Text.\n"));
    site.run(&["build"]).expect_success();
    let index = std::fs::read_to_string(site.public().join("index.html")).expect("index.html");
    assert!(index.contains("https://example.org/main.html"), "{index}");
    assert!(index.contains("https://example.org/main.atom"), "{index}");

    // A build with nothing to do keeps it, and counts it as no feed's page.
    let r = site.run(&["build"]);
    r.expect_success().stderr_has("and 1 page");
    assert!(site.public().join("index.html").exists());

    let d = Daemon::serve(&site);
    let served = d.get("/");
    assert_eq!(served.status_text().0, 200);
    assert_eq!(served.text(), index, "the daemon serves another page at /");
}

#[test]
fn a_feed_whose_page_is_index_html_keeps_it() {
    let site = Site::new(BASIC_CONFIG);
    site.feed("index", "title: Everything\n");
    site.post("2020-01-01-a.md", post_text("title: A", "Text.\n"));
    site.run(&["build"]).expect_success();
    let page = std::fs::read_to_string(site.public().join("index.html")).expect("index.html");
    assert!(page.contains("Everything"), "{page}");
}
