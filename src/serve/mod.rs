//! `tributary serve`: one long-running process that keeps the feeds fresh
//! and serves them.
//!
//! - a scheduler fetches the sources that are due (each batch on its own
//!   thread, so a slow source never holds up the next batch; a source in
//!   flight is never fetched again until it is done);
//! - a rebuild runs when a fetch changed the store, a file under `content/`,
//!   `feeds/` or `tributary.yaml` changed, or a future-dated post goes live;
//!   a build that fails keeps the last good feeds served and logs why;
//! - the HTTP side (`http.rs`) serves the last good build from memory.
//!
//! Schedules, backoff and next-due times live in the store, so a restart
//! does not refetch everything.

pub mod conn;
pub mod http;
pub mod snapshot;
pub mod subscriber;
mod transitions;
mod watch;
pub mod websub;

use crate::app::aggregate::{self, FetchOptions};
use crate::app::build::{self, Options};
use crate::model::{Error, StoreFault};
use crate::site::Site;
use crate::store::health::Health;
use chrono::{DateTime, Utc};
use snapshot::{SiteHeaders, Snapshot};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How long after SIGTERM/SIGINT in-flight fetches may still finish: the
/// process exits within 10 s of the signal, this plus winding down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(9);
/// Edits arrive in bursts (an editor's save, a `git pull`): wait this long
/// for quiet before rebuilding.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// What `serve` was asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Overrides `listen:`.
    pub listen: Option<SocketAddr>,
    pub drafts: bool,
    pub future: bool,
    pub output: Option<PathBuf>,
    /// `--public-url`: the HTML pages link here instead of `base_url`.
    pub public_url: Option<String>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub fetched: AtomicU64,
    pub fetch_not_modified: AtomicU64,
    pub fetch_failed: AtomicU64,
    pub fetch_gone: AtomicU64,
    pub builds_ok: AtomicU64,
    pub builds_failed: AtomicU64,
    pub build_ms: AtomicU64,
    pub requests: AtomicU64,
    pub not_modified: AtomicU64,
    /// WebSub, as a subscriber: pushes stored, pushes refused (signature),
    /// requests sent to hubs.
    pub pushes_received: AtomicU64,
    pub pushes_refused: AtomicU64,
    pub hub_requests: AtomicU64,
    /// WebSub, as the hub of `hub: self`: pushes sent, failed, dropped.
    pub hub_delivered: AtomicU64,
    pub hub_failed: AtomicU64,
    pub hub_dropped: AtomicU64,
}

/// What `/healthz` and `/metrics` report besides counters.
#[derive(Debug, Default, Clone)]
pub struct Status {
    pub last_build: Option<DateTime<Utc>>,
    pub last_build_error: Option<String>,
    pub last_fetch: Option<DateTime<Utc>>,
    pub health: Vec<Health>,
}

/// State shared by the HTTP handlers and the background tasks.
pub struct App {
    root: PathBuf,
    opts: ServeOptions,
    snapshot: RwLock<Arc<Snapshot>>,
    site: RwLock<Arc<Site>>,
    status: Mutex<Status>,
    pub metrics: Metrics,
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// Sources known to be in the store (created once, not every tick).
    known: Mutex<HashSet<String>>,
    /// When the leases of sources in flight were last renewed.
    renewed: Mutex<std::time::Instant>,
    /// Sources whose last batch failed as a whole (the store, not the
    /// upstream): not tried again before this instant.
    cooldown: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// `fetch:` limits shared by every batch (set at start; a change to
    /// `concurrency` or `per_host` takes a restart).
    slots: std::sync::Arc<crate::fetch::Slots>,
    /// Warnings already logged: every build reports them again.
    warned: Mutex<HashSet<String>>,
    rebuild: Notify,
    stopping: AtomicBool,
    /// The shared documents generation served (0 on SQLite).
    doc_generation: AtomicU64,
    /// Another replica published a build: load it.
    reload: Notify,
    /// The open connections, their cap and what was shed.
    pub connections: Arc<conn::Tracker>,
    /// Which sources are failing: logged when that changes, not every fetch.
    source_health: transitions::Transitions,
    /// The WebSub hub of `hub: self` (`websub.rs`).
    websub: websub::HubState,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl App {
    /// The documents of the last good build.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        read(&self.snapshot)
    }

    /// Serve `snap` from now on, with the headers `site` gives it. The new
    /// documents are served at once; their compressed copies are made next,
    /// on a thread of their own: an edit is not held back by compression,
    /// and the runtime's workers keep answering while it runs (a request
    /// for a copy not made yet makes it, or waits for the thread that is).
    fn publish(&self, mut snap: Snapshot, site: &Site) {
        snap.headers = SiteHeaders::new(site, snap.docs.keys());
        let snap = Arc::new(snap);
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snap.clone();
        let spawned = std::thread::Builder::new()
            .name("precompress".into())
            .spawn(move || snap.precompress());
        if let Err(e) = spawned {
            tracing::warn!("cannot start the compression thread ({e}): requests compress");
        }
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn site(&self) -> Arc<Site> {
        read(&self.site)
    }

    /// The WebSub hub, as the current configuration says.
    pub fn hub(&self) -> Option<String> {
        self.site().config.hub.as_ref().map(|h| h.to_string())
    }

    fn build_options(&self) -> Options {
        Options {
            drafts: self.opts.drafts,
            future: self.opts.future,
            output: self.opts.output.clone(),
            ..Options::default()
        }
    }

    /// One round trip to a shared store (readiness); nothing on SQLite,
    /// which is a local file.
    pub fn ping_store(&self) -> Result<(), Error> {
        let site = self.site();
        if !site.store_location().is_shared() {
            return Ok(());
        }
        let mut store = aggregate::open_store(&site)?;
        if let Some(shared) = store.shared() {
            shared.ping()?;
        }
        Ok(())
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Raise the soft limit on open files to the hard one, and size the
/// connection cap from it: `serve: max_connections`, lowered so that
/// builds, the store and fetches keep descriptors however many clients
/// connect. Both figures are logged.
fn connection_cap(site: &Site) -> usize {
    let configured = site.config.serve.max_connections;
    let open_files = match conn::raise_open_files_limit() {
        Ok((soft, hard, before)) => {
            if soft > before {
                tracing::info!("{soft} open files allowed (soft limit raised from {before}, the hard limit is {hard})");
            } else {
                tracing::info!("{soft} open files allowed (the hard limit is {hard})");
            }
            soft
        }
        Err(e) => {
            // Sized as for the usual default rather than not at all.
            tracing::warn!("cannot read or raise the limit on open files ({e}): assuming 1024");
            1024
        }
    };
    let reserve = conn::reserve(open_files, site.config.fetch.concurrency);
    let cap = conn::connection_cap(configured, open_files, reserve);
    if cap < configured {
        tracing::warn!(
            "at most {cap} connections (not serve: max_connections {configured}): {open_files} open files allowed, {reserve} kept for builds, the store and fetches; raise LimitNOFILE or ulimit -n"
        );
    } else {
        tracing::info!("at most {cap} connections ({reserve} open files kept for builds, the store and fetches)");
    }
    cap
}

/// Run the daemon until SIGTERM or SIGINT; `Ok` on a clean stop.
pub fn run(root: &Path, opts: ServeOptions) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    // Before anything slow (loading the site, the first build): until the
    // handlers are registered, SIGTERM would kill the process (exit 143).
    let stop = rt.block_on(async { Stop::listen() });
    let site = Site::load(root)?;
    let listen = match opts.listen {
        Some(a) => a,
        None => crate::config::parse_listen(&site.config.listen).ok_or_else(|| {
            Error::at(
                "tributary.yaml",
                None,
                format!("listen {:?} is not an address", site.config.listen),
            )
        })?,
    };
    let connections = Arc::new(conn::Tracker::new(connection_cap(&site)));
    let app = Arc::new(App {
        slots: crate::fetch::Slots::new(&site.config.fetch),
        source_health: transitions::Transitions::default(),
        root: root.to_path_buf(),
        site: RwLock::new(Arc::new(site)),
        opts,
        snapshot: RwLock::new(Arc::new(Snapshot::default())),
        status: Mutex::new(Status::default()),
        metrics: Metrics::default(),
        in_flight: Arc::new(Mutex::new(HashSet::new())),
        known: Mutex::new(HashSet::new()),
        renewed: Mutex::new(std::time::Instant::now()),
        cooldown: Mutex::new(std::collections::HashMap::new()),
        warned: Mutex::new(HashSet::new()),
        rebuild: Notify::new(),
        stopping: AtomicBool::new(false),
        doc_generation: AtomicU64::new(0),
        reload: Notify::new(),
        connections,
        websub: websub::HubState::default(),
    });
    let result = rt.block_on(serve(app, listen, stop));
    // A fetch still running after the grace period is abandoned: dropping
    // the runtime would wait for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

/// SIGTERM or SIGINT, caught from the moment [`Stop::listen`] is called:
/// when it came, for every phase of the daemon to wait on.
#[derive(Clone)]
struct Stop(tokio::sync::watch::Receiver<Option<std::time::Instant>>);

impl Stop {
    /// Register the handlers now; call inside the runtime.
    fn listen() -> Stop {
        let (tx, rx) = tokio::sync::watch::channel(None);
        #[cfg(unix)]
        let (term, int) = {
            use tokio::signal::unix::{signal, SignalKind};
            (
                signal(SignalKind::terminate()).ok(),
                signal(SignalKind::interrupt()).ok(),
            )
        };
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                    match s {
                        Some(mut s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = wait(term) => {},
                    _ = wait(int) => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            tracing::info!("stopping: no new work; in-flight fetches get {SHUTDOWN_GRACE:?}");
            let _ = tx.send(Some(std::time::Instant::now()));
        });
        Stop(rx)
    }

    /// When the signal came, once it has.
    async fn stopped(&self) -> std::time::Instant {
        let mut rx = self.0.clone();
        loop {
            if let Some(at) = *rx.borrow_and_update() {
                return at;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

async fn serve(app: Arc<App>, listen: SocketAddr, stop: Stop) -> Result<(), Error> {
    if !wait_for_store(&app, &stop).await? {
        tracing::info!("stopped while waiting for the store");
        return Ok(());
    }
    let Some(next_future) = first_build(&app, &stop).await? else {
        tracing::info!("stopped during the first build");
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("listen {listen}"), e))?;
    let bound = listener.local_addr().map_err(|e| Error::io("listen", e))?;
    // One line on stderr that scripts (and tests) can read the port from.
    eprintln!("tributary: serving http://{bound}/");
    tracing::info!(%bound, "serving");

    let watcher = watch::start(
        &app.root,
        app.site().output_dir(&app.build_options()),
        app.site().config.content.clone(),
        {
            let app = app.clone();
            move || app.rebuild.notify_one()
        },
    );
    if let Err(e) = &watcher {
        tracing::warn!("not watching for edits: {e}");
    }
    let fetches = Arc::new(Mutex::new(Vec::new()));
    let scheduler = tokio::spawn(schedule(app.clone(), fetches.clone()));
    let rebuilder = tokio::spawn(rebuild_loop(app.clone(), next_future));
    let follower = tokio::spawn(follow_shared(app.clone()));
    let pusher = tokio::spawn(websub::run(app.clone()));
    let subscriptions = tokio::spawn(subscriber::run(app.clone()));

    let router = http::router(app.clone());
    let timeouts: conn::Timeouts = {
        let app = app.clone();
        Arc::new(move || {
            let s = &app.site().config.serve;
            (s.header_timeout, s.idle_timeout)
        })
    };
    // conn::serve lets the requests being answered finish for a few
    // seconds at most: a client that keeps one open cannot hold the exit.
    conn::serve(listener, router, app.connections.clone(), timeouts, {
        let stop = stop.clone();
        async move {
            stop.stopped().await;
        }
    })
    .await;
    app.stopping.store(true, Ordering::SeqCst);
    for task in [scheduler, rebuilder, follower, pusher, subscriptions] {
        task.abort();
    }
    drop(watcher);
    finish_fetches(&fetches, &stop).await;
    tracing::info!("stopped");
    Ok(())
}

/// The first build must succeed: there is nothing to serve otherwise. A
/// signal during it ends the daemon without waiting for it (it replaces
/// files atomically, so nothing is left half written): `None`.
async fn first_build(app: &Arc<App>, stop: &Stop) -> Result<Option<Option<DateTime<Utc>>>, Error> {
    let first = app.clone();
    let build = tokio::task::spawn_blocking(move || rebuild(&first));
    tokio::select! {
        built = build => {
            built.map_err(|e| Error::io("build task", std::io::Error::other(e)))?.map(Some)
        }
        _ = stop.stopped() => Ok(None),
    }
}

/// In-flight fetches finish or are abandoned; every store write is a
/// transaction, so an abandoned one leaves the store as it was. The grace
/// counts from the signal, not from when the HTTP side closed.
async fn finish_fetches(fetches: &Mutex<Vec<tokio::task::JoinHandle<()>>>, stop: &Stop) {
    let pending: Vec<tokio::task::JoinHandle<()>> =
        std::mem::take(&mut *fetches.lock().unwrap_or_else(|e| e.into_inner()));
    let signalled = *stop.0.borrow();
    let deadline = signalled.unwrap_or_else(std::time::Instant::now) + SHUTDOWN_GRACE;
    let _ = tokio::time::timeout_at(deadline.into(), async {
        for p in pending {
            let _ = p.await;
        }
    })
    .await;
}

/// A replica may start before its PostgreSQL (a cluster coming up): wait
/// for the store, saying so, rather than exit; until then nothing listens,
/// so a readiness probe keeps traffic away. SIGTERM or SIGINT stop waiting:
/// `Ok(false)`.
async fn wait_for_store(app: &Arc<App>, stop: &Stop) -> Result<bool, Error> {
    let mut delay = Duration::from_millis(500);
    loop {
        let a = app.clone();
        // A connection attempt to a host that drops packets can take long:
        // the signal does not wait for it.
        let ping = tokio::select! {
            p = tokio::task::spawn_blocking(move || a.ping_store()) => {
                p.map_err(|e| Error::io("store check", std::io::Error::other(e)))?
            }
            _ = stop.stopped() => return Ok(false),
        };
        match ping {
            Ok(()) => return Ok(true),
            // Unreachable (or refusing connections for now): worth waiting for.
            Err(
                e @ Error::Store {
                    fault: StoreFault::Unreachable,
                    ..
                },
            ) => {
                tracing::warn!("waiting for the store: {e}")
            }
            // A store of a newer tributary, or not ours: waiting will not help.
            Err(e) => return Err(e),
        }
        tokio::select! {
            _ = stop.stopped() => return Ok(false),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Build, then swap in the new documents. A failed build keeps the old ones
/// and says exactly why (`file:line: ...`).
fn rebuild(app: &App) -> Result<Option<DateTime<Utc>>, Error> {
    let started = std::time::Instant::now();
    // What changed is measured against what was served before the build:
    // on a shared store the build's own publish can be loaded (as another
    // replica's, by `follow_shared`) before the build returns, and then the
    // snapshot served would already hold its changes.
    let before = app.snapshot();
    let result = build_snapshot(app);
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok((site, report, snap)) => {
            let changed = changed_docs(&before, &snap);
            app.publish(snap, &site);
            *app.site.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(site);
            app.metrics.builds_ok.fetch_add(1, Ordering::Relaxed);
            app.metrics.build_ms.store(ms, Ordering::Relaxed);
            let health = crate::app::sources::health(&app.site()).unwrap_or_default();
            app.set_status(|s| {
                s.last_build = Some(Utc::now());
                s.last_build_error = None;
                s.health = health;
            });
            warn_once(app, &report);
            tracing::info!(
                written = report.written,
                unchanged = report.unchanged,
                "built {} documents in {ms} ms",
                report.documents
            );
            if !changed.is_empty() {
                notify_hub(app, &changed);
            }
            Ok(report.next_future)
        }
        Err(e) => {
            app.metrics.builds_failed.fetch_add(1, Ordering::Relaxed);
            app.set_status(|s| s.last_build_error = Some(e.to_string()));
            for line in e.to_string().lines() {
                tracing::error!("{line}");
            }
            tracing::error!("the build failed: still serving the last good feeds");
            Err(e)
        }
    }
}

/// One build and the snapshot to serve from it. On a shared store, builds
/// take turns (the build lock) and the result is published for every
/// replica to serve.
fn build_snapshot(app: &App) -> Result<(Site, build::Report, Snapshot), Error> {
    let site = Site::load(&app.root)?;
    let opts = app.build_options();
    let output = site.output_dir(&opts);
    let previous = app.snapshot();
    let mut shared = if site.store_location().is_shared() {
        Some(aggregate::open_store(&site)?)
    } else {
        None
    };
    // Held until the published documents are read back below.
    let _lock = match shared.as_mut().and_then(|s| s.shared()) {
        Some(s) => Some(s.build_lock()?),
        None => None,
    };
    let report = build::build(&app.root, &opts)?;
    let mut snap =
        Snapshot::load(&output, &report.files, &previous).map_err(|e| Error::io(&output, e))?;
    snap.index = Some(Arc::new(index_page(&site, &snap.files())));
    if let Some(store) = shared.as_mut().and_then(|s| s.shared()) {
        // The `/` page too, so that every replica answers it alike.
        store.publish(&snap.shared_docs())?;
        // The store keeps a document's `Last-Modified` while its bytes
        // stay the same: serve what it holds, as every replica does.
        let (generation, docs) = store.documents()?;
        snap = Snapshot::from_shared(docs, &previous);
        app.doc_generation.store(generation, Ordering::SeqCst);
    }
    if let Some(local) = &app.opts.public_url {
        snap.rebase_pages(site.config.base_url.as_str(), local);
    }
    Ok((site, report, snap))
}

/// A build's warnings, each logged once for the daemon's life: a rebuild
/// every few seconds must not repeat the same lines.
fn warn_once(app: &App, report: &build::Report) {
    let mut warned = app.warned.lock().unwrap_or_else(|e| e.into_inner());
    for w in report.warnings.iter().chain(&report.skipped) {
        let line = w.to_string();
        if warned.insert(line.clone()) {
            tracing::warn!("{line}");
        }
    }
}

/// Paths whose bytes differ between two snapshots (new ones included).
fn changed_docs(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = new
        .docs
        .iter()
        .filter(|(p, d)| old.docs.get(*p).is_none_or(|o| o.hash != d.hash))
        .map(|(p, _)| p.clone())
        .collect();
    out.sort();
    out
}

/// WebSub: tell the hub which feeds changed (`hub.mode=publish`). Best
/// effort: a hub that is down costs a warning, never a build.
fn notify_hub(app: &App, changed: &[String]) {
    if app.site().config.hub_self {
        return websub::changed(app, changed);
    }
    let Some(hub) = app.hub() else {
        return;
    };
    let site = app.site();
    let urls: Vec<String> = changed
        .iter()
        .filter(|p| !p.ends_with(".html") && !p.ends_with(".xsl"))
        .map(|p| site.config.url_for(p))
        .collect();
    if urls.is_empty() {
        return;
    }
    let settings = site.config.fetch.clone();
    let base = site.config.base_url.to_string();
    std::thread::spawn(move || {
        let result = (|| {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(settings.timeout))
                .user_agent(crate::fetch::user_agent(Some(&base)))
                .build()?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string());
            let Ok(rt) = rt else {
                return Ok(());
            };
            rt.block_on(async {
                for url in &urls {
                    let body = format!(
                        "hub.mode=publish&hub.url={}",
                        url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
                    );
                    let r = client
                        .post(&hub)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await?;
                    tracing::info!(%hub, %url, status = r.status().as_u16(), "WebSub publish");
                }
                Ok::<(), reqwest::Error>(())
            })
        })();
        if let Err(e) = result {
            tracing::warn!(%hub, "WebSub hub not notified: {e}");
        }
    });
}

/// The `/` page (`build` writes the same page as `index.html`).
fn index_page(site: &Site, files: &[build::OutputFile]) -> snapshot::Doc {
    let html = crate::app::index::index_html(site, files);
    snapshot::Doc::new(html.into_bytes(), "text/html; charset=utf-8", None)
}

/// How often a replica on a shared store checks the published generation
/// besides LISTEN/NOTIFY (a notification lost with a connection).
const FOLLOW_POLL: Duration = Duration::from_secs(30);

/// On a shared store: load the documents another replica published, when
/// notified and every `FOLLOW_POLL`.
async fn follow_shared(app: Arc<App>) {
    let site = app.site();
    if !site.store_location().is_shared() {
        return;
    }
    let listening = {
        let a = app.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = aggregate::open_store(&a.site())?;
            if let Some(shared) = store.shared() {
                let notify = a.clone();
                shared.listen(Box::new(move || notify.reload.notify_one()))?;
            }
            Ok::<_, Error>(())
        })
        .await
    };
    match listening {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("not listening for other replicas' builds: {e}"),
        Err(e) => tracing::warn!("not listening for other replicas' builds: {e}"),
    }
    loop {
        tokio::select! {
            _ = app.reload.notified() => {}
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
        }
        if app.stopping.load(Ordering::SeqCst) {
            return;
        }
        let a = app.clone();
        match tokio::task::spawn_blocking(move || load_shared(&a)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot load the published documents: {e}"),
            Err(e) => tracing::warn!("cannot load the published documents: {e}"),
        }
    }
}

/// Swap in the documents published in the store if they are newer than
/// those served.
fn load_shared(app: &App) -> Result<(), Error> {
    let site = app.site();
    let mut store = aggregate::open_store(&site)?;
    let Some(shared) = store.shared() else {
        return Ok(());
    };
    let served = app.doc_generation.load(Ordering::SeqCst);
    if shared.documents_generation()? == served {
        return Ok(());
    }
    let (generation, docs) = shared.documents()?;
    if generation == served {
        return Ok(());
    }
    let previous = app.snapshot();
    let mut snap = Snapshot::from_shared(docs, &previous);
    if snap.index.is_none() {
        snap.index = Some(Arc::new(index_page(&site, &snap.files())));
    }
    app.publish(snap, &site);
    app.doc_generation.store(generation, Ordering::SeqCst);
    tracing::info!(generation, "serving documents another replica built");
    Ok(())
}

/// Rebuild when asked (debounced), and when the next future post goes live.
async fn rebuild_loop(app: Arc<App>, mut next_future: Option<DateTime<Utc>>) {
    // A build that failed for a passing reason (the store unreachable or
    // busy, the process out of descriptors) is tried again, backing off,
    // until it succeeds: the edit that asked for it would otherwise wait for
    // the next one. A broken post is not retried: it fails the same way
    // until it is fixed, which is itself an edit.
    let mut retry: Option<Duration> = None;
    loop {
        // A future post whose time has already come (the build was slow) is due now.
        let wait = match next_future {
            Some(d) => (d - Utc::now()).to_std().unwrap_or(Duration::ZERO),
            None => Duration::from_secs(3600),
        };
        let wait = retry.map_or(wait, |r| r.min(wait));
        tokio::select! {
            _ = app.rebuild.notified() => {
                // Let a burst of edits settle.
                loop {
                    tokio::select! {
                        _ = app.rebuild.notified() => continue,
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                    }
                }
            }
            _ = tokio::time::sleep(wait) => {
                if retry.is_some() {
                    tracing::info!("trying the failed build again");
                } else if next_future.is_none() {
                    continue;
                } else {
                    tracing::info!("a future-dated post goes live");
                }
            }
        }
        if app.stopping.load(Ordering::SeqCst) {
            return;
        }
        let a = app.clone();
        match tokio::task::spawn_blocking(move || rebuild(&a)).await {
            Ok(Ok(next)) => {
                next_future = next;
                retry = None;
            }
            Ok(Err(e)) if e.is_transient() => {
                let next = retry.map_or(BUILD_RETRY_FIRST, |r| (r * 2).min(BUILD_RETRY_MAX));
                let why = match &e {
                    Error::Store {
                        fault: StoreFault::Unreachable,
                        ..
                    } => "the store is unreachable",
                    Error::Store {
                        fault: StoreFault::Locked,
                        ..
                    } => "the store is locked",
                    _ => "out of open files or memory",
                };
                tracing::warn!("{why}: the build is tried again in {next:?}");
                retry = Some(next);
            }
            Ok(Err(_)) => retry = None,
            Err(e) => tracing::error!("build task failed: {e}"),
        }
    }
}

/// The first wait before a build that failed for a passing reason is tried
/// again, and the longest (the wait doubles in between).
const BUILD_RETRY_FIRST: Duration = Duration::from_secs(2);
const BUILD_RETRY_MAX: Duration = Duration::from_secs(60);

/// How often the scheduler looks for due sources: fine enough for a
/// per-second cron, cheap (one small query).
const TICK: Duration = Duration::from_millis(250);

/// How often the scheduler looks for leases of dead processes on this host.
const RECLAIM_EVERY: Duration = Duration::from_secs(1);

/// Every tick: fetch the sources that are due and not in flight, as one
/// batch on its own thread.
async fn schedule(app: Arc<App>, fetches: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // During an outage every tick fails alike: say so once a minute, and
    // when it is over.
    let mut failing: Option<(String, std::time::Instant)> = None;
    loop {
        tick.tick().await;
        if app.stopping.load(Ordering::SeqCst) {
            return;
        }
        let a = app.clone();
        let due = match tokio::task::spawn_blocking(move || due_sources(&a)).await {
            Ok(Ok(due)) => {
                if failing.take().is_some() {
                    tracing::info!("the store answers again: fetching resumes");
                }
                due
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                let repeat = failing
                    .as_ref()
                    .is_some_and(|(t, at)| *t == text && at.elapsed() < Duration::from_secs(60));
                if !repeat {
                    tracing::warn!("cannot read the store: {text}");
                    failing = Some((text, std::time::Instant::now()));
                }
                continue;
            }
            Err(_) => continue,
        };
        if due.is_empty() {
            continue;
        }
        app.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(due.iter().cloned());
        let a = app.clone();
        let handle = tokio::task::spawn_blocking(move || fetch_batch(&a, due));
        let mut list = fetches.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|h| !h.is_finished());
        list.push(tokio::spawn(async move {
            let _ = handle.await;
        }));
    }
}

/// Lease the configured sources that are due now and not being fetched
/// here (at most as many as the fetch slots can start soon, so that other
/// replicas on a shared store get their share), and renew the leases of
/// those in flight.
fn due_sources(app: &App) -> Result<Vec<String>, Error> {
    let site = app.site();
    let sources = aggregate::configured_sources(&site);
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let mut store = aggregate::open_store(&site)?;
    // Not only at start: a replica on this host may die at any time.
    crate::app::lease::reclaim_dead_now_and_then(&mut *store, RECLAIM_EVERY)?;
    {
        let mut known = app.known.lock().unwrap_or_else(|e| e.into_inner());
        for s in &sources {
            if !known.contains(&s.key) {
                store.ensure_source(&s.key, &s.name)?;
                known.insert(s.key.clone());
            }
        }
    }
    let now = Utc::now();
    let until = now + site.config.lease;
    let in_flight: Vec<String> = app
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    {
        let mut renewed = app.renewed.lock().unwrap_or_else(|e| e.into_inner());
        if !in_flight.is_empty()
            && renewed.elapsed() >= crate::app::lease::renew_every(site.config.lease)
        {
            store.renew(&in_flight, crate::app::lease::holder(), until)?;
            *renewed = std::time::Instant::now();
        }
    }
    let room = (site.config.fetch.concurrency.max(1) * 2).saturating_sub(in_flight.len());
    if room == 0 {
        return Ok(Vec::new());
    }
    let candidates: Vec<String> = {
        let mut cooldown = app.cooldown.lock().unwrap_or_else(|e| e.into_inner());
        let instant = std::time::Instant::now();
        cooldown.retain(|_, until| *until > instant);
        sources
            .into_iter()
            .filter(|s| !in_flight.contains(&s.key) && !cooldown.contains_key(&s.key))
            .map(|s| s.key)
            .collect()
    };
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store.lease(
        &candidates,
        crate::app::lease::holder(),
        now,
        until,
        room,
        None,
    )?)
}

/// Takes the batch's sources out of `in_flight` however the batch ends, a
/// panic included: a source left in flight would never be fetched again.
struct InFlight<'a> {
    app: &'a App,
    keys: &'a [String],
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.app.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for k in self.keys {
            in_flight.remove(k);
        }
    }
}

/// How long a batch that failed as a whole waits before its sources are tried again.
const BATCH_COOLDOWN: Duration = Duration::from_secs(60);

fn fetch_batch(app: &App, keys: Vec<String>) {
    let _in_flight = InFlight { app, keys: &keys };
    let site = app.site();
    let result = (|| {
        let mut store = aggregate::open_store(&site)?;
        let before = store.generation()?;
        let report = aggregate::fetch(
            &site,
            &mut *store,
            &FetchOptions {
                all: false,
                only: None,
                keys: Some(keys.clone()),
                slots: Some(app.slots.clone()),
                release_to: Some(crate::app::lease::holder().to_string()),
                in_flight: Some(app.in_flight.clone()),
                now: Utc::now(),
                progress: false,
            },
        )?;
        let after = store.generation()?;
        // Given back once the sources' new state is saved; a replica that
        // dies before this loses them when the lease runs out.
        store.release(&keys, crate::app::lease::holder())?;
        Ok::<_, Error>((report, after != before))
    })();
    match result {
        Ok((report, mut changed)) => {
            use aggregate::SourceResult as R;
            for (name, r) in &report.sources {
                let counter = match r {
                    R::Fetched { .. } => &app.metrics.fetched,
                    R::NotModified => &app.metrics.fetch_not_modified,
                    R::Failed(_) => &app.metrics.fetch_failed,
                    R::Gone => &app.metrics.fetch_gone,
                    R::NotDue | R::Elsewhere | R::Disabled(_) => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                // Every fetch at debug; a change of health at warn/info.
                tracing::debug!(source = %name, "{}", aggregate::describe(r));
                // A source that starts failing changes no document but the
                // `/` page's health: rebuild for it too.
                changed |= app.source_health.observe(name, r);
            }
            let health = crate::app::sources::health(&site).unwrap_or_default();
            app.set_status(|s| {
                s.last_fetch = Some(Utc::now());
                s.health = health;
            });
            if changed {
                app.rebuild.notify_one();
            }
        }
        Err(e) => {
            tracing::warn!("fetch failed: {e}; these sources wait {BATCH_COOLDOWN:?}");
            let until = std::time::Instant::now() + BATCH_COOLDOWN;
            let mut cooldown = app.cooldown.lock().unwrap_or_else(|e| e.into_inner());
            for k in &keys {
                cooldown.insert(k.clone(), until);
            }
        }
    }
}
