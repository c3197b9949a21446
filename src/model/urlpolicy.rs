//! The one URL policy: every URL that leaves tributary passes here after its
//! final resolution. Readers follow what feeds link, and most feed readers
//! have no Content-Security-Policy to stop a `javascript:` or `data:` link,
//! so only `http` and `https` (and `mailto:` where an email makes sense) are
//! kept; anything else is dropped: the attribute in HTML, the field (or the
//! element) for a link.
//!
//! A relative reference inside HTML (`?page=2`, `/about`) is kept: it can
//! only resolve against the document that carries it, and tributary's
//! documents are served over http(s).

use crate::model::entry::Entry;
use crate::util::markup;
use std::borrow::Cow;
use url::Url;

/// What a URL is for, which decides whether `mailto:` and relative
/// references are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A page or resource readers open or load: absolute http(s) only.
    Web,
    /// A person's address (Atom `uri`, JSON Feed author `url`): http(s) or `mailto:`.
    Person,
    /// An attribute inside HTML content: http(s), `mailto:`, or a reference
    /// with no scheme of its own.
    Html,
}

/// Whether `url` may be published for `use_`.
pub fn allowed(url: &str, use_: Use) -> bool {
    // Judged as it will be published: every output drops the characters XML
    // cannot carry, so `java\u{6}script:` is read as the `javascript:` it
    // becomes (the URL parser alone would take it for a relative reference).
    let url = crate::util::text::xml_clean(url);
    match Url::parse(&url) {
        Ok(u) => match u.scheme() {
            "http" | "https" => u.host_str().is_some_and(|h| !h.is_empty()),
            "mailto" => use_ != Use::Web,
            _ => false,
        },
        // No scheme of its own (WHATWG parsing already dropped the tabs and
        // newlines that could hide one): it resolves against the document.
        Err(url::ParseError::RelativeUrlWithoutBase) => use_ == Use::Html,
        Err(_) => false,
    }
}

/// Whether `url` is an absolute http(s) URL: the only kind of base a
/// relative reference may be resolved against, and of link readers open.
pub fn is_web(url: &str) -> bool {
    allowed(url, Use::Web)
}

/// `url` when it may be published for `use_`.
pub fn keep(url: Option<String>, use_: Use) -> Option<String> {
    url.filter(|u| allowed(u, use_))
}

/// Attributes whose values are URLs (`srcset`, `ping` and `archive`: lists of them).
const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "srcset",
    "poster",
    "cite",
    "action",
    "formaction",
    "data",
    "background",
    "longdesc",
    "lowsrc",
    "dynsrc",
    "ping",
    "manifest",
    "icon",
    "codebase",
    "archive",
    "usemap",
    "xlink:href",
    "xml:base",
];

/// `html` with every URL attribute the policy refuses removed (the
/// attribute, not the element: the text of a link stays).
pub fn html(html: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut last = 0;
    for tag in markup::tags(html) {
        for a in &tag.attrs {
            let name = &html[a.name.clone()];
            if !URL_ATTRS.iter().any(|u| u.eq_ignore_ascii_case(name)) {
                continue;
            }
            let value = a.value.clone().map_or("", |v| &html[v]);
            let decoded = html_escape::decode_html_entities(value);
            let ok = match name.to_ascii_lowercase().as_str() {
                "srcset" => srcset_ok(&decoded),
                "ping" | "archive" => decoded
                    .split_ascii_whitespace()
                    .all(|u| allowed(u, Use::Html)),
                _ => decoded.trim().is_empty() || allowed(&decoded, Use::Html),
            };
            if ok {
                continue;
            }
            // The attribute and the white space before it.
            let mut start = a.span.start;
            while start > tag.span.start && html.as_bytes()[start - 1].is_ascii_whitespace() {
                start -= 1;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(&html[last..start]);
            last = a.span.end;
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut buf) => {
            buf.push_str(&html[last..]);
            Cow::Owned(buf)
        }
    }
}

/// `html` owned, reusing its buffer when nothing is removed.
pub fn html_owned(text: String) -> String {
    match html(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => clean,
    }
}

/// `srcset="a.png 1x, https://x/b.png 2x"`: every candidate's URL must pass.
fn srcset_ok(value: &str) -> bool {
    value
        .split(',')
        .filter_map(|cand| cand.split_ascii_whitespace().next())
        .all(|u| allowed(u, Use::Html))
}

/// Apply the policy to every URL an entry carries: its link (cleared when
/// refused, so no link element is written), authors' addresses, image,
/// sources, related links, enclosures, and the URLs inside its HTML.
pub fn entry(e: &mut Entry) {
    if !is_web(&e.url) {
        e.url.clear();
    }
    for p in &mut e.authors {
        p.uri = keep(p.uri.take(), Use::Person);
    }
    e.image = keep(e.image.take(), Use::Web);
    for s in &mut e.sources {
        s.item_url = keep(s.item_url.take(), Use::Web);
    }
    e.related.retain(|u| is_web(u));
    e.enclosures.retain(|x| is_web(&x.url));
    if let Some(h) = e.summary_html.take() {
        e.summary_html = Some(html_owned(h));
    }
    if let Some(h) = e.content_html.take() {
        e.content_html = Some(html_owned(h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn schemes() {
        for ok in [
            "https://example.org/",
            "http://example.org/a?b#c",
            "HTTPS://EXAMPLE.ORG",
        ] {
            assert!(is_web(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "java\u{6}script:alert(1)",
            "\u{1}javascript:alert(1)",
            "javascript://x/%0Aalert(1)//?x",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "feed:https://example.org/",
            "http://exa mple.com/x",
            "mailto:a@example.org",
            "/relative",
            "",
        ] {
            assert!(!is_web(bad), "{bad:?}");
        }
        // A control character XML drops would reveal the scheme: refused
        // in HTML too, where a relative reference is fine.
        assert!(!allowed("java\u{6}script:alert(1)", Use::Html));
        assert!(!allowed("javascript\u{1}:alert(1)", Use::Html));
        assert!(allowed("a\u{6}b", Use::Html));
        assert!(allowed("mailto:a@example.org", Use::Person));
        assert!(!allowed("javascript:x", Use::Person));
        assert!(!allowed("/x", Use::Person));
        assert!(allowed("?x", Use::Html));
        assert!(allowed("#top", Use::Html));
        assert!(allowed("//cdn.example.org/a.png", Use::Html));
    }

    #[test]
    fn html_attributes_are_dropped_not_rewritten() {
        let cases = [
            (r#"<a href="javascript:alert(1)">x</a>"#, "<a>x</a>"),
            (r#"<a href='&#106;avascript:alert(1)'>x</a>"#, "<a>x</a>"),
            (r#"<a href=javascript:alert(1)>x</a>"#, "<a>x</a>"),
            (r#"<a/href="javascript:alert(1)">x</a>"#, "<a/>x</a>"),
            (
                r#"<img src="data:image/png;base64,AA" alt="a">"#,
                r#"<img alt="a">"#,
            ),
            (
                r#"<img srcset="https://x.org/a.png 1x, javascript:y 2x">"#,
                "<img>",
            ),
            (r#"<a href="java&#x09;script:alert(1)">x</a>"#, "<a>x</a>"),
            (
                r#"<a href="https://ok.example/" title="javascript:">x</a>"#,
                r#"<a href="https://ok.example/" title="javascript:">x</a>"#,
            ),
            (r#"<a href="?x">x</a>"#, r#"<a href="?x">x</a>"#),
            (
                r#"<a href="mailto:a@b.c">x</a>"#,
                r#"<a href="mailto:a@b.c">x</a>"#,
            ),
            (
                "text href=javascript:x is text",
                "text href=javascript:x is text",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(html(input), want, "{input}");
        }
    }

    proptest! {
        /// Whatever the policy keeps in HTML is http(s), mailto or relative:
        /// no scheme survives that a browser would run.
        #[test]
        fn kept_attributes_have_safe_schemes(scheme in "[a-zA-Z][a-zA-Z0-9+.-]{0,10}", rest in "[ -~]{0,30}", ws in "[\t\n\r ]{0,2}") {
            let url = format!("{ws}{scheme}:{rest}");
            let doc = format!(r#"<a href="{}">x</a>"#, url.replace('"', "&quot;"));
            let out = html(&doc);
            if out.contains("href=") {
                let parsed = Url::parse(&url);
                let scheme = parsed.as_ref().map(|u| u.scheme().to_string());
                prop_assert!(matches!(scheme.as_deref(), Ok("http") | Ok("https") | Ok("mailto")) || parsed.is_err(), "{url:?} kept as {out}");
                if let Ok(u) = parsed { prop_assert!(u.scheme() != "javascript"); }
            }
        }

        #[test]
        fn policy_is_total_and_idempotent(s in "\\PC{0,60}") {
            let once = html(&s).into_owned();
            let twice = html(&once).into_owned();
            prop_assert_eq!(once, twice);
            let _ = is_web(&s);
        }
    }
}
