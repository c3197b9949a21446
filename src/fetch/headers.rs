//! Parsers for the response headers that pace fetching (`Retry-After`,
//! `Cache-Control`) and that name a WebSub hub (`Link`).

use crate::util::date::parse_http_date;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The longest `min_interval` taken from `Cache-Control`: a static host that
/// sends `max-age=31536000` must not stop a feed from being read for a year.
pub const MAX_AGE_CAP: Duration = Duration::from_secs(24 * 60 * 60);

/// `Retry-After` as a delay from `now`: delta-seconds or an HTTP-date (RFC
/// 9110: IMF-fixdate, or the obsolete RFC 850 and asctime forms). A date in
/// the past is a zero delay; anything unreadable is `None`.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than u64 seconds is nonsense; saturate rather than fail.
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let when = parse_http_date(v)?;
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

/// The `max-age` of a `Cache-Control` value, as the shortest sensible interval
/// between two fetches. `None` when absent, unreadable, or when `no-cache` or
/// `no-store` says the response must not be reused; capped at [`MAX_AGE_CAP`].
/// `s-maxage`, `Expires` and `Age` are deliberately ignored: one number is
/// enough to avoid hammering a server, and the caller also weighs RSS `ttl`.
pub fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return None;
        }
        if name.eq_ignore_ascii_case("max-age") {
            age = value.and_then(|v| v.parse::<u64>().ok());
        }
    }
    age.map(|s| Duration::from_secs(s).min(MAX_AGE_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_name_the_hub_and_self() {
        let base = url::Url::parse("https://a.example/blog/feed.xml").unwrap();
        let l = websub_links(
            [
                "<https://a.example/blog/feed.xml>; rel=\"self\", <https://hub.example/>; rel=\"hub\"",
            ]
            .into_iter(),
            &base,
        );
        assert_eq!(l.hub.as_deref(), Some("https://hub.example/"));
        assert_eq!(
            l.self_url.as_deref(),
            Some("https://a.example/blog/feed.xml")
        );
        // Separate headers, unquoted and multiple rels, relative targets, case.
        let l = websub_links(
            [
                "</other>; rel=alternate",
                "</hub>; type=x; REL=\"next Hub\"",
                "<s>;rel=self",
            ]
            .into_iter(),
            &base,
        );
        assert_eq!(l.hub.as_deref(), Some("https://a.example/hub"));
        assert_eq!(l.self_url.as_deref(), Some("https://a.example/blog/s"));
        // The first of each wins; junk is ignored.
        let l = websub_links(
            [
                "<>; rel=hub, <https://b/>; rel=hub",
                "<<<; rel=hub",
                "rel=self",
            ]
            .into_iter(),
            &base,
        );
        assert_eq!(l.hub.as_deref(), Some("https://a.example/blog/feed.xml"));
        assert_eq!(l.self_url, None);
        let huge = "<x>; rel=other, ".repeat(100_000);
        assert_eq!(
            websub_links([huge.as_str()].into_iter(), &base),
            WebSubLinks::default()
        );
    }
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 26, 0).unwrap()
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(retry_after("120", now()), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(retry_after("-5", now()), None);
        assert_eq!(retry_after("1.5", now()), None);
        assert_eq!(retry_after("", now()), None);
        assert_eq!(retry_after("soon", now()), None);
    }

    #[test]
    fn retry_after_dates() {
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after("Wednesday, 21-Oct-15 08:26:00 GMT", now()),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            retry_after("Wed Oct 21 07:26:30 2015", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun Nov  6 08:49:37 1994", now()),
            Some(Duration::ZERO),
            "a past date means now"
        );
        assert_eq!(retry_after("Wed, 32 Oct 2015 07:28:00 GMT", now()), None);
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(
            max_age("public, MAX-AGE=\"300\", must-revalidate"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("max-age=31536000, immutable"), Some(MAX_AGE_CAP));
        assert_eq!(max_age("max-age=600, no-cache"), None);
        assert_eq!(max_age("no-store, max-age=600"), None);
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
        assert_eq!(max_age("s-maxage=600"), None);
        assert_eq!(max_age(""), None);
    }
}

/// What a response's `Link` headers say of WebSub (RFC 8288 links with
/// `rel="hub"` and `rel="self"`), as absolute URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSubLinks {
    pub hub: Option<String>,
    pub self_url: Option<String>,
}

/// Header text read for links: a hostile server's megabyte of `Link`
/// headers costs no more than this.
const MAX_LINK_TEXT: usize = 16 * 1024;

/// The first `hub` and `self` links of `values` (each a `Link` header's
/// value), resolved against `base`. Links are `<URI>; param; param, ...`;
/// `rel` may hold several space-separated types, quoted or not.
pub fn websub_links<'a>(values: impl Iterator<Item = &'a str>, base: &url::Url) -> WebSubLinks {
    let mut out = WebSubLinks::default();
    let mut budget = MAX_LINK_TEXT;
    for value in values {
        let Some(value) = value.get(..value.len().min(budget)) else {
            break;
        };
        budget -= value.len();
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>').map(|c| open + c) else {
                break;
            };
            let target = rest[open + 1..close].trim();
            let params_end = rest[close..].find('<').map_or(rest.len(), |n| close + n);
            let rels = link_rel(&rest[close + 1..params_end]);
            for rel in rels.split_ascii_whitespace() {
                let slot = match rel.to_ascii_lowercase().as_str() {
                    "hub" => &mut out.hub,
                    "self" => &mut out.self_url,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = base.join(target).ok().map(String::from);
                }
            }
            rest = &rest[params_end..];
        }
        if budget == 0 {
            break;
        }
    }
    out
}

/// The `rel` parameter of one link's parameters (`; rel="a b"; type=x,`).
fn link_rel(params: &str) -> &str {
    for param in params.split(';') {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("rel") {
            let v = value.trim().trim_end_matches(',').trim();
            return v.trim_matches('"');
        }
    }
    ""
}
