//! The WebSub hub `serve` runs for its own feeds with `hub: self` (W3C
//! WebSub Recommendation, 23 January 2018: sections 5.1 to 7).
//!
//! - `POST /websub` takes a subscription request (a form: `hub.mode`,
//!   `hub.topic`, `hub.callback`, `hub.lease_seconds`, `hub.secret`),
//!   answers `202 Accepted` and verifies the subscriber's intent
//!   asynchronously (`GET` on the callback with `hub.challenge`); only an
//!   echo of the challenge makes (or renews, or ends) a subscription.
//! - Every change of a topic's bytes (a rebuild that changed the document)
//!   is pushed to its subscribers: a `POST` of the whole document with its
//!   content type, `Link: <hub>; rel="hub"` and `Link: <topic>; rel="self"`,
//!   and `X-Hub-Signature: sha256=HMAC` when the subscription has a secret.
//! - Subscriptions live in the store ([`crate::store::websub`]), so they
//!   survive restarts and replicas on PostgreSQL share them.
//!
//! Where the Recommendation leaves the choice to the hub, this one chose:
//!
//! - **Which topics**: exactly the subscription documents this site serves
//!   (`hub.topic` equal to the URL of an Atom, RSS or JSON Feed document
//!   under `base_url`, archives included); anything else is refused at once
//!   with `400` and a reason (5.1.2 lets a hub refuse synchronously), so a
//!   site cannot be used as an open hub for other publishers.
//! - **Callbacks** are strangers' URLs that the hub will request: `http` or
//!   `https` only, at most 2,000 bytes, and they pass the same address guard
//!   as fetching (`fetch.allow`, `fetch.allow_private_addresses`): a private
//!   or loopback address is refused at request time (`400`) and again when
//!   connecting (the guarded resolver, so a name that later resolves inside
//!   is refused too). Redirects from a callback are not followed.
//! - **Leases**: `hub.lease_seconds` is a request; the hub grants it clamped
//!   to `websub: lease_min`..`lease_max` (default 1 h..30 d) and
//!   `lease_default` (10 d) when none is asked, and says which in the
//!   verification (`hub.lease_seconds`). An expired subscription gets
//!   nothing more and is deleted; subscribers renew by subscribing again.
//! - **Secrets**: at most 199 bytes (5.1: "less than 200 bytes"); the
//!   signature is HMAC-SHA256 (`sha256=`), the strongest the
//!   Recommendation lists. A secret over plain `http` is accepted: the
//!   subscriber chose it.
//! - **Verification of intent**: one attempt, within `websub: timeout`
//!   (10 s); a `2xx` whose body is the challenge (surrounding whitespace
//!   ignored) verifies, anything else (no echo, an error, a redirect, a
//!   timeout) leaves everything as it was. Requests being verified live in
//!   memory only (`websub: max_pending` at once, then `429`): a restart
//!   forgets them, and the subscriber, which never got its challenge, asks
//!   again. No `hub.mode=denied` is sent: every refusal is synchronous.
//! - **Distribution**: the full document, never a diff, as it is served at
//!   the time of the push (a topic that changed twice before a push gets
//!   its latest bytes once). A subscription gets a push when the bytes it
//!   was last sent differ from those served, so a restart does not push
//!   unchanged feeds again.
//! - **Failures**: a push answered with anything but `2xx` (or not at all)
//!   is retried after `websub: retry_after` (60 s), doubled each time (at
//!   most an hour), `websub: retries` (6) times; then the subscription is
//!   dropped. `410 Gone` drops it at once (7: "MAY terminate").
//! - **Limits**: request bodies of 8 KiB at most; `websub:
//!   max_subscriptions` (10,000) in all and `max_per_host` (100) per
//!   callback host (`503`/`429` beyond, renewals always pass); 8 pushes in
//!   flight per process; verification bodies read up to 1 KiB, push
//!   answers not read.
//! - **Replicas** (PostgreSQL): the replica that built a change marks the
//!   subscriptions due; a push is claimed in the store (`FOR UPDATE SKIP
//!   LOCKED`), so one replica sends it, and a replica sends only bytes
//!   whose hash is the one marked (a replica that has not loaded the new
//!   build yet gives the push back).

use super::App;
use crate::config::WebSubSettings;
use crate::fetch::guard::{GuardedResolver, Policy};
use crate::site::Site;
use crate::store::websub::HubSubscription;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use url::Url;

/// Largest subscription request body.
const MAX_REQUEST: usize = 8 * 1024;
/// Longest callback URL accepted.
const MAX_CALLBACK: usize = 2000;
/// A secret is less than 200 bytes (5.1).
const MAX_SECRET: usize = 199;
/// Largest verification answer read.
const MAX_ECHO: usize = 1024;
/// How often the delivery loop looks for due pushes without being woken.
const TICK: Duration = Duration::from_secs(1);
/// Pushes claimed per round, and in flight at once.
const CLAIM: usize = 32;
const IN_FLIGHT: usize = 8;
/// Longest wait between two retries of a push.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The hub's state in the daemon: pushes to wake, verifications in flight.
#[derive(Debug, Default)]
pub struct HubState {
    wake: Notify,
    verifying: AtomicUsize,
}

/// A subscription request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubRequest {
    pub subscribe: bool,
    pub topic: String,
    pub callback: Url,
    /// Granted, in seconds (subscribe only).
    pub lease_seconds: i64,
    pub secret: Option<String>,
}

/// Why a request is refused, as the `400` body says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("hub.mode must be subscribe or unsubscribe")]
    Mode,
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} is given twice")]
    Twice(&'static str),
    #[error("hub.topic {0:?} is not a feed this hub serves")]
    Topic(String),
    #[error("hub.callback is not an absolute http(s) URL of at most 2000 bytes")]
    Callback,
    #[error("hub.callback: {0}")]
    Guard(String),
    #[error("hub.lease_seconds is not a whole number of seconds")]
    Lease,
    #[error("hub.secret must be 1 to 199 bytes")]
    Secret,
}

/// Check a subscription request's form; `served` tells a topic this hub serves.
pub fn parse_request(
    body: &[u8],
    served: impl Fn(&str) -> bool,
    settings: &WebSubSettings,
) -> Result<SubRequest, Refusal> {
    let mut fields: HashMap<&'static str, String> = HashMap::new();
    const KEYS: [&str; 5] = [
        "hub.mode",
        "hub.topic",
        "hub.callback",
        "hub.lease_seconds",
        "hub.secret",
    ];
    for (k, v) in url::form_urlencoded::parse(body) {
        // Other parameters are ignored (5.1).
        if let Some(&key) = KEYS.iter().find(|key| **key == k) {
            if fields.insert(key, v.into_owned()).is_some() {
                return Err(Refusal::Twice(key));
            }
        }
    }
    let subscribe = match fields.get("hub.mode").map(String::as_str) {
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        Some(_) => return Err(Refusal::Mode),
        None => return Err(Refusal::Missing("hub.mode")),
    };
    let topic = fields
        .remove("hub.topic")
        .ok_or(Refusal::Missing("hub.topic"))?;
    if !served(&topic) {
        return Err(Refusal::Topic(topic));
    }
    let callback = fields
        .remove("hub.callback")
        .ok_or(Refusal::Missing("hub.callback"))?;
    let callback = Url::parse(&callback)
        .ok()
        .filter(|_| callback.len() <= MAX_CALLBACK)
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or(Refusal::Callback)?;
    let asked = match fields.get("hub.lease_seconds") {
        None => None,
        Some(t) => Some(t.trim().parse::<u64>().map_err(|_| Refusal::Lease)?),
    };
    let lease = asked
        .map(Duration::from_secs)
        .unwrap_or(settings.lease_default)
        .clamp(settings.lease_min, settings.lease_max);
    let secret = match fields.remove("hub.secret") {
        None => None,
        Some(s) if s.is_empty() || s.len() > MAX_SECRET => return Err(Refusal::Secret),
        Some(s) => Some(s),
    };
    Ok(SubRequest {
        subscribe,
        topic,
        callback,
        lease_seconds: i64::try_from(lease.as_secs()).unwrap_or(i64::MAX),
        secret: if subscribe { secret } else { None },
    })
}

/// Topic URL to output path, for every subscription document served.
fn topics(app: &App, site: &Site) -> HashMap<String, String> {
    app.snapshot()
        .docs
        .keys()
        .filter(|p| is_feed(p))
        .map(|p| (site.config.url_for(p), p.clone()))
        .collect()
}

fn is_feed(path: &str) -> bool {
    [".atom", ".rss", ".json"].iter().any(|e| path.ends_with(e))
}

pub(super) fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Whether the callback's host may be connected to: an address literal is
/// checked as is, a name resolved (what is connected to later is checked
/// again, by the guarded resolver).
async fn guard_callback(policy: &Policy, callback: &Url) -> Result<(), Refusal> {
    let Some(host) = callback.host() else {
        return Err(Refusal::Callback);
    };
    policy
        .check_host(&host)
        .map_err(|r| Refusal::Guard(r.to_string()))?;
    if let url::Host::Domain(name) = host {
        match tokio::time::timeout(Duration::from_secs(5), policy.resolve(name)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Refusal::Guard(e.to_string())),
            Err(_) => return Err(Refusal::Guard(format!("{name}: lookup timed out"))),
        }
    }
    Ok(())
}

/// Counts a verification in flight while it lives.
struct Verifying(Arc<App>);

impl Drop for Verifying {
    fn drop(&mut self) {
        self.0.websub.verifying.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `POST /websub`: a subscription request.
pub async fn subscription_request(State(app): State<Arc<App>>, request: Request) -> Response {
    let site = app.site();
    if !site.config.hub_self {
        return text(
            StatusCode::NOT_FOUND,
            "no hub here (hub: self is not set)\n".into(),
        );
    }
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a subscription request is an application/x-www-form-urlencoded form\n".into(),
        );
    }
    let body: Bytes = match axum::body::to_bytes(request.into_body(), MAX_REQUEST).await {
        Ok(b) => b,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a subscription request is at most {MAX_REQUEST} bytes\n"),
            )
        }
    };
    let settings = site.config.websub.clone();
    let served = topics(&app, &site);
    let req = match parse_request(&body, |t| served.contains_key(t), &settings) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let policy = Policy::new(&site.config.fetch);
    if let Err(e) = guard_callback(&policy, &req.callback).await {
        return text(StatusCode::BAD_REQUEST, format!("{e}\n"));
    }
    if req.subscribe {
        if let Err(response) = check_limits(&app, &req, &settings).await {
            return response;
        }
    }
    if app.websub.verifying.fetch_add(1, Ordering::SeqCst) >= settings.max_pending {
        app.websub.verifying.fetch_sub(1, Ordering::SeqCst);
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many subscription requests being verified; try again later\n".into(),
        );
    }
    let guard = Verifying(app.clone());
    tokio::spawn(async move {
        let _guard = guard;
        verify(&app, req, policy, settings).await;
    });
    text(
        StatusCode::ACCEPTED,
        "accepted: the callback gets a verification of intent\n".into(),
    )
}

/// `max_subscriptions` and `max_per_host`, for a subscription that does
/// not exist yet.
async fn check_limits(
    app: &Arc<App>,
    req: &SubRequest,
    settings: &WebSubSettings,
) -> Result<(), Response> {
    let a = app.clone();
    let all = tokio::task::spawn_blocking(move || {
        let site = a.site();
        let store = crate::app::aggregate::open_store(&site)?;
        store.hub_subscriptions().map_err(crate::model::Error::from)
    })
    .await;
    let all = match all {
        Ok(Ok(all)) => all,
        Ok(Err(e)) => {
            tracing::warn!("websub: cannot read subscriptions: {e}");
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the hub's store is unavailable; try again later\n".into(),
            ));
        }
        Err(_) => {
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "try again later\n".into(),
            ))
        }
    };
    let callback = req.callback.as_str();
    if all
        .iter()
        .any(|s| s.topic == req.topic && s.callback == callback)
    {
        return Ok(());
    }
    if all.len() >= settings.max_subscriptions {
        return Err(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this hub holds as many subscriptions as it takes\n".into(),
        ));
    }
    let host = req.callback.host_str().unwrap_or_default();
    let same_host = all
        .iter()
        .filter(|s| Url::parse(&s.callback).is_ok_and(|u| u.host_str() == Some(host)))
        .count();
    if same_host >= settings.max_per_host {
        return Err(text(
            StatusCode::TOO_MANY_REQUESTS,
            format!("callbacks on {host} hold as many subscriptions as this hub takes per host\n"),
        ));
    }
    Ok(())
}

/// A client for callbacks (and, for the subscriber, hubs): the address
/// guard, no redirects, the timeout.
pub(super) fn client(
    site: &Site,
    policy: Policy,
    settings: &WebSubSettings,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver::new(Arc::new(policy))))
        .user_agent(crate::fetch::user_agent(Some(
            site.config.base_url.as_str(),
        )))
        .build()
}

/// 48 random hex digits.
fn challenge() -> Option<String> {
    random_hex(24)
}

/// `n` random bytes as hex digits, from the system's secure generator.
pub(super) fn random_hex(n: usize) -> Option<String> {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `sha256=HEX` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex(ring::hmac::sign(&key, body).as_ref()))
}

/// Verification of intent (5.3), then the store updated on an echo.
async fn verify(app: &Arc<App>, req: SubRequest, policy: Policy, settings: WebSubSettings) {
    let mode = if req.subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    let site = app.site();
    let outcome = async {
        let challenge = challenge().ok_or("no random challenge")?;
        let client = client(&site, policy, &settings).map_err(|e| e.to_string())?;
        let mut url = req.callback.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("hub.mode", mode)
                .append_pair("hub.topic", &req.topic)
                .append_pair("hub.challenge", &challenge);
            if req.subscribe {
                q.append_pair("hub.lease_seconds", &req.lease_seconds.to_string());
            }
        }
        let mut resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| crate::fetch::describe(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let mut echo = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| crate::fetch::describe(&e))? {
            if echo.len() + chunk.len() > MAX_ECHO {
                return Err("the answer is not the challenge (too long)".to_string());
            }
            echo.extend_from_slice(&chunk);
        }
        if echo.trim_ascii() != challenge.as_bytes() {
            return Err("the answer is not the challenge".to_string());
        }
        Ok::<(), String>(())
    }
    .await;
    let callback = req.callback.to_string();
    if let Err(why) = outcome {
        tracing::info!(%callback, topic = %req.topic, "websub: {mode} not verified: {why}");
        return;
    }
    let a = app.clone();
    let (topic, cb) = (req.topic.clone(), callback.clone());
    let (subscribe, secret, lease) = (req.subscribe, req.secret.clone(), req.lease_seconds);
    let current = topics(app, &site)
        .get(&req.topic)
        .and_then(|p| app.snapshot().docs.get(p).map(|d| d.hash));
    let stored = tokio::task::spawn_blocking(move || {
        let site = a.site();
        let mut store = crate::app::aggregate::open_store(&site)?;
        if subscribe {
            store.hub_subscribe(&topic, &cb, secret.as_deref(), lease, current, Utc::now())?;
        } else {
            store.hub_unsubscribe(&topic, &cb)?;
        }
        Ok::<_, crate::model::Error>(())
    })
    .await;
    match stored {
        Ok(Ok(())) => {
            tracing::info!(%callback, topic = %req.topic, "websub: {mode} verified")
        }
        Ok(Err(e)) => tracing::warn!(%callback, "websub: {mode} verified but not stored: {e}"),
        Err(e) => tracing::warn!(%callback, "websub: {mode} verified but not stored: {e}"),
    }
}

/// After a rebuild that changed `paths` (called on the build's thread):
/// mark the subscriptions of the changed topics due, and wake the pushes.
pub fn changed(app: &App, paths: &[String]) {
    let site = app.site();
    if !site.config.hub_self {
        return;
    }
    let snapshot = app.snapshot();
    let marks: Vec<(String, u64)> = paths
        .iter()
        .filter(|p| is_feed(p))
        .filter_map(|p| Some((site.config.url_for(p), snapshot.docs.get(p)?.hash)))
        .collect();
    if marks.is_empty() {
        return;
    }
    let result = (|| {
        let mut store = crate::app::aggregate::open_store(&site)?;
        let now = Utc::now();
        let mut due = 0;
        for (topic, hash) in &marks {
            due += store.hub_changed(topic, *hash, now)?;
        }
        Ok::<_, crate::model::Error>(due)
    })();
    match result {
        Ok(0) => {}
        Ok(due) => {
            tracing::debug!("websub: {due} pushes due");
            app.websub.wake.notify_one();
        }
        Err(e) => tracing::warn!("websub: subscribers of changed feeds not marked: {e}"),
    }
}

/// The push loop: claim due pushes, send them, record the outcome; expire
/// leases. Runs until the daemon stops.
pub async fn run(app: Arc<App>) {
    // One store handle for the loop (SQLite: not a new connection and
    // checkpoint thread every second), opened again after an error.
    let mut held: Option<Box<dyn crate::store::Store + Send>> = None;
    // A store that is down is logged once, not every second.
    let mut last_error = String::new();
    loop {
        tokio::select! {
            _ = app.websub.wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
        if app.stopping.load(Ordering::SeqCst) {
            return;
        }
        let site = app.site();
        if !site.config.hub_self {
            continue;
        }
        let a = app.clone();
        let handle = held.take();
        let claimed = tokio::task::spawn_blocking(move || claim_due(&a.site(), handle)).await;
        let (claimed, shared) = match claimed {
            Ok(Ok((store, claimed, shared))) => {
                held = Some(store);
                last_error.clear();
                (claimed, shared)
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                if text != last_error {
                    tracing::warn!("websub: cannot read due pushes: {text}");
                    last_error = text;
                }
                continue;
            }
            Err(_) => continue,
        };
        if claimed.is_empty() {
            continue;
        }
        push_all(&app, &site, claimed, shared).await;
    }
}

/// Leases past their end expired, then up to `CLAIM` due pushes claimed
/// for this process; with the store handle to keep, and whether the store
/// is shared.
type Claimed = (
    Box<dyn crate::store::Store + Send>,
    Vec<HubSubscription>,
    bool,
);

fn claim_due(
    site: &crate::site::Site,
    handle: Option<Box<dyn crate::store::Store + Send>>,
) -> Result<Claimed, crate::model::Error> {
    let mut store = match handle {
        Some(s) => s,
        None => crate::app::aggregate::open_store(site)?,
    };
    let now = Utc::now();
    let expired = store.hub_expire(now)?;
    if expired > 0 {
        tracing::info!("websub: {expired} subscriptions expired");
    }
    let until = now
        + chrono::Duration::from_std(site.config.websub.timeout * 3)
            .unwrap_or(chrono::Duration::seconds(60));
    let shared = site.store_location().is_shared();
    let claimed = store.hub_claim(crate::app::lease::holder(), now, until, CLAIM)?;
    Ok((store, claimed, shared))
}

/// Send the claimed pushes, `IN_FLIGHT` at a time.
async fn push_all(
    app: &Arc<App>,
    site: &crate::site::Site,
    claimed: Vec<HubSubscription>,
    shared: bool,
) {
    let settings = site.config.websub.clone();
    let client = match client(site, Policy::new(&site.config.fetch), &settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("websub: no HTTP client: {e}");
            return;
        }
    };
    let served = topics(app, site);
    let hub = site
        .config
        .hub
        .as_ref()
        .map(Url::to_string)
        .unwrap_or_default();
    futures_util::stream::iter(claimed)
        .for_each_concurrent(IN_FLIGHT, |sub| {
            let (app, client, served, hub, settings) =
                (app.clone(), &client, &served, &hub, &settings);
            async move {
                push(&app, client, served, hub, settings, shared, sub).await;
            }
        })
        .await;
}

/// What became of one claimed push.
enum Pushed {
    /// Sent; the hash of the bytes sent.
    Delivered(u64),
    /// Not sent by this process (its bytes are not the ones marked).
    Later,
    Failed(String),
    /// The topic is no longer served, or the callback said `410 Gone`.
    Drop(String),
}

async fn push(
    app: &Arc<App>,
    client: &reqwest::Client,
    served: &HashMap<String, String>,
    hub: &str,
    settings: &WebSubSettings,
    shared: bool,
    sub: HubSubscription,
) {
    let snapshot = app.snapshot();
    let doc = served.get(&sub.topic).and_then(|p| snapshot.docs.get(p));
    let pending = sub.pending.unwrap_or_default();
    let outcome = match doc {
        None => Pushed::Drop("the topic is no longer served".to_string()),
        // Another replica has the bytes marked: it sends them.
        Some(doc) if shared && doc.hash != pending => Pushed::Later,
        Some(doc) => send(client, hub, &sub, doc).await,
    };
    let counter = match &outcome {
        Pushed::Delivered(_) => Some(&app.metrics.hub_delivered),
        Pushed::Failed(_) => Some(&app.metrics.hub_failed),
        Pushed::Drop(_) | Pushed::Later => None,
    };
    if let Some(c) = counter {
        c.fetch_add(1, Ordering::Relaxed);
    }
    let (a, settings) = (app.clone(), settings.clone());
    let recorded = tokio::task::spawn_blocking(move || {
        let mut store = crate::app::aggregate::open_store(&a.site())?;
        record(&mut *store, outcome, &sub, pending, &settings)
    })
    .await;
    match recorded {
        Ok(Ok(dropped)) => {
            if dropped {
                app.metrics.hub_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Err(e)) => tracing::warn!("websub: push outcome not stored: {e}"),
        Err(e) => tracing::warn!("websub: push outcome not stored: {e}"),
    }
}

/// POST the document to the callback, signed when the subscriber gave a
/// secret.
async fn send(
    client: &reqwest::Client,
    hub: &str,
    sub: &HubSubscription,
    doc: &crate::serve::snapshot::Doc,
) -> Pushed {
    let mut req = client
        .post(&sub.callback)
        .header(header::CONTENT_TYPE, doc.content_type)
        .header(header::LINK, format!("<{hub}>; rel=\"hub\""))
        .header(header::LINK, format!("<{}>; rel=\"self\"", sub.topic));
    if let Some(secret) = &sub.secret {
        req = req.header("X-Hub-Signature", signature(secret, &doc.body));
    }
    match req.body(doc.body.clone()).send().await {
        Ok(r) if r.status().is_success() => Pushed::Delivered(doc.hash),
        Ok(r) if r.status() == StatusCode::GONE => {
            Pushed::Drop("the callback answered 410 Gone".to_string())
        }
        Ok(r) => Pushed::Failed(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Pushed::Failed(crate::fetch::describe(&e)),
    }
}

/// What became of a push, in the store: delivered, tried again later
/// (with exponential backoff after a failure), or the subscription dropped
/// (`true`).
fn record(
    store: &mut dyn crate::store::Store,
    outcome: Pushed,
    sub: &HubSubscription,
    pending: u64,
    settings: &WebSubSettings,
) -> Result<bool, crate::model::Error> {
    let (retries, first) = (settings.retries, settings.retry_after);
    let (topic, callback) = (&sub.topic, &sub.callback);
    let holder = crate::app::lease::holder();
    let now = Utc::now();
    match outcome {
        Pushed::Delivered(sent) => {
            store.hub_delivered(topic, callback, holder, pending, sent)?;
            tracing::info!(%callback, %topic, "websub: pushed");
        }
        Pushed::Later => {
            store.hub_retry(
                topic,
                callback,
                holder,
                sub.failures,
                now + chrono::Duration::seconds(1),
                sub.last_error.as_deref(),
            )?;
        }
        Pushed::Drop(why) => {
            store.hub_unsubscribe(topic, callback)?;
            tracing::info!(%callback, %topic, "websub: subscription dropped: {why}");
            return Ok(true);
        }
        Pushed::Failed(why) => {
            let failures = sub.failures.saturating_add(1);
            if failures > retries {
                store.hub_unsubscribe(topic, callback)?;
                tracing::warn!(%callback, %topic, "websub: subscription dropped after {failures} failed pushes: {why}");
                return Ok(true);
            } else {
                let wait = first
                    .saturating_mul(1 << (failures - 1).min(20))
                    .min(MAX_BACKOFF);
                let next =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                store.hub_retry(topic, callback, holder, failures, next, Some(&why))?;
                tracing::info!(%callback, %topic, "websub: push failed ({why}); retry {failures} of {retries} in {} s", wait.as_secs());
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebSubSettings {
        WebSubSettings::default()
    }

    fn parse(form: &str) -> Result<SubRequest, Refusal> {
        parse_request(
            form.as_bytes(),
            |t| t == "https://example.org/main.atom",
            &settings(),
        )
    }

    const TOPIC: &str = "hub.topic=https%3A%2F%2Fexample.org%2Fmain.atom";

    #[test]
    fn a_subscription_request_is_checked() {
        let ok = parse(&format!(
            "hub.mode=subscribe&{TOPIC}&hub.callback=https%3A%2F%2Fsub.example%2Fcb%3Fid%3D1&hub.secret=s&extra=1"
        ))
        .unwrap();
        assert!(ok.subscribe);
        assert_eq!(ok.callback.as_str(), "https://sub.example/cb?id=1");
        assert_eq!(ok.lease_seconds, 10 * 86_400);
        assert_eq!(ok.secret.as_deref(), Some("s"));
        // Leases are clamped to the bounds.
        let short = parse(&format!(
            "hub.mode=subscribe&{TOPIC}&hub.callback=https://s.example/&hub.lease_seconds=5"
        ))
        .unwrap();
        assert_eq!(short.lease_seconds, 3600);
        let long = parse(&format!(
            "hub.mode=subscribe&{TOPIC}&hub.callback=https://s.example/&hub.lease_seconds=99999999999"
        ))
        .unwrap();
        assert_eq!(long.lease_seconds, 30 * 86_400);
        let cb = "hub.callback=https://s.example/";
        assert_eq!(
            parse(&format!("{TOPIC}&{cb}")),
            Err(Refusal::Missing("hub.mode"))
        );
        assert_eq!(
            parse(&format!("hub.mode=publish&{TOPIC}&{cb}")),
            Err(Refusal::Mode)
        );
        assert!(matches!(
            parse(&format!(
                "hub.mode=subscribe&hub.topic=https://other.example/x.atom&{cb}"
            )),
            Err(Refusal::Topic(_))
        ));
        assert_eq!(
            parse(&format!(
                "hub.mode=subscribe&{TOPIC}&hub.callback=ftp://s.example/"
            )),
            Err(Refusal::Callback)
        );
        assert_eq!(
            parse(&format!(
                "hub.mode=subscribe&{TOPIC}&hub.callback=/relative"
            )),
            Err(Refusal::Callback)
        );
        let long_cb = format!("https://s.example/{}", "a".repeat(2000));
        assert_eq!(
            parse(&format!(
                "hub.mode=subscribe&{TOPIC}&hub.callback={long_cb}"
            )),
            Err(Refusal::Callback)
        );
        assert_eq!(
            parse(&format!(
                "hub.mode=subscribe&{TOPIC}&{cb}&hub.secret={}",
                "x".repeat(200)
            )),
            Err(Refusal::Secret)
        );
        assert_eq!(
            parse(&format!(
                "hub.mode=subscribe&{TOPIC}&{cb}&hub.lease_seconds=-1"
            )),
            Err(Refusal::Lease)
        );
        assert_eq!(
            parse(&format!(
                "hub.mode=subscribe&hub.mode=unsubscribe&{TOPIC}&{cb}"
            )),
            Err(Refusal::Twice("hub.mode"))
        );
        // An unsubscription carries no secret.
        let un = parse(&format!("hub.mode=unsubscribe&{TOPIC}&{cb}&hub.secret=s")).unwrap();
        assert!(!un.subscribe && un.secret.is_none());
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(challenge().map(|c| c.len()), Some(48));
    }

    #[test]
    fn private_callbacks_are_refused_unless_allowed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = Url::parse("http://127.0.0.1:9/cb").unwrap();
        let closed = Policy::default();
        assert!(matches!(
            rt.block_on(guard_callback(&closed, &local)),
            Err(Refusal::Guard(_))
        ));
        let open = Policy {
            private: false,
            allow: vec!["127.0.0.1".parse().unwrap()],
        };
        assert_eq!(rt.block_on(guard_callback(&open, &local)), Ok(()));
    }
}
