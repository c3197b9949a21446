//! Aggregation: the upstream sources that feed files name are fetched into
//! the store (`fetch`), and drawn from it into combined feeds (`combine`).
//!
//! The pieces it joins each have their own module: `fetch` (HTTP), `parse`
//! (any feed document), `store` (SQLite), `merge` (same story, related, rules).

use crate::config::{FeedDef, Limit, UpstreamLocation};
use crate::config::{MatchRule, Matcher};
use crate::fetch::{self, Fetcher, Outcome, Validators};
use crate::merge::{self, MergeOptions};
use crate::model::entry::{Entry, Source};
use crate::model::Error;
use crate::parse::{self, ParseError};
use crate::site::Site;
use crate::store::{SourceState, Store, StoredItem};
use crate::util::par::parallel_map;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use std::collections::{HashMap, HashSet};
use url::Url;

/// How often a source without `schedule:` is fetched (as miniflux does by default).
pub const DEFAULT_INTERVAL_MINUTES: i64 = 60;

/// One upstream source as the feed files configure it, deduplicated by key
/// (the same URL in two feed files is fetched once).
#[derive(Debug, Clone)]
pub struct ConfiguredSource {
    /// The URL or path as written: the source's key in the store.
    pub key: String,
    pub name: String,
    pub location: UpstreamLocation,
    pub schedule: Option<cron::Schedule>,
    /// The feed files that draw from it.
    pub feeds: Vec<String>,
    /// How many of its newest items the store keeps: the most any feed
    /// file asks for.
    pub keep: Limit,
}

/// Every upstream source of the site, in feed-file order; the first feed
/// file that names a source gives its name and schedule (else the site's
/// `schedule:`, else hourly).
pub fn configured_sources(site: &Site) -> Vec<ConfiguredSource> {
    let mut out: Vec<ConfiguredSource> = Vec::new();
    for def in &site.feeds {
        for u in &def.upstreams {
            match out.iter_mut().find(|s| s.key == u.key) {
                Some(s) => {
                    if !s.feeds.contains(&def.name) {
                        s.feeds.push(def.name.clone());
                    }
                    if s.schedule.is_none() {
                        s.schedule = u.schedule.clone();
                    }
                    s.keep = match (s.keep, u.keep) {
                        (Limit::Count(a), Limit::Count(b)) => Limit::Count(a.max(b)),
                        _ => Limit::All,
                    };
                }
                None => out.push(ConfiguredSource {
                    key: u.key.clone(),
                    name: u.name.clone(),
                    location: u.location.clone(),
                    schedule: u.schedule.clone(),
                    feeds: vec![def.name.clone()],
                    keep: u.keep,
                }),
            }
        }
    }
    for s in &mut out {
        if s.schedule.is_none() {
            s.schedule = site.config.schedule.clone();
        }
    }
    out
}

/// Open (creating if needed) the site's store.
pub fn open_store(site: &Site) -> Result<Box<dyn Store + Send>, Error> {
    site.open_store()
}

/// Open the site's store if it has one already; `None` before the first
/// fetch into a SQLite file (reading must not create it).
pub fn open_existing_store(site: &Site) -> Result<Option<Box<dyn Store + Send>>, Error> {
    site.open_existing_store()
}

/// Where combined feeds find their upstream items: the store, opened when
/// the site has upstreams and something was fetched.
#[derive(Default)]
pub struct Upstream {
    store: Option<Box<dyn Store + Send>>,
}

impl Upstream {
    /// Open the store of a site with upstreams; none when nothing was fetched yet.
    pub fn load(site: &Site) -> Result<Upstream, Error> {
        if configured_sources(site).is_empty() {
            return Ok(Upstream::default());
        }
        Ok(Upstream {
            store: open_existing_store(site)?,
        })
    }

    /// The items of `key`, with dates no reader should see made plausible:
    /// a date in the future (an upstream that dates items 2999 would sit on
    /// top of the stream for ever) or before 1970 becomes the time the item
    /// was first seen, which never changes.
    /// `limit`: only the newest so many (by stored date), read through the
    /// store's date index.
    fn items(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: Option<usize>,
    ) -> Result<Vec<Entry>, Error> {
        let Some(s) = &self.store else {
            return Ok(Vec::new());
        };
        let stored = match limit {
            Some(n) => s.recent_items(key, n)?,
            None => s.items(key)?,
        };
        let mut out = Vec::new();
        for item in stored {
            let mut e = item.entry;
            let seen = item.first_seen.fixed_offset();
            let implausible = |d: &DateTime<chrono::FixedOffset>| {
                *d > now + Duration::minutes(5) || d.timestamp() < 0
            };
            if implausible(&e.published) {
                e.published = seen;
            }
            if implausible(&e.updated) || e.updated < e.published {
                e.updated = e.published;
            }
            out.push(e);
        }
        Ok(out)
    }

    fn item(&self, key: &str, id: &str) -> Result<Option<Entry>, Error> {
        match &self.store {
            Some(s) => Ok(s.item(key, id)?.map(|i| i.entry)),
            None => Ok(None),
        }
    }
}

/// What `tributary fetch` is asked to do.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Every enabled source now, ignoring schedules, minimum intervals and backoff.
    pub all: bool,
    /// Only the source with this name or key, now (whatever its schedule).
    pub only: Option<String>,
    /// Only these sources (by key), when due: `serve` fetches each batch of
    /// due sources on its own, so a slow one does not hold up the others.
    pub keys: Option<Vec<String>>,
    /// Limits shared with other runs going on at the same time (`serve`'s
    /// batches); `None`: this run's own.
    pub slots: Option<std::sync::Arc<fetch::Slots>>,
    /// Give each source's lease back to this holder as soon as its new
    /// state is saved, not when the whole run ends.
    pub release_to: Option<String>,
    /// The caller's set of sources in flight: each leaves it as soon as its
    /// state is saved, so that a slow source does not keep its batch's
    /// others from being scheduled again.
    pub in_flight: Option<std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>>,
    pub now: DateTime<Utc>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// What one source's fetch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceResult {
    Fetched {
        items: usize,
        new: usize,
    },
    NotModified,
    Failed(String),
    Gone,
    /// Not due yet (`next_due` in the future).
    NotDue,
    /// Fetched by another process on the same store meanwhile (or being fetched).
    Elsewhere,
    /// Disabled earlier (410 Gone); never fetched again until re-enabled.
    Disabled(String),
}

/// The summary of a `tributary fetch` run.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub sources: Vec<(String, SourceResult)>,
}

impl FetchReport {
    fn count(&self, f: impl Fn(&SourceResult) -> bool) -> usize {
        self.sources.iter().filter(|(_, r)| f(r)).count()
    }

    pub fn fetched(&self) -> usize {
        self.count(|r| matches!(r, SourceResult::Fetched { .. }))
    }

    pub fn not_modified(&self) -> usize {
        self.count(|r| matches!(r, SourceResult::NotModified))
    }

    pub fn failed(&self) -> usize {
        self.count(|r| matches!(r, SourceResult::Failed(_) | SourceResult::Gone))
    }

    pub fn new_items(&self) -> usize {
        self.sources
            .iter()
            .map(|(_, r)| match r {
                SourceResult::Fetched { new, .. } => *new,
                _ => 0,
            })
            .sum()
    }

    /// One line: `fetched 3, not modified 1, failed 0, new items 12 (2 not due)`.
    pub fn summary(&self) -> String {
        let not_due = self.count(|r| matches!(r, SourceResult::NotDue));
        let disabled = self.count(|r| matches!(r, SourceResult::Disabled(_)));
        let elsewhere = self.count(|r| matches!(r, SourceResult::Elsewhere));
        let mut s = format!(
            "fetched {}, not modified {}, failed {}, new items {}",
            self.fetched(),
            self.not_modified(),
            self.failed(),
            self.new_items()
        );
        if not_due > 0 || disabled > 0 {
            s.push_str(&format!(" ({not_due} not due, {disabled} disabled)"));
        }
        if elsewhere > 0 {
            s.push_str(&format!("; {elsewhere} fetched by other processes"));
        }
        s
    }
}

/// The longest an upstream can make us wait (`Retry-After`, `ttl`,
/// `max-age`): a hostile or mistaken value must not park a source for years
/// (or overflow a date).
pub const MAX_WAIT_DAYS: i64 = 7;

fn from_std(d: std::time::Duration) -> Duration {
    let max = Duration::days(MAX_WAIT_DAYS);
    Duration::from_std(d).map_or(max, |d| d.min(max))
}

/// When a source that was just fetched is due again: its schedule's next
/// time (else the default interval), but never before its minimum interval
/// (RSS `ttl`, `Cache-Control: max-age`).
pub(super) fn next_due(
    src: &ConfiguredSource,
    now: DateTime<Utc>,
    min_interval: Option<Duration>,
) -> DateTime<Utc> {
    let scheduled = src
        .schedule
        .as_ref()
        .and_then(|s| s.after(&now).next())
        .unwrap_or(now + Duration::minutes(DEFAULT_INTERVAL_MINUTES));
    // Sources on one schedule would all fire in the same second: spread them
    // by up to a tenth of the interval (at most a minute), fixed per source.
    let spread = ((scheduled - now).num_milliseconds() / 10).clamp(0, 60_000);
    let jitter = if spread > 0 {
        let h = xxhash_rust::xxh3::xxh3_64(src.key.as_bytes());
        Duration::milliseconds((h % spread as u64) as i64)
    } else {
        Duration::zero()
    };
    (scheduled + jitter).max(now + min_interval.unwrap_or_else(Duration::zero))
}

/// An upstream id as an entry id: kept when it is an absolute IRI (RFC 4287
/// asks aggregators to keep ids), else made into a stable `urn:` from the
/// source and the id (a bare `12345` is unique only within its feed).
fn entry_id(source_key: &str, id: &str) -> String {
    let iri = !id.chars().any(char::is_whitespace)
        && Url::parse(id).is_ok_and(|u| u.as_str() == id && u.scheme().len() > 1);
    if iri {
        id.to_string()
    } else {
        let key = format!("{source_key}\u{1f}{id}");
        format!(
            "urn:tributary:{:016x}",
            xxhash_rust::xxh3::xxh3_64(key.as_bytes())
        )
    }
}

/// The URL that entries name as their source feed: the fetched URL, or for a
/// local file (whose path means nothing to readers) the URL the document
/// gives itself (an http(s) id, else its home page); empty when it has none,
/// and then emitters leave the source out.
fn published_feed_url(src: &ConfiguredSource, fetched: &str, feed: &parse::UpstreamFeed) -> String {
    let http = |u: &&String| u.starts_with("https://") || u.starts_with("http://");
    match src.location {
        UpstreamLocation::Http(_) => fetched.to_string(),
        UpstreamLocation::File(_) => feed
            .id
            .as_ref()
            .filter(http)
            .or(feed.link.as_ref().filter(http))
            .cloned()
            .unwrap_or_default(),
    }
}

/// An item for the store; `undated` when upstream gave it no date (its
/// dates are the time it was seen, which a later fetch must not move),
/// `published_given` when it gave a publication date of its own (not only
/// `updated`, which moves when the item is edited).
pub(super) struct Fresh {
    item: StoredItem,
    undated: bool,
    published_given: bool,
}

/// The items of a parsed document, ready for the store. Items that have no
/// http(s) link are left out: no reader could open them.
fn stored_items(
    src: &ConfiguredSource,
    feed_url: &str,
    feed: parse::UpstreamFeed,
    now: DateTime<Utc>,
) -> Vec<Fresh> {
    let seen = now.fixed_offset();
    feed.items
        .into_iter()
        .filter_map(|item| {
            let link = item.link.clone();
            let undated = item.published.is_none() && item.updated.is_none();
            let published_given = item.published.is_some();
            let mut e = item.into_entry(
                Source {
                    name: src.name.clone(),
                    feed_url: feed_url.to_string(),
                    item_url: link,
                    id: None,
                },
                seen,
            );
            crate::model::urlpolicy::entry(&mut e);
            if e.url.is_empty() {
                return None;
            }
            e.id = entry_id(&src.key, &e.id);
            for s in &mut e.sources {
                s.item_url = Some(e.url.clone());
                s.id = Some(e.id.clone());
            }
            if e.title.trim().is_empty() {
                e.title = untitled(&e);
            }
            Some(Fresh {
                item: StoredItem {
                    canonical_url: merge::canonical_url(&e.url),
                    entry: e,
                    first_seen: now,
                },
                undated,
                published_given,
            })
        })
        .collect()
}

/// Items ready to put. An item already stored keeps the publication date
/// it was first given unless upstream states one (a feed with only
/// `<updated>`, as GitHub's release feeds, moves it with every edit: an
/// edit is an update, not a new release); an undated one keeps both dates,
/// so that it is not "updated" (and moved to the top of the stream) by
/// every fetch. An item whose id is new but whose link and title are those
/// of a stored item whose id the document no longer has is that item under
/// a new id (the upstream changed its ids): the stored row takes the new id,
/// keeping its first sighting and publication date.
fn settle_dates(
    store: &mut dyn Store,
    key: &str,
    fresh: Vec<Fresh>,
) -> Result<Vec<StoredItem>, Error> {
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    let ids: HashSet<String> = fresh.iter().map(|f| f.item.entry.id.clone()).collect();
    // One read for the source rather than one per item (a round trip each
    // on a database across the network).
    let mut stored: HashMap<String, StoredItem> = store
        .items(key)?
        .into_iter()
        .map(|s| (s.entry.id.clone(), s))
        .collect();
    let mut out = Vec::with_capacity(fresh.len());
    for f in fresh {
        let mut item = f.item;
        let mut old = stored.remove(&item.entry.id);
        let mut renamed = false;
        if old.is_none() {
            let same = stored
                .iter()
                .find(|(id, s)| {
                    !ids.contains(*id)
                        && s.entry.url == item.entry.url
                        && s.entry.title == item.entry.title
                })
                .map(|(id, _)| id.clone());
            if let Some(prior) = same.and_then(|id| stored.remove(&id)) {
                if store.rename_item(key, &prior.entry.id, &item.entry.id)? {
                    tracing::info!(
                        source = key,
                        from = %prior.entry.id,
                        to = %item.entry.id,
                        "same link and title under a new id: the stored item takes the new id"
                    );
                    renamed = true;
                    old = Some(prior);
                }
            }
        }
        if let Some(old) = old {
            if f.undated {
                item.entry.updated = old.entry.updated;
            }
            if f.undated || !f.published_given || renamed {
                item.entry.published = old.entry.published;
            }
        }
        out.push(item);
    }
    Ok(out)
}

/// A title for an item that has none: the start of its text, else its link.
fn untitled(e: &Entry) -> String {
    let text = e
        .summary_html
        .as_deref()
        .or(e.content_html.as_deref())
        .map(crate::util::text::html_to_text)
        .unwrap_or_default();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return e.url.clone();
    }
    crate::util::text::shorten(&text, 80)
}

/// The URL a source is fetched from: `current` (the stored URL, which a
/// permanent redirect may have changed) for http(s), a `file:` URL for a path.
pub fn location_url(
    site: &Site,
    location: &UpstreamLocation,
    current: &str,
) -> Result<String, String> {
    match location {
        UpstreamLocation::Http(_) => Ok(current.to_string()),
        UpstreamLocation::File(p) => {
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                site.root.join(p)
            };
            Url::from_file_path(&abs)
                .map(|u| u.to_string())
                .map_err(|_| format!("{} is not a usable file path", abs.display()))
        }
    }
}

/// `fetch --source NAME` names a configured source (by name or URL).
pub fn check_only(sources: &[ConfiguredSource], only: Option<&str>) -> Result<(), Error> {
    match only {
        Some(only) if !sources.iter().any(|s| s.name == only || s.key == only) => Err(Error::at(
            "feeds",
            None,
            format!("no upstream source is named {only:?} (see `tributary sources list`)"),
        )),
        _ => Ok(()),
    }
}

/// `tributary fetch`: fetch the sources that are due (or all, or one) into
/// the store. A source that fails keeps every item it had.
pub fn fetch(
    site: &Site,
    store: &mut dyn Store,
    opts: &FetchOptions,
) -> Result<FetchReport, Error> {
    let sources = configured_sources(site);
    check_only(&sources, opts.only.as_deref())?;
    let mut report = FetchReport::default();
    let (jobs, mut states) = plan_jobs(site, store, opts, &sources, &mut report)?;
    if jobs.is_empty() {
        return Ok(report);
    }
    let clock = RunClock::start(opts.now);
    let bar = opts.progress.then(|| progress_bar(jobs.len()));
    let (fetch_thread, outcomes) = start_fetches(site, jobs, opts.slots.clone())?;
    // Outcomes arrive as requests finish; a few at a time are parsed on every
    // core (parsing and sanitizing is the CPU-heavy part) and stored, so
    // that at most a bounded number of bodies is held at once.
    while let Some(batch) = next_batch(&outcomes) {
        let parsed = parallel_map(&batch, 1, |(i, outcome, began)| {
            parse_outcome(&sources[*i], states.get(i), outcome, clock.at(*began))
        });
        for ((i, outcome, began), parsed) in batch.into_iter().zip(parsed) {
            let src = &sources[i];
            let Some(state) = states.remove(&i) else {
                continue;
            };
            let now = clock.at(began);
            let result = record(site, store, opts, src, state, outcome, parsed, now)?;
            report.sources.push((src.name.clone(), result));
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    join_fetches(fetch_thread)?;
    Ok(report)
}

/// A fetch job: the source's index, its URL and the validators to send.
type Job = (usize, String, Validators);

/// The selected sources to fetch now, with their states by index; those
/// not fetched (disabled, not due, no usable location) go in the report.
fn plan_jobs(
    site: &Site,
    store: &mut dyn Store,
    opts: &FetchOptions,
    sources: &[ConfiguredSource],
    report: &mut FetchReport,
) -> Result<(Vec<Job>, HashMap<usize, SourceState>), Error> {
    let mut jobs = Vec::new();
    let mut states = HashMap::new();
    let mut known = known_states(store, opts, sources)?;
    for (i, src) in sources.iter().enumerate() {
        if !opts.selects(src) {
            continue;
        }
        let state = match known.remove(&src.key) {
            Some(state) if state.name == src.name => state,
            _ => store.ensure_source(&src.key, &src.name)?,
        };
        if let Some(skipped) = skipped(&state, opts) {
            report.sources.push((src.name.clone(), skipped));
            continue;
        }
        match location_url(site, &src.location, &state.url) {
            Ok(url) => {
                let v = Validators {
                    etag: state.etag.clone(),
                    last_modified: state.last_modified.clone(),
                };
                jobs.push((i, url, v));
                states.insert(i, state);
            }
            Err(e) => {
                // Recorded like any failure, so that it backs off and shows in `sources list`.
                let mut state = state;
                state.last_fetch = Some(opts.now);
                let result = failed(&mut state, e, None, opts.now);
                store.save_source(&state)?;
                report.sources.push((src.name.clone(), result));
            }
        }
    }
    Ok((jobs, states))
}

/// The stored states of every source, read at once when the run selects
/// many of them; empty otherwise (each is read as it comes).
fn known_states(
    store: &mut dyn Store,
    opts: &FetchOptions,
    sources: &[ConfiguredSource],
) -> Result<HashMap<String, SourceState>, Error> {
    // Many sources: one query for their states rather than one each (a
    // round trip apiece counts on a database across the network).
    let selected = match (&opts.only, &opts.keys) {
        (Some(_), _) => 1,
        (None, Some(keys)) => keys.len(),
        (None, None) => sources.len(),
    };
    if selected > BULK_READ && selected * 2 >= sources.len() {
        return Ok(store
            .sources()?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect());
    }
    Ok(HashMap::new())
}

impl FetchOptions {
    /// Whether `--source` and `keys` leave `src` in this run.
    fn selects(&self, src: &ConfiguredSource) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o == &src.name || o == &src.key)
            && self.keys.as_ref().is_none_or(|k| k.contains(&src.key))
    }
}

/// Why a selected source is not fetched in this run, if it is not.
fn skipped(state: &SourceState, opts: &FetchOptions) -> Option<SourceResult> {
    if let Some(why) = state
        .disabled
        .as_ref()
        .filter(|_| !state.fetchable(opts.now))
    {
        return Some(SourceResult::Disabled(why.clone()));
    }
    // A source named on the command line is fetched now, as asked.
    if !opts.all && opts.only.is_none() && state.next_due.is_some_and(|d| d > opts.now) {
        return Some(SourceResult::NotDue);
    }
    None
}

/// A run's clock: when each request began, on the run's `now`.
///
/// A source is due again at its schedule's next time after its request
/// began, not after the run began (a request that waited for a slot past
/// a schedule boundary would be due again at once: two in one period)
/// nor after its answer was stored (one sent just before a boundary and
/// stored after it would skip the next period). `now` is advanced by the
/// time elapsed, so that a run given another `now` keeps to it.
struct RunClock {
    now: DateTime<Utc>,
    started: std::time::Instant,
}

impl RunClock {
    fn start(now: DateTime<Utc>) -> RunClock {
        RunClock {
            now,
            started: std::time::Instant::now(),
        }
    }

    /// The run's time at the instant `began`.
    fn at(&self, began: std::time::Instant) -> DateTime<Utc> {
        self.now
            + Duration::from_std(began.saturating_duration_since(self.started))
                .unwrap_or_else(|_| Duration::zero())
    }
}

/// The next outcomes to parse: one waited for, and up to [`PARSE_BATCH`]
/// with those already there; `None` once every fetch has finished.
fn next_batch(outcomes: &Outcomes) -> Option<Vec<(usize, Outcome, std::time::Instant)>> {
    let mut batch = vec![outcomes.recv().ok()?];
    while batch.len() < PARSE_BATCH {
        match outcomes.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Store one source's fetch and its new state, then hand the source back
/// (its lease, its place among those in flight).
#[allow(clippy::too_many_arguments)]
fn record(
    site: &Site,
    store: &mut dyn Store,
    opts: &FetchOptions,
    src: &ConfiguredSource,
    mut state: SourceState,
    outcome: Outcome,
    parsed: Parsed,
    now: DateTime<Utc>,
) -> Result<SourceResult, Error> {
    state.name = src.name.clone();
    state.last_fetch = Some(now);
    let result = match apply(store, src, &mut state, outcome, parsed, now, site) {
        Ok(r) => r,
        // Items the store refuses (its transaction rolled back) fail
        // this source alone; if the store is gone, saving its state
        // below fails too and ends the run.
        Err(e @ Error::Store { .. }) => failed(
            &mut state,
            format!("its items were not stored: {e}"),
            None,
            now,
        ),
        Err(e) => return Err(e),
    };
    tracing::debug!(source = %src.name, url = %state.url, "{}", describe(&result));
    store.save_source(&state)?;
    if let Some(holder) = &opts.release_to {
        store.release(std::slice::from_ref(&src.key), holder)?;
    }
    if let Some(set) = &opts.in_flight {
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&src.key);
    }
    Ok(result)
}

/// Wait for the fetcher thread, whose error (or panic) fails the run.
fn join_fetches(fetch_thread: FetchThread) -> Result<(), Error> {
    match fetch_thread.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::io("tokio runtime", e)),
        Err(_) => Err(Error::at("fetch", None, "the fetch thread panicked")),
    }
}

/// One source's result in words: `12 items, 3 new`, `not modified`, `failed: ...`.
pub fn describe(r: &SourceResult) -> String {
    match r {
        SourceResult::Fetched { items, new } => format!("{items} items, {new} new"),
        SourceResult::NotModified => "not modified".into(),
        SourceResult::Failed(e) => format!("failed: {e}"),
        SourceResult::Gone => "gone (410): disabled".into(),
        SourceResult::NotDue => "not due".into(),
        SourceResult::Elsewhere => "fetched by another process".into(),
        SourceResult::Disabled(why) => format!("disabled: {why}"),
    }
}

/// Above this many sources, and at least half of those configured, a fetch
/// reads every source's state at once.
const BULK_READ: usize = 32;

/// Outcomes parsed together: enough to keep both cores busy, few enough
/// that little is held in memory.
const PARSE_BATCH: usize = 8;

/// Outcomes waiting to be parsed before the fetcher pauses (backpressure).
const PIPELINE: usize = 32;

/// A fetched document read: its items for the store, its `ttl`, and the
/// WebSub hub and topic it names.
pub(super) struct Doc {
    pub(super) fresh: Vec<Fresh>,
    ttl: Option<u32>,
    pub(super) hub: Option<String>,
    pub(super) self_url: Option<String>,
}

pub(super) type Parsed = Option<Result<Doc, ParseError>>;

/// Parse a fetched body into items for the store; `None` for no body.
pub(super) fn parse_outcome(
    src: &ConfiguredSource,
    state: Option<&SourceState>,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Parsed {
    let Outcome::Fetched {
        body, final_url, ..
    } = outcome
    else {
        return None;
    };
    let doc = Url::parse(final_url).ok();
    let fetched_url = state.map(|s| s.url.as_str()).unwrap_or(final_url);
    let mut parsed = parse::parse_whole(body, doc.as_ref());
    // A local file has no web address: its relative links resolve against
    // the feed's own link, where its pages live, not against the file path.
    if doc.as_ref().is_some_and(|d| d.scheme() == "file") {
        let home = parsed.as_ref().ok().and_then(|f| f.link.as_deref());
        if let Some(home) = home.filter(|l| crate::model::urlpolicy::is_web(l)) {
            if let Ok(home) = Url::parse(home) {
                parsed = parse::parse_whole(body, Some(&home));
            }
        }
    }
    Some(parsed.map(|mut feed| {
        let feed_url = published_feed_url(src, fetched_url, &feed);
        Doc {
            ttl: feed.ttl_minutes,
            hub: feed.hub.take(),
            self_url: feed.self_url.take(),
            fresh: stored_items(src, &feed_url, feed, now),
        }
    }))
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("fetching {bar:30} {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

type FetchThread = std::thread::JoinHandle<Result<(), std::io::Error>>;

/// Fetch outcomes as they come in: the job's index, the outcome, and when
/// its request began.
type Outcomes = std::sync::mpsc::Receiver<(usize, Outcome, std::time::Instant)>;

/// Run every job on a fetcher thread (its own tokio runtime); outcomes come
/// through a bounded channel as they finish.
fn start_fetches(
    site: &Site,
    jobs: Vec<Job>,
    slots: Option<std::sync::Arc<fetch::Slots>>,
) -> Result<(FetchThread, Outcomes), Error> {
    let settings = &site.config.fetch;
    let slots = slots.unwrap_or_else(|| fetch::Slots::new(settings));
    let fetcher = Fetcher::with_slots(settings, Some(site.config.base_url.as_str()), slots)
        .map_err(|e| Error::at("tributary.yaml", None, format!("fetch: {e}")))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(PIPELINE);
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(fetcher.fetch_each(jobs, |k, o, began| {
            // The receiver is gone only when the run failed; nothing to do then.
            let _ = tx.send((k, o, began));
        }));
        Ok(())
    });
    Ok((thread, rx))
}

/// A failed fetch in the source's state: counted, and backed off (at least
/// as long as the upstream asked with `Retry-After`).
fn failed(
    state: &mut SourceState,
    why: String,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
) -> SourceResult {
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    state.last_error = Some(why.clone());
    let wait = from_std(fetch::backoff(state.consecutive_failures, &state.key, now))
        .max(retry_after.unwrap_or_else(Duration::zero));
    state.next_due = Some(now + wait);
    SourceResult::Failed(why)
}

/// How long a source that answered `410 Gone` waits before it is asked again.
pub const GONE_RETRY: Duration = Duration::days(7);

/// Record one fetch in the source's state and the store.
#[allow(clippy::too_many_arguments)]
fn apply(
    store: &mut dyn Store,
    src: &ConfiguredSource,
    state: &mut SourceState,
    outcome: Outcome,
    parsed: Parsed,
    now: DateTime<Utc>,
    site: &Site,
) -> Result<SourceResult, Error> {
    Ok(match outcome {
        Outcome::Fetched {
            validators,
            permanent_url,
            min_interval,
            final_url,
            websub,
            ..
        } => match parsed {
            Some(Ok(doc)) => {
                moved(src, state, permanent_url);
                if matches!(src.location, UpstreamLocation::Http(_)) {
                    super::push::discovered(store, &state.key, &websub, &doc, &final_url)?;
                }
                let ttl = doc
                    .ttl
                    .map(|m| Duration::minutes(i64::from(m)).min(Duration::days(1)));
                let min = match (min_interval.map(from_std), ttl) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                let (items, new) = put_fresh(site, store, src, doc.fresh, now)?;
                state.etag = validators.etag;
                state.last_modified = validators.last_modified;
                succeeded(src, state, min, now);
                SourceResult::Fetched { items, new }
            }
            // A broken document keeps the stored items and the old validators,
            // so that the next fetch reads the document again.
            Some(Err(e)) => {
                moved(src, state, permanent_url);
                failed(state, e.to_string(), None, now)
            }
            None => failed(state, "nothing was parsed".into(), None, now),
        },
        Outcome::NotModified {
            permanent_url,
            min_interval,
        } => {
            moved(src, state, permanent_url);
            let keep = state.min_interval_secs.map(Duration::seconds);
            succeeded(src, state, min_interval.map(from_std).or(keep), now);
            SourceResult::NotModified
        }
        Outcome::Gone { permanent_url } => {
            moved(src, state, permanent_url);
            gone(state, now)
        }
        Outcome::Failed { error, retry_after } => {
            failed(state, error.to_string(), retry_after.map(from_std), now)
        }
    })
}

/// Store a document's items as one fetch: dates settled against what is
/// stored, then what retention and `keep:` no longer want dropped. How
/// many items, and how many of them new.
pub(super) fn put_fresh(
    site: &Site,
    store: &mut dyn Store,
    src: &ConfiguredSource,
    fresh: Vec<Fresh>,
    now: DateTime<Utc>,
) -> Result<(usize, usize), Error> {
    let items = settle_dates(store, &src.key, fresh)?;
    let new = store.put_items(&src.key, &items, now)?;
    trim(site, store, src, &src.key, now)?;
    Ok((items.len(), new))
}

/// A source that answered: no longer failing (nor gone), due again after
/// its schedule and `min_interval`.
fn succeeded(
    src: &ConfiguredSource,
    state: &mut SourceState,
    min_interval: Option<Duration>,
    now: DateTime<Utc>,
) {
    if state.is_gone() {
        tracing::info!(source = %src.name, "answers again after 410 Gone: enabled");
        state.disabled = None;
    }
    state.consecutive_failures = 0;
    state.last_error = None;
    state.last_success = Some(now);
    state.min_interval_secs = min_interval.map(|d| d.num_seconds());
    state.next_due = Some(next_due(src, now, min_interval));
}

/// A permanent redirect: the source is fetched from its new URL from now on.
fn moved(src: &ConfiguredSource, state: &mut SourceState, to: Option<String>) {
    if let Some(url) = to {
        tracing::info!(source = %src.name, from = %state.url, to = %url, "moved permanently; the new URL is kept");
        state.url = url;
    }
}

/// A source that answered `410 Gone`: disabled, and asked again weekly
/// (a feed removed by mistake comes back).
fn gone(state: &mut SourceState, now: DateTime<Utc>) -> SourceResult {
    // The first 410's date stays: it says since when.
    if !state.is_gone() {
        state.disabled = Some(format!(
            "{} on {}",
            crate::store::GONE,
            now.format("%Y-%m-%d")
        ));
    }
    state.last_error = Some("410 Gone: the feed was removed".into());
    state.next_due = Some(now + GONE_RETRY);
    SourceResult::Gone
}

/// Drop what the site's `retention:` and the source's `keep` no longer want.
fn trim(
    site: &Site,
    store: &mut dyn Store,
    src: &ConfiguredSource,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if let Some(keep) = site.config.retention {
        store.prune(key, now - keep)?;
    }
    if let Limit::Count(n) = src.keep {
        store.keep_newest(key, n)?;
    }
    Ok(())
}

/// Where an upstream copy's body is, and how rich it is: bodies are most
/// of an item's size, so `combine` drops them after rules and relations have
/// read them and reads back only those of the entries that are published.
#[derive(Clone)]
struct BodyRef {
    upstream: usize,
    id: String,
    content_len: usize,
    summary_len: usize,
}

/// Identifies one upstream copy by what its `Source` says (its item id
/// included: two items of one feed may share a link).
fn copy_key(s: &Source) -> u64 {
    let text = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        s.name,
        s.feed_url,
        s.item_url.as_deref().unwrap_or(""),
        s.id.as_deref().unwrap_or("")
    );
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// The first page of a windowed read: enough for a small feed and its
/// merges in one query per source.
const MIN_PAGE: usize = 64;
/// Past this many items per source a windowed read gives up paging and
/// takes what it has read (a feed whose rules select almost nothing).
const MAX_PAGE: usize = 1 << 20;

/// The entries of a combined feed: its local posts (already rendered) and
/// the stored items of its upstreams that its rules select, related to the
/// posts, capped by `max_age` and `limit` (without archives), with copies of
/// one story merged. Newest first.
pub fn combine(
    site: &Site,
    def: &FeedDef,
    posts: Vec<Entry>,
    upstream: &Upstream,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>, Error> {
    let cutoff = def.max_age.map(|a| now.fixed_offset() - a);
    let matchers = compile_matchers(def)?;
    let posts: Vec<Entry> = posts.into_iter().filter(|p| is_fresh(cutoff, p)).collect();
    let selection = Selection {
        def,
        upstream,
        now,
        cutoff,
        matchers,
        links: merge::PostLinks::new(&posts, site.config.base_url.host_str()),
    };
    let (bodies, mut merged) = selection.merged(&posts)?;
    if let (Limit::Count(n), false) = (def.limit, def.archive) {
        merged.truncate(n);
    }
    let post_ids: HashSet<&str> = posts.iter().map(|p| p.id.as_str()).collect();
    for e in &mut merged {
        if post_ids.contains(e.id.as_str()) {
            continue; // a local post keeps its own body
        }
        restore_body(e, &bodies, def, upstream)?;
    }
    Ok(merged)
}

/// An upstream's `include` and `exclude` rules, compiled.
type Rules = (Vec<Matcher>, Vec<Matcher>);

/// Each upstream's rules, in the feed file's order.
fn compile_matchers(def: &FeedDef) -> Result<Vec<Rules>, Error> {
    let mut matchers = Vec::with_capacity(def.upstreams.len());
    for up in &def.upstreams {
        let compile = |rules: &[MatchRule]| -> Result<Vec<Matcher>, Error> {
            rules
                .iter()
                .map(|r| {
                    Matcher::new(r)
                        .map_err(|e| Error::at(&def.path, None, format!("{}: {e}", up.key)))
                })
                .collect()
        };
        matchers.push((compile(&up.include)?, compile(&up.exclude)?));
    }
    Ok(matchers)
}

/// Whether `e` is within the feed's `max_age` (`cutoff`), if it has one.
fn is_fresh(cutoff: Option<DateTime<FixedOffset>>, e: &Entry) -> bool {
    cutoff.is_none_or(|c| e.published >= c)
}

/// Where a combined feed's upstream items come from and which it selects.
struct Selection<'a> {
    def: &'a FeedDef,
    upstream: &'a Upstream,
    now: DateTime<Utc>,
    cutoff: Option<DateTime<FixedOffset>>,
    matchers: Vec<Rules>,
    links: merge::PostLinks<'a>,
}

/// One read of every upstream: the items selected (without their bodies),
/// where their bodies are, and the horizon (the newest stored date among
/// the sources whose page was full: every item not read is no newer).
struct Page {
    selected: Vec<Entry>,
    bodies: HashMap<u64, BodyRef>,
    horizon: Option<DateTime<FixedOffset>>,
}

impl Selection<'_> {
    /// The posts and the selected items merged, with where each copy's body is.
    ///
    /// A feed of `limit` entries reads each source's newest items through the
    /// date index, a page at a time, until the page ends further back than
    /// the feed reaches (less a same-story merge window): a rebuild costs what
    /// the feed holds, not what the store has accumulated. `limit: all` and
    /// archives read everything, by nature.
    fn merged(&self, posts: &[Entry]) -> Result<(HashMap<u64, BodyRef>, Vec<Entry>), Error> {
        let window = match (self.def.limit, self.def.archive) {
            (Limit::Count(n), false) => Some(n),
            _ => None,
        };
        let mut page = window.map(|n| (2 * n).max(MIN_PAGE));
        let merge_window = MergeOptions::default().title_window;
        loop {
            let read = self.read(page)?;
            let merged = merge::merge(posts.to_vec(), read.selected, &MergeOptions::default());
            let (Some(n), Some(p), Some(h)) = (window, page, read.horizon) else {
                return Ok((read.bodies, merged));
            };
            // Enough when the feed's last entry is newer than anything unread by
            // more than the merge window (an unread copy could still pull it down).
            let reach = merged.get(n - 1).map(|e| e.published);
            if reach.is_some_and(|r| r - merge_window > h) || p >= MAX_PAGE {
                return Ok((read.bodies, merged));
            }
            page = Some(p * 4);
        }
    }

    /// Read the newest `page` items of every upstream (all without a page)
    /// and keep those the rules select, related to the posts.
    fn read(&self, page: Option<usize>) -> Result<Page, Error> {
        let mut read = Page {
            selected: Vec::new(),
            bodies: HashMap::new(),
            horizon: None,
        };
        for (u, up) in self.def.upstreams.iter().enumerate() {
            let mut items = self.upstream.items(&up.key, self.now, page)?;
            if page.is_some_and(|p| items.len() >= p) {
                let oldest = items.iter().map(|e| e.published).min();
                let counted = oldest.filter(|o| self.cutoff.is_none_or(|c| *o >= c));
                read.horizon = read.horizon.max(counted);
            }
            items.retain(|e| is_fresh(self.cutoff, e));
            // The name from the feed file now, whatever it was when stored.
            for e in &mut items {
                for s in &mut e.sources {
                    s.name = up.name.clone();
                }
            }
            self.links.relate(&mut items);
            let (include, exclude) = &self.matchers[u];
            for e in items {
                if merge::selects(include, exclude, &e) {
                    read.keep(u, e);
                }
            }
        }
        Ok(read)
    }
}

impl Page {
    /// Keep a selected item, its bodies set aside (read back for the
    /// entries published).
    fn keep(&mut self, upstream: usize, mut e: Entry) {
        let body = BodyRef {
            upstream,
            id: e.id.clone(),
            content_len: e.content_html.take().map_or(0, |c| c.len()),
            summary_len: e.summary_html.take().map_or(0, |c| c.len()),
        };
        for s in &e.sources {
            self.bodies.insert(copy_key(s), body.clone());
        }
        self.selected.push(e);
    }
}

/// Read back the bodies of a merged upstream entry, as `merge` would have
/// chosen them: the longest content and the longest summary among the
/// copies, the first copy on a tie.
fn restore_body(
    e: &mut Entry,
    bodies: &HashMap<u64, BodyRef>,
    def: &FeedDef,
    upstream: &Upstream,
) -> Result<(), Error> {
    let copies: Vec<&BodyRef> = e
        .sources
        .iter()
        .filter_map(|s| bodies.get(&copy_key(s)))
        .collect();
    let longest = |len: fn(&BodyRef) -> usize| {
        copies
            .iter()
            .copied()
            .filter(|c| len(c) > 0)
            .fold(None::<&BodyRef>, |best, c| match best {
                Some(b) if len(b) >= len(c) => Some(b),
                _ => Some(c),
            })
    };
    let content = longest(|c| c.content_len);
    let summary = longest(|c| c.summary_len);
    let mut read: Vec<(usize, String, Entry)> = Vec::new();
    for c in [content, summary].into_iter().flatten() {
        if read
            .iter()
            .any(|(u, id, _)| *u == c.upstream && *id == c.id)
        {
            continue;
        }
        if let Some(full) = upstream.item(&def.upstreams[c.upstream].key, &c.id)? {
            read.push((c.upstream, c.id.clone(), full));
        }
    }
    let find = |c: Option<&BodyRef>| {
        let c = c?;
        read.iter()
            .find(|(u, id, _)| *u == c.upstream && *id == c.id)
            .map(|(_, _, e)| e)
    };
    e.content_html = find(content).and_then(|f| f.content_html.clone());
    e.summary_html = find(summary).and_then(|f| f.summary_html.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_iris_are_kept_others_made_stable() {
        assert_eq!(
            entry_id("k", "tag:github.com,2008:Repository/1/v1"),
            "tag:github.com,2008:Repository/1/v1"
        );
        assert_eq!(entry_id("k", "https://e.org/a"), "https://e.org/a");
        let bare = entry_id("k", "12345");
        assert!(bare.starts_with("urn:tributary:"));
        assert_eq!(bare, entry_id("k", "12345"));
        assert_ne!(bare, entry_id("other", "12345"));
        assert!(entry_id("k", "a b:c").starts_with("urn:tributary:"));
    }

    #[test]
    fn next_due_respects_schedule_and_minimum_interval() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T10:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let src = ConfiguredSource {
            key: "k".into(),
            name: "k".into(),
            location: UpstreamLocation::File("x".into()),
            schedule: crate::config::parse_schedule("0 12 * * *").ok(),
            feeds: vec![],
            keep: Limit::All,
        };
        // 12:00, plus this source's fixed share of the spread (< 1/10 of 90 min, < 1 min).
        let due = next_due(&src, now, None);
        let noon = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert!(due >= noon && due < noon + Duration::minutes(1), "{due}");
        assert_eq!(due, next_due(&src, now, None));
        assert_eq!(
            next_due(&src, now, Some(Duration::hours(3))).to_rfc3339(),
            "2026-01-01T13:30:00+00:00"
        );
        let plain = ConfiguredSource {
            schedule: None,
            ..src
        };
        let due = next_due(&plain, now, None);
        assert!(due >= now + Duration::minutes(60) && due < now + Duration::minutes(61));
    }
}
