//! Regression tests for bugs found and fixed; each says what went wrong.

use crate::common::*;

/// Was: `render::html_to_text` turned every `<` into a space,
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
/// `render::xml_clean`, so a control character written as a YAML escape
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
