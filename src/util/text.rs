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
/// entities decoded, whitespace folded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if BLOCK_ELEMENTS.contains(&name.as_str()) {
            out.push(' ');
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(rest);
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

#[cfg(test)]
mod tests {
    use super::*;

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
