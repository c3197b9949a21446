use super::{deserialize_opt_person, load_yaml};
use crate::model::diag::Diagnostic;
use crate::model::entry::Person;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use url::Url;

/// How a new entry's id is made (see README, "Entry ids").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdScheme {
    /// RFC 4151 `tag:HOST,DATE:SLUG`: independent of later URL changes.
    #[default]
    Tag,
    /// The absolute permalink.
    Permalink,
    /// Exactly what jekyll-feed emits: base URL + dirname(url) + "/" + slug.
    Jekyll,
    /// Hugo's RSS guid: the permalink.
    Hugo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    title: String,
    #[serde(default)]
    description: Option<String>,
    base_url: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default, deserialize_with = "deserialize_opt_person")]
    author: Option<Person>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    output: Option<PathBuf>,
    #[serde(default)]
    content: Option<PathBuf>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    ids: IdScheme,
    #[serde(default)]
    fetch: super::FetchSettings,
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    lease: Option<String>,
    #[serde(default)]
    retention: Option<String>,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    cache_max_age: Option<u64>,
    #[serde(default)]
    serve: RawServe,
    #[serde(default)]
    hub: Option<String>,
    #[serde(default)]
    websub: super::WebSubSettings,
    #[serde(default)]
    xslt: bool,
}

/// The `serve:` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    #[serde(default)]
    header_timeout: Option<String>,
    #[serde(default)]
    idle_timeout: Option<String>,
    #[serde(default)]
    max_connections: Option<usize>,
}

/// The `serve:` section: what the daemon's HTTP side sheds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// A connection whose request headers are not complete this long after
    /// it opened (or after its next request began) is closed.
    pub header_timeout: std::time::Duration,
    /// A kept-alive connection with no request this long is closed.
    pub idle_timeout: std::time::Duration,
    /// Connections open at once, at most; lowered at start to what the
    /// limit on open files leaves after a reserve for builds and the store.
    pub max_connections: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// `tributary.yaml`, checked.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub title: String,
    pub description: Option<String>,
    /// Always ends with `/`.
    pub base_url: Url,
    pub language: Option<String>,
    pub author: Option<Person>,
    /// Jekyll-style pattern, e.g. `/:year/:month/:day/:slug/`.
    pub permalink: String,
    /// Output directory, relative to the site root unless absolute.
    pub output: PathBuf,
    /// Where the posts are, relative to the site root: `content`, or a
    /// Jekyll site's own `_posts` so that it can switch in place.
    pub content: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub ids: IdScheme,
    /// `fetch:`: limits for fetching upstream feeds.
    pub fetch: super::FetchSettings,
    /// `store:` as written: a SQLite file (relative to the site root unless
    /// absolute) or a `postgres://` URL. `TRIBUTARY_STORE` overrides it;
    /// see `Site::store_location`.
    pub store: String,
    /// How long a replica holds a source it fetches before others may take
    /// it over (renewed while the fetch runs); only matters on a shared store.
    pub lease: chrono::Duration,
    /// Upstream items older than this are deleted from the store; `None` keeps them.
    pub retention: Option<chrono::Duration>,
    /// When sources without a `schedule:` of their own are due (cron).
    pub schedule: Option<cron::Schedule>,
    /// `schedule:` as written, for messages.
    pub schedule_text: Option<String>,
    /// Where `serve` listens, unless `--listen` says otherwise.
    pub listen: String,
    /// `Cache-Control: max-age` of served feeds, in seconds.
    pub cache_max_age: u64,
    /// `serve:`: timeouts and the connection cap of `tributary serve`.
    pub serve: ServeSettings,
    /// WebSub hub: feeds link to it and `serve` pings it when a feed changes.
    pub hub: Option<Url>,
    /// `hub: self`: `serve` is the hub (`hub` is then `BASE_URL/websub`).
    pub hub_self: bool,
    /// `websub:`: limits of the hub `hub: self` runs.
    pub websub: super::WebSubSettings,
    /// Atom and RSS documents point to a shipped XSL stylesheet.
    pub xslt: bool,
    /// The raw file, fingerprinted so that a config change rebuilds every feed.
    pub source_text: String,
}

/// Where `serve` listens unless `listen:` or `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How long a fetch lease lasts unless `lease:` says otherwise.
pub const DEFAULT_LEASE_SECS: i64 = 60;

/// Where the store lives unless `store:` says otherwise.
pub const DEFAULT_STORE: &str = ".tributary/store.db";

pub const DEFAULT_PERMALINK: &str = "/:year/:month/:day/:slug/";

impl SiteConfig {
    pub const FILE: &'static str = "tributary.yaml";

    /// Load `tributary.yaml` from the site root.
    pub fn load(root: &Path) -> Result<SiteConfig, Diagnostic> {
        let path = root.join(Self::FILE);
        let shown = Path::new(Self::FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} is not a tributary site: `tributary init` starts one there \
                     (`--from-jekyll DIR` or `--from-hugo DIR` switches an existing site), \
                     or -C DIR points at one",
                    root.display()
                )
            } else {
                "is this a tributary site? use -C DIR".to_string()
            };
            Diagnostic::error(
                shown,
                None,
                format!("cannot read the site configuration: {e}; {hint}"),
            )
        })?;
        Self::parse(&text, shown)
    }

    pub fn parse(text: &str, shown: &Path) -> Result<SiteConfig, Diagnostic> {
        let raw: RawSite = load_yaml(text, shown).map_err(|d| allow_entry_line(d, text))?;
        let at = At { text, shown };
        // In this order, so that the first of several mistakes is reported.
        let base_url = base_url(&raw.base_url, &at)?;
        let timezone = timezone(raw.timezone.as_deref(), &at)?;
        let permalink = permalink(raw.permalink.as_deref(), &at)?;
        let content = content_dir(raw.content.clone(), &at)?;
        if raw.title.trim().is_empty() {
            return Err(at.error("title", "title is empty"));
        }
        let (lease, retention) = (lease(&raw, &at)?, retention(&raw, &at)?);
        let schedule = schedule(raw.schedule.as_deref(), &at)?;
        let listen = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        if parse_listen(&listen).is_none() {
            return Err(at.error(
                "listen",
                format!("listen {listen:?} is not an address:port such as 127.0.0.1:8080"),
            ));
        }
        let serve = parse_serve(&raw.serve, shown, key_line(text, "serve"))?;
        let hub = hub(raw.hub.as_deref(), &base_url, &at)?;
        Ok(SiteConfig {
            title: raw.title,
            description: raw.description,
            base_url,
            language: raw.language.map(|l| crate::util::text::plain_text(&l)),
            author: raw.author.map(|a| a.cleaned()),
            permalink,
            output: raw.output.unwrap_or_else(|| PathBuf::from("public")),
            content,
            timezone,
            ids: raw.ids,
            fetch: raw.fetch,
            store: raw.store.unwrap_or_else(|| DEFAULT_STORE.to_string()),
            lease,
            retention,
            schedule_text: raw.schedule.clone(),
            schedule,
            listen,
            cache_max_age: raw.cache_max_age.unwrap_or(300),
            serve,
            hub_self: raw.hub.as_deref().map(str::trim) == Some("self"),
            hub,
            websub: raw.websub,
            xslt: raw.xslt,
            source_text: text.to_string(),
        })
    }

    /// Absolute URL for a site path such as `/2024/20240101` or `feed.atom`.
    /// `%`, `?` and `#` are file-name characters here, not URL syntax.
    pub fn url_for(&self, path: &str) -> String {
        let escaped = path
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        let rel = escaped.trim_start_matches('/');
        match self.base_url.join(rel) {
            Ok(u) => u.to_string(),
            Err(_) => format!("{}{}", self.base_url, rel),
        }
    }

    /// The URL under which `serve` takes WebSub callbacks, when it
    /// subscribes to upstream hubs (`websub: subscribe`, by default only
    /// with `hub: self`): `websub: public_url`, else `base_url`.
    pub fn websub_callbacks(&self) -> Option<Url> {
        if !self.websub.subscribe.unwrap_or(self.hub_self) {
            return None;
        }
        let mut base = self
            .websub
            .public_url
            .clone()
            .unwrap_or_else(|| self.base_url.clone());
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.join(&format!("{}/", super::websub::CALLBACK_PATH))
            .ok()
    }
}

/// Where `tributary.yaml` is, for errors at the line of a key.
struct At<'a> {
    text: &'a str,
    shown: &'a Path,
}

impl At<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.shown, key_line(self.text, key), message)
    }
}

/// `base_url`: an absolute http(s) URL with a host, made to end with `/`
/// (no query, no fragment).
fn base_url(text: &str, at: &At) -> Result<Url, Diagnostic> {
    let mut base = Url::parse(text.trim()).map_err(|e| {
        at.error(
            "base_url",
            format!("base_url {text:?} is not an absolute URL: {e}"),
        )
    })?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(at.error(
            "base_url",
            format!("base_url {text:?} must be an http or https URL with a host"),
        ));
    }
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

/// `timezone`: an IANA name, UTC when left out.
fn timezone(name: Option<&str>, at: &At) -> Result<chrono_tz::Tz, Diagnostic> {
    let Some(name) = name else {
        return Ok(chrono_tz::UTC);
    };
    name.parse().map_err(|_| {
        at.error(
            "timezone",
            format!(
                "timezone {name:?} is not an IANA time zone name (e.g. \"UTC\", \"Europe/Berlin\")"
            ),
        )
    })
}

/// `permalink`: a pattern starting with `/`, or one of Jekyll's named styles.
fn permalink(text: Option<&str>, at: &At) -> Result<String, Diagnostic> {
    let permalink = text
        .map(|p| jekyll_permalink_style(p).unwrap_or(p).to_string())
        .unwrap_or_else(|| DEFAULT_PERMALINK.to_string());
    if !permalink.starts_with('/') {
        return Err(at.error(
            "permalink",
            format!("permalink {permalink:?} must start with '/'"),
        ));
    }
    Ok(permalink)
}

/// `content`: a directory inside the site (`content` unless given).
fn content_dir(content: Option<PathBuf>, at: &At) -> Result<PathBuf, Diagnostic> {
    let content = content.unwrap_or_else(|| PathBuf::from("content"));
    let inside = content.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if !inside || content.as_os_str().is_empty() {
        return Err(at.error(
            "content",
            format!(
                "content {:?} must be a directory inside the site, such as content or _posts",
                content.display().to_string()
            ),
        ));
    }
    Ok(content)
}

/// `lease`: between 2 s and 24 h.
fn lease(raw: &RawSite, at: &At) -> Result<chrono::Duration, Diagnostic> {
    let Some(t) = raw.lease.as_deref() else {
        return Ok(chrono::Duration::seconds(DEFAULT_LEASE_SECS));
    };
    super::parse_duration(t)
        .filter(|d| *d >= chrono::Duration::seconds(2) && *d <= chrono::Duration::hours(24))
        .ok_or_else(|| {
            at.error(
                "lease",
                format!("lease {t:?} is not a duration between 2s and 24h, such as 60s"),
            )
        })
}

/// `retention`: a duration, or `forever` (the default).
fn retention(raw: &RawSite, at: &At) -> Result<Option<chrono::Duration>, Diagnostic> {
    match raw.retention.as_deref() {
        None | Some("forever") => Ok(None),
        Some(t) => super::parse_duration(t).map(Some).ok_or_else(|| {
            at.error(
                "retention",
                format!("retention {t:?} is not a duration such as 365d or 8w (or \"forever\")"),
            )
        }),
    }
}

/// `schedule`: a cron expression.
fn schedule(text: Option<&str>, at: &At) -> Result<Option<cron::Schedule>, Diagnostic> {
    let Some(text) = text else { return Ok(None) };
    super::parse_schedule(text).map(Some).map_err(|e| {
        at.error(
            "schedule",
            format!("schedule {text:?} is not a cron expression (e.g. \"*/15 * * * *\" or \"@hourly\"): {e}"),
        )
    })
}

/// `hub`: the http(s) URL of a WebSub hub.
/// `hub:`: `self` (this site's `serve` is the hub, at `BASE_URL/websub`)
/// or the URL of another WebSub hub.
fn hub(text: Option<&str>, base: &Url, at: &At) -> Result<Option<Url>, Diagnostic> {
    let Some(h) = text else { return Ok(None) };
    if h.trim() == "self" {
        return Ok(base.join(super::websub::HUB_PATH).ok());
    }
    match Url::parse(h.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(u)),
        _ => Err(at.error(
            "hub",
            format!("hub {h:?} must be `self` or an http or https URL of a WebSub hub"),
        )),
    }
}

/// An address to listen on: `HOST:PORT`, `:PORT` or `PORT` (loopback),
/// `localhost:PORT`.
pub fn parse_listen(text: &str) -> Option<std::net::SocketAddr> {
    let t = text.trim();
    if let Ok(a) = t.parse() {
        return Some(a);
    }
    let port = t
        .strip_prefix("localhost:")
        .or_else(|| t.strip_prefix(':'))
        .unwrap_or(t);
    let port: u16 = port.parse().ok()?;
    Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Check `serve:`; a key left out keeps its default.
fn parse_serve(
    raw: &RawServe,
    shown: &Path,
    line: Option<usize>,
) -> Result<ServeSettings, Diagnostic> {
    let mut out = ServeSettings::default();
    // Below a second a slow mobile reader is cut off; beyond the upper
    // bound a held connection is no longer "slow" but gone.
    let duration = |key: &str, text: &str, max: chrono::Duration, example: &str| {
        super::parse_duration(text)
            .filter(|d| *d >= chrono::Duration::seconds(1) && *d <= max)
            .and_then(|d| d.to_std().ok())
            .ok_or_else(|| {
                Diagnostic::error(
                    shown,
                    line,
                    format!(
                        "serve: {key} {text:?} is not a duration between 1s and {}h, such as {example}",
                        max.num_hours()
                    ),
                )
            })
    };
    if let Some(t) = &raw.header_timeout {
        out.header_timeout = duration("header_timeout", t, chrono::Duration::hours(1), "10s")?;
    }
    if let Some(t) = &raw.idle_timeout {
        out.idle_timeout = duration("idle_timeout", t, chrono::Duration::hours(24), "60s")?;
    }
    if let Some(n) = raw.max_connections {
        if n == 0 {
            return Err(Diagnostic::error(
                shown,
                line,
                "serve: max_connections must be at least 1",
            ));
        }
        out.max_connections = n;
    }
    Ok(out)
}

/// The 1-based line of a top-level `key:` in a YAML text, for messages.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

/// Jekyll's named permalink styles, as Jekyll expands them (a Jekyll site's
/// `permalink: date` keeps its URLs). `None` for a pattern.
pub fn jekyll_permalink_style(name: &str) -> Option<&'static str> {
    Some(match name.trim() {
        "date" => "/:categories/:year/:month/:day/:title:output_ext",
        "pretty" => "/:categories/:year/:month/:day/:title/",
        "ordinal" => "/:categories/:year/:y_day/:title:output_ext",
        "none" => "/:categories/:title:output_ext",
        _ => return None,
    })
}

/// serde_yaml places an error inside a list at the list's first line; a bad
/// `fetch.allow` entry is easier to find at its own.
fn allow_entry_line(mut d: Diagnostic, text: &str) -> Diagnostic {
    let entry = d
        .message
        .strip_prefix("fetch.allow: \"")
        .and_then(|rest| rest.split_once("\" "))
        .map(|(entry, _)| entry.to_string());
    if let (Some(entry), Some(from)) = (entry, d.line) {
        let at = text
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| l.contains(entry.as_str()));
        if let Some((i, _)) = at {
            d.line = Some(i + 1);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_a_port_alone_and_localhost() {
        let loopback = |port| Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        assert_eq!(parse_listen(":8095"), loopback(8095));
        assert_eq!(parse_listen("8095"), loopback(8095));
        assert_eq!(parse_listen("localhost:8095"), loopback(8095));
        assert_eq!(
            parse_listen("0.0.0.0:80"),
            Some(std::net::SocketAddr::from(([0, 0, 0, 0], 80)))
        );
        assert_eq!(parse_listen("[::1]:8080").map(|a| a.port()), Some(8080));
        for bad in ["", "nowhere", ":", "localhost", "70000", "example.org:80"] {
            assert_eq!(parse_listen(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_first_of_several_mistakes_is_reported() {
        let text = "title: \"\"\nbase_url: /x\ntimezone: Mars/X\n";
        let d = SiteConfig::parse(text, Path::new("tributary.yaml")).unwrap_err();
        assert!(d.message.starts_with("base_url"), "{d}");
    }
}
