//! Subscriptions to the WebSub hub `serve` runs with `hub: self` (the
//! protocol is in `serve/websub.rs`). They live in the store so that they
//! survive restarts, and so that on PostgreSQL every replica sees them and
//! each change reaches each callback once (a delivery is claimed, as a
//! source is leased).
//!
//! A row is a subscription whose intent was verified: requests still being
//! verified are held in memory by the hub. Its delivery state is
//! `pending` (the hash of the topic's bytes to push; `None` when the
//! callback has what the topic holds), `delivered` (the hash last pushed),
//! `failures` and `next_attempt`. A change of a topic marks its
//! subscriptions pending unless they already have (or are about to get)
//! those bytes.

use chrono::{DateTime, Utc};

use super::StoreError;

/// One verified subscription, keyed by (topic, callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSubscription {
    pub topic: String,
    pub callback: String,
    /// `hub.secret`: content is signed with it.
    pub secret: Option<String>,
    /// The lease granted, in seconds.
    pub lease_seconds: i64,
    /// When the lease ends; the row is deleted then.
    pub expires: DateTime<Utc>,
    /// When the intent was (last) verified.
    pub verified: DateTime<Utc>,
    /// Hash of the bytes to push; `None`: nothing to deliver.
    pub pending: Option<u64>,
    /// Hash of the bytes pushed last.
    pub delivered: Option<u64>,
    /// Deliveries failed in a row.
    pub failures: u32,
    /// When the pending delivery is (next) tried.
    pub next_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// What the hub asks of the store; every backend implements it (it is a
/// supertrait of [`super::Store`]).
pub trait HubStore {
    /// Make (or renew) the subscription of `callback` to `topic`, verified
    /// at `now`: secret and lease replaced, delivery state kept. A new one
    /// counts as having the bytes hashed `current` (what the topic serves
    /// now): it gets the next change, not what it could fetch already.
    #[allow(clippy::too_many_arguments)]
    fn hub_subscribe(
        &mut self,
        topic: &str,
        callback: &str,
        secret: Option<&str>,
        lease_seconds: i64,
        current: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Write `sub` exactly as given (delivery state included, no claim),
    /// replacing one with the same topic and callback: `store migrate`.
    fn hub_restore(&mut self, sub: &HubSubscription) -> Result<(), StoreError>;

    /// Delete it; `false` when there was none.
    fn hub_unsubscribe(&mut self, topic: &str, callback: &str) -> Result<bool, StoreError>;

    /// Every subscription, by topic then callback.
    fn hub_subscriptions(&self) -> Result<Vec<HubSubscription>, StoreError>;

    /// Delete the subscriptions whose lease ended by `now`; how many.
    fn hub_expire(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// `topic` now holds the bytes hashed `hash`: its live subscriptions
    /// that neither got nor wait for them are due at `now` (one already
    /// waiting for older bytes keeps its retry time). How many were marked.
    fn hub_changed(
        &mut self,
        topic: &str,
        hash: u64,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Of the subscriptions due at `now` and not claimed by anyone, claim
    /// at most `limit` for `holder` until `until`. Two callers never get
    /// the same subscription while a claim runs.
    fn hub_claim(
        &mut self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HubSubscription>, StoreError>;

    /// `holder`, having claimed the delivery of the bytes hashed `claimed`,
    /// pushed those hashed `sent` (the same, or newer ones it serves): the
    /// claim ends, failures reset, and the delivery is done unless other
    /// bytes became pending meanwhile.
    fn hub_delivered(
        &mut self,
        topic: &str,
        callback: &str,
        holder: &str,
        claimed: u64,
        sent: u64,
    ) -> Result<(), StoreError>;

    /// `holder` gives its claim back: try again at `next_attempt`, with
    /// `failures` and `error` as the delivery's state.
    fn hub_retry(
        &mut self,
        topic: &str,
        callback: &str,
        holder: &str,
        failures: u32,
        next_attempt: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// A content hash as the stores keep it (a signed 64-bit column).
pub(super) fn hash_col(h: u64) -> i64 {
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// A stored hash back.
pub(super) fn hash_of(c: i64) -> u64 {
    u64::from_ne_bytes(c.to_ne_bytes())
}

/// The columns every read of a subscription selects, in this order.
pub(super) const COLUMNS: &str = "topic, callback, secret, lease_seconds, expires, verified, \
     pending_hash, delivered_hash, failures, next_attempt, last_error";

/// A subscription from a row selected as [`COLUMNS`].
pub(super) fn subscription(
    row: &impl super::codec::Columns,
) -> Result<HubSubscription, StoreError> {
    let instant = |i: usize| Ok::<_, StoreError>(DateTime::from_timestamp_nanos(row.int(i)?));
    Ok(HubSubscription {
        topic: row.text(0)?,
        callback: row.text(1)?,
        secret: row.opt_text(2)?,
        lease_seconds: row.int(3)?,
        expires: instant(4)?,
        verified: instant(5)?,
        pending: row.opt_int(6)?.map(hash_of),
        delivered: row.opt_int(7)?.map(hash_of),
        failures: u32::try_from(row.int(8)?.max(0)).unwrap_or(u32::MAX),
        next_attempt: row.opt_int(9)?.map(DateTime::from_timestamp_nanos),
        last_error: row.opt_text(10)?,
    })
}
