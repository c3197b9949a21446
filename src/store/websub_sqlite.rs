//! [`HubStore`] on SQLite (a child of `sqlite.rs`, for its connection and
//! row reader). One process uses a SQLite store, so a claim only keeps a
//! delivery from being started twice by that process.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::super::websub::{hash_col, subscription, HubStore, HubSubscription, COLUMNS};
use super::{db_error, Cols, SqliteStore};
use crate::store::StoreError;

impl SqliteStore {
    fn hub_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<HubSubscription>, StoreError> {
        self.decoded(sql, params, |c| subscription(c))
    }

    /// The rows `sql` selects, each decoded by `decode` (the WebSub tables).
    pub(super) fn decoded<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&Cols<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let db = self.db();
        let mut stmt = self.conn.prepare_cached(sql).map_err(&db)?;
        let mut rows = stmt.query(params).map_err(&db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&db)? {
            out.push(decode(&Cols { row, store: self })?);
        }
        Ok(out)
    }

    /// Run `sql`; the rows it changed.
    pub(super) fn hub_exec(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        let db = self.db();
        self.conn
            .prepare_cached(sql)
            .map_err(&db)?
            .execute(params)
            .map_err(&db)
    }
}

impl HubStore for SqliteStore {
    fn hub_subscribe(
        &mut self,
        topic: &str,
        callback: &str,
        secret: Option<&str>,
        lease_seconds: i64,
        current: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let current = current.map(hash_col);
        let expires = now + chrono::Duration::seconds(lease_seconds);
        let (now, expires) = (self.nanos("now", now)?, self.nanos("expires", expires)?);
        self.hub_exec(
            "INSERT INTO hub_subscriptions (topic, callback, secret, lease_seconds, expires, verified,
                 delivered_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret,
                 lease_seconds = excluded.lease_seconds, expires = excluded.expires,
                 verified = excluded.verified",
            params![topic, callback, secret, lease_seconds, expires, now, current],
        )?;
        Ok(())
    }

    fn hub_restore(&mut self, sub: &HubSubscription) -> Result<(), StoreError> {
        let expires = self.nanos("expires", sub.expires)?;
        let verified = self.nanos("verified", sub.verified)?;
        let next = self.opt_nanos("next_attempt", sub.next_attempt)?;
        self.hub_exec(
            "INSERT INTO hub_subscriptions (topic, callback, secret, lease_seconds, expires,
                 verified, pending_hash, delivered_hash, failures, next_attempt, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret,
                 lease_seconds = excluded.lease_seconds, expires = excluded.expires,
                 verified = excluded.verified, pending_hash = excluded.pending_hash,
                 delivered_hash = excluded.delivered_hash, failures = excluded.failures,
                 next_attempt = excluded.next_attempt, last_error = excluded.last_error,
                 lease_holder = NULL, lease_until = NULL",
            params![
                sub.topic,
                sub.callback,
                sub.secret,
                sub.lease_seconds,
                expires,
                verified,
                sub.pending.map(hash_col),
                sub.delivered.map(hash_col),
                sub.failures,
                next,
                sub.last_error
            ],
        )?;
        Ok(())
    }

    fn hub_unsubscribe(&mut self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        Ok(self.hub_exec(
            "DELETE FROM hub_subscriptions WHERE topic = ?1 AND callback = ?2",
            params![topic, callback],
        )? > 0)
    }

    fn hub_subscriptions(&self) -> Result<Vec<HubSubscription>, StoreError> {
        self.hub_rows(
            &format!("SELECT {COLUMNS} FROM hub_subscriptions ORDER BY topic, callback"),
            [],
        )
    }

    fn hub_expire(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let now = self.nanos("now", now)?;
        self.hub_exec(
            "DELETE FROM hub_subscriptions WHERE expires <= ?1",
            params![now],
        )
    }

    fn hub_changed(
        &mut self,
        topic: &str,
        hash: u64,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = self.nanos("now", now)?;
        self.hub_exec(
            "UPDATE hub_subscriptions
             SET next_attempt = CASE WHEN pending_hash IS NULL THEN ?3 ELSE next_attempt END,
                 pending_hash = ?2
             WHERE topic = ?1 AND expires > ?3
               AND (delivered_hash IS NULL OR delivered_hash <> ?2)
               AND (pending_hash IS NULL OR pending_hash <> ?2)",
            params![topic, hash_col(hash), now],
        )
    }

    fn hub_claim(
        &mut self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HubSubscription>, StoreError> {
        let (now, until) = (self.nanos("now", now)?, self.nanos("until", until)?);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (tx, store) = self.immediate()?;
        let db = |e| db_error(store, e);
        let claimed: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE hub_subscriptions SET lease_holder = ?1, lease_until = ?3
                     WHERE rowid IN (
                         SELECT rowid FROM hub_subscriptions
                         WHERE pending_hash IS NOT NULL AND next_attempt <= ?2 AND expires > ?2
                           AND (lease_until IS NULL OR lease_until <= ?2)
                         ORDER BY next_attempt LIMIT ?4)
                     RETURNING topic, callback",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![holder, now, until, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)?
        };
        tx.commit().map_err(db)?;
        let mut out = Vec::with_capacity(claimed.len());
        for (topic, callback) in claimed {
            out.extend(self.hub_rows(
                &format!(
                    "SELECT {COLUMNS} FROM hub_subscriptions WHERE topic = ?1 AND callback = ?2"
                ),
                params![topic, callback],
            )?);
        }
        Ok(out)
    }

    fn hub_delivered(
        &mut self,
        topic: &str,
        callback: &str,
        holder: &str,
        claimed: u64,
        sent: u64,
    ) -> Result<(), StoreError> {
        self.hub_exec(
            "UPDATE hub_subscriptions
             SET delivered_hash = ?4,
                 next_attempt = CASE WHEN pending_hash IN (?4, ?5) THEN NULL ELSE next_attempt END,
                 pending_hash = CASE WHEN pending_hash IN (?4, ?5) THEN NULL ELSE pending_hash END,
                 failures = 0, last_error = NULL, lease_holder = NULL, lease_until = NULL
             WHERE topic = ?1 AND callback = ?2 AND lease_holder = ?3",
            params![topic, callback, holder, hash_col(sent), hash_col(claimed)],
        )?;
        Ok(())
    }

    fn hub_retry(
        &mut self,
        topic: &str,
        callback: &str,
        holder: &str,
        failures: u32,
        next_attempt: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let next = self.nanos("next_attempt", next_attempt)?;
        self.hub_exec(
            "UPDATE hub_subscriptions
             SET failures = ?4, next_attempt = ?5, last_error = ?6,
                 lease_holder = NULL, lease_until = NULL
             WHERE topic = ?1 AND callback = ?2 AND lease_holder = ?3",
            params![topic, callback, holder, failures, next, error],
        )?;
        Ok(())
    }
}
