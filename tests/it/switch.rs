//! Switching over: the ledger keeps published ids; `diff` gates a deploy.

use crate::common::*;
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
