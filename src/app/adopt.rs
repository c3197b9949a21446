//! `tributary adopt FEED`: take over the ids of the feed readers already
//! subscribe to (jekyll-feed's, Hugo's, anyone's), so that switching to
//! tributary shows them nothing new.

use crate::app::build::{self, ledger_key, Options, Prepared};
use crate::config::{Format, IdScheme, Limit, SiteConfig};
use crate::content::Post;
use crate::model::entry::Entry;
use crate::model::Error;
use crate::parse::{self, ParsedFeed};
use crate::plan::ledger::FeedLine;
use crate::site::Site;
use std::collections::HashMap;
use std::path::Path;

/// How an old entry found its post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Link,
    /// Same path on another host (the site moved).
    Path,
    TitleAndDate,
    /// Not in the adopted document: given the id its generator's scheme
    /// makes (see [`infer_scheme`]).
    Scheme,
}

/// The id scheme that made every adopted id from its post, and the base URL
/// it made them under (the adopted feed's, which may be an older host than
/// `base_url`): `None` unless one scheme accounts for all of them. Posts with
/// a front-matter id say nothing about the scheme and are left out.
pub fn infer_scheme(
    cfg: &SiteConfig,
    adopted: &[(&Post, String, &str)],
) -> Option<(IdScheme, String)> {
    let pairs: Vec<_> = adopted.iter().filter(|(p, _, _)| p.id.is_none()).collect();
    if pairs.is_empty() {
        return None;
    }
    let base = cfg.base_url.as_str();
    [IdScheme::Jekyll, IdScheme::Permalink]
        .into_iter()
        .find_map(|scheme| {
            let mut old_base: Option<String> = None;
            for (post, path, id) in &pairs {
                let made = crate::plan::ids::post_id(scheme, post, path, cfg);
                let rest = made.strip_prefix(base)?;
                let prefix = id.strip_suffix(rest)?;
                if !prefix.starts_with("http") || old_base.as_deref().is_some_and(|b| b != prefix) {
                    return None;
                }
                old_base = Some(prefix.to_string());
            }
            old_base.map(|b| (scheme, b))
        })
}

/// `id` (made under `base_url`) as made under `base`.
fn rebase(id: &str, cfg: &SiteConfig, base: &str) -> String {
    match id.strip_prefix(cfg.base_url.as_str()) {
        Some(rest) => format!("{base}{rest}"),
        None => id.to_string(),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Matched {
    pub id: String,
    pub title: String,
    pub post: String,
    pub by: MatchedBy,
    /// The id the ledger had before, when adopt replaced it.
    pub replaced: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Unmatched {
    pub id: String,
    pub title: String,
    pub why: String,
}

/// What `adopt` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdoptReport {
    pub source: String,
    pub format: String,
    pub matched: Vec<Matched>,
    pub unmatched: Vec<Unmatched>,
    /// The feed whose id and subscription URL were adopted.
    pub feed: Option<(String, FeedLine)>,
    /// The old generator's id scheme, when every adopted id is what it
    /// makes of its post, and the posts outside the adopted document that
    /// were given their id by it.
    pub scheme: Option<IdScheme>,
    pub extended: Vec<Matched>,
    /// The old feed's window (how many entries it held) and what became of
    /// the feed file's `limit:`.
    pub window: Option<Window>,
}

/// Normalise a URL for matching: scheme and host case, trailing slash and
/// `index.html` do not matter.
pub fn norm_url(u: &str) -> String {
    let u = u.trim();
    let mut s = match url::Url::parse(u) {
        Ok(p) => {
            let host = p.host_str().unwrap_or("").to_ascii_lowercase();
            let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
            format!(
                "{host}{}{}",
                p.path(),
                p.query().map(|q| format!("?{q}")).unwrap_or_default()
            )
        }
        Err(_) => u.to_string(),
    };
    for suffix in ["index.html", ".html"] {
        if let Some(t) = s.strip_suffix(suffix) {
            s = t.to_string();
        }
    }
    s.trim_end_matches('/').to_string()
}

fn url_path(u: &str) -> Option<String> {
    let p = url::Url::parse(u.trim()).ok()?;
    let path = norm_url(&format!("http://x{}", p.path()));
    Some(path.trim_start_matches('x').to_string())
}

/// Normalise a title for matching: letters and digits, lower case.
pub fn norm_title(t: &str) -> String {
    t.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Find, for each old entry, the new entry it is: by link, by path, then by
/// normalised title on the same day. Each new entry is matched at most once.
pub fn match_entries(old: &[Entry], new: &[&Entry]) -> Vec<Option<(usize, MatchedBy)>> {
    let mut by_url: HashMap<String, usize> = HashMap::new();
    let mut by_path: HashMap<String, usize> = HashMap::new();
    let mut by_title: HashMap<(String, chrono::NaiveDate), usize> = HashMap::new();
    for (i, e) in new.iter().enumerate() {
        by_url.entry(norm_url(&e.url)).or_insert(i);
        if let Some(p) = url_path(&e.url) {
            by_path.entry(p).or_insert(i);
        }
        by_title
            .entry((norm_title(&e.title), e.published.naive_utc().date()))
            .or_insert(i);
    }
    let mut taken = vec![false; new.len()];
    old.iter()
        .map(|o| {
            let candidates = [
                (!o.url.is_empty())
                    .then(|| by_url.get(&norm_url(&o.url)))
                    .flatten()
                    .map(|&i| (i, MatchedBy::Link)),
                url_path(&o.url)
                    .and_then(|p| by_path.get(&p))
                    .map(|&i| (i, MatchedBy::Path)),
                by_title
                    .get(&(norm_title(&o.title), o.published.naive_utc().date()))
                    .map(|&i| (i, MatchedBy::TitleAndDate)),
            ];
            let hit = candidates.into_iter().flatten().find(|(i, _)| !taken[*i]);
            if let Some((i, _)) = hit {
                taken[i] = true;
            }
            hit
        })
        .collect()
}

/// Read a feed document from a file (URLs are read by the caller).
pub fn read_source(source: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(source).map_err(|e| Error::io(source, e))
}

/// Adopt the ids of `bytes` (the document at `source`) into the site's
/// ledger, and the old feed's window into its feed file's `limit:`.
pub fn adopt(
    root: &Path,
    source: &str,
    bytes: &[u8],
    feed_name: Option<&str>,
    opts: &Options,
) -> Result<AdoptReport, Error> {
    let old: ParsedFeed = parse::parse(bytes)
        .map_err(|e| Error::at(source, None, format!("cannot read the feed: {e}")))?;
    let before = build::load_ledger(root)?;
    let Prepared {
        site,
        loaded,
        mut ledger,
        plan,
        ..
    } = build::prepare(root, opts)?;
    let mut report = AdoptReport {
        source: source.to_string(),
        format: old.format.extension().to_string(),
        matched: Vec::new(),
        unmatched: Vec::new(),
        feed: None,
        scheme: None,
        extended: Vec::new(),
        window: None,
    };
    let run = Run {
        site: &site,
        posts: &loaded.posts,
        plan: &plan,
        before: &before,
    };
    let adopted = run.adopt_entries(&old, &mut ledger, &mut report)?;
    run.extend_by_scheme(&adopted, &mut ledger, &mut report);
    let name = choose_feed(&site, &old, feed_name)?;
    if let Some(name) = name {
        report.feed = adopt_feed_line(&old, name.clone(), &mut ledger);
        report.window = adopt_window(root, &site, &name, &old, run.local().count())?;
    }
    ledger
        .save(root)
        .map_err(|e| Error::io(root.join(crate::plan::ledger::FILE), e))?;
    Ok(report)
}

/// What one `adopt` reads: the site, its posts and the build's plan, and
/// the ledger as it was before.
struct Run<'a> {
    site: &'a Site,
    posts: &'a [Post],
    plan: &'a build::Plan,
    before: &'a crate::plan::ledger::Ledger,
}

impl Run<'_> {
    /// The local posts' planned entries (they come first): upstream items
    /// are not the site's to adopt.
    fn local(&self) -> impl Iterator<Item = &build::Planned> {
        self.plan.entries.iter().take_while(|p| p.feed.is_none())
    }

    /// Give each post an old entry matched the old entry's id; returns
    /// (post index, adopted id) of every match.
    fn adopt_entries(
        &self,
        old: &ParsedFeed,
        ledger: &mut crate::plan::ledger::Ledger,
        report: &mut AdoptReport,
    ) -> Result<Vec<(usize, String)>, Error> {
        let new: Vec<&Entry> = self.local().map(|p| &p.entry).collect();
        let mut adopted = Vec::new();
        for (o, hit) in old.entries.iter().zip(match_entries(&old.entries, &new)) {
            let Some((i, by)) = hit else {
                report.unmatched.push(unmatched(o));
                continue;
            };
            let Some(index) = self.plan.entries[i].post else {
                continue;
            };
            let post = &self.posts[index];
            let key = ledger_key(post, &self.site.config.content);
            let line = ledger.posts.get_mut(&key).ok_or_else(|| {
                Error::at(&post.path, None, "internal: post missing from the ledger")
            })?;
            let replaced = self
                .before
                .posts
                .get(&key)
                .filter(|l| l.id != o.id)
                .map(|l| l.id.clone());
            line.id = o.id.clone();
            line.first_published = o.published.min(line.first_published);
            adopted.push((index, o.id.clone()));
            report.matched.push(Matched {
                id: o.id.clone(),
                title: o.title.clone(),
                post: post.path.display().to_string(),
                by,
                replaced,
            });
        }
        Ok(adopted)
    }

    /// A feed shows a window (jekyll-feed: the newest 10), but a reader
    /// subscribed for a year holds the ids of every post that passed through
    /// it. When the adopted ids are exactly what a known generator makes of
    /// their posts, every older post not yet published by tributary gets the
    /// id that generator gave it too, or those readers would see it again.
    fn extend_by_scheme(
        &self,
        adopted: &[(usize, String)],
        ledger: &mut crate::plan::ledger::Ledger,
        report: &mut AdoptReport,
    ) {
        let cfg = &self.site.config;
        let paths: HashMap<String, String> = ledger
            .posts
            .iter()
            .map(|(k, l)| (k.clone(), l.path.clone()))
            .collect();
        let path_of = |post: &Post| {
            paths
                .get(&ledger_key(post, &cfg.content))
                .cloned()
                .unwrap_or_default()
        };
        let pairs: Vec<(&Post, String, &str)> = adopted
            .iter()
            .map(|(i, id)| (&self.posts[*i], path_of(&self.posts[*i]), id.as_str()))
            .collect();
        let Some((scheme, base)) = infer_scheme(cfg, &pairs) else {
            return;
        };
        report.scheme = Some(scheme);
        let taken: std::collections::HashSet<usize> = adopted.iter().map(|(i, _)| *i).collect();
        for p in self.local() {
            let Some(i) = p.post else { continue };
            let post = &self.posts[i];
            let key = ledger_key(post, &cfg.content);
            if taken.contains(&i) || self.before.posts.contains_key(&key) || post.id.is_some() {
                continue;
            }
            let path = path_of(post);
            let Some(line) = ledger.posts.get_mut(&key) else {
                continue;
            };
            line.id = rebase(
                &crate::plan::ids::post_id(scheme, post, &path, cfg),
                cfg,
                &base,
            );
            report.extended.push(Matched {
                id: line.id.clone(),
                title: p.entry.title.clone(),
                post: post.path.display().to_string(),
                by: MatchedBy::Scheme,
                replaced: None,
            });
        }
    }
}

/// Why an old entry found no post.
fn unmatched(o: &Entry) -> Unmatched {
    Unmatched {
        id: o.id.clone(),
        title: o.title.clone(),
        why: format!(
            "no post has the link {} and none is titled {:?} on {}",
            if o.url.is_empty() { "(none)" } else { &o.url },
            o.title,
            o.published.format("%Y-%m-%d")
        ),
    }
}

/// The feed itself: its id (Atom) and the URL readers subscribe to, into
/// the ledger line of feed `name`; the line, unless there is no id to keep.
fn adopt_feed_line(
    old: &ParsedFeed,
    name: String,
    ledger: &mut crate::plan::ledger::Ledger,
) -> Option<(String, FeedLine)> {
    let line = ledger
        .feeds
        .entry(name.clone())
        .or_insert_with(|| FeedLine {
            id: String::new(),
            format: None,
            self_url: None,
        });
    if let Some(id) = old.id.clone().filter(|i| !i.is_empty()) {
        line.id = id;
    } else if line.id.is_empty() {
        line.id = old.self_url.clone().unwrap_or_default();
    }
    if let Some(self_url) = &old.self_url {
        line.format = Some(old.format.extension().to_string());
        line.self_url = Some(self_url.clone());
    }
    if line.id.is_empty() {
        ledger.feeds.remove(&name);
        None
    } else {
        Some((name, line.clone()))
    }
}

/// The old feed's window: how many entries its document held, and the
/// `limit:` of the feed file that takes its place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// Entries in the old document.
    pub entries: usize,
    /// The feed file, such as `feeds/main.yaml`.
    pub file: String,
    /// `limit:` after adopt (`None`: `all`).
    pub limit: Option<usize>,
    /// What adopt did about it.
    pub action: WindowAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowAction {
    /// `limit:` already equals the window, or the old document held every
    /// post (its window cut nothing).
    Kept,
    /// The file had no `limit:` (the default 20): adopt wrote the window.
    Written,
    /// The file sets another `limit:` itself: adopt leaves it and says so.
    Differs,
}

/// A feed reader that subscribed to the old feed saw only its window
/// (jekyll-feed: the newest 10); a longer first document from tributary
/// shows the older posts to it as new. When the window cut the site's
/// posts, a feed file without `limit:` gets `limit:` equal to it; one that
/// sets its own is left as it is, and the report says so.
fn adopt_window(
    root: &Path,
    site: &Site,
    name: &str,
    old: &ParsedFeed,
    posts: usize,
) -> Result<Option<Window>, Error> {
    let entries = old.entries.len();
    let Some(def) = site.feeds.iter().find(|d| d.name == name && !d.per_tag) else {
        return Ok(None);
    };
    if entries == 0 {
        return Ok(None);
    }
    let limit = match def.limit {
        Limit::Count(n) => Some(n),
        Limit::All => None,
    };
    let mut window = Window {
        entries,
        file: def.path.display().to_string(),
        limit,
        action: WindowAction::Kept,
    };
    if entries >= posts || limit == Some(entries) {
        return Ok(Some(window));
    }
    if crate::config::key_line(&def.source_text, "limit").is_some() {
        window.action = WindowAction::Differs;
        return Ok(Some(window));
    }
    let path = root.join(&def.path);
    let mut text = def.source_text.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "# The old feed's window (tributary adopt): readers saw its newest {entries}.\nlimit: {entries}\n"
    ));
    crate::util::write::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))?;
    window.limit = Some(entries);
    window.action = WindowAction::Written;
    Ok(Some(window))
}

/// Which feed definition the adopted document is: `--feed`, else the one
/// whose output path is the document's URL path, else the only one.
fn choose_feed(
    site: &Site,
    old: &ParsedFeed,
    wanted: Option<&str>,
) -> Result<Option<String>, Error> {
    let defs: Vec<_> = site.feeds.iter().filter(|d| !d.per_tag).collect();
    if let Some(w) = wanted {
        return match defs.iter().find(|d| d.name == w) {
            Some(d) => Ok(Some(d.name.clone())),
            None => Err(Error::at(
                "feeds",
                None,
                format!("--feed {w}: there is no feeds/{w}.yaml"),
            )),
        };
    }
    if let Some(path) = old.self_url.as_deref().and_then(url_path) {
        for d in &defs {
            for f in Format::ALL {
                if url_path(&site.config.url_for(&d.output_path(f))).as_deref()
                    == Some(path.as_str())
                {
                    return Ok(Some(d.name.clone()));
                }
            }
        }
    }
    Ok(match defs.as_slice() {
        [only] => Some(only.name.clone()),
        _ => defs
            .iter()
            .find(|d| d.name == "main")
            .map(|d| d.name.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise() {
        assert_eq!(
            norm_url("https://LWKD.info/2024/20240101/"),
            "lwkd.info/2024/20240101"
        );
        assert_eq!(norm_url("http://www.lwkd.info/a/index.html"), "lwkd.info/a");
        assert_eq!(
            url_path("https://old.example/2024/x/").as_deref(),
            Some("/2024/x")
        );
        assert_eq!(
            norm_title("Week Ending July 8th, 2018"),
            "weekendingjuly8th2018"
        );
    }
}
