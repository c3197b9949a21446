//! A real PostgreSQL for tests: one server per test process (started on
//! first use from the installed binaries), a fresh database per test.
//!
//! - `TRIBUTARY_TEST_PG=postgres://USER@HOST:PORT/DB` uses that server
//!   instead (databases are created on it).
//! - Without PostgreSQL installed the tests print a skip note and pass,
//!   unless `TRIBUTARY_PG_REQUIRED=1` (CI), which makes it a failure.
//! - Run as root (CI containers), the server runs as the `postgres` user
//!   (initdb refuses root).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

const SKIPPED: &str = "skipped: PostgreSQL not installed (apt-get install postgresql)";

/// The server tests create databases on.
pub struct PgServer {
    /// `postgres://USER@HOST:PORT` (no database).
    base: url::Url,
    /// The CA that signed the server's TLS certificate (for 127.0.0.1), when
    /// this process started the server with TLS on.
    pub ca: Option<PathBuf>,
    /// How to stop and start it again, when this process started it.
    control: Option<Control>,
}

struct Control {
    root: bool,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    options: String,
}

impl PgServer {
    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        let mut u = self.base.clone();
        u.set_path(&format!("/{name}"));
        u.to_string()
    }
}

/// The one server of this test process; `None` (after a note) when
/// PostgreSQL is not installed.
pub fn server() -> Option<&'static PgServer> {
    static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("TRIBUTARY_TEST_PG") {
            let base = url::Url::parse(&url)
                .unwrap_or_else(|e| panic!("TRIBUTARY_TEST_PG={url:?} is not a URL: {e}"));
            return Some(PgServer {
                base,
                ca: None,
                control: None,
            });
        }
        let Some(bin) = find_binaries() else {
            if std::env::var("TRIBUTARY_PG_REQUIRED").as_deref() == Ok("1") {
                panic!("{SKIPPED}");
            }
            return None;
        };
        Some(start(&bin))
    });
    if found.is_none() {
        eprintln!("{SKIPPED}");
    }
    found.as_ref()
}

/// A new, empty database; its URL.
pub fn database() -> Option<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = server()?;
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    execute(
        &server.url("postgres"),
        &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"),
    );
    Some(server.url(&name))
}

/// Run `sql` (one or more statements) on the database at `url`.
#[track_caller]
pub fn execute(url: &str, sql: &str) {
    let sql = sql.to_string();
    with_client(url, move |client| async move {
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            // CREATE DATABASE cannot run inside the implicit transaction of a
            // multi-statement simple query: one statement at a time.
            client
                .batch_execute(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        }
    });
}

/// The first column of every row `sql` returns, as text.
#[track_caller]
pub fn query(url: &str, sql: &str) -> Vec<String> {
    let sql = sql.to_string();
    with_client(url, move |client| async move {
        let rows = client
            .simple_query(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some(r.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .collect()
    })
}

/// A PostgreSQL session advisory lock held by the test until dropped.
pub struct HeldLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Take `pg_advisory_lock(key)` on the database at `url` in a session of
/// its own and hold it until the guard is dropped.
pub fn hold_advisory_lock(url: &str, key: i64) -> HeldLock {
    let (taken_tx, taken_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let url = url.to_string();
    let thread = std::thread::spawn(move || {
        with_client(&url, move |client| async move {
            client
                .batch_execute(&format!("SELECT pg_advisory_lock({key})"))
                .await
                .unwrap_or_else(|e| panic!("advisory lock {key}: {e:?}"));
            let _ = taken_tx.send(());
            // Blocks this thread's runtime: the session only has to stay open.
            let _ = release_rx.recv();
        })
    });
    taken_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the advisory lock taken");
    HeldLock {
        release: Some(release_tx),
        thread: Some(thread),
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn with_client<T, F>(url: &str, work: impl FnOnce(std::sync::Arc<tokio_postgres::Client>) -> F) -> T
where
    F: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e:?}"));
        let driver = tokio::spawn(connection);
        let out = work(std::sync::Arc::new(client)).await;
        driver.abort();
        out
    })
}

/// A directory with `initdb`, `pg_ctl` and `postgres`: from PATH, else the
/// newest `/usr/lib/postgresql/*/bin`.
fn find_binaries() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_all(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// `bin/program args`, as the `postgres` user when we are root.
fn server_command(root: bool, bin: &Path, program: &str) -> Command {
    let exe = bin.join(program);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

#[track_caller]
fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A test CA and a server certificate for 127.0.0.1 it signed, made with
/// the `openssl` command in `dir/tls`; the CA's path, or `None` (and a note)
/// without `openssl`.
fn tls_files(dir: &Path, root: bool) -> Option<PathBuf> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).ok()?;
    let script = r#"set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout ca.key -out ca.pem -days 2 -subj "/CN=tributary test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out server.pem -days 2 -extfile ext.cnf
chmod 600 server.key
"#;
    let made = Command::new("sh")
        .args(["-c", script])
        .current_dir(&tls)
        .stdin(Stdio::null())
        .output();
    match made {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "note: no TLS on the test PostgreSQL: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Err(e) => {
            eprintln!("note: no TLS on the test PostgreSQL (openssl: {e})");
            return None;
        }
    }
    if root {
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:postgres"]).arg(&tls);
        run(chown, "chown the TLS files to postgres");
    }
    Some(tls.join("ca.pem"))
}

impl Control {
    fn start(&self) {
        let mut pg_ctl = server_command(self.root, &self.bin, "pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "-o", &self.options, "start"]);
        run(pg_ctl, "pg_ctl start");
    }

    fn stop(&self) {
        let mut pg_ctl = server_command(self.root, &self.bin, "pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "60", "-m", "fast", "stop"]);
        run(pg_ctl, "pg_ctl stop");
    }
}

impl PgServer {
    /// Stop the server (as an outage would); panics for one this process
    /// did not start.
    pub fn stop(&self) {
        self.control
            .as_ref()
            .expect("a server this process started")
            .stop();
    }

    /// Start it again after [`PgServer::stop`], on the same port.
    pub fn start_again(&self) {
        self.control
            .as_ref()
            .expect("a server this process started")
            .start();
    }
}

/// A server of the caller's own (not shared with other tests), for tests
/// that stop it; `None` as [`server`] says. Not with `TRIBUTARY_TEST_PG`.
pub fn private_server() -> Option<PgServer> {
    if std::env::var("TRIBUTARY_TEST_PG").is_ok() {
        eprintln!("skipped: a private PostgreSQL is not started with TRIBUTARY_TEST_PG set");
        return None;
    }
    let Some(bin) = find_binaries() else {
        if std::env::var("TRIBUTARY_PG_REQUIRED").as_deref() == Ok("1") {
            panic!("{SKIPPED}");
        }
        eprintln!("{SKIPPED}");
        return None;
    };
    Some(start(&bin))
}

fn start(bin: &Path) -> PgServer {
    let root = is_root();
    // Kept on disk: the watchdog removes it after the server stops.
    let dir = tempfile::Builder::new()
        .prefix("tributary-pg-")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    if root {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&dir);
        run(chown, "chown the test database directory to postgres");
    }
    let mut initdb = server_command(root, bin, "initdb");
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "tributary", "--no-sync", "-E", "UTF8"])
        .arg("--locale=C");
    run(initdb, "initdb");
    let port = free_port();
    let mut options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    // TLS on as well (plain connections still work), for the TLS tests.
    let ca = tls_files(&dir, root);
    if ca.is_some() {
        let tls = dir.join("tls");
        options.push_str(&format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            tls.join("server.pem").display(),
            tls.join("server.key").display()
        ));
    }
    let control = Control {
        root,
        bin: bin.to_path_buf(),
        data: data.clone(),
        log: dir.join("server.log"),
        options,
    };
    control.start();
    // Stop the server and remove its files once this test process is gone.
    let stop = format!(
        "{}{} -D '{}' stop -m immediate",
        if root { "runuser -u postgres -- " } else { "" },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    // Never waited for: it outlives this process, on purpose.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = PgServer {
        base: url::Url::parse(&format!("postgres://tributary@127.0.0.1:{port}")).unwrap(),
        ca,
        control: Some(control),
    };
    // pg_ctl -w waited until the server accepts connections.
    assert_eq!(query(&server.url("postgres"), "SELECT 1"), ["1"]);
    server
}
