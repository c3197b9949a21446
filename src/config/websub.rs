//! The `websub:` section of `tributary.yaml`: the limits of the WebSub hub
//! that `serve` runs for its own feeds with `hub: self` (see
//! `serve/websub.rs` for what the hub does with them), and whether `serve`
//! subscribes to its upstreams' hubs (`serve/subscriber.rs`).

use std::time::Duration;

/// The path, under `base_url`, of the hub `hub: self` runs (`POST` only).
pub const HUB_PATH: &str = "websub";

/// The path, under the public URL, of the subscriber's callbacks: one per
/// subscription, `websub/callback/TOKEN`.
pub const CALLBACK_PATH: &str = "websub/callback";

/// `websub:`, checked. Every key has a default, so `hub: self` alone works.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "RawWebSub")]
pub struct WebSubSettings {
    /// Lease given when a subscriber asks for none.
    pub lease_default: Duration,
    /// A requested `hub.lease_seconds` is raised to this at least...
    pub lease_min: Duration,
    /// ...and lowered to this at most.
    pub lease_max: Duration,
    /// Subscriptions held at once, all topics and callbacks together.
    pub max_subscriptions: usize,
    /// Subscriptions held at once whose callbacks are on one host.
    pub max_per_host: usize,
    /// Verifications of intent in flight at once; more requests get 429.
    pub max_pending: usize,
    /// Failed deliveries retried before the subscription is dropped.
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one (at most an hour).
    pub retry_after: Duration,
    /// Whole request to a callback (verification or delivery), or to an
    /// upstream hub.
    pub timeout: Duration,
    /// Subscribe to the hubs upstreams advertise. `None`: as `hub: self`
    /// says (a site that is its own hub is served by `serve` at `base_url`,
    /// so hubs can reach its callbacks there).
    pub subscribe: Option<bool>,
    /// Where hubs reach this `serve` (callbacks go under it), when not at
    /// `base_url`.
    pub public_url: Option<url::Url>,
}

impl Default for WebSubSettings {
    fn default() -> Self {
        WebSubSettings {
            lease_default: Duration::from_secs(10 * 86_400),
            lease_min: Duration::from_secs(3600),
            lease_max: Duration::from_secs(30 * 86_400),
            max_subscriptions: 10_000,
            max_per_host: 100,
            max_pending: 64,
            retries: 6,
            retry_after: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            subscribe: None,
            public_url: None,
        }
    }
}

/// `websub:` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebSub {
    lease_default: Option<String>,
    lease_min: Option<String>,
    lease_max: Option<String>,
    max_subscriptions: Option<usize>,
    max_per_host: Option<usize>,
    max_pending: Option<usize>,
    retries: Option<u32>,
    retry_after: Option<String>,
    timeout: Option<String>,
    subscribe: Option<bool>,
    public_url: Option<String>,
}

impl TryFrom<RawWebSub> for WebSubSettings {
    type Error = String;

    fn try_from(raw: RawWebSub) -> Result<Self, String> {
        let mut out = WebSubSettings::default();
        let duration = |key: &str, text: &str, max_secs: u64| {
            super::parse_duration(text)
                .and_then(|d| d.to_std().ok())
                .filter(|d| *d >= Duration::from_secs(1) && d.as_secs() <= max_secs)
                .ok_or_else(|| {
                    format!(
                        "websub: {key} {text:?} is not a duration between 1s and {}d, such as 10d or 60s",
                        max_secs / 86_400
                    )
                })
        };
        const YEAR: u64 = 366 * 86_400;
        if let Some(t) = &raw.lease_default {
            out.lease_default = duration("lease_default", t, YEAR)?;
        }
        if let Some(t) = &raw.lease_min {
            out.lease_min = duration("lease_min", t, YEAR)?;
        }
        if let Some(t) = &raw.lease_max {
            out.lease_max = duration("lease_max", t, YEAR)?;
        }
        if out.lease_min > out.lease_max {
            return Err("websub: lease_min is longer than lease_max".to_string());
        }
        out.lease_default = out.lease_default.clamp(out.lease_min, out.lease_max);
        if let Some(t) = &raw.retry_after {
            out.retry_after = duration("retry_after", t, 86_400)?;
        }
        if let Some(t) = &raw.timeout {
            out.timeout = duration("timeout", t, 300)?;
        }
        let positive = |key: &str, n: usize| {
            if n == 0 {
                Err(format!("websub: {key} must be at least 1"))
            } else {
                Ok(n)
            }
        };
        if let Some(n) = raw.max_subscriptions {
            out.max_subscriptions = positive("max_subscriptions", n)?;
        }
        if let Some(n) = raw.max_per_host {
            out.max_per_host = positive("max_per_host", n)?;
        }
        if let Some(n) = raw.max_pending {
            out.max_pending = positive("max_pending", n)?;
        }
        out.subscribe = raw.subscribe;
        if let Some(text) = &raw.public_url {
            let u = url::Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    format!("websub: public_url {text:?} is not an absolute http(s) URL, such as https://feeds.example.org/")
                })?;
            out.public_url = Some(u);
        }
        if let Some(n) = raw.retries {
            if n > 30 {
                return Err("websub: retries must be at most 30".to_string());
            }
            out.retries = n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<WebSubSettings, String> {
        crate::util::yaml::from_str(yaml).map_err(|e| e.message)
    }

    #[test]
    fn hub_self_is_the_sites_own_hub() {
        let parse = |extra: &str| {
            crate::config::SiteConfig::parse(
                &format!("title: T\nbase_url: https://example.org/blog\n{extra}"),
                std::path::Path::new("tributary.yaml"),
            )
        };
        let own = parse("hub: self\nwebsub: { retries: 1 }\n").unwrap();
        assert!(own.hub_self);
        assert_eq!(
            own.hub.map(|u| u.to_string()).as_deref(),
            Some("https://example.org/blog/websub")
        );
        assert_eq!(own.websub.retries, 1);
        let other = parse("hub: https://hub.example/\n").unwrap();
        assert!(!other.hub_self);
        assert_eq!(other.websub, WebSubSettings::default());
        assert!(parse("websub: { lease_min: soon }\n").is_err());
    }

    #[test]
    fn callbacks_only_where_hubs_reach_serve() {
        let parse = |extra: &str| {
            crate::config::SiteConfig::parse(
                &format!("title: T\nbase_url: https://example.org/blog\n{extra}"),
                std::path::Path::new("tributary.yaml"),
            )
            .unwrap()
            .websub_callbacks()
            .map(|u| u.to_string())
        };
        assert_eq!(
            parse(""),
            None,
            "a site that is not its own hub does not subscribe"
        );
        let under_base = Some("https://example.org/blog/websub/callback/".to_string());
        assert_eq!(parse("hub: self\n"), under_base);
        assert_eq!(parse("websub: { subscribe: true }\n"), under_base);
        assert_eq!(parse("hub: self\nwebsub: { subscribe: false }\n"), None);
        assert_eq!(
            parse("websub: { subscribe: true, public_url: 'http://10.1.2.3:8080' }\n").as_deref(),
            Some("http://10.1.2.3:8080/websub/callback/")
        );
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(parse("{}").unwrap(), WebSubSettings::default());
        let s = parse("{ lease_min: 1s, lease_max: 2h, retries: 2, retry_after: 1s }").unwrap();
        assert_eq!(s.lease_min, Duration::from_secs(1));
        assert_eq!(s.lease_default, Duration::from_secs(7200));
        assert_eq!(s.retries, 2);
        assert!(parse("{ lease_min: 2d, lease_max: 1d }").is_err());
        assert!(parse("{ timeout: 0s }").is_err());
        assert!(parse("{ max_per_host: 0 }").is_err());
        assert!(parse("{ nope: 1 }").is_err());
        let s = parse("{ subscribe: true, public_url: 'http://127.0.0.1:8080/b/' }").unwrap();
        assert_eq!(s.subscribe, Some(true));
        assert_eq!(s.public_url.unwrap().as_str(), "http://127.0.0.1:8080/b/");
        assert!(parse("{ public_url: /relative }").is_err());
    }
}
