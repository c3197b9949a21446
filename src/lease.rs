//! Fetch leases: how processes on one store share the fetch work.
//!
//! A process fetches a source only while it holds the source's lease in the
//! store, so each due source is fetched by exactly one of several `serve`
//! replicas (or `fetch` runs) on one PostgreSQL. A lease lasts `lease:` and
//! is renewed while the fetch runs; a process that dies stops renewing, and
//! once its leases run out the others take its sources over. On SQLite the
//! same rules hold between processes sharing the file.

use crate::aggregate::{self, FetchOptions, FetchReport, SourceResult};
use crate::build::Site;
use crate::diag::Error;
use crate::store::Store;
use chrono::Utc;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// This process's name in leases: host, pid and start time, so that a
/// restarted process (same host, maybe same pid in a container) never
/// counts a dead one's leases as its own.
pub fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_string());
        let started = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        format!("{host}:{}:{started:x}", std::process::id())
    })
}

/// This host's name as holders carry it.
fn host_of(holder: &str) -> Option<(&str, u32)> {
    let mut parts = holder.rsplitn(3, ':');
    let _started = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    Some((parts.next()?, pid))
}

/// Free the leases of processes on this host that no longer run (a killed
/// `fetch`, a crashed daemon), so that they need not wait for the leases to
/// run out. A holder elsewhere, or whose pid runs (perhaps reused), is left
/// to its lease's end. Linux only (`/proc`); elsewhere nothing is freed.
pub fn reclaim_dead(store: &mut dyn Store) -> Result<usize, Error> {
    if !std::path::Path::new("/proc/self").exists() {
        return Ok(0);
    }
    let Some((me, _)) = host_of(holder()) else {
        return Ok(0);
    };
    let mut freed = 0;
    for h in store.lease_holders(Utc::now())? {
        let Some((host, pid)) = host_of(&h) else {
            continue;
        };
        if host == me && h != holder() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let n = store.break_leases(&h)?;
            tracing::info!("freed {n} fetch leases of {h}, which no longer runs");
            freed += n;
        }
    }
    Ok(freed)
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
        let location = aggregate::store_location(site);
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
    reclaim_dead(store)?;
    let run_start = Utc::now();
    // One query for what the store knows, rather than one per source.
    let known: HashMap<String, String> = store
        .sources()?
        .into_iter()
        .map(|s| (s.key, s.name))
        .collect();
    let mut left: Vec<String> = Vec::new();
    for s in &sources {
        let selected = match (&opts.only, &opts.keys) {
            (Some(o), _) => o == &s.name || o == &s.key,
            (None, Some(keys)) => keys.contains(&s.key),
            (None, None) => true,
        };
        if selected {
            if known.get(&s.key) != Some(&s.name) {
                store.ensure_source(&s.key, &s.name)?;
            }
            left.push(s.key.clone());
        }
    }
    // On a shared store, chunks small enough that processes starting
    // together split the work and large enough to keep every fetch slot
    // busy. On a SQLite file, one chunk: each chunk is a fetch run of its
    // own (a client, a runtime, the slowest source waited for), and another
    // process on the file still finds every source leased.
    let chunk = if aggregate::store_location(site).is_shared() {
        site.config.fetch.concurrency.max(1) * 4
    } else {
        usize::MAX
    };
    // `--all` and `--source`: now, whatever the schedule, but once in this
    // run however many processes run it.
    let forced_since = (opts.all || opts.only.is_some()).then_some(run_start);
    let mut report = FetchReport::default();
    loop {
        let now = Utc::now();
        let leased = store.lease(
            &left,
            holder(),
            now,
            now + site.config.lease,
            chunk,
            forced_since,
        )?;
        if leased.is_empty() {
            break;
        }
        let fetched = {
            let _renewer = Renewer::start(site, leased.clone());
            aggregate::fetch(
                site,
                store,
                &FetchOptions {
                    // Leased means due (or forced): fetch every one.
                    all: true,
                    only: None,
                    keys: Some(leased.clone()),
                    now,
                    ..opts.clone()
                },
            )
        };
        let released = store.release(&leased, holder());
        report.sources.extend(fetched?.sources);
        released?;
        let done: HashSet<&String> = leased.iter().collect();
        left.retain(|k| !done.contains(k));
    }
    // Not due, disabled, or fetched by another process during this run.
    let states: HashMap<String, crate::store::SourceState> = store
        .sources()?
        .into_iter()
        .map(|s| (s.key.clone(), s))
        .collect();
    for key in &left {
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
        report.sources.push((src.name.clone(), result));
    }
    // In the order of the configuration, as one `fetch` reports it.
    report
        .sources
        .sort_by_key(|(name, _)| sources.iter().position(|s| &s.name == name));
    Ok(report)
}
