use super::load_yaml;
use super::rules::{MatchRule, Matcher};
use crate::model::diag::Diagnostic;
use crate::model::entry::ContentMode;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use url::Url;

/// Which local posts a feed takes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PostSelection {
    #[default]
    All,
    None,
    Filter(PostFilter),
}

/// Each non-empty list must match (any of its values); lists combine with AND.
/// Comparison ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostFilter {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub authors: Vec<String>,
}

impl<'de> Deserialize<'de> for PostSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PostSelection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"all\", \"none\" or a filter { tags, categories, authors }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PostSelection, E> {
                match v {
                    "all" => Ok(PostSelection::All),
                    "none" => Ok(PostSelection::None),
                    other => Err(E::custom(format!(
                        "posts: {other:?} is not \"all\", \"none\" or a filter {{ tags: [...] }}"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PostSelection, A::Error> {
                PostFilter::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PostSelection::Filter)
            }
        }
        d.deserialize_any(V)
    }
}

/// How many entries the subscription document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    All,
    Count(usize),
}

impl Default for Limit {
    fn default() -> Self {
        Limit::Count(20)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive number or \"all\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Limit, E> {
                if v == 0 {
                    return Err(E::custom("limit must be at least 1 (or \"all\")"));
                }
                Ok(Limit::Count(usize::try_from(v).unwrap_or(usize::MAX)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom("limit must be at least 1 (or \"all\")")),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Limit, E> {
                if v == "all" {
                    Ok(Limit::All)
                } else {
                    Err(E::custom(format!("limit {v:?} is not a number or \"all\"")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The three formats, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Atom,
    Rss,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Atom, Format::Rss, Format::Json];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Atom => "atom",
            Format::Rss => "rss",
            Format::Json => "json",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Atom => "application/atom+xml",
            Format::Rss => "application/rss+xml",
            Format::Json => "application/feed+json",
        }
    }
}

/// The set of formats a feed is published in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats(pub Vec<Format>);

impl Default for Formats {
    fn default() -> Self {
        Formats(Format::ALL.to_vec())
    }
}

impl<'de> Deserialize<'de> for Formats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Formats;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of formats: atom, rss, json")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Formats, E> {
                Format::deserialize(de::value::StrDeserializer::<E>::new(v))
                    .map(|f| Formats(vec![f]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Formats, A::Error> {
                let mut out = Vec::new();
                while let Some(f) = seq.next_element::<Format>()? {
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
                if out.is_empty() {
                    return Err(de::Error::custom("formats is empty"));
                }
                out.sort();
                Ok(Formats(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Output paths per format, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPaths {
    pub atom: Option<String>,
    pub rss: Option<String>,
    pub json: Option<String>,
    /// One path for a feed with exactly one format (`output: feed.xml`).
    #[serde(skip)]
    pub single: Option<String>,
}

fn deserialize_output<'de, D: Deserializer<'de>>(d: D) -> Result<OutputPaths, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = OutputPaths;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path (for a feed with one format) or a map { atom, rss, json }")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<OutputPaths, E> {
            Ok(OutputPaths {
                single: Some(v.to_string()),
                ..OutputPaths::default()
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OutputPaths, A::Error> {
            OutputPaths::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}

/// RFC 5005 archives: with `archive: true` the subscription document keeps the
/// newest `limit` entries and links to immutable archive pages of `limit` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Archive(pub bool);

impl<'de> Deserialize<'de> for Archive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bool::deserialize(d).map(Archive)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    posts: PostSelection,
    #[serde(default)]
    formats: Formats,
    #[serde(default)]
    limit: Limit,
    #[serde(default)]
    content: ContentMode,
    #[serde(default)]
    archive: Archive,
    #[serde(default, deserialize_with = "deserialize_output")]
    output: OutputPaths,
    #[serde(default)]
    per_tag: bool,
    id: Option<String>,
    #[serde(default)]
    upstreams: Vec<RawUpstream>,
    #[serde(default)]
    max_age: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    url: String,
    name: Option<String>,
    schedule: Option<String>,
    keep: Option<Limit>,
    #[serde(default, rename = "match")]
    include: Rules,
    #[serde(default)]
    exclude: Rules,
}

/// `match:` or `exclude:`: one rule or a list of rules (any of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(pub Vec<MatchRule>);

impl<'de> Deserialize<'de> for Rules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Rules;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rule { keywords, regex, categories, authors, links_with_posts } or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Rules, A::Error> {
                MatchRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|r| Rules(vec![r]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Rules, A::Error> {
                Vec::<MatchRule>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Rules)
            }
        }
        d.deserialize_any(V)
    }
}

/// Where an upstream's feed document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamLocation {
    Http(Url),
    /// A local file, relative to the site root unless absolute.
    File(PathBuf),
}

/// One entry of `upstreams:`, checked.
#[derive(Debug, Clone)]
pub struct UpstreamDef {
    /// The URL or path as written: the source's key in the store.
    pub key: String,
    pub location: UpstreamLocation,
    /// Display name: `name:`, else the URL's host (or the file name).
    pub name: String,
    /// Parsed `schedule:` (cron, 5 or 6 fields).
    pub schedule: Option<cron::Schedule>,
    pub include: Vec<MatchRule>,
    pub exclude: Vec<MatchRule>,
    /// `keep:` how many of its newest items the store keeps.
    pub keep: Limit,
}

/// Items a source keeps in the store unless it says otherwise: one upstream
/// that rotates its ids or adds 200,000 items in one fetch must not grow the
/// store (and every rebuild's reads) without bound.
pub const DEFAULT_KEEP: usize = 1000;

/// One `feeds/NAME.yaml`, checked.
#[derive(Debug, Clone)]
pub struct FeedDef {
    /// File stem: `main` for `feeds/main.yaml`.
    pub name: String,
    /// `feeds/NAME.yaml`, for messages.
    pub path: PathBuf,
    pub title: Option<String>,
    pub description: Option<String>,
    pub posts: PostSelection,
    pub formats: Vec<Format>,
    pub limit: Limit,
    pub content: ContentMode,
    pub archive: bool,
    pub output: OutputPaths,
    /// One feed per tag: `{tag}` in title and output paths is the tag.
    pub per_tag: bool,
    /// Feed-level id override (Atom `id`).
    pub id: Option<String>,
    /// Upstream sources whose items join the feed.
    pub upstreams: Vec<UpstreamDef>,
    /// Entries older than this (by publication date) are left out.
    pub max_age: Option<chrono::Duration>,
    pub source_text: String,
}

impl FeedDef {
    pub const DIR: &'static str = "feeds";

    /// Load every `feeds/*.yaml` (sorted by name). Problems are collected, not fatal one by one.
    pub fn load_all(root: &Path) -> (Vec<FeedDef>, Vec<Diagnostic>) {
        let dir = root.join(Self::DIR);
        let mut defs = Vec::new();
        let mut problems = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (defs, problems),
            Err(e) => {
                problems.push(Diagnostic::error(
                    Self::DIR,
                    None,
                    format!("cannot list: {e}"),
                ));
                return (defs, problems);
            }
        };
        // Names starting with '.' are editors' swap and lock files
        // (`.#main.yaml`) or files hidden on purpose, not feeds.
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let shown = Path::new(Self::DIR).join(file.file_name().unwrap_or_default());
            match std::fs::read_to_string(&file) {
                Ok(text) => match FeedDef::parse(&name, &text, &shown) {
                    Ok(def) => match mistyped_url(&def, root) {
                        Some(d) => problems.push(d),
                        None => defs.push(def),
                    },
                    Err(d) => problems.push(d),
                },
                Err(e) => {
                    problems.push(Diagnostic::error(&shown, None, format!("cannot read: {e}")))
                }
            }
        }
        (defs, problems)
    }

    pub fn parse(name: &str, text: &str, shown: &Path) -> Result<FeedDef, Diagnostic> {
        check_feed_name(name, shown)?;
        // An empty file is a feed with every default.
        let raw: RawFeed = if text.trim().is_empty() {
            load_yaml("{}", shown)?
        } else {
            load_yaml(text, shown)?
        };
        let line = |k: &str| super::site::key_line(text, k);
        let formats = raw.formats.0;
        let output = raw.output;
        check_outputs(&output, &formats, raw.per_tag, shown, line("output"))?;
        let upstreams = check_upstreams(raw.upstreams, raw.per_tag, text, shown)?;
        let max_age = match raw.max_age.as_deref() {
            None => None,
            Some(t) => Some(super::parse_duration(t).ok_or_else(|| {
                Diagnostic::error(
                    shown,
                    line("max_age"),
                    format!("max_age {t:?} is not a duration such as 30d, 12h or 2w"),
                )
            })?),
        };
        Ok(FeedDef {
            name: name.to_string(),
            path: shown.to_path_buf(),
            title: raw.title,
            description: raw.description,
            posts: raw.posts,
            formats,
            limit: raw.limit,
            content: raw.content,
            archive: raw.archive.0,
            output,
            per_tag: raw.per_tag,
            id: raw.id,
            upstreams,
            max_age,
            source_text: text.to_string(),
        })
    }

    /// The output path of `format` (relative to the output dir), `{tag}` not yet filled in.
    pub fn output_path(&self, format: Format) -> String {
        let explicit = match format {
            Format::Atom => &self.output.atom,
            Format::Rss => &self.output.rss,
            Format::Json => &self.output.json,
        };
        if let Some(p) = explicit.as_ref().or(self.output.single.as_ref()) {
            return p.clone();
        }
        if self.per_tag {
            format!("{}/{{tag}}.{}", self.name, format.extension())
        } else {
            format!("{}.{}", self.name, format.extension())
        }
    }
}

/// A feed's name is its file name: letters, digits, `-`, `_` and `.`.
fn check_feed_name(name: &str, shown: &Path) -> Result<(), Diagnostic> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Diagnostic::error(
            shown,
            None,
            "feed file names may use only letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// `output:`: one path per format (a single path for one format only),
/// each inside the output directory, with `{tag}` in a per-tag feed's.
fn check_outputs(
    output: &OutputPaths,
    formats: &[Format],
    per_tag: bool,
    shown: &Path,
    line: Option<usize>,
) -> Result<(), Diagnostic> {
    if output.single.is_some() && formats.len() != 1 {
        return Err(Diagnostic::error(
            shown,
            line,
            "output: a single path needs exactly one format (set `formats: [atom]`), \
             or give a map { atom: ..., rss: ..., json: ... }",
        ));
    }
    for p in [&output.atom, &output.rss, &output.json, &output.single]
        .into_iter()
        .flatten()
    {
        check_output_path(p).map_err(|m| Diagnostic::error(shown, line, m))?;
        if per_tag && !p.contains("{tag}") {
            return Err(Diagnostic::error(
                shown,
                line,
                format!("output {p:?}: a per_tag feed's paths must contain {{tag}}"),
            ));
        }
    }
    Ok(())
}

/// `upstreams:`, each checked at its own line; none in a per-tag feed.
fn check_upstreams(
    raw: Vec<RawUpstream>,
    per_tag: bool,
    text: &str,
    shown: &Path,
) -> Result<Vec<UpstreamDef>, Diagnostic> {
    let line = |k: &str| super::site::key_line(text, k);
    let mut upstreams = Vec::new();
    for (i, u) in raw.into_iter().enumerate() {
        let at = upstream_line(text, i).or_else(|| line("upstreams"));
        upstreams.push(check_upstream(u).map_err(|m| Diagnostic::error(shown, at, m))?);
    }
    if !upstreams.is_empty() && per_tag {
        return Err(Diagnostic::error(
            shown,
            line("upstreams"),
            "upstreams: a per_tag feed takes only local posts; define the combined feed in its own file",
        ));
    }
    Ok(upstreams)
}

/// The first upstream `url:` taken as a file path that is no file and looks
/// like a URL that did not parse (`example.org/feed`, `https://exa mple.org/`):
/// fetching it would fail as a missing file, far from the typo.
fn mistyped_url(def: &FeedDef, root: &Path) -> Option<Diagnostic> {
    def.upstreams.iter().enumerate().find_map(|(i, u)| {
        let UpstreamLocation::File(path) = &u.location else {
            return None;
        };
        if !looks_like_url(&u.key) || root.join(path).exists() {
            return None;
        }
        let why = match Url::parse(&u.key) {
            Err(url::ParseError::RelativeUrlWithoutBase) => "it has no scheme".to_string(),
            Err(e) => e.to_string(),
            Ok(_) => "it has no host".to_string(),
        };
        let hint = if u.key.contains("://") {
            String::new()
        } else {
            format!(
                " (https://{})",
                u.key.trim_start_matches('/').trim_start_matches(':')
            )
        };
        Some(Diagnostic::error(
            &def.path,
            upstream_line(&def.source_text, i),
            format!(
                "upstreams: url {:?} is not a valid URL ({why}) and no such file exists; write the URL in full{hint}, or the path of a local feed file relative to the site root",
                u.key
            ),
        ))
    })
}

/// A scheme separator, a leading `//` or `www.`, or a first path segment
/// shaped like a domain (`example.org/feed.xml`).
fn looks_like_url(key: &str) -> bool {
    let first = key.split('/').next().unwrap_or_default();
    let domain_like = first.contains('.')
        && !first.starts_with('.')
        && first
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
        && key.len() > first.len();
    key.contains("://")
        || key.starts_with("//")
        || key.to_ascii_lowercase().starts_with("www.")
        || domain_like
}

/// The line of the `i`-th `- ` item under `upstreams:`, for messages.
fn upstream_line(text: &str, i: usize) -> Option<usize> {
    let start = super::site::key_line(text, "upstreams")?;
    text.lines()
        .enumerate()
        .skip(start)
        .take_while(|(_, l)| l.is_empty() || l.starts_with(' ') || l.starts_with('-'))
        .filter(|(_, l)| l.trim_start().starts_with("- "))
        .nth(i)
        .map(|(n, _)| n + 1)
}

fn check_upstream(u: RawUpstream) -> Result<UpstreamDef, String> {
    let key = u.url.trim().to_string();
    if key.is_empty() {
        return Err("upstreams: url is empty".into());
    }
    let location = match Url::parse(&key) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            UpstreamLocation::Http(url)
        }
        // A Windows drive letter parses as a scheme; anything else with a scheme is refused.
        Ok(url) if url.scheme().len() > 1 => {
            return Err(format!(
                "upstreams: url {key:?}: only http and https URLs or local file paths are fetched"
            ))
        }
        _ => UpstreamLocation::File(PathBuf::from(&key)),
    };
    let name = match (&u.name, &location) {
        (Some(n), _) if !n.trim().is_empty() => n.trim().to_string(),
        (_, UpstreamLocation::Http(url)) => url.host_str().unwrap_or_default().to_string(),
        (_, UpstreamLocation::File(p)) => p
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| key.clone()),
    };
    let schedule = match u.schedule.as_deref() {
        None => None,
        Some(text) => Some(parse_schedule(text).map_err(|e| {
            format!("upstreams: schedule {text:?} of {key} is not a cron expression: {e}")
        })?),
    };
    for rule in u.include.0.iter().chain(&u.exclude.0) {
        Matcher::new(rule).map_err(|e| format!("upstreams: {key}: regex: {e}"))?;
    }
    Ok(UpstreamDef {
        key,
        location,
        name,
        schedule,
        include: u.include.0,
        exclude: u.exclude.0,
        keep: u.keep.unwrap_or(Limit::Count(DEFAULT_KEEP)),
    })
}

/// A cron expression: standard 5 fields (minute first), or the `cron`
/// crate's 6 or 7 (seconds first, optional year).
pub fn parse_schedule(text: &str) -> Result<cron::Schedule, cron::error::Error> {
    use std::str::FromStr;
    let fields = text.split_whitespace().count();
    if fields == 5 && !text.trim_start().starts_with('@') {
        cron::Schedule::from_str(&format!("0 {}", text.trim()))
    } else {
        cron::Schedule::from_str(text.trim())
    }
}

/// Output paths stay inside the output directory.
fn check_output_path(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if p.is_empty() || p.ends_with('/') {
        return Err(format!("output {p:?} must name a file"));
    }
    for c in path.components() {
        match c {
            Component::Normal(_) => {}
            _ => {
                return Err(format!(
                    "output {p:?} must be a relative path inside the output directory (no '..', no leading '/')"
                ))
            }
        }
    }
    Ok(())
}
