//! Titles for same-story matching.

/// A title reduced to what identifies a story: lower case (Unicode), every
/// run of punctuation and whitespace one space, HTML entities decoded.
///
/// Version numbers are kept whole and exact so that releases never merge:
/// a `.` between two digits stays (`v3.5.1` → `3.5.1`), a `v`/`V` directly
/// before a digit is dropped (`v1.31` and `1.31` are the same version), and
/// the word `release` or `version` directly before a version number is
/// dropped (`Release v1.2.3`, `Version 1.2.3` and `v1.2.3` are one title).
/// Nothing else is removed: `etcd v3.5.1` → `etcd 3.5.1`, which differs from
/// `etcd 3.5.2`.
pub fn normalize_title(t: &str) -> String {
    let lower = html_escape::decode_html_entities(t).to_lowercase();
    let bytes = lower.as_bytes();
    let mut words: Vec<&str> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, ch) in lower.char_indices() {
        // '.' and digits are ASCII: their neighbours are single bytes.
        let digit_dot = ch == '.'
            && i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if ch.is_alphanumeric() || digit_dot {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            words.push(&lower[s..i]);
        }
    }
    if let Some(s) = start {
        words.push(&lower[s..]);
    }
    let is_version = |w: &str| w.starts_with(|c: char| c.is_ascii_digit());
    for w in &mut words {
        if let Some(rest) = w.strip_prefix('v').filter(|r| is_version(r)) {
            *w = rest;
        }
    }
    // Backwards, so that `release` is dropped when the next word kept is a
    // version (`release release 1.2` → `1.2`, as a second pass would say).
    let mut kept: Vec<&str> = Vec::with_capacity(words.len());
    for &w in words.iter().rev() {
        let before_version = kept.last().is_some_and(|n| is_version(n));
        if before_version && (w == "release" || w == "version") {
            continue;
        }
        kept.push(w);
    }
    kept.reverse();
    kept.join(" ")
}

/// Whether a token of a normalized title carries a number (versions, dates,
/// counts): such tokens must be equal for two titles to be one story.
pub(crate) fn is_number_token(tok: &str) -> bool {
    tok.chars().any(|c| c.is_ascii_digit())
}

/// Whether a normalized title says enough to match on: two words or more, one
/// of them with a letter. A bare `1.2.3` or `Update` names no story; the same
/// words from two projects would merge.
pub(crate) fn is_distinctive(tokens: &[&str]) -> bool {
    tokens.len() >= 2 && tokens.iter().any(|t| t.chars().any(char::is_alphabetic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_case_and_punctuation() {
        assert_eq!(normalize_title("  Hello,   World!!  "), "hello world");
        assert_eq!(
            normalize_title("Kubernetes&nbsp;&mdash; 1.31: \"Elli\""),
            "kubernetes 1.31 elli"
        );
        assert_eq!(normalize_title("ÉTÉ — Straße"), "été straße");
        assert_eq!(
            normalize_title("Week Ending November 22, 2026"),
            "week ending november 22 2026"
        );
    }

    #[test]
    fn versions_stay_exact() {
        assert_eq!(normalize_title("etcd v3.5.1"), "etcd 3.5.1");
        assert_ne!(
            normalize_title("etcd v3.5.1"),
            normalize_title("etcd v3.5.2")
        );
        assert_ne!(
            normalize_title("etcd v3.5.15"),
            normalize_title("etcd v3.5.16")
        );
        assert_ne!(
            normalize_title("Kubernetes v1.31.1"),
            normalize_title("Kubernetes v1.31.2")
        );
        assert_ne!(normalize_title("Go 1.23"), normalize_title("Go 1.2.3"));
        assert_eq!(normalize_title("Release v1.2.3"), "1.2.3");
        assert_eq!(
            normalize_title("Kubernetes Release V1.31.0"),
            normalize_title("kubernetes v1.31.0")
        );
        assert_eq!(normalize_title("Version 2 of the plan"), "2 of the plan");
        // Only a `v` right before a digit is a version prefix.
        assert_eq!(normalize_title("vim 9.1 released"), "vim 9.1 released");
        assert_eq!(normalize_title("Release notes"), "release notes");
        // A dot ends a sentence unless digits are on both sides.
        assert_eq!(normalize_title("Go 1.23. Released."), "go 1.23 released");
    }

    #[test]
    fn distinctive() {
        let toks = |s: &str| {
            normalize_title(s)
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let check =
            |s: &str| is_distinctive(&toks(s).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(check("etcd v3.5.1"));
        assert!(!check("v3.5.1"));
        assert!(!check("Release v1.2.3"));
        assert!(!check("Update"));
        assert!(!check("2024 11"));
    }

    proptest! {
        #[test]
        fn idempotent(s in "\\PC{0,40}") {
            let once = normalize_title(&s);
            prop_assert_eq!(normalize_title(&once), once.clone());
            prop_assert!(!once.contains("  ") && once.trim() == once);
        }
    }
}
