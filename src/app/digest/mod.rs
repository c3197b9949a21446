//! The weekly digest: the newsletter's "Subprojects and Dependency Updates"
//! section written from the release feeds already in the store.
//!
//! LWKD's editors end every week with `* [crictl to 1.11.1](…)` bullets
//! copied by hand from release pages; tributary already fetches those pages'
//! feeds. [`digest`] draws the combined feed's stored items exactly as a
//! build does (rules, related posts, copies of one story merged by
//! [`crate::merge`]), keeps the upstream releases published in a window and
//! writes one bullet per release, grouped by source. It also says where the
//! store may be missing releases ([`Gap`]): a release feed is a window (10
//! items on GitHub), and when a fetch brings only items never seen before,
//! releases may have come and gone between two fetches.
//!
//! The section goes into a post through a template ([`render_template`]),
//! a Markdown file with `{{slot}}`s; [`DEFAULT_TEMPLATE`] is shipped.

pub mod version;

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

use crate::app::aggregate::{self, Upstream};
use crate::app::build;
use crate::config::{FeedDef, Limit};
use crate::model::entry::Entry;
use crate::model::{Diagnostic, Error};
use crate::site::Site;
use crate::store::{ItemRecord, Store};

pub use self::version::{parse_version, releases_between, Version};

/// The template `new --from-digest` uses without `--template`.
pub const DEFAULT_TEMPLATE: &str = include_str!("template.md");

/// The slots a template may use.
pub const SLOTS: &[&str] = &["title", "date", "from", "to", "feed", "digest"];

/// Longest release note kept with `--notes`, in characters: a sub-bullet is
/// a line of a newsletter, not the release page.
pub const NOTE_CHARS: usize = 240;

/// What to do with pre-releases (`-rc.1`, `-beta`, `-alpha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PreReleases {
    /// Listed like any release.
    Include,
    /// Listed, with ` (pre-release)` after the link.
    #[default]
    Mark,
    /// Left out.
    Omit,
}

/// The time span a digest covers: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// The window from the command line: `--from`/`--to` dates (a bare
    /// `--to` date includes that whole day) or `--since` before `--to` (or
    /// `now`); 7 days when neither `--since` nor `--from` is given.
    pub fn parse(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Window, Error> {
        let to = match to {
            Some(t) => parse_instant("--to", t, tz, true)?,
            None => now,
        };
        let from = match (since, from) {
            (Some(_), Some(_)) => {
                return Err(usage(
                    "--since and --from both set the start of the window; give one of them",
                ))
            }
            (_, Some(f)) => parse_instant("--from", f, tz, false)?,
            (Some(s), None) => {
                let span = crate::config::parse_duration(s).ok_or_else(|| {
                    usage(format!(
                        "--since {s:?} is not a duration; write a number and s, m, h, d or w (7d, 2w)"
                    ))
                })?;
                to - span
            }
            (None, None) => to - Duration::days(7),
        };
        if from >= to {
            return Err(usage(format!(
                "the window ends before it starts ({} to {}); put --from before --to",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        Ok(Window { from, to })
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// `2026-11-14 and 2026-11-20` (whole days, the last one included) or
    /// `2026-11-14 09:30 and 2026-11-21 09:30` in the site's time zone.
    pub fn describe(&self, tz: chrono_tz::Tz) -> String {
        let (from, to) = self.bounds(tz);
        format!("{from} and {to}")
    }

    /// The first and the last day (or times) of the window, as written in messages and slots.
    pub fn bounds(&self, tz: chrono_tz::Tz) -> (String, String) {
        let (f, t) = (self.from.with_timezone(&tz), self.to.with_timezone(&tz));
        if f.time() == NaiveTime::MIN && t.time() == NaiveTime::MIN {
            let last = t - Duration::days(1);
            (
                f.format("%Y-%m-%d").to_string(),
                last.format("%Y-%m-%d").to_string(),
            )
        } else {
            (
                f.format("%Y-%m-%d %H:%M").to_string(),
                t.format("%Y-%m-%d %H:%M").to_string(),
            )
        }
    }
}

/// A `--from`/`--to` value: `YYYY-MM-DD` (midnight in the site's time zone;
/// for an end, the midnight after it) or RFC 3339.
fn parse_instant(
    flag: &str,
    text: &str,
    tz: chrono_tz::Tz,
    end: bool,
) -> Result<DateTime<Utc>, Error> {
    let t = text.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let day = if end { d.succ_opt().unwrap_or(d) } else { d };
        let local = tz
            .from_local_datetime(&day.and_time(NaiveTime::MIN))
            .earliest();
        if let Some(l) = local {
            return Ok(l.with_timezone(&Utc));
        }
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            usage(format!(
                "{flag} {text:?} is not a date; write YYYY-MM-DD or an RFC 3339 time (2026-11-20T12:00:00Z)"
            ))
        })
}

fn usage(message: impl Into<String>) -> Error {
    Error::at("digest", None, message)
}

/// What `tributary digest` is asked for.
#[derive(Debug, Clone)]
pub struct DigestOptions {
    /// `feeds/NAME.yaml`; default: the only feed with `upstreams:`, else `stream`.
    pub feed: Option<String>,
    pub window: Window,
    /// A sub-bullet with the first paragraph of each release's notes.
    pub notes: bool,
    pub pre_releases: PreReleases,
    /// "Now" for the build rules (future-dated posts and items); not the window.
    pub now: DateTime<Utc>,
}

/// A written digest.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The feed it was drawn from.
    pub feed: String,
    pub feed_title: String,
    /// The section: one bullet per release, gap notes as Markdown comments.
    pub markdown: String,
    /// How many releases it lists.
    pub releases: usize,
    pub gaps: Vec<Gap>,
    /// Sources of the feed that failed their latest fetch or were never
    /// fetched, with why (`not fetched since 2026-12-01 (cannot connect)`):
    /// their releases may be missing.
    pub unread: Vec<(String, String)>,
    /// One warning per gap and per unread source, for stderr.
    pub warnings: Vec<Diagnostic>,
}

/// Where a fixed-window source may have lost releases: one of its fetches
/// brought nothing but new items, so releases between the newest item
/// stored before and the oldest item of that fetch may never have been seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The source's name.
    pub source: String,
    /// The newest release stored before (its version, else its title).
    pub after: String,
    /// The oldest release of the fetch that did not overlap.
    pub before: String,
    /// The count told from the versions (same `MAJOR.MINOR`), if it can be.
    pub missing: Option<u64>,
    /// When `before` was published: where the note goes in the list.
    pub before_published: DateTime<Utc>,
}

impl Gap {
    /// `possible gap: 3 releases may be missing between 1.2.2 and 1.2.6`.
    pub fn message(&self) -> String {
        let what = match self.missing {
            Some(1) => "1 release may be missing".to_string(),
            Some(n) => format!("{n} releases may be missing"),
            None => "some releases may be missing".to_string(),
        };
        format!(
            "possible gap: {what} between {} and {}",
            self.after, self.before
        )
    }
}

/// The combined feed a digest reads: `name`, else the only feed with
/// upstreams, else `stream`.
pub fn select_feed<'a>(site: &'a Site, name: Option<&str>) -> Result<&'a FeedDef, Error> {
    let combined: Vec<&FeedDef> = site
        .feeds
        .iter()
        .filter(|f| !f.upstreams.is_empty())
        .collect();
    let wanted = match (name, combined.as_slice()) {
        (Some(n), _) => n,
        (None, [only]) => return Ok(only),
        (None, _) => "stream",
    };
    match site.feeds.iter().find(|f| f.name == wanted) {
        Some(f) if !f.upstreams.is_empty() => Ok(f),
        Some(f) => Err(Error::at(
            &f.path,
            None,
            format!(
                "feed {wanted:?} has no `upstreams:`, so it has no releases to digest; {}",
                choose(&combined)
            ),
        )),
        None => Err(Error::at(
            "feeds",
            None,
            format!(
                "there is no feed {wanted:?} (feeds/{wanted}.yaml); {}",
                choose(&combined)
            ),
        )),
    }
}

/// The `how to fix` of a wrong `--feed`: the feeds that would do.
fn choose(combined: &[&FeedDef]) -> String {
    if combined.is_empty() {
        return "no feed has `upstreams:` yet: add some to a feed file (see `tributary sources add`)"
            .to_string();
    }
    let names: Vec<&str> = combined.iter().map(|f| f.name.as_str()).collect();
    format!(
        "pass --feed with one of the feeds with upstreams: {}",
        names.join(", ")
    )
}

/// Write the digest of the feed `opts.feed` over `opts.window`.
pub fn digest(site: &Site, opts: &DigestOptions) -> Result<Digest, Error> {
    let def = select_feed(site, opts.feed.as_deref())?;
    let Some(store) = aggregate::open_existing_store(site)? else {
        return Err(never_fetched(def, &[]));
    };
    let tz = site.config.timezone;
    let Survey {
        mut gaps,
        unread,
        stored,
    } = survey(&*store, def, &opts.window, tz)?;
    drop(store);
    if stored == 0 {
        return Err(never_fetched(def, &unread));
    }
    let items = combined_items(site, def, opts.now)?;
    // Named in the error for an empty window: a draft written days after the
    // last fetch (or on a site whose feeds are fixed files) says where to look.
    let newest = items.iter().map(|e| e.published).max();
    let mut releases: Vec<Release> = items
        .into_iter()
        .filter(|e| opts.window.contains(e.published.with_timezone(&Utc)))
        .map(Release::of)
        .filter(|r| !(r.pre_release && opts.pre_releases == PreReleases::Omit))
        .collect();
    if releases.is_empty() && gaps.is_empty() {
        return Err(nothing_in_window(def, opts, tz, newest));
    }
    // Grouped by source in the feed file's order (a source the feed no
    // longer names last); newest first within a group, as `merge` sorted them.
    let rank = |name: &str| {
        def.upstreams
            .iter()
            .position(|u| u.name == name)
            .unwrap_or(def.upstreams.len())
    };
    releases.sort_by_key(|r| rank(&r.source));
    gaps.sort_by(|a, b| {
        rank(&a.source)
            .cmp(&rank(&b.source))
            .then(b.before_published.cmp(&a.before_published))
    });
    let markdown = write_section(&releases, &gaps, &unread, &rank, opts);
    let warnings = missing_releases(def, &unread, &gaps);
    Ok(Digest {
        feed: def.name.clone(),
        feed_title: def
            .title
            .clone()
            .unwrap_or_else(|| site.config.title.clone()),
        markdown,
        releases: releases.len(),
        gaps,
        unread,
        warnings,
    })
}

/// What the store says of a feed's sources before any item is read.
struct Survey {
    /// The possible gaps in the window.
    gaps: Vec<Gap>,
    /// The sources not read lately, with why.
    unread: Vec<(String, String)>,
    /// How many items the store holds for the feed.
    stored: usize,
}

/// Each upstream of `def` in the store: its items counted, its gaps in
/// `window`, and why it was not read lately, if it was not.
fn survey(
    store: &dyn Store,
    def: &FeedDef,
    window: &Window,
    tz: chrono_tz::Tz,
) -> Result<Survey, Error> {
    let mut survey = Survey {
        gaps: Vec::new(),
        unread: Vec::new(),
        stored: 0,
    };
    for up in &def.upstreams {
        let records = store.dump_items(&up.key)?;
        survey.stored += records.len();
        survey.gaps.extend(find_gaps(&up.name, &records, window));
        if let Some(why) = crate::store::health::stale_note(store.source(&up.key)?.as_ref(), tz) {
            survey.unread.push((up.name.clone(), why));
        }
    }
    Ok(survey)
}

/// An empty store: run `fetch` first, and why the fetches tried failed,
/// each source's reason.
fn never_fetched(def: &FeedDef, unread: &[(String, String)]) -> Error {
    let tried: Vec<String> = unread
        .iter()
        .filter(|(_, why)| why.contains('('))
        .map(|(source, why)| format!("{source}: {why}"))
        .collect();
    Error::at(
        &def.path,
        None,
        format!(
            "the store has no items for feed {}: run `tributary fetch` first{}",
            def.name,
            if tried.is_empty() {
                String::new()
            } else {
                format!(" (its fetches failed: {})", tried.join("; "))
            }
        ),
    )
}

/// No release and no gap in the window: widen it (up to the feed's
/// `newest` item, if it has one) or fetch.
fn nothing_in_window(
    def: &FeedDef,
    opts: &DigestOptions,
    tz: chrono_tz::Tz,
    newest: Option<DateTime<chrono::FixedOffset>>,
) -> Error {
    Error::at(
        &def.path,
        None,
        format!(
            "no releases between {} in feed {}{}: widen the window (--since 30d, --from DATE{}) or fetch (--fetch)",
            opts.window.describe(tz),
            def.name,
            newest.map_or(String::new(), |t| format!(
                "; its newest item is from {}",
                t.with_timezone(&tz).format("%Y-%m-%d")
            )),
            newest.map_or(String::new(), |t| format!(
                ", --to {}",
                t.with_timezone(&tz).format("%Y-%m-%d")
            )),
        ),
    )
}

/// One warning per unread source and per gap: releases may be missing.
fn missing_releases(def: &FeedDef, unread: &[(String, String)], gaps: &[Gap]) -> Vec<Diagnostic> {
    let mut warnings: Vec<Diagnostic> = unread
        .iter()
        .map(|(source, why)| {
            Diagnostic::warning(
                &def.path,
                None,
                format!(
                    "{source}: {why}; its releases may be missing (`tributary sources show {source:?}`)"
                ),
            )
        })
        .collect();
    warnings.extend(gaps.iter().map(|g| {
        Diagnostic::warning(
            &def.path,
            None,
            format!(
                "{}: {}; look for them on the project's releases page, and fetch it more often (`schedule:`) so that its feed's window overlaps",
                g.source,
                g.message()
            ),
        )
    }));
    warnings
}

/// The upstream entries of `def` as its combined feed holds them — the same
/// plan a build makes, on a site with only this feed, every entry kept
/// (no `limit:` nor `max_age:`: the digest's window decides) — without its
/// local posts: an upstream repost of an edition is that edition, not a release.
fn combined_items(site: &Site, def: &FeedDef, now: DateTime<Utc>) -> Result<Vec<Entry>, Error> {
    let mut def = def.clone();
    def.limit = Limit::All;
    def.archive = false;
    def.per_tag = false;
    def.max_age = None;
    let one = Site {
        feeds: vec![def],
        ..site.clone()
    };
    // A broken post is `build`'s to report; here it only cannot absorb a repost.
    let posts = build::load_posts(&one)?.posts;
    let mut ledger = build::load_ledger(&one.root)?;
    let upstream = Upstream::load(&one)?;
    let opts = build::Options {
        now,
        ..build::Options::default()
    };
    let plan = build::plan(&one, &posts, &mut ledger, &upstream, &opts)?;
    Ok(plan
        .entries
        .into_iter()
        .filter(|p| p.feed == Some(0) && p.post.is_none())
        .map(|p| p.entry)
        .collect())
}

/// One bullet of the digest.
#[derive(Debug, Clone)]
struct Release {
    /// The source it is grouped under (the earliest copy's).
    source: String,
    project: String,
    version: Option<String>,
    pre_release: bool,
    title: String,
    url: String,
    published: DateTime<Utc>,
    note: Option<String>,
}

impl Release {
    fn of(e: Entry) -> Release {
        let source = e
            .sources
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let found = version_of(&e);
        let pre_release = found.as_ref().is_some_and(|(v, in_title)| {
            v.is_pre_release()
                || (*in_title && says_pre_release(e.title.get(v.end..).unwrap_or("")))
        });
        let mut project = found
            .as_ref()
            .and_then(|(v, in_title)| in_title.then(|| project_in_title(&e.title, v)))
            .flatten()
            .unwrap_or_else(|| project_of_source(&source));
        if let Some((repo, component)) = tag_component(&e.url) {
            // `controller-v1.11.3` names a part of ingress-nginx, not a
            // project called "controller": keep the repository.
            let p = project.to_lowercase();
            let plain = [&component, &repo, &project_of_source(&source)]
                .iter()
                .any(|n| n.to_lowercase() == p);
            if plain {
                project = format!("{repo} {component}");
            }
        }
        let note = e
            .content_html
            .as_deref()
            .and_then(release_note)
            .or_else(|| e.summary_html.as_deref().and_then(release_note));
        // Tracking parameters are the reposter's, not the release's; the
        // scheme stays as the project wrote it.
        let url = match crate::merge::canonical_url(&e.url) {
            Some(c) if e.url.trim_start().starts_with("http://") => {
                c.replacen("https://", "http://", 1)
            }
            Some(c) => c,
            None => e.url.clone(),
        };
        Release {
            source,
            project,
            version: found.map(|(v, _)| v.text),
            pre_release,
            title: e.title,
            url,
            published: e.published.with_timezone(&Utc),
            note,
        }
    }

    /// `* [PROJECT to VERSION](URL)`, ` (pre-release)` when marked, and the
    /// note as an indented sub-bullet.
    fn bullet(&self, opts: &DigestOptions) -> String {
        let text = match &self.version {
            Some(v) => format!("{} to {v}", self.project),
            None => self.title.clone(),
        };
        let mut out = format!("* [{}]({})", escape(&text), link(&self.url));
        if self.pre_release && opts.pre_releases == PreReleases::Mark {
            out.push_str(" (pre-release)");
        }
        out.push('\n');
        if let (true, Some(note)) = (opts.notes, &self.note) {
            out.push_str(&format!("  * {}\n", escape(note)));
        }
        out
    }
}

/// The section: each source's bullets in `rank` order, a source that could
/// not be read saying so first, and its gaps as comments where the missing
/// releases would be (just older than the release after the gap). Comments
/// are for whoever edits the post; readers never see them.
fn write_section(
    releases: &[Release],
    gaps: &[Gap],
    unread: &[(String, String)],
    rank: &dyn Fn(&str) -> usize,
    opts: &DigestOptions,
) -> String {
    let mut sources: Vec<&str> = Vec::new();
    for s in releases
        .iter()
        .map(|r| r.source.as_str())
        .chain(gaps.iter().map(|g| g.source.as_str()))
        .chain(unread.iter().map(|(s, _)| s.as_str()))
    {
        if !sources.contains(&s) {
            sources.push(s);
        }
    }
    sources.sort_by_key(|s| rank(s));
    let mut out = String::new();
    for source in sources {
        for (_, why) in unread.iter().filter(|(s, _)| s == source) {
            out.push_str(&format!("<!-- {source}: {why} -->\n"));
        }
        let mut pending: Vec<&Gap> = gaps.iter().filter(|g| g.source == source).collect();
        for r in releases.iter().filter(|r| r.source == source) {
            while let Some(g) = pending.first().filter(|g| r.published < g.before_published) {
                out.push_str(&format!("<!-- {} -->\n", g.message()));
                pending.remove(0);
            }
            out.push_str(&r.bullet(opts));
        }
        for g in pending {
            out.push_str(&format!("<!-- {} -->\n", g.message()));
        }
    }
    out
}

/// The version of a release and whether the title holds it: the title,
/// else the tag its link names (`…/releases/tag/v1.2.3`), else the link's
/// last path segment.
fn version_of(e: &Entry) -> Option<(Version, bool)> {
    if let Some(v) = parse_version(&e.title) {
        return Some((v, true));
    }
    let url = url::Url::parse(&e.url).ok()?;
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let tag = segments
        .iter()
        .position(|s| *s == "tag")
        .and_then(|i| segments.get(i + 1))
        .or(segments.last())?;
    parse_version(tag).map(|v| (v, false))
}

/// Whether the words after a title's version call the release a
/// pre-release ("24.1.0 is in Beta"); the words before it are the project's
/// name, which may well be Alpha.
fn says_pre_release(after_version: &str) -> bool {
    let lower = after_version.to_lowercase();
    lower.contains("release candidate")
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| matches!(w, "alpha" | "beta" | "rc" | "preview"))
}

/// Words before the version that are not a project's name.
const NOT_PROJECT: &[&str] = &["release", "released", "releases", "version", "to", "v"];

/// The project a title names before its version (`etcd` in `etcd
/// v3.5.17`, `Riverbed` in `Riverbed 3.2.0 released`); `None` when there is
/// nothing but `Release` or a sentence (more than four words) before it.
fn project_in_title(title: &str, v: &Version) -> Option<String> {
    let head = title.get(..v.start)?;
    let mut words: Vec<&str> = head
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    while words
        .last()
        .is_some_and(|w| NOT_PROJECT.contains(&w.to_lowercase().as_str()))
    {
        words.pop();
    }
    if words.is_empty() || words.len() > 4 {
        return None;
    }
    // `release-1.2`, `controller-v1.2`: a name glued with a dash is one word.
    let name = words.join(" ");
    (!NOT_PROJECT.contains(&name.to_lowercase().as_str())).then_some(name)
}

/// The project a source is named for: its `name:` without a trailing
/// `releases` (`Riverbed releases` is the project Riverbed).
fn project_of_source(name: &str) -> String {
    let mut words: Vec<&str> = name.split_whitespace().collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| NOT_PROJECT.contains(&w.to_lowercase().as_str()))
    {
        words.pop();
    }
    words.join(" ")
}

/// The repository and the component a release tag names besides its
/// version: `("ingress-nginx", "controller")` for
/// `…/kubernetes/ingress-nginx/releases/tag/controller-v1.11.3`,
/// `("kustomize", "cmd/config")` for `…/releases/tag/cmd/config/v0.15.0`.
/// `None` for a plain tag (`v1.2.3`) or one naming the repository itself.
fn tag_component(link: &str) -> Option<(String, String)> {
    let url = url::Url::parse(link).ok()?;
    let segments: Vec<String> = url
        .path_segments()?
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("%2F", "/").replace("%2f", "/"))
        .collect();
    let at = segments
        .windows(2)
        .position(|w| w[0] == "releases" && w[1] == "tag")?;
    let repo = segments.get(at.checked_sub(1)?)?.clone();
    let tag = segments.get(at + 2..)?.join("/");
    let v = parse_version(&tag)?;
    let head = tag.get(..v.start)?;
    let component = head.trim_end_matches(['-', '_', '/', '.', ' ', '@']);
    if component.is_empty() || component.eq_ignore_ascii_case(&repo) {
        return None;
    }
    Some((repo, component.to_string()))
}

/// The note of a release: GitHub's generated notes ("What's Changed", a
/// list of pull requests, a "Full Changelog" link) give the first item
/// without its "by @user in URL" unless words of the release's own come
/// first; other notes give their first paragraph. A changelog link alone
/// is no note.
fn release_note(html: &str) -> Option<String> {
    let note = match whats_changed(html) {
        Some((start, end)) => first_paragraph(html.get(..start).unwrap_or_default())
            .filter(|p| !is_changelog_link(p))
            .or_else(|| first_item(html.get(end..).unwrap_or_default())),
        None => first_paragraph(html),
    };
    note.filter(|n| !is_changelog_link(n))
}

fn is_changelog_link(text: &str) -> bool {
    text.to_lowercase().starts_with("full changelog")
}

/// Where the "What's Changed" heading is: its start and end.
fn whats_changed(html: &str) -> Option<(usize, usize)> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower.get(from..)?.find("<h").map(|a| from + a) {
        let level = lower.as_bytes().get(at + 2).copied();
        from = at + 2;
        if !level.is_some_and(|c| (b'1'..=b'6').contains(&c)) {
            continue;
        }
        let close = format!("</h{}>", char::from(level.unwrap_or(b'1')));
        let end = lower[at..].find(&close).map(|e| at + e + close.len())?;
        let text = crate::util::text::html_to_text(html.get(at..end).unwrap_or_default())
            .to_lowercase()
            .replace(['\u{2019}', '`'], "'");
        if text.trim().starts_with("what's changed") {
            return Some((at, end));
        }
        from = end;
    }
    None
}

/// The first `<li>` as plain text, without GitHub's "by @user in URL" tail.
fn first_item(html: &str) -> Option<String> {
    static TAIL: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<li")?;
    let end = lower[start..]
        .find("</li>")
        .map_or(html.len(), |e| start + e);
    let text = crate::util::text::html_to_text(html.get(start..end).unwrap_or_default());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let tail = TAIL.get_or_init(|| {
        regex::Regex::new(r"(?i)(\s+by\s+@[\w.-]+(\[bot\])?)?(\s+in\s+(https?://\S+|#\d+))?\s*$")
            .ok()
    });
    let text = match tail {
        Some(re) => re.replace(&text, "").into_owned(),
        None => text,
    };
    let text = text.trim();
    (!text.is_empty()).then(|| crate::util::text::shorten(text, NOTE_CHARS))
}

/// The first paragraph of release notes as plain text, at most
/// [`NOTE_CHARS`] characters (cut at a word, `…` added): the first `<p>`,
/// else the whole text; headings (`<h2>Riverbed 3.2.0</h2>`) repeat the
/// title and are not notes.
fn first_paragraph(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    let mut text = String::new();
    while let Some(at) = find_p(&lower[from..]) {
        let start = from + at;
        let end = lower[start..]
            .find("</p>")
            .map_or(html.len(), |e| start + e);
        text = crate::util::text::html_to_text(html.get(start..end).unwrap_or_default());
        if !text.trim().is_empty() {
            break;
        }
        from = end;
    }
    if text.trim().is_empty() {
        text = crate::util::text::html_to_text(&strip_headings(html));
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return None;
    }
    Some(crate::util::text::shorten(&text, NOTE_CHARS))
}

/// Where the next `<p>` or `<p …>` starts (not `<pre>`, `<param>`).
fn find_p(lower: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = lower[from..].find("<p") {
        let at = from + i;
        match lower.as_bytes().get(at + 2) {
            Some(b'>') | Some(b' ') | Some(b'\t') | Some(b'\n') => return Some(at),
            _ => from = at + 2,
        }
    }
    None
}

/// `html` without its `<h1>`…`<h6>` elements.
fn strip_headings(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while let Some(at) = lower[i..].find("<h").map(|a| i + a) {
        let level = lower.as_bytes().get(at + 2).copied();
        if !level.is_some_and(|c| (b'1'..=b'6').contains(&c)) {
            out.push_str(&html[i..at + 2]);
            i = at + 2;
            continue;
        }
        out.push_str(&html[i..at]);
        let close = format!("</h{}>", char::from(level.unwrap_or(b'1')));
        i = lower[at..]
            .find(&close)
            .map_or(html.len(), |e| at + e + close.len());
    }
    out.push_str(&html[i..]);
    out
}

/// Plain text made safe for Markdown: characters that would start emphasis,
/// a link, code or HTML (or, first, a heading) are escaped with `\`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '`' | '<' | '>') || (i == 0 && c == '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A URL as a Markdown link destination: spaces and parentheses encoded.
fn link(url: &str) -> String {
    url.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

/// The gaps of one source that touch `window`. Each fetch stamps the items
/// it brings first with its time (`first_seen`); the latest fetch stamps
/// every item it held (`last_seen`), so their count is the feed's window.
/// A fetch that brought at least a window's worth of new items, after
/// earlier ones, overlapped nothing stored: releases between the newest
/// item stored before it and its oldest may be missing. `first_seen` never
/// changes, so a gap is reported in every digest over its dates, not only
/// until the next fetch.
pub fn find_gaps(source: &str, records: &[ItemRecord], window: &Window) -> Vec<Gap> {
    let Some(latest) = records.iter().map(|r| r.last_seen).max() else {
        return Vec::new();
    };
    let size = records.iter().filter(|r| r.last_seen == latest).count();
    let mut fetches: Vec<DateTime<Utc>> = records.iter().map(|r| r.item.first_seen).collect();
    fetches.sort_unstable();
    fetches.dedup();
    let mut out = Vec::new();
    for &t in fetches.iter().skip(1) {
        let brought: Vec<&ItemRecord> = records.iter().filter(|r| r.item.first_seen == t).collect();
        if brought.len() < size {
            continue;
        }
        let before: Vec<&ItemRecord> = records.iter().filter(|r| r.item.first_seen < t).collect();
        // Versions tell a gap only while ids are stable: a fetch whose "new"
        // items are stored ones under new ids (same link, or same version)
        // overlapped the earlier fetches.
        if brought
            .iter()
            .any(|b| before.iter().any(|a| same_release(&a.item, &b.item)))
        {
            continue;
        }
        let (Some((after, va, a_at)), Some((before_label, vb, b_at))) =
            (bound(&before, true), bound(&brought, false))
        else {
            continue;
        };
        let missing = match (&va, &vb) {
            (Some(a), Some(b)) => releases_between(a, b),
            _ => None,
        };
        // Consecutive patch releases: nothing can be missing.
        if missing == Some(0) {
            continue;
        }
        if a_at >= window.to || b_at < window.from {
            continue;
        }
        out.push(Gap {
            source: source.to_string(),
            after,
            before: before_label,
            missing,
            before_published: b_at,
        });
    }
    out
}

/// One end of a gap among `set`: its newest item (else its oldest), a
/// release if there is one (a nightly or a blog post says nothing of
/// versions); its label (version, else title), version and date.
fn bound(set: &[&ItemRecord], newest: bool) -> Option<(String, Option<Version>, DateTime<Utc>)> {
    let published = |r: &ItemRecord| r.item.entry.published.with_timezone(&Utc);
    let versioned: Vec<&&ItemRecord> = set
        .iter()
        .filter(|r| version_of(&r.item.entry).is_some())
        .collect();
    let pool: Vec<&&ItemRecord> = if versioned.is_empty() {
        set.iter().collect()
    } else {
        versioned
    };
    let r = if newest {
        pool.into_iter().max_by_key(|r| published(r))
    } else {
        pool.into_iter().min_by_key(|r| published(r))
    }?;
    let v = version_of(&r.item.entry).map(|(v, _)| v);
    let label = v
        .as_ref()
        .map_or_else(|| r.item.entry.title.clone(), |v| v.text.clone());
    Some((label, v, published(r)))
}

/// Whether two stored items are one release under two ids: the same link,
/// or the same version read from title or tag.
fn same_release(a: &crate::store::StoredItem, b: &crate::store::StoredItem) -> bool {
    let link =
        |s: &crate::store::StoredItem| s.canonical_url.clone().unwrap_or(s.entry.url.clone());
    if link(a) == link(b) {
        return true;
    }
    match (version_of(&a.entry), version_of(&b.entry)) {
        (Some((va, _)), Some((vb, _))) => va.text == vb.text,
        _ => false,
    }
}

/// Fill a template's `{{slot}}`s (spaces inside the braces allowed).
/// A slot the template names that is not in `values`, or `{{` left open, is
/// an error at its line of `path`: a misspelt slot would otherwise be
/// published as written.
pub fn render_template(
    template: &str,
    values: &HashMap<&str, String>,
    path: &Path,
) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let offset = template.len() - rest.len() + open;
        let line = template[..offset].matches('\n').count() + 1;
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(Error::at(
                path,
                Some(line),
                "`{{` is not closed; write a slot as {{digest}}",
            ));
        };
        let name = after[..close].trim();
        match values.get(name) {
            Some(v) => out.push_str(v.trim_end_matches('\n')),
            None => {
                let known: Vec<String> = SLOTS.iter().map(|s| format!("{{{{{s}}}}}")).collect();
                return Err(Error::at(
                    path,
                    Some(line),
                    format!(
                        "unknown slot {{{{{name}}}}}; the slots are {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The values of every slot for a digest written on `date` titled `title`.
pub fn slot_values(
    d: &Digest,
    window: &Window,
    tz: chrono_tz::Tz,
    title: &str,
    date: &str,
) -> HashMap<&'static str, String> {
    let (from, to) = window.bounds(tz);
    HashMap::from([
        ("title", title.to_string()),
        ("date", date.to_string()),
        ("from", from),
        ("to", to),
        ("feed", d.feed.clone()),
        ("digest", d.markdown.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredItem;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn record(title: &str, published: &str, first: &str, last: &str) -> ItemRecord {
        let p = DateTime::parse_from_rfc3339(published).unwrap_or_default();
        ItemRecord {
            item: StoredItem {
                entry: Entry {
                    id: title.into(),
                    url: format!("https://github.com/o/r/releases/tag/{title}"),
                    title: title.into(),
                    published: p,
                    updated: p,
                    ..Entry::default()
                },
                canonical_url: None,
                first_seen: at(first),
            },
            last_seen: at(last),
        }
    }

    fn wide() -> Window {
        Window {
            from: at("2000-01-01T00:00:00Z"),
            to: at("2100-01-01T00:00:00Z"),
        }
    }

    const T1: &str = "2026-01-01T00:00:00Z";
    const T2: &str = "2026-02-01T00:00:00Z";

    #[test]
    fn a_fetch_of_only_new_items_is_a_gap() {
        let records = vec![
            record("v1.2.1", "2025-12-01T00:00:00Z", T1, T1),
            record("v1.2.2", "2025-12-10T00:00:00Z", T1, T1),
            record("v1.2.6", "2026-01-20T00:00:00Z", T2, T2),
            record("v1.2.7", "2026-01-25T00:00:00Z", T2, T2),
        ];
        let gaps = find_gaps("alpha", &records, &wide());
        assert_eq!(gaps.len(), 1);
        assert_eq!(
            gaps[0].message(),
            "possible gap: 3 releases may be missing between 1.2.2 and 1.2.6"
        );
        // Outside the window: not this digest's concern.
        let later = Window {
            from: at("2026-01-21T00:00:00Z"),
            to: at("2026-02-01T00:00:00Z"),
        };
        assert!(find_gaps("alpha", &records, &later).is_empty());
    }

    #[test]
    fn overlapping_fetches_and_consecutive_versions_are_no_gap() {
        // The second fetch held v1.2.2 again: it overlapped.
        let overlapping = vec![
            record("v1.2.1", "2025-12-01T00:00:00Z", T1, T1),
            record("v1.2.2", "2025-12-10T00:00:00Z", T1, T2),
            record("v1.2.6", "2026-01-20T00:00:00Z", T2, T2),
        ];
        assert!(find_gaps("a", &overlapping, &wide()).is_empty());
        let consecutive = vec![
            record("v1.2.2", "2025-12-10T00:00:00Z", T1, T1),
            record("v1.2.3", "2026-01-20T00:00:00Z", T2, T2),
        ];
        assert!(find_gaps("a", &consecutive, &wide()).is_empty());
        // Across minor versions the count cannot be told.
        let minor = vec![
            record("v1.2.2", "2025-12-10T00:00:00Z", T1, T1),
            record("v1.3.0", "2026-01-20T00:00:00Z", T2, T2),
        ];
        assert_eq!(
            find_gaps("a", &minor, &wide())[0].message(),
            "possible gap: some releases may be missing between 1.2.2 and 1.3.0"
        );
        // The first fetch of a source is no gap.
        assert!(find_gaps("a", &minor[..1], &wide()).is_empty());
    }

    #[test]
    fn first_paragraph_skips_headings_and_is_bounded() {
        let html = "<h2>Riverbed 3.2.0</h2>\n<p>Streaming compaction is on by default. See the <a href=\"x\">changelog</a>.</p><p>More.</p>";
        assert_eq!(
            first_paragraph(html).as_deref(),
            Some("Streaming compaction is on by default. See the changelog.")
        );
        assert_eq!(
            first_paragraph("<h2>Title</h2>Just text").as_deref(),
            Some("Just text")
        );
        assert_eq!(first_paragraph("<p> </p>"), None);
        let long = format!("<p>{}</p>", "word ".repeat(100));
        let note = first_paragraph(&long).unwrap_or_default();
        assert!(
            note.ends_with('…') && note.chars().count() <= NOTE_CHARS + 1,
            "{note}"
        );
    }

    #[test]
    fn components_of_release_tags() {
        let t = |u: &str| tag_component(u).map(|(r, c)| format!("{r} {c}"));
        assert_eq!(
            t("https://github.com/kubernetes/ingress-nginx/releases/tag/controller-v1.11.3")
                .as_deref(),
            Some("ingress-nginx controller")
        );
        assert_eq!(
            t("https://github.com/kubernetes-sigs/kustomize/releases/tag/cmd/config/v0.15.0")
                .as_deref(),
            Some("kustomize cmd/config")
        );
        assert_eq!(
            t("https://github.com/kubernetes-sigs/kustomize/releases/tag/kustomize%2Fv5.5.0"),
            None
        );
        assert_eq!(
            t("https://github.com/etcd-io/etcd/releases/tag/v3.5.17"),
            None
        );
        assert_eq!(t("https://blog.example.org/2026/12/v1.2"), None);
    }

    #[test]
    fn notes_of_generated_release_bodies() {
        let listed = "<h2>What&#39;s Changed</h2><ul><li>Add a flag by @dev-1 in https://github.com/o/r/pull/7</li>\
                      <li>Two</li></ul><p><strong>Full Changelog</strong>: <a href=\"x\">v1...v2</a></p>";
        assert_eq!(release_note(listed).as_deref(), Some("Add a flag"));
        let bot = "<h3>What’s Changed</h3><ul><li>Bump x from 1 to 2 by <a href=\"u\">@dependabot</a>[bot] in <a href=\"p\">#9</a></li></ul>";
        assert_eq!(release_note(bot).as_deref(), Some("Bump x from 1 to 2"));
        assert_eq!(
            release_note("<p><strong>Full Changelog</strong>: <a href=\"x\">v1...v2</a></p>"),
            None
        );
        assert_eq!(
            release_note("<p>Plain notes.</p>").as_deref(),
            Some("Plain notes.")
        );
    }

    #[test]
    fn projects_from_titles() {
        let p = |t: &str| parse_version(t).and_then(|v| project_in_title(t, &v));
        assert_eq!(p("etcd v3.5.17").as_deref(), Some("etcd"));
        assert_eq!(p("Riverbed 3.2.0 released").as_deref(), Some("Riverbed"));
        assert_eq!(p("Release v1.2.3"), None);
        assert_eq!(p("release-1.2"), None);
        assert_eq!(p("v1.31.0"), None);
        assert_eq!(p("We are very happy to announce 1.2.0"), None);
        assert_eq!(project_of_source("Riverbed releases"), "Riverbed");
        assert_eq!(project_of_source("etcd"), "etcd");
        assert_eq!(project_of_source("Release"), "Release");
    }

    #[test]
    fn templates_fill_slots_and_reject_unknown_ones() {
        let values = HashMap::from([("title", "T".to_string()), ("digest", "* a\n".to_string())]);
        let out = render_template("# {{title}}\n\n{{ digest }}\n", &values, Path::new("t.md"));
        assert_eq!(out.ok().as_deref(), Some("# T\n\n* a\n"));
        let err = render_template("a\n{{titel}}\n", &values, Path::new("t.md"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("t.md:2: unknown slot {{titel}}"), "{err}");
    }

    #[test]
    fn windows() {
        let now = at("2026-11-20T12:00:00Z");
        let tz = chrono_tz::UTC;
        let w = Window::parse(Some("7d"), None, Some("2026-11-20"), tz, now).ok();
        assert_eq!(
            w.map(|w| w.describe(tz)).as_deref(),
            Some("2026-11-14 and 2026-11-20")
        );
        let w = Window::parse(None, Some("2026-11-01"), Some("2026-11-07"), tz, now).ok();
        assert_eq!(
            w.map(|w| (w.from, w.to)),
            Some((at("2026-11-01T00:00:00Z"), at("2026-11-08T00:00:00Z")))
        );
        assert!(Window::parse(Some("7x"), None, None, tz, now).is_err());
        assert!(Window::parse(None, Some("2026-11-09"), Some("2026-11-07"), tz, now).is_err());
        assert!(Window::parse(Some("7d"), Some("2026-11-01"), None, tz, now).is_err());
    }
}
