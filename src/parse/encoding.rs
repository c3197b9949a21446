//! Bytes to text for upstream documents: BOM, then the byte pattern of
//! `<?xml` (UTF-16/32 without BOM), then the declared charset. Bytes that are
//! valid UTF-8 are read as UTF-8 whatever the declaration says: a wrong
//! `encoding="iso-8859-1"` on UTF-8 text is the common lie, and feedparser
//! resolves it the same way.

use encoding_rs::Encoding;
use std::borrow::Cow;

/// The document as text (invalid sequences replaced, never refused);
/// valid UTF-8 is borrowed, not copied.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest);
    }
    match bytes {
        [0x00, 0x00, 0xFE, 0xFF, ..] => return utf32(&bytes[4..], true).into(),
        [0xFF, 0xFE, 0x00, 0x00, ..] => return utf32(&bytes[4..], false).into(),
        [0xFE, 0xFF, ..] => return utf16(&bytes[2..], true).into(),
        [0xFF, 0xFE, ..] => return utf16(&bytes[2..], false).into(),
        [0x00, 0x00, 0x00, b'<', ..] => return utf32(bytes, true).into(),
        [b'<', 0x00, 0x00, 0x00, ..] => return utf32(bytes, false).into(),
        [0x00, b'<', ..] | [0x00, b' ' | b'\n' | b'\r' | b'\t', 0x00, ..] => {
            return utf16(bytes, true).into()
        }
        [b'<', 0x00, ..] | [b' ' | b'\n' | b'\r' | b'\t', 0x00, ..] => {
            return utf16(bytes, false).into()
        }
        _ => {}
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    let enc = declared(bytes)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        // A declaration of UTF-16/32 on ASCII-compatible bytes is wrong; and
        // an undeclared non-UTF-8 document is most likely windows-1252.
        .filter(|e| e.is_ascii_compatible())
        .unwrap_or(encoding_rs::WINDOWS_1252);
    let (text, _) = enc.decode_without_bom_handling(bytes);
    Cow::Owned(text.into_owned())
}

/// `encoding="..."` of the XML declaration, if any.
fn declared(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head);
    let decl_end = head.find("?>")?;
    let decl = head.get(head.find("<?xml")?..decl_end)?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].trim().to_string())
}

fn utf16(bytes: &[u8], be: bool) -> String {
    let enc = if be {
        encoding_rs::UTF_16BE
    } else {
        encoding_rs::UTF_16LE
    };
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

fn utf32(bytes: &[u8], be: bool) -> String {
    bytes
        .chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            let n = if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_bytes(s: &str, be: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if be { &[0xFE, 0xFF] } else { &[0xFF, 0xFE] });
        }
        for u in s.encode_utf16() {
            out.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        out
    }

    #[test]
    fn boms_and_sniffing() {
        let doc = "<?xml version=\"1.0\"?><rss>é</rss>";
        for (be, bom) in [(true, true), (false, true), (true, false), (false, false)] {
            assert_eq!(decode(&utf16_bytes(doc, be, bom)), doc, "be={be} bom={bom}");
        }
        let mut u32be = vec![0, 0, 0xFE, 0xFF];
        for c in doc.chars() {
            u32be.extend_from_slice(&(c as u32).to_be_bytes());
        }
        assert_eq!(decode(&u32be), doc);
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice(doc.as_bytes());
        assert_eq!(decode(&bom8), doc);
    }

    #[test]
    fn declared_legacy_charsets() {
        let mut koi = b"<?xml version='1.0' encoding='koi8-r'?><t>".to_vec();
        koi.extend_from_slice(&[0xF0, 0xD2, 0xC9]); // "При"
        koi.extend_from_slice(b"</t>");
        assert!(decode(&koi).contains("При"));
        let latin = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>caf\xe9</t>";
        assert!(decode(latin).contains("café"));
    }

    #[test]
    fn odd_declarations_do_not_panic() {
        assert!(decode(b"?><?xml encoding='koi8-r' \xff").contains("?>"));
        assert_eq!(declared(b"<?xml version='1.0' encoding=\"x"), None);
    }

    #[test]
    fn wrong_declaration_on_utf8_is_utf8() {
        let doc = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>café — ok</t>";
        assert_eq!(decode(doc.as_bytes()), doc);
        let doc = "<?xml version=\"1.0\" encoding=\"utf-16\"?><t>plain</t>";
        assert_eq!(decode(doc.as_bytes()), doc);
    }
}
