//! The PostgreSQL backend: for sites whose fetchers and `serve` replicas run
//! on several machines. Items and sources as in SQLite, plus source leases
//! (work sharing), the published documents every replica serves, and the
//! shared id ledger.
//!
//! `Store` is synchronous and called from plain threads; all I/O runs on one
//! process-wide tokio runtime owned by this module (threads "tributary-pg"),
//! which each method blocks on. Calling a method from inside an async task
//! is a bug (tokio refuses to block there); `spawn_blocking` threads are fine.
//!
//! Connections come from one pool per URL per process, so opening a store
//! per batch is cheap; the schema is migrated the first time a process opens
//! a URL.

use std::collections::HashMap;
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
    TimeoutType,
};
use futures_util::StreamExt;
use tokio_postgres::config::Host;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, IsolationLevel, NoTls, Row};
use xxhash_rust::xxh3::xxh3_64;

use super::changes::{Change, Known};
use super::codec::{self, date_parts, encode, nanos, opt_nanos};
use super::location::redact;
use super::{ItemRecord, SharedDoc, SharedStore, SourceState, Store, StoreError, StoredItem};

/// Connections per URL per process.
const POOL_SIZE: usize = 8;
/// How long to wait for a free connection, or for a new one to be made.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP connect timeout, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Readiness checks answer quickly or fail.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// The LISTEN connection comes back after 1 s, 2 s, 4 s... at most this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Advisory lock keys ("trib" then a number), per database.
const MIGRATION_LOCK: i64 = 0x7472_6962_0000_0001;
const BUILD_LOCK: i64 = 0x7472_6962_0000_0002;

/// The NOTIFY channel of `publish`; the payload is the new generation.
const CHANNEL: &str = "tributary_documents";

/// Versioned schema: `tributary_schema.version` counts the steps applied;
/// step `i` takes a database from version `i` to `i + 1`. Steps are only
/// ever appended. The numbering is PostgreSQL's own: step 1 is SQLite's
/// schema 3 (sources, items, generation, store id) in one table per kind,
/// plus what only a shared store has (leases, documents, ledger).
pub(super) const PG_MIGRATIONS: &[&str] = &[
    // 1: Instants are BIGINT nanoseconds since the epoch (UTC); entry dates
    // keep their offset as (seconds, nanoseconds, offset seconds), lists
    // are JSON text, as in SQLite. Keys, ids and paths compare bytewise
    // (COLLATE "C") so that orders match SQLite's.
    r#"CREATE TABLE sources (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key TEXT COLLATE "C" NOT NULL UNIQUE,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        last_fetch BIGINT,
        last_success BIGINT,
        last_error TEXT,
        consecutive_failures BIGINT NOT NULL DEFAULT 0,
        next_due BIGINT,
        min_interval_secs BIGINT,
        disabled TEXT,
        lease_holder TEXT,
        lease_until BIGINT
    );
    CREATE INDEX sources_by_next_due ON sources (next_due NULLS FIRST, key);
    CREATE TABLE items (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        upstream_id TEXT COLLATE "C" NOT NULL,
        published_s BIGINT NOT NULL,
        published_ns BIGINT NOT NULL,
        published_off BIGINT NOT NULL,
        fingerprint BIGINT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        canonical_url TEXT,
        url TEXT NOT NULL,
        title TEXT NOT NULL,
        summary_html TEXT,
        content_html TEXT,
        updated_s BIGINT NOT NULL,
        updated_ns BIGINT NOT NULL,
        updated_off BIGINT NOT NULL,
        authors TEXT NOT NULL,
        tags TEXT NOT NULL,
        image TEXT,
        content_mode TEXT,
        sources TEXT NOT NULL,
        related TEXT NOT NULL,
        UNIQUE (source, upstream_id)
    );
    CREATE INDEX items_by_date
        ON items (source, published_s DESC, published_ns DESC, first_seen DESC, upstream_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO meta (key, value) VALUES
        ('generation', 0),
        ('documents_generation', 0),
        ('store_id', floor(random() * 9.2e18)::bigint);
    CREATE TABLE documents (
        path TEXT COLLATE "C" PRIMARY KEY,
        body BYTEA NOT NULL,
        hash BIGINT NOT NULL,
        modified BIGINT
    );
    CREATE TABLE ledger (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        text TEXT NOT NULL
    );"#,
    // 2: subscriptions to the WebSub hub of `hub: self` (store/websub.rs):
    // verified ones only, with their delivery state and its claim.
    r#"CREATE TABLE hub_subscriptions (
        topic TEXT COLLATE "C" NOT NULL,
        callback TEXT COLLATE "C" NOT NULL,
        secret TEXT,
        lease_seconds BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        verified BIGINT NOT NULL,
        pending_hash BIGINT,
        delivered_hash BIGINT,
        failures BIGINT NOT NULL DEFAULT 0,
        next_attempt BIGINT,
        last_error TEXT,
        lease_holder TEXT,
        lease_until BIGINT,
        PRIMARY KEY (topic, callback)
    );
    CREATE INDEX hub_subscriptions_due ON hub_subscriptions (next_attempt)
        WHERE pending_hash IS NOT NULL;"#,
    // 3: what upstream items carry besides (codec::Extras): enclosures, tag
    // schemes, the content language, as one JSON object.
    r#"ALTER TABLE items ADD COLUMN extras TEXT NOT NULL DEFAULT '{}';"#,
    // 4: subscriptions of `serve` to upstream WebSub hubs (store/push.rs),
    // one per source; `token` names the callback.
    r#"CREATE TABLE push_subscriptions (
        source TEXT COLLATE "C" PRIMARY KEY,
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,
        state TEXT NOT NULL,
        token TEXT UNIQUE,
        secret TEXT,
        callback TEXT,
        requested BIGINT,
        expires BIGINT,
        attempts BIGINT NOT NULL DEFAULT 0,
        pushes BIGINT NOT NULL DEFAULT 0,
        last_push BIGINT,
        last_error TEXT,
        revision BIGINT NOT NULL
    );"#,
];

/// Tables of ours: a database that has one of them without
/// `tributary_schema` belongs to another program.
const OUR_TABLES: &[&str] = &["sources", "items", "meta", "documents", "ledger"];

/// The schema version this build writes.
fn latest() -> i64 {
    PG_MIGRATIONS.len() as i64
}

/// A store in a PostgreSQL database. Open it with [`open_postgres`].
pub struct PgStore {
    pool: Pool,
    /// For connections of their own (build lock, LISTEN).
    connector: Connector,
    rt: &'static tokio::runtime::Runtime,
    /// The URL as shown in errors (password redacted).
    store: String,
    /// `HOST:PORT`, for connection errors.
    endpoint: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Held while this process builds; dropping it lets the next builder in.
/// It owns the connection that holds the lock: closing it (on drop, or when
/// the process dies) releases the lock.
pub struct BuildLock {
    _client: Client,
}

impl std::fmt::Debug for BuildLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildLock").finish_non_exhaustive()
    }
}

/// The runtime all PostgreSQL I/O runs on.
fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("tributary-pg")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the PostgreSQL I/O threads: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// One pool per URL, made (and the database migrated) once per process.
fn pools() -> &'static Mutex<HashMap<String, Pool>> {
    static POOLS: OnceLock<Mutex<HashMap<String, Pool>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn message(store: &str, text: String) -> StoreError {
    StoreError::Database {
        store: store.to_string(),
        source: text.into(),
    }
}

fn db_error(store: &str, e: tokio_postgres::Error) -> StoreError {
    StoreError::Database {
        store: store.to_string(),
        source: Box::new(e),
    }
}

fn connect_error(store: &str, endpoint: &str, cause: &dyn std::fmt::Display) -> StoreError {
    let cause = cause.to_string();
    let hint = if cause.contains("certificate") {
        "the server's certificate is not trusted: give its CA with `sslrootcert=FILE` in the URL"
    } else {
        "is it running, and is `store:` right?"
    };
    message(
        store,
        format!("cannot connect to PostgreSQL at {endpoint} ({cause}): {hint}"),
    )
}

/// An error with every cause under it (`error performing TLS handshake:
/// invalid peer certificate: UnknownIssuer`), for messages that say why.
struct Causes<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

fn pool_error(store: &str, endpoint: &str, e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => connect_error(store, endpoint, &Causes(&e)),
        PoolError::Timeout(TimeoutType::Wait) => message(
            store,
            format!(
                "all {POOL_SIZE} connections stayed busy for {} s",
                POOL_TIMEOUT.as_secs()
            ),
        ),
        PoolError::Timeout(_) => connect_error(
            store,
            endpoint,
            &format!("no answer within {} s", POOL_TIMEOUT.as_secs()),
        ),
        other => message(store, other.to_string()),
    }
}

/// How a connection of our own is made: TLS (rustls, the server's
/// certificate verified) when the URL says `sslmode=require`, else plain.
#[derive(Clone)]
enum Tls {
    Off,
    On(tokio_postgres_rustls::MakeRustlsConnect),
}

/// A connection's messages (notifications, errors); reading them is what
/// drives the connection, whichever TLS it has.
type Messages = Box<
    dyn FnMut(
            &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<AsyncMessage, tokio_postgres::Error>>>
        + Send,
>;

/// Everything needed to open a connection outside the pool.
#[derive(Clone)]
struct Connector {
    config: Config,
    tls: Tls,
}

impl Connector {
    async fn connect(&self) -> Result<(Client, Messages), tokio_postgres::Error> {
        Ok(match &self.tls {
            Tls::Off => {
                let (client, mut c) = self.config.connect(NoTls).await?;
                (client, Box::new(move |cx| c.poll_message(cx)))
            }
            Tls::On(tls) => {
                let (client, mut c) = self.config.connect(tls.clone()).await?;
                (client, Box::new(move |cx| c.poll_message(cx)))
            }
        })
    }
}

/// Read a store URL. `sslmode=require` (or libpq's `verify-ca`,
/// `verify-full`) turns TLS on, with the server's certificate and name
/// checked against the Mozilla roots and, with `sslrootcert=FILE` (libpq's
/// name; read here, not by the driver), the CAs in that PEM file. `prefer`
/// (the default) and `disable` connect without TLS: a TLS that does not
/// verify its peer would only look safe.
fn parse_url(url: &str) -> Result<(Config, Tls), String> {
    let mut rootcert = None;
    let ours =
        |k: &str, v: &str| k == "sslrootcert" || (k == "sslmode" && v.starts_with("verify-"));
    let cleaned = match url::Url::parse(url) {
        Ok(mut u) if u.query_pairs().any(|(k, v)| ours(&k, &v)) => {
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .into_owned()
                .filter_map(|(k, v)| match k.as_str() {
                    "sslrootcert" => {
                        rootcert = Some(v);
                        None
                    }
                    // libpq's verify-ca and verify-full: what `require` does here.
                    "sslmode" if v.starts_with("verify-") => Some((k, "require".to_string())),
                    _ => Some((k, v)),
                })
                .collect();
            if kept.is_empty() {
                u.set_query(None);
            } else {
                u.query_pairs_mut().clear().extend_pairs(kept);
            }
            u.to_string()
        }
        _ => url.to_string(),
    };
    let config: Config = cleaned
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    let tls = match config.get_ssl_mode() {
        tokio_postgres::config::SslMode::Require => Tls::On(rustls_connector(rootcert.as_deref())?),
        _ => Tls::Off,
    };
    Ok((config, tls))
}

fn rustls_connector(
    rootcert: Option<&str>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = rootcert {
        let mut added = 0;
        for cert in
            CertificateDer::pem_file_iter(path).map_err(|e| format!("sslrootcert {path}: {e}"))?
        {
            let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("sslrootcert {path}: no certificate in it"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `HOST:PORT` of the first host the URL names.
fn endpoint(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Connect to `url` (pooled), migrating the schema if needed. A server that
/// does not answer is an error after about ten seconds, never a hang; a
/// database written by a newer tributary is refused untouched.
pub fn open_postgres(url: &str) -> Result<PgStore, StoreError> {
    let store = redact(url);
    let rt = runtime().map_err(|e| message(&store, e))?;
    let (mut config, tls) = parse_url(url).map_err(|e| message(&store, e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("tributary");
    }
    let endpoint = endpoint(&config);
    let known = pools()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(url)
        .cloned();
    let pool = match known {
        Some(pool) => pool,
        None => {
            let manager_config = || ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            };
            let manager = match &tls {
                Tls::Off => Manager::from_config(config.clone(), NoTls, manager_config()),
                Tls::On(t) => Manager::from_config(config.clone(), t.clone(), manager_config()),
            };
            let pool = Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(POOL_TIMEOUT))
                .create_timeout(Some(POOL_TIMEOUT))
                .recycle_timeout(Some(POOL_TIMEOUT))
                .build()
                .map_err(|e| message(&store, e.to_string()))?;
            rt.block_on(async {
                let mut client = pool
                    .get()
                    .await
                    .map_err(|e| pool_error(&store, &endpoint, e))?;
                migrate(&mut client, &store).await
            })?;
            // Two threads may have raced here: both migrated (safely), the
            // first pool stored is the one every store shares.
            pools()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(url.to_string())
                .or_insert(pool)
                .clone()
        }
    };
    Ok(PgStore {
        pool,
        connector: Connector { config, tls },
        rt,
        store,
        endpoint,
    })
}

/// Apply the missing steps in one transaction, after taking an advisory
/// lock, so that processes starting together migrate once.
async fn migrate(client: &mut Object, store: &str) -> Result<(), StoreError> {
    let db = |e| db_error(store, e);
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    let marked: bool = tx
        .query_one("SELECT to_regclass('tributary_schema') IS NOT NULL", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db)?;
    let found: i64 = if marked {
        let row = tx
            .query_opt("SELECT version FROM tributary_schema", &[])
            .await
            .map_err(db)?;
        match row {
            Some(row) => row.try_get(0).map_err(db)?,
            None => {
                return Err(StoreError::Foreign {
                    store: store.to_string(),
                    reason: "tributary_schema holds no version".to_string(),
                })
            }
        }
    } else {
        let taken = tx
            .query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = ANY($1)
                 ORDER BY 1",
                &[&OUR_TABLES],
            )
            .await
            .map_err(db)?;
        if let Some(row) = taken.first() {
            let table: String = row.try_get(0).map_err(db)?;
            return Err(StoreError::Foreign {
                store: store.to_string(),
                reason: format!("it has a table {table:?} that tributary did not make"),
            });
        }
        tx.batch_execute(
            "CREATE TABLE tributary_schema (version BIGINT NOT NULL);
             INSERT INTO tributary_schema (version) VALUES (0);",
        )
        .await
        .map_err(db)?;
        0
    };
    if found > latest() {
        return Err(StoreError::TooNew {
            store: store.to_string(),
            found,
            supported: latest(),
        });
    }
    let Ok(start) = usize::try_from(found) else {
        return Err(StoreError::Foreign {
            store: store.to_string(),
            reason: format!("schema version {found}"),
        });
    };
    if found < latest() {
        for step in PG_MIGRATIONS.iter().skip(start) {
            tx.batch_execute(step).await.map_err(db)?;
        }
        tx.execute("UPDATE tributary_schema SET version = $1", &[&latest()])
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

type Params<'a> = [&'a (dyn ToSql + Sync)];

async fn rows<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.query(&stmt, params).await
}

async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, params).await
}

/// A PostgreSQL row as [`codec::Columns`].
struct Cols<'a> {
    row: &'a Row,
    store: &'a PgStore,
}

codec::row_columns!(Cols<'_>, try_get);

/// Columns `item_from_row` reads, in its order.
const ITEM_COLUMNS: &str = "i.upstream_id, i.canonical_url, i.url, i.title, i.summary_html, \
     i.content_html, i.published_s, i.published_ns, i.published_off, i.updated_s, i.updated_ns, \
     i.updated_off, i.authors, i.tags, i.image, i.content_mode, i.sources, i.related, \
     i.first_seen, i.extras, s.key, i.last_seen";

const ITEM_FROM: &str = "sources s JOIN items i ON i.source = s.id";

/// Newest first, ties as SQLite breaks them (the `items_by_date` order).
const ITEM_ORDER: &str =
    "i.published_s DESC, i.published_ns DESC, i.first_seen DESC, i.upstream_id";

const SOURCE_COLUMNS: &str = "key, name, url, etag, last_modified, last_fetch, last_success, \
     last_error, consecutive_failures, next_due, min_interval_secs, disabled, \
     (SELECT count(*) FROM items WHERE items.source = sources.id)";

const BUMP_GENERATION: &str = "UPDATE meta SET value = value + 1 WHERE key = 'generation'";

/// Upsert items from parallel arrays; `first_seen` of an existing row is
/// replaced only when `restore`.
fn upsert_sql(restore: bool) -> String {
    let first_seen = if restore {
        "first_seen = excluded.first_seen,"
    } else {
        ""
    };
    format!(
        "INSERT INTO items (source, upstream_id, first_seen, last_seen, published_s,
             published_ns, published_off, fingerprint, canonical_url, url, title,
             summary_html, content_html, updated_s, updated_ns, updated_off, authors, tags,
             image, content_mode, sources, related, extras)
         SELECT $1, * FROM UNNEST($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
             $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[],
             $13::text[], $14::int8[], $15::int8[], $16::int8[], $17::text[], $18::text[],
             $19::text[], $20::text[], $21::text[], $22::text[], $23::text[])
         ON CONFLICT (source, upstream_id) DO UPDATE SET {first_seen}
             last_seen = excluded.last_seen, published_s = excluded.published_s,
             published_ns = excluded.published_ns, published_off = excluded.published_off,
             fingerprint = excluded.fingerprint, canonical_url = excluded.canonical_url,
             url = excluded.url, title = excluded.title, summary_html = excluded.summary_html,
             content_html = excluded.content_html, updated_s = excluded.updated_s,
             updated_ns = excluded.updated_ns, updated_off = excluded.updated_off,
             authors = excluded.authors, tags = excluded.tags, image = excluded.image,
             content_mode = excluded.content_mode, sources = excluded.sources,
             related = excluded.related, extras = excluded.extras"
    )
}

/// The rows of one upsert as column arrays.
#[derive(Default)]
struct Columns<'a> {
    upstream_id: Vec<&'a str>,
    first_seen: Vec<i64>,
    last_seen: Vec<i64>,
    published_s: Vec<i64>,
    published_ns: Vec<i64>,
    published_off: Vec<i64>,
    fingerprint: Vec<i64>,
    canonical_url: Vec<Option<&'a str>>,
    url: Vec<&'a str>,
    title: Vec<&'a str>,
    summary_html: Vec<Option<&'a str>>,
    content_html: Vec<Option<&'a str>>,
    updated_s: Vec<i64>,
    updated_ns: Vec<i64>,
    updated_off: Vec<i64>,
    authors: Vec<&'a str>,
    tags: Vec<&'a str>,
    image: Vec<Option<&'a str>>,
    content_mode: Vec<Option<&'static str>>,
    sources: Vec<&'a str>,
    related: Vec<&'a str>,
    extras: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, enc: &'a super::codec::Encoded<'a>, first_seen: i64, last_seen: i64) {
        let e = enc.entry;
        let (ps, pn, po) = date_parts(&e.published);
        let (us, un, uo) = date_parts(&e.updated);
        self.upstream_id.push(&e.id);
        self.first_seen.push(first_seen);
        self.last_seen.push(last_seen);
        self.published_s.push(ps);
        self.published_ns.push(i64::from(pn));
        self.published_off.push(i64::from(po));
        self.fingerprint.push(enc.fingerprint);
        self.canonical_url.push(enc.canonical_url);
        self.url.push(&e.url);
        self.title.push(&e.title);
        self.summary_html.push(e.summary_html.as_deref());
        self.content_html.push(e.content_html.as_deref());
        self.updated_s.push(us);
        self.updated_ns.push(i64::from(un));
        self.updated_off.push(i64::from(uo));
        self.authors.push(&enc.authors);
        self.tags.push(&enc.tags);
        self.image.push(e.image.as_deref());
        self.content_mode.push(enc.content_mode);
        self.sources.push(&enc.sources);
        self.related.push(&enc.related);
        self.extras.push(&enc.extras);
    }

    fn is_empty(&self) -> bool {
        self.upstream_id.is_empty()
    }

    /// Parameters `$2..` of `upsert_sql`.
    fn params(&self) -> [&(dyn ToSql + Sync); 22] {
        [
            &self.upstream_id,
            &self.first_seen,
            &self.last_seen,
            &self.published_s,
            &self.published_ns,
            &self.published_off,
            &self.fingerprint,
            &self.canonical_url,
            &self.url,
            &self.title,
            &self.summary_html,
            &self.content_html,
            &self.updated_s,
            &self.updated_ns,
            &self.updated_off,
            &self.authors,
            &self.tags,
            &self.image,
            &self.content_mode,
            &self.sources,
            &self.related,
            &self.extras,
        ]
    }
}

/// The documents of one publish whose bytes the store lacks, as column arrays.
#[derive(Default)]
struct DocColumns<'a> {
    path: Vec<&'a str>,
    body: Vec<&'a [u8]>,
    hash: Vec<i64>,
    modified: Vec<Option<i64>>,
}

impl<'a> DocColumns<'a> {
    /// The documents of `docs` (each with its hash and modified time) whose
    /// hash differs from the `stored` one.
    fn changed(
        docs: &[(&'a SharedDoc, i64, Option<i64>)],
        stored: &HashMap<String, (i64, Option<i64>)>,
    ) -> Self {
        let mut out = DocColumns::default();
        for &(d, h, m) in docs {
            // Same bytes: the stored `Last-Modified` stays, whichever
            // replica built them and whatever its own manifest says.
            if stored.get(&d.path).map(|(sh, _)| *sh) != Some(h) {
                out.path.push(&d.path);
                out.body.push(&d.body);
                out.hash.push(h);
                out.modified.push(m);
            }
        }
        out
    }
}

/// Of several items with one id, the last: the indexes to keep, in order.
fn last_of_each(ids: impl Iterator<Item = impl AsRef<str>>) -> Vec<usize> {
    let ids: Vec<_> = ids.collect();
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        last.insert(id.as_ref(), i);
    }
    (0..ids.len())
        .filter(|i| last.get(ids[*i].as_ref()) == Some(i))
        .collect()
}

impl PgStore {
    /// Run `work` on the module's runtime, waiting for it.
    fn run<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.rt.block_on(work)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| pool_error(&self.store, &self.endpoint, e))
    }

    /// A connection of its own, outside the pool; its connection task runs
    /// on the module's runtime until the client is dropped.
    async fn dedicated(&self) -> Result<Client, StoreError> {
        let (client, mut messages) = self
            .connector
            .connect()
            .await
            .map_err(|e| connect_error(&self.store, &self.endpoint, &Causes(&e)))?;
        tokio::spawn(async move {
            // Reading its messages is what drives a connection; it ends
            // when the client is dropped.
            let mut stream = futures_util::stream::poll_fn(move |cx| messages(cx));
            while let Some(m) = stream.next().await {
                if let Err(e) = m {
                    tracing::debug!("PostgreSQL connection ended: {e}");
                    break;
                }
            }
        });
        Ok(client)
    }

    fn db(&self) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        |e| db_error(&self.store, e)
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            store: self.store.clone(),
            message,
        }
    }

    /// The published documents generation; `lock` is `" FOR UPDATE"` in a
    /// transaction that will change it, else empty.
    async fn doc_generation<C: GenericClient>(&self, c: &C, lock: &str) -> Result<i64, StoreError> {
        let sql = format!("SELECT value FROM meta WHERE key = 'documents_generation'{lock}");
        rows(c, &sql, &[])
            .await
            .map_err(self.db())?
            .first()
            .ok_or_else(|| self.corrupt("no documents generation".to_string()))?
            .try_get(0)
            .map_err(self.db())
    }

    /// The items the source with row id `source` holds.
    async fn known_items<C: GenericClient>(&self, c: &C, source: i64) -> Result<Known, StoreError> {
        let db = self.db();
        let sql = "SELECT upstream_id, id, fingerprint FROM items WHERE source = $1";
        let mut known = Known::default();
        for row in rows(c, sql, &[&source]).await.map_err(&db)? {
            let id: String = row.try_get(0).map_err(&db)?;
            known.insert(
                id,
                row.try_get(1).map_err(&db)?,
                row.try_get(2).map_err(&db)?,
            );
        }
        Ok(known)
    }

    /// The documents the store holds: path -> (hash, modified).
    async fn stored_docs<C: GenericClient>(
        &self,
        c: &C,
    ) -> Result<HashMap<String, (i64, Option<i64>)>, StoreError> {
        let db = self.db();
        let mut stored = HashMap::new();
        for row in rows(c, "SELECT path, hash, modified FROM documents", &[])
            .await
            .map_err(&db)?
        {
            stored.insert(
                row.try_get(0).map_err(&db)?,
                (row.try_get(1).map_err(&db)?, row.try_get(2).map_err(&db)?),
            );
        }
        Ok(stored)
    }

    /// Write `changed` and delete every document not in `paths`; whether
    /// anything changed.
    async fn replace_docs<C: GenericClient>(
        &self,
        c: &C,
        changed: &DocColumns<'_>,
        paths: &[&str],
    ) -> Result<bool, StoreError> {
        let db = self.db();
        let written = !changed.path.is_empty();
        if written {
            exec(
                c,
                "INSERT INTO documents (path, body, hash, modified)
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::int8[], $4::int8[])
                 ON CONFLICT (path) DO UPDATE SET body = excluded.body,
                     hash = excluded.hash, modified = excluded.modified",
                &[
                    &changed.path,
                    &changed.body,
                    &changed.hash,
                    &changed.modified,
                ],
            )
            .await
            .map_err(&db)?;
        }
        let deleted = exec(
            c,
            "DELETE FROM documents WHERE NOT (path = ANY($1))",
            &[&paths],
        )
        .await
        .map_err(&db)?;
        Ok(written || deleted > 0)
    }

    /// Store the new documents generation and tell the listeners.
    async fn announce<C: GenericClient>(&self, c: &C, generation: i64) -> Result<(), StoreError> {
        let db = self.db();
        exec(
            c,
            "UPDATE meta SET value = $1 WHERE key = 'documents_generation'",
            &[&generation],
        )
        .await
        .map_err(&db)?;
        // Delivered to listeners when the transaction commits.
        exec(
            c,
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &generation.to_string()],
        )
        .await
        .map_err(&db)?;
        Ok(())
    }

    fn unknown(&self, key: &str) -> StoreError {
        StoreError::UnknownSource {
            store: self.store.clone(),
            key: key.to_string(),
        }
    }

    fn source_from_row(&self, row: &Row) -> Result<SourceState, StoreError> {
        codec::source_state(&Cols { row, store: self })
    }

    /// Run one `DELETE` of items in a transaction that bumps the generation
    /// when it deletes any; returns how many.
    fn delete_items(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<usize, StoreError> {
        let db = self.db();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(&db)?;
            let deleted = exec(&tx, sql, params).await.map_err(&db)?;
            if deleted > 0 {
                exec(&tx, BUMP_GENERATION, &[]).await.map_err(&db)?;
            }
            tx.commit().await.map_err(&db)?;
            Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
        })
    }

    /// One row of `ITEM_COLUMNS`: the source key, the item, its `last_seen`.
    fn item_from_row(&self, row: &Row) -> Result<(String, StoredItem, i64), StoreError> {
        let item = codec::stored_item(&Cols { row, store: self })?;
        let db = self.db();
        Ok((
            row.try_get(20).map_err(&db)?,
            item,
            row.try_get(21).map_err(&db)?,
        ))
    }

    fn query_items(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<(String, StoredItem, i64)>, StoreError> {
        let found = self.run(async {
            let client = self.client().await?;
            rows(&client, sql, params).await.map_err(self.db())
        })?;
        found.iter().map(|r| self.item_from_row(r)).collect()
    }

    /// Write `items` (the last of each id) into the existing source `key`,
    /// one transaction. `seen` gives each item's (first_seen, last_seen);
    /// with `restore` both are written as given, else only new rows take
    /// `first_seen`. Returns how many ids were new.
    fn write_items(
        &self,
        key: &str,
        items: &[&StoredItem],
        seen: &[(i64, i64)],
        restore: bool,
    ) -> Result<usize, StoreError> {
        let keep = last_of_each(items.iter().map(|i| i.entry.id.as_str()));
        let encoded: Vec<_> = keep.iter().map(|&i| (encode(items[i]), seen[i])).collect();
        let db = self.db();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(&db)?;
            let source: i64 = rows(
                &tx,
                "SELECT id FROM sources WHERE key = $1 FOR NO KEY UPDATE",
                &[&key],
            )
            .await
            .map_err(&db)?
            .first()
            .ok_or_else(|| self.unknown(key))?
            .try_get(0)
            .map_err(&db)?;
            let known = self.known_items(&tx, source).await?;
            let mut new = 0;
            let mut touched: Vec<i64> = Vec::new();
            let mut touched_at = 0;
            let mut columns = Columns::default();
            for (enc, (first, last)) in &encoded {
                match known.change(enc, restore) {
                    Change::Seen(row) => {
                        touched.push(row);
                        touched_at = *last;
                    }
                    Change::Changed(_) => columns.push(enc, *first, *last),
                    Change::New => {
                        new += 1;
                        columns.push(enc, *first, *last);
                    }
                }
            }
            if !touched.is_empty() {
                exec(
                    &tx,
                    "UPDATE items SET last_seen = $2 WHERE id = ANY($1)",
                    &[&touched, &touched_at],
                )
                .await
                .map_err(&db)?;
            }
            if !columns.is_empty() {
                let sql = upsert_sql(restore);
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&source];
                params.extend(columns.params());
                exec(&tx, &sql, &params).await.map_err(&db)?;
                // Last, so that other writers wait on the counter briefly.
                exec(&tx, BUMP_GENERATION, &[]).await.map_err(&db)?;
            }
            tx.commit().await.map_err(&db)?;
            Ok(new)
        })
    }
}

impl Store for PgStore {
    fn ensure_source(&mut self, key: &str, name: &str) -> Result<SourceState, StoreError> {
        self.run(async {
            let client = self.client().await?;
            exec(
                &client,
                "INSERT INTO sources (key, name, url) VALUES ($1, $2, $1)
                 ON CONFLICT (key) DO UPDATE SET name = excluded.name",
                &[&key, &name],
            )
            .await
            .map_err(self.db())
        })?;
        self.source(key)?.ok_or_else(|| self.unknown(key))
    }

    fn source(&self, key: &str) -> Result<Option<SourceState>, StoreError> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE key = $1");
        let found = self.run(async {
            let client = self.client().await?;
            rows(&client, &sql, &[&key]).await.map_err(self.db())
        })?;
        found.first().map(|r| self.source_from_row(r)).transpose()
    }

    fn sources(&self) -> Result<Vec<SourceState>, StoreError> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY key");
        let found = self.run(async {
            let client = self.client().await?;
            rows(&client, &sql, &[]).await.map_err(self.db())
        })?;
        found.iter().map(|r| self.source_from_row(r)).collect()
    }

    fn save_source(&mut self, s: &SourceState) -> Result<(), StoreError> {
        let last_fetch = opt_nanos(&self.store, "last_fetch", s.last_fetch)?;
        let last_success = opt_nanos(&self.store, "last_success", s.last_success)?;
        let next_due = opt_nanos(&self.store, "next_due", s.next_due)?;
        let failures = i64::from(s.consecutive_failures);
        // An error message may quote upstream bytes; PostgreSQL text holds no NUL.
        let last_error = s.last_error.as_deref().map(|e| e.replace('\0', ""));
        self.run(async {
            let client = self.client().await?;
            exec(
                &client,
                "INSERT INTO sources (key, name, url, etag, last_modified, last_fetch,
                     last_success, last_error, consecutive_failures, next_due,
                     min_interval_secs, disabled)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (key) DO UPDATE SET name = excluded.name, url = excluded.url,
                     etag = excluded.etag, last_modified = excluded.last_modified,
                     last_fetch = excluded.last_fetch, last_success = excluded.last_success,
                     last_error = excluded.last_error,
                     consecutive_failures = excluded.consecutive_failures,
                     next_due = excluded.next_due, min_interval_secs = excluded.min_interval_secs,
                     disabled = excluded.disabled",
                &[
                    &s.key,
                    &s.name,
                    &s.url,
                    &s.etag,
                    &s.last_modified,
                    &last_fetch,
                    &last_success,
                    &last_error,
                    &failures,
                    &next_due,
                    &s.min_interval_secs,
                    &s.disabled,
                ],
            )
            .await
            .map_err(self.db())
        })?;
        Ok(())
    }

    fn put_items(
        &mut self,
        key: &str,
        items: &[StoredItem],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = nanos(&self.store, "now", now)?;
        let refs: Vec<&StoredItem> = items.iter().collect();
        self.write_items(key, &refs, &vec![(now, now); items.len()], false)
    }

    fn items(&self, key: &str) -> Result<Vec<StoredItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE s.key = $1 ORDER BY {ITEM_ORDER}"
        );
        Ok(self
            .query_items(&sql, &[&key])?
            .into_iter()
            .map(|(_, item, _)| item)
            .collect())
    }

    fn recent_items(&self, key: &str, limit: usize) -> Result<Vec<StoredItem>, StoreError> {
        // The source's id as a scalar, not a join on its key: the planner
        // then walks `items_by_date` for that source and stops after
        // `limit` rows, instead of sorting every item of the source.
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM}
             WHERE i.source = (SELECT id FROM sources WHERE key = $1)
             ORDER BY {ITEM_ORDER} LIMIT $2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .query_items(&sql, &[&key, &limit])?
            .into_iter()
            .map(|(_, item, _)| item)
            .collect())
    }

    fn item(&self, key: &str, id: &str) -> Result<Option<StoredItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE s.key = $1 AND i.upstream_id = $2"
        );
        Ok(self
            .query_items(&sql, &[&key, &id])?
            .into_iter()
            .next()
            .map(|(_, item, _)| item))
    }

    fn items_all(&self) -> Result<Vec<(String, StoredItem)>, StoreError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} ORDER BY s.key, {ITEM_ORDER}");
        Ok(self
            .query_items(&sql, &[])?
            .into_iter()
            .map(|(key, item, _)| (key, item))
            .collect())
    }

    fn generation(&self) -> Result<u64, StoreError> {
        let (id, generation): (i64, i64) = self.run(async {
            let client = self.client().await?;
            let found = rows(
                &client,
                "SELECT (SELECT value FROM meta WHERE key = 'store_id'),
                        (SELECT value FROM meta WHERE key = 'generation')",
                &[],
            )
            .await
            .map_err(self.db())?;
            let row = found
                .first()
                .ok_or_else(|| self.corrupt("no generation".to_string()))?;
            Ok((
                row.try_get(0).map_err(self.db())?,
                row.try_get(1).map_err(self.db())?,
            ))
        })?;
        Ok((id as u64).rotate_left(32) ^ generation as u64)
    }

    fn prune(&mut self, key: &str, older_than: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = nanos(&self.store, "older_than", older_than)?;
        let (secs, subsec, _) = date_parts(&older_than.fixed_offset());
        let subsec = i64::from(subsec);
        self.delete_items(
            "DELETE FROM items i USING sources s
             WHERE i.source = s.id AND s.key = $1
               AND i.last_seen < (SELECT max(last_seen) FROM items WHERE source = s.id)
               AND i.first_seen < $2
               AND (i.published_s < $3 OR (i.published_s = $3 AND i.published_ns < $4))",
            &[&key, &cutoff, &secs, &subsec],
        )
    }

    fn keep_newest(&mut self, key: &str, keep: usize) -> Result<usize, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.delete_items(
            "DELETE FROM items WHERE id IN (
                 SELECT i.id FROM items i JOIN sources s ON i.source = s.id
                 WHERE s.key = $1
                   AND i.last_seen < (SELECT max(last_seen) FROM items WHERE source = s.id)
                   AND i.id IN (SELECT i2.id FROM items i2 WHERE i2.source = s.id
                                ORDER BY i2.published_s DESC, i2.published_ns DESC,
                                         i2.first_seen DESC, i2.upstream_id
                                OFFSET $2))",
            &[&key, &keep],
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
        let now = nanos(&self.store, "now", now)?;
        let forced_since = opt_nanos(&self.store, "forced_since", forced_since)?;
        let until = nanos(&self.store, "until", until)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if keys.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let found = self.run(async {
            let client = self.client().await?;
            rows(
                &client,
                "UPDATE sources SET lease_holder = $1, lease_until = $2
                 WHERE id IN (
                     SELECT id FROM sources
                     WHERE key = ANY($3)
                       AND (disabled IS NULL OR (left(disabled, 8) = '410 Gone'
                                                 AND next_due IS NOT NULL AND next_due <= $5))
                       AND (CASE WHEN $4::int8 IS NULL
                                 THEN next_due IS NULL OR next_due <= $5
                                 ELSE last_fetch IS NULL OR last_fetch < $4 END)
                       AND (lease_until IS NULL OR lease_until <= $5 OR lease_holder = $1)
                     ORDER BY next_due NULLS FIRST, key
                     LIMIT $6
                     FOR UPDATE SKIP LOCKED)
                 RETURNING key, next_due",
                &[&holder, &until, &keys, &forced_since, &now, &limit],
            )
            .await
            .map_err(self.db())
        })?;
        let mut leased = found
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, Option<i64>>(1).map_err(self.db())?,
                    r.try_get::<_, String>(0).map_err(self.db())?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Most overdue first: never due (None) before any time, then by key.
        leased.sort();
        Ok(leased.into_iter().map(|(_, key)| key).collect())
    }

    fn renew(
        &mut self,
        keys: &[String],
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let until = nanos(&self.store, "until", until)?;
        let renewed = self.run(async {
            let client = self.client().await?;
            exec(
                &client,
                "UPDATE sources SET lease_until = $3 WHERE key = ANY($1) AND lease_holder = $2",
                &[&keys, &holder, &until],
            )
            .await
            .map_err(self.db())
        })?;
        Ok(usize::try_from(renewed).unwrap_or(usize::MAX))
    }

    fn release(&mut self, keys: &[String], holder: &str) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            exec(
                &client,
                "UPDATE sources SET lease_holder = NULL, lease_until = NULL
                 WHERE key = ANY($1) AND lease_holder = $2",
                &[&keys, &holder],
            )
            .await
            .map_err(self.db())
        })?;
        Ok(())
    }

    fn lease_holders(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let now = nanos(&self.store, "now", now)?;
        let found = self.run(async {
            let client = self.client().await?;
            rows(
                &client,
                "SELECT DISTINCT lease_holder FROM sources
                 WHERE lease_holder IS NOT NULL AND lease_until > $1 ORDER BY 1",
                &[&now],
            )
            .await
            .map_err(self.db())
        })?;
        found
            .iter()
            .map(|r| r.try_get(0).map_err(self.db()))
            .collect()
    }

    fn break_leases(&mut self, holder: &str) -> Result<usize, StoreError> {
        let broken = self.run(async {
            let client = self.client().await?;
            exec(
                &client,
                "UPDATE sources SET lease_holder = NULL, lease_until = NULL
                 WHERE lease_holder = $1",
                &[&holder],
            )
            .await
            .map_err(self.db())
        })?;
        Ok(usize::try_from(broken).unwrap_or(usize::MAX))
    }

    fn rename_item(&mut self, key: &str, old_id: &str, new_id: &str) -> Result<bool, StoreError> {
        let db = self.db();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(&db)?;
            let renamed = exec(
                &tx,
                "UPDATE items i SET upstream_id = $3 FROM sources s
                 WHERE i.source = s.id AND s.key = $1 AND i.upstream_id = $2
                   AND NOT EXISTS (SELECT 1 FROM items o
                                   WHERE o.source = s.id AND o.upstream_id = $3)",
                &[&key, &old_id, &new_id],
            )
            .await
            .map_err(&db)?;
            if renamed > 0 {
                exec(&tx, BUMP_GENERATION, &[]).await.map_err(&db)?;
            }
            tx.commit().await.map_err(&db)?;
            Ok(renamed > 0)
        })
    }

    fn dump_items(&self, key: &str) -> Result<Vec<ItemRecord>, StoreError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE s.key = $1");
        Ok(self
            .query_items(&sql, &[&key])?
            .into_iter()
            .map(|(_, item, last_seen)| ItemRecord {
                item,
                last_seen: DateTime::from_timestamp_nanos(last_seen),
            })
            .collect())
    }

    fn restore_items(&mut self, key: &str, items: &[ItemRecord]) -> Result<(), StoreError> {
        let seen = items
            .iter()
            .map(|r| {
                Ok((
                    nanos(&self.store, "first_seen", r.item.first_seen)?,
                    nanos(&self.store, "last_seen", r.last_seen)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let refs: Vec<&StoredItem> = items.iter().map(|r| &r.item).collect();
        self.write_items(key, &refs, &seen, true)?;
        Ok(())
    }

    fn shared(&mut self) -> Option<&mut dyn SharedStore> {
        Some(self)
    }
}

/// Open a LISTEN connection whose notifications go to `notify`; returns
/// the client (keep it: dropping it closes the connection) and the task
/// that reads the connection, which ends when the connection is lost.
async fn listen_once(
    connector: &Connector,
    notify: mpsc::Sender<()>,
) -> Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    let (client, mut poll) = connector.connect().await?;
    let reader = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| poll(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    // The receiving thread lives as long as the process.
                    let _ = notify.send(());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("PostgreSQL LISTEN connection lost: {e}");
                    break;
                }
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        reader.abort();
        return Err(e);
    }
    Ok((client, reader))
}

impl SharedStore for PgStore {
    fn build_lock(&mut self) -> Result<BuildLock, StoreError> {
        self.run(async {
            let client = self.dedicated().await?;
            client
                .batch_execute(&format!("SELECT pg_advisory_lock({BUILD_LOCK})"))
                .await
                .map_err(self.db())?;
            Ok(BuildLock { _client: client })
        })
    }

    fn publish(&mut self, docs: &[SharedDoc]) -> Result<u64, StoreError> {
        let keep = last_of_each(docs.iter().map(|d| d.path.as_str()));
        let mut paths: Vec<&str> = Vec::with_capacity(keep.len());
        let mut rows_in: Vec<(&SharedDoc, i64, Option<i64>)> = Vec::with_capacity(keep.len());
        for &i in &keep {
            let d = &docs[i];
            let modified = opt_nanos(&self.store, "modified", d.modified)?;
            paths.push(&d.path);
            rows_in.push((d, xxh3_64(&d.body) as i64, modified));
        }
        let db = self.db();
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(&db)?;
            let mut generation = self.doc_generation(&tx, " FOR UPDATE").await?;
            let stored = self.stored_docs(&tx).await?;
            let changed = DocColumns::changed(&rows_in, &stored);
            if self.replace_docs(&tx, &changed, &paths).await? {
                generation += 1;
                self.announce(&tx, generation).await?;
            }
            tx.commit().await.map_err(&db)?;
            Ok(u64::try_from(generation).unwrap_or(0))
        })
    }

    fn documents_generation(&mut self) -> Result<u64, StoreError> {
        let generation = self.run(async {
            let client = self.client().await?;
            self.doc_generation(&client, "").await
        })?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    fn documents(&mut self) -> Result<(u64, Vec<SharedDoc>), StoreError> {
        let db = self.db();
        let (generation, found) = self.run(async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(&db)?;
            let generation = self.doc_generation(&tx, "").await?;
            let found = rows(
                &tx,
                "SELECT path, body, modified FROM documents ORDER BY path",
                &[],
            )
            .await
            .map_err(&db)?;
            tx.commit().await.map_err(&db)?;
            Ok((generation, found))
        })?;
        let docs = found
            .iter()
            .map(|r| {
                Ok(SharedDoc {
                    path: r.try_get(0).map_err(&db)?,
                    body: r.try_get(1).map_err(&db)?,
                    modified: r
                        .try_get::<_, Option<i64>>(2)
                        .map_err(&db)?
                        .map(DateTime::from_timestamp_nanos),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((u64::try_from(generation).unwrap_or(0), docs))
    }

    fn listen(&mut self, on_publish: Box<dyn Fn() + Send + Sync>) -> Result<(), StoreError> {
        // Callbacks run on a thread of their own: a slow one never holds up
        // the runtime, and one that panics does not stop the next.
        let (notify, notified) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("tributary-pg-listen".to_string())
            .spawn(move || {
                while notified.recv().is_ok() {
                    let call = std::panic::AssertUnwindSafe(&on_publish);
                    if std::panic::catch_unwind(call).is_err() {
                        tracing::error!("a document listener panicked");
                    }
                }
            })
            .map_err(|e| message(&self.store, format!("cannot start a listener thread: {e}")))?;
        // The first LISTEN runs now: once `listen` returns, no publish is missed.
        let first = self.run(async {
            listen_once(&self.connector, notify.clone())
                .await
                .map_err(|e| connect_error(&self.store, &self.endpoint, &Causes(&e)))
        })?;
        let connector = self.connector.clone();
        let store = self.store.clone();
        self.rt.spawn(async move {
            let mut current = Some(first);
            loop {
                if let Some((client, reader)) = current.take() {
                    let _ = reader.await;
                    drop(client);
                }
                let mut delay = Duration::from_secs(1);
                loop {
                    tokio::time::sleep(delay).await;
                    match listen_once(&connector, notify.clone()).await {
                        Ok(listening) => {
                            current = Some(listening);
                            tracing::info!("store {store}: listening for publishes again");
                            // A publish may have happened while disconnected.
                            let _ = notify.send(());
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(
                                "store {store}: cannot listen for publishes ({e}); \
                                 retrying in {} s",
                                delay.as_secs()
                            );
                            delay = (delay * 2).min(MAX_BACKOFF);
                        }
                    }
                }
            }
        });
        Ok(())
    }

    fn ledger(&mut self) -> Result<Option<String>, StoreError> {
        let found = self.run(async {
            let client = self.client().await?;
            rows(&client, "SELECT text FROM ledger", &[])
                .await
                .map_err(self.db())
        })?;
        found
            .first()
            .map(|r| r.try_get(0).map_err(self.db()))
            .transpose()
    }

    fn save_ledger(&mut self, text: &str) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            exec(
                &client,
                "INSERT INTO ledger (one, text) VALUES (TRUE, $1)
                 ON CONFLICT (one) DO UPDATE SET text = excluded.text",
                &[&text],
            )
            .await
            .map_err(self.db())
        })?;
        Ok(())
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.run(async {
            let answer = tokio::time::timeout(PING_TIMEOUT, async {
                let client = self.client().await?;
                client.simple_query("SELECT 1").await.map_err(self.db())
            })
            .await;
            match answer {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(message(
                    &self.store,
                    format!("no answer within {} s", PING_TIMEOUT.as_secs()),
                )),
            }
        })
    }
}

// WebSub hub subscriptions (`HubStore`), in a file of their own.
#[path = "websub_postgres.rs"]
mod websub;

// Subscriptions to upstream hubs (`PushStore`).
#[path = "push_postgres.rs"]
mod push;
