//! `match:` rules of a feed file, and their compiling (a regex that is
//! invalid or too large is refused when the feed file is read). What they
//! select is `merge::rules`.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// Compiled size limit (bytes) of one rule's regex and of its keyword
/// pattern: a feed file is configuration, not a way to exhaust memory.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One `match:` rule of a feed file. Every criterion given must hold (AND);
/// a rule with no criterion matches every item.
///
/// - `keywords`: any of them occurs as a whole word or phrase, case-insensitively,
///   in the title or the summary text (`summary_html`, else `content_html`,
///   as text). `go` matches "Go 1.23 released", not "Google". Blank keywords
///   are ignored.
/// - `regex`: matches the title or the summary text; case-sensitive unless
///   it says `(?i)`.
/// - `categories`: any of them equals one of the item's tags, case-insensitively.
/// - `authors`: any of them equals one of the item's author names, case-insensitively.
/// - `links_with_posts: true`: the item is related to a local post (its
///   `related` is not empty), so `relate` must run first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub links_with_posts: bool,
}

/// A compiled [`MatchRule`].
#[derive(Debug, Clone)]
pub struct Matcher {
    pub(crate) keywords: Option<Regex>,
    pub(crate) regex: Option<Regex>,
    /// Lower case.
    pub(crate) categories: Vec<String>,
    /// Lower case.
    pub(crate) authors: Vec<String>,
    pub(crate) links_with_posts: bool,
}

impl Matcher {
    /// Compile a rule; fails on an invalid or too large regex.
    pub fn new(rule: &MatchRule) -> Result<Matcher, regex::Error> {
        let words: Vec<String> = rule
            .keywords
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| keyword_pattern(k))
            .collect();
        let keywords = if words.is_empty() {
            None
        } else {
            Some(build(&words.join("|"), true)?)
        };
        let regex = rule.regex.as_deref().map(|r| build(r, false)).transpose()?;
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_lowercase()).collect();
        Ok(Matcher {
            keywords,
            regex,
            categories: lower(&rule.categories),
            authors: lower(&rule.authors),
            links_with_posts: rule.links_with_posts,
        })
    }
}

/// A keyword as a whole-word pattern: escaped, any run of whitespace matching
/// any run, and a word boundary at each end that is a word character (so that
/// `C++` and `.NET` still match).
fn keyword_pattern(k: &str) -> String {
    let k = k.trim();
    let body: Vec<String> = k.split_whitespace().map(regex::escape).collect();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    format!(
        "{}{}{}",
        if is_word(k.chars().next()) { r"\b" } else { "" },
        body.join(r"\s+"),
        if is_word(k.chars().last()) { r"\b" } else { "" },
    )
}

fn build(pattern: &str, case_insensitive: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}
