//! The WebSub subscriber side of `serve` (W3C WebSub Recommendation,
//! sections 4 to 7, as a subscriber): an upstream whose feed advertises a
//! hub is pushed to this process rather than only polled.
//!
//! - A fetch records the hub a source advertises (its `Link` header first,
//!   then the document) and its topic (the `self` link, else the URL
//!   fetched): `app/push.rs`.
//! - This loop subscribes to that hub (`POST` of `hub.mode=subscribe` with
//!   `hub.callback`, `hub.topic` and `hub.secret`), renews the lease before
//!   it ends, and unsubscribes when the source is removed from the feed
//!   files.
//! - `GET /websub/callback/TOKEN` answers the hub's verification of intent;
//!   `POST` to it is a push: checked, stored as a fetch would store it, and
//!   the site rebuilt.
//!
//! Where the Recommendation leaves the choice to the subscriber, this one
//! chose:
//!
//! - **When**: only where hubs can reach this process: `websub: subscribe:
//!   true`, or by default with `hub: self` (a site that is its own hub is
//!   served by `serve` at `base_url`). Callbacks are under `websub:
//!   public_url`, else `base_url`. A daemon nobody can reach would only
//!   have hubs request a site that does not answer.
//! - **Callbacks**: one per subscription, `websub/callback/` and 32 random
//!   hex digits. The token names the subscription; nothing in the request
//!   is trusted to.
//! - **Verification of intent**: echoed (`200`, the challenge alone as the
//!   body) only for a subscription this process asked for in the last day,
//!   for the topic it asked for, in the mode it asked for; anything else is
//!   `404`. `hub.mode=denied` is recorded and tried again a day later.
//! - **Secrets**: every subscription has its own, 64 random hex digits,
//!   new with every new subscription (a renewal keeps it, so that pushes in
//!   flight still verify). A push without `X-Hub-Signature`, or whose
//!   HMAC (sha1, sha256, sha384 or sha512) does not match, is answered
//!   `403` and nothing of it is kept (7.1 allows a `2xx` as well; the `403`
//!   tells an operator reading the hub's log what is wrong, and a forger
//!   learns nothing it did not know).
//! - **Content**: the whole body, up to `fetch: max_body`, read as a fetch
//!   of the source would be (so a hub that pushes only new entries adds
//!   them; it never removes items). The source's next poll is a whole
//!   interval from the push: polling stays as a safety net.
//! - **Leases**: none is asked for (the hub's default, 10 days on most);
//!   a renewal is sent when a fifth of the lease granted is left.
//! - **Failures**: a request the hub refuses, or that is not verified, is
//!   sent again after `websub: retry_after` (60 s), doubled each time up to
//!   a day. A push to a callback no subscription has is answered `410
//!   Gone`, so the hub stops.

use super::websub::{client, random_hex, text};
use super::App;
use crate::app::aggregate::{configured_sources, open_store, SourceResult};
use crate::config::WebSubSettings;
use crate::fetch::guard::Policy;
use crate::site::Site;
use crate::store::push::{PushState, PushSubscription};
use crate::store::Store;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How often the loop looks for subscriptions to make, renew or end.
const TICK: Duration = Duration::from_secs(1);
/// A verification is honoured this long after the request it answers.
const VERIFY_WINDOW: chrono::Duration = chrono::Duration::days(1);
/// The longest wait before a request is sent again.
const MAX_BACKOFF: chrono::Duration = chrono::Duration::days(1);
/// Requests to hubs in flight at once.
const IN_FLIGHT: usize = 8;
/// Query parameters read from a verification.
const MAX_PARAMS: usize = 16;
/// Longest challenge echoed.
const MAX_CHALLENGE: usize = 1024;

/// `GET` (verification of intent) or `POST` (content distribution) to a
/// callback.
pub async fn callback(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    match *request.method() {
        Method::GET => {
            let query = request.uri().query().unwrap_or("").to_string();
            verification(app, token, &query).await
        }
        Method::POST => content(app, token, request).await,
        _ => {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSub callback takes GET and POST\n".into(),
            );
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
            r
        }
    }
}

/// Run `f` on the site's store, off the runtime's threads.
async fn with_store<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Site, &mut dyn Store) -> Result<T, crate::model::Error> + Send + 'static,
) -> Result<T, String> {
    let a = app.clone();
    let done = tokio::task::spawn_blocking(move || {
        let site = a.site();
        let mut store = open_store(&site)?;
        f(&site, &mut *store)
    })
    .await;
    match done {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Read `token`'s subscription, change it with `f`, and write it back,
/// again if another process wrote in between. `f` returns what to answer,
/// and whether to write.
fn update<T>(
    store: &mut dyn Store,
    token: &str,
    mut f: impl FnMut(&mut PushSubscription) -> (T, bool),
) -> Result<Option<T>, crate::model::Error> {
    for _ in 0..4 {
        let Some(mut sub) = store.push_by_token(token)? else {
            return Ok(None);
        };
        let (answer, write) = f(&mut sub);
        if !write || store.push_save(&sub)? {
            return Ok(Some(answer));
        }
    }
    Ok(None)
}

/// What a verification request comes to.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Echo,
    Noted,
    NotAsked(&'static str),
}

/// 5.3: the hub checks that this process asked for the (un)subscription.
async fn verification(app: Arc<App>, token: String, query: &str) -> Response {
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .take(MAX_PARAMS)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (mode, topic, challenge) = (get("hub.mode"), get("hub.topic"), get("hub.challenge"));
    let lease = q
        .get("hub.lease_seconds")
        .and_then(|l| l.trim().parse::<i64>().ok());
    let reason = get("hub.reason");
    if mode != "denied" && (challenge.is_empty() || challenge.len() > MAX_CHALLENGE) {
        return text(StatusCode::BAD_REQUEST, "hub.challenge is missing\n".into());
    }
    let now = Utc::now();
    let verdict = with_store(&app, move |_, store| {
        let v = update(store, &token, |sub| {
            judge(sub, &mode, &topic, lease, &reason, now)
        })?;
        let v = v.unwrap_or(Verdict::NotAsked("no subscription has this callback"));
        if v == Verdict::Echo {
            // An unsubscription verified: the row goes.
            if let Some(sub) = store.push_by_token(&token)? {
                if sub.state == PushState::Unsubscribing {
                    store.push_delete(&sub.source)?;
                }
            }
        }
        Ok(v)
    })
    .await;
    match verdict {
        Ok(Verdict::Echo) => {
            // The pages say which sources are pushed.
            app.rebuild.notify_one();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                challenge,
            )
                .into_response()
        }
        Ok(Verdict::Noted) => text(StatusCode::OK, "noted\n".into()),
        Ok(Verdict::NotAsked(why)) => {
            tracing::info!("websub: a verification of intent refused: {why}");
            text(StatusCode::NOT_FOUND, format!("{why}\n"))
        }
        Err(e) => {
            tracing::warn!("websub: a verification of intent not answered: {e}");
            text(StatusCode::SERVICE_UNAVAILABLE, "try again later\n".into())
        }
    }
}

/// Whether `sub` asked for what the hub verifies; the subscription as it
/// becomes, and whether it changed.
fn judge(
    sub: &mut PushSubscription,
    mode: &str,
    topic: &str,
    lease: Option<i64>,
    reason: &str,
    now: DateTime<Utc>,
) -> (Verdict, bool) {
    if sub.topic != topic {
        return (Verdict::NotAsked("not the topic subscribed to"), false);
    }
    let recent = sub.requested.is_some_and(|r| now - r < VERIFY_WINDOW);
    match (mode, sub.state) {
        ("subscribe", PushState::Requested | PushState::Active) if recent => {
            let Some(lease) = lease.filter(|l| *l > 0) else {
                return (Verdict::NotAsked("hub.lease_seconds is missing"), false);
            };
            let lease = chrono::Duration::seconds(lease.min(366 * 86_400));
            sub.state = PushState::Active;
            sub.expires = Some(now + lease);
            sub.requested = Some(now);
            sub.attempts = 0;
            sub.last_error = None;
            (Verdict::Echo, true)
        }
        ("unsubscribe", PushState::Unsubscribing) if recent => (Verdict::Echo, false),
        ("denied", PushState::Requested | PushState::Active) => {
            sub.state = PushState::Denied;
            sub.last_error = Some(format!("the hub denied the subscription: {reason}"));
            (Verdict::Noted, true)
        }
        _ => (Verdict::NotAsked("this mode was not asked for"), false),
    }
}

/// What a push comes to.
enum Pushed {
    Stored(SourceResult),
    Refused(&'static str),
    Gone,
}

/// 7: content distribution.
async fn content(app: Arc<App>, token: String, request: Request) -> Response {
    let signature = request
        .headers()
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let max = usize::try_from(app.site().config.fetch.max_body).unwrap_or(usize::MAX);
    let body = match axum::body::to_bytes(request.into_body(), max).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("at most {max} bytes\n"),
            )
        }
    };
    let now = Utc::now();
    let pushed = with_store(&app, move |site, store| {
        let Some(sub) = store.push_by_token(&token)? else {
            return Ok(Pushed::Gone);
        };
        if !sub.is_live(now) {
            return Ok(Pushed::Gone);
        }
        let signed = match (&sub.secret, &signature) {
            (Some(secret), Some(sig)) => signature_matches(sig, secret, &body),
            _ => false,
        };
        if !signed {
            let why = if signature.is_none() {
                "no X-Hub-Signature"
            } else {
                "X-Hub-Signature does not match"
            };
            tracing::warn!(source = %sub.source, hub = %sub.hub, "websub: push refused: {why}");
            return Ok(Pushed::Refused(why));
        }
        let result = crate::app::push::accept(site, store, &sub.source, body, now)?;
        tracing::info!(source = %sub.source, "websub: pushed: {}", crate::app::aggregate::describe(&result));
        Ok(Pushed::Stored(result))
    })
    .await;
    match pushed {
        Ok(Pushed::Stored(result)) => {
            app.metrics.pushes_received.fetch_add(1, Ordering::Relaxed);
            if matches!(result, SourceResult::Fetched { .. }) {
                app.rebuild.notify_one();
            }
            text(StatusCode::OK, "received\n".into())
        }
        Ok(Pushed::Refused(why)) => {
            app.metrics.pushes_refused.fetch_add(1, Ordering::Relaxed);
            text(StatusCode::FORBIDDEN, format!("{why}\n"))
        }
        Ok(Pushed::Gone) => text(StatusCode::GONE, "no such subscription\n".into()),
        Err(e) => {
            tracing::warn!("websub: a push not stored: {e}");
            text(StatusCode::SERVICE_UNAVAILABLE, "try again later\n".into())
        }
    }
}

/// Whether `header` (`ALGORITHM=HEX`) is the HMAC of `body` under `secret`
/// (compared in constant time).
pub fn signature_matches(header: &str, secret: &str, body: &[u8]) -> bool {
    use ring::hmac;
    let Some((algorithm, hex)) = header.trim().split_once('=') else {
        return false;
    };
    let algorithm = match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => hmac::HMAC_SHA256,
        "sha384" => hmac::HMAC_SHA384,
        "sha512" => hmac::HMAC_SHA512,
        _ => return false,
    };
    let Some(tag) = unhex(hex.trim()) else {
        return false;
    };
    hmac::verify(&hmac::Key::new(algorithm, secret.as_bytes()), body, &tag).is_ok()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.len() > 256 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What the loop does next for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Subscribe; `fresh`: with a new callback and secret.
    Subscribe {
        fresh: bool,
    },
    Unsubscribe,
    Forget,
}

/// The wait before a request is sent again after `attempts` that came to
/// nothing.
fn backoff(settings: &WebSubSettings, attempts: u32) -> chrono::Duration {
    let first = chrono::Duration::from_std(settings.retry_after).unwrap_or(MAX_BACKOFF);
    first
        .checked_mul(1 << attempts.saturating_sub(1).min(16))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// What `sub` needs at `now`; `configured`: its source is still in a feed file.
fn next_action(
    sub: &PushSubscription,
    configured: bool,
    settings: &WebSubSettings,
    now: DateTime<Utc>,
) -> Option<Action> {
    let waited = |d: chrono::Duration| sub.requested.is_none_or(|r| now - r >= d);
    let retry = waited(backoff(settings, sub.attempts));
    if !configured {
        return match sub.state {
            PushState::Active | PushState::Requested => Some(Action::Unsubscribe),
            PushState::Unsubscribing if sub.attempts > settings.retries => Some(Action::Forget),
            PushState::Unsubscribing if retry => Some(Action::Unsubscribe),
            PushState::Unsubscribing => None,
            PushState::Discovered | PushState::Denied => Some(Action::Forget),
        };
    }
    match sub.state {
        PushState::Discovered | PushState::Unsubscribing => Some(Action::Subscribe { fresh: true }),
        PushState::Denied if waited(MAX_BACKOFF) => Some(Action::Subscribe { fresh: true }),
        PushState::Denied => None,
        PushState::Requested if retry => Some(Action::Subscribe { fresh: false }),
        PushState::Requested => None,
        PushState::Active => {
            let (Some(expires), Some(verified)) = (sub.expires, sub.requested) else {
                return Some(Action::Subscribe { fresh: false });
            };
            let renew_at = expires - (expires - verified) / 5;
            let lapsed = expires <= now;
            (now >= renew_at && (!lapsed || retry)).then_some(Action::Subscribe { fresh: false })
        }
    }
}

/// A request to send to a hub.
struct Ask {
    sub: PushSubscription,
    subscribe: bool,
}

/// The requests due now, each already written to the store as sent (so
/// that a verification that comes before the hub's answer finds it, and
/// so that another replica does not send it too).
fn due(
    site: &Site,
    store: &mut dyn Store,
    base: &Url,
    now: DateTime<Utc>,
) -> Result<Vec<Ask>, crate::model::Error> {
    let configured: Vec<String> = configured_sources(site)
        .into_iter()
        .map(|s| s.key)
        .collect();
    let settings = &site.config.websub;
    let mut out = Vec::new();
    for mut sub in store.push_subscriptions()? {
        let action = next_action(&sub, configured.contains(&sub.source), settings, now);
        let subscribe = match action {
            None => continue,
            Some(Action::Forget) => {
                store.push_delete(&sub.source)?;
                continue;
            }
            Some(Action::Unsubscribe) => {
                if sub.state != PushState::Unsubscribing {
                    sub.attempts = 0;
                }
                sub.state = PushState::Unsubscribing;
                false
            }
            Some(Action::Subscribe { fresh }) => {
                if fresh || sub.token.is_none() || sub.secret.is_none() {
                    let (Some(token), Some(secret)) = (random_hex(16), random_hex(32)) else {
                        continue;
                    };
                    sub.callback = Some(
                        base.join(&token)
                            .map_err(|e| {
                                crate::model::Error::at(
                                    "tributary.yaml",
                                    None,
                                    format!("websub callback: {e}"),
                                )
                            })?
                            .to_string(),
                    );
                    sub.token = Some(token);
                    sub.secret = Some(secret);
                    sub.attempts = 0;
                }
                if sub.state != PushState::Active || sub.expires.is_none_or(|e| e <= now) {
                    sub.state = PushState::Requested;
                }
                true
            }
        };
        sub.requested = Some(now);
        sub.attempts = sub.attempts.saturating_add(1);
        if store.push_save(&sub)? {
            sub.revision += 1;
            out.push(Ask { sub, subscribe });
        }
    }
    Ok(out)
}

/// The subscriber's loop: make, renew and end subscriptions. Runs until the
/// daemon stops.
pub async fn run(app: Arc<App>) {
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(TICK).await;
        if app.stopping.load(Ordering::SeqCst) {
            return;
        }
        let site = app.site();
        let Some(base) = site.config.websub_callbacks() else {
            continue;
        };
        let now = Utc::now();
        let asks = match with_store(&app, move |site, store| due(site, store, &base, now)).await {
            Ok(a) => {
                last_error.clear();
                a
            }
            Err(e) => {
                if e != last_error {
                    tracing::warn!("websub: cannot read the subscriptions to hubs: {e}");
                    last_error = e;
                }
                continue;
            }
        };
        if asks.is_empty() {
            continue;
        }
        let settings = site.config.websub.clone();
        let client = match client(&site, Policy::new(&site.config.fetch), &settings) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("websub: no HTTP client: {e}");
                continue;
            }
        };
        futures_util::stream::iter(asks)
            .for_each_concurrent(IN_FLIGHT, |ask| {
                let (app, client) = (app.clone(), &client);
                async move {
                    app.metrics.hub_requests.fetch_add(1, Ordering::Relaxed);
                    let sent = ask_hub(client, &ask).await;
                    let mode = if ask.subscribe { "subscribe" } else { "unsubscribe" };
                    match sent {
                        Ok(()) => tracing::info!(source = %ask.sub.source, hub = %ask.sub.hub, topic = %ask.sub.topic, "websub: {mode} requested"),
                        Err(why) => {
                            tracing::warn!(source = %ask.sub.source, hub = %ask.sub.hub, "websub: {mode} refused: {why}");
                            let token = ask.sub.token.clone().unwrap_or_default();
                            let revision = ask.sub.revision;
                            let _ = with_store(&app, move |_, store| {
                                update(store, &token, |sub| {
                                    // Only if nothing happened since (a verification).
                                    let same = sub.revision == revision;
                                    if same {
                                        sub.last_error = Some(format!("{mode}: {why}"));
                                    }
                                    ((), same)
                                })
                            })
                            .await;
                        }
                    }
                }
            })
            .await;
    }
}

/// 5.1: the (un)subscription request. The hub's `2xx` says it will verify.
async fn ask_hub(client: &reqwest::Client, ask: &Ask) -> Result<(), String> {
    let sub = &ask.sub;
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair(
            "hub.mode",
            if ask.subscribe {
                "subscribe"
            } else {
                "unsubscribe"
            },
        )
        .append_pair("hub.topic", &sub.topic)
        .append_pair("hub.callback", sub.callback.as_deref().unwrap_or(""));
        if let (true, Some(secret)) = (ask.subscribe, &sub.secret) {
            form.append_pair("hub.secret", secret);
        }
        form.finish()
    };
    let resp = client
        .post(&sub.hub)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| crate::fetch::describe(&e))?;
    if resp.status().is_success() {
        return Ok(());
    }
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let said = crate::util::text::shorten(body.trim(), 200);
    Err(if said.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {said}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(state: PushState) -> PushSubscription {
        let mut s =
            PushSubscription::discovered("https://a/feed", "https://hub/", "https://a/feed");
        s.state = state;
        s.token = Some("t".into());
        s.secret = Some("s".into());
        s
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn signatures_of_every_listed_algorithm_verify() {
        use ring::hmac;
        let body = b"<feed/>";
        for (name, alg) in [
            ("sha1", hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            ("sha256", hmac::HMAC_SHA256),
            ("sha384", hmac::HMAC_SHA384),
            ("sha512", hmac::HMAC_SHA512),
        ] {
            let tag = hmac::sign(&hmac::Key::new(alg, b"k"), body);
            let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                signature_matches(&format!("{name}={hex}"), "k", body),
                "{name}"
            );
            assert!(!signature_matches(&format!("{name}={hex}"), "other", body));
            assert!(!signature_matches(
                &format!("{name}={hex}"),
                "k",
                b"<feed />"
            ));
        }
        for bad in ["", "sha256", "sha256=", "md5=00", "sha256=zz", "sha256=0"] {
            assert!(!signature_matches(bad, "k", body), "{bad:?}");
        }
    }

    #[test]
    fn verification_only_for_what_was_asked() {
        let now = at(0);
        let mut s = sub(PushState::Requested);
        s.requested = Some(now);
        // Wrong topic, wrong mode, no lease.
        assert!(matches!(
            judge(&mut s.clone(), "subscribe", "https://b/", Some(60), "", now).0,
            Verdict::NotAsked(_)
        ));
        assert!(matches!(
            judge(
                &mut s.clone(),
                "unsubscribe",
                "https://a/feed",
                None,
                "",
                now
            )
            .0,
            Verdict::NotAsked(_)
        ));
        assert!(matches!(
            judge(&mut s.clone(), "subscribe", "https://a/feed", None, "", now).0,
            Verdict::NotAsked(_)
        ));
        // A request older than a day is not honoured.
        let late = now + VERIFY_WINDOW + chrono::Duration::seconds(1);
        assert!(matches!(
            judge(
                &mut s.clone(),
                "subscribe",
                "https://a/feed",
                Some(60),
                "",
                late
            )
            .0,
            Verdict::NotAsked(_)
        ));
        let mut ok = s.clone();
        assert_eq!(
            judge(&mut ok, "subscribe", "https://a/feed", Some(60), "", now),
            (Verdict::Echo, true)
        );
        assert_eq!(ok.state, PushState::Active);
        assert_eq!(ok.expires, Some(now + chrono::Duration::seconds(60)));
        let mut denied = s.clone();
        assert_eq!(
            judge(&mut denied, "denied", "https://a/feed", None, "no", now).0,
            Verdict::Noted
        );
        assert_eq!(denied.state, PushState::Denied);
        // Discovered: never asked.
        let mut d = sub(PushState::Discovered);
        d.requested = Some(now);
        assert!(matches!(
            judge(&mut d, "subscribe", "https://a/feed", Some(60), "", now).0,
            Verdict::NotAsked(_)
        ));
    }

    #[test]
    fn renewal_retry_and_removal() {
        let settings = WebSubSettings::default();
        let mut s = sub(PushState::Active);
        s.requested = Some(at(0));
        s.expires = Some(at(1000));
        assert_eq!(next_action(&s, true, &settings, at(700)), None);
        assert_eq!(
            next_action(&s, true, &settings, at(800)),
            Some(Action::Subscribe { fresh: false })
        );
        assert_eq!(
            next_action(&s, false, &settings, at(10)),
            Some(Action::Unsubscribe)
        );
        let mut r = sub(PushState::Requested);
        r.requested = Some(at(0));
        r.attempts = 1;
        assert_eq!(next_action(&r, true, &settings, at(59)), None);
        assert_eq!(
            next_action(&r, true, &settings, at(60)),
            Some(Action::Subscribe { fresh: false })
        );
        r.attempts = 3;
        assert_eq!(next_action(&r, true, &settings, at(200)), None);
        assert_eq!(
            next_action(&r, true, &settings, at(240)),
            Some(Action::Subscribe { fresh: false })
        );
        r.attempts = 60;
        assert_eq!(backoff(&settings, r.attempts), MAX_BACKOFF);
        assert_eq!(
            next_action(&sub(PushState::Discovered), true, &settings, at(0)),
            Some(Action::Subscribe { fresh: true })
        );
        assert_eq!(
            next_action(&sub(PushState::Discovered), false, &settings, at(0)),
            Some(Action::Forget)
        );
        let mut u = sub(PushState::Unsubscribing);
        u.attempts = settings.retries + 1;
        assert_eq!(
            next_action(&u, false, &settings, at(0)),
            Some(Action::Forget)
        );
    }
}
