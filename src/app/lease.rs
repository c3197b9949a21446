//! Fetch leases: how processes on one store share the fetch work.
//!
//! A process fetches a source only while it holds the source's lease in the
//! store, so each due source is fetched by exactly one of several `serve`
//! replicas (or `fetch` runs) on one PostgreSQL. A lease lasts `lease:` and
//! is renewed while the fetch runs; a process that dies stops renewing, and
//! once its leases run out the others take its sources over. A dead
//! process on the same host (and PID namespace) is seen at once: its leases
//! are freed without waiting ([`reclaim_dead`]). On SQLite the same rules
//! hold between processes sharing the file.

use crate::app::aggregate::{self, ConfiguredSource, FetchOptions, FetchReport, SourceResult};
use crate::model::Error;
use crate::site::Site;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Set before [`holder`] is first called by a `fetch --all`/`--source` run,
/// so that its holder name says so and concurrent runs can join it.
static FORCED_RUN: AtomicBool = AtomicBool::new(false);

/// The suffix of a forced run's holder name.
const FORCED_MARK: &str = "all";

/// This process's name in leases: host, PID namespace, pid and start time
/// (and `:all` for a forced `fetch` run), so that a restarted process (same
/// host, maybe same pid in a container) never counts a dead one's leases as
/// its own, and a process in another container that shares the host name is
/// never taken for a dead one of ours.
pub fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().replace(':', "_"))
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_string());
        let started = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let mut name = format!(
            "{host}:{}:{}:{started:x}",
            pid_namespace().unwrap_or_else(|| "0".into()),
            std::process::id()
        );
        if FORCED_RUN.load(Ordering::SeqCst) {
            name.push(':');
            name.push_str(FORCED_MARK);
        }
        name
    })
}

/// This process's PID namespace (`/proc/self/ns/pid` is `pid:[INODE]`):
/// pids are only comparable within one.
fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_string_lossy();
    let inode = text.strip_prefix("pid:[")?.strip_suffix(']')?;
    Some(inode.to_string())
}

/// A holder name taken apart.
#[derive(Debug, PartialEq, Eq)]
struct Holder<'a> {
    host: &'a str,
    pid_ns: &'a str,
    pid: u32,
    started: DateTime<Utc>,
    forced: bool,
}

/// Parse a holder name; `None` for one this version did not write.
fn parse_holder(holder: &str) -> Option<Holder<'_>> {
    let (rest, forced) = match holder.strip_suffix(FORCED_MARK) {
        Some(r) => (r.strip_suffix(':')?, true),
        None => (holder, false),
    };
    let mut parts = rest.rsplitn(4, ':');
    let started = i64::from_str_radix(parts.next()?, 16).ok()?;
    let pid = parts.next()?.parse().ok()?;
    let pid_ns = parts.next()?;
    let host = parts.next()?;
    Some(Holder {
        host,
        pid_ns,
        pid,
        started: DateTime::from_timestamp_nanos(started),
        forced,
    })
}

/// Whether process `pid` of this PID namespace is gone: no `/proc/PID`, or
/// a zombie (killed, not yet reaped by its parent).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses
        // and may itself hold spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Free the leases of processes on this host that no longer run (a killed
/// `fetch`, a crashed daemon), so that they need not wait for the leases to
/// run out. A holder on another host or in another PID namespace, or whose
/// pid runs (perhaps reused), is left to its lease's end. Linux only
/// (`/proc`); elsewhere nothing is freed.
pub fn reclaim_dead(store: &mut dyn Store) -> Result<usize, Error> {
    // Without `/proc`, or with other processes hidden (`hidepid`), a
    // missing `/proc/PID` proves nothing.
    if !std::path::Path::new("/proc/self").exists()
        || (std::process::id() != 1 && !std::path::Path::new("/proc/1/stat").exists())
    {
        return Ok(0);
    }
    let Some(me) = parse_holder(holder()) else {
        return Ok(0);
    };
    let mut freed = 0;
    for h in store.lease_holders(Utc::now())? {
        let Some(other) = parse_holder(&h) else {
            continue;
        };
        if other.host == me.host
            && other.pid_ns == me.pid_ns
            && me.pid_ns != "0"
            && h != holder()
            && is_dead(other.pid)
        {
            let n = store.break_leases(&h)?;
            tracing::info!("freed {n} fetch leases of {h}, which no longer runs");
            freed += n;
        }
    }
    Ok(freed)
}

/// [`reclaim_dead`], at most once per `every` in this process: a daemon
/// calls it on every scheduler tick, so that a replica dying on its host
/// hands its sources over within about `every`.
pub fn reclaim_dead_now_and_then(store: &mut dyn Store, every: Duration) -> Result<usize, Error> {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < every) {
            return Ok(0);
        }
        *last = Some(Instant::now());
    }
    reclaim_dead(store)
}

/// When the earliest forced `fetch` run still under way on the store began
/// (its holder's start), if before `own`: a forced run started while
/// another runs joins it, so that each source is fetched once between them.
fn joined_run_start(store: &dyn Store, own: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    let mut since = own;
    for h in store.lease_holders(Utc::now())? {
        if let Some(other) = parse_holder(&h).filter(|o| o.forced) {
            since = since.min(other.started);
        }
    }
    Ok(since)
}

/// How often a lease is renewed: a third of its length, so that two missed
/// renewals still leave it held.
pub fn renew_every(lease: chrono::Duration) -> Duration {
    (lease / 3).to_std().unwrap_or(Duration::from_secs(1))
}

/// Renews the leases of sources being fetched, on its own thread and store
/// handle, until dropped.
pub struct Renewer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Renewer {
    pub fn start(site: &Site, keys: Vec<String>) -> Renewer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let lease = site.config.lease;
        let location = site.store_location();
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lease-renewer".into())
            .spawn(move || {
                let (lock, cvar) = &*signal;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (guard, _) = cvar
                        .wait_timeout(stopped, renew_every(lease))
                        .unwrap_or_else(|e| e.into_inner());
                    stopped = guard;
                    if *stopped {
                        return;
                    }
                    let renewed = crate::store::open(&location)
                        .and_then(|mut s| s.renew(&keys, holder(), Utc::now() + lease));
                    if let Err(e) = renewed {
                        tracing::warn!("cannot renew fetch leases: {e}");
                    }
                }
            })
            .ok();
        Renewer { stop, thread }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `tributary fetch` on a store other processes may share: lease a chunk
/// of due sources, fetch it, give the leases back, until nothing due is
/// left. Sources another process holds are reported as not due.
pub fn fetch(
    site: &Site,
    store: &mut dyn Store,
    opts: &FetchOptions,
) -> Result<FetchReport, Error> {
    let sources = aggregate::configured_sources(site);
    if opts.only.is_some() {
        // Unknown names are refused by `aggregate::fetch` with its message.
        aggregate::check_only(&sources, opts.only.as_deref())?;
    }
    let forced = opts.all || opts.only.is_some();
    if forced {
        FORCED_RUN.store(true, Ordering::SeqCst);
    }
    reclaim_dead(store)?;
    let run_start = Utc::now();
    let mut left = selected_keys(store, opts, &sources)?;
    // `--all` and `--source`: now, whatever the schedule, but once in this
    // run however many processes run it.
    // A run that started a moment after another (three started together,
    // the first already fetching) counts the other's fetches as its own.
    let forced_since = if forced {
        Some(joined_run_start(store, run_start)?)
    } else {
        None
    };
    let mut report = FetchReport {
        sources: fetch_chunks(site, store, opts, &mut left, forced_since)?,
    };
    let unfetched = not_fetched_here(store, &sources, &left, forced_since, run_start)?;
    report.sources.extend(unfetched);
    // In the order of the configuration, as one `fetch` reports it.
    report
        .sources
        .sort_by_key(|(name, _)| sources.iter().position(|s| &s.name == name));
    Ok(report)
}

/// The keys of the sources `opts` selects, each made known to the store.
fn selected_keys(
    store: &mut dyn Store,
    opts: &FetchOptions,
    sources: &[ConfiguredSource],
) -> Result<Vec<String>, Error> {
    // One query for what the store knows, rather than one per source.
    let known: HashMap<String, String> = store
        .sources()?
        .into_iter()
        .map(|s| (s.key, s.name))
        .collect();
    let mut keys: Vec<String> = Vec::new();
    for s in sources {
        let selected = match (&opts.only, &opts.keys) {
            (Some(o), _) => o == &s.name || o == &s.key,
            (None, Some(keys)) => keys.contains(&s.key),
            (None, None) => true,
        };
        if selected {
            if known.get(&s.key) != Some(&s.name) {
                store.ensure_source(&s.key, &s.name)?;
            }
            keys.push(s.key.clone());
        }
    }
    Ok(keys)
}

/// How many sources one lease takes.
///
/// On a shared store, chunks small enough that processes starting
/// together split the work and large enough to keep every fetch slot
/// busy. On a SQLite file, one chunk: each chunk is a fetch run of its
/// own (a client, a runtime, the slowest source waited for), and another
/// process on the file still finds every source leased.
fn chunk_size(site: &Site) -> usize {
    if site.store_location().is_shared() {
        site.config.fetch.concurrency.max(1) * 4
    } else {
        usize::MAX
    }
}

/// Lease, fetch and give back chunks of `left` until no source in it can
/// be leased; those fetched leave `left`. Their results.
fn fetch_chunks(
    site: &Site,
    store: &mut dyn Store,
    opts: &FetchOptions,
    left: &mut Vec<String>,
    forced_since: Option<DateTime<Utc>>,
) -> Result<Vec<(String, SourceResult)>, Error> {
    let chunk = chunk_size(site);
    let mut results = Vec::new();
    // A fetched chunk's leases are given back once the next chunk is
    // leased, so that a run holds leases from its first chunk to its end
    // (a forced run starting meanwhile sees it and joins it).
    let mut fetched_chunk: Vec<String> = Vec::new();
    loop {
        let now = Utc::now();
        let leased = store.lease(
            left,
            holder(),
            now,
            now + site.config.lease,
            chunk,
            forced_since,
        );
        let released = store.release(&fetched_chunk, holder());
        let leased = leased?;
        released?;
        if leased.is_empty() {
            return Ok(results);
        }
        results.extend(fetch_leased(site, store, opts, &leased, now)?.sources);
        let done: HashSet<&String> = leased.iter().collect();
        left.retain(|k| !done.contains(k));
        fetched_chunk = leased;
    }
}

/// Fetch the sources leased, renewing their leases meanwhile; on failure
/// the leases are given back at once.
fn fetch_leased(
    site: &Site,
    store: &mut dyn Store,
    opts: &FetchOptions,
    leased: &[String],
    now: DateTime<Utc>,
) -> Result<FetchReport, Error> {
    let fetched = {
        let _renewer = Renewer::start(site, leased.to_vec());
        aggregate::fetch(
            site,
            store,
            &FetchOptions {
                // Leased means due (or forced): fetch every one.
                all: true,
                only: None,
                keys: Some(leased.to_vec()),
                now,
                ..opts.clone()
            },
        )
    };
    if fetched.is_err() {
        let _ = store.release(leased, holder());
    }
    fetched
}

/// Why each source left was not fetched by this run: not due, disabled,
/// or fetched by another process during it.
fn not_fetched_here(
    store: &mut dyn Store,
    sources: &[ConfiguredSource],
    left: &[String],
    forced_since: Option<DateTime<Utc>>,
    run_start: DateTime<Utc>,
) -> Result<Vec<(String, SourceResult)>, Error> {
    let states: HashMap<String, crate::store::SourceState> = store
        .sources()?
        .into_iter()
        .map(|s| (s.key.clone(), s))
        .collect();
    let mut results = Vec::new();
    for key in left {
        let Some(src) = sources.iter().find(|s| &s.key == key) else {
            continue;
        };
        let state = states.get(key);
        let result = match state.and_then(|s| s.disabled.clone()) {
            Some(why) => SourceResult::Disabled(why),
            // Forced, any source not leased here was another's; else
            // those fetched since this run began.
            None if forced_since.is_some()
                || state.is_some_and(|s| s.last_fetch.is_some_and(|t| t >= run_start)) =>
            {
                SourceResult::Elsewhere
            }
            None => SourceResult::NotDue,
        };
        results.push((src.name.clone(), result));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_names_parse_back() {
        let me = parse_holder(holder()).expect("our own holder parses");
        assert_eq!(me.pid, std::process::id());
        assert!(!me.forced);
        let h = parse_holder("node-1:4026531836:42:18a2b3c4d5e6f708:all").expect("forced");
        assert_eq!(
            (h.host, h.pid_ns, h.pid, h.forced),
            ("node-1", "4026531836", 42, true)
        );
        // Holders of older versions (host:pid:started) are left alone.
        assert_eq!(parse_holder("node-1:42:18a2b3c4d5e6f708"), None);
    }

    #[test]
    fn a_running_process_is_not_dead_and_a_missing_one_is() {
        assert!(!is_dead(std::process::id()));
        assert!(is_dead(u32::MAX - 1));
    }
}
