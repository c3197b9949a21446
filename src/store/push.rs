//! Subscriptions `serve` holds to upstream WebSub hubs, so that a source is
//! pushed rather than only polled (the protocol is in `serve/subscriber.rs`).
//!
//! One row per source that advertises a hub. It lives in the store so that
//! a restart keeps the subscription (its callback token and secret are what
//! the hub knows), and so that on PostgreSQL every replica can verify and
//! accept what a hub sends to any of them. Writes are compare-and-set on a
//! revision: two replicas renewing one lease at once send one request.
//!
//! The SQL is written once, with PostgreSQL's `$n` placeholders; SQLite
//! reads them as its `?n` ([`sqlite_sql`]).

use chrono::{DateTime, Utc};

use super::StoreError;

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    /// A fetch saw the hub; nothing asked yet (or asked again from scratch).
    Discovered,
    /// Subscription requested; the hub has not verified it yet.
    Requested,
    /// Verified: the hub pushes until `expires`.
    Active,
    /// The source was removed: unsubscription requested.
    Unsubscribing,
    /// The hub said no (`hub.mode=denied`), with its reason in `last_error`.
    Denied,
}

impl PushState {
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Discovered => "discovered",
            PushState::Requested => "requested",
            PushState::Active => "active",
            PushState::Unsubscribing => "unsubscribing",
            PushState::Denied => "denied",
        }
    }

    fn parse(text: &str) -> Option<PushState> {
        [
            PushState::Discovered,
            PushState::Requested,
            PushState::Active,
            PushState::Unsubscribing,
            PushState::Denied,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One source's subscription to its hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The source's key (its URL as configured).
    pub source: String,
    pub hub: String,
    /// `hub.topic`: the feed's `self` URL, else the URL fetched.
    pub topic: String,
    pub state: PushState,
    /// The last path segment of the callback: which subscription a request
    /// to a callback is about. Random, new for every subscription.
    pub token: Option<String>,
    /// `hub.secret`: random, per subscription.
    pub secret: Option<String>,
    /// The callback URL given to the hub.
    pub callback: Option<String>,
    /// When the last (un)subscription request was sent.
    pub requested: Option<DateTime<Utc>>,
    /// When the lease the hub granted ends.
    pub expires: Option<DateTime<Utc>>,
    /// Requests in a row that did not lead to a verification.
    pub attempts: u32,
    /// Pushes accepted.
    pub pushes: u64,
    pub last_push: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Bumped by every write; 0 for a row not stored yet.
    pub revision: i64,
}

impl PushSubscription {
    /// A hub just seen for `source`.
    pub fn discovered(source: &str, hub: &str, topic: &str) -> PushSubscription {
        PushSubscription {
            source: source.to_string(),
            hub: hub.to_string(),
            topic: topic.to_string(),
            state: PushState::Discovered,
            token: None,
            secret: None,
            callback: None,
            requested: None,
            expires: None,
            attempts: 0,
            pushes: 0,
            last_push: None,
            last_error: None,
            revision: 0,
        }
    }

    /// Whether the hub pushes to it at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state == PushState::Active && self.expires.is_some_and(|e| e > now)
    }
}

/// What the subscriber asks of the store; a supertrait of [`super::Store`].
pub trait PushStore {
    /// Every subscription, by source.
    fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError>;

    fn push_of(&self, source: &str) -> Result<Option<PushSubscription>, StoreError>;

    /// The subscription whose callback token is `token`.
    fn push_by_token(&self, token: &str) -> Result<Option<PushSubscription>, StoreError>;

    /// Write `sub` if the stored row is still at `sub.revision` (no row for
    /// 0); `false`, and nothing written, when another write came first.
    fn push_save(&mut self, sub: &PushSubscription) -> Result<bool, StoreError>;

    /// Delete the row of `source`; `false` when there was none.
    fn push_delete(&mut self, source: &str) -> Result<bool, StoreError>;
}

/// The columns every read selects, in this order.
pub(super) const COLUMNS: &str = "source, hub, topic, state, token, secret, callback, requested, \
     expires, attempts, pushes, last_push, last_error, revision";

pub(super) const SELECT_ALL: &str = "SELECT source, hub, topic, state, token, secret, callback, \
     requested, expires, attempts, pushes, last_push, last_error, revision \
     FROM push_subscriptions ORDER BY source";

/// A statement of this module for SQLite, whose numbered parameters are
/// `?n` (it takes `$1` for a name, numbered by first appearance).
pub(super) fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

/// `$1`: the source or the token, as the statement says.
pub(super) fn select_where(column: &str) -> String {
    format!("SELECT {COLUMNS} FROM push_subscriptions WHERE {column} = $1")
}

/// `$1`..`$13` as [`COLUMNS`] without `revision`.
pub(super) const INSERT: &str = "INSERT INTO push_subscriptions (source, hub, topic, state, \
     token, secret, callback, requested, expires, attempts, pushes, last_push, last_error, \
     revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1) \
     ON CONFLICT (source) DO NOTHING";

/// As [`INSERT`], and `$14` the revision expected.
pub(super) const UPDATE: &str = "UPDATE push_subscriptions SET hub = $2, topic = $3, \
     state = $4, token = $5, secret = $6, callback = $7, requested = $8, expires = $9, \
     attempts = $10, pushes = $11, last_push = $12, last_error = $13, \
     revision = revision + 1 WHERE source = $1 AND revision = $14";

pub(super) const DELETE: &str = "DELETE FROM push_subscriptions WHERE source = $1";

/// A subscription's columns as written: instants in nanoseconds, counters
/// as i64.
pub(super) struct Row<'a> {
    pub(super) sub: &'a PushSubscription,
    pub(super) state: &'static str,
    pub(super) requested: Option<i64>,
    pub(super) expires: Option<i64>,
    pub(super) attempts: i64,
    pub(super) pushes: i64,
    pub(super) last_push: Option<i64>,
}

impl Row<'_> {
    pub(super) fn new<'a>(store: &str, sub: &'a PushSubscription) -> Result<Row<'a>, StoreError> {
        let at = |what, t: Option<DateTime<Utc>>| super::codec::opt_nanos(store, what, t);
        Ok(Row {
            sub,
            state: sub.state.as_str(),
            requested: at("requested", sub.requested)?,
            expires: at("expires", sub.expires)?,
            attempts: i64::from(sub.attempts),
            pushes: i64::try_from(sub.pushes).unwrap_or(i64::MAX),
            last_push: at("last_push", sub.last_push)?,
        })
    }
}

/// A subscription from a row selected as [`COLUMNS`].
pub(super) fn subscription(
    row: &impl super::codec::Columns,
) -> Result<PushSubscription, StoreError> {
    let instant =
        |i: usize| Ok::<_, StoreError>(row.opt_int(i)?.map(DateTime::from_timestamp_nanos));
    let state = row.text(3)?;
    Ok(PushSubscription {
        source: row.text(0)?,
        hub: row.text(1)?,
        topic: row.text(2)?,
        state: PushState::parse(&state)
            .ok_or_else(|| row.corrupt(format!("push subscription state {state:?}")))?,
        token: row.opt_text(4)?,
        secret: row.opt_text(5)?,
        callback: row.opt_text(6)?,
        requested: instant(7)?,
        expires: instant(8)?,
        attempts: u32::try_from(row.int(9)?.max(0)).unwrap_or(u32::MAX),
        pushes: u64::try_from(row.int(10)?.max(0)).unwrap_or(0),
        last_push: instant(11)?,
        last_error: row.opt_text(12)?,
        revision: row.int(13)?,
    })
}
