//! [`PushStore`] on SQLite (a child of `sqlite.rs`, for its connection and
//! row reader).

use rusqlite::params;

use super::super::push::{self, PushStore, PushSubscription, Row};
use super::SqliteStore;
use crate::store::StoreError;

impl SqliteStore {
    fn push_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<PushSubscription>, StoreError> {
        self.decoded(&push::sqlite_sql(sql), params, |c| push::subscription(c))
    }

    fn push_exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        self.hub_exec(&push::sqlite_sql(sql), params)
    }
}

impl PushStore for SqliteStore {
    fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        self.push_rows(push::SELECT_ALL, [])
    }

    fn push_of(&self, source: &str) -> Result<Option<PushSubscription>, StoreError> {
        Ok(self
            .push_rows(&push::select_where("source"), [source])?
            .pop())
    }

    fn push_by_token(&self, token: &str) -> Result<Option<PushSubscription>, StoreError> {
        Ok(self.push_rows(&push::select_where("token"), [token])?.pop())
    }

    fn push_save(&mut self, sub: &PushSubscription) -> Result<bool, StoreError> {
        let r = Row::new(&self.store, sub)?;
        let s = r.sub;
        let cols = params![
            s.source,
            s.hub,
            s.topic,
            r.state,
            s.token,
            s.secret,
            s.callback,
            r.requested,
            r.expires,
            r.attempts,
            r.pushes,
            r.last_push,
            s.last_error
        ];
        let n = if s.revision == 0 {
            self.push_exec(push::INSERT, cols)?
        } else {
            let mut all = cols.to_vec();
            all.push(&s.revision);
            self.push_exec(push::UPDATE, all.as_slice())?
        };
        Ok(n == 1)
    }

    fn push_delete(&mut self, source: &str) -> Result<bool, StoreError> {
        Ok(self.push_exec(push::DELETE, [source])? > 0)
    }
}
