//! [`PushStore`] on PostgreSQL (a child of `postgres.rs`, for its pool and
//! row reader). Every replica reads the same rows, so a hub's request to
//! any of them finds its subscription.

use super::super::push::{self, PushStore, PushSubscription, Row};
use super::{Params, PgStore};
use crate::store::StoreError;

impl PgStore {
    fn push_rows(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<PushSubscription>, StoreError> {
        self.decoded(sql, params, |c| push::subscription(c))
    }
}

impl PushStore for PgStore {
    fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        self.push_rows(push::SELECT_ALL, &[])
    }

    fn push_of(&self, source: &str) -> Result<Option<PushSubscription>, StoreError> {
        Ok(self
            .push_rows(&push::select_where("source"), &[&source])?
            .pop())
    }

    fn push_by_token(&self, token: &str) -> Result<Option<PushSubscription>, StoreError> {
        Ok(self
            .push_rows(&push::select_where("token"), &[&token])?
            .pop())
    }

    fn push_save(&mut self, sub: &PushSubscription) -> Result<bool, StoreError> {
        let r = Row::new(&self.store, sub)?;
        let s = r.sub;
        let mut cols: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &s.source,
            &s.hub,
            &s.topic,
            &r.state,
            &s.token,
            &s.secret,
            &s.callback,
            &r.requested,
            &r.expires,
            &r.attempts,
            &r.pushes,
            &r.last_push,
            &s.last_error,
        ];
        let n = if s.revision == 0 {
            self.hub_exec(push::INSERT, &cols)?
        } else {
            cols.push(&s.revision);
            self.hub_exec(push::UPDATE, &cols)?
        };
        Ok(n == 1)
    }

    fn push_delete(&mut self, source: &str) -> Result<bool, StoreError> {
        Ok(self.hub_exec(push::DELETE, &[&source])? > 0)
    }
}
