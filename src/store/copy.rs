//! `tributary store migrate`: copy one store into another (SQLite to
//! PostgreSQL and back) with nothing lost: every source with its validators,
//! health and schedule, every item with its first and last sighting, every
//! subscription to the WebSub hub of `hub: self` with its delivery state,
//! and every subscription to an upstream hub (its callback and secret are
//! what the hub knows).

use super::{Store, StoreError};

/// What a copy moved, counted again in the destination afterwards.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub sources: usize,
    pub items: usize,
    pub subscriptions: usize,
}

/// Copy every source and item, and every hub subscription, of `from` into `to`. Items already in `to`
/// with the same id are replaced; nothing of `to` is deleted. Fetch leases
/// are not copied: they belong to the processes of the old store.
pub fn copy(from: &dyn Store, to: &mut dyn Store) -> Result<CopyReport, StoreError> {
    let mut report = CopyReport::default();
    for source in from.sources()? {
        to.save_source(&source)?;
        let items = from.dump_items(&source.key)?;
        // In slices: one transaction per slice keeps memory and locks small.
        for slice in items.chunks(500) {
            to.restore_items(&source.key, slice)?;
        }
        report.sources += 1;
        report.items += items.len();
    }
    for sub in from.hub_subscriptions()? {
        to.hub_restore(&sub)?;
        report.subscriptions += 1;
    }
    for mut sub in from.push_subscriptions()? {
        // Replaces what `to` has of the source: written at its revision.
        sub.revision = to.push_of(&sub.source)?.map_or(0, |s| s.revision);
        to.push_save(&sub)?;
        report.subscriptions += 1;
    }
    Ok(report)
}

/// Count sources and items of a store, per source, to compare two stores.
pub fn census(store: &dyn Store) -> Result<Vec<(String, u64)>, StoreError> {
    Ok(store
        .sources()?
        .into_iter()
        .map(|s| (s.key, s.item_count))
        .collect())
}
