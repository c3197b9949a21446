//! Match rules at work: which upstream items a feed takes. The rules
//! themselves (and their compiling) are `config::rules`.

use regex::Regex;

use crate::config::Matcher;
use crate::model::entry::Entry;
use crate::util::text::html_to_text;

impl Matcher {
    /// Whether the entry meets every criterion of the rule.
    pub fn is_match(&self, e: &Entry) -> bool {
        if self.links_with_posts && e.related.is_empty() {
            return false;
        }
        if !self.categories.is_empty()
            && !e
                .tags
                .iter()
                .any(|t| self.categories.contains(&t.trim().to_lowercase()))
        {
            return false;
        }
        if !self.authors.is_empty()
            && !e
                .authors
                .iter()
                .any(|a| self.authors.contains(&a.name.trim().to_lowercase()))
        {
            return false;
        }
        if self.keywords.is_none() && self.regex.is_none() {
            return true;
        }
        // The summary as text only when the title alone does not decide.
        let mut summary: Option<String> = None;
        let mut text_matches = |re: &Regex| {
            re.is_match(&e.title) || re.is_match(summary.get_or_insert_with(|| summary_text(e)))
        };
        self.keywords.as_ref().is_none_or(&mut text_matches)
            && self.regex.as_ref().is_none_or(&mut text_matches)
    }
}

/// `include` empty takes every item; otherwise an item is taken when any
/// include rule matches it. Any matching `exclude` rule drops it.
pub fn selects(include: &[Matcher], exclude: &[Matcher], e: &Entry) -> bool {
    (include.is_empty() || include.iter().any(|m| m.is_match(e)))
        && !exclude.iter().any(|m| m.is_match(e))
}

fn summary_text(e: &Entry) -> String {
    e.summary_html
        .as_deref()
        .or(e.content_html.as_deref())
        .map(html_to_text)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MatchRule;
    use crate::merge::tests::item;
    use crate::model::entry::Person;

    fn rule(yaml: &str) -> MatchRule {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn m(yaml: &str) -> Matcher {
        Matcher::new(&rule(yaml)).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn titled(title: &str) -> Entry {
        item(
            "i",
            "https://a.example/i",
            title,
            "2024-05-01T00:00:00Z",
            "a",
        )
    }

    #[test]
    fn keywords_are_whole_words() {
        let go = m("keywords: [go]");
        assert!(go.is_match(&titled("Go 1.23 released")));
        assert!(go.is_match(&titled("Why we moved to go.")));
        assert!(!go.is_match(&titled("Google announces Gemini")));
        assert!(!go.is_match(&titled("Django 5.1")));
        let phrase = m("keywords: ['  sidecar   containers ', 'C++', '.NET']");
        assert!(phrase.is_match(&titled("Native Sidecar\nContainers graduate")));
        assert!(!phrase.is_match(&titled("sidecar-containers")));
        assert!(phrase.is_match(&titled("What's new in C++26")));
        assert!(phrase.is_match(&titled("Porting to .NET 9")));
        assert!(!phrase.is_match(&titled("C is fine")));
    }

    #[test]
    fn keywords_search_summary_text() {
        let k = m("keywords: [kubelet]");
        let mut e = titled("Weekly news");
        assert!(!k.is_match(&e));
        e.content_html = Some("<p>The <code>kube</code><b>let</b> story</p>".into());
        assert!(k.is_match(&e), "inline tags join words");
        e.content_html = Some("<p>A kubelet fix</p>".into());
        assert!(k.is_match(&e));
        // The summary, when there is one, is what is searched.
        e.summary_html = Some("<p>nothing here</p>".into());
        assert!(!k.is_match(&e));
        // Markup is not text.
        e.summary_html = Some(r#"<a href="https://x/kubelet">link</a>"#.into());
        assert!(!k.is_match(&e));
    }

    #[test]
    fn regex_categories_authors_and_all_together() {
        let mut e = titled("Kubernetes v1.31.2 released");
        e.tags = vec!["Releases".into()];
        e.authors = vec![Person::parse("Release Team <rt@k8s.io>")];
        assert!(m(r"regex: 'v1\.3\d\.\d+'").is_match(&e));
        assert!(!m(r"regex: '^v1'").is_match(&e));
        assert!(!m("regex: 'kubernetes'").is_match(&e), "case-sensitive");
        assert!(m("regex: '(?i)kubernetes'").is_match(&e));
        assert!(m("categories: [releases, blog]").is_match(&e));
        assert!(!m("categories: [release]").is_match(&e));
        assert!(m("authors: [release team]").is_match(&e));
        assert!(!m("authors: [rt@k8s.io]").is_match(&e));
        assert!(
            m("{keywords: [kubernetes], categories: [RELEASES], authors: [Release Team]}")
                .is_match(&e)
        );
        assert!(!m("{keywords: [kubernetes], categories: [blog]}").is_match(&e));
        assert!(!m("links_with_posts: true").is_match(&e));
        e.related.push("https://lwkd.info/2024/20240505".into());
        assert!(m("links_with_posts: true").is_match(&e));
        assert!(m("{}").is_match(&e));
    }

    #[test]
    fn include_and_exclude() {
        let go = titled("Go 1.23 released");
        let google = titled("Google on Go");
        let other = titled("Rust 1.80");
        let include = [m("keywords: [go]")];
        let exclude = [m("keywords: [google]")];
        assert!(selects(&include, &exclude, &go));
        assert!(!selects(&include, &exclude, &google));
        assert!(!selects(&include, &exclude, &other));
        assert!(selects(&[], &exclude, &other));
        assert!(!selects(&[], &exclude, &google));
        assert!(selects(&[], &[], &google));
    }

    #[test]
    fn bad_rules() {
        assert!(serde_yaml::from_str::<MatchRule>("keyword: [go]").is_err());
        assert!(Matcher::new(&rule("regex: '('")).is_err());
        assert!(
            Matcher::new(&rule(r"regex: '\w{1000}\w{1000}'")).is_err(),
            "over the size limit"
        );
    }
}
