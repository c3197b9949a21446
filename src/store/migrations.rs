//! Versioned schema: `PRAGMA user_version` counts the steps applied.
//!
//! Step `i` takes a store from version `i` to `i + 1`. Steps are only ever
//! appended: a released step is never edited.

use rusqlite::{Connection, TransactionBehavior};

/// `PRAGMA application_id` of a tributary store ("trib").
pub(super) const APPLICATION_ID: i64 = 0x7472_6962;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: sources, items and their bodies.
    // Instants are i64 nanoseconds since the epoch (UTC). Entry dates keep
    // their offset as (seconds, nanoseconds, offset seconds), so they come
    // back exactly as put. Lists are JSON arrays. Bodies live apart from the
    // small per-item rows so that marking items seen rewrites a few pages,
    // not every body.
    "CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        last_fetch INTEGER,
        last_success INTEGER,
        last_error TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_due INTEGER,
        min_interval_secs INTEGER,
        disabled TEXT
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        source INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        upstream_id TEXT NOT NULL,
        published_s INTEGER NOT NULL,
        published_ns INTEGER NOT NULL,
        published_off INTEGER NOT NULL,
        fingerprint INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        UNIQUE (source, upstream_id)
    );
    CREATE INDEX items_by_date
        ON items (source, published_s DESC, published_ns DESC, first_seen DESC, upstream_id);
    CREATE TABLE item_bodies (
        item INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        canonical_url TEXT,
        url TEXT NOT NULL,
        title TEXT NOT NULL,
        summary_html TEXT,
        content_html TEXT,
        updated_s INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL,
        updated_off INTEGER NOT NULL,
        authors TEXT NOT NULL,
        tags TEXT NOT NULL,
        image TEXT,
        content_mode TEXT,
        sources TEXT NOT NULL,
        related TEXT NOT NULL
    );",
    // 2: a counter bumped by every write that changes items, so that a build
    // can tell in one query that nothing upstream changed since the last one.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('generation', 0);",
    // 3: which store this is: a store deleted and fetched again can reach the
    // same generation with other items.
    "INSERT INTO meta (key, value) VALUES ('store_id', abs(random()));",
    // 4: leases, so that several processes on one store share the fetch
    // work: a due source is fetched by the one holding its lease.
    "ALTER TABLE sources ADD COLUMN lease_holder TEXT;
    ALTER TABLE sources ADD COLUMN lease_until INTEGER;",
    // 5: subscriptions to the WebSub hub of `hub: self` (store/websub.rs):
    // verified ones only, with their delivery state and its claim.
    "CREATE TABLE hub_subscriptions (
        topic TEXT NOT NULL,
        callback TEXT NOT NULL,
        secret TEXT,
        lease_seconds INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        verified INTEGER NOT NULL,
        pending_hash INTEGER,
        delivered_hash INTEGER,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER,
        last_error TEXT,
        lease_holder TEXT,
        lease_until INTEGER,
        PRIMARY KEY (topic, callback)
    );
    CREATE INDEX hub_subscriptions_due ON hub_subscriptions (next_attempt)
        WHERE pending_hash IS NOT NULL;",
    // 6: what upstream items carry besides (codec::Extras): enclosures, tag
    // schemes, the content language, as one JSON object.
    "ALTER TABLE item_bodies ADD COLUMN extras TEXT NOT NULL DEFAULT '{}';",
    // 7: subscriptions of `serve` to upstream WebSub hubs (store/push.rs),
    // one per source; `token` names the callback.
    "CREATE TABLE push_subscriptions (
        source TEXT PRIMARY KEY,
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,
        state TEXT NOT NULL,
        token TEXT UNIQUE,
        secret TEXT,
        callback TEXT,
        requested INTEGER,
        expires INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        pushes INTEGER NOT NULL DEFAULT 0,
        last_push INTEGER,
        last_error TEXT,
        revision INTEGER NOT NULL
    );",
];

/// The schema version this build writes.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// What a migration run found.
pub(super) enum Outcome {
    /// At `latest()` now (possibly after applying steps).
    Current,
    /// Written by a newer build: nothing was touched.
    TooNew(i64),
    /// A version no tributary writes (negative): nothing was touched.
    Invalid(i64),
}

/// Apply the missing steps in one immediate transaction, so that two
/// processes opening a fresh store do not both migrate it.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<Outcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > latest() {
        return Ok(Outcome::TooNew(found));
    }
    let Ok(start) = usize::try_from(found) else {
        return Ok(Outcome::Invalid(found));
    };
    if found < latest() {
        for step in MIGRATIONS.iter().skip(start) {
            tx.execute_batch(step)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", latest())?;
    }
    tx.commit()?;
    Ok(Outcome::Current)
}
