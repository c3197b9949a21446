//! The keys of a post's front matter that tributary reads, and a check for
//! keys one edit away from them (`tgas:`, `tilte:`): any other key is kept
//! as it is, so a typo would otherwise pass silently.

use crate::model::diag::Diagnostic;
use std::path::Path;

/// The keys tributary reads (README, "Front matter").
pub const KEYS: &[&str] = &[
    "title",
    "date",
    "updated",
    "last_modified_at",
    "tags",
    "tag",
    "categories",
    "category",
    "author",
    "authors",
    "summary",
    "description",
    "excerpt",
    "image",
    "permalink",
    "slug",
    "id",
    "draft",
    "published",
    "feed_content",
];

/// Keys Jekyll and Hugo posts carry that are not typos of [`KEYS`] even
/// when they are one edit away from one.
const OTHER_KNOWN: &[&str] = &[
    "layout",
    "url",
    "aliases",
    "lastmod",
    "publishDate",
    "expiryDate",
    "weight",
    "type",
    "series",
    "toc",
    "images",
    "keywords",
    "comments",
    "sitemap",
];

/// A warning for each key one edit away from a key tributary reads; an
/// error when the key it stands for is the required `title` and there is
/// none (`tilte:` alone is not "missing title").
pub fn misspelt_keys<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    shown: &Path,
    line: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Diagnostic>, Diagnostic> {
    let keys: Vec<&String> = keys.into_iter().collect();
    let mut out = Vec::new();
    for key in &keys {
        if KEYS.contains(&key.as_str()) || OTHER_KNOWN.contains(&key.as_str()) {
            continue;
        }
        let Some(meant) = KEYS.iter().find(|k| crate::util::yaml::one_edit(key, k)) else {
            continue;
        };
        let message = format!("unknown key \"{key}\": did you mean \"{meant}\"?");
        if *meant == "title" && !keys.iter().any(|k| *k == "title") {
            return Err(Diagnostic::error(
                shown,
                line(key),
                format!("missing title: {message}"),
            ));
        }
        out.push(Diagnostic::warning(
            shown,
            line(key),
            format!("{message} (the key is ignored)"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_named() {
        let keys: Vec<String> = ["title", "tgas", "layout", "tag"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let w = misspelt_keys(&keys, Path::new("p.md"), &|_| Some(3)).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("did you mean \"tags\""), "{}", w[0]);
        let keys = vec!["tilte".to_string()];
        let e = misspelt_keys(&keys, Path::new("p.md"), &|_| Some(2)).unwrap_err();
        assert!(
            e.message.contains("\"tilte\": did you mean \"title\""),
            "{e}"
        );
    }
}
