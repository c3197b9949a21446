//! Markdown to HTML that any reader shows right: absolute URLs, characters
//! XML allows, and a list of tags that are not HTML (readers hide them).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use regex::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;
use url::Url;

// Text helpers that were born here; entry, urlpolicy and health use them
// from `util::text`, which imports nothing of the crate.
pub use crate::util::text::{plain_text, shorten, xml_clean, xml_clean_owned};

/// A rendered Markdown document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub html: String,
    /// The excerpt: the Markdown before `<!--more-->`, else the first top-level paragraph.
    pub excerpt_html: Option<String>,
    /// Raw tags whose names are not HTML elements: (byte offset in the Markdown, tag).
    pub stray_tags: Vec<(usize, String)>,
}

const EXCERPT_SEPARATOR: &str = "<!--more-->";

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// Render `markdown`; relative links and images resolve against `page`.
pub fn markdown(markdown: &str, page: &Url) -> Rendered {
    let mut stray_tags = Vec::new();
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    let mut first_para: Option<Vec<Event>> = None;
    let mut para_events: Vec<Event> = Vec::new();
    let mut depth = 0usize;
    let mut in_first_para = false;

    let events =
        Parser::new_ext(markdown, options())
            .into_offset_iter()
            .map(|(ev, range)| match ev {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) => Event::Start(Tag::Link {
                    link_type,
                    dest_url: absolutize_cow(dest_url, page),
                    title,
                    id,
                }),
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) => Event::Start(Tag::Image {
                    link_type,
                    dest_url: absolutize_cow(dest_url, page),
                    title,
                    id,
                }),
                Event::Html(h) => {
                    find_stray_tags(&h, range.start, &mut stray_tags);
                    Event::Html(rewrite_raw_html(h, page))
                }
                Event::InlineHtml(h) => {
                    find_stray_tags(&h, range.start, &mut stray_tags);
                    Event::InlineHtml(rewrite_raw_html(h, page))
                }
                other => other,
            });

    let mut collected: Vec<Event> = Vec::new();
    for ev in events {
        if first_para.is_none() {
            match &ev {
                Event::Start(Tag::Paragraph) if depth == 0 => in_first_para = true,
                _ => {}
            }
            if in_first_para {
                para_events.push(ev.clone());
            }
            if let Event::End(TagEnd::Paragraph) = ev {
                if depth == 1 && in_first_para {
                    in_first_para = false;
                    first_para = Some(std::mem::take(&mut para_events));
                }
            }
        }
        match &ev {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        collected.push(ev);
    }
    pulldown_cmark::html::push_html(&mut html, collected.into_iter());

    let excerpt_html = match markdown.find(EXCERPT_SEPARATOR) {
        Some(pos) => {
            let mut out = String::new();
            pulldown_cmark::html::push_html(
                &mut out,
                Parser::new_ext(&markdown[..pos], options()).map(|ev| match ev {
                    Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }) => Event::Start(Tag::Link {
                        link_type,
                        dest_url: absolutize_cow(dest_url, page),
                        title,
                        id,
                    }),
                    Event::Start(Tag::Image {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }) => Event::Start(Tag::Image {
                        link_type,
                        dest_url: absolutize_cow(dest_url, page),
                        title,
                        id,
                    }),
                    Event::Html(h) => Event::Html(rewrite_raw_html(h, page)),
                    Event::InlineHtml(h) => Event::InlineHtml(rewrite_raw_html(h, page)),
                    other => other,
                }),
            );
            Some(out)
        }
        None => first_para.map(|evs| {
            let mut out = String::new();
            pulldown_cmark::html::push_html(&mut out, evs.into_iter());
            out
        }),
    };
    // Links written in a post pass the same URL policy as upstream ones.
    Rendered {
        html: crate::urlpolicy::html_owned(xml_clean_owned(html)),
        excerpt_html: excerpt_html
            .map(|h| crate::urlpolicy::html(&xml_clean(h.trim_end())).into_owned())
            .filter(|h| !h.is_empty()),
        stray_tags,
    }
}

fn absolutize_cow<'a>(url: CowStr<'a>, page: &Url) -> CowStr<'a> {
    match absolutize(&url, page) {
        Cow::Borrowed(_) => url,
        Cow::Owned(s) => CowStr::from(s),
    }
}

/// Resolve `href` against `page`. Empty references stay empty; references that
/// cannot be resolved are left as written.
pub fn absolutize<'a>(href: &'a str, page: &Url) -> Cow<'a, str> {
    let t = href.trim();
    if t.is_empty() || has_scheme(t) {
        return Cow::Borrowed(href);
    }
    match page.join(t) {
        Ok(u) => Cow::Owned(u.to_string()),
        Err(_) => Cow::Borrowed(href),
    }
}

fn has_scheme(s: &str) -> bool {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    for (_, c) in chars {
        if c == ':' {
            return true;
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
            return false;
        }
    }
    false
}

fn url_attr_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)(\s(?:href|src|poster|cite|action|data)\s*=\s*)(?:"([^"]*)"|'([^']*)')"#)
            .expect("static regex")
    })
}

/// Absolutize `href`/`src` attributes inside raw HTML written in a post.
/// Every `href`/`src` in an HTML fragment resolved against `page`.
pub fn absolutize_html(html: String, page: &Url) -> String {
    match rewrite_raw_html(CowStr::Borrowed(&html), page) {
        CowStr::Borrowed(_) => html,
        other => other.into_string(),
    }
}

fn rewrite_raw_html<'a>(html: CowStr<'a>, page: &Url) -> CowStr<'a> {
    let re = url_attr_re();
    if !re.is_match(&html) {
        return html;
    }
    let out = re.replace_all(&html, |c: &regex::Captures| {
        let (value, quote) = match (c.get(2), c.get(3)) {
            (Some(v), _) => (v.as_str(), '"'),
            (_, Some(v)) => (v.as_str(), '\''),
            _ => ("", '"'),
        };
        // Attribute values may hold entities (`&amp;`); resolve the decoded text.
        let decoded = html_escape::decode_html_entities(value);
        let abs = absolutize(&decoded, page);
        let abs = if quote == '"' {
            abs.replace('"', "%22")
        } else {
            abs.replace('\'', "%27")
        };
        let abs = abs.replace('&', "&amp;").replace('<', "%3C");
        format!("{}{quote}{abs}{quote}", &c[1])
    });
    CowStr::from(out.into_owned())
}

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"<(/?)([A-Za-z][A-Za-z0-9-]*)").expect("static regex"))
}

fn find_stray_tags(html: &str, offset: usize, out: &mut Vec<(usize, String)>) {
    for c in tag_re().captures_iter(html) {
        let name = &c[2];
        let lower = name.to_ascii_lowercase();
        // Custom elements carry a '-' and are valid HTML.
        if lower.contains('-') || HTML_ELEMENTS.binary_search(&lower.as_str()).is_ok() {
            continue;
        }
        let at = offset + c.get(0).map(|m| m.start()).unwrap_or(0);
        out.push((at, format!("<{}{}>", &c[1], name)));
    }
}

/// HTML, SVG and MathML element names a browser knows (sorted for binary search).
static HTML_ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "article",
    "aside",
    "audio",
    "b",
    "base",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "body",
    "br",
    "button",
    "canvas",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "data",
    "datalist",
    "dd",
    "del",
    "details",
    "dfn",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "font",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "i",
    "iframe",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "link",
    "main",
    "map",
    "mark",
    "math",
    "menu",
    "meta",
    "meter",
    "nav",
    "noscript",
    "object",
    "ol",
    "optgroup",
    "option",
    "output",
    "p",
    "param",
    "picture",
    "pre",
    "progress",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "script",
    "search",
    "section",
    "select",
    "slot",
    "small",
    "source",
    "span",
    "strike",
    "strong",
    "style",
    "sub",
    "summary",
    "sup",
    "svg",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "title",
    "tr",
    "track",
    "tt",
    "u",
    "ul",
    "var",
    "video",
    "wbr",
];

/// Elements that separate words when HTML becomes text; inline ones do not.
static BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// Text of an HTML fragment: tags dropped (block elements become a space),
/// the content of `<script>` and `<style>` dropped, attributes read as HTML
/// reads them (a quoted `>` does not end a tag), entities decoded,
/// whitespace folded.
pub fn html_to_text(html: &str) -> String {
    let out = crate::util::text::markup_text(html, |name, out| {
        if BLOCK_ELEMENTS.contains(&name) {
            out.push(' ');
        }
    });
    plain_text(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://lwkd.info/2024/20240101").unwrap()
    }

    #[test]
    fn relative_urls_become_absolute() {
        let r = markdown("[a](/2018/20180205) [b](metric_total) ![i](/img/x.png) [c](https://k8s.io/) [m](mailto:a@b.c) [e]()", &page());
        assert!(
            r.html.contains(r#"href="https://lwkd.info/2018/20180205""#),
            "{}",
            r.html
        );
        assert!(r
            .html
            .contains(r#"href="https://lwkd.info/2024/metric_total""#));
        assert!(r.html.contains(r#"src="https://lwkd.info/img/x.png""#));
        assert!(r.html.contains(r#"href="https://k8s.io/""#));
        assert!(r.html.contains(r#"href="mailto:a@b.c""#));
        assert!(r.html.contains(r#"href="""#));
    }

    #[test]
    fn raw_html_urls_and_stray_tags() {
        let r = markdown(
            "x <a href='/p?a=1&amp;b=2'>y</a> `isIP(<string>)` and isIP(<string>)\n",
            &page(),
        );
        assert!(
            r.html.contains("href='https://lwkd.info/p?a=1&amp;b=2'"),
            "{}",
            r.html
        );
        assert_eq!(r.stray_tags.len(), 1);
        assert_eq!(r.stray_tags[0].1, "<string>");
        assert_eq!(
            &"x <a href='/p?a=1&amp;b=2'>y</a> `isIP(<string>)` and isIP(<string>)\n"
                [r.stray_tags[0].0..][..8],
            "<string>"
        );
    }

    #[test]
    fn gfm_features() {
        let r = markdown(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~x~~\n\n- [x] done\n\nnote[^1]\n\n[^1]: foot\n",
            &page(),
        );
        assert!(r.html.contains("<table>"));
        assert!(r.html.contains("<del>x</del>"));
        assert!(r.html.contains("checkbox"));
        assert!(r.html.contains("footnote"));
    }

    #[test]
    fn excerpt_is_first_paragraph_or_more_marker() {
        let r = markdown("## Head\n\nFirst *para*.\n\nSecond.\n", &page());
        assert_eq!(
            r.excerpt_html.as_deref(),
            Some("<p>First <em>para</em>.</p>")
        );
        let r = markdown("One.\n\nTwo.\n\n<!--more-->\n\nThree.\n", &page());
        assert_eq!(r.excerpt_html.as_deref(), Some("<p>One.</p>\n<p>Two.</p>"));
    }

    #[test]
    fn xml_unsafe_characters_are_removed() {
        assert_eq!(xml_clean("a\u{1}b\u{7f}c\u{fffe}d\te"), "abcd\te");
        assert_eq!(
            plain_text("Fish &amp; Chips &mdash; &#x1F389;\u{0}"),
            "Fish & Chips — 🎉"
        );
        assert_eq!(
            html_to_text("<p>a <b>b</b></p>\n<p>c &lt;d&gt;</p>"),
            "a b c <d>"
        );
    }
}
