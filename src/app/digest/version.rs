//! Release versions read from the titles, tags and links of release feeds.
//!
//! Release feeds do not say "this is version X": GitHub's `releases.atom`
//! titles an item `v1.31.0-rc.1`, `etcd v3.5.17` or `Riverbed 3.2.0
//! released`, and its link ends in the tag (`…/releases/tag/release-1.2`).
//! The digest needs the version to write `PROJECT to VERSION`, to mark
//! pre-releases and to estimate how many releases a gap hides, so this
//! module finds the first token that looks like one.

/// A version found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// As written, without a leading `v`: `1.31.0-rc.1`, `3.5`, `24.1.0b1`.
    pub text: String,
    /// The dotted numbers: 2 to 4 of them (`1.31.0` is `[1, 31, 0]`).
    pub numbers: Vec<u64>,
    /// What follows the numbers after `-` (or glued to them, `b1`), without
    /// build metadata: `rc.1`, `beta`, `0`.
    pub suffix: Option<String>,
    /// Byte range of the whole token in the text, the `v` included.
    pub start: usize,
    pub end: usize,
}

/// Words in a suffix that make a release a pre-release. A suffix without
/// one (`v3.6.7-0`, a packaging revision) is a final release.
const PRE_WORDS: &[&str] = &[
    "alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "nightly", "canary",
];

/// Pre-release suffixes that PEP 440 glues to the numbers (`1.0.0rc1`, `24.1.0b1`).
const GLUED: &[&str] = &["a", "b", "c", "rc", "alpha", "beta", "pre", "dev"];

impl Version {
    /// Whether the suffix names a pre-release (`-rc.1`, `-beta`, `-alpha.2`, `b1`).
    pub fn is_pre_release(&self) -> bool {
        let Some(s) = &self.suffix else { return false };
        let s = s.to_ascii_lowercase();
        s.split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .any(|w| PRE_WORDS.contains(&w) || GLUED.contains(&w))
    }

    /// `(major, minor, patch)` when the version has exactly three numbers.
    pub fn semver(&self) -> Option<(u64, u64, u64)> {
        match self.numbers[..] {
            [a, b, c] => Some((a, b, c)),
            _ => None,
        }
    }
}

/// How many releases lie strictly between `older` and `newer`, when both
/// are final `MAJOR.MINOR.PATCH` releases of one `MAJOR.MINOR` line and
/// `newer` is the later one: patch numbers count releases there, and
/// nowhere else can the count be told from the numbers alone.
pub fn releases_between(older: &Version, newer: &Version) -> Option<u64> {
    if older.is_pre_release() || newer.is_pre_release() {
        return None;
    }
    let (a, b) = (older.semver()?, newer.semver()?);
    if (a.0, a.1) != (b.0, b.1) || b.2 <= a.2 {
        return None;
    }
    Some(b.2 - a.2 - 1)
}

/// Longest run of digits read as one version number: more would overflow
/// `u64`, and no release is numbered like that.
const MAX_DIGITS: usize = 18;

/// The first version in `text`: 2 to 4 dot-separated numbers, starting a
/// word or after `v` (`v1.2`, `controller-v1.2`, `release-1.2`), with an
/// optional suffix (`-rc.1`, `-0`, glued `b1`) and build metadata (`+meta`,
/// kept in `text`). A number that is part of a longer word (`x86.64a`,
/// `nightly-20261119`, a date) is not a version.
pub fn parse_version(text: &str) -> Option<Version> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && starts_token(b, i) {
            if let Some(v) = read_at(text, i) {
                return Some(v);
            }
            // Skip the rest of this run of digits and dots.
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    None
}

/// Whether a number at `i` starts a token: at the start, after a
/// separator, or after a `v` that itself starts a word.
fn starts_token(b: &[u8], i: usize) -> bool {
    let Some(&prev) = i.checked_sub(1).and_then(|p| b.get(p)) else {
        return true;
    };
    if prev.is_ascii_digit() || prev == b'.' {
        return false;
    }
    if prev == b'v' || prev == b'V' {
        return i < 2 || !b[i - 2].is_ascii_alphanumeric();
    }
    !prev.is_ascii_alphanumeric()
}

/// Read a version starting at the digit at `i`.
fn read_at(text: &str, i: usize) -> Option<Version> {
    let b = text.as_bytes();
    let mut numbers = Vec::new();
    let mut j = i;
    loop {
        let start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == start || j - start > MAX_DIGITS {
            return None;
        }
        numbers.push(text[start..j].parse::<u64>().ok()?);
        // Another number only if a digit follows the dot ("1.2." ends a sentence).
        if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            j += 1;
            continue;
        }
        break;
    }
    if !(2..=4).contains(&numbers.len()) {
        return None;
    }
    let mut suffix = None;
    if j + 1 < b.len() && b[j] == b'-' && b[j + 1].is_ascii_alphanumeric() {
        let end = j + 1 + ident_len(&b[j + 1..]);
        suffix = Some(text[j + 1..end].to_string());
        j = end;
    } else if j < b.len() && b[j].is_ascii_alphabetic() {
        let letters = b[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        let word = text[j..j + letters].to_ascii_lowercase();
        if !GLUED.contains(&word.as_str()) {
            return None;
        }
        let digits = b[j + letters..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        suffix = Some(text[j..j + letters + digits].to_string());
        j += letters + digits;
    }
    if j + 1 < b.len() && b[j] == b'+' && b[j + 1].is_ascii_alphanumeric() {
        j += 1 + ident_len(&b[j + 1..]);
    }
    // The token must end here: `1.2x` or `1.2.3.4.5` is something else.
    if b.get(j).is_some_and(|c| {
        c.is_ascii_alphanumeric() || (*c == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit))
    }) {
        return None;
    }
    let start = if i > 0 && matches!(b[i - 1], b'v' | b'V') {
        i - 1
    } else {
        i
    };
    Some(Version {
        text: text[i..j].to_string(),
        numbers,
        suffix,
        start,
        end: j,
    })
}

/// Length of a semver identifier list (`rc.1`, `alpha-2`) at the start of
/// `b`, without a trailing `.` or `-` (punctuation of the sentence).
fn ident_len(b: &[u8]) -> usize {
    let mut n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'.' || **c == b'-')
        .count();
    while n > 0 && matches!(b[n - 1], b'.' | b'-') {
        n -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Option<(String, bool)> {
        parse_version(text).map(|v| (v.text.clone(), v.is_pre_release()))
    }

    fn some(text: &str, pre: bool) -> Option<(String, bool)> {
        Some((text.to_string(), pre))
    }

    #[test]
    fn release_titles_and_tags() {
        assert_eq!(v("v1.31.0"), some("1.31.0", false));
        assert_eq!(v("v1.31.0-rc.1"), some("1.31.0-rc.1", true));
        assert_eq!(v("etcd v3.5.17"), some("3.5.17", false));
        assert_eq!(v("release-1.2"), some("1.2", false));
        assert_eq!(v("Riverbed 3.2.0 released"), some("3.2.0", false));
        assert_eq!(v("controller-v1.14.2"), some("1.14.2", false));
        assert_eq!(v("helm-chart-4.14.2"), some("4.14.2", false));
        assert_eq!(
            v("Kubernetes v1.32.0-alpha.3"),
            some("1.32.0-alpha.3", true)
        );
        assert_eq!(v("v2.0.0-beta"), some("2.0.0-beta", true));
        assert_eq!(v("24.1.0b1"), some("24.1.0b1", true));
        assert_eq!(v("1.0.0rc2"), some("1.0.0rc2", true));
        assert_eq!(v("etcd to v3.6.7-0"), some("3.6.7-0", false));
        assert_eq!(v("v1.2.3+build.5"), some("1.2.3+build.5", false));
        assert_eq!(v("Go 1.23.4 is released."), some("1.23.4", false));
        assert_eq!(v("(v1.2.3)"), some("1.2.3", false));
        assert_eq!(v("V10.0"), some("10.0", false));
    }

    #[test]
    fn not_versions() {
        assert_eq!(v("nightly-20261119"), None);
        assert_eq!(v("Week Ending November 15, 2026"), None);
        assert_eq!(v("2026-11-19"), None);
        assert_eq!(v("x86.64"), None);
        assert_eq!(v("dev1.2"), None);
        assert_eq!(v("1.2.3.4.5"), None);
        assert_eq!(v("1.2x"), None);
        assert_eq!(v("99999999999999999999.1"), None);
        assert_eq!(v(""), None);
        // The first real version wins over a word that only looks like one.
        assert_eq!(v("x1.2 then v1.3.0"), some("1.3.0", false));
    }

    #[test]
    fn token_span_includes_v() {
        let t = "etcd v3.5.17 is out";
        let ver = parse_version(t).expect("a version");
        assert_eq!(&t[ver.start..ver.end], "v3.5.17");
        assert_eq!(ver.semver(), Some((3, 5, 17)));
    }

    #[test]
    fn releases_between_same_minor_only() {
        let p = |t: &str| parse_version(t).expect("a version");
        assert_eq!(releases_between(&p("1.2.2"), &p("1.2.6")), Some(3));
        assert_eq!(releases_between(&p("1.2.2"), &p("1.2.3")), Some(0));
        assert_eq!(releases_between(&p("1.2.2"), &p("1.3.0")), None);
        assert_eq!(releases_between(&p("1.2.6"), &p("1.2.2")), None);
        assert_eq!(releases_between(&p("1.2.2"), &p("1.2.6-rc.1")), None);
        assert_eq!(releases_between(&p("1.2"), &p("1.3")), None);
    }

    proptest! {
        /// Any semver a release is tagged with is read back whole, in any
        /// of the shapes titles give it.
        #[test]
        fn semver_round_trip(
            major in 0u64..2000, minor in 0u64..2000, patch in 0u64..2000,
            pre in proptest::option::of(("(alpha|beta|rc)", proptest::option::of(0u32..50))),
            prefix in "(|v|etcd v|Release |release-|project-v)",
            tail in "(| is out| released|\\.|, finally)",
        ) {
            let pre = pre.map(|(w, n)| match n { Some(n) => format!("{w}.{n}"), None => w });
            let core = format!("{major}.{minor}.{patch}");
            let text = match &pre { Some(p) => format!("{core}-{p}"), None => core.clone() };
            let title = format!("{prefix}{text}{tail}");
            let got = parse_version(&title);
            let Some(got) = got else {
                return Err(TestCaseError::fail(format!("no version in {title:?}")));
            };
            prop_assert_eq!(&got.text, &text);
            prop_assert_eq!(got.semver(), Some((major, minor, patch)));
            prop_assert_eq!(got.is_pre_release(), pre.is_some());
        }

        /// No input makes the parser panic, and what it finds is a slice of
        /// the input that parses to itself.
        #[test]
        fn any_text_is_safe(text in "\\PC{0,40}") {
            if let Some(v) = parse_version(&text) {
                prop_assert!(text.get(v.start..v.end).is_some());
                let again = parse_version(&v.text).map(|w| w.text);
                prop_assert_eq!(again, Some(v.text.clone()));
            }
        }
    }
}
