//! Real Jekyll (with jekyll-feed) for the tests that compare with it: they
//! skip, saying why, where it is not installed.

use std::path::Path;
use std::process::Command;

/// Whether `jekyll` and jekyll-feed are installed; prints why a test skips
/// when they are not.
pub fn available(test: &str) -> bool {
    let ok = Command::new("jekyll")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipped {test}: jekyll is not installed (apt-get install jekyll ruby-jekyll-feed)"
        );
    }
    ok
}

/// `jekyll build` in `dir` (its `_site/`); panics with Jekyll's stderr if it fails.
pub fn build(dir: &Path) {
    let out = Command::new("jekyll")
        .arg("build")
        .current_dir(dir)
        .env("JEKYLL_ENV", "production")
        .output()
        .expect("run jekyll");
    assert!(
        out.status.success(),
        "jekyll build failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One Atom entry as the tests compare it.
#[derive(Debug, Clone)]
pub struct AtomEntry {
    pub id: String,
    pub link: String,
    /// The entry's content, unescaped: HTML.
    pub content: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// Every entry of an Atom document (jekyll-feed's or ours), in order.
pub fn atom_entries(xml: &str) -> Vec<AtomEntry> {
    xml.split("<entry")
        .skip(1)
        .map(|e| {
            let id = between(e, "<id>", "</id>").unwrap_or_default().to_string();
            let link = e
                .split("<link ")
                .skip(1)
                .map(|l| l.split('>').next().unwrap_or_default())
                .find(|l| l.contains("rel=\"alternate\""))
                .and_then(|l| between(l, "href=\"", "\""))
                .unwrap_or_default()
                .to_string();
            let content = e
                .find("<content")
                .and_then(|i| {
                    let rest = &e[i..];
                    let start = rest.find('>')? + 1;
                    let end = rest.find("</content>")?;
                    Some(&rest[start..end])
                })
                .unwrap_or_default();
            let content = content
                .strip_prefix("<![CDATA[")
                .and_then(|c| c.strip_suffix("]]>"))
                .map_or_else(|| unescape(content), str::to_string);
            AtomEntry { id, link, content }
        })
        .collect()
}

/// The `href`s of the links in some HTML, relative ones made absolute
/// against `base` (`https://example.org`), fragments kept.
pub fn hrefs(html: &str, base: &str) -> Vec<String> {
    html.split("<a ")
        .skip(1)
        .filter_map(|a| between(a, "href=\"", "\""))
        .map(|h| {
            let h = unescape(h);
            if h.starts_with('/') {
                format!("{}{h}", base.trim_end_matches('/'))
            } else {
                h
            }
        })
        .collect()
}
