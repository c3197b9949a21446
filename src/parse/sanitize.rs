//! Upstream HTML is hostile: ammonia's allow-list keeps the markup readers
//! render and drops scripts, event handlers, `style`, iframes, forms and any
//! URL scheme outside http(s)/mailto and friends (so no `javascript:` or
//! `data:`). Relative URLs are made absolute against the element's base.

use crate::model::urlpolicy::{self, Use};
use crate::util::markup;
use ammonia::{Builder, UrlRelative};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use url::Url;

/// Elements nested deeper than this are flattened (their tags dropped, their
/// text kept) before the HTML parser sees them: html5ever's tree builder
/// walks the stack of open elements for many tags, so a hostile
/// `<div>` x 200,000 costs quadratic time. No real article nests this deep.
pub const MAX_HTML_DEPTH: usize = 128;

thread_local! {
    /// The base of the fragment being cleaned: ammonia's evaluator for
    /// relative URLs is fixed when the cleaner is built, the base is not.
    static BASE: RefCell<Option<Url>> = const { RefCell::new(None) };

    /// Building the allow-lists costs more than cleaning a typical item, so
    /// each thread keeps one cleaner.
    static CLEANER: Builder<'static> = {
        let mut b = Builder::default();
        b.url_schemes(HashSet::from(["http", "https", "mailto"]));
        b.url_relative(UrlRelative::Custom(Box::new(resolve)));
        b
    };
}

/// A relative URL resolved against the current base; the result passes the
/// URL policy or the attribute is dropped. Without a base it stays relative.
fn resolve(href: &str) -> Option<Cow<'_, str>> {
    BASE.with(|b| match &*b.borrow() {
        Some(base) => base
            .join(href.trim())
            .ok()
            .map(String::from)
            .filter(|u| urlpolicy::allowed(u, Use::Html))
            .map(Cow::Owned),
        None => urlpolicy::allowed(href, Use::Html).then_some(Cow::Borrowed(href)),
    })
}

/// Sanitized HTML; relative URLs resolved against `base` when it is an
/// http(s) URL (left relative otherwise). Every URL left passes the URL policy.
pub fn sanitize_html(html: &str, base: Option<&Url>) -> String {
    let base = base.filter(|b| urlpolicy::is_web(b.as_str())).cloned();
    let html = cap_nesting(html, MAX_HTML_DEPTH);
    BASE.with(|b| *b.borrow_mut() = base);
    let clean = CLEANER.with(|b| b.clean(&html).to_string());
    BASE.with(|b| *b.borrow_mut() = None);
    crate::util::text::xml_clean_owned(clean)
}

/// Elements that never have content, so never nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Start tags that close an open element of their family (`<p>a<p>b`,
/// `<td>1<td>2`), unless one of the boundary elements lies between: old
/// HTML's unclosed paragraphs, list items and cells are siblings, not nesting.
type Family = (&'static [&'static str], &'static [&'static str]);

/// (family, boundaries) of a tag that closes its open siblings.
fn implied_end(name: &str) -> Option<Family> {
    Some(match name {
        "p" => (
            &["p"],
            &[
                "div",
                "blockquote",
                "table",
                "td",
                "th",
                "li",
                "ul",
                "ol",
                "dl",
                "section",
                "article",
                "button",
            ],
        ),
        "li" => (&["li"], &["ul", "ol"]),
        "dt" | "dd" => (&["dt", "dd"], &["dl"]),
        "td" | "th" => (&["td", "th"], &["tr", "table"]),
        "tr" => (&["tr"], &["table", "tbody", "thead", "tfoot"]),
        "tbody" | "thead" | "tfoot" => (&["tbody", "thead", "tfoot"], &["table"]),
        "option" => (&["option"], &["select", "optgroup"]),
        "optgroup" => (&["optgroup"], &["select"]),
        "rt" | "rp" => (&["rt", "rp"], &["ruby"]),
        _ => return None,
    })
}

/// `html` with the tags of elements nested deeper than `max` removed, in one
/// pass: an end tag closes the nearest open element of its name (searched
/// within the bounded stack); unmatched end tags are left as written.
/// HTML nested no deeper than `max` is returned unchanged.
pub fn cap_nesting(html: &str, max: usize) -> Cow<'_, str> {
    let mut stack: Vec<String> = Vec::new();
    // Elements opened past the cap: their tags are dropped, and so are the
    // end tags that would close them.
    let mut over = 0usize;
    let mut out: Option<String> = None;
    let mut copied = 0;
    for tag in markup::tags(html) {
        let mut drop = false;
        if tag.closing {
            match stack.iter().rposition(|n| *n == tag.name) {
                Some(pos) if over == 0 => stack.truncate(pos),
                _ if over > 0 => {
                    over -= 1;
                    drop = true;
                }
                // Unmatched end tags do not nest: left as written.
                _ => {}
            }
        } else if !tag.self_closed && !VOID.contains(&tag.name.as_str()) {
            if let Some((family, bounds)) = implied_end(&tag.name) {
                // The stack holds at most `max` names: a bounded search.
                let open = stack
                    .iter()
                    .rposition(|n| family.contains(&n.as_str()) || bounds.contains(&n.as_str()))
                    .filter(|&i| family.contains(&stack[i].as_str()));
                if let Some(i) = open {
                    stack.truncate(i);
                }
            }
            if stack.len() >= max {
                over += 1;
                drop = true;
            } else {
                stack.push(tag.name);
            }
        }
        if drop {
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(&html[copied..tag.span.start]);
            copied = tag.span.end;
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut buf) => {
            buf.push_str(&html[copied..]);
            Cow::Owned(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_past_the_cap_is_flattened_text_kept() {
        let deep = format!(
            "{}deep text{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let out = sanitize_html(&deep, None);
        assert_eq!(
            out.matches("<div>").count(),
            MAX_HTML_DEPTH,
            "{}",
            &out[..200]
        );
        assert!(out.contains("deep text"));
        // Stray end tags do not hide nesting from the cap.
        let stray = "<div></p>".repeat(50_000);
        assert!(sanitize_html(&stray, None).matches("<div>").count() <= MAX_HTML_DEPTH);
    }

    #[test]
    fn cap_nesting_leaves_ordinary_html_alone() {
        for html in [
            "<p>a<p>b<p>c<ul><li>x<li>y</ul>",
            "<div title='a>b' data-x=\"<div>\"><br><img src=x></div>",
            "text < 3 and <!-- <div> --> <a href=\"x\">y</a>",
            "<table><tr><td>1<td>2<tr><td>3</table>",
        ] {
            assert_eq!(cap_nesting(html, 4), html);
        }
        assert_eq!(cap_nesting("<i><b><u>x</u></b></i>", 2), "<i><b>x</b></i>");
        // A tag the input ends inside ends the scan: nothing after it is markup.
        assert_eq!(
            cap_nesting("<a title=\"<b><b><b>", 1),
            "<a title=\"<b><b><b>"
        );
    }

    /// Found by the `url_policy` fuzz target: a control character inside a
    /// scheme made the URL parser call it relative, and the XML cleaning
    /// after sanitizing then removed it, publishing the scheme.
    #[test]
    fn a_control_character_cannot_hide_a_scheme() {
        for html in [
            "<a href=\"java\u{6}script:alert(1)\">x</a>",
            "<a href=\"java&#6;script:alert(1)\">x</a>",
            "<a href=\"javascript&#1;:alert(1)\">x</a>",
            "<img src=\"da\u{1f}ta:image/svg+xml,x\">",
            "<!--\nDescription: item body '<a href=\"httFFFFFF\u{6}FFFp://127.2015/08/dismaland/\">reports in detail</a>:</p>",
        ] {
            let out = sanitize_html(html, None);
            assert_eq!(crate::model::urlpolicy::html(&out), out.as_str(), "{html:?}");
            let lower = out.to_ascii_lowercase();
            assert!(!lower.contains("javascript:") && !lower.contains("data:"), "{out}");
        }
    }

    #[test]
    fn a_hostile_base_is_no_base() {
        for base in [
            "javascript://x/%0Aalert(document.domain)//",
            "data:text/html,x",
            "file:///etc/",
        ] {
            let base = Url::parse(base).unwrap();
            let out = sanitize_html(r#"<a href="?x">r</a><img src="i.png">"#, Some(&base));
            assert!(!out.contains(base.scheme()), "{out}");
            assert!(out.contains(r#"href="?x""#), "{out}");
        }
        let web = Url::parse("https://example.org/a/b").unwrap();
        let out = sanitize_html(r#"<a href="?x">r</a><a href="ftp://x/">f</a>"#, Some(&web));
        assert!(out.contains(r#"href="https://example.org/a/b?x""#), "{out}");
        assert!(!out.contains("ftp:"), "{out}");
    }

    #[test]
    fn hostile_markup_is_removed() {
        let base = Url::parse("https://example.org/blog/post").unwrap();
        let html = r#"<p onclick="x()">Hi <a href="javascript:alert(1)">j</a>
            <a href="/about">rel</a><img src="data:image/png;base64,AA" onerror="y()">
            <script>alert(2)</script><iframe src="https://evil/"></iframe>
            <form action="/f"><input name="q"></form><span style="color:red">s</span></p>"#;
        let out = sanitize_html(html, Some(&base));
        for bad in [
            "onclick",
            "javascript:",
            "data:",
            "onerror",
            "<script",
            "alert(2)",
            "<iframe",
            "<form",
            "<input",
            "style=",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(out.contains(r#"href="https://example.org/about""#), "{out}");
        assert!(out.contains("Hi"));
    }

    #[test]
    fn no_base_never_keeps_javascript() {
        let out = sanitize_html(
            r#"<a href="JavaScript:evil()">x</a><a href="rel">y</a>"#,
            None,
        );
        assert!(!out.to_ascii_lowercase().contains("javascript"), "{out}");
    }
}
