//! Source health as people read it: one short phrase for why a source
//! fails, one short status per source (for `sources list`, the `/` page and
//! the digest), and the daemon's log of a source that starts failing or
//! recovers: once each, not once a tick (that log, which reads fetch
//! results, is the daemon's: `serve::transitions`).

use crate::store::SourceState;

/// Longest reason that is not one of the known phrases.
const REASON_CHARS: usize = 32;

/// The phrase that says why a fetch failed, read from the stored error
/// chain (`https://…: cannot connect: error trying to connect: …`):
/// `cannot connect`, `HTTP 404`, `timed out`, `not a feed`, `truncated`…
/// The chain stays in the store for `sources show`; tables show this.
pub fn short_reason(error: &str) -> String {
    let rest = without_url(error.trim());
    let lower = rest.to_ascii_lowercase();
    if let Some(code) = lower
        .strip_prefix("http ")
        .and_then(|s| s.get(..3))
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!("HTTP {code}");
    }
    // The first that matches wins: a TLS failure is also "cannot connect",
    // and "not a feed: XML error" also names XML.
    const PHRASES: &[(&str, &str)] = &[
        ("410 gone", "gone (410)"),
        ("truncated", "truncated"),
        ("certificate", "TLS error"),
        ("timed out", "timed out"),
        ("cannot resolve", "unknown host"),
        ("dns error", "unknown host"),
        ("cannot connect", "cannot connect"),
        ("larger than", "too large"),
        ("redirects", "too many redirects"),
        ("without a location header", "bad redirect"),
        ("only http and https", "not an http(s) URL"),
        ("refused", "address refused"),
        ("not a valid url", "invalid URL"),
        ("cannot read the file", "cannot read file"),
        ("gave up after", "too slow to read"),
        ("nested deeper", "nested too deep"),
        ("not a feed", "not a feed"),
        ("json feed", "not a feed"),
        ("the fetch task failed", "internal error"),
    ];
    if let Some((_, phrase)) = PHRASES.iter().find(|(needle, _)| lower.contains(needle)) {
        return (*phrase).to_string();
    }
    let first = rest.split(": ").next().unwrap_or(rest).trim();
    if first.is_empty() {
        return "failed".to_string();
    }
    crate::util::text::shorten(first, REASON_CHARS)
}

/// The error without the URL a fetch error starts with (`URL: message`).
fn without_url(error: &str) -> &str {
    let after_scheme = error.find("://").map_or(0, |i| i + 3);
    match error.get(after_scheme..).and_then(|s| s.find(": ")) {
        // Only a head that is a URL or a path is one: "truncated: …" and
        // "HTTP 503: …" keep theirs.
        Some(i) => {
            let head = &error[..after_scheme + i];
            let url_like = !head.contains(' ') && (after_scheme > 0 || head.contains('/'));
            if url_like {
                &error[after_scheme + i + 2..]
            } else {
                error
            }
        }
        None => error,
    }
}

/// One configured source with what the store knows of it: a row of
/// `sources list` and of the `/` page. Here, below `emit` and `sources`, so
/// that the page can show it without importing the command.
#[derive(Debug, Clone)]
pub struct Health {
    pub name: String,
    pub url: String,
    pub state: Option<SourceState>,
    /// Its subscription to the hub it advertises (WebSub), if any.
    pub push: Option<super::push::PushSubscription>,
}

/// What the store knows of a source, in one word or phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    NeverFetched,
    Ok,
    /// Its latest fetch failed: how many in a row, and [`short_reason`].
    Failing {
        count: u32,
        reason: String,
    },
    /// No longer fetched, and why (`410 Gone on 2026-12-01`).
    Disabled(String),
}

impl Status {
    /// The status of a source whose stored state is `state`.
    pub fn of(state: Option<&SourceState>) -> Status {
        let Some(st) = state else {
            return Status::NeverFetched;
        };
        if let Some(d) = &st.disabled {
            Status::Disabled(d.clone())
        } else if let Some(e) = &st.last_error {
            Status::Failing {
                count: st.consecutive_failures,
                reason: short_reason(e),
            }
        } else if st.last_success.is_some() {
            Status::Ok
        } else {
            Status::NeverFetched
        }
    }

    /// A CSS class for it: `ok`, `failing`, `disabled`, `never`.
    pub fn class(&self) -> &'static str {
        match self {
            Status::NeverFetched => "never",
            Status::Ok => "ok",
            Status::Failing { .. } => "failing",
            Status::Disabled(_) => "disabled",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::NeverFetched => f.write_str("never fetched"),
            Status::Ok => f.write_str("ok"),
            Status::Failing { count, reason } => write!(f, "failing ({count}x): {reason}"),
            Status::Disabled(why) if why.starts_with(crate::store::GONE) => {
                write!(f, "disabled: {why}, retried weekly")
            }
            Status::Disabled(why) => write!(f, "disabled: {why}"),
        }
    }
}

/// Why a digest may lack a source's releases, or `None` when its latest
/// fetch worked: `not fetched since 2026-12-01 (cannot connect)`, `never
/// fetched`. Dates are days in `tz`.
pub fn stale_note(state: Option<&SourceState>, tz: chrono_tz::Tz) -> Option<String> {
    let why = match Status::of(state) {
        Status::Ok => return None,
        Status::NeverFetched => None,
        Status::Failing { reason, .. } => Some(reason),
        Status::Disabled(d) => Some(format!("disabled: {d}")),
    };
    let since = state.and_then(|s| s.last_success);
    let mut note = match since {
        Some(d) => format!(
            "not fetched since {}",
            d.with_timezone(&tz).format("%Y-%m-%d")
        ),
        None => "never fetched".to_string(),
    };
    if let Some(why) = why {
        note.push_str(&format!(" ({why})"));
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reasons_from_error_chains() {
        let cases = [
            ("https://github.com/etcd-io/etcd/releases.atom: cannot connect: error trying to connect: tcp connect error: Connection refused (os error 111)", "cannot connect"),
            ("http://127.0.0.1:9/x.atom: HTTP 404", "HTTP 404"),
            ("HTTP 503 <Service Unavailable>", "HTTP 503"),
            ("https://a.example/f: timed out after 2 s (fetch.timeout)", "timed out"),
            ("https://a.example/f: cannot connect: dns error: failed to lookup address information", "unknown host"),
            ("not a feed: root element <html>", "not a feed"),
            ("truncated: the document ends before </feed> closes", "truncated"),
            ("https://a.example/f: the body is larger than 4194304 bytes", "too large"),
            ("410 Gone: the feed was removed for good", "gone (410)"),
            ("https://a.example/f: more than 5 redirects", "too many redirects"),
            ("feeds/local/x.atom: cannot read the file: No such file", "cannot read file"),
            ("something odd happened: deep inside", "something odd happened"),
            ("", "failed"),
        ];
        for (error, want) in cases {
            assert_eq!(short_reason(error), want, "{error}");
        }
    }

    #[test]
    fn statuses_and_digest_notes() {
        let tz = chrono_tz::UTC;
        assert_eq!(Status::of(None).to_string(), "never fetched");
        assert_eq!(stale_note(None, tz).as_deref(), Some("never fetched"));
        let mut st = SourceState::new("https://a.example/f", "A");
        st.last_success = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .ok()
            .map(|d| d.to_utc());
        assert_eq!(Status::of(Some(&st)), Status::Ok);
        assert_eq!(stale_note(Some(&st), tz), None);
        st.last_error = Some("https://a.example/f: cannot connect: refused".into());
        st.consecutive_failures = 3;
        assert_eq!(
            Status::of(Some(&st)).to_string(),
            "failing (3x): cannot connect"
        );
        assert_eq!(
            stale_note(Some(&st), tz).as_deref(),
            Some("not fetched since 2026-12-01 (cannot connect)")
        );
    }
}
