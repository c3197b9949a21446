//! A linear scanner of HTML tags, read as the HTML tokenizer reads them
//! (quotes delimit a value only right after `=`, comments are skipped), for
//! the passes that must see tags exactly where a browser does without
//! building a tree: the nesting cap and the URL policy.

/// One attribute of a tag, as byte ranges into the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// From the first byte of the name to the last byte of the value (or
    /// name, when there is no value).
    pub span: std::ops::Range<usize>,
    pub name: std::ops::Range<usize>,
    /// The value without its quotes; `None` for a bare attribute.
    pub value: Option<std::ops::Range<usize>>,
}

/// One start or end tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Lower-cased.
    pub name: String,
    pub closing: bool,
    pub self_closed: bool,
    /// From `<` to `>` inclusive.
    pub span: std::ops::Range<usize>,
    pub attrs: Vec<Attr>,
}

/// Every tag of `html`, in order. A tag the input ends inside ends the scan:
/// the tokenizer drops it, and nothing after it is markup.
pub fn tags(html: &str) -> impl Iterator<Item = Tag> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || loop {
        let off = html.as_bytes()[i.min(html.len())..]
            .iter()
            .position(|&c| c == b'<')?;
        let lt = i + off;
        let rest = &html[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            // A comment runs to `-->` (or the end of the input).
            i = match comment.find("-->") {
                Some(e) => lt + 4 + e + 3,
                None => html.len(),
            };
            continue;
        }
        match read_tag(html, lt) {
            Lexed::Tag(tag) => {
                i = tag.span.end;
                return Some(tag);
            }
            Lexed::NotATag => i = lt + 1,
            Lexed::Unterminated => {
                i = html.len();
                return None;
            }
        }
    })
}

enum Lexed {
    Tag(Tag),
    NotATag,
    Unterminated,
}

fn read_tag(s: &str, lt: usize) -> Lexed {
    let b = s.as_bytes();
    let closing = b.get(lt + 1) == Some(&b'/');
    let start = lt + if closing { 2 } else { 1 };
    if !b.get(start).is_some_and(u8::is_ascii_alphabetic) {
        return Lexed::NotATag;
    }
    let mut j = start;
    while j < b.len() && !(b[j].is_ascii_whitespace() || b[j] == b'/' || b[j] == b'>') {
        j += 1;
    }
    let name = s[start..j].to_ascii_lowercase();
    let skip_ws = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    let mut attrs = Vec::new();
    loop {
        while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
            j += 1;
        }
        match b.get(j) {
            None => return Lexed::Unterminated,
            Some(b'>') => {
                return Lexed::Tag(Tag {
                    name,
                    closing,
                    self_closed: b[j - 1] == b'/',
                    span: lt..j + 1,
                    attrs,
                })
            }
            Some(_) => {}
        }
        // An attribute name (a leading `=` belongs to it).
        let name_start = j;
        j += 1;
        while j < b.len() && !matches!(b[j], b'>' | b'/' | b'=') && !b[j].is_ascii_whitespace() {
            j += 1;
        }
        let name = name_start..j;
        let k = skip_ws(j);
        if b.get(k) != Some(&b'=') {
            attrs.push(Attr {
                span: name.clone(),
                name,
                value: None,
            });
            j = k;
            continue;
        }
        j = skip_ws(k + 1);
        let value = match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => match b[j + 1..].iter().position(|&c| c == q) {
                Some(len) => {
                    let v = j + 1..j + 1 + len;
                    j += len + 2;
                    v
                }
                None => return Lexed::Unterminated,
            },
            _ => {
                let v0 = j;
                while j < b.len() && b[j] != b'>' && !b[j].is_ascii_whitespace() {
                    j += 1;
                }
                v0..j
            }
        };
        attrs.push(Attr {
            span: name_start..j,
            name,
            value: Some(value),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_as_the_tokenizer_sees_them() {
        let html = r#"a <b>x</b> <!-- <i> --> <a title='x>y' href=q data-x="1"/> 3 < 4 <p"#;
        let got: Vec<(String, bool, Vec<&str>)> = tags(html)
            .map(|t| {
                let names = t.attrs.iter().map(|a| &html[a.name.clone()]).collect();
                (t.name, t.closing, names)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("b".into(), false, vec![]),
                ("b".into(), true, vec![]),
                ("a".into(), false, vec!["title", "href", "data-x"]),
            ]
        );
        let a = tags(html).nth(2).unwrap();
        assert!(a.self_closed);
        assert_eq!(&html[a.attrs[0].value.clone().unwrap()], "x>y");
        assert_eq!(&html[a.attrs[1].span.clone()], "href=q");
    }
}
