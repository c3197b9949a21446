//! The feed standards, checked on the bytes tributary writes: well-formed
//! UTF-8 XML with declared namespaces and XML 1.0 characters, required
//! elements, unique ids, RFC 822 / RFC 3339 dates, absolute http(s) URLs,
//! and HTML without relative links. `tributary check` and the tests use it.

use crate::config::Format;
use crate::model::diag::Diagnostic;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use regex::Regex;
use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

/// Check one document; every finding names `shown`.
pub fn check(format: Format, bytes: &[u8], shown: &Path) -> Vec<Diagnostic> {
    let mut v = Findings {
        shown,
        out: Vec::new(),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            v.error(format!("is not UTF-8 (byte {})", e.valid_up_to()));
            return v.out;
        }
    };
    if let Some(c) = text.chars().find(|&c| !allowed_char(c)) {
        v.error(format!(
            "contains U+{:04X}, which XML 1.0 does not allow",
            c as u32
        ));
    }
    match format {
        Format::Atom => {
            if xml_wellformed(text, &mut v) {
                atom(bytes, &mut v);
            }
        }
        Format::Rss => {
            if xml_wellformed(text, &mut v) {
                rss(bytes, &mut v);
            }
        }
        Format::Json => json(bytes, &mut v),
    }
    v.out
}

struct Findings<'a> {
    shown: &'a Path,
    out: Vec<Diagnostic>,
}

impl Findings<'_> {
    fn error(&mut self, m: String) {
        self.out.push(Diagnostic::error(self.shown, None, m));
    }
    fn warning(&mut self, m: String) {
        self.out.push(Diagnostic::warning(self.shown, None, m));
    }
    fn url(&mut self, what: &str, u: &str) {
        if let Some(problem) = url_problem(u) {
            self.error(format!("{what} {u:?} {problem}"));
        }
    }
    fn unique(&mut self, seen: &mut HashSet<String>, what: &str, id: &str) {
        if id.trim().is_empty() {
            self.error(format!("{what} is empty"));
        } else if !seen.insert(id.to_string()) {
            self.error(format!("{what} {id:?} is used twice"));
        }
    }
    fn html(&mut self, what: &str, html: &str) {
        for c in html_url_re().captures_iter(html) {
            let raw = c.get(1).or(c.get(2)).map(|m| m.as_str()).unwrap_or("");
            let u = html_escape::decode_html_entities(raw);
            let u = u.trim();
            if !u.is_empty() && !u.starts_with('#') && !has_scheme(u) {
                self.warning(format!(
                    "{what} has a relative link {u:?}; readers resolve it against different bases"
                ));
                return;
            }
        }
    }
}

fn allowed_char(c: char) -> bool {
    let cp = c as u32;
    matches!(cp, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

fn html_url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)<(?:a|img|area|link|iframe|source|video|audio|embed|track)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')"#)
            .expect("static regex")
    })
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        _ => false,
    }
}

/// None when `u` is an absolute http(s) URL with a host.
pub fn url_problem(u: &str) -> Option<&'static str> {
    if u.is_empty() {
        return Some("is empty");
    }
    if u.chars()
        .any(|c| c <= ' ' || "<>\"{}|\\^`".contains(c) || c == '\u{7f}')
    {
        return Some("contains a character that must be percent-encoded");
    }
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => None,
        Ok(_) => Some("is not an http(s) URL"),
        Err(_) => Some("is not an absolute URL"),
    }
}

/// An absolute IRI (Atom ids may be `tag:` or `urn:`).
fn absolute_iri(u: &str) -> bool {
    u == u.trim() && !u.is_empty() && has_scheme(u) && !u.contains(char::is_whitespace)
}

fn xml_wellformed(text: &str, v: &mut Findings) -> bool {
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") {
        v.error("has a DOCTYPE or ENTITY declaration".to_string());
    }
    let mut r = quick_xml::NsReader::from_str(text);
    let mut depth = 0usize;
    loop {
        match r.read_resolved_event() {
            Ok((res, ev @ (Event::Start(_) | Event::Empty(_)))) => {
                if let (ResolveResult::Unknown(p), Event::Start(e) | Event::Empty(e)) = (res, &ev) {
                    v.error(format!(
                        "element <{}> uses the undeclared prefix {:?}",
                        String::from_utf8_lossy(e.name().as_ref()),
                        String::from_utf8_lossy(&p)
                    ));
                    return false;
                }
                if matches!(ev, Event::Start(_)) {
                    depth += 1;
                }
            }
            Ok((_, Event::End(_))) => depth = depth.saturating_sub(1),
            Ok((_, Event::Eof)) => break,
            Ok(_) => {}
            Err(e) => {
                v.error(format!(
                    "is not well-formed XML: {e} (at byte {})",
                    r.buffer_position()
                ));
                return false;
            }
        }
    }
    if depth != 0 {
        v.error("is not well-formed XML: unclosed elements".to_string());
        return false;
    }
    true
}

fn rfc3339(v: &mut Findings, what: &str, s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(d) if s.contains('T') && (s.ends_with('Z') || !s.ends_with('z')) => Some(d),
        _ => {
            v.error(format!("{what} {s:?} is not an RFC 3339 date-time"));
            None
        }
    }
}

fn check_rfc822(v: &mut Findings, what: &str, s: &str) {
    let ok = chrono::DateTime::parse_from_rfc2822(s).is_ok()
        && s.split_whitespace().nth(3).is_some_and(|y| y.len() == 4);
    if !ok {
        v.error(format!(
            "{what} {s:?} is not an RFC 822 date with a four-digit year"
        ));
    }
}

fn atom(bytes: &[u8], v: &mut Findings) {
    let feed = match atom_syndication::Feed::read_from(bytes) {
        Ok(f) => f,
        Err(e) => {
            v.error(format!("is not an Atom feed: {e}"));
            return;
        }
    };
    if !absolute_iri(&feed.id) {
        v.error(format!("feed id {:?} is not an absolute IRI", feed.id));
    }
    if feed.title.value.trim().is_empty() {
        v.error("feed title is empty".to_string());
    }
    let selfs: Vec<_> = feed.links.iter().filter(|l| l.rel == "self").collect();
    if selfs.len() != 1 {
        v.error(format!(
            "has {} rel=\"self\" links; exactly one is required",
            selfs.len()
        ));
    }
    for l in &feed.links {
        v.url(&format!("link rel={:?}", l.rel), &l.href);
    }
    let mut ids = HashSet::new();
    ids.insert(feed.id.clone());
    let feed_updated = feed.updated;
    let every_entry_has_author = feed.entries.iter().all(|e| !e.authors.is_empty());
    if feed.authors.is_empty() && !every_entry_has_author {
        v.error("has no feed author and not every entry has one (RFC 4287 4.1.1)".to_string());
    }
    for (n, e) in feed.entries.iter().enumerate() {
        let what = format!("entry {}", n + 1);
        if !absolute_iri(&e.id) {
            v.error(format!("{what} id {:?} is not an absolute IRI", e.id));
        }
        v.unique(&mut ids, &format!("{what} id"), &e.id);
        if e.title.value.trim().is_empty() {
            v.warning(format!("{what} has an empty title"));
        }
        if e.updated > feed_updated {
            v.warning(format!("{what} is updated later than the feed"));
        }
        if let Some(p) = e.published {
            if p > e.updated {
                v.warning(format!("{what} is published after it was updated"));
            }
        }
        let alternate = e.links.iter().any(|l| l.rel == "alternate");
        if e.content.is_none() && !alternate {
            v.error(format!("{what} has neither content nor an alternate link"));
        }
        for l in &e.links {
            v.url(&format!("{what} link"), &l.href);
        }
        if let Some(c) = &e.content {
            v.html(&format!("{what} content"), c.value.as_deref().unwrap_or(""));
        }
        if let Some(s) = &e.summary {
            v.html(&format!("{what} summary"), &s.value);
        }
    }
}

fn rss(bytes: &[u8], v: &mut Findings) {
    let ch = match rss::Channel::read_from(bytes) {
        Ok(c) => c,
        Err(e) => {
            v.error(format!("is not an RSS 2.0 feed: {e}"));
            return;
        }
    };
    if ch.title.trim().is_empty() {
        v.error("channel has no title".to_string());
    }
    if ch.description.trim().is_empty() {
        v.error("channel has no description".to_string());
    }
    v.url("channel link", &ch.link);
    if let Some(d) = &ch.last_build_date {
        check_rfc822(v, "lastBuildDate", d);
    }
    match ch
        .atom_ext
        .as_ref()
        .map(|a| a.links.iter().filter(|l| l.rel == "self").count())
    {
        Some(1) => {}
        _ => v.error("channel needs exactly one <atom:link rel=\"self\">".to_string()),
    }
    if let Some(a) = &ch.atom_ext {
        for l in &a.links {
            v.url(&format!("atom:link rel={:?}", l.rel), &l.href);
        }
    }
    let mut guids = HashSet::new();
    for (n, it) in ch.items.iter().enumerate() {
        let what = format!("item {}", n + 1);
        if it.title.is_none() && it.description.is_none() {
            v.error(format!("{what} has neither title nor description"));
        }
        match &it.link {
            Some(l) => v.url(&format!("{what} link"), l),
            None => v.warning(format!("{what} has no link")),
        }
        match &it.guid {
            Some(g) => {
                v.unique(&mut guids, &format!("{what} guid"), &g.value);
                if g.permalink {
                    v.url(&format!("{what} permalink guid"), &g.value);
                }
            }
            None => v.warning(format!("{what} has no guid")),
        }
        if let Some(d) = &it.pub_date {
            check_rfc822(v, &format!("{what} pubDate"), d);
        }
        if let Some(a) = &it.author {
            if !a.contains('@') {
                v.error(format!("{what} author {a:?} is not an e-mail address"));
            }
        }
        if let Some(d) = &it.description {
            v.html(&format!("{what} description"), d);
        }
        if let Some(c) = &it.content {
            v.html(&format!("{what} content:encoded"), c);
        }
    }
}

fn json(bytes: &[u8], v: &mut Findings) {
    let doc: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(d) => d,
        Err(e) => {
            v.error(format!("is not JSON: {e}"));
            return;
        }
    };
    let s = |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_str()).map(str::to_string);
    if s(&doc, "version").as_deref() != Some("https://jsonfeed.org/version/1.1") {
        v.error("version is not https://jsonfeed.org/version/1.1".to_string());
    }
    if s(&doc, "title").is_none_or(|t| t.trim().is_empty()) {
        v.error("has no title".to_string());
    }
    for key in ["home_page_url", "feed_url", "next_url"] {
        if let Some(u) = s(&doc, key) {
            v.url(key, &u);
        }
    }
    if s(&doc, "next_url").is_some() && s(&doc, "next_url") == s(&doc, "feed_url") {
        v.error("next_url equals feed_url".to_string());
    }
    let Some(items) = doc.get("items").and_then(|i| i.as_array()) else {
        v.error("has no items array".to_string());
        return;
    };
    let mut ids = HashSet::new();
    for (n, it) in items.iter().enumerate() {
        let what = format!("item {}", n + 1);
        match it.get("id").and_then(|i| i.as_str()) {
            Some(id) => v.unique(&mut ids, &format!("{what} id"), id),
            None => v.error(format!("{what} has no string id")),
        }
        if s(it, "content_html").is_none() && s(it, "content_text").is_none() {
            v.error(format!("{what} has neither content_html nor content_text"));
        }
        if let Some(u) = s(it, "url") {
            v.url(&format!("{what} url"), &u);
        }
        for key in ["date_published", "date_modified"] {
            if let Some(d) = s(it, key) {
                rfc3339(v, &format!("{what} {key}"), &d);
            }
        }
        if let Some(h) = s(it, "content_html") {
            v.html(&format!("{what} content_html"), &h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn an_undeclared_prefix_is_an_error_on_start_and_empty_elements() {
        for body in ["<x:a>t</x:a>", "<x:a/>"] {
            let doc = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
                 <link>https://e.org/</link><description>D</description>{body}</channel></rss>"
            );
            let found = check(Format::Rss, doc.as_bytes(), Path::new("f.rss"));
            assert!(
                found
                    .iter()
                    .any(|d| d.message.contains("undeclared prefix \"x\"")),
                "{body}: {found:?}"
            );
        }
    }
}
