//! Plain text: XML-safe characters, entities decoded, whitespace folded,
//! HTML made text, shortened for tables. Below the model, so that `Entry`
//! and the URL policy can clean text.

use std::borrow::Cow;

/// Remove characters XML 1.0 forbids or discourages (control characters,
/// noncharacters); everything else is kept.
pub fn xml_clean(s: &str) -> Cow<'_, str> {
    if !may_need_cleaning(s.as_bytes()) || s.chars().all(xml_ok) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| xml_ok(c)).collect())
    }
}

/// A byte scan that rules out every character `xml_ok` refuses: ASCII
/// controls and DEL, C1 controls (lead byte 0xC2), noncharacters (lead bytes
/// 0xEF and 0xF0..), so that clean text is not decoded char by char.
fn may_need_cleaning(b: &[u8]) -> bool {
    b.iter().any(|&c| {
        (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c == 0x7F || c == 0xC2 || c >= 0xEF
    })
}

/// `s` without the characters XML refuses, reusing its buffer when it is clean.
pub fn xml_clean_owned(s: String) -> String {
    match xml_clean(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(clean) => clean,
    }
}

fn xml_ok(c: char) -> bool {
    let cp = c as u32;
    match cp {
        0x9 | 0xA | 0xD => true,
        0x0..=0x1F => false,
        0x7F..=0x84 | 0x86..=0x9F => false,
        0xFDD0..=0xFDEF => false,
        _ if cp & 0xFFFE == 0xFFFE => false,
        _ => true,
    }
}

/// A title or name as plain text: entities decoded, XML-safe, whitespace folded.
pub fn plain_text(s: &str) -> String {
    let decoded = html_escape::decode_html_entities(s);
    let cleaned = xml_clean(&decoded);
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Plain `text` cut to at most `max` characters, at a word when one ends in
/// the second half, with `…` after it (and no dangling `,;:.`).
pub fn shorten(text: &str, max: usize) -> String {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return text.to_string();
    };
    let head = &text[..cut];
    let head = match head.rfind(' ') {
        Some(i) if i > head.len() / 2 => &head[..i],
        _ => head,
    };
    format!("{}…", head.trim_end_matches([',', ';', ':', '.', ' ']))
}

/// Text of an HTML fragment: tags dropped (block elements become a space),
/// the content of `<script>` and `<style>` dropped, attributes read as HTML
/// reads them (a quoted `>` does not end a tag), entities decoded,
/// whitespace folded.
pub fn html_to_text(html: &str) -> String {
    let out = markup_text(html, |name, out| {
        if BLOCK_ELEMENTS.contains(&name) {
            out.push(' ');
        }
    });
    plain_text(&out)
}

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

/// `1 entry`, `2 entries`: a count and its noun, singular for one.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text of an HTML fragment, not yet decoded or folded: tags, comments,
/// declarations and processing instructions dropped, and the content of
/// `<script>` and `<style>` dropped with them. Attribute values are read as
/// HTML reads them, so a `>` inside a quoted value does not end its tag. A
/// `<` that cannot start markup (`a < b`) is text. `on_tag` is called with
/// the lower-case name of every start and end tag and may append to the text
/// (a space for a block element). One pass: linear in the input.
pub fn markup_text(html: &str, mut on_tag: impl FnMut(&str, &mut String)) -> String {
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while let Some(off) = html.get(i..).and_then(|r| r.find('<')) {
        let lt = i + off;
        out.push_str(&html[i..lt]);
        let next = b.get(lt + 1).copied();
        match next {
            Some(b'!') if html[lt..].starts_with("<!--") => {
                // A comment ends at `-->`; one that never does, at the next `>`
                // (as feedparser's sanitizer reads `<!-- -- x >`).
                let from = lt + 4;
                i = match find_from(html, from, "-->") {
                    Some(e) => e + 3,
                    None => match find_from(html, from, ">") {
                        Some(e) => e + 1,
                        None => return out,
                    },
                };
            }
            Some(b'!') | Some(b'?') => match find_from(html, lt + 2, ">") {
                Some(e) => i = e + 1,
                None => {
                    // Never closed: not markup after all (`<!DOCTYPE ~`).
                    out.push_str(&html[lt..]);
                    return out;
                }
            },
            Some(b'/') if b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) => {
                let name = tag_name(&html[lt + 2..]);
                let Some(e) = find_from(html, lt + 2, ">") else {
                    return out;
                };
                on_tag(&name, &mut out);
                i = e + 1;
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name = tag_name(&html[lt + 1..]);
                let Some(end) = start_tag_end(b, lt + 1 + name.len()) else {
                    return out;
                };
                on_tag(&name, &mut out);
                let self_closing = end > 0 && b[end - 1] == b'/';
                i = end + 1;
                if name == "script" || name == "style" {
                    // Raw text up to the matching end tag, dropped (HTML ignores
                    // `/>` here); with no end tag, everything after a start tag
                    // that is not self-closing is script.
                    match find_end_tag(b, i, name.as_bytes()) {
                        Some(e) => i = e,
                        None if self_closing => {}
                        None => return out,
                    }
                }
            }
            _ => {
                out.push('<');
                i = lt + 1;
            }
        }
    }
    out.push_str(&html[i..]);
    out
}

fn find_from(s: &str, from: usize, pat: &str) -> Option<usize> {
    s.get(from..)?.find(pat).map(|p| p + from)
}

/// The lower-case tag name at the start of `s`.
fn tag_name(s: &str) -> String {
    s.bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b':' | b'_' | b'.'))
        .map(|c| c.to_ascii_lowercase() as char)
        .collect()
}

/// The index of the `>` that ends a start tag whose attributes begin at
/// `from`: quoted attribute values are skipped whole. `None` when the tag
/// never ends.
fn start_tag_end(b: &[u8], mut j: usize) -> Option<usize> {
    while j < b.len() {
        match b[j] {
            b'>' => return Some(j),
            b'=' => {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if let Some(&q @ (b'"' | b'\'')) = b.get(j) {
                    let close = b.get(j + 1..)?.iter().position(|&c| c == q)?;
                    j += close + 2;
                }
            }
            _ => j += 1,
        }
    }
    None
}

/// Just past the end tag `</name ...>` (ASCII case-insensitive) at or after
/// `from`, or `None` when there is none.
fn find_end_tag(b: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut k = from;
    while k + 1 < b.len() {
        let rel = b.get(k..)?.windows(2).position(|w| w == b"</")?;
        let at = k + rel + 2;
        let matches = b
            .get(at..at + name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && !b
                .get(at + name.len())
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if matches {
            let gt = b.get(at..)?.iter().position(|&c| c == b'>')?;
            return Some(at + gt + 1);
        }
        k = at;
    }
    None
}

/// Undo escaping applied more than once where that is unambiguous: an
/// `&amp;` (repeated any number of times, `&amp;amp;…`) directly followed by
/// a known HTML entity name or a character reference and `;` becomes `&`, so
/// `&amp;amp;mdash;` reads `&mdash;`. Anything else (`&amp;` before text,
/// an unknown name) is kept as written. For HTML (and titles read as HTML):
/// once decoded, it shows what the author meant, not a literal `&mdash;`.
pub fn repair_multi_escaped(s: &str) -> Cow<'_, str> {
    repair(s, false)
}

/// [`repair_multi_escaped`] for plain text (Atom `type="text"`): the same
/// `&amp;…` sequences become the character they name, since text shows
/// characters, not references: `&amp;mdash;` reads `—`. A bare `&mdash;` is
/// kept: in plain text it may be meant literally.
pub fn repair_multi_escaped_text(s: &str) -> Cow<'_, str> {
    repair(s, true)
}

/// One pass over `s`, linear in its length (a reference body is at most 32
/// bytes); `decode`: the character itself instead of `&` + the reference.
fn repair(s: &str, decode: bool) -> Cow<'_, str> {
    if !s.contains("&amp;") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find("&amp;") {
        out.push_str(&rest[..p]);
        let mut after = &rest[p + 5..];
        while let Some(r) = after.strip_prefix("amp;") {
            after = r;
        }
        match reference_body_len(after) {
            Some(len) if decode => {
                let ent = format!("&{}", &after[..len]);
                out.push_str(&html_escape::decode_html_entities(&ent));
                rest = &after[len..];
            }
            Some(_) => {
                out.push('&');
                rest = after;
            }
            None => {
                // Keep one level of escaping as written: `&amp;` + whatever followed.
                let consumed = rest.len() - after.len();
                out.push_str(&rest[p..consumed]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// When `s` starts with `name;`, `#123;` or `#x1F;` naming a character: the
/// length of that, `;` included.
fn reference_body_len(s: &str) -> Option<usize> {
    let end = s
        .bytes()
        .take(33)
        .position(|c| c == b';')
        .filter(|&e| e > 0)?;
    let body = &s[..end];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(h) => (h, 16),
            None => (num, 10),
        };
        let ok = !digits.is_empty()
            && u32::from_str_radix(digits, radix)
                .ok()
                .and_then(char::from_u32)
                .is_some();
        return ok.then_some(end + 1);
    }
    if !body.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let ent = format!("&{}", &s[..=end]);
    (html_escape::decode_html_entities(&ent) != ent).then_some(end + 1)
}

/// Decode standard base64 (RFC 4648, `+/`, padding optional, whitespace
/// ignored). `None` for anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = false;
    for c in s.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding = true;
            continue;
        }
        if padding {
            return None;
        }
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        markup_text(html, |_, _| {})
    }

    #[test]
    fn script_and_style_content_is_dropped() {
        assert_eq!(
            text("safe<script type=\"text/javascript\">location.href='http:/'+'/example.com/';</script> description"),
            "safe description"
        );
        assert_eq!(text("a<STYLE>p{}</style >b<script>x</SCRIPT>c"), "abc");
        assert_eq!(text("a<script>never closed"), "a");
        assert_eq!(text("a<script src=x />b"), "ab");
        assert_eq!(text("a<scripts>b</scripts>c"), "abc");
        assert_eq!(text("x<script>a</scriptx>b</script>y"), "xy");
        assert_eq!(text("x<script/>a</script>y"), "xy");
    }

    #[test]
    fn quoted_attributes_and_stray_brackets() {
        assert_eq!(
            text(r#"<img src="http://example.com/cat-dog.jpg" alt="cat<br />dog">"#),
            ""
        );
        assert_eq!(text("<a title='1 > 0' href=x>link</a>"), "link");
        assert_eq!(text("a < b and c<3"), "a < b and c<3");
        assert_eq!(text("<!DOCTYPE ~"), "<!DOCTYPE ~");
        assert_eq!(text("sa<!-- -- nonwhitespace >fe"), "safe");
        assert_eq!(text("a<!-- <b> -->c<?pi x?>d"), "acd");
        assert_eq!(text("a<b"), "a");
    }

    #[test]
    fn multi_escaped_entities_are_repaired() {
        assert_eq!(repair_multi_escaped("a &amp;amp;mdash; b"), "a &mdash; b");
        assert_eq!(repair_multi_escaped("&amp;amp;amp;#8212;"), "&#8212;");
        assert_eq!(repair_multi_escaped("&amp;mdash;"), "&mdash;");
        assert_eq!(repair_multi_escaped("&amp;#x2014;"), "&#x2014;");
        // Ambiguous or not an entity: as written.
        assert_eq!(repair_multi_escaped("AT&amp;T"), "AT&amp;T");
        assert_eq!(repair_multi_escaped("&amp;nosuch;"), "&amp;nosuch;");
        assert_eq!(repair_multi_escaped("&amp;amp; x"), "&amp;amp; x");
        assert_eq!(repair_multi_escaped("&amp;#xD800;"), "&amp;#xD800;");
        assert_eq!(repair_multi_escaped("plain"), "plain");
    }

    #[test]
    fn multi_escaped_text_becomes_the_character() {
        assert_eq!(repair_multi_escaped_text("a &amp;mdash; b"), "a — b");
        assert_eq!(repair_multi_escaped_text("&amp;amp;amp;#8212;"), "—");
        assert_eq!(repair_multi_escaped_text("&amp;#x2014;!"), "—!");
        // Plain text may mean a reference literally; ambiguous ones stay.
        assert_eq!(
            repair_multi_escaped_text("use &mdash; here"),
            "use &mdash; here"
        );
        assert_eq!(repair_multi_escaped_text("AT&amp;T"), "AT&amp;T");
        assert_eq!(repair_multi_escaped_text("&amp;nosuch;"), "&amp;nosuch;");
        assert_eq!(repair_multi_escaped_text("&amp;#xD800;"), "&amp;#xD800;");
        assert_eq!(repair_multi_escaped_text("&amp;lt;b&amp;gt;"), "<b>");
    }

    #[test]
    fn base64() {
        assert_eq!(
            base64_decode(" RXhhbXBsZSA8Yj5BdG9tPC9iPg==\n").as_deref(),
            Some(&b"Example <b>Atom</b>"[..])
        );
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("a*b"), None);
        assert_eq!(base64_decode("YQ==YQ"), None);
    }

    proptest::proptest! {
        /// Whatever surrounds it, the content of a script or style element is not text.
        #[test]
        fn script_text_never_survives(
            pre in proptest::sample::select(vec![
                "", "a < b ", "<p>", "</p> ", "<a href='x>y'>", "<a title=\"</script>\">",
                "<!-- c -->", "<!-- <script> -->", "<?pi?>", "<br/>", "&lt;", "<![CDATA[x]]>",
            ]),
            words in "[a-z &;<>\"'/=-]{0,12}",
            post in "[a-z <>\"'=/!-]{0,20}",
            tag in "script|style|SCRIPT|Style",
            attrs in "( [a-z]+=(\"[^\"]*\"|'[^']*'|[a-z]+))*",
        ) {
            let words = words.replace('<', "&lt;").replace('>', "&gt;");
            let html = format!("{pre}{words}<{tag}{attrs}>SECRET</{tag}>{post}");
            let t = text(&html);
            proptest::prop_assert!(!t.contains("SECRET"), "{html:?} -> {t:?}");
        }
    }

    proptest::proptest! {
        /// The byte-scan fast path never lets through what the char filter removes.
        #[test]
        fn xml_clean_equals_the_char_filter(s in "\\PC*|[\\x00-\\x{a0}\\x{fdd0}-\\x{fdef}\\x{fffe}\\x{ffff}\\x{1fffe}a-z]*") {
            let want: String = s.chars().filter(|&c| xml_ok(c)).collect();
            proptest::prop_assert_eq!(xml_clean(&s).into_owned(), want.clone());
            proptest::prop_assert_eq!(xml_clean_owned(s), want);
        }
    }
}
