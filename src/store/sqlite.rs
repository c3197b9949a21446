//! The SQLite backend: one connection per store, WAL, cached prepared statements.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::changes::{Change, Known};
use super::codec::{self, date_parts, encode, nanos, opt_nanos, Encoded};
use super::migrations::{self, Outcome, APPLICATION_ID};
use super::{SourceState, Store, StoreError, StoredItem};

/// How long a write waits for another process's transaction before `Locked`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A store in one SQLite file. Open it with [`open_sqlite`].
pub struct SqliteStore {
    /// Declared first: its thread ends before `conn` closes.
    checkpointer: Option<Checkpointer>,
    conn: Connection,
    path: PathBuf,
    /// The path as shown in errors.
    store: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Open (or create) the store at `path`: parent directories, WAL,
/// `synchronous=NORMAL`, a busy timeout, foreign keys, schema migrations.
/// A store written by a newer tributary, or a database that is not a
/// tributary store, is refused untouched.
pub fn open_sqlite(path: &Path) -> Result<SqliteStore, StoreError> {
    let store = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            store: store.clone(),
            source,
        })?;
    }
    // Processes opening one fresh file together (`serve` starting while
    // cron runs `fetch`) can find it locked where SQLite does not wait: the
    // switch to WAL needs the file to itself. Such an open is tried again
    // for as long as the busy timeout.
    let started = std::time::Instant::now();
    loop {
        match open_once(path, &store) {
            Err(StoreError::Locked { .. }) if started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

fn open_once(path: &Path, store: &str) -> Result<SqliteStore, StoreError> {
    let store = store.to_string();
    let db = |e| db_error(&store, e);
    let mut conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    check_identity(&conn, &store)?;
    // Bodies are a few KB: 16 KiB pages hold several, where 4 KiB pages
    // would hold one and waste the rest. Only takes effect on a new file.
    conn.pragma_update(None, "page_size", 16384).map_err(db)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some network file systems cannot share memory for WAL; the store
        // still works, only readers then wait for writers.
        tracing::warn!("store {store}: WAL mode unavailable, using journal mode {mode}");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
    match migrations::migrate(&mut conn).map_err(db)? {
        Outcome::Current => {}
        Outcome::TooNew(found) => {
            return Err(StoreError::TooNew {
                store,
                found,
                supported: migrations::latest(),
            })
        }
        Outcome::Invalid(found) => {
            return Err(StoreError::Foreign {
                store,
                reason: format!("schema version {found}"),
            })
        }
    }
    conn.set_prepared_statement_cache_capacity(32);
    let checkpointer = Checkpointer::start(path);
    if checkpointer.is_some() {
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db)?;
    }
    Ok(SqliteStore {
        checkpointer,
        conn,
        path: path.to_path_buf(),
        store,
    })
}

/// WAL bytes written between two checkpoints.
const CHECKPOINT_EVERY: u64 = 16 << 20;

/// Copies the WAL into the database file on its own thread and connection:
/// a checkpoint waits for fsyncs (0.6 s per 128 MB here), and writers need
/// not wait with it. Without it SQLite checkpoints inside the writer's commits.
struct Checkpointer {
    wake: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Bytes written since the last wake-up.
    pending: u64,
}

impl Checkpointer {
    fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        let (wake, asleep) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".to_string())
            .spawn(move || {
                while asleep.recv().is_ok() {
                    // PASSIVE never blocks writers; what it cannot copy now
                    // waits for the next round or the last close.
                    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(e) = done {
                        tracing::debug!("store checkpoint: {e}");
                    }
                }
            })
            .ok()?;
        Some(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
            pending: 0,
        })
    }

    fn wrote(&mut self, bytes: u64) {
        self.pending += bytes;
        if self.pending >= CHECKPOINT_EVERY {
            self.pending = 0;
            if let Some(wake) = &self.wake {
                // Full means a checkpoint is already due: nothing to add.
                let _ = wake.try_send(());
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Refuse, before changing anything, a database some other program wrote or
/// a newer tributary wrote. Read in one transaction: another process may be
/// creating the store, and its tables without its version (two reads apart)
/// would look like another program's database.
fn check_identity(conn: &Connection, store: &str) -> Result<(), StoreError> {
    let db = |e| db_error(store, e);
    let snapshot = conn.unchecked_transaction().map_err(db)?;
    let conn = &*snapshot;
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(db)?;
    let version = migrations::user_version(conn).map_err(db)?;
    if app == APPLICATION_ID {
        if version > migrations::latest() {
            return Err(StoreError::TooNew {
                store: store.to_string(),
                found: version,
                supported: migrations::latest(),
            });
        }
        return Ok(());
    }
    if app != 0 {
        return Err(StoreError::Foreign {
            store: store.to_string(),
            reason: format!("application id {app:#x}"),
        });
    }
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(db)?;
    if tables > 0 || version != 0 {
        return Err(StoreError::Foreign {
            store: store.to_string(),
            reason: "a SQLite database with other tables".to_string(),
        });
    }
    Ok(())
}

/// A SQLite error as a `StoreError` naming the store.
fn db_error(store: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            store: store.to_string(),
        },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            store: store.to_string(),
            message: e.to_string(),
        },
        _ => StoreError::Database {
            store: store.to_string(),
            source: Box::new(e),
        },
    }
}

impl SqliteStore {
    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long to wait for another process's write before `StoreError::Locked`.
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(timeout)
            .map_err(|e| db_error(&self.store, e))
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| db_error(&self.store, e)
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            store: self.store.clone(),
            message,
        }
    }

    fn nanos(&self, what: &'static str, t: DateTime<Utc>) -> Result<i64, StoreError> {
        nanos(&self.store, what, t)
    }

    fn opt_nanos(
        &self,
        what: &'static str,
        t: Option<DateTime<Utc>>,
    ) -> Result<Option<i64>, StoreError> {
        opt_nanos(&self.store, what, t)
    }

    /// Run `sql` once per key in one immediate transaction, the key as `?1`
    /// and `rest` as `?2`...; the rows it changed in all.
    fn for_each_key(
        &mut self,
        sql: &str,
        keys: &[String],
        rest: &[&dyn rusqlite::ToSql],
    ) -> Result<usize, StoreError> {
        let (tx, store) = self.immediate()?;
        let db = |e| db_error(store, e);
        let mut changed = 0;
        {
            let mut stmt = tx.prepare_cached(sql).map_err(db)?;
            for key in keys {
                let mut all: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(rest.len() + 1);
                all.push(key);
                all.extend_from_slice(rest);
                changed += stmt.execute(all.as_slice()).map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(changed)
    }

    /// An immediate transaction (the write lock taken at once, so that two
    /// writers queue instead of failing on upgrade), and the store's name
    /// for its errors.
    fn immediate(&mut self) -> Result<(rusqlite::Transaction<'_>, &str), StoreError> {
        let store = self.store.as_str();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(store, e))?;
        Ok((tx, store))
    }

    fn source_from_row(&self, row: &Row<'_>) -> Result<SourceState, StoreError> {
        codec::source_state(&Cols { row, store: self })
    }

    fn item_from_row(&self, row: &Row<'_>) -> Result<StoredItem, StoreError> {
        codec::stored_item(&Cols { row, store: self })
    }

    fn query_items(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(String, StoredItem)>, StoreError> {
        let db = self.db();
        let mut stmt = self.conn.prepare_cached(sql).map_err(&db)?;
        let mut rows = stmt.query(params).map_err(&db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&db)? {
            let key: String = row.get(20).map_err(&db)?;
            out.push((key, self.item_from_row(row)?));
        }
        Ok(out)
    }

    /// Delete the items `mark` (an `INSERT INTO temp.doomed` statement)
    /// selects, bodies and rows by the same rule, in one transaction; bumps
    /// the generation when any go. Returns how many were deleted.
    fn delete_marked(
        &mut self,
        mark: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        let (tx, store) = self.immediate()?;
        let db = |e| db_error(store, e);
        tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
            .map_err(db)?;
        tx.execute("DELETE FROM temp.doomed", []).map_err(db)?;
        let deleted = tx
            .prepare_cached(mark)
            .and_then(|mut s| s.execute(params))
            .map_err(db)?;
        tx.execute_batch(
            "DELETE FROM item_bodies WHERE item IN (SELECT id FROM temp.doomed);
             DELETE FROM items WHERE id IN (SELECT id FROM temp.doomed);
             DELETE FROM temp.doomed;",
        )
        .map_err(db)?;
        if deleted > 0 {
            bump_generation(&tx).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(deleted)
    }
}

/// A SQLite row as [`codec::Columns`].
struct Cols<'a, 'r> {
    row: &'a Row<'r>,
    store: &'a SqliteStore,
}

codec::row_columns!(Cols<'_, '_>, get);

/// Columns `item_from_row` reads, in its order; from `ITEM_FROM`.
const ITEM_COLUMNS: &str = "i.upstream_id, b.canonical_url, b.url, b.title, b.summary_html, \
     b.content_html, i.published_s, i.published_ns, i.published_off, b.updated_s, b.updated_ns, \
     b.updated_off, b.authors, b.tags, b.image, b.content_mode, b.sources, b.related, \
     i.first_seen, b.extras, s.key";

const ITEM_FROM: &str =
    "sources s JOIN items i ON i.source = s.id JOIN item_bodies b ON b.item = i.id";

/// Newest first; ties broken so that the order is the same on every read
/// (the order of the `items_by_date` index, so no sort is needed).
const ITEM_ORDER: &str =
    "i.published_s DESC, i.published_ns DESC, i.first_seen DESC, i.upstream_id";

const SOURCE_COLUMNS: &str = "key, name, url, etag, last_modified, last_fetch, last_success, \
     last_error, consecutive_failures, next_due, min_interval_secs, disabled, \
     (SELECT count(*) FROM items WHERE items.source = sources.id)";

impl Store for SqliteStore {
    fn ensure_source(&mut self, key: &str, name: &str) -> Result<SourceState, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sources (key, name, url) VALUES (?1, ?2, ?1)
                 ON CONFLICT (key) DO UPDATE SET name = excluded.name",
            )
            .and_then(|mut s| s.execute(params![key, name]))
            .map_err(self.db())?;
        self.source(key)?.ok_or_else(|| StoreError::UnknownSource {
            store: self.store.clone(),
            key: key.to_string(),
        })
    }

    fn source(&self, key: &str) -> Result<Option<SourceState>, StoreError> {
        let db = self.db();
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE key = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&db)?;
        let mut rows = stmt.query([key]).map_err(&db)?;
        match rows.next().map_err(&db)? {
            Some(row) => Ok(Some(self.source_from_row(row)?)),
            None => Ok(None),
        }
    }

    fn sources(&self) -> Result<Vec<SourceState>, StoreError> {
        let db = self.db();
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY key");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&db)?;
        let mut rows = stmt.query([]).map_err(&db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&db)? {
            out.push(self.source_from_row(row)?);
        }
        Ok(out)
    }

    fn save_source(&mut self, s: &SourceState) -> Result<(), StoreError> {
        let last_fetch = self.opt_nanos("last_fetch", s.last_fetch)?;
        let last_success = self.opt_nanos("last_success", s.last_success)?;
        let next_due = self.opt_nanos("next_due", s.next_due)?;
        self.conn
            .prepare_cached(
                "INSERT INTO sources (key, name, url, etag, last_modified, last_fetch,
                     last_success, last_error, consecutive_failures, next_due,
                     min_interval_secs, disabled)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (key) DO UPDATE SET name = excluded.name, url = excluded.url,
                     etag = excluded.etag, last_modified = excluded.last_modified,
                     last_fetch = excluded.last_fetch, last_success = excluded.last_success,
                     last_error = excluded.last_error,
                     consecutive_failures = excluded.consecutive_failures,
                     next_due = excluded.next_due, min_interval_secs = excluded.min_interval_secs,
                     disabled = excluded.disabled",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    s.key,
                    s.name,
                    s.url,
                    s.etag,
                    s.last_modified,
                    last_fetch,
                    last_success,
                    s.last_error,
                    i64::from(s.consecutive_failures),
                    next_due,
                    s.min_interval_secs,
                    s.disabled,
                ])
            })
            .map_err(self.db())?;
        Ok(())
    }

    fn put_items(
        &mut self,
        key: &str,
        items: &[StoredItem],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = self.nanos("now", now)?;
        let (tx, store) = self.immediate()?;
        let db = |e| db_error(store, e);
        let source = source_id(&tx, store, key)?;
        let mut known = known_items(&tx, store, source)?;
        let (new, written) =
            ItemWrites::prepare(&tx, store, source, now)?.run(&mut known, items)?;
        if written > 0 {
            bump_generation(&tx).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        if let Some(c) = &mut self.checkpointer {
            c.wrote(written + 64 * items.len() as u64);
        }
        Ok(new)
    }

    fn items(&self, key: &str) -> Result<Vec<StoredItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE s.key = ?1 ORDER BY {ITEM_ORDER}"
        );
        Ok(self
            .query_items(&sql, [key])?
            .into_iter()
            .map(|(_, item)| item)
            .collect())
    }

    fn recent_items(&self, key: &str, limit: usize) -> Result<Vec<StoredItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE s.key = ?1 ORDER BY {ITEM_ORDER} LIMIT ?2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .query_items(&sql, params![key, limit])?
            .into_iter()
            .map(|(_, item)| item)
            .collect())
    }

    fn item(&self, key: &str, id: &str) -> Result<Option<StoredItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE s.key = ?1 AND i.upstream_id = ?2"
        );
        Ok(self
            .query_items(&sql, [key, id])?
            .into_iter()
            .next()
            .map(|(_, item)| item))
    }

    fn items_all(&self) -> Result<Vec<(String, StoredItem)>, StoreError> {
        // Read in storage order and sort here: an ORDER BY across sources
        // makes SQLite sort every body through a temporary b-tree (3x slower).
        let sql = format!("SELECT {ITEM_COLUMNS} FROM {ITEM_FROM}");
        let mut all = self.query_items(&sql, [])?;
        all.sort_unstable_by(|(ka, a), (kb, b)| {
            ka.cmp(kb)
                .then_with(|| b.entry.published.cmp(&a.entry.published))
                .then_with(|| b.first_seen.cmp(&a.first_seen))
                .then_with(|| a.entry.id.cmp(&b.entry.id))
        });
        Ok(all)
    }

    fn generation(&self) -> Result<u64, StoreError> {
        let store = self.store.as_str();
        let (id, generation): (i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'store_id'),
                        (SELECT value FROM meta WHERE key = 'generation')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| db_error(store, e))?;
        Ok((id as u64).rotate_left(32) ^ generation as u64)
    }

    fn prune(&mut self, key: &str, older_than: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = self.nanos("older_than", older_than)?;
        self.delete_marked(
            "INSERT INTO temp.doomed (id)
             SELECT i.id FROM items i JOIN sources s ON i.source = s.id
             WHERE s.key = ?1
               AND i.last_seen < (SELECT max(last_seen) FROM items WHERE source = s.id)
               AND i.first_seen < ?2
               AND (i.published_s < ?3 OR (i.published_s = ?3 AND i.published_ns < ?4))",
            params![
                key,
                cutoff,
                older_than.timestamp(),
                older_than.timestamp_subsec_nanos()
            ],
        )
    }

    fn keep_newest(&mut self, key: &str, keep: usize) -> Result<usize, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.delete_marked(
            "INSERT INTO temp.doomed (id)
             SELECT i.id FROM items i JOIN sources s ON i.source = s.id
             WHERE s.key = ?1
               AND i.last_seen < (SELECT max(last_seen) FROM items WHERE source = s.id)
               AND i.id IN (SELECT i2.id FROM items i2 WHERE i2.source = s.id
                            ORDER BY i2.published_s DESC, i2.published_ns DESC,
                                     i2.first_seen DESC, i2.upstream_id
                            LIMIT -1 OFFSET ?2)",
            params![key, keep],
        )
    }

    fn lease(
        &mut self,
        keys: &[String],
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
        forced_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, StoreError> {
        let now = self.nanos("now", now)?;
        let forced_since = self.opt_nanos("forced_since", forced_since)?;
        let until = self.nanos("until", until)?;
        let store = self.store.as_str();
        let db = |e| db_error(store, e);
        // Immediate: the check and the claim are one write, so two processes
        // never both see a source free.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let mut candidates: Vec<(Option<i64>, String)> = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT next_due FROM sources WHERE key = ?1
                       AND (disabled IS NULL OR (substr(disabled, 1, 8) = '410 Gone'
                                                 AND next_due IS NOT NULL AND next_due <= ?3))
                       AND (CASE WHEN ?2 IS NULL THEN next_due IS NULL OR next_due <= ?3
                                 ELSE last_fetch IS NULL OR last_fetch < ?2 END)
                       AND (lease_until IS NULL OR lease_until <= ?3 OR lease_holder = ?4)",
                )
                .map_err(db)?;
            for key in keys {
                let due: Option<Option<i64>> = stmt
                    .query_row(params![key, forced_since, now, holder], |r| r.get(0))
                    .optional()
                    .map_err(db)?;
                if let Some(due) = due {
                    candidates.push((due, key.clone()));
                }
            }
        }
        // Most overdue first; never fetched (NULL) before everything.
        candidates.sort();
        candidates.dedup_by(|a, b| a.1 == b.1);
        candidates.truncate(limit);
        {
            let mut claim = tx
                .prepare_cached(
                    "UPDATE sources SET lease_holder = ?2, lease_until = ?3 WHERE key = ?1",
                )
                .map_err(db)?;
            for (_, key) in &candidates {
                claim.execute(params![key, holder, until]).map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(candidates.into_iter().map(|(_, k)| k).collect())
    }

    fn renew(
        &mut self,
        keys: &[String],
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let until = self.nanos("until", until)?;
        self.for_each_key(
            "UPDATE sources SET lease_until = ?3 WHERE key = ?1 AND lease_holder = ?2",
            keys,
            params![holder, until],
        )
    }

    fn release(&mut self, keys: &[String], holder: &str) -> Result<(), StoreError> {
        self.for_each_key(
            "UPDATE sources SET lease_holder = NULL, lease_until = NULL
             WHERE key = ?1 AND lease_holder = ?2",
            keys,
            params![holder],
        )
        .map(|_| ())
    }

    fn lease_holders(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let now = self.nanos("now", now)?;
        let db = self.db();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT lease_holder FROM sources
                 WHERE lease_holder IS NOT NULL AND lease_until > ?1 ORDER BY 1",
            )
            .map_err(&db)?;
        let rows = stmt.query_map([now], |r| r.get(0)).map_err(&db)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(&db)
    }

    fn break_leases(&mut self, holder: &str) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE sources SET lease_holder = NULL, lease_until = NULL
                 WHERE lease_holder = ?1",
            )
            .and_then(|mut s| s.execute([holder]))
            .map_err(self.db())
    }

    fn rename_item(&mut self, key: &str, old_id: &str, new_id: &str) -> Result<bool, StoreError> {
        let (tx, store) = self.immediate()?;
        let db = |e| db_error(store, e);
        let renamed = tx
            .execute(
                "UPDATE items SET upstream_id = ?3
                 WHERE source = (SELECT id FROM sources WHERE key = ?1) AND upstream_id = ?2
                   AND NOT EXISTS (SELECT 1 FROM items o
                                   WHERE o.source = items.source AND o.upstream_id = ?3)",
                params![key, old_id, new_id],
            )
            .map_err(db)?;
        if renamed > 0 {
            bump_generation(&tx).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(renamed > 0)
    }

    fn dump_items(&self, key: &str) -> Result<Vec<super::ItemRecord>, StoreError> {
        let db = self.db();
        let sql = format!("SELECT {ITEM_COLUMNS}, i.last_seen FROM {ITEM_FROM} WHERE s.key = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&db)?;
        let mut rows = stmt.query([key]).map_err(&db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&db)? {
            out.push(super::ItemRecord {
                item: self.item_from_row(row)?,
                last_seen: DateTime::from_timestamp_nanos(row.get(21).map_err(&db)?),
            });
        }
        Ok(out)
    }

    fn restore_items(&mut self, key: &str, items: &[super::ItemRecord]) -> Result<(), StoreError> {
        let mut times = Vec::with_capacity(items.len());
        for r in items {
            times.push((
                self.nanos("first_seen", r.item.first_seen)?,
                self.nanos("last_seen", r.last_seen)?,
            ));
        }
        let (tx, store) = self.immediate()?;
        let db = |e| db_error(store, e);
        {
            let source = source_id(&tx, store, key)?;
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO items (source, upstream_id, published_s, published_ns,
                         published_off, fingerprint, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (source, upstream_id) DO UPDATE SET
                         published_s = excluded.published_s, published_ns = excluded.published_ns,
                         published_off = excluded.published_off,
                         fingerprint = excluded.fingerprint, first_seen = excluded.first_seen,
                         last_seen = excluded.last_seen
                     RETURNING id",
                )
                .map_err(db)?;
            let mut write_body = tx.prepare_cached(WRITE_BODY).map_err(db)?;
            for (r, (first_seen, last_seen)) in items.iter().zip(times) {
                let enc = encode(&r.item);
                let e = enc.entry;
                let row: i64 = upsert
                    .query_row(
                        params![
                            source,
                            e.id,
                            e.published.timestamp(),
                            e.published.timestamp_subsec_nanos(),
                            e.published.offset().local_minus_utc(),
                            enc.fingerprint,
                            first_seen,
                            last_seen
                        ],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                write_body.execute(body_params(row, &enc)).map_err(db)?;
            }
        }
        if !items.is_empty() {
            bump_generation(&tx).map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}

/// The row id of the source `key`, or `UnknownSource`.
fn source_id(conn: &Connection, store: &str, key: &str) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT id FROM sources WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(|e| db_error(store, e))?
        .ok_or_else(|| StoreError::UnknownSource {
            store: store.to_string(),
            key: key.to_string(),
        })
}

/// The items the source with row id `source` holds.
fn known_items(conn: &Connection, store: &str, source: i64) -> Result<Known, StoreError> {
    let db = |e| db_error(store, e);
    let mut stmt = conn
        .prepare_cached("SELECT upstream_id, id, fingerprint FROM items WHERE source = ?1")
        .map_err(db)?;
    let mut rows = stmt.query([source]).map_err(db)?;
    let mut known = Known::default();
    while let Some(row) = rows.next().map_err(db)? {
        let id: String = row.get(0).map_err(db)?;
        known.insert(id, row.get(1).map_err(db)?, row.get(2).map_err(db)?);
    }
    Ok(known)
}

/// The statements `put_items` runs for one source, prepared once.
struct ItemWrites<'c> {
    conn: &'c Connection,
    store: &'c str,
    source: i64,
    now: i64,
    insert: rusqlite::CachedStatement<'c>,
    update: rusqlite::CachedStatement<'c>,
    touch: rusqlite::CachedStatement<'c>,
    body: rusqlite::CachedStatement<'c>,
}

impl<'c> ItemWrites<'c> {
    fn prepare(
        conn: &'c Connection,
        store: &'c str,
        source: i64,
        now: i64,
    ) -> Result<Self, StoreError> {
        let prepare = |sql| conn.prepare_cached(sql).map_err(|e| db_error(store, e));
        Ok(ItemWrites {
            conn,
            store,
            source,
            now,
            insert: prepare(
                "INSERT INTO items (source, upstream_id, published_s, published_ns,
                     published_off, fingerprint, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?,
            update: prepare(
                "UPDATE items SET published_s = ?2, published_ns = ?3, published_off = ?4,
                     fingerprint = ?5, last_seen = ?6
                 WHERE id = ?1",
            )?,
            touch: prepare("UPDATE items SET last_seen = ?2 WHERE id = ?1")?,
            body: prepare(WRITE_BODY)?,
        })
    }

    /// Write `items` in order, `known` kept current so that a repeated id
    /// is compared with its copy just written; returns (new items, body
    /// bytes written).
    fn run(mut self, known: &mut Known, items: &[StoredItem]) -> Result<(usize, u64), StoreError> {
        let store = self.store;
        let db = |e| db_error(store, e);
        let (mut new, mut written) = (0, 0);
        for item in items {
            let enc = encode(item);
            let (secs, nanos, off) = date_parts(&enc.entry.published);
            let fingerprint = enc.fingerprint;
            let row = match known.change(&enc, false) {
                Change::Seen(row) => {
                    self.touch.execute(params![row, self.now]).map_err(db)?;
                    continue;
                }
                Change::Changed(row) => {
                    let p = params![row, secs, nanos, off, fingerprint, self.now];
                    self.update.execute(p).map_err(db)?;
                    row
                }
                Change::New => {
                    let id = &enc.entry.id;
                    let p = params![self.source, id, secs, nanos, off, fingerprint, self.now];
                    self.insert.execute(p).map_err(db)?;
                    new += 1;
                    self.conn.last_insert_rowid()
                }
            };
            self.body.execute(body_params(row, &enc)).map_err(db)?;
            written += enc.size();
            known.insert(enc.entry.id.clone(), row, fingerprint);
        }
        Ok((new, written))
    }
}

/// Writes one item's body row; parameters from [`body_params`].
const WRITE_BODY: &str = "INSERT OR REPLACE INTO item_bodies (item, canonical_url, url, title,
         summary_html, content_html, updated_s, updated_ns, updated_off,
         authors, tags, image, content_mode, sources, related, extras)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

fn body_params<'a>(row: i64, enc: &'a Encoded<'a>) -> impl rusqlite::Params + 'a {
    let e = enc.entry;
    (
        row,
        enc.canonical_url,
        &e.url,
        &e.title,
        &e.summary_html,
        &e.content_html,
        e.updated.timestamp(),
        e.updated.timestamp_subsec_nanos(),
        e.updated.offset().local_minus_utc(),
        &enc.authors,
        &enc.tags,
        &e.image,
        enc.content_mode,
        &enc.sources,
        &enc.related,
        &enc.extras,
    )
}

fn bump_generation(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
        [],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::{Entry, Person};
    use chrono::FixedOffset;
    use tempfile::TempDir;

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

    fn open(dir: &TempDir) -> SqliteStore {
        open_sqlite(&dir.path().join("nested/dir/store.db")).unwrap()
    }

    #[test]
    fn migrates_an_empty_file_and_reopens_idempotently() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("nested/dir/store.db");
        let mut s = open_sqlite(&path).unwrap();
        assert!(path.exists());
        assert_eq!(
            migrations::user_version(&s.conn).unwrap(),
            migrations::latest()
        );
        s.ensure_source("https://a.example/feed", "A").unwrap();
        s.put_items("https://a.example/feed", &[item("1", day(0))], day(0))
            .unwrap();
        drop(s);
        for _ in 0..2 {
            let s = open_sqlite(&path).unwrap();
            assert_eq!(
                migrations::user_version(&s.conn).unwrap(),
                migrations::latest()
            );
            assert_eq!(s.items("https://a.example/feed").unwrap().len(), 1);
        }
    }

    /// Step 6 (`extras`): a store written before it reads its items back
    /// unchanged, and their fingerprints are the ones already stored, so a
    /// fetch after the upgrade rewrites nothing.
    /// Processes that open one fresh file at once (`serve` and a `fetch`
    /// from cron) all get the store: none takes another's migration, seen
    /// half way, for a database of another program.
    #[test]
    fn concurrent_opens_of_a_fresh_file_all_succeed() {
        for round in 0..40 {
            let dir = TempDir::new().unwrap();
            let path = dir.path().join("store.db");
            let opened: Vec<Result<(), String>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|_| s.spawn(|| open_sqlite(&path).map(drop).map_err(|e| e.to_string())))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for r in opened {
                assert_eq!(r, Ok(()), "round {round}");
            }
        }
    }

    #[test]
    fn a_store_from_before_extras_upgrades_without_rewriting_items() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("store.db");
        let key = "https://a.example/feed";
        let mut s = open_sqlite(&path).unwrap();
        s.ensure_source(key, "A").unwrap();
        s.put_items(key, &[item("1", day(0))], day(0)).unwrap();
        drop(s);
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(
            "DROP TABLE push_subscriptions; ALTER TABLE item_bodies DROP COLUMN extras;
             PRAGMA user_version = 5;",
        )
        .unwrap();
        drop(raw);
        let mut s = open_sqlite(&path).unwrap();
        assert_eq!(
            migrations::user_version(&s.conn).unwrap(),
            migrations::latest()
        );
        assert_eq!(s.items(key).unwrap()[0].entry, item("1", day(0)).entry);
        let generation = s.generation().unwrap();
        s.put_items(key, &[item("1", day(0))], day(1)).unwrap();
        assert_eq!(s.generation().unwrap(), generation, "nothing rewritten");
        // An item that gains an enclosure is rewritten and keeps it.
        let mut richer = item("1", day(0));
        richer
            .entry
            .enclosures
            .push(crate::model::entry::Enclosure {
                url: "https://up.example/1.mp3".into(),
                mime_type: Some("audio/mpeg".into()),
                length: None,
            });
        richer.entry.language = Some("en".into());
        s.put_items(key, std::slice::from_ref(&richer), day(2))
            .unwrap();
        assert_ne!(s.generation().unwrap(), generation, "rewritten");
        assert_eq!(s.items(key).unwrap()[0].entry, richer.entry);
    }

    #[test]
    fn wal_mode_synchronous_and_foreign_keys_are_on() {
        let dir = TempDir::new().unwrap();
        let s = open(&dir);
        let pragma = |name: &str| -> String {
            s.conn
                .pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
        assert_eq!(pragma("synchronous"), "Integer(1)"); // NORMAL
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        // WAL is persistent: a plain connection sees it too.
        let raw = Connection::open(s.path()).unwrap();
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_store_from_a_newer_tributary_is_refused_untouched() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("store.db");
        drop(open_sqlite(&path).unwrap());
        let newer = migrations::latest() + 1;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        let err = open_sqlite(&path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found, .. } if found == newer));
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("schema {newer} > {}", migrations::latest())),
            "{msg}"
        );
        let raw = Connection::open(&path).unwrap();
        assert_eq!(migrations::user_version(&raw).unwrap(), newer);
    }

    #[test]
    fn other_files_are_refused() {
        let dir = TempDir::new().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "x".repeat(4096)).unwrap();
        let err = open_sqlite(&text).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        let err = open_sqlite(&other).unwrap_err();
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    }

    #[test]
    fn a_write_while_another_process_writes_reports_locked() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("store.db");
        let mut s = open_sqlite(&path).unwrap();
        s.ensure_source("k", "K").unwrap();
        s.set_busy_timeout(Duration::from_millis(50)).unwrap();
        let mut other = Connection::open(&path).unwrap();
        let tx = other
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .unwrap();
        let err = s.put_items("k", &[item("1", day(1))], day(1)).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("locked by another process"));
        tx.rollback().unwrap();
        assert_eq!(s.put_items("k", &[item("1", day(1))], day(1)).unwrap(), 1);
    }

    /// `cargo test --release --lib store:: -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn measure_50_items_times_1000_sources() {
        // Bodies of ~2 KB (full-content feeds) and ~250 bytes (summaries).
        for words in [150, 20] {
            measure(words);
        }
    }

    fn measure(words: usize) {
        let dir = TempDir::new().unwrap();
        let mut s = open(&dir);
        let batches: Vec<(String, Vec<StoredItem>)> = (0..1000)
            .map(|src| {
                let key = format!("https://source{src}.example/feed.xml");
                let items = (0..50)
                    .map(|i| {
                        let mut it = item(&format!("{key}#{i}"), day(i));
                        it.entry.content_html =
                            Some(format!("<p>{}</p>", "lorem ipsum ".repeat(words)));
                        it.entry.summary_html = Some("<p>summary of the item</p>".to_string());
                        it.entry.authors = vec![Person::parse("Ada <ada@example.org>")];
                        it.entry.tags = vec!["a".to_string(), "b".to_string()];
                        it.canonical_url = Some(it.entry.url.clone());
                        it
                    })
                    .collect();
                (key, items)
            })
            .collect();
        for (key, _) in &batches {
            s.ensure_source(key, key).unwrap();
        }
        let t = std::time::Instant::now();
        let mut new = 0;
        for (key, items) in &batches {
            new += s.put_items(key, items, day(100)).unwrap();
        }
        let cold = t.elapsed();
        assert_eq!(new, 50_000);
        let t = std::time::Instant::now();
        for (key, items) in &batches {
            s.put_items(key, items, day(101)).unwrap();
        }
        let warm = t.elapsed();
        let t = std::time::Instant::now();
        let all = s.items_all().unwrap();
        let read = t.elapsed();
        assert_eq!(all.len(), 50_000);
        let path = s.path().to_path_buf();
        let t = std::time::Instant::now();
        drop(s); // the last close checkpoints the rest of the WAL
        let close = t.elapsed();
        let size = std::fs::metadata(&path).unwrap().len();
        println!(
            "content {} bytes: put 50,000 new items (1000 x 50): {cold:?}; again, unchanged: \
             {warm:?}; items_all: {read:?}; close: {close:?}; file {} MB",
            words * 12,
            size >> 20
        );
    }
}

// WebSub hub subscriptions (`HubStore`), in a file of their own.
#[path = "websub_sqlite.rs"]
mod websub;

// Subscriptions to upstream hubs (`PushStore`).
#[path = "push_sqlite.rs"]
mod push;
