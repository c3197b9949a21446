//! Which items of a write are new, changed or only seen again: the same
//! decision in every backend, made on fingerprints before any row is touched.

use std::collections::HashMap;

use super::codec::Encoded;

/// What writing one item does to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Stored with this fingerprint already: only its last-seen time moves.
    Seen(i64),
    /// Stored with another fingerprint: this row is rewritten.
    Changed(i64),
    /// Not stored yet.
    New,
}

/// The items one source holds: upstream id -> (row id, fingerprint).
#[derive(Debug, Default)]
pub(super) struct Known(HashMap<String, (i64, i64)>);

impl Known {
    /// Record that `id` is stored in `row` with `fingerprint`.
    pub(super) fn insert(&mut self, id: String, row: i64, fingerprint: i64) {
        self.0.insert(id, (row, fingerprint));
    }

    /// What writing `enc` does; with `rewrite` (a restore) an unchanged item
    /// is written again too, since its seen times are what changes.
    pub(super) fn change(&self, enc: &Encoded<'_>, rewrite: bool) -> Change {
        match self.0.get(&enc.entry.id) {
            Some(&(row, fingerprint)) if fingerprint == enc.fingerprint && !rewrite => {
                Change::Seen(row)
            }
            Some(&(row, _)) => Change::Changed(row),
            None => Change::New,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::Entry;
    use crate::store::codec::encode;
    use crate::store::StoredItem;

    fn item(id: &str, title: &str) -> StoredItem {
        let date = chrono::DateTime::UNIX_EPOCH.fixed_offset();
        let entry = Entry {
            id: id.to_string(),
            url: format!("https://up.example/{id}"),
            title: title.to_string(),
            published: date,
            updated: date,
            ..Entry::default()
        };
        StoredItem {
            entry,
            canonical_url: None,
            first_seen: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn same_fingerprint_is_seen_other_is_changed_unknown_is_new() {
        let stored = item("a", "One");
        let mut known = Known::default();
        known.insert("a".to_string(), 7, encode(&stored).fingerprint);
        assert_eq!(known.change(&encode(&stored), false), Change::Seen(7));
        assert_eq!(known.change(&encode(&stored), true), Change::Changed(7));
        assert_eq!(
            known.change(&encode(&item("a", "Two")), false),
            Change::Changed(7)
        );
        assert_eq!(known.change(&encode(&item("b", "One")), false), Change::New);
    }
}
