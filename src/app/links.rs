//! `check`'s link errors (issue 21): in each post's Markdown, links to posts
//! the site does not have, local images that are not there, malformed URLs,
//! empty hrefs, anchors to headings or footnotes that are not in the post,
//! and footnotes cited in a summary that does not hold them. Each is an
//! error at the line of the link in the Markdown file.
//!
//! A site's pages other than its posts are not known to tributary, so only
//! links of the shape the site's `permalink:` gives posts are taken for post
//! links (`/2026/20269999` on a `/:year/:year:month:day` site); `/about/`
//! passes.

use crate::config::SiteConfig;
use crate::content::permalink::slugify;
use crate::content::Post;
use crate::model::Diagnostic;
use crate::plan::select::permalink_path;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use regex::Regex;
use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;
use url::Url;

/// What the site has, to tell a broken link from a good one.
pub struct Known<'a> {
    cfg: &'a SiteConfig,
    root: &'a Path,
    /// Every post's permalink path (drafts and future posts too), normalized.
    posts: HashSet<String>,
    /// Paths of the shape `permalink:` gives posts; `None` when the pattern
    /// has nothing that tells a post from another page (`/:title/`).
    post_shape: Option<Regex>,
}

impl<'a> Known<'a> {
    pub fn new(cfg: &'a SiteConfig, root: &'a Path, posts: &[Post]) -> Known<'a> {
        Known {
            cfg,
            root,
            posts: posts
                .iter()
                .map(|p| normalize(&permalink_path(cfg, p)))
                .collect(),
            post_shape: post_shape(&cfg.permalink),
        }
    }

    /// The link errors of one post.
    pub fn check(&self, post: &Post) -> Vec<Diagnostic> {
        let page = Url::parse(&self.cfg.url_for(&permalink_path(self.cfg, post))).ok();
        let scan = Scan::of(&post.body);
        let mut out = Vec::new();
        let mut error = |offset: usize, message: String| {
            out.push(Diagnostic::error(
                &post.path,
                Some(line_of(post, offset)),
                message,
            ));
        };
        for link in &scan.links {
            if let Some(message) = self.problem(post, page.as_ref(), link, &scan.anchors) {
                error(link.offset, message);
            }
        }
        for (offset, text) in &scan.unread {
            error(
                *offset,
                format!(
                    "malformed URL {text:?}: Markdown reads no link here (a space in the URL?); \
                     write the URL without spaces (%20)"
                ),
            );
        }
        if post.summary.is_none() {
            for (offset, label) in scan.summary_footnotes() {
                error(
                    offset,
                    format!(
                        "the summary (the first paragraph) cites footnote [^{label}], whose note \
                         is not in it: a feed reader's link goes nowhere; cite it after the first \
                         paragraph or write a `summary:`"
                    ),
                );
            }
        }
        out
    }

    fn problem(
        &self,
        post: &Post,
        page: Option<&Url>,
        link: &Link,
        anchors: &HashSet<String>,
    ) -> Option<String> {
        let dest = link.dest.trim();
        let what = if link.image { "image" } else { "link" };
        if dest.contains("{{") || dest.contains("{%") {
            return None; // a template's, rendered before Markdown
        }
        if dest.is_empty() {
            return Some(format!(
                "empty {what} target: [{}]() goes nowhere; write its URL or drop the brackets",
                link.text
            ));
        }
        if let Some(anchor) = dest.strip_prefix('#') {
            let ok = anchor.is_empty() || anchor == "top" || anchors.contains(anchor);
            return (!ok).then(|| {
                format!("{what} to #{anchor}: no heading, footnote or id of this post is named so")
            });
        }
        if dest.chars().any(char::is_whitespace) || malformed_absolute(dest) {
            return Some(format!("malformed URL {dest:?} in a {what}"));
        }
        let path = self.internal_path(page?, dest)?;
        if link.image {
            let local = !has_scheme(dest);
            return (local && !self.image_exists(post, dest, &path)).then(|| {
                format!(
                    "image {dest} is not in the site (looked under the site root, static/, \
                     assets/, content/ and beside the post)"
                )
            });
        }
        let norm = normalize(&path);
        let post_like = self.post_shape.as_ref().is_some_and(|r| r.is_match(&norm));
        (post_like && !self.posts.contains(&norm))
            .then(|| format!("links to {dest}, but no post of the site has that URL"))
    }

    /// The site-relative path (`/2026/x`) of `dest` when it is on this site.
    fn internal_path(&self, page: &Url, dest: &str) -> Option<String> {
        let url = page.join(dest).ok()?;
        let base = &self.cfg.base_url;
        if !matches!(url.scheme(), "http" | "https") || url.host_str() != base.host_str() {
            return None;
        }
        let rest = url.path().strip_prefix(base.path())?;
        Some(format!("/{}", percent_decode(rest)))
    }

    fn image_exists(&self, post: &Post, dest: &str, path: &str) -> bool {
        let rel = path.trim_start_matches('/');
        let mut candidates = vec![
            self.root.join(rel),
            self.root.join("static").join(rel),
            self.root.join("assets").join(rel),
            self.root.join(&self.cfg.content).join(rel),
        ];
        if !dest.starts_with('/') {
            // A page bundle's image, beside its index.md.
            let dest = percent_decode(dest.split(['?', '#']).next().unwrap_or(dest));
            if let Some(dir) = self.root.join(&post.path).parent() {
                candidates.push(dir.join(dest));
            }
        }
        candidates.iter().any(|c| c.is_file())
    }
}

/// The line of the post's file that byte `offset` of its body is on.
fn line_of(post: &Post, offset: usize) -> usize {
    let upto = post.body.get(..offset).unwrap_or(&post.body);
    post.body_line + upto.bytes().filter(|&b| b == b'\n').count()
}

/// A path as compared: decoded, without `index.html`, `.html` or a trailing `/`.
fn normalize(path: &str) -> String {
    let p = percent_decode(path);
    let p = p.strip_suffix("index.html").unwrap_or(&p);
    let p = p.strip_suffix(".html").unwrap_or(p);
    let p = p.trim_end_matches('/');
    format!("/{}", p.trim_start_matches('/'))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// An `http(s)` URL that does not parse or has no host.
fn malformed_absolute(dest: &str) -> bool {
    let lower = dest.to_ascii_lowercase();
    if !(lower.starts_with("http:") || lower.starts_with("https:")) {
        return false;
    }
    Url::parse(dest).map_or(true, |u| u.host_str().is_none_or(str::is_empty))
}

/// A regex for the normalized paths `pattern` gives posts, when it has a
/// date placeholder or a literal word to tell them from other pages.
fn post_shape(pattern: &str) -> Option<Regex> {
    const PARTS: &[(&str, &str, bool)] = &[
        ("year", r"\d{4}", true),
        ("short_year", r"\d{2}", true),
        ("month", r"\d{2}", true),
        ("i_month", r"\d{1,2}", true),
        ("short_month", r"[A-Za-z]{3}", true),
        ("long_month", r"[A-Za-z]+", true),
        ("day", r"\d{2}", true),
        ("i_day", r"\d{1,2}", true),
        ("y_day", r"\d{3}", true),
        ("hour", r"\d{2}", true),
        ("minute", r"\d{2}", true),
        ("second", r"\d{2}", true),
        ("title", r"[^/]+", false),
        ("slug", r"[^/]+", false),
        ("categories", r"[^?#]*", false),
        ("output_ext", r"", false),
    ];
    let pattern = normalize(pattern);
    let mut re = String::from("^");
    let mut distinctive = false;
    let mut rest = pattern.as_str();
    while let Some(pos) = rest.find(':') {
        let literal = &rest[..pos];
        distinctive |= literal.chars().any(char::is_alphanumeric);
        re.push_str(&regex::escape(literal));
        let after = &rest[pos + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let word = &after[..word_len];
        let found = (1..=word.len())
            .rev()
            .find_map(|n| PARTS.iter().find(|p| p.0 == &word[..n]).map(|p| (n, p)));
        match found {
            Some((n, &(_, part, date))) => {
                re.push_str(part);
                distinctive |= date;
                rest = &after[n..];
            }
            None => {
                re.push(':');
                rest = after;
            }
        }
    }
    distinctive |= rest.chars().any(char::is_alphanumeric);
    re.push_str(&regex::escape(rest));
    re.push('$');
    // Empty `:categories` collapse `//`.
    let re = re.replace("//", "/+");
    distinctive.then(|| Regex::new(&re).ok()).flatten()
}

/// A link or image of the Markdown.
struct Link {
    offset: usize,
    dest: String,
    text: String,
    image: bool,
}

/// What one pass over a post's Markdown finds.
#[derive(Default)]
struct Scan {
    links: Vec<Link>,
    /// Names a `#fragment` may point to: headings, footnotes, HTML ids.
    anchors: HashSet<String>,
    /// `[text](url with spaces)` that Markdown did not read as a link.
    unread: Vec<(usize, String)>,
    /// Footnote references: (offset, label).
    footnotes: Vec<(usize, String)>,
    /// The summary's bytes: before `<!--more-->`, else the first paragraph.
    summary: Option<Range<usize>>,
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

fn html_id_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)\s(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("static regex")
    })
}

fn unread_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\]\(([^()\n]*)\)").expect("static regex"))
}

/// What `Scan` keeps while it reads.
#[derive(Default)]
struct Reading {
    /// Bytes where `](` is not text: links, code, raw HTML.
    covered: Vec<Range<usize>>,
    /// Links and images open: (offset, destination, is an image).
    open: Vec<(usize, String, bool)>,
    /// The text of the heading being read.
    heading: Option<String>,
    depth: usize,
}

impl Scan {
    fn of(body: &str) -> Scan {
        let mut scan = Scan::default();
        let mut r = Reading::default();
        for (ev, range) in Parser::new_ext(body, options()).into_offset_iter() {
            scan.see(body, &ev, range, &mut r);
            match ev {
                Event::Start(_) => r.depth += 1,
                Event::End(_) => r.depth = r.depth.saturating_sub(1),
                _ => {}
            }
        }
        if let Some(pos) = body.find("<!--more-->") {
            scan.summary = Some(0..pos);
        }
        scan.unread_links(body, &r.covered);
        scan
    }

    fn see(&mut self, body: &str, ev: &Event, range: Range<usize>, r: &mut Reading) {
        match ev {
            Event::Start(Tag::Link { dest_url, .. }) => {
                r.open.push((range.start, dest_url.to_string(), false));
                r.covered.push(range);
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                r.open.push((range.start, dest_url.to_string(), true));
                r.covered.push(range);
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if let Some((offset, dest, image)) = r.open.pop() {
                    let text = body.get(offset..range.end).unwrap_or_default();
                    let text = text.split("](").next().unwrap_or(text);
                    let text = text.trim_start_matches(['!', '[']).to_string();
                    self.links.push(Link {
                        offset,
                        dest,
                        text,
                        image,
                    });
                }
            }
            Event::Start(Tag::Heading { id, .. }) => {
                if let Some(id) = id {
                    self.anchors.insert(id.to_string());
                }
                r.heading = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = r.heading.take() {
                    self.anchors.insert(heading_id(&h));
                    self.anchors.insert(slugify(&h));
                }
            }
            Event::Text(t) => r.heading.iter_mut().for_each(|h| h.push_str(t)),
            Event::Code(t) => {
                r.heading.iter_mut().for_each(|h| h.push_str(t));
                r.covered.push(range);
            }
            Event::Start(Tag::CodeBlock(_)) => r.covered.push(range),
            Event::Html(h) | Event::InlineHtml(h) => {
                r.covered.push(range);
                for c in html_id_re().captures_iter(h) {
                    if let Some(m) = c.get(1).or(c.get(2)) {
                        self.anchors.insert(m.as_str().to_string());
                    }
                }
            }
            Event::Start(Tag::FootnoteDefinition(label)) => {
                for prefix in ["", "fn:", "fn-", "fn", "fnref:"] {
                    self.anchors.insert(format!("{prefix}{label}"));
                }
            }
            Event::FootnoteReference(label) => {
                self.footnotes.push((range.start, label.to_string()));
            }
            Event::Start(Tag::Paragraph) if r.depth == 0 && self.summary.is_none() => {
                self.summary = Some(range);
            }
            _ => {}
        }
    }

    /// `[text](url with spaces)` outside links, code and HTML: Markdown
    /// reads no link there and publishes the brackets.
    fn unread_links(&mut self, body: &str, covered: &[Range<usize>]) {
        for c in unread_re().captures_iter(body) {
            let (Some(all), Some(inner)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let text = inner.as_str().trim();
            let url_like = text.contains("://") || text.starts_with('/');
            let in_known = covered.iter().any(|r| r.contains(&all.start()));
            if url_like && text.chars().any(char::is_whitespace) && !in_known {
                self.unread.push((all.start(), text.to_string()));
            }
        }
    }

    /// Footnotes cited in the summary (the note itself is never in it).
    fn summary_footnotes(&self) -> Vec<(usize, String)> {
        let Some(summary) = &self.summary else {
            return Vec::new();
        };
        self.footnotes
            .iter()
            .filter(|(offset, _)| summary.contains(offset))
            .cloned()
            .collect()
    }
}

/// The id Jekyll (kramdown) and GitHub give a heading: lower-case, letters,
/// digits, `-` and `_` kept, spaces become `-`.
fn heading_id(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_shapes() {
        let lwkd = post_shape("/:year/:year:month:day").expect("distinctive");
        assert!(lwkd.is_match("/2026/20269999"));
        assert!(!lwkd.is_match("/about"));
        assert!(post_shape("/:title/").is_none());
        let blog = post_shape("/blog/:title/").expect("a literal word");
        assert!(blog.is_match("/blog/hello"));
        assert!(!blog.is_match("/hello"));
    }

    #[test]
    fn paths_compare_without_html_and_slashes() {
        assert_eq!(normalize("/2026/x/index.html"), "/2026/x");
        assert_eq!(normalize("/2026/x.html"), "/2026/x");
        assert_eq!(normalize("/a%20b/"), "/a b");
    }
}
