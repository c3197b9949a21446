//! Jekyll permalink patterns (`/:year/:month/:day/:slug/`) and slugs.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// What a permalink pattern can refer to.
pub struct PermalinkVars<'a> {
    /// The post's date as wall-clock time in the site's zone (as Jekyll does).
    pub date: NaiveDateTime,
    /// The post's slug as written (front-matter `slug` or the file name's title part).
    pub slug: &'a str,
    pub categories: &'a [String],
}

/// English month names, as Jekyll and Hugo write them in permalinks.
pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The site-relative path of `post` under the site's `pattern`: its
/// front-matter `permalink:`, else as Hugo writes the page when the post is
/// read as Hugo reads it (`ids: hugo`: `url:`, Hugo's placeholders, the
/// date in its own offset), else the pattern expanded as Jekyll does with
/// the date in `tz`.
pub fn post_path(pattern: &str, tz: chrono_tz::Tz, post: &crate::content::Post) -> String {
    if let (Some(h), None) = (&post.hugo, &post.permalink) {
        return crate::content::hugo::page_path(pattern, h, post.date);
    }
    let vars = PermalinkVars {
        date: post.date.with_timezone(&tz).naive_local(),
        slug: &post.slug,
        categories: &post.categories,
    };
    let pattern = post.permalink.as_deref().unwrap_or(pattern);
    let mut path = expand(pattern, &vars);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    path
}

/// Expand a pattern. Unknown `:words` are left as written.
pub fn expand(pattern: &str, v: &PermalinkVars) -> String {
    let d = &v.date;
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(pos) = rest.find(':') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let word = &after[..word_len];
        // Longest known placeholder that starts the word (":titlex" is not a thing,
        // but ":year" must win over nothing).
        let mut matched = None;
        for len in (1..=word.len()).rev() {
            if let Some(value) = placeholder(&word[..len], d, v) {
                matched = Some((len, value));
                break;
            }
        }
        match matched {
            Some((len, value)) => {
                out.push_str(&value);
                rest = &after[len..];
            }
            None => {
                out.push(':');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // Empty :categories leave "//" behind.
    while out.contains("//") {
        out = out.replace("//", "/");
    }
    out
}

fn placeholder(word: &str, d: &NaiveDateTime, v: &PermalinkVars) -> Option<String> {
    Some(match word {
        "year" => format!("{:04}", d.year()),
        "short_year" => format!("{:02}", d.year().rem_euclid(100)),
        "month" => format!("{:02}", d.month()),
        "i_month" => d.month().to_string(),
        "short_month" => MONTHS[d.month0() as usize][..3].to_string(),
        "long_month" => MONTHS[d.month0() as usize].to_string(),
        "day" => format!("{:02}", d.day()),
        "i_day" => d.day().to_string(),
        "y_day" => format!("{:03}", d.ordinal()),
        "hour" => format!("{:02}", d.hour()),
        "minute" => format!("{:02}", d.minute()),
        "second" => format!("{:02}", d.second()),
        "title" => v.slug.to_string(),
        "slug" => slugify(v.slug),
        // As Jekyll: lower-cased, not slugged, once each ("Release Notes"
        // is `/release%20notes/` once the URL is escaped), so that the
        // links of a site that switches from Jekyll stay its pages' URLs.
        "categories" => {
            let mut seen: Vec<String> = Vec::new();
            for c in v.categories {
                let c = c.to_lowercase();
                if !c.is_empty() && !seen.contains(&c) {
                    seen.push(c);
                }
            }
            seen.join("/")
        }
        "output_ext" => ".html".to_string(),
        _ => return None,
    })
}

/// Lower-case, letters and digits kept (any script), every other run becomes `-`.
/// Used for `:slug` and for per-tag feed file names.
pub fn slugify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dash = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(c.to_lowercase());
        } else {
            dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn lwkd_pattern() {
        let v = PermalinkVars {
            date: at("2026-08-20 22:00:00"),
            slug: "2026-08-16-update",
            categories: &[],
        };
        assert_eq!(expand("/:year/:year:month:day", &v), "/2026/20260820");
        assert_eq!(
            expand("/:year/:month/:day/:slug/", &v),
            "/2026/08/20/2026-08-16-update/"
        );
        assert_eq!(
            expand("/:categories/:title:output_ext", &v),
            "/2026-08-16-update.html"
        );
    }

    #[test]
    fn categories_are_jekyll_s_lower_cased_once_each() {
        let cats = ["Release Notes".to_string(), "News".into(), "news".into()];
        let v = PermalinkVars {
            date: at("2026-01-04 00:00:00"),
            slug: "note-0",
            categories: &cats,
        };
        let date_style = crate::config::jekyll_permalink_style("date").unwrap();
        assert_eq!(
            expand(date_style, &v),
            "/release notes/news/2026/01/04/note-0.html"
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Release Notes"), "release-notes");
        assert_eq!(slugify("  C++ / Go!  "), "c-go");
        assert_eq!(slugify("Übersicht Ärger"), "übersicht-ärger");
        assert_eq!(slugify("日本語 タグ"), "日本語-タグ");
        assert_eq!(slugify("!!!"), "");
    }
}
