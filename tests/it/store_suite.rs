//! One test-suite for every store backend: each test is written once and
//! run against SQLite (a temporary file) and PostgreSQL (a fresh database
//! on the test server, see `pg.rs`; skipped when PostgreSQL is missing).

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use tempfile::TempDir;
use tributary::model::entry::{ContentMode, Enclosure, Entry, Person, Source, TagScheme};
use tributary::store::push::{PushState, PushSubscription};
use tributary::store::{open, Location, SharedDoc, SourceState, Store, StoreError, StoredItem};

use crate::support::pg;

/// One store; `open` gives another handle on it.
pub struct Fixture {
    location: Location,
    _dir: Option<TempDir>,
}

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = TempDir::new().unwrap();
        Fixture {
            location: Location::Sqlite(dir.path().join("nested/store.db")),
            _dir: Some(dir),
        }
    }

    fn postgres() -> Option<Fixture> {
        Some(Fixture {
            location: Location::Postgres(pg::database()?),
            _dir: None,
        })
    }

    /// Another, empty store of the same backend.
    fn another(&self) -> Fixture {
        match self.location {
            Location::Sqlite(_) => Fixture::sqlite(),
            Location::Postgres(_) => Fixture::postgres().unwrap(),
        }
    }

    fn open(&self) -> Box<dyn Store + Send> {
        open(&self.location).unwrap_or_else(|e| panic!("open {}: {e}", self.location))
    }

    fn url(&self) -> &str {
        match &self.location {
            Location::Postgres(url) => url,
            Location::Sqlite(_) => panic!("not a PostgreSQL store"),
        }
    }
}

/// `store: [...]` take one handle (`&mut dyn Store`), `fixture: [...]` the
/// fixture (several handles, several stores), `postgres_only: [...]` too.
macro_rules! suite {
    (
        store: [$($s:ident),* $(,)?],
        fixture: [$($f:ident),* $(,)?],
        postgres_only: [$($p:ident),* $(,)?] $(,)?
    ) => {
        mod sqlite {
            use super::Fixture;
            $(#[test] fn $s() { super::$s(&mut *Fixture::sqlite().open()) })*
            $(#[test] fn $f() { super::$f(&Fixture::sqlite()) })*
        }
        mod postgres {
            use super::Fixture;
            $(#[test] fn $s() {
                if let Some(f) = Fixture::postgres() { super::$s(&mut *f.open()) }
            })*
            $(#[test] fn $f() {
                if let Some(f) = Fixture::postgres() { super::$f(&f) }
            })*
            $(#[test] fn $p() {
                if let Some(f) = Fixture::postgres() { super::$p(&f) }
            })*
        }
    };
}

suite! {
    store: [
        an_entry_with_every_field_round_trips,
        putting_twice_adds_nothing_and_keeps_first_seen,
        a_changed_item_is_updated_in_place,
        a_put_with_fewer_items_deletes_nothing,
        prune_deletes_only_old_items_not_in_the_latest_put,
        keep_newest_deletes_past_the_newest_n_not_in_the_latest_put,
        recent_items_is_the_head_of_items,
        source_state_round_trips,
        a_put_for_an_unknown_source_is_an_error,
        generation_changes_exactly_when_items_change,
        items_are_newest_first_with_ties_broken_alike,
        leases_are_only_for_due_enabled_sources_asked_for,
        renaming_an_item_keeps_its_row,
        a_gone_source_is_leased_when_its_weekly_retry_is_due,
        lease_limit_takes_the_most_overdue_first,
        an_expired_lease_is_taken_over,
        renew_extends_only_the_holders_leases,
        release_lets_another_holder_in_at_once,
        push_subscriptions_round_trip_and_are_found_by_token,
    ],
    fixture: [
        two_handles_see_each_others_writes,
        a_reopened_store_keeps_everything,
        two_holders_never_get_the_same_key,
        concurrent_leases_share_out_every_key_once,
        dump_and_restore_copy_items_exactly,
        two_handles_racing_on_a_push_subscription_write_once,
    ],
    postgres_only: [
        shared_documents_round_trip,
        an_unchanged_publish_keeps_the_generation,
        listeners_hear_publishes_from_other_handles,
        a_listener_comes_back_after_its_connection_is_lost,
        the_build_lock_excludes_a_second_holder_until_dropped,
        the_ledger_round_trips,
        the_store_works_from_spawn_blocking_in_another_runtime,
        four_processes_opening_a_fresh_database_migrate_it_once,
        a_store_from_a_newer_tributary_is_refused_untouched,
        a_database_of_another_program_is_refused,
        a_server_that_is_down_is_a_clear_error_without_the_password,
    ],
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn day(n: i64) -> DateTime<Utc> {
    at(1_700_000_000 + n * 86_400)
}

fn entry(id: &str, published: DateTime<Utc>) -> Entry {
    let off = FixedOffset::east_opt(0).unwrap();
    Entry {
        id: id.to_string(),
        url: format!("https://up.example/{id}"),
        title: format!("Title {id}"),
        content_html: Some(format!("<p>{id}</p>")),
        published: published.with_timezone(&off),
        updated: published.with_timezone(&off),
        ..Entry::default()
    }
}

fn item(id: &str, published: DateTime<Utc>) -> StoredItem {
    StoredItem {
        entry: entry(id, published),
        canonical_url: None,
        first_seen: at(0),
    }
}

fn ids(items: &[StoredItem]) -> Vec<&str> {
    items.iter().map(|i| i.entry.id.as_str()).collect()
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

// ---------------------------------------------------------------- items

fn an_entry_with_every_field_round_trips(s: &mut dyn Store) {
    let key = "https://a.example/feed";
    s.ensure_source(key, "A").unwrap();
    let plus = FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap();
    let minus = FixedOffset::west_opt(7 * 3600).unwrap();
    let entry = Entry {
        id: "tag:a.example,2024:1".to_string(),
        url: "https://a.example/posts/1?x=1&y=2".to_string(),
        title: "Ünïcode — \"quoted\" <title> 🦀 'single'".to_string(),
        summary_html: Some("<p>summary</p>".to_string()),
        content_html: Some("<p>content with \\ backslash and $1 dollar</p>".to_string()),
        published: plus
            .with_ymd_and_hms(2024, 2, 29, 23, 59, 58)
            .unwrap()
            .checked_add_signed(chrono::TimeDelta::nanoseconds(123_456_789))
            .unwrap(),
        updated: minus.with_ymd_and_hms(2024, 3, 1, 1, 2, 3).unwrap(),
        authors: vec![
            Person {
                name: "Ada".to_string(),
                email: Some("ada@example.org".to_string()),
                uri: Some("https://ada.example".to_string()),
            },
            Person {
                name: "Bob".to_string(),
                email: None,
                uri: None,
            },
        ],
        tags: vec!["rust".to_string(), "k8s".to_string(), "ça".to_string()],
        image: Some("https://a.example/img.png".to_string()),
        content_mode: Some(ContentMode::Summary),
        sources: vec![Source {
            name: "A".to_string(),
            feed_url: key.to_string(),
            item_url: Some("https://a.example/posts/1".to_string()),
            id: Some("1".to_string()),
        }],
        related: vec!["https://site.example/2024/03/01/".to_string()],
        enclosures: vec![
            Enclosure {
                url: "https://a.example/ep1.mp3".to_string(),
                mime_type: Some("audio/mpeg".to_string()),
                length: Some(12_345_678),
            },
            Enclosure {
                url: "https://a.example/notes.pdf".to_string(),
                mime_type: None,
                length: None,
            },
        ],
        tag_schemes: vec![TagScheme {
            term: "rust".to_string(),
            scheme: "https://a.example/tags".to_string(),
        }],
        language: Some("fr-CA".to_string()),
    };
    let put = StoredItem {
        entry: entry.clone(),
        canonical_url: Some("https://a.example/posts/1".to_string()),
        first_seen: at(0),
    };
    assert_eq!(
        s.put_items(key, std::slice::from_ref(&put), day(3))
            .unwrap(),
        1
    );
    let got = s.items(key).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].entry, entry);
    assert_eq!(got[0].canonical_url, put.canonical_url);
    assert_eq!(got[0].first_seen, day(3));
    // Equality of DateTime ignores the offset; the store keeps it.
    assert_eq!(got[0].entry.published.offset(), &plus);
    assert_eq!(got[0].entry.updated.offset(), &minus);
    assert_eq!(
        got[0].entry.published.to_rfc3339(),
        entry.published.to_rfc3339()
    );
    assert_eq!(s.item(key, &entry.id).unwrap().as_ref(), Some(&got[0]));
    assert_eq!(s.item(key, "other").unwrap(), None);
    assert_eq!(s.item("https://missing.example/", &entry.id).unwrap(), None);
    let all = s.items_all().unwrap();
    assert_eq!(all, vec![(key.to_string(), got[0].clone())]);
    // Every content mode survives, and so do empty optional fields.
    for mode in [None, Some(ContentMode::Both), Some(ContentMode::Full)] {
        let mut p = put.clone();
        p.entry.content_mode = mode;
        s.put_items(key, &[p], day(4)).unwrap();
        assert_eq!(s.items(key).unwrap()[0].entry.content_mode, mode);
    }
    let bare = StoredItem {
        entry: Entry {
            summary_html: None,
            content_html: None,
            image: None,
            ..item("bare", day(1)).entry
        },
        canonical_url: None,
        first_seen: at(0),
    };
    s.put_items(key, std::slice::from_ref(&bare), day(5))
        .unwrap();
    assert_eq!(s.item(key, "bare").unwrap().unwrap().entry, bare.entry);
}

fn putting_twice_adds_nothing_and_keeps_first_seen(s: &mut dyn Store) {
    let key = "k";
    s.ensure_source(key, "K").unwrap();
    let items: Vec<_> = (0..5).map(|i| item(&i.to_string(), day(i))).collect();
    assert_eq!(s.put_items(key, &items, day(10)).unwrap(), 5);
    assert_eq!(s.put_items(key, &items, day(11)).unwrap(), 0);
    let got = s.items(key).unwrap();
    assert_eq!(ids(&got), ["4", "3", "2", "1", "0"], "newest first");
    assert!(got.iter().all(|i| i.first_seen == day(10)));
    // One new among known ones: only it is counted and gets the new time.
    let mut more = items.clone();
    more.push(item("5", day(5)));
    assert_eq!(s.put_items(key, &more, day(12)).unwrap(), 1);
    let got = s.items(key).unwrap();
    assert_eq!(got[0].entry.id, "5");
    assert_eq!(got[0].first_seen, day(12));
    assert_eq!(got[1].first_seen, day(10));
    assert_eq!(s.source(key).unwrap().unwrap().item_count, 6);
}

fn a_changed_item_is_updated_in_place(s: &mut dyn Store) {
    s.ensure_source("k", "K").unwrap();
    s.put_items("k", &[item("a", day(1)), item("b", day(2))], day(3))
        .unwrap();
    let mut changed = item("a", day(1));
    changed.entry.title = "New title".to_string();
    changed.entry.content_html = Some("<p>edited</p>".to_string());
    changed.entry.updated = day(4).fixed_offset();
    changed.canonical_url = Some("https://canon.example/a".to_string());
    assert_eq!(
        s.put_items("k", std::slice::from_ref(&changed), day(5))
            .unwrap(),
        0
    );
    let got = s.items("k").unwrap();
    assert_eq!(ids(&got), ["b", "a"]);
    assert_eq!(got[1].entry, changed.entry);
    assert_eq!(got[1].canonical_url, changed.canonical_url);
    assert_eq!(got[1].first_seen, day(3));
    // A new published date moves the item.
    let mut moved = changed.clone();
    moved.entry.published = day(9).fixed_offset();
    s.put_items("k", &[moved], day(6)).unwrap();
    assert_eq!(ids(&s.items("k").unwrap()), ["a", "b"]);
    // The same id twice in one call counts once; the last one wins.
    let mut last = item("c", day(6));
    last.entry.title = "second".to_string();
    assert_eq!(
        s.put_items("k", &[item("c", day(6)), last], day(6))
            .unwrap(),
        1
    );
    assert_eq!(s.item("k", "c").unwrap().unwrap().entry.title, "second");
}

fn a_put_with_fewer_items_deletes_nothing(s: &mut dyn Store) {
    s.ensure_source("k", "K").unwrap();
    let items: Vec<_> = (0..10).map(|i| item(&i.to_string(), day(i))).collect();
    s.put_items("k", &items, day(10)).unwrap();
    // Upstream rotated items out, then the feed came back empty.
    s.put_items("k", &items[8..], day(11)).unwrap();
    s.put_items("k", &[], day(12)).unwrap();
    assert_eq!(s.items("k").unwrap().len(), 10);
    assert_eq!(s.source("k").unwrap().unwrap().item_count, 10);
}

fn keep_newest_deletes_past_the_newest_n_not_in_the_latest_put(s: &mut dyn Store) {
    s.ensure_source("k", "K").unwrap();
    s.ensure_source("other", "O").unwrap();
    let old: Vec<StoredItem> = (0..6).map(|d| item(&format!("o{d}"), day(d))).collect();
    s.put_items("k", &old, day(0)).unwrap();
    s.put_items("other", &old, day(0)).unwrap();
    // Everything is in the latest put: nothing may go.
    assert_eq!(s.keep_newest("k", 2).unwrap(), 0);
    let g = s.generation().unwrap();
    // The feed now lists two new items and o0 (its oldest, back-dated).
    s.put_items(
        "k",
        &[item("n1", day(10)), item("n2", day(11)), item("o0", day(0))],
        day(20),
    )
    .unwrap();
    let g2 = s.generation().unwrap();
    assert_ne!(g, g2);
    // Newest 3: n2, n1, o5. Past them and not listed any more: o4..o1.
    assert_eq!(s.keep_newest("k", 3).unwrap(), 4);
    assert_eq!(ids(&s.items("k").unwrap()), ["n2", "n1", "o5", "o0"]);
    assert_ne!(s.generation().unwrap(), g2);
    assert_eq!(
        s.items("other").unwrap().len(),
        6,
        "other sources untouched"
    );
    assert_eq!(s.keep_newest("k", 3).unwrap(), 0);
    assert_eq!(s.keep_newest("missing", 1).unwrap(), 0);
}

fn recent_items_is_the_head_of_items(s: &mut dyn Store) {
    s.ensure_source("k", "K").unwrap();
    let many: Vec<StoredItem> = (0..40)
        .map(|d| item(&format!("i{d}"), day(d % 17)))
        .collect();
    s.put_items("k", &many, day(0)).unwrap();
    let stored = s.items("k").unwrap();
    let all = ids(&stored);
    for n in [0, 1, 5, 39, 40, 100] {
        assert_eq!(
            ids(&s.recent_items("k", n).unwrap()),
            all[..n.min(40)].to_vec(),
            "{n}"
        );
    }
    assert!(s.recent_items("missing", 3).unwrap().is_empty());
}

fn prune_deletes_only_old_items_not_in_the_latest_put(s: &mut dyn Store) {
    s.ensure_source("k", "K").unwrap();
    s.ensure_source("other", "O").unwrap();
    // Day 0: old items a, b and a back-dated c seen late.
    s.put_items("k", &[item("a", day(0)), item("b", day(0))], day(0))
        .unwrap();
    s.put_items("other", &[item("a", day(0))], day(0)).unwrap();
    s.put_items("k", &[item("c", day(-100))], day(50)).unwrap();
    // Day 60: the feed now holds b (still listed) and fresh d.
    s.put_items("k", &[item("b", day(0)), item("d", day(60))], day(60))
        .unwrap();
    let deleted = s.prune("k", day(30)).unwrap();
    // a: old and gone from the feed. b: old but still listed. c: first
    // seen after the cutoff. d: new.
    assert_eq!(deleted, 1);
    assert_eq!(ids(&s.items("k").unwrap()), ["d", "b", "c"]);
    assert_eq!(
        s.items("other").unwrap().len(),
        1,
        "other sources untouched"
    );
    assert_eq!(s.prune("k", day(30)).unwrap(), 0);
    // Later, c ages out too.
    assert_eq!(s.prune("k", day(55)).unwrap(), 1);
    assert_eq!(ids(&s.items("k").unwrap()), ["d", "b"]);
    // The published cutoff counts to the nanosecond.
    s.ensure_source("n", "N").unwrap();
    let edge = day(1) + chrono::TimeDelta::nanoseconds(500);
    s.put_items("n", &[item("x", edge)], day(0)).unwrap();
    s.put_items("n", &[item("y", day(40))], day(40)).unwrap();
    assert_eq!(s.prune("n", edge).unwrap(), 0, "published == cutoff stays");
    assert_eq!(
        s.prune("n", edge + chrono::TimeDelta::nanoseconds(1))
            .unwrap(),
        1
    );
    assert_eq!(s.prune("missing", day(100)).unwrap(), 0);
}

fn source_state_round_trips(s: &mut dyn Store) {
    let fresh = s.ensure_source("https://old.example/feed", "Old").unwrap();
    assert_eq!(fresh, SourceState::new("https://old.example/feed", "Old"));
    let state = SourceState {
        key: "https://old.example/feed".to_string(),
        name: "Old".to_string(),
        url: "https://new.example/feed.xml".to_string(),
        etag: Some("W/\"abc\"".to_string()),
        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
        last_fetch: Some(day(1) + chrono::TimeDelta::nanoseconds(987_654_321)),
        last_success: Some(day(0)),
        last_error: Some("HTTP 410".to_string()),
        consecutive_failures: 7,
        next_due: Some(day(2)),
        min_interval_secs: Some(3600),
        disabled: Some("410 Gone".to_string()),
        item_count: 999, // ignored
    };
    s.save_source(&state).unwrap();
    let got = s.source(&state.key).unwrap().unwrap();
    assert_eq!(
        got,
        SourceState {
            item_count: 0,
            ..state.clone()
        }
    );
    // ensure_source renames but keeps the state.
    let renamed = s.ensure_source(&state.key, "Renamed").unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(renamed.url, state.url);
    assert_eq!(renamed.disabled, state.disabled);
    // Re-enabling clears the reason; save_source also creates.
    let mut back = renamed.clone();
    back.disabled = None;
    back.etag = None;
    s.save_source(&back).unwrap();
    s.save_source(&SourceState::new("https://b.example/", "B"))
        .unwrap();
    s.put_items("https://b.example/", &[item("x", day(0))], day(0))
        .unwrap();
    let all = s.sources().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].key, "https://b.example/");
    assert_eq!(all[0].item_count, 1);
    assert_eq!(all[1], back);
    assert_eq!(s.source("https://missing.example/").unwrap(), None);
}

fn a_put_for_an_unknown_source_is_an_error(s: &mut dyn Store) {
    let err = s
        .put_items("nope", &[item("1", day(1))], day(1))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownSource { ref key, .. } if key == "nope"),
        "{err}"
    );
    assert!(err.to_string().contains("ensure_source"), "{err}");
    assert!(s.sources().unwrap().is_empty(), "nothing was created");
}

fn generation_changes_exactly_when_items_change(s: &mut dyn Store) {
    let g0 = s.generation().unwrap();
    assert_eq!(s.generation().unwrap(), g0, "reading changes nothing");
    s.ensure_source("k", "K").unwrap();
    let mut st = s.source("k").unwrap().unwrap();
    st.etag = Some("e".to_string());
    s.save_source(&st).unwrap();
    assert_eq!(s.generation().unwrap(), g0, "source state is not items");
    s.put_items("k", &[item("a", day(0)), item("b", day(0))], day(0))
        .unwrap();
    let g1 = s.generation().unwrap();
    assert_ne!(g1, g0, "new items");
    s.put_items("k", &[item("a", day(0)), item("b", day(0))], day(1))
        .unwrap();
    s.put_items("k", &[], day(2)).unwrap();
    assert_eq!(
        s.generation().unwrap(),
        g1,
        "unchanged items only seen again"
    );
    let mut edited = item("a", day(0));
    edited.entry.title = "edited".to_string();
    s.put_items("k", &[edited], day(3)).unwrap();
    let g2 = s.generation().unwrap();
    assert_ne!(g2, g1, "a changed item");
    assert_eq!(s.prune("k", day(-10)).unwrap(), 0);
    assert_eq!(s.generation().unwrap(), g2, "a prune that deletes nothing");
    assert_eq!(s.prune("k", day(10)).unwrap(), 1);
    let g3 = s.generation().unwrap();
    assert!(![g0, g1, g2].contains(&g3), "a prune that deletes");
}

fn items_are_newest_first_with_ties_broken_alike(s: &mut dyn Store) {
    for key in ["b", "a", "B", "é"] {
        s.ensure_source(key, key).unwrap();
    }
    // Same published instant, written at other offsets: one instant.
    let paris = FixedOffset::east_opt(3600).unwrap();
    let mut p = item("p", day(1));
    p.entry.published = day(1).with_timezone(&paris);
    s.put_items("a", &[item("z", day(1)), item("Y", day(1))], day(5))
        .unwrap();
    s.put_items("a", &[p, item("x", day(1)), item("old", day(0))], day(6))
        .unwrap();
    s.put_items("a", &[item("new", day(2))], day(4)).unwrap();
    // Newest published first; equal published: later first_seen first
    // (p, x before Y, z); then ids bytewise ("p" < "x", "Y" < "z").
    let want = ["new", "p", "x", "Y", "z", "old"];
    assert_eq!(ids(&s.items("a").unwrap()), want);
    for key in ["b", "B", "é"] {
        s.put_items(key, &[item("1", day(0))], day(0)).unwrap();
    }
    let all = s.items_all().unwrap();
    let got: Vec<(&str, &str)> = all
        .iter()
        .map(|(k, i)| (k.as_str(), i.entry.id.as_str()))
        .collect();
    let mut expected = vec![("B", "1")];
    expected.extend(want.iter().map(|id| ("a", *id)));
    expected.extend([("b", "1"), ("é", "1")]);
    assert_eq!(got, expected, "by key bytewise, then newest first");
    let listed: Vec<String> = s.sources().unwrap().into_iter().map(|s| s.key).collect();
    assert_eq!(listed, ["B", "a", "b", "é"]);
}

// ---------------------------------------------------------------- leases

/// Sources `s0..sN`, due at `now` (s0 never fetched, then by due time).
fn due_sources(s: &mut dyn Store, n: usize, now: DateTime<Utc>) -> Vec<String> {
    (0..n)
        .map(|i| {
            let key = format!("s{i}");
            let mut st = SourceState::new(&key, &key);
            st.next_due = (i > 0).then(|| now - chrono::TimeDelta::seconds(1000 - i as i64));
            s.save_source(&st).unwrap();
            key
        })
        .collect()
}

fn a_gone_source_is_leased_when_its_weekly_retry_is_due(s: &mut dyn Store) {
    let now = day(10);
    let until = now + chrono::TimeDelta::minutes(5);
    let mut due = SourceState::new("gone-due", "G");
    due.disabled = Some("410 Gone on 2026-12-01".to_string());
    due.next_due = Some(now);
    s.save_source(&due).unwrap();
    let mut later = SourceState::new("gone-later", "L");
    later.disabled = Some("410 Gone on 2026-12-01".to_string());
    later.next_due = Some(now + chrono::TimeDelta::days(1));
    s.save_source(&later).unwrap();
    let mut by_hand = SourceState::new("by-hand", "H");
    by_hand.disabled = Some("by hand".to_string());
    s.save_source(&by_hand).unwrap();
    let asked = keys(&["gone-due", "gone-later", "by-hand"]);
    assert_eq!(
        s.lease(&asked, "h", now, until, 10, None).unwrap(),
        keys(&["gone-due"])
    );
    assert!(due.fetchable(now) && !later.fetchable(now) && !by_hand.fetchable(now));
}

fn renaming_an_item_keeps_its_row(s: &mut dyn Store) {
    s.ensure_source("k", "K").unwrap();
    s.put_items("k", &[item("a", day(1)), item("b", day(2))], day(3))
        .unwrap();
    let generation = s.generation().unwrap();
    assert!(s.rename_item("k", "a", "a2").unwrap());
    assert!(
        s.generation().unwrap() != generation,
        "a rename is a change"
    );
    assert!(s.item("k", "a").unwrap().is_none());
    let renamed = s.item("k", "a2").unwrap().expect("under its new id");
    assert_eq!(renamed.first_seen, day(3));
    assert_eq!(renamed.entry.id, "a2");
    // A new id that is taken, or an old one that is not there: no change.
    assert!(!s.rename_item("k", "b", "a2").unwrap());
    assert!(!s.rename_item("k", "nope", "c").unwrap());
    assert_eq!(s.items("k").unwrap().len(), 2);
    // The first sighting stays through the next put under the new id.
    assert_eq!(s.put_items("k", &[item("a2", day(1))], day(9)).unwrap(), 0);
    assert_eq!(s.item("k", "a2").unwrap().unwrap().first_seen, day(3));
}

fn leases_are_only_for_due_enabled_sources_asked_for(s: &mut dyn Store) {
    let now = day(10);
    let until = now + chrono::TimeDelta::minutes(5);
    let all = due_sources(s, 3, now);
    let mut later = SourceState::new("later", "Later");
    later.next_due = Some(now + chrono::TimeDelta::seconds(1));
    s.save_source(&later).unwrap();
    let mut at_now = SourceState::new("at-now", "At now");
    at_now.next_due = Some(now);
    s.save_source(&at_now).unwrap();
    let mut off = SourceState::new("off", "Off");
    off.disabled = Some("410 Gone".to_string());
    s.save_source(&off).unwrap();
    let mut asked = all.clone();
    asked.extend(keys(&["later", "at-now", "off", "missing"]));
    let got = s.lease(&asked, "h", now, until, 100, None).unwrap();
    let got: BTreeSet<String> = got.into_iter().collect();
    let mut want: BTreeSet<String> = all.iter().cloned().collect();
    want.insert("at-now".to_string());
    assert_eq!(
        got, want,
        "due (next_due unset or reached), enabled, asked for"
    );
    // Not asked for: not leased, even when due.
    s.ensure_source("unasked", "U").unwrap();
    assert!(s
        .lease(&keys(&["later"]), "h2", now, until, 10, None)
        .unwrap()
        .is_empty());
    // Forced: not yet due (never fetched) is leased too; disabled never.
    let forced = s
        .lease(
            &keys(&["later", "off", "unasked"]),
            "h2",
            now,
            until,
            10,
            Some(now + chrono::TimeDelta::days(1)),
        )
        .unwrap();
    assert_eq!(forced, keys(&["unasked", "later"]));
    assert!(s
        .lease(
            &[],
            "h3",
            now,
            until,
            10,
            Some(now + chrono::TimeDelta::days(1))
        )
        .unwrap()
        .is_empty());
    assert!(s
        .lease(
            &asked,
            "h3",
            now,
            until,
            0,
            Some(now + chrono::TimeDelta::days(1))
        )
        .unwrap()
        .is_empty());
    // Forced since a run began: a source fetched since then (by another
    // process in the same `fetch --all`) is not leased again; one fetched
    // before it is, though not due.
    let run = now - chrono::TimeDelta::minutes(1);
    let mut fresh = SourceState::new("fresh", "Fresh");
    fresh.last_fetch = Some(run + chrono::TimeDelta::seconds(5));
    fresh.next_due = Some(now + chrono::TimeDelta::hours(1));
    s.save_source(&fresh).unwrap();
    let mut stale = SourceState::new("stale", "Stale");
    stale.last_fetch = Some(run - chrono::TimeDelta::seconds(5));
    stale.next_due = Some(now + chrono::TimeDelta::hours(1));
    s.save_source(&stale).unwrap();
    assert_eq!(
        s.lease(&keys(&["fresh", "stale"]), "h4", now, until, 10, Some(run))
            .unwrap(),
        keys(&["stale"])
    );
}

fn lease_limit_takes_the_most_overdue_first(s: &mut dyn Store) {
    let now = day(10);
    let until = now + chrono::TimeDelta::minutes(5);
    let all = due_sources(s, 6, now);
    // Asked in another order: the answer is most overdue first.
    let mut asked = all.clone();
    asked.reverse();
    let first = s.lease(&asked, "h", now, until, 3, None).unwrap();
    assert_eq!(first, keys(&["s0", "s1", "s2"]));
    let second = s.lease(&asked, "other", now, until, 2, None).unwrap();
    assert_eq!(second, keys(&["s3", "s4"]));
    let rest = s.lease(&asked, "third", now, until, 10, None).unwrap();
    assert_eq!(rest, keys(&["s5"]));
}

fn an_expired_lease_is_taken_over(s: &mut dyn Store) {
    let now = day(10);
    let all = due_sources(s, 2, now);
    let short = now + chrono::TimeDelta::seconds(30);
    assert_eq!(s.lease(&all, "a", now, short, 10, None).unwrap().len(), 2);
    // Before it runs out: nothing for b; a may lease its own again.
    let before = now + chrono::TimeDelta::seconds(29);
    let long = now + chrono::TimeDelta::minutes(10);
    assert!(s
        .lease(&all, "b", before, long, 10, None)
        .unwrap()
        .is_empty());
    assert_eq!(
        s.lease(&keys(&["s0"]), "a", before, short, 10, None)
            .unwrap(),
        keys(&["s0"])
    );
    // At the end of the lease, b takes over; then a holds nothing.
    assert_eq!(s.lease(&all, "b", short, long, 10, None).unwrap(), all);
    assert!(s
        .lease(
            &all,
            "a",
            short,
            long,
            10,
            Some(now + chrono::TimeDelta::days(1))
        )
        .unwrap()
        .is_empty());
    assert_eq!(s.renew(&all, "a", long).unwrap(), 0);
}

fn renew_extends_only_the_holders_leases(s: &mut dyn Store) {
    let now = day(10);
    let all = due_sources(s, 3, now);
    let soon = now + chrono::TimeDelta::seconds(30);
    s.lease(&all[..2], "a", now, soon, 10, None).unwrap();
    s.lease(&all[2..], "b", now, soon, 10, None).unwrap();
    let later = now + chrono::TimeDelta::minutes(10);
    assert_eq!(s.renew(&all, "a", later).unwrap(), 2, "only a's two");
    // After the first deadline, a's renewed leases still hold; b's ran out.
    let after = soon + chrono::TimeDelta::seconds(1);
    assert_eq!(
        s.lease(&all, "c", after, later, 10, None).unwrap(),
        keys(&["s2"])
    );
    assert_eq!(s.renew(&keys(&["missing"]), "a", later).unwrap(), 0);
}

fn release_lets_another_holder_in_at_once(s: &mut dyn Store) {
    let now = day(10);
    let all = due_sources(s, 3, now);
    let until = now + chrono::TimeDelta::minutes(10);
    assert_eq!(s.lease(&all, "a", now, until, 10, None).unwrap().len(), 3);
    // Releasing someone else's lease does nothing.
    s.release(&all, "b").unwrap();
    assert!(s.lease(&all, "b", now, until, 10, None).unwrap().is_empty());
    s.release(&all[..2], "a").unwrap();
    assert_eq!(
        s.lease(&all, "b", now, until, 10, None).unwrap(),
        keys(&["s0", "s1"])
    );
    assert_eq!(s.renew(&all, "a", until).unwrap(), 1);
    s.release(&keys(&["missing"]), "a").unwrap();
}

fn two_holders_never_get_the_same_key(f: &Fixture) {
    let mut a = f.open();
    let mut b = f.open();
    let now = day(10);
    let until = now + chrono::TimeDelta::minutes(5);
    let all = due_sources(&mut *a, 8, now);
    let got_a = a.lease(&all, "a", now, until, 5, None).unwrap();
    let got_b = b.lease(&all, "b", now, until, 5, None).unwrap();
    assert_eq!(got_a.len(), 5);
    assert_eq!(got_b.len(), 3);
    let both: BTreeSet<&String> = got_a.iter().chain(&got_b).collect();
    assert_eq!(both.len(), 8, "disjoint: {got_a:?} {got_b:?}");
    assert!(a
        .lease(
            &all,
            "a2",
            now,
            until,
            8,
            Some(now + chrono::TimeDelta::days(1))
        )
        .unwrap()
        .is_empty());
}

fn concurrent_leases_share_out_every_key_once(f: &Fixture) {
    let now = day(10);
    let until = now + chrono::TimeDelta::minutes(5);
    let all = due_sources(&mut *f.open(), 40, now);
    let barrier = std::sync::Barrier::new(4);
    let got: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let mut s = f.open();
                let (all, barrier) = (&all, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let mut mine = Vec::new();
                    // A holder may lease its own keys again: a new holder
                    // per call, so that every call wants new keys.
                    for call in 0.. {
                        let got = s
                            .lease(all, &format!("w{w}-{call}"), now, until, 3, None)
                            .unwrap();
                        if got.is_empty() {
                            return mine;
                        }
                        mine.extend(got);
                    }
                    unreachable!()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(got.len(), unique.len(), "a key leased twice: {got:?}");
    assert_eq!(unique.len(), 40);
}

// ---------------------------------------------------------------- handles

fn two_handles_see_each_others_writes(f: &Fixture) {
    let mut a = f.open();
    let mut b = f.open();
    a.ensure_source("k", "K").unwrap();
    assert_eq!(b.source("k").unwrap().unwrap().name, "K");
    b.put_items("k", &[item("1", day(1))], day(1)).unwrap();
    assert_eq!(ids(&a.items("k").unwrap()), ["1"]);
    a.put_items("k", &[item("2", day(2))], day(2)).unwrap();
    assert_eq!(ids(&b.items("k").unwrap()), ["2", "1"]);
    assert_eq!(b.put_items("k", &[item("2", day(2))], day(3)).unwrap(), 0);
    assert_eq!(a.generation().unwrap(), b.generation().unwrap());
}

fn a_reopened_store_keeps_everything(f: &Fixture) {
    let (items, sources, generation) = {
        let mut s = f.open();
        s.ensure_source("k", "K").unwrap();
        s.put_items("k", &[item("1", day(1)), item("2", day(2))], day(3))
            .unwrap();
        (
            s.items_all().unwrap(),
            s.sources().unwrap(),
            s.generation().unwrap(),
        )
    };
    for _ in 0..2 {
        let s = f.open();
        assert_eq!(s.items_all().unwrap(), items);
        assert_eq!(s.sources().unwrap(), sources);
        assert_eq!(s.generation().unwrap(), generation);
    }
    // Another store at the same generation count is still another store.
    let mut other = f.another().open();
    other.ensure_source("k", "K").unwrap();
    other
        .put_items("k", &[item("1", day(1)), item("2", day(2))], day(3))
        .unwrap();
    assert_ne!(other.generation().unwrap(), generation);
}

fn dump_and_restore_copy_items_exactly(f: &Fixture) {
    let mut from = f.open();
    from.ensure_source("k", "K").unwrap();
    let mut rich = item("rich", day(2));
    rich.canonical_url = Some("https://canon.example/rich".to_string());
    rich.entry.tags = vec!["t".to_string()];
    rich.entry.authors = vec![Person::parse("Ada <ada@example.org>")];
    rich.entry.content_mode = Some(ContentMode::Full);
    from.put_items("k", &[item("a", day(0)), rich], day(1))
        .unwrap();
    from.put_items("k", &[item("b", day(5))], day(5)).unwrap();
    from.put_items("k", &[item("a", day(0))], day(7)).unwrap();
    let mut dumped = from.dump_items("k").unwrap();
    dumped.sort_by(|x, y| x.item.entry.id.cmp(&y.item.entry.id));
    let seen: Vec<(&str, DateTime<Utc>, DateTime<Utc>)> = dumped
        .iter()
        .map(|r| (r.item.entry.id.as_str(), r.item.first_seen, r.last_seen))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", day(1), day(7)),
            ("b", day(5), day(5)),
            ("rich", day(1), day(1))
        ]
    );
    assert!(from.dump_items("missing").unwrap_or_default().is_empty());

    let target = f.another();
    let mut to = target.open();
    let err = to.restore_items("k", &dumped).unwrap_err();
    assert!(matches!(err, StoreError::UnknownSource { .. }), "{err}");
    to.ensure_source("k", "K").unwrap();
    let g0 = to.generation().unwrap();
    to.restore_items("k", &dumped).unwrap();
    assert_ne!(to.generation().unwrap(), g0);
    let mut copied = to.dump_items("k").unwrap();
    copied.sort_by(|x, y| x.item.entry.id.cmp(&y.item.entry.id));
    assert_eq!(copied, dumped);
    assert_eq!(to.items("k").unwrap(), from.items("k").unwrap());
    // The prune rule sees the copied times: "a" was in the latest put.
    assert_eq!(to.prune("k", day(30)).unwrap(), 2);
    assert_eq!(ids(&to.items("k").unwrap()), ["a"]);
    // Restoring again replaces an item with the same id, times included.
    let mut again = dumped[0].clone();
    again.item.first_seen = day(-3);
    again.last_seen = day(-2);
    again.item.entry.title = "restored".to_string();
    to.restore_items("k", std::slice::from_ref(&again)).unwrap();
    assert_eq!(to.dump_items("k").unwrap(), vec![again]);
}

// ---------------------------------------------------------------- PostgreSQL

fn doc(path: &str, body: &str, modified: Option<DateTime<Utc>>) -> SharedDoc {
    SharedDoc {
        path: path.to_string(),
        body: body.as_bytes().to_vec(),
        modified,
    }
}

fn shared_documents_round_trip(f: &Fixture) {
    let mut a = f.open();
    let mut b = f.open();
    let a = a.shared().expect("PostgreSQL is shared");
    let b = b.shared().unwrap();
    assert_eq!(a.documents_generation().unwrap(), 0);
    assert_eq!(a.documents().unwrap(), (0, Vec::new()));
    let nanos = day(1) + chrono::TimeDelta::nanoseconds(5);
    let mut docs = vec![
        doc("tags/go.rss", "<rss/>", None),
        doc("feed.atom", "<feed/>", Some(nanos)),
        SharedDoc {
            path: "bin".to_string(),
            body: vec![0, 255, 1, 0],
            modified: Some(day(0)),
        },
    ];
    assert_eq!(a.publish(&docs).unwrap(), 1);
    docs.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(b.documents().unwrap(), (1, docs.clone()));
    assert_eq!(b.documents_generation().unwrap(), 1);
    // A new body, then new bytes with a new modified time, a removed path:
    // each a generation.
    docs[2].body = b"<rss>2</rss>".to_vec();
    assert_eq!(b.publish(&docs).unwrap(), 2);
    docs[1].body = b"<feed>3</feed>".to_vec();
    docs[1].modified = Some(day(2));
    assert_eq!(a.publish(&docs).unwrap(), 3);
    // The same bytes with another modified time (a replica whose own
    // manifest dates them otherwise): nothing changes, the stored time stays.
    let mut other_date = docs.clone();
    other_date[1].modified = Some(day(9));
    assert_eq!(b.publish(&other_date).unwrap(), 3);
    assert_eq!(a.documents().unwrap(), (3, docs.clone()));
    docs.remove(0);
    assert_eq!(a.publish(&docs).unwrap(), 4);
    assert_eq!(b.documents().unwrap(), (4, docs.clone()));
    // The same path twice: the last wins.
    let twice = vec![doc("x", "first", None), doc("x", "second", None)];
    assert_eq!(a.publish(&twice).unwrap(), 5);
    assert_eq!(b.documents().unwrap(), (5, vec![doc("x", "second", None)]));
    assert_eq!(a.publish(&[]).unwrap(), 6);
    assert_eq!(b.documents().unwrap(), (6, Vec::new()));
}

fn an_unchanged_publish_keeps_the_generation(f: &Fixture) {
    let mut s = f.open();
    let s = s.shared().unwrap();
    let docs = vec![doc("a", "A", Some(day(1))), doc("b", "B", None)];
    assert_eq!(s.publish(&docs).unwrap(), 1);
    assert_eq!(s.publish(&docs).unwrap(), 1);
    let reordered = vec![docs[1].clone(), docs[0].clone()];
    assert_eq!(s.publish(&reordered).unwrap(), 1);
    assert_eq!(s.documents_generation().unwrap(), 1);
    assert_eq!(s.publish(&[]).unwrap(), 2);
    assert_eq!(s.publish(&[]).unwrap(), 2);
}

fn listeners_hear_publishes_from_other_handles(f: &Fixture) {
    let mut listener = f.open();
    let mut publisher = f.open();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    listener
        .shared()
        .unwrap()
        .listen(Box::new(move || {
            let _ = tx.lock().unwrap().send(());
        }))
        .unwrap();
    let p = publisher.shared().unwrap();
    p.publish(&[doc("a", "1", None)]).unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no callback after a publish");
    p.publish(&[doc("a", "2", None)]).unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no callback after a second publish");
    // A publish that changes nothing notifies nobody.
    p.publish(&[doc("a", "2", None)]).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
}

fn a_listener_comes_back_after_its_connection_is_lost(f: &Fixture) {
    let mut listener = f.open();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    listener
        .shared()
        .unwrap()
        .listen(Box::new(move || {
            let _ = tx.lock().unwrap().send(());
        }))
        .unwrap();
    let killed = pg::query(
        f.url(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    );
    assert_eq!(killed, ["t"], "one LISTEN connection");
    // Back after about a second, with a call for what it may have missed.
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no callback after reconnecting");
    let mut publisher = f.open();
    publisher
        .shared()
        .unwrap()
        .publish(&[doc("a", "1", None)])
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no callback for a publish after reconnecting");
}

fn the_build_lock_excludes_a_second_holder_until_dropped(f: &Fixture) {
    let mut a = f.open();
    let lock = a.shared().unwrap().build_lock().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut b = f.open();
    let waiter = std::thread::spawn(move || {
        let second = b.shared().unwrap().build_lock().unwrap();
        tx.send(()).unwrap();
        drop(second);
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(700)).is_err(),
        "a second holder got the lock"
    );
    // Other work goes on while the lock is held.
    a.ensure_source("k", "K").unwrap();
    drop(lock);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the lock was not released when dropped");
    waiter.join().unwrap();
    // And it can be taken again.
    drop(a.shared().unwrap().build_lock().unwrap());
}

fn the_ledger_round_trips(f: &Fixture) {
    let mut a = f.open();
    let mut b = f.open();
    assert_eq!(a.shared().unwrap().ledger().unwrap(), None);
    let text = "version: 1\nids:\n  \"https://x/\": tag:x,2024:1 ünï\n";
    a.shared().unwrap().save_ledger(text).unwrap();
    assert_eq!(b.shared().unwrap().ledger().unwrap().as_deref(), Some(text));
    b.shared().unwrap().save_ledger("").unwrap();
    assert_eq!(a.shared().unwrap().ledger().unwrap().as_deref(), Some(""));
    a.shared().unwrap().ping().unwrap();
}

fn the_store_works_from_spawn_blocking_in_another_runtime(f: &Fixture) {
    for multi in [true, false] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        .unwrap();
        let location = f.location.clone();
        let key = format!("k{multi}");
        let got = rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                let mut s = open(&location).unwrap();
                s.ensure_source(&key, "K").unwrap();
                s.put_items(&key, &[item("1", day(1))], day(1)).unwrap();
                s.shared().unwrap().ping().unwrap();
                s.items(&key).unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(ids(&got), ["1"]);
    }
}

fn four_processes_opening_a_fresh_database_migrate_it_once(f: &Fixture) {
    // Distinct URLs: each thread makes its own pool and migrates, as four
    // processes would.
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        for i in 0..4 {
            let url = format!("{}?application_name=racer{i}", f.url());
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                let mut s = open(&Location::Postgres(url)).unwrap();
                s.ensure_source(&format!("k{i}"), "K").unwrap();
            });
        }
    });
    assert_eq!(
        pg::query(f.url(), "SELECT count(*) FROM tributary_schema"),
        ["1"]
    );
    assert_eq!(
        pg::query(
            f.url(),
            "SELECT count(*) FROM meta WHERE key = 'generation'"
        ),
        ["1"]
    );
    assert_eq!(f.open().sources().unwrap().len(), 4);
}

fn a_store_from_a_newer_tributary_is_refused_untouched(f: &Fixture) {
    pg::execute(
        f.url(),
        "CREATE TABLE tributary_schema (version BIGINT NOT NULL);
         INSERT INTO tributary_schema (version) VALUES (1000)",
    );
    let err = open(&f.location).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 1000, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("newer tributary"), "{msg}");
    assert!(msg.contains(&f.location.to_string()), "{msg}");
    assert_eq!(
        pg::query(f.url(), "SELECT version FROM tributary_schema"),
        ["1000"]
    );
    assert_eq!(
        pg::query(f.url(), "SELECT to_regclass('sources') IS NULL"),
        ["t"],
        "nothing was created"
    );
}

fn a_database_of_another_program_is_refused(f: &Fixture) {
    pg::execute(f.url(), "CREATE TABLE items (x INTEGER)");
    let err = open(&f.location).map(|_| ()).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("\"items\""), "{err}");
    assert_eq!(
        pg::query(f.url(), "SELECT to_regclass('tributary_schema') IS NULL"),
        ["t"]
    );
}

fn a_server_that_is_down_is_a_clear_error_without_the_password(_: &Fixture) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://feeds:hunter2@127.0.0.1:{port}/tributary");
    let started = std::time::Instant::now();
    let err = open(&Location::Postgres(url)).map(|_| ()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let msg = err.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("feeds:***@127.0.0.1"), "{msg}");
    assert!(
        msg.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(
        msg.contains("is it running, and is `store:` right?"),
        "{msg}"
    );
}

fn push_sub(source: &str) -> PushSubscription {
    PushSubscription::discovered(source, "https://hub.example/", "https://a.example/feed")
}

fn push_subscriptions_round_trip_and_are_found_by_token(s: &mut dyn Store) {
    assert_eq!(s.push_subscriptions().unwrap(), vec![]);
    let mut sub = push_sub("https://a.example/feed");
    assert!(s.push_save(&sub).unwrap(), "a new row");
    assert!(
        !s.push_save(&sub).unwrap(),
        "revision 0 again: the row exists"
    );
    let stored = s.push_of(&sub.source).unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    sub.revision = 1;
    assert_eq!(stored, sub);
    // Every field.
    sub.state = PushState::Active;
    sub.token = Some("0123abcd".into());
    sub.secret = Some("s3cret".into());
    sub.callback = Some("https://me.example/websub/callback/0123abcd".into());
    sub.requested = Some(at(10));
    sub.expires = Some(at(10 + 864_000));
    sub.attempts = 2;
    sub.pushes = 7;
    sub.last_push = Some(at(99));
    sub.last_error = Some("HTTP 500".into());
    assert!(s.push_save(&sub).unwrap());
    sub.revision = 2;
    assert_eq!(s.push_by_token("0123abcd").unwrap(), Some(sub.clone()));
    assert_eq!(s.push_by_token("nope").unwrap(), None);
    assert_eq!(s.push_subscriptions().unwrap(), vec![sub.clone()]);
    // A stale revision writes nothing.
    let mut stale = sub.clone();
    stale.revision = 1;
    stale.state = PushState::Denied;
    assert!(!s.push_save(&stale).unwrap());
    assert_eq!(
        s.push_of(&sub.source).unwrap().unwrap().state,
        PushState::Active
    );
    assert!(s.push_delete(&sub.source).unwrap());
    assert!(!s.push_delete(&sub.source).unwrap());
    assert_eq!(s.push_by_token("0123abcd").unwrap(), None);
}

fn two_handles_racing_on_a_push_subscription_write_once(f: &Fixture) {
    let mut a = f.open();
    let mut b = f.open();
    assert!(a.push_save(&push_sub("k")).unwrap());
    let mut seen_a = a.push_of("k").unwrap().unwrap();
    let mut seen_b = b.push_of("k").unwrap().unwrap();
    seen_a.state = PushState::Requested;
    seen_b.state = PushState::Requested;
    let won = [a.push_save(&seen_a).unwrap(), b.push_save(&seen_b).unwrap()];
    assert_eq!(won, [true, false], "the second writer sees the row changed");
    // The restart: a new handle reads what was written.
    drop(a);
    assert_eq!(
        f.open().push_of("k").unwrap().unwrap().state,
        PushState::Requested
    );
}
