//! Posts read as Hugo reads a section (`ids: hugo`): page bundles, `url:`
//! and `slug:`, Hugo's `:slug` (the front-matter slug, else the title made
//! into a URL segment by Hugo's `urlize`), `publishDate`/`expiryDate`, and
//! TOML front matter. Checked against Hugo's own source (v0.111:
//! `helpers/path.go` `UnicodeSanitize`, `helpers/url.go` `URLize`,
//! `resources/page/permalinks.go`, `resources/page/page_paths.go`
//! `CreateTargetPaths`, `hugolib/page__paths.go`) and against real Hugo in
//! `tests/it/hugo.rs`.

use chrono::{DateTime, Datelike, FixedOffset};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Component, Path};
use std::sync::{Mutex, OnceLock};

/// What reading posts as Hugo does needs to know about the site. `Copy`, as
/// `LoadOptions` is: the strings are interned once per distinct value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HugoOptions {
    /// The site's `permalink:` pattern, read with Hugo's placeholders.
    pub permalink: &'static str,
    /// Hugo's content directory relative to the site root: `content` when
    /// `content:` is `content` or below it (a Hugo site switched in place
    /// with `content: content/blog`), else `content:` itself.
    pub content_root: &'static str,
    /// The site's `base_url` (ends with `/`), for `ref`.
    pub base_url: &'static str,
}

impl HugoOptions {
    pub fn new(permalink: &str, content: &Path, base_url: &str) -> HugoOptions {
        let root = match content.components().next() {
            Some(Component::Normal(c)) if c == "content" => "content".to_string(),
            _ => slash_path(content),
        };
        HugoOptions {
            permalink: intern(permalink),
            content_root: intern(&root),
            base_url: intern(base_url),
        }
    }
}

/// A `&'static str` for `s`, leaked once per distinct value (a site has a
/// handful: its pattern, content directory and base URL).
fn intern(s: &str) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&k) = seen.get(s) {
        return k;
    }
    let k: &'static str = Box::leak(s.to_string().into_boxed_str());
    seen.insert(k);
    k
}

/// A path with `/` separators.
pub fn slash_path(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What Hugo knows about a page that a Jekyll post does not have.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HugoPage {
    /// Front-matter `slug`, as written.
    pub slug: Option<String>,
    /// The title made into a URL segment (`urlize`), from the title as written.
    pub title_slug: String,
    /// `:filename`: the file name without extension, or a bundle's directory name.
    pub filename: String,
    /// Directories between Hugo's content directory and the page (a
    /// bundle's own directory not included); the first is `:section`.
    pub sections: Vec<String>,
    /// Front-matter `url`: the page's path, as Hugo writes it.
    pub url: Option<String>,
    /// `publishDate` (or `pubDate`, `published`) when it is not the date.
    #[serde(with = "super::cache::opt_date", default)]
    pub publish: Option<DateTime<FixedOffset>>,
    /// `expiryDate` (or `unpublishDate`): not published from then on.
    #[serde(with = "super::cache::opt_date", default)]
    pub expiry: Option<DateTime<FixedOffset>>,
    pub aliases: Vec<String>,
    /// The body has a `ref`/`relref` to another page: its rendering depends
    /// on that page, so the post is not kept in the metadata cache.
    pub refs: bool,
}

impl HugoPage {
    /// Hugo's `:slug`: the front-matter slug made into a URL segment, else the title's.
    pub fn slug(&self) -> String {
        self.slug
            .as_deref()
            .map_or_else(|| self.title_slug.clone(), urlize)
    }
}

/// Hugo's `UnicodeSanitize` (helpers/path.go): letters, digits, marks and
/// `. / \ _ # + ~ - @` kept, `%XX` kept, a run of spaces between kept
/// characters becomes one `-`, everything else is dropped.
pub fn sanitize(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let (mut prepend_hyphen, mut was_hyphen) = (false, false);
    for (i, &r) in chars.iter().enumerate() {
        let hex = |k: usize| chars.get(k).is_some_and(|c| c.is_ascii_hexdigit());
        let allowed = matches!(r, '.' | '/' | '\\' | '_' | '#' | '+' | '~' | '-' | '@')
            || r.is_alphanumeric()
            || is_mark(r)
            || (r == '%' && hex(i + 1) && hex(i + 2));
        if allowed {
            was_hyphen = r == '-';
            if prepend_hyphen {
                if !was_hyphen {
                    out.push('-');
                }
                prepend_hyphen = false;
            }
            out.push(r);
        } else if !out.is_empty() && !was_hyphen && r.is_whitespace() {
            prepend_hyphen = true;
        }
    }
    out
}

/// Combining marks (Unicode category M), approximated by the blocks that hold them.
fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A
        | 0x064B..=0x065F | 0x0900..=0x0903 | 0x093A..=0x094F | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0x3099..=0x309A | 0xFE20..=0xFE2F)
}

/// Hugo's `urlize` before escaping: sanitized, then lower-cased.
pub fn urlize(s: &str) -> String {
    sanitize(s).to_lowercase()
}

/// Go's `url.QueryUnescape`: `%XX` decoded, `+` is a space; `None` for a
/// malformed escape or bytes that are not UTF-8.
pub fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Go's `path.Join` of the parts of `p`: no empty or `.` segments, `..`
/// removes the one before; the trailing `/` kept when `p` had one (Hugo's `pjoin`).
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The site-relative path Hugo gives a page: its `url:`, else the pattern
/// expanded. Not percent-encoded (`SiteConfig::url_for` does that as Hugo's
/// `URLizeFilename` does). `date` is the page's date in its own offset.
pub fn page_path(pattern: &str, page: &HugoPage, date: DateTime<FixedOffset>) -> String {
    if let Some(url) = page.url.as_deref().filter(|u| !u.trim().is_empty()) {
        return url_path(url.trim());
    }
    let expanded = expand(pattern, page, date);
    let opath = query_unescape(&expanded).unwrap_or_default();
    let link = if opath.trim_matches('/').is_empty() {
        // Hugo falls back to the file's own path when the pattern gives nothing.
        let mut dirs = page.sections.clone();
        dirs.push(page.filename.clone());
        dirs.join("/")
    } else {
        opath
    };
    let link = clean(&format!("/{link}"));
    let link = format!("{}/", link.trim_end_matches('/'));
    urlize(&link)
}

/// A front-matter `url:`: kept as written (not lower-cased), cleaned, with a
/// trailing `/` unless its last segment has a `.` (`/feed.xml`).
fn url_path(url: &str) -> String {
    let cleaned = clean(&format!("/{}", url.trim_start_matches('/')));
    if url.ends_with('/') || !url.contains('.') {
        format!("{}/", cleaned.trim_end_matches('/'))
    } else {
        cleaned
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Expand Hugo's placeholders (`:\w+`); unknown ones are left as written.
fn expand(pattern: &str, page: &HugoPage, date: DateTime<FixedOffset>) -> String {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut rest = pattern;
    while let Some(pos) = rest.find(':') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        match placeholder(&after[..len], page, date) {
            Some(v) if len > 0 => out.push_str(&v),
            _ => {
                out.push(':');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn placeholder(word: &str, page: &HugoPage, d: DateTime<FixedOffset>) -> Option<String> {
    let slug_or = |other: &str| match page.slug.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => urlize(s),
        None => other.to_string(),
    };
    Some(match word {
        "year" => d.year().to_string(),
        "month" => format!("{:02}", d.month()),
        "monthname" => super::permalink::MONTHS[d.month0() as usize].to_string(),
        "day" => format!("{:02}", d.day()),
        "weekday" => d.weekday().num_days_from_sunday().to_string(),
        "weekdayname" => WEEKDAYS[d.weekday().num_days_from_sunday() as usize].to_string(),
        "yearday" => d.ordinal().to_string(),
        "section" => page.sections.first().cloned().unwrap_or_default(),
        "sections" => page.sections.join("/"),
        "title" => page.title_slug.clone(),
        "slug" => slug_or(&page.title_slug),
        "slugorfilename" => slug_or(&urlize(&page.filename)),
        "filename" | "contentbasename" => urlize(&page.filename),
        "slugorcontentbasename" => slug_or(&urlize(&page.filename)),
        _ => return None,
    })
}

/// `:filename` and the sections of the page at `shown` (site-relative):
/// `DIR/index.md` is a page bundle named `DIR`.
pub fn file_parts(shown: &Path, content_root: &str) -> (String, Vec<String>) {
    let rel = shown.strip_prefix(content_root).unwrap_or(shown);
    let mut dirs: Vec<String> = rel
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let stem = shown
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if stem == "index" {
        dirs.pop().unwrap_or(stem)
    } else {
        stem
    };
    (name, dirs)
}

/// Hugo's sections of a page: below the first, a directory is a section only
/// with an `_index.md` (checked under the site `root`), and so are the ones it
/// is in.
pub fn prune_sections(sections: &mut Vec<String>, root: &Path, content_root: &str) {
    let mut dir = root.join(content_root);
    let mut keep = 0;
    for (i, s) in sections.iter().enumerate() {
        dir.push(s);
        let has_index = ["_index.md", "_index.markdown"]
            .iter()
            .any(|f| std::fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()));
        if i > 0 && !has_index {
            break;
        }
        keep = i + 1;
    }
    sections.truncate(keep);
}

/// Whether `path` is a leaf bundle's `index.md` (Hugo: `index.*`).
pub fn is_bundle_index(path: &Path) -> bool {
    path.file_stem().is_some_and(|s| s == "index")
}

/// TOML front matter as a JSON map (dates become RFC 3339 text, as the
/// YAML reader gives them). Errors carry the 1-based line in `front`.
pub fn toml_front(front: &str) -> Result<Map<String, Value>, (usize, String)> {
    let table: toml::Table = toml::from_str(front).map_err(|e| {
        let line = e
            .span()
            .map(|s| front[..s.start.min(front.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        (
            line,
            format!("front matter is not valid TOML: {}", e.message()),
        )
    })?;
    Ok(table.into_iter().map(|(k, v)| (k, toml_value(v))).collect())
}

fn toml_value(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_value).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_value(v))).collect())
        }
    }
}

/// The 1-based line in `front` of the top-level key `key` (any case, as
/// Hugo reads keys), for `key: value` and `key = value` lines.
pub fn key_line_ci(front: &str, key: &str) -> Option<usize> {
    front
        .lines()
        .position(|l| {
            let name_end = l.find([':', '=']).unwrap_or(0);
            let name = l[..name_end].trim_end().trim_matches(['"', '\'']);
            !l.starts_with([' ', '\t']) && name_end > 0 && name.eq_ignore_ascii_case(key)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    /// Titles and what real Hugo (v0.111.3) made of them under `/blog/:slug/`.
    #[test]
    fn title_slugs_are_hugo_s() {
        let page = |t: &str| HugoPage {
            title_slug: urlize(t),
            filename: "x".into(),
            sections: vec!["blog".into()],
            ..Default::default()
        };
        let at = d("2021-01-01T00:00:00Z");
        for (title, want) in [
            ("a+b", "/blog/a-b/"),
            ("C++ / Go", "/blog/c-/-go/"),
            ("x@y~z", "/blog/x@y~z/"),
            ("Dots. And_under", "/blog/dots.-and_under/"),
            ("Tab\there", "/blog/tab-here/"),
            ("a%20b %zz", "/blog/a-b-zz/"),
            ("日本語 タグ", "/blog/日本語-タグ/"),
            ("UPPER lower", "/blog/upper-lower/"),
            ("--x--", "/blog/--x--/"),
            ("a - b", "/blog/a-b/"),
            ("- lead", "/blog/-lead/"),
            ("What?", "/blog/what/"),
            ("Q&A: the \"best\" one", "/blog/qa-the-best-one/"),
            ("50% off", "/blog/50-off/"),
            ("a/b/c", "/blog/a/b/c/"),
            ("x.html", "/blog/x.html/"),
            ("Ünïcode — ‘quotes’", "/blog/ünïcode-quotes/"),
            ("é (e\u{301})", "/blog/é-e\u{301}/"),
            (
                "Hello, Wörld: C++ / Go! (part 2)",
                "/blog/hello-wörld-c-/-go-part-2/",
            ),
        ] {
            assert_eq!(
                page_path("/blog/:slug/", &page(title), at),
                want,
                "{title:?}"
            );
        }
    }

    #[test]
    fn slug_url_and_dates() {
        let mut p = HugoPage {
            title_slug: urlize("Plain TOML"),
            slug: Some("My Slug".into()),
            filename: "plain".into(),
            sections: vec!["blog".into()],
            ..Default::default()
        };
        let at = d("2021-03-04T10:00:00-05:00");
        assert_eq!(
            page_path("/blog/:year/:month/:slug/", &p, at),
            "/blog/2021/03/my-slug/"
        );
        assert_eq!(
            page_path("/:section/:filename/:yearday/:weekdayname/", &p, at),
            "/blog/plain/63/thursday/"
        );
        p.url = Some("/custom/Path".into());
        assert_eq!(page_path("/:slug/", &p, at), "/custom/Path/");
        p.url = Some("custom/dir/".into());
        assert_eq!(page_path("/:slug/", &p, at), "/custom/dir/");
        p.url = Some("/feed.xml".into());
        assert_eq!(page_path("/:slug/", &p, at), "/feed.xml");
    }

    #[test]
    fn bundles_are_named_by_their_directory() {
        let (name, dirs) = file_parts(Path::new("content/blog/my-trip/index.md"), "content");
        assert_eq!((name.as_str(), dirs), ("my-trip", vec!["blog".to_string()]));
        let (name, dirs) = file_parts(Path::new("content/note.md"), "content");
        assert_eq!((name.as_str(), dirs.len()), ("note", 0));
    }

    #[test]
    fn toml_front_matter() {
        let m =
            toml_front("title = \"T\"\ndate = 2021-03-04T10:00:00-05:00\ntags = [\"a\", \"b\"]\n")
                .unwrap();
        assert_eq!(m["title"], "T");
        assert_eq!(m["date"], "2021-03-04T10:00:00-05:00");
        assert_eq!(m["tags"][1], "b");
        let (line, msg) = toml_front("title = \"T\"\ndate = = 3\n").unwrap_err();
        assert_eq!(line, 2, "{msg}");
    }

    #[test]
    fn query_unescape_is_go_s() {
        assert_eq!(query_unescape("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(query_unescape("%zz"), None);
        assert_eq!(query_unescape("%"), None);
    }
}
