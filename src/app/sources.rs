//! Managing upstream sources: OPML 2.0 import and export (how every reader
//! moves subscriptions), `sources add` with feed autodiscovery, and the
//! health table of `sources list`.
//!
//! Sources live in feed files (`upstreams:`); import and add append to the
//! `upstreams:` list of one feed file as text, so the user's comments and
//! layout stay, and the result is checked before it replaces the file.

use crate::app::aggregate::{configured_sources, ConfiguredSource};
use crate::config::FeedDef;
use crate::model::Error;
use crate::site::Site;
use crate::store::health::Health;
use quick_xml::events::Event;
use std::path::{Path, PathBuf};
use url::Url;

/// One subscription read from OPML or found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub url: String,
    pub name: Option<String>,
}

/// Every `<outline xmlUrl=...>` of an OPML document, nested or not, in order.
pub fn read_opml(bytes: &[u8]) -> Result<Vec<Subscription>, String> {
    let text = crate::parse::encoding::decode(bytes);
    let mut r = quick_xml::Reader::from_str(&text);
    r.config_mut().check_end_names = false;
    let mut out: Vec<Subscription> = Vec::new();
    let mut saw_opml = false;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.local_name();
                if name.as_ref().eq_ignore_ascii_case(b"opml") {
                    saw_opml = true;
                }
                if !name.as_ref().eq_ignore_ascii_case(b"outline") {
                    continue;
                }
                let mut url = None;
                let mut title = None;
                let mut text_attr = None;
                for a in e.attributes().flatten() {
                    // HTML entities are common in OPML written by hand or by readers.
                    let raw = String::from_utf8_lossy(&a.value);
                    let v = html_escape::decode_html_entities(&raw).trim().to_string();
                    match a.key.local_name().as_ref() {
                        k if k.eq_ignore_ascii_case(b"xmlUrl") => url = Some(v),
                        b"title" => title = Some(v),
                        b"text" => text_attr = Some(v),
                        _ => {}
                    }
                }
                if let Some(url) = url.filter(|u| !u.is_empty()) {
                    if !out.iter().any(|s| s.url == url) {
                        out.push(Subscription {
                            url,
                            name: title.or(text_attr).filter(|t| !t.is_empty()),
                        });
                    }
                }
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(format!("not well-formed OPML: {e}")),
            _ => {}
        }
    }
    if !saw_opml {
        return Err("not an OPML document (no <opml> element)".into());
    }
    Ok(out)
}

fn attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// OPML 2.0 of every configured source; `category` names the feed files
/// that draw from it.
pub fn write_opml(site: &Site) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        html_escape::encode_text(&site.config.title)
    ));
    for s in configured_sources(site) {
        let url = source_url(site, &s);
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{}\" title=\"{}\" xmlUrl=\"{}\" category=\"{}\"/>\n",
            attr(&s.name),
            attr(&s.name),
            attr(&url),
            attr(&s.feeds.join(","))
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

/// The source's URL; a local file's path as configured (relative to the
/// site root), not a `file://` URL of the machine the export ran on.
fn source_url(site: &Site, s: &ConfiguredSource) -> String {
    match &s.location {
        crate::config::UpstreamLocation::Http(u) => {
            crate::app::aggregate::location_url(site, &s.location, u.as_str())
                .unwrap_or_else(|_| s.key.clone())
        }
        crate::config::UpstreamLocation::File(_) => s.key.clone(),
    }
}

/// The feed file `sources import` and `sources add` write to without
/// `--feed`: the only feed with upstreams, else `upstreams` (created) when
/// none has any; several are a question only the user can answer.
pub fn default_feed(site: &Site) -> Result<String, Error> {
    let with: Vec<&str> = site
        .feeds
        .iter()
        .filter(|d| !d.upstreams.is_empty())
        .map(|d| d.name.as_str())
        .collect();
    match with.as_slice() {
        [] => Ok("upstreams".to_string()),
        [only] => Ok(only.to_string()),
        several => Err(Error::at(
            "feeds",
            None,
            format!(
                "{} feeds have upstreams ({}): choose one with --feed NAME",
                several.len(),
                several.join(", ")
            ),
        )),
    }
}

/// `sources add PATH`: a feed file on this machine, as a source. The path
/// is kept relative to the site root, as `upstreams:` reads it; one given
/// relative to the working directory is made so.
fn resolve_file(site: &Site, given: &str) -> Result<Subscription, Error> {
    let fail = |m: String| Error::at("sources add", None, m);
    let in_site = site.root.join(given);
    let (path, key) = if in_site.is_file() {
        (in_site, given.to_string())
    } else if Path::new(given).is_file() {
        let abs = std::fs::canonicalize(given).map_err(|e| Error::io(given, e))?;
        let root = std::fs::canonicalize(&site.root).unwrap_or_else(|_| site.root.clone());
        let key = abs
            .strip_prefix(&root)
            .map_or_else(|_| abs.display().to_string(), |r| r.display().to_string());
        (abs, key)
    } else {
        return Err(fail(format!(
            "{given}: no such file (relative to the site root) and not an http(s) URL"
        )));
    };
    let body = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let feed = crate::parse::parse_upstream(&body, None)
        .map_err(|e| fail(format!("{given} is not a feed: {e}")))?;
    Ok(Subscription {
        url: key,
        name: feed.title.filter(|t| !t.trim().is_empty()),
    })
}

/// YAML text for a plain scalar, quoted (JSON strings are valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Append `subs` to the `upstreams:` of `feeds/NAME.yaml` (created if
/// missing), skipping URLs it already has. Returns how many were added.
pub fn add_to_feed(root: &Path, feed: &str, subs: &[Subscription]) -> Result<usize, Error> {
    let rel = PathBuf::from(FeedDef::DIR).join(format!("{feed}.yaml"));
    let path = root.join(&rel);
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("title: {}\nposts: none\n", yaml_str(feed))
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let existing = FeedDef::parse(feed, &old, &rel).map_err(Error::invalid)?;
    let mut items = String::new();
    let mut added = 0;
    for s in subs {
        let url = s.url.trim();
        if existing.upstreams.iter().any(|u| u.key == url) || items.contains(&yaml_str(url)) {
            continue;
        }
        items.push_str(&format!("  - url: {}\n", yaml_str(url)));
        if let Some(n) = &s.name {
            items.push_str(&format!("    name: {}\n", yaml_str(n)));
        }
        added += 1;
    }
    if added == 0 {
        return Ok(0);
    }
    let text = insert_upstreams(&old, &items);
    // The new file must load: a source that the config would refuse is not written.
    FeedDef::parse(feed, &text, &rel).map_err(Error::invalid)?;
    std::fs::create_dir_all(root.join(FeedDef::DIR)).map_err(|e| Error::io(&path, e))?;
    crate::util::write::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))?;
    Ok(added)
}

/// `items` (lines `  - url: ...`) appended to the `upstreams:` block of a
/// feed file's text, or a new block at its end.
fn insert_upstreams(text: &str, items: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| {
        l.strip_prefix("upstreams")
            .is_some_and(|r| r.trim_start().starts_with(':'))
    }) else {
        let mut out = text.trim_end().to_string();
        out.push_str("\nupstreams:\n");
        out.push_str(items);
        return out;
    };
    if lines[start].trim_end().ends_with("[]") {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        out[start] = "upstreams:".into();
        out.insert(start + 1, items.trim_end().to_string());
        return out.join("\n") + "\n";
    }
    // The block ends at the next top-level key (a line starting with neither
    // space, '-' nor '#'), or at the end of the file.
    let end = lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, l)| !l.is_empty() && !l.starts_with([' ', '-', '#', '\t']))
        .map_or(lines.len(), |(i, _)| i);
    // New items take the indentation of the block's existing ones (YAML
    // allows `- url:` at column 0 under a key); ours are written with two spaces.
    let indent = lines[start + 1..end]
        .iter()
        .find(|l| l.trim_start().starts_with("- "))
        .map(|l| &l[..l.len() - l.trim_start().len()]);
    let items: String = match indent {
        Some(ind) if ind != "  " => items
            .lines()
            .map(|l| format!("{ind}{}\n", l.strip_prefix("  ").unwrap_or(l)))
            .collect(),
        _ => items.to_string(),
    };
    let items = items.as_str();
    let mut out: Vec<String> = lines[..end].iter().map(|l| l.to_string()).collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.push(items.trim_end().to_string());
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

/// Feed documents an HTML page announces with `<link rel="alternate">`
/// (RSS, Atom or JSON Feed), resolved against the page URL, in page order.
pub fn discover(html: &str, page: &Url) -> Vec<Subscription> {
    static LINK: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    static ATTR: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let (Some(link), Some(attr_re)) = (
        LINK.get_or_init(|| regex::Regex::new(r"(?is)<link\b[^>]*>").ok()),
        ATTR.get_or_init(|| {
            regex::Regex::new(r#"(?is)([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#).ok()
        }),
    ) else {
        return Vec::new();
    };
    let mut out: Vec<Subscription> = Vec::new();
    for tag in link.find_iter(html) {
        let mut rel = String::new();
        let mut kind = String::new();
        let mut href = None;
        let mut title = None;
        for c in attr_re.captures_iter(tag.as_str()) {
            let v = c
                .get(2)
                .or(c.get(3))
                .or(c.get(4))
                .map(|m| {
                    html_escape::decode_html_entities(m.as_str())
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            match c[1].to_ascii_lowercase().as_str() {
                "rel" => rel = v.to_ascii_lowercase(),
                "type" => kind = v.to_ascii_lowercase(),
                "href" => href = Some(v),
                "title" => title = Some(v),
                _ => {}
            }
        }
        let is_feed = matches!(
            kind.split(';').next().unwrap_or("").trim(),
            "application/rss+xml"
                | "application/atom+xml"
                | "application/feed+json"
                | "application/json"
        );
        if !rel.split_whitespace().any(|r| r == "alternate") || !is_feed {
            continue;
        }
        let Some(url) = href.and_then(|h| page.join(&h).ok()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        let url = url.to_string();
        if !out.iter().any(|s| s.url == url) {
            out.push(Subscription {
                url,
                name: title.filter(|t| !t.is_empty()),
            });
        }
    }
    out
}

/// Configured sources with what the store knows of them.
pub fn health(site: &Site) -> Result<Vec<Health>, Error> {
    let sources = configured_sources(site);
    let (states, pushes) = match crate::app::aggregate::open_existing_store(site)? {
        Some(s) => (s.sources()?, s.push_subscriptions()?),
        None => (Vec::new(), Vec::new()),
    };
    Ok(sources
        .iter()
        .map(|s| {
            let state = states.iter().find(|st| st.key == s.key).cloned();
            Health {
                push: pushes.iter().find(|p| p.source == s.key).cloned(),
                name: s.name.clone(),
                url: state
                    .as_ref()
                    .map(|st| st.url.clone())
                    .unwrap_or_else(|| source_url(site, s)),
                state,
            }
        })
        .collect())
}

/// Widest line of `sources list`: a terminal's width, for a table that
/// people read.
pub const TABLE_COLUMNS: usize = 120;

/// Whether a source is pushed, in a word: `pushed` (a live WebSub
/// subscription), `subscribing`, `hub` (advertised, not subscribed:
/// `serve` subscribes where hubs can reach it), `denied`, `ending`; `-`
/// for none.
pub fn push_word(push: Option<&crate::store::push::PushSubscription>) -> &'static str {
    use crate::store::push::PushState;
    match push {
        None => "-",
        Some(p) if p.is_live(chrono::Utc::now()) => "pushed",
        Some(p) => match p.state {
            PushState::Discovered => "hub",
            PushState::Requested | PushState::Active => "subscribing",
            PushState::Denied => "denied",
            PushState::Unsubscribing => "ending",
        },
    }
}

/// The health table as text: NAME, URL, LAST FETCH, STATUS, ITEMS, PUSH, NEXT DUE,
/// at most [`TABLE_COLUMNS`] wide: a failure is its short reason (the whole
/// chain is in `sources show`), and long URLs and names are cut in the middle.
pub fn health_table(rows: &[Health]) -> String {
    let when = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map_or_else(
            || "-".to_string(),
            |d| d.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    let mut table: Vec<[String; 7]> = vec![[
        "NAME".into(),
        "URL".into(),
        "LAST FETCH".into(),
        "STATUS".into(),
        "ITEMS".into(),
        "PUSH".into(),
        "NEXT DUE".into(),
    ]];
    for r in rows {
        let status = crate::store::health::Status::of(r.state.as_ref()).to_string();
        let (last, items, next) = match &r.state {
            None => ("-".into(), "0".into(), "now".into()),
            Some(st) => {
                let next = if st.disabled.is_some() && !st.is_gone() {
                    "-".into()
                } else {
                    st.next_due.map_or("now".into(), |d| when(Some(d)))
                };
                (when(st.last_fetch), st.item_count.to_string(), next)
            }
        };
        let push = push_word(r.push.as_ref()).to_string();
        table.push([
            r.name.clone(),
            r.url.clone(),
            last,
            status,
            items,
            push,
            next,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    // Too wide: the URL gives way first (its host and file name stay), then
    // the name; the status is what the table is for.
    const SEPARATORS: usize = 2 * 6;
    for (col, min) in [(1, 20), (0, 16)] {
        let total: usize = widths.iter().sum::<usize>() + SEPARATORS;
        if total > TABLE_COLUMNS {
            widths[col] = widths[col].saturating_sub(total - TABLE_COLUMNS).max(min);
        }
    }
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{:<w$}", elide(c, w)))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The configured source named `name` (its `name:` or its URL), or an
/// error that lists the names there are.
fn find_source(site: &Site, name: &str) -> Result<ConfiguredSource, Error> {
    let sources = configured_sources(site);
    match sources.iter().find(|s| s.name == name || s.key == name) {
        Some(src) => Ok(src.clone()),
        None => {
            let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
            Err(Error::at(
                "sources",
                None,
                format!(
                    "no source named {name:?}; the configured sources are: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        }
    }
}

/// `sources enable NAME` (`disable: None`) and `sources disable NAME
/// [REASON]`: a configured source, by name or URL, enabled (due at once,
/// its failures forgotten) or disabled by hand (never fetched until
/// enabled). Returns the source's name.
pub fn set_disabled(site: &Site, name: &str, disable: Option<&str>) -> Result<String, Error> {
    let src = find_source(site, name)?;
    let mut store = crate::app::aggregate::open_store(site)?;
    let mut state = store.ensure_source(&src.key, &src.name)?;
    match disable {
        Some(reason) => {
            let reason = reason.trim();
            state.disabled = Some(if reason.is_empty() {
                "by hand".to_string()
            } else if reason.starts_with(crate::store::GONE) {
                // Else it would read as a 410 and be retried weekly.
                format!("by hand: {reason}")
            } else {
                reason.to_string()
            });
        }
        None => {
            state.disabled = None;
            state.next_due = None;
            state.consecutive_failures = 0;
            state.last_error = None;
        }
    }
    store.save_source(&state)?;
    Ok(src.name.clone())
}

/// `text` in at most `max` characters, its middle replaced by `…`.
fn elide(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max || max < 3 {
        return text.to_string();
    }
    let tail = (max - 1) / 2;
    let head = max - 1 - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Everything known of the source named `name` (`sources show`): its
/// URLs, status and whole error chain, validators, dates, items and feeds.
pub fn show(site: &Site, name: &str) -> Result<String, Error> {
    let src = find_source(site, name)?;
    let src = &src;
    let state = match crate::app::aggregate::open_existing_store(site)? {
        Some(s) => s.source(&src.key)?,
        None => None,
    };
    let when = |d: Option<chrono::DateTime<chrono::Utc>>, none: &str| {
        d.map_or_else(
            || none.to_string(),
            |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
    };
    let st = state.clone().unwrap_or_default();
    let configured = source_url(site, src);
    let mut lines: Vec<(&str, String)> = vec![
        ("name", src.name.clone()),
        (
            "url",
            if state.is_some() {
                st.url.clone()
            } else {
                configured.clone()
            },
        ),
    ];
    // After a permanent redirect: the URL as the feed file has it.
    if state.is_some() && st.url != st.key {
        lines.push(("configured url", st.key.clone()));
    }
    lines.push((
        "status",
        crate::store::health::Status::of(state.as_ref()).to_string(),
    ));
    if let Some(e) = &st.last_error {
        lines.push(("error", e.clone()));
    }
    lines.extend([
        ("last fetch", when(st.last_fetch, "never")),
        ("last success", when(st.last_success, "never")),
        (
            "next due",
            if st.is_gone() {
                format!("{} (the weekly retry of a 410)", when(st.next_due, "now"))
            } else if st.disabled.is_some() {
                "never (disabled)".to_string()
            } else {
                when(st.next_due, "now")
            },
        ),
        ("etag", st.etag.clone().unwrap_or_else(|| "-".into())),
        (
            "last-modified",
            st.last_modified.clone().unwrap_or_else(|| "-".into()),
        ),
        ("items", st.item_count.to_string()),
        ("feeds", src.feeds.join(", ")),
    ]);
    if let Some(secs) = st.min_interval_secs {
        lines.push(("min interval", format!("{secs} s (ttl or max-age)")));
    }
    let push = match crate::app::aggregate::open_existing_store(site)? {
        Some(s) => s.push_of(&src.key)?,
        None => None,
    };
    if let Some(p) = push {
        lines.push(("push", push_word(Some(&p)).to_string()));
        lines.push(("hub", p.hub.clone()));
        lines.push(("topic", p.topic.clone()));
        if p.is_live(chrono::Utc::now()) {
            lines.push(("lease until", when(p.expires, "-")));
        }
        lines.push(("pushes", p.pushes.to_string()));
        lines.push(("last push", when(p.last_push, "never")));
        if let Some(e) = &p.last_error {
            lines.push(("push error", e.clone()));
        }
    }
    Ok(lines
        .into_iter()
        .map(|(k, v)| format!("{:<16}{v}\n", format!("{k}:")))
        .collect())
}

/// Diagnostic for a feed name given on the command line.
pub fn check_feed_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::at(
            "feeds",
            None,
            format!("--feed {name:?}: feed names use letters, digits, '-', '_' and '.'"),
        ))
    }
}

/// What `sources add URL` subscribes to: the URL itself when it is a feed,
/// else the first feed its page announces (checked to be a feed). Fetched
/// under the site's `fetch:` limits and address rules.
pub fn resolve_feed(site: &Site, url: &str) -> Result<Subscription, Error> {
    if !url.contains("://") {
        return resolve_file(site, url);
    }
    let fail = |m: String| Error::at("sources add", None, m);
    let fetcher =
        crate::fetch::Fetcher::new(&site.config.fetch, Some(site.config.base_url.as_str()))
            .map_err(|e| fail(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    let get = |u: &str| -> Result<(Vec<u8>, String), Error> {
        match rt.block_on(fetcher.fetch(u, &crate::fetch::Validators::default())) {
            crate::fetch::Outcome::Fetched {
                body, final_url, ..
            } => Ok((body, final_url)),
            crate::fetch::Outcome::Failed { error, .. } => Err(fail(error.to_string())),
            crate::fetch::Outcome::Gone { .. } => Err(fail(format!("{u}: 410 Gone"))),
            crate::fetch::Outcome::NotModified { .. } => Err(fail(format!("{u}: unexpected 304"))),
        }
    };
    let (body, final_url) = get(url)?;
    let page = Url::parse(&final_url).map_err(|e| fail(format!("{final_url}: {e}")))?;
    if let Ok(feed) = crate::parse::parse_upstream(&body, Some(&page)) {
        return Ok(Subscription {
            url: url.to_string(),
            name: feed.title.filter(|t| !t.trim().is_empty()),
        });
    }
    let html = crate::parse::encoding::decode(&body);
    let found = discover(&html, &page);
    if found.is_empty() {
        return Err(fail(format!(
            "{url} is neither a feed nor a page that announces one (<link rel=\"alternate\" type=\"application/rss+xml\" ...>)"
        )));
    }
    let mut last = String::new();
    for cand in found {
        match get(&cand.url) {
            Ok((b, f)) => match crate::parse::parse_upstream(&b, Url::parse(&f).ok().as_ref()) {
                Ok(feed) => {
                    return Ok(Subscription {
                        url: cand.url,
                        name: cand.name.or(feed.title).filter(|t| !t.trim().is_empty()),
                    })
                }
                Err(e) => last = format!("{}: {e}", cand.url),
            },
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(format!(
        "{url} announces feeds, but none could be read ({last})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opml_outlines_nested_and_flat() {
        let opml = br#"<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
            <outline text="Go">
              <outline type="rss" text="etcd" xmlUrl="https://github.com/etcd-io/etcd/releases.atom"/>
            </outline>
            <outline type="rss" title="A &amp; B" text="ignored" xmlUrl="https://a.example/feed.xml"/>
            <outline type="rss" text="dup" xmlUrl="https://a.example/feed.xml"/>
        </body></opml>"#;
        let subs = read_opml(opml).unwrap_or_default();
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].name.as_deref(), Some("etcd"));
        assert_eq!(subs[1].name.as_deref(), Some("A & B"));
        assert!(read_opml(b"<rss><channel/></rss>").is_err());
    }

    #[test]
    fn discovery_finds_alternate_feeds_only() {
        let page = Url::parse("https://blog.example/posts/").unwrap_or_else(|_| unreachable!());
        let html = r#"<html><head>
            <link rel="stylesheet" href="/s.css">
            <link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">
            <LINK REL='alternate' TYPE='application/atom+xml' HREF='atom.xml?a=1&amp;b=2'>
            <link rel="alternate" type="text/html" href="/other">
            <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
        </head></html>"#;
        let found = discover(html, &page);
        let urls: Vec<&str> = found.iter().map(|s| s.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://blog.example/feed.xml",
                "https://blog.example/posts/atom.xml?a=1&b=2"
            ]
        );
    }

    #[test]
    fn upstreams_are_appended_inside_their_block() {
        let text = "title: X\nupstreams:\n  - url: https://a.example/f\n# trailing\nlimit: 5\n";
        let out = insert_upstreams(text, "  - url: \"https://b.example/f\"\n");
        assert_eq!(
            out,
            "title: X\nupstreams:\n  - url: https://a.example/f\n# trailing\n  - url: \"https://b.example/f\"\nlimit: 5\n"
        );
        let out = insert_upstreams("title: X\n", "  - url: \"u\"\n");
        assert_eq!(out, "title: X\nupstreams:\n  - url: \"u\"\n");
        // Items at column 0 under the key stay at column 0.
        let out = insert_upstreams(
            "upstreams:\n- url: a\n  name: A\n",
            "  - url: \"b\"\n    name: \"B\"\n",
        );
        assert_eq!(
            out,
            "upstreams:\n- url: a\n  name: A\n- url: \"b\"\n  name: \"B\"\n"
        );
    }
}
