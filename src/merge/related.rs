//! Related items: upstream items that link what a local post links.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::canonical_url;
use crate::model::entry::Entry;

/// A link in more than this percentage of the posts (and in at least
/// [`COMMON_LINK_MIN_POSTS`] posts) is common: a SIG page or the project's
/// home page that every weekly post links says nothing about any one post.
pub const COMMON_LINK_PERCENT: usize = 5;

/// A link in fewer posts than this is never common, however few posts there are.
pub const COMMON_LINK_MIN_POSTS: usize = 3;

/// `href=` with any case and spacing; the value is read by [`attr_value`].
static HREF: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)href\s*=\s*").ok());

/// The links of an entry: its `url` and every `href` of its `content_html`
/// and `summary_html`, as [`canonical_url`]s (non-http(s) and relative links
/// dropped), without duplicates, in order of first appearance.
pub fn links_of(entry: &Entry) -> Vec<String> {
    let mut out: Vec<String> = canonical_url(&entry.url).into_iter().collect();
    for_each_href(entry, |raw| out.extend(canonical_url(raw)));
    dedup_in_order(&mut out);
    out
}

/// Call `f` with every `href` value of the entry's HTML, entities decoded.
fn for_each_href(entry: &Entry, mut f: impl FnMut(&str)) {
    let Some(href) = HREF.as_ref() else {
        return;
    };
    for html in [&entry.content_html, &entry.summary_html]
        .into_iter()
        .flatten()
    {
        for m in href.find_iter(html) {
            // An attribute name starts after a space (not `data-href`).
            let attribute = html[..m.start()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_whitespace() || c == '"' || c == '\'');
            if attribute {
                let value = attr_value(&html[m.end()..]);
                if value.contains('&') {
                    f(&html_escape::decode_html_entities(value));
                } else {
                    f(value);
                }
            }
        }
    }
}

/// The last non-empty path segment of an absolute http(s) URL, when it is
/// sure to be the last segment of its [`canonical_url`] too: only
/// characters that URL parsing leaves alone, no `.`/`..`, no escapes. `None`
/// when unsure. A cheap test that spares parsing links that cannot match.
fn last_segment(url: &str) -> Option<&str> {
    let u = url.trim_matches(|c: char| c <= ' ');
    let scheme_len = ["https://", "http://"]
        .iter()
        .find(|p| u.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)))?
        .len();
    let rest = &u[scheme_len..];
    if rest.starts_with(['/', '\\']) {
        return None;
    }
    let after_host = &rest[rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())..];
    let path = &after_host[..after_host.find(['?', '#']).unwrap_or(after_host.len())];
    let seg = path
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let plain = seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b));
    (plain && seg != "." && seg != "..").then_some(seg)
}

/// The value of an attribute, given the text right after its `=`.
fn attr_value(rest: &str) -> &str {
    match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let v = &rest[1..];
            &v[..v.find(q).unwrap_or(v.len())]
        }
        _ => {
            let end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .unwrap_or(rest.len());
            &rest[..end]
        }
    }
}

fn dedup_in_order(v: &mut Vec<String>) {
    if v.len() <= 16 {
        let mut i = 0;
        while i < v.len() {
            if v[..i].contains(&v[i]) {
                v.remove(i);
            } else {
                i += 1;
            }
        }
        return;
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(v.len());
    let keep: Vec<bool> = v.iter().map(|s| seen.insert(s.as_str())).collect();
    drop(seen);
    let mut keep = keep.into_iter();
    v.retain(|_| keep.next().unwrap_or(true));
}

/// Mark each item related to the local posts it shares a link with: push the
/// post's `url` into `item.related` (no duplicates; new ones in the order of
/// `posts`).
///
/// Links of a post that cannot tell posts apart are ignored: links to
/// `site_host` itself (with or without `www.`: navigation, tags, other posts)
/// and common links (see [`COMMON_LINK_PERCENT`]). An item that links a post's
/// own page is related to it as well. An item is never related to a post
/// with the same canonical URL (that is the post itself, or a copy of it),
/// and local posts among `items` (an item with a post's id, as [`merge`]
/// keeps it) are left alone: `items` may be the whole merged stream.
///
/// [`merge`]: super::merge
pub fn relate(posts: &[Entry], items: &mut [Entry], site_host: Option<&str>) {
    PostLinks::new(posts, site_host).relate(items);
}

/// The links of a set of local posts, indexed once so that items can be
/// related to them batch by batch (see [`relate`]).
pub struct PostLinks<'a> {
    posts: &'a [Entry],
    post_urls: Vec<Option<String>>,
    index: HashMap<String, Vec<usize>>,
    segments: HashSet<String>,
    post_ids: HashSet<&'a str>,
}

impl<'a> PostLinks<'a> {
    /// Index the links of `posts` that can tell them apart.
    pub fn new(posts: &'a [Entry], site_host: Option<&str>) -> PostLinks<'a> {
        let site = site_host.map(|h| {
            let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
            h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
        });
        let is_own = |link: &str| site.as_deref().is_some_and(|s| host_of(link) == s);

        let post_urls: Vec<Option<String>> = posts.iter().map(|p| canonical_url(&p.url)).collect();
        let post_links = crate::util::par::parallel_map(posts, 16, links_of);
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, links) in post_links.into_iter().enumerate() {
            for link in links {
                if !is_own(&link) {
                    index.entry(link).or_default().push(i);
                }
            }
        }
        let common =
            |n: usize| n >= COMMON_LINK_MIN_POSTS && n * 100 > COMMON_LINK_PERCENT * posts.len();
        index.retain(|_, ps| !common(ps.len()));
        // A link to the post's own page relates whatever its host.
        for (i, url) in post_urls.iter().enumerate() {
            if let Some(u) = url {
                let ps = index.entry(u.clone()).or_default();
                if !ps.contains(&i) {
                    ps.push(i);
                    ps.sort_unstable();
                }
            }
        }

        let segments: HashSet<String> = index
            .keys()
            .filter_map(|k| last_segment(k))
            .map(str::to_string)
            .collect();
        let post_ids: HashSet<&str> = posts.iter().map(|p| p.id.as_str()).collect();
        PostLinks {
            posts,
            post_urls,
            index,
            segments,
            post_ids,
        }
    }

    /// Push into each item's `related` the posts it shares a link with.
    pub fn relate(&self, items: &mut [Entry]) {
        let PostLinks {
            posts,
            post_urls,
            index,
            segments,
            post_ids,
        } = self;
        // Parsing every href is the work: skip the links whose last path segment
        // no indexed link has, and share the rest out to every core.
        let hits: Vec<Vec<usize>> = crate::util::par::parallel_map(items, 256, |item| {
            let mut hits: Vec<usize> = Vec::new();
            if post_ids.contains(item.id.as_str()) {
                return hits;
            }
            let mut try_link = |raw: &str| {
                if last_segment(raw).is_none_or(|s| segments.contains(s)) {
                    if let Some(ps) = canonical_url(raw).and_then(|c| index.get(&c)) {
                        hits.extend_from_slice(ps);
                    }
                }
            };
            try_link(&item.url);
            for_each_href(item, &mut try_link);
            if !hits.is_empty() {
                let own = canonical_url(&item.url);
                hits.retain(|&p| post_urls[p].is_none() || post_urls[p] != own);
                hits.sort_unstable();
                hits.dedup();
            }
            hits
        });
        for (item, hits) in items.iter_mut().zip(hits) {
            for p in hits {
                let url = &posts[p].url;
                if !item.related.contains(url) {
                    item.related.push(url.clone());
                }
            }
        }
    }
}

/// Host of a canonical URL (`https://HOST[:port]/...`), without `www.`.
fn host_of(canonical: &str) -> &str {
    let rest = canonical.strip_prefix("https://").unwrap_or(canonical);
    let end = rest.find(['/', '?', ':']).unwrap_or(rest.len());
    let host = &rest[..end];
    host.strip_prefix("www.").unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::tests::{item, post};

    fn lwkd_post(n: usize, body: &str) -> Entry {
        let mut p = post(
            &format!("p{n}"),
            &format!("https://lwkd.info/2024/2024{n:04}"),
            &format!("Week Ending {n}"),
            "2024-05-06T00:00:00Z",
        );
        // Every post links the same SIG page, the project home and the site.
        p.content_html = Some(format!(
            r#"<p><a href="https://github.com/kubernetes/community/tree/master/sig-node">SIG Node</a>
            <a href='https://kubernetes.io/'>k8s</a> <a href="/about">about</a>
            <a href="https://lwkd.info/2024/20240101">last week</a> {body}</p>"#
        ));
        p
    }

    #[test]
    fn links_are_canonical_and_unique() {
        let mut e = item(
            "i",
            "https://Example.com/a/?utm_source=x",
            "T",
            "2024-05-01T00:00:00Z",
            "f",
        );
        e.content_html = Some(
            r#"<a HREF="http://example.com/a">x</a> <a href=https://b.example/p?x=1&amp;y=2#f>y</a>
               <a href="mailto:a@b.c">m</a> <a href="/rel">r</a> <a data-href="nope">"#
                .into(),
        );
        e.summary_html = Some(r#"<a href = 'https://b.example/p?y=2&x=1'>again</a>"#.into());
        assert_eq!(
            links_of(&e),
            vec!["https://example.com/a", "https://b.example/p?x=1&y=2"]
        );
    }

    #[test]
    fn pr_links_relate_common_links_do_not() {
        let mut posts: Vec<Entry> = (0..40)
            .map(|n| {
                lwkd_post(
                    n,
                    &format!(
                        r#"<a href="https://github.com/kubernetes/kubernetes/pull/{}">PR</a>"#,
                        120000 + n
                    ),
                )
            })
            .collect();
        posts[7].content_html = posts[7].content_html.as_ref().map(|c| {
            format!(
                r#"{c}<a href="https://github.com/kubernetes/enhancements/issues/4222">KEP</a>"#
            )
        });
        let release = |id: &str, body: &str| {
            let mut e = item(
                id,
                &format!("https://github.com/kubernetes/kubernetes/releases/{id}"),
                id,
                "2024-05-07T00:00:00Z",
                "gh",
            );
            e.content_html = Some(body.to_string());
            e
        };
        let mut items = vec![
            release(
                "pr",
                r#"<li><a href="http://github.com/kubernetes/kubernetes/pull/120003/">#120003</a></li>"#,
            ),
            release(
                "kep",
                r#"<a href="https://github.com/kubernetes/enhancements/issues/4222#issuecomment-1">KEP-4222</a>
                 <a href="https://github.com/kubernetes/kubernetes/pull/120009">#120009</a>"#,
            ),
            release(
                "common",
                r#"<a href="https://kubernetes.io">home</a> <a href="https://github.com/kubernetes/community/tree/master/sig-node">sig</a>"#,
            ),
            release("own-site", r#"<a href="https://lwkd.info/about">about</a>"#),
            release(
                "post-link",
                r#"<a href="https://lwkd.info/2024/20240012/">a post</a>"#,
            ),
        ];
        items[0].related = vec!["https://lwkd.info/2024/20240003".into()];
        relate(&posts, &mut items, Some("www.lwkd.info"));
        let related: Vec<(&str, Vec<&str>)> = items
            .iter()
            .map(|i| {
                (
                    i.id.as_str(),
                    i.related.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            related,
            vec![
                ("pr", vec!["https://lwkd.info/2024/20240003"]),
                (
                    "kep",
                    vec![
                        "https://lwkd.info/2024/20240007",
                        "https://lwkd.info/2024/20240009"
                    ]
                ),
                ("common", vec![]),
                ("own-site", vec![]),
                ("post-link", vec!["https://lwkd.info/2024/20240012"]),
            ]
        );
    }

    #[test]
    fn few_posts_share_a_link_without_it_being_common() {
        // Two of three posts link it: under the minimum of three, still telling.
        let posts = vec![
            lwkd_post(1, r#"<a href="https://x.example/shared">s</a>"#),
            lwkd_post(2, r#"<a href="https://x.example/shared">s</a>"#),
            lwkd_post(3, ""),
        ];
        let mut items = vec![item(
            "i",
            "https://x.example/shared",
            "Shared",
            "2024-05-07T00:00:00Z",
            "x",
        )];
        relate(&posts, &mut items, Some("lwkd.info"));
        assert_eq!(
            items[0].related,
            vec![
                "https://lwkd.info/2024/20240001",
                "https://lwkd.info/2024/20240002"
            ]
        );
        // Without a site host, links to the site itself count (last week's post is in all: common).
        let mut items = vec![item(
            "j",
            "https://lwkd.info/about",
            "About",
            "2024-05-07T00:00:00Z",
            "x",
        )];
        relate(&posts, &mut items, None);
        assert!(items[0].related.is_empty());
    }

    #[test]
    fn last_segment_agrees_with_canonical_url() {
        for u in [
            "https://github.com/kubernetes/kubernetes/pull/123",
            "HTTP://x.example/a/b/?utm_source=1#f",
            "https://x.example",
            "https://x.example/#a/b",
            "http://x.example\\a\\b",
            "https://u:p@x.example/a//b//",
            "https://x.example/a/../b",
            " https://x.example/a;b=c:d@e ",
        ] {
            let seg = last_segment(u);
            let canon = canonical_url(u).unwrap_or_default();
            assert!(seg.is_some(), "{u}");
            assert_eq!(seg, last_segment(&canon), "{u} -> {canon}");
        }
        for u in [
            "https://x.example/a/..",
            "https://x.example/a/.",
            "https://x.example/%41",
            "https://x.example/é",
            "https:///x.example",
            "mailto:x@y",
            "/rel",
        ] {
            assert_eq!(last_segment(u), None, "{u}");
        }
    }

    proptest::proptest! {
        #[test]
        fn last_segment_never_wrong(s in "(https?://|HTTP://)?[a-z.]{1,6}([/\\\\?#]{1,2}[a-zA-Z0-9.%~@:;=é \\t-]{0,5}){0,4}") {
            if let (Some(seg), Some(canon)) = (last_segment(&s), canonical_url(&s)) {
                proptest::prop_assert_eq!(Some(seg), last_segment(&canon), "{} -> {}", s, canon);
            }
        }
    }

    #[test]
    fn posts_in_the_stream_are_left_alone() {
        let posts = vec![
            lwkd_post(1, r#"<a href="https://x.example/pr/1">s</a>"#),
            lwkd_post(2, r#"<a href="https://x.example/pr/1">s</a>"#),
        ];
        let mut stream = posts.clone();
        stream[0].url = "https://lwkd.info/moved".into();
        relate(&posts, &mut stream, Some("lwkd.info"));
        assert!(stream.iter().all(|e| e.related.is_empty()));
    }

    #[test]
    fn a_post_is_not_related_to_itself() {
        let posts = vec![lwkd_post(1, r#"<a href="https://x.example/pr">s</a>"#)];
        let mut copy = posts[0].clone();
        copy.id = "planet-1".into();
        copy.url = "http://lwkd.info/2024/20240001/?utm_source=planet".into();
        relate(&posts, std::slice::from_mut(&mut copy), Some("lwkd.info"));
        assert!(copy.related.is_empty());
    }
}
