//! Canonical URLs: one spelling per page, so that copies of a story match.

use url::Url;

/// Query parameters that only say who sent the reader, never which page it is.
/// Compared case-insensitively; an entry ending in `*` is a prefix.
pub const TRACKING_PARAMS: &[&str] = &[
    "utm_*",   // Google Analytics campaign tags
    "fbclid",  // Facebook
    "gclid",   // Google Ads
    "dclid",   // Google Display
    "gbraid",  // Google Ads (iOS)
    "wbraid",  // Google Ads (iOS)
    "msclkid", // Microsoft Ads
    "yclid",   // Yandex
    "twclid",  // Twitter/X
    "igshid",  // Instagram
    "mc_cid",  // Mailchimp
    "mc_eid",  // Mailchimp
    "_hsenc",  // HubSpot
    "_hsmi",   // HubSpot
    "__hstc",  // HubSpot
    "__hssc",  // HubSpot
    "__hsfp",  // HubSpot
    "hsctatracking",
    "mkt_tok", // Marketo
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "vero_conv",
    "ref",
    "ref_src", // Twitter/X
    "ref_url",
    "source", // Medium and many newsletters (`?source=rss----...`)
    "_ga",
    "_gl",
];

fn is_tracking(key: &str) -> bool {
    TRACKING_PARAMS.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => key
            .get(..prefix.len())
            .is_some_and(|k| k.eq_ignore_ascii_case(prefix)),
        None => key.eq_ignore_ascii_case(p),
    })
}

/// The canonical form of an http(s) URL, for comparing links; `None` for any
/// other scheme or an unparsable URL.
///
/// - `http` and `https` are the same page: the canonical form says `https`,
///   and neither port 80 nor 443 is written.
/// - Scheme and host are lower case (IDNA by `url::Url`), a trailing dot on
///   the host is dropped; user and password are dropped.
/// - `www.` is **kept**: `www.example.com` and `example.com` may be different
///   sites, and the canonical form should stay a link that works.
/// - The fragment is dropped; trailing slashes of the path are dropped (the
///   root is the empty path: `https://example.com`).
/// - Percent-encoding as `url::Url` writes it, hex digits upper case, and
///   escaped unreserved characters (`%7E`, `%41`) decoded (RFC 3986 §6.2.2),
///   a `%` that starts no escape written `%25`.
/// - Query: [`TRACKING_PARAMS`] and empty pairs removed, the rest sorted.
pub fn canonical_url(url: &str) -> Option<String> {
    let out = canonicalize(url)?;
    // The URL parser accepts hosts it would not accept again once written
    // out (a label it punycodes into one it refuses; `}}}}.6`, then read as
    // an IPv4 address): found by fuzzing. Such a host names no reachable
    // site, and a canonical form must be its own canonical form. Ordinary
    // hosts (letters, digits, dots, dashes, no punycode, not ending in a
    // number) always are, so only the others pay for the second pass.
    if unusual_host(&out) && canonicalize(&out).as_deref() != Some(out.as_str()) {
        return None;
    }
    Some(out)
}

/// Whether the host of a canonical URL (`https://HOST...`) is one the
/// round trip through the parser must be checked for.
fn unusual_host(canonical: &str) -> bool {
    let rest = canonical.strip_prefix("https://").unwrap_or(canonical);
    let host = rest.split(['/', '?', ':']).next().unwrap_or(rest);
    host.contains("xn--")
        || !host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        || host
            .rsplit('.')
            .next()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_digit()))
}

fn canonicalize(url: &str) -> Option<String> {
    let parsed = Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    const SCHEME: &str = "https://";
    let mut out = String::with_capacity(url.len() + 1);
    out.push_str(SCHEME);
    out.push_str(host);
    out[SCHEME.len()..].make_ascii_lowercase();
    if let Some(port) = parsed.port().filter(|p| *p != 80 && *p != 443) {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let authority_end = out.len();
    push_normalized_escapes(&mut out, parsed.path());
    while out.len() > authority_end && out.ends_with('/') {
        out.pop();
    }
    if let Some(query) = parsed.query() {
        let mut pairs: Vec<String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut p = String::with_capacity(pair.len());
                push_normalized_escapes(&mut p, pair);
                p
            })
            .filter(|pair| !is_tracking(pair.split('=').next().unwrap_or(pair)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for (i, pair) in pairs.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(pair);
        }
    }
    Some(out)
}

/// Append `s` with the hex digits of every `%XX` escape upper case, the
/// escapes of unreserved characters (letters, digits, `-._~`) decoded (they
/// mean the same thing written either way) and a `%` that starts no escape
/// written `%25`.
fn push_normalized_escapes(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let (h, l) = (bytes[i + 1], bytes[i + 2]);
            if let (Some(hv), Some(lv)) = (hex(h), hex(l)) {
                let b = hv * 16 + lv;
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(b));
                } else {
                    out.push('%');
                    out.push(char::from(h.to_ascii_uppercase()));
                    out.push(char::from(l.to_ascii_uppercase()));
                }
                i += 3;
                continue;
            }
        }
        if bytes[i] == b'%' {
            // A lone '%' is a literal one: escaped, so that decoding the next
            // escape cannot make a new one (`%%330` would become `%30`).
            out.push_str("%25");
            i += 1;
            continue;
        }
        // Copy up to the next '%' (keeps multi-byte characters whole).
        let next = s[i..].find('%').map_or(bytes.len(), |p| i + p);
        out.push_str(&s[i..next]);
        i = next;
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(u: &str) -> Option<String> {
        canonical_url(u)
    }

    #[test]
    fn same_page_many_spellings() {
        let want = Some("https://example.com/blog/post?id=7&page=2".to_string());
        for u in [
            "https://example.com/blog/post?id=7&page=2",
            "http://example.com/blog/post/?page=2&id=7",
            "HTTPS://EXAMPLE.COM:443/blog/post?utm_source=rss&id=7&utm_medium=feed&page=2#comments",
            "http://Example.com:80/blog/./x/../post//?fbclid=abc&page=2&id=7&ref=hn",
            "https://example.com./blog/post?id=7&&page=2&mc_cid=1&mc_eid=2&_hsenc=x&_hsmi=y&igshid=z&gclid=q",
            "https://user:pw@example.com/blog/%70ost?id=7&page=2",
        ] {
            assert_eq!(c(u), want, "{u}");
        }
    }

    #[test]
    fn what_is_kept() {
        assert_eq!(
            c("https://www.example.com/").as_deref(),
            Some("https://www.example.com")
        );
        assert_eq!(
            c("https://example.com").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            c("https://example.com:8443/A/B").as_deref(),
            Some("https://example.com:8443/A/B")
        );
        assert_eq!(
            c("https://example.com/100%").as_deref(),
            Some("https://example.com/100%25")
        );
        assert_eq!(
            c("https://example.com/a%2fb").as_deref(),
            Some("https://example.com/a%2Fb")
        );
        assert_eq!(
            c("https://example.com/a b").as_deref(),
            Some("https://example.com/a%20b")
        );
        assert_eq!(
            c("https://example.com/?q=a+b&reference=1").as_deref(),
            Some("https://example.com?q=a+b&reference=1")
        );
        assert_eq!(
            c("https://github.com/kubernetes/kubernetes/pull/123456").as_deref(),
            Some("https://github.com/kubernetes/kubernetes/pull/123456")
        );
    }

    #[test]
    fn not_http() {
        for u in [
            "mailto:a@b.c",
            "ftp://example.com/x",
            "/relative/path",
            "",
            "https://",
            "javascript:alert(1)",
            "http://./",
        ] {
            assert_eq!(c(u), None, "{u}");
        }
    }

    fn url_parts() -> impl Strategy<Value = (String, String, Vec<(String, String)>)> {
        (
            "[a-zA-Z][a-zA-Z0-9-]{0,8}(\\.[a-z]{2,4}){1,2}",
            proptest::collection::vec("[a-zA-Z0-9._~%-]{1,8}", 0..4),
            proptest::collection::vec(("[a-z][a-z0-9_]{0,5}", "[a-zA-Z0-9._%+-]{0,6}"), 0..4),
        )
            .prop_map(|(host, segs, query)| (host, segs.join("/"), query))
    }

    fn build(
        scheme: &str,
        host: &str,
        path: &str,
        query: &[(String, String)],
        extra: &str,
    ) -> String {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut s = format!("{scheme}://{host}/{path}");
        if !q.is_empty() || !extra.is_empty() {
            s.push('?');
            s.push_str(&q.join("&"));
            s.push_str(extra);
        }
        s
    }

    proptest! {
        #[test]
        fn never_panics_and_idempotent(s in "\\PC{0,60}") {
            if let Some(once) = c(&s) {
                prop_assert_eq!(c(&once), Some(once.clone()));
            }
            let http = format!("http://{s}");
            if let Some(once) = c(&http) {
                prop_assert_eq!(c(&once), Some(once.clone()));
            }
        }

        #[test]
        fn invariant_under_noise((host, path, query) in url_parts(), frag in "[a-z0-9]{0,6}", utm in "[a-z0-9]{1,6}") {
            let base = c(&build("https", &host, &path, &query, ""));
            prop_assert!(base.is_some());
            prop_assert_eq!(c(base.as_deref().unwrap_or_default()), base.clone());
            let noisy = build("http", &host, &format!("{path}/"), &query, &format!("&utm_source={utm}&utm_campaign=x#{frag}"));
            prop_assert_eq!(c(&noisy), base.clone(), "{}", noisy);
            let mut reversed = query.clone();
            reversed.reverse();
            prop_assert_eq!(c(&build("HTTP", &host.to_uppercase(), &path, &reversed, "")), base);
        }
    }

    #[test]
    fn a_host_that_does_not_survive_idna_twice_has_no_canonical_form() {
        // Found by the `canonical_url` fuzz target: the parser punycodes this
        // host into one it then refuses.
        let input = "https:}}}}}}}0000}}0\u{430}2......0*0A.0...";
        assert_eq!(canonical_url(input), None);
        // And a host the parser reads as an IPv4 address once written out.
        assert_eq!(canonical_url("https:-}}}}.}}}}.6...:\u{0}"), None);
        assert_eq!(
            canonical_url("http://127.0.0.1:8080/a/").as_deref(),
            Some("https://127.0.0.1:8080/a")
        );
        // An ordinary internationalized host keeps working, idempotently.
        let c = canonical_url("https://b\u{fc}cher.example/x").unwrap();
        assert_eq!(c, "https://xn--bcher-kva.example/x");
        assert_eq!(canonical_url(&c).as_deref(), Some(c.as_str()));
    }
}
