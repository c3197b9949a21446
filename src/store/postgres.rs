//! The PostgreSQL backend (skeleton: being written).

use chrono::{DateTime, Utc};

use super::{ItemRecord, SharedDoc, SharedStore, SourceState, Store, StoreError, StoredItem};

/// A store in a PostgreSQL database. Open it with [`open_postgres`].
pub struct PgStore {
    store: String,
}

/// Held while this process builds; dropping it lets the next builder in.
pub struct BuildLock {}

fn todo(store: &str) -> StoreError {
    StoreError::Database {
        store: store.to_string(),
        source: "not yet written".into(),
    }
}

/// Connect to `url` (pooled), migrating the schema if needed.
pub fn open_postgres(url: &str) -> Result<PgStore, StoreError> {
    Err(todo(&super::location::redact(url)))
}

impl Store for PgStore {
    fn ensure_source(&mut self, _key: &str, _name: &str) -> Result<SourceState, StoreError> {
        Err(todo(&self.store))
    }
    fn source(&self, _key: &str) -> Result<Option<SourceState>, StoreError> {
        Err(todo(&self.store))
    }
    fn sources(&self) -> Result<Vec<SourceState>, StoreError> {
        Err(todo(&self.store))
    }
    fn save_source(&mut self, _state: &SourceState) -> Result<(), StoreError> {
        Err(todo(&self.store))
    }
    fn put_items(
        &mut self,
        _key: &str,
        _items: &[StoredItem],
        _now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Err(todo(&self.store))
    }
    fn items(&self, _key: &str) -> Result<Vec<StoredItem>, StoreError> {
        Err(todo(&self.store))
    }
    fn item(&self, _key: &str, _id: &str) -> Result<Option<StoredItem>, StoreError> {
        Err(todo(&self.store))
    }
    fn items_all(&self) -> Result<Vec<(String, StoredItem)>, StoreError> {
        Err(todo(&self.store))
    }
    fn generation(&self) -> Result<u64, StoreError> {
        Err(todo(&self.store))
    }
    fn prune(&mut self, _key: &str, _older_than: DateTime<Utc>) -> Result<usize, StoreError> {
        Err(todo(&self.store))
    }
    fn lease(
        &mut self,
        _keys: &[String],
        _holder: &str,
        _now: DateTime<Utc>,
        _until: DateTime<Utc>,
        _limit: usize,
        _force: bool,
    ) -> Result<Vec<String>, StoreError> {
        Err(todo(&self.store))
    }
    fn renew(
        &mut self,
        _keys: &[String],
        _holder: &str,
        _until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Err(todo(&self.store))
    }
    fn release(&mut self, _keys: &[String], _holder: &str) -> Result<(), StoreError> {
        Err(todo(&self.store))
    }
    fn lease_holders(&self, _now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Err(todo(&self.store))
    }
    fn break_leases(&mut self, _holder: &str) -> Result<usize, StoreError> {
        Err(todo(&self.store))
    }
    fn dump_items(&self, _key: &str) -> Result<Vec<ItemRecord>, StoreError> {
        Err(todo(&self.store))
    }
    fn restore_items(&mut self, _key: &str, _items: &[ItemRecord]) -> Result<(), StoreError> {
        Err(todo(&self.store))
    }
    fn shared(&mut self) -> Option<&mut dyn SharedStore> {
        Some(self)
    }
}

impl SharedStore for PgStore {
    fn build_lock(&mut self) -> Result<BuildLock, StoreError> {
        Err(todo(&self.store))
    }
    fn publish(&mut self, _docs: &[SharedDoc]) -> Result<u64, StoreError> {
        Err(todo(&self.store))
    }
    fn documents_generation(&mut self) -> Result<u64, StoreError> {
        Err(todo(&self.store))
    }
    fn documents(&mut self) -> Result<(u64, Vec<SharedDoc>), StoreError> {
        Err(todo(&self.store))
    }
    fn listen(&mut self, _on_publish: Box<dyn Fn() + Send + Sync>) -> Result<(), StoreError> {
        Err(todo(&self.store))
    }
    fn ledger(&mut self) -> Result<Option<String>, StoreError> {
        Err(todo(&self.store))
    }
    fn save_ledger(&mut self, _text: &str) -> Result<(), StoreError> {
        Err(todo(&self.store))
    }
    fn ping(&mut self) -> Result<(), StoreError> {
        Err(todo(&self.store))
    }
}
