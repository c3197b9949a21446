//! The real LWKD corpus (386 Jekyll posts), when present beside the project.

use crate::support::site::*;
use std::path::Path;

const POSTS: usize = 386;

#[test]
fn lwkd_corpus_builds_valid_complete_feeds() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let posts = manifest.join("../shared/corpus/lwkd/posts");
    if !posts.is_dir() {
        eprintln!("skipped: ../shared/corpus/lwkd not found");
        return;
    }
    let site = Site::new(
        "title: Last Week in Kubernetes Development\n\
         description: Stay up-to-date on Kubernetes development in 15 minutes a week.\n\
         base_url: https://lwkd.info\n\
         permalink: /:year/:year:month:day\n",
    );
    site.feed("feed", "title: LWKD\nlimit: all\n");
    let mut copied = 0;
    for e in std::fs::read_dir(&posts).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            std::fs::copy(e.path(), site.root().join("content").join(&name)).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, POSTS, "the corpus changed");

    let r = site.build();
    r.expect_success();
    r.stderr_has(&format!("built {POSTS} posts into 3 feed documents"));
    assert_eq!(
        site.public_files(),
        [
            "feed.atom",
            "feed.html",
            "feed.json",
            "feed.rss",
            "index.html"
        ]
    );
    site.assert_all_valid();

    assert_eq!(site.atom("feed.atom").entries.len(), POSTS);
    assert_eq!(site.rss("feed.rss").items.len(), POSTS);
    let json = site.json("feed.json");
    assert_eq!(items(&json).len(), POSTS);

    // Jekyll's permalink for the newest post (date 2026-08-20, file 2026-08-16).
    assert_eq!(items(&json)[0]["url"], "https://lwkd.info/2026/20260820");
    let atom = site.read("feed.atom");
    assert!(atom.contains("<fh:complete/>"));

    check_feed_oracle(&site.public(), &["feed.atom", "feed.rss", "feed.json"]);
}
