//! The accept loop of `serve`: HTTP/1.1 connections on hyper, and the
//! shedding of what cannot be served.
//!
//! A client that opens a connection and never finishes its headers holds a
//! descriptor for as long as it likes; a few hundred of them used to take
//! every descriptor, locking out readers and failing builds. So:
//!
//! - a connection whose headers are not complete `header_timeout` after it
//!   opened (or after the first byte of its next request) is closed;
//! - a kept-alive connection with nothing to do for `idle_timeout` is closed;
//! - at most `cap` connections are open, `cap` kept below the limit on open
//!   files so that builds, the store and fetches always have descriptors;
//!   at the cap a new connection closes the stalest one that is not being
//!   answered (still reading headers first, then idle), never a reader
//!   being answered.
//!
//! Timeouts are enforced here rather than by hyper's `header_read_timeout`:
//! hyper starts that timer as soon as a kept-alive connection goes idle, so
//! it would also cut idle connections at the header timeout.

use axum::Router;
use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The request headers are not complete yet (a new connection starts here).
const HEAD: u8 = 0;
/// A request is being answered.
const BUSY: u8 = 1;
/// Answered (or answering with the body on its way): waiting for the next
/// request.
const IDLE: u8 = 2;

/// What a connection's task is told to do (`Conn::signal`).
const RUN: u8 = 0;
/// Finish the request being answered, then close (shutdown).
const DRAIN: u8 = 1;
/// Close now.
const KILL: u8 = 2;

/// How often timeouts are checked: a connection lives at most this much
/// longer than its timeout.
const REAP_EVERY: Duration = Duration::from_millis(250);
/// How long requests being answered get to finish at shutdown.
const DRAIN_FOR: Duration = Duration::from_secs(3);

/// One open connection, as the tracker sees it.
struct Conn {
    phase: AtomicU8,
    /// Milliseconds since the tracker's epoch: when the phase began (for
    /// `IDLE`, the last byte written).
    since: AtomicU64,
    /// `RUN`, `DRAIN` or `KILL`, read by the connection's task whenever it
    /// is woken: an atomic load, where a `Notify` would take a lock on
    /// every wake of every connection.
    signal: AtomicU8,
    /// The connection's task, woken when `signal` changes.
    waker: AtomicWaker,
}

impl Conn {
    fn new(phase: u8, since: u64) -> Conn {
        Conn {
            phase: AtomicU8::new(phase),
            since: AtomicU64::new(since),
            signal: AtomicU8::new(RUN),
            waker: AtomicWaker::new(),
        }
    }

    /// Close now (timed out, evicted, or not being answered at shutdown).
    fn kill(&self) {
        self.signal.store(KILL, Ordering::Release);
        self.waker.wake();
    }

    /// Finish the request being answered, then close.
    fn drain(&self) {
        let _ = self
            .signal
            .compare_exchange(RUN, DRAIN, Ordering::AcqRel, Ordering::Acquire);
        self.waker.wake();
    }
}

/// Why connections were closed by the server, for `/metrics`.
#[derive(Debug, Default)]
pub struct Shed {
    /// Closed with their headers incomplete after `header_timeout`.
    pub header_timeout: AtomicU64,
    /// Closed after `idle_timeout` without a request.
    pub idle_timeout: AtomicU64,
    /// Closed to make room for a new connection at the cap.
    pub evicted: AtomicU64,
    /// New connections refused at the cap: every open one was being answered.
    pub refused: AtomicU64,
}

impl Shed {
    /// Each counter under its `reason` label.
    pub fn by_reason(&self) -> [(&'static str, &AtomicU64); 4] {
        [
            ("header_timeout", &self.header_timeout),
            ("idle_timeout", &self.idle_timeout),
            ("evicted", &self.evicted),
            ("refused", &self.refused),
        ]
    }
}

/// The open connections and the cap on them.
pub struct Tracker {
    epoch: Instant,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    cap: usize,
    pub shed: Shed,
}

impl Tracker {
    /// A tracker allowing `cap` connections at once (at least one).
    pub fn new(cap: usize) -> Tracker {
        Tracker {
            epoch: Instant::now(),
            open: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            cap: cap.max(1),
            shed: Shed::default(),
        }
    }

    /// Connections allowed at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Register a new connection. At the cap, the stalest connection not
    /// being answered is closed to make room; `None` when every open
    /// connection is being answered (the new one is refused).
    fn admit(&self) -> Option<(u64, Arc<Conn>)> {
        let mut open = self.lock();
        if open.len() >= self.cap {
            if !evict_one(&mut open) {
                self.shed.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            self.shed.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(HEAD, self.now()));
        open.insert(id, conn.clone());
        Some((id, conn))
    }

    /// Out of descriptors: close the stalest connection not being answered.
    fn evict_for_descriptor(&self) -> bool {
        let evicted = evict_one(&mut self.lock());
        if evicted {
            self.shed.evicted.fetch_add(1, Ordering::Relaxed);
        }
        evicted
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Close the connections past their timeouts.
    fn reap(&self, header_timeout: Duration, idle_timeout: Duration) {
        let now = self.now();
        let header = header_timeout.as_millis() as u64;
        let idle = idle_timeout.as_millis() as u64;
        let mut open = self.lock();
        open.retain(|_, c| {
            let age = now.saturating_sub(c.since.load(Ordering::Relaxed));
            let counter = match c.phase.load(Ordering::Relaxed) {
                HEAD if age > header => &self.shed.header_timeout,
                IDLE if age > idle => &self.shed.idle_timeout,
                _ => return true,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            c.kill();
            false
        });
    }

    /// At shutdown: close the connections not being answered; those being
    /// answered finish their answer first (hyper's graceful shutdown).
    fn close_unanswered(&self) {
        self.lock().retain(|_, c| {
            if c.phase.load(Ordering::Relaxed) == BUSY {
                c.drain();
                return true;
            }
            c.kill();
            false
        });
    }

    fn close_all(&self) {
        for c in std::mem::take(&mut *self.lock()).into_values() {
            c.kill();
        }
    }
}

/// Close the stalest connection not being answered: still reading headers
/// (the oldest first), else idle (the longest idle first). `false` if every
/// one is being answered.
fn evict_one(open: &mut BTreeMap<u64, Arc<Conn>>) -> bool {
    let victim = open
        .iter()
        .filter_map(|(id, c)| {
            let rank = match c.phase.load(Ordering::Relaxed) {
                HEAD => 0,
                IDLE => 1,
                _ => return None,
            };
            Some(((rank, c.since.load(Ordering::Relaxed)), *id))
        })
        .min()
        .map(|(_, id)| id);
    match victim.and_then(|id| open.remove(&id)) {
        Some(c) => {
            c.kill();
            true
        }
        None => false,
    }
}

/// Takes a connection out of the tracker however its task ends.
struct Registered {
    tracker: Arc<Tracker>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.tracker.remove(self.id);
    }
}

/// The socket, noting for the tracker when a request begins (bytes read
/// while idle) and when its answer is going out (bytes written).
struct Tracked {
    tcp: TcpStream,
    conn: Arc<Conn>,
    epoch: Instant,
}

impl Tracked {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before && this.conn.phase.load(Ordering::Relaxed) == IDLE {
            // The next request's first bytes: its headers are due within
            // the header timeout from now.
            this.conn.since.store(this.now(), Ordering::Relaxed);
            this.conn.phase.store(HEAD, Ordering::Relaxed);
        }
        r
    }
}

impl Tracked {
    fn wrote(&self, n: usize) {
        if n > 0 && self.conn.phase.load(Ordering::Relaxed) != HEAD {
            // An answer going out: idle from its last byte on, so that a
            // large body read slowly is not cut by the idle timeout while
            // it still moves.
            self.conn.since.store(self.now(), Ordering::Relaxed);
            self.conn.phase.store(IDLE, Ordering::Relaxed);
        }
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.tcp).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.wrote(n);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            this.wrote(n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        // Headers and body go out in one writev.
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The router, noting for the tracker that a request's headers are complete.
#[derive(Clone)]
struct Service {
    inner: TowerToHyperService<Router>,
    conn: Arc<Conn>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = <TowerToHyperService<Router> as hyper::service::Service<
        hyper::Request<Incoming>,
    >>::Response;
    type Error =
        <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<Incoming>>>::Error;
    type Future =
        <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<Incoming>>>::Future;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.conn.phase.store(BUSY, Ordering::Relaxed);
        self.inner.call(req)
    }
}

/// Timeouts read at every check, so that an edit to `serve:` applies
/// without a restart (the cap does not: it is sized at start).
pub type Timeouts = Arc<dyn Fn() -> (Duration, Duration) + Send + Sync>;

/// Accept and serve connections until `stop` completes, then let the
/// requests being answered finish (for a few seconds at most). Returns
/// the instant `stop` completed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tracker: Arc<Tracker>,
    timeouts: Timeouts,
    stop: impl Future<Output = ()>,
) -> Instant {
    let reaper = spawn_reaper(tracker.clone(), timeouts);
    let service = TowerToHyperService::new(router);
    let builder = connection_builder();
    let mut warnings = Warnings::default();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => a,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                accept_failed(e, &tracker, &mut warnings).await;
                continue;
            }
        };
        // Responses go out whole in one write: Nagle's algorithm would only
        // hold a 304's headers back waiting for an ACK.
        let _ = tcp.set_nodelay(true);
        if let Some((id, conn)) = admit_and_warn(&tracker, &mut warnings) {
            spawn_connection(&builder, &service, &tracker, tcp, id, conn);
        }
    }
    let stopped = Instant::now();
    drop(listener);
    reaper.abort();
    finish_answers(&tracker, stopped).await;
    stopped
}

/// Close the connections past their timeouts every [`REAP_EVERY`], until
/// aborted.
fn spawn_reaper(tracker: Arc<Tracker>, timeouts: Timeouts) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REAP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (header, idle) = timeouts();
            tracker.reap(header, idle);
        }
    })
}

/// hyper's HTTP/1.1 settings for every connection.
fn connection_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    // No timer is given to hyper: its header timeout would also cut idle
    // kept-alive connections (see the module comment); the tracker times.
    builder.header_read_timeout(None);
    builder
}

/// Warnings about shedding, at most once a minute each: under attack
/// every accept would log.
#[derive(Default)]
struct Warnings {
    out_of_descriptors: Warned,
    at_cap: Warned,
    failing: Warned,
}

/// After `accept` failed: make room or wait, so that the loop does not spin.
async fn accept_failed(e: io::Error, tracker: &Tracker, warnings: &mut Warnings) {
    // Out of descriptors: the connection waits in the backlog; free a
    // descriptor and take it next time round.
    if crate::model::error::is_exhausted(&e) {
        if warnings.out_of_descriptors.due() {
            tracing::warn!("cannot accept a connection ({e}): closing the stalest to make room");
        }
        tracker.evict_for_descriptor();
        tokio::time::sleep(Duration::from_millis(10)).await;
    } else if !matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        // Not about one connection (reset before it was accepted): do not
        // spin on it.
        if warnings.failing.due() {
            tracing::warn!("cannot accept a connection: {e}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Register an accepted connection with the tracker, saying (now and then)
/// when the cap closed another to make room or refused this one.
fn admit_and_warn(tracker: &Tracker, warnings: &mut Warnings) -> Option<(u64, Arc<Conn>)> {
    let evicted = tracker.shed.evicted.load(Ordering::Relaxed);
    let admitted = tracker.admit();
    if tracker.shed.evicted.load(Ordering::Relaxed) != evicted && warnings.at_cap.due() {
        tracing::warn!(
            "{} connections open, the cap: closing those that wait longest for their headers, or idle longest, to make room",
            tracker.cap
        );
    }
    // Every open connection is being answered: dropping this one (which
    // closes it) is all that can be done.
    if admitted.is_none() && warnings.at_cap.due() {
        tracing::warn!(
            "{} connections open, the cap, all being answered: refusing new ones",
            tracker.cap
        );
    }
    admitted
}

/// Serve an admitted connection on a task of its own, which takes it out of
/// the tracker however it ends.
fn spawn_connection(
    builder: &http1::Builder,
    router: &TowerToHyperService<Router>,
    tracker: &Arc<Tracker>,
    tcp: TcpStream,
    id: u64,
    conn: Arc<Conn>,
) {
    let registered = Registered {
        tracker: tracker.clone(),
        id,
    };
    let io = TokioIo::new(Tracked {
        tcp,
        conn: conn.clone(),
        epoch: tracker.epoch,
    });
    let service = Service {
        inner: router.clone(),
        conn: conn.clone(),
    };
    let connection = builder.serve_connection(io, service);
    tokio::spawn(async move {
        let _registered = registered;
        run_connection(connection, &conn).await;
    });
}

/// Serve one connection until it ends or the tracker's signal closes it
/// (`KILL` at once, `DRAIN` after the answer under way).
async fn run_connection(connection: http1::Connection<TokioIo<Tracked>, Service>, conn: &Conn) {
    tokio::pin!(connection);
    let mut draining = false;
    std::future::poll_fn(|cx| {
        // Registered before the signal is read: a signal sent in between
        // still wakes this task.
        conn.waker.register(cx.waker());
        match conn.signal.load(Ordering::Acquire) {
            KILL => return Poll::Ready(()),
            DRAIN if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            _ => {}
        }
        connection.as_mut().poll(cx).map(|r| {
            if let Err(e) = r {
                tracing::debug!("connection: {e}");
            }
        })
    })
    .await;
}

/// At shutdown: close the connections not being answered, give those being
/// answered [`DRAIN_FOR`] from `stopped` to finish, then close the rest.
async fn finish_answers(tracker: &Tracker, stopped: Instant) {
    tracker.close_unanswered();
    while tracker.open() > 0 && stopped.elapsed() < DRAIN_FOR {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracker.close_all();
}

/// When a warning was last logged.
#[derive(Default)]
struct Warned(Option<Instant>);

impl Warned {
    /// Whether to log now (and note that it was).
    fn due(&mut self) -> bool {
        if self
            .0
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return false;
        }
        self.0 = Some(Instant::now());
        true
    }
}

/// Raise the soft limit on open files to the hard one; the limits after
/// (soft, hard) and the soft one before. Nothing is changed when they are
/// equal (under systemd's `LimitNOFILE=`, whose unit may forbid setrlimit).
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, narrower on some targets
pub fn raise_open_files_limit() -> io::Result<(u64, u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given, which outlives
    // the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let mut want = lim.rlim_max;
        // "Unlimited" is refused for open files: the kernel's ceiling is
        // nr_open (2^20 by default).
        if want == libc::RLIM_INFINITY {
            want = std::fs::read_to_string("/proc/sys/fs/nr_open")
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(1 << 20);
        }
        let raised = libc::rlimit {
            rlim_cur: want.max(lim.rlim_cur),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads only the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64, before as u64))
}

/// Elsewhere there is no such limit to raise.
#[cfg(not(unix))]
pub fn raise_open_files_limit() -> io::Result<(u64, u64, u64)> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Descriptors kept back from connections for builds (posts, outputs), the
/// store, fetches and the watcher: a quarter of the limit, and at least
/// enough for every fetch slot twice over.
pub fn reserve(open_files: u64, fetch_concurrency: usize) -> u64 {
    (open_files / 4).max(64 + 2 * fetch_concurrency as u64)
}

/// The connection cap: `configured`, lowered to what `open_files` leaves
/// after the reserve (half the limit if the reserve would take it all).
pub fn connection_cap(configured: usize, open_files: u64, reserve: u64) -> usize {
    let room = if open_files > 2 * reserve {
        open_files - reserve
    } else {
        open_files / 2
    };
    configured
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_below_the_descriptor_limit() {
        assert_eq!(reserve(256, 16), 96);
        assert_eq!(connection_cap(4096, 256, reserve(256, 16)), 160);
        assert_eq!(connection_cap(4096, 65536, reserve(65536, 16)), 4096);
        assert_eq!(connection_cap(4096, 1024, reserve(1024, 16)), 768);
        assert_eq!(connection_cap(4096, 100, reserve(100, 16)), 50);
        assert_eq!(connection_cap(10, 65536, reserve(65536, 16)), 10);
    }

    fn conn(phase: u8, since: u64) -> Arc<Conn> {
        Arc::new(Conn::new(phase, since))
    }

    #[test]
    fn eviction_takes_the_oldest_unfinished_headers_then_the_longest_idle() {
        let mut open = BTreeMap::new();
        open.insert(1, conn(IDLE, 5));
        open.insert(2, conn(HEAD, 30));
        open.insert(3, conn(BUSY, 0));
        open.insert(4, conn(HEAD, 20));
        assert!(evict_one(&mut open));
        assert!(!open.contains_key(&4));
        assert!(evict_one(&mut open));
        assert!(!open.contains_key(&2));
        assert!(evict_one(&mut open));
        assert!(!open.contains_key(&1));
        assert!(
            !evict_one(&mut open),
            "a request being answered is never evicted"
        );
        assert!(open.contains_key(&3));
    }
}
