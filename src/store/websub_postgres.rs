//! [`HubStore`] on PostgreSQL (a child of `postgres.rs`, for its pool and
//! row reader). Replicas share the subscriptions; a delivery is claimed
//! with `FOR UPDATE SKIP LOCKED`, so each change reaches a callback from
//! one replica.

use chrono::{DateTime, Utc};

use super::super::websub::{hash_col, subscription, HubStore, HubSubscription, COLUMNS};
use super::{exec, rows, Cols, Params, PgStore};
use crate::store::codec::nanos;
use crate::store::StoreError;

impl PgStore {
    fn hub_rows(&self, sql: &str, params: &Params<'_>) -> Result<Vec<HubSubscription>, StoreError> {
        self.decoded(sql, params, |c| subscription(c))
    }

    /// The rows `sql` selects, each decoded by `decode` (the WebSub tables).
    pub(super) fn decoded<T>(
        &self,
        sql: &str,
        params: &Params<'_>,
        decode: impl Fn(&Cols<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let found = self.run(async {
            let client = self.client().await?;
            rows(&client, sql, params).await.map_err(self.db())
        })?;
        found
            .iter()
            .map(|row| decode(&Cols { row, store: self }))
            .collect()
    }

    /// Run `sql`; the rows it changed.
    pub(super) fn hub_exec(&self, sql: &str, params: &Params<'_>) -> Result<usize, StoreError> {
        let n = self.run(async {
            let client = self.client().await?;
            exec(&client, sql, params).await.map_err(self.db())
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

impl HubStore for PgStore {
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
        let now = nanos(&self.store, "now", now)?;
        let expires = nanos(&self.store, "expires", expires)?;
        self.hub_exec(
            "INSERT INTO hub_subscriptions (topic, callback, secret, lease_seconds, expires, verified,
                 delivered_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret,
                 lease_seconds = excluded.lease_seconds, expires = excluded.expires,
                 verified = excluded.verified",
            &[&topic, &callback, &secret, &lease_seconds, &expires, &now, &current],
        )?;
        Ok(())
    }

    fn hub_restore(&mut self, sub: &HubSubscription) -> Result<(), StoreError> {
        let expires = nanos(&self.store, "expires", sub.expires)?;
        let verified = nanos(&self.store, "verified", sub.verified)?;
        let next = crate::store::codec::opt_nanos(&self.store, "next_attempt", sub.next_attempt)?;
        let (pending, delivered) = (sub.pending.map(hash_col), sub.delivered.map(hash_col));
        let failures = i64::from(sub.failures);
        self.hub_exec(
            "INSERT INTO hub_subscriptions (topic, callback, secret, lease_seconds, expires,
                 verified, pending_hash, delivered_hash, failures, next_attempt, last_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret,
                 lease_seconds = excluded.lease_seconds, expires = excluded.expires,
                 verified = excluded.verified, pending_hash = excluded.pending_hash,
                 delivered_hash = excluded.delivered_hash, failures = excluded.failures,
                 next_attempt = excluded.next_attempt, last_error = excluded.last_error,
                 lease_holder = NULL, lease_until = NULL",
            &[
                &sub.topic,
                &sub.callback,
                &sub.secret,
                &sub.lease_seconds,
                &expires,
                &verified,
                &pending,
                &delivered,
                &failures,
                &next,
                &sub.last_error,
            ],
        )?;
        Ok(())
    }

    fn hub_unsubscribe(&mut self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        Ok(self.hub_exec(
            "DELETE FROM hub_subscriptions WHERE topic = $1 AND callback = $2",
            &[&topic, &callback],
        )? > 0)
    }

    fn hub_subscriptions(&self) -> Result<Vec<HubSubscription>, StoreError> {
        self.hub_rows(
            &format!("SELECT {COLUMNS} FROM hub_subscriptions ORDER BY topic, callback"),
            &[],
        )
    }

    fn hub_expire(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let now = nanos(&self.store, "now", now)?;
        self.hub_exec("DELETE FROM hub_subscriptions WHERE expires <= $1", &[&now])
    }

    fn hub_changed(
        &mut self,
        topic: &str,
        hash: u64,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = nanos(&self.store, "now", now)?;
        let hash = hash_col(hash);
        self.hub_exec(
            "UPDATE hub_subscriptions
             SET next_attempt = CASE WHEN pending_hash IS NULL THEN $3 ELSE next_attempt END,
                 pending_hash = $2
             WHERE topic = $1 AND expires > $3
               AND (delivered_hash IS NULL OR delivered_hash <> $2)
               AND (pending_hash IS NULL OR pending_hash <> $2)",
            &[&topic, &hash, &now],
        )
    }

    fn hub_claim(
        &mut self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HubSubscription>, StoreError> {
        let now = nanos(&self.store, "now", now)?;
        let until = nanos(&self.store, "until", until)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.hub_rows(
            &format!(
                "UPDATE hub_subscriptions SET lease_holder = $1, lease_until = $3
                 WHERE (topic, callback) IN (
                     SELECT topic, callback FROM hub_subscriptions
                     WHERE pending_hash IS NOT NULL AND next_attempt <= $2 AND expires > $2
                       AND (lease_until IS NULL OR lease_until <= $2)
                     ORDER BY next_attempt LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING {COLUMNS}"
            ),
            &[&holder, &now, &until, &limit],
        )
    }

    fn hub_delivered(
        &mut self,
        topic: &str,
        callback: &str,
        holder: &str,
        claimed: u64,
        sent: u64,
    ) -> Result<(), StoreError> {
        let (sent, claimed) = (hash_col(sent), hash_col(claimed));
        self.hub_exec(
            "UPDATE hub_subscriptions
             SET delivered_hash = $4,
                 next_attempt = CASE WHEN pending_hash IN ($4, $5) THEN NULL ELSE next_attempt END,
                 pending_hash = CASE WHEN pending_hash IN ($4, $5) THEN NULL ELSE pending_hash END,
                 failures = 0, last_error = NULL, lease_holder = NULL, lease_until = NULL
             WHERE topic = $1 AND callback = $2 AND lease_holder = $3",
            &[&topic, &callback, &holder, &sent, &claimed],
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
        let next = nanos(&self.store, "next_attempt", next_attempt)?;
        let failures = i64::from(failures);
        self.hub_exec(
            "UPDATE hub_subscriptions
             SET failures = $4, next_attempt = $5, last_error = $6,
                 lease_holder = NULL, lease_until = NULL
             WHERE topic = $1 AND callback = $2 AND lease_holder = $3",
            &[&topic, &callback, &holder, &failures, &next, &error],
        )?;
        Ok(())
    }
}
