//! The store: upstream sources (HTTP validators, health) and their items.
//! SQLite (embedded, WAL) is the default backend; callers see only `Store`.
//!
//! Rules every backend keeps:
//! - only [`Store::prune`] deletes items; a failed fetch or a broken feed is
//!   simply not put, and items that upstream rotates out of its feed stay;
//! - upserting an item keeps its `first_seen` and replaces its content when it changed;
//! - a source removed from the configuration keeps its rows.

mod changes;
mod codec;
mod copy;
pub mod health;
mod location;
mod migrations;
mod postgres;
pub mod push;
mod sqlite;
pub mod websub;

use chrono::{DateTime, Utc};

use crate::model::entry::Entry;
use crate::model::error::is_exhausted;
use crate::model::{Error, StoreFault};

pub use copy::{census, copy, CopyReport};
pub use location::Location;
pub use postgres::{open_postgres, BuildLock, PgStore};
pub use sqlite::{open_sqlite, SqliteStore};

/// Open (creating or migrating as needed) the store at `location`.
pub fn open(location: &Location) -> Result<Box<dyn Store + Send>, StoreError> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(open_sqlite(path)?),
        Location::Postgres(url) => Box::new(open_postgres(url)?),
    })
}

/// What the store knows about one upstream source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceState {
    /// The URL as configured in the feed file; never changes.
    pub key: String,
    /// Display name (`name:` in the feed file).
    pub name: String,
    /// The URL fetched now; differs from `key` after a permanent redirect.
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_fetch: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub next_due: Option<DateTime<Utc>>,
    pub min_interval_secs: Option<i64>,
    /// Why the source is no longer fetched (e.g. "410 Gone"); `None` when active.
    pub disabled: Option<String>,
    /// Items stored for this source; computed on read, ignored by `save_source`.
    pub item_count: u64,
}

/// How `disabled` begins for a source that answered `410 Gone`: such a
/// source is still asked at `next_due` (weekly), and enabled again when it
/// answers with a feed. Any other `disabled` (by hand) is never fetched.
pub const GONE: &str = "410 Gone";

impl SourceState {
    /// Disabled because it answered `410 Gone` (retried weekly).
    pub fn is_gone(&self) -> bool {
        self.disabled
            .as_deref()
            .is_some_and(|d| d.starts_with(GONE))
    }

    /// Whether it may be fetched at `now`: enabled, or gone and its weekly
    /// retry reached.
    pub fn fetchable(&self, now: DateTime<Utc>) -> bool {
        self.disabled.is_none() || (self.is_gone() && self.next_due.is_some_and(|d| d <= now))
    }

    /// A source never fetched: `url` is the key.
    pub fn new(key: &str, name: &str) -> SourceState {
        SourceState {
            key: key.to_string(),
            name: name.to_string(),
            url: key.to_string(),
            ..SourceState::default()
        }
    }
}

/// One upstream item as stored. Its upstream id is `entry.id`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub entry: Entry,
    /// Canonical URL of the story, as the caller computed it (for merging).
    pub canonical_url: Option<String>,
    /// When the store first saw the item. Set by the store: ignored by `put_items`.
    pub first_seen: DateTime<Utc>,
}

/// One item with both of its store times, for copying between stores.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    /// `item.first_seen` is kept as is by [`Store::restore_items`].
    pub item: StoredItem,
    pub last_seen: DateTime<Utc>,
}

/// One built document as shared by every replica (PostgreSQL only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDoc {
    /// Path under the output directory (`feed.atom`, `tags/go.rss`).
    pub path: String,
    pub body: Vec<u8>,
    /// The feed's own `updated`, served as `Last-Modified`.
    pub modified: Option<DateTime<Utc>>,
}

/// The store as the rest of tributary sees it (WebSub: the subscriptions of
/// the site's own hub, [`websub::HubStore`]; its subscriptions to upstream
/// hubs, [`push::PushStore`]).
pub trait Store: websub::HubStore + push::PushStore {
    /// The source `key`, created (with `url = key`) if missing; its name is updated.
    fn ensure_source(&mut self, key: &str, name: &str) -> Result<SourceState, StoreError>;

    fn source(&self, key: &str) -> Result<Option<SourceState>, StoreError>;

    /// Every source ever stored, configured or not, by key, with `item_count`.
    fn sources(&self) -> Result<Vec<SourceState>, StoreError>;

    /// Write a source's state (name, url, validators, health, schedule,
    /// disabled); creates it if missing. `item_count` is ignored.
    fn save_source(&mut self, state: &SourceState) -> Result<(), StoreError>;

    /// Upsert items of one existing source in one transaction; returns how many
    /// were new. Every item put gets `last_seen = now`; new ones `first_seen = now`.
    /// Never deletes. Items with the same id in one call count once (the last wins).
    fn put_items(
        &mut self,
        key: &str,
        items: &[StoredItem],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Items of one source, newest `published` first.
    fn items(&self, key: &str) -> Result<Vec<StoredItem>, StoreError>;

    /// The newest `limit` items of one source, in the order of [`Store::items`]:
    /// read through the date index, so the cost is the page, not the source.
    fn recent_items(&self, key: &str, limit: usize) -> Result<Vec<StoredItem>, StoreError>;

    /// One item of one source, by its upstream id.
    fn item(&self, key: &str, id: &str) -> Result<Option<StoredItem>, StoreError>;

    /// Items of every source as `(key, item)`: by key, then newest first.
    fn items_all(&self) -> Result<Vec<(String, StoredItem)>, StoreError>;

    /// A number that changes whenever stored items change (a put that adds or
    /// updates an item, a prune that deletes one); equal numbers mean the
    /// items are as they were.
    fn generation(&self) -> Result<u64, StoreError>;

    /// Retention, the only way items go away. Deletes items of `key` whose
    /// `published` AND `first_seen` are both before `older_than`, and that were
    /// not in the latest put for the source (an item still in the upstream feed
    /// would come back as new on the next fetch). Returns how many were deleted.
    fn prune(&mut self, key: &str, older_than: DateTime<Utc>) -> Result<usize, StoreError>;

    /// `keep:`: deletes the items of `key` after its newest `keep` (in the
    /// order of [`Store::items`]) that were not in the latest put for the
    /// source. Returns how many were deleted.
    fn keep_newest(&mut self, key: &str, keep: usize) -> Result<usize, StoreError>;

    /// Work sharing between processes on one store. Of `keys` (sources that
    /// exist), lease to `holder` until `until` at most `limit` that are due
    /// at `now`, not disabled, and not leased to another holder past `now`.
    /// Due means `next_due` unset or reached; with `forced_since: Some(t)`,
    /// not fetched since `t` whatever the schedule (`fetch --all` run by
    /// several processes at once fetches each source once). Returns the keys
    /// leased, most overdue first. Two callers never get the same key while
    /// a lease runs.
    #[allow(clippy::too_many_arguments)]
    fn lease(
        &mut self,
        keys: &[String],
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
        forced_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError>;

    /// Extend `holder`'s leases on `keys` to `until` (a long fetch keeps its
    /// sources); returns how many were still held.
    fn renew(
        &mut self,
        keys: &[String],
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Give back `holder`'s leases on `keys` (after their state was saved).
    fn release(&mut self, keys: &[String], holder: &str) -> Result<(), StoreError>;

    /// Who holds leases that run past `now`, each once.
    fn lease_holders(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;

    /// Drop every lease of `holder` (a process known to be dead); returns how many.
    fn break_leases(&mut self, holder: &str) -> Result<usize, StoreError>;

    /// Give the stored item `old_id` of `key` the id `new_id`, keeping its
    /// row (first sighting, dates): an upstream that changed its ids still
    /// publishes the same item. `false`, and nothing changed, when there is
    /// no such item or `new_id` is taken.
    fn rename_item(&mut self, key: &str, old_id: &str, new_id: &str) -> Result<bool, StoreError>;

    /// Every item of `key` with its store times, in no particular order.
    fn dump_items(&self, key: &str) -> Result<Vec<ItemRecord>, StoreError>;

    /// Write items of an existing source exactly as dumped (their
    /// `first_seen` and `last_seen` kept), replacing any with the same id.
    fn restore_items(&mut self, key: &str, items: &[ItemRecord]) -> Result<(), StoreError>;

    /// What several replicas share beyond sources and items; `None` for a
    /// store only one machine uses (SQLite).
    fn shared(&mut self) -> Option<&mut dyn SharedStore> {
        None
    }
}

/// Coordination between `serve` replicas on one store (PostgreSQL).
pub trait SharedStore {
    /// Wait until no other process builds, then hold the build lock until
    /// the returned guard is dropped (or the process dies).
    fn build_lock(&mut self) -> Result<BuildLock, StoreError>;

    /// Make `docs` the published build: rows whose bytes changed are
    /// written (a row whose bytes are unchanged keeps its `modified`, so
    /// that `Last-Modified` does not move with the replica that rebuilt),
    /// paths not in `docs` deleted. When anything
    /// changed, the documents generation goes up and every listener is
    /// notified. Returns the generation now published.
    fn publish(&mut self, docs: &[SharedDoc]) -> Result<u64, StoreError>;

    /// The published generation (0 before the first publish).
    fn documents_generation(&mut self) -> Result<u64, StoreError>;

    /// The published documents with their generation, read in one snapshot.
    fn documents(&mut self) -> Result<(u64, Vec<SharedDoc>), StoreError>;

    /// Call `on_publish` (from a background thread) after every publish by
    /// any process, and after a lost connection comes back (a notification
    /// may have been missed). Runs until the process ends.
    fn listen(&mut self, on_publish: Box<dyn Fn() + Send + Sync>) -> Result<(), StoreError>;

    /// The shared id ledger (`tributary.ledger` text); `None` if never saved.
    fn ledger(&mut self) -> Result<Option<String>, StoreError>;

    fn save_ledger(&mut self, text: &str) -> Result<(), StoreError>;

    /// One cheap round trip: is the store reachable (readiness)?
    fn ping(&mut self) -> Result<(), StoreError>;
}

/// Why the store failed, naming the store and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: cannot create its directory: {source}")]
    CreateDir {
        store: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "store {store} was written by a newer tributary (schema {found} > {supported}); \
         upgrade tributary or point `store:` at another file"
    )]
    TooNew {
        store: String,
        found: i64,
        supported: i64,
    },
    #[error("store {store} is not a tributary store ({reason}); point `store:` at another file")]
    Foreign { store: String, reason: String },
    #[error("store {store} is damaged ({message}); move it aside and fetch again to rebuild it")]
    Corrupt { store: String, message: String },
    #[error("store {store} is locked by another process; wait for it to finish and retry")]
    Locked { store: String },
    #[error("store {store}: unknown source {key:?} (call ensure_source first)")]
    UnknownSource { store: String, key: String },
    #[error("store {store}: {what} {value} is out of the storable range")]
    OutOfRange {
        store: String,
        what: &'static str,
        value: String,
    },
    #[error("store {store}: {source}")]
    Database {
        store: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// Whether trying the same work again may succeed.
    pub fn fault(&self) -> StoreFault {
        match self {
            StoreError::Database { .. } => StoreFault::Unreachable,
            StoreError::Locked { .. } => StoreFault::Locked,
            StoreError::CreateDir { source, .. } if is_exhausted(source) => StoreFault::Exhausted,
            _ => StoreFault::Permanent,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store {
            fault: e.fault(),
            message: e.to_string(),
        }
    }
}
