//! `tributary serve` as a child process for tests: [`Daemon`] starts it on
//! 127.0.0.1:0 and kills it when dropped; [`http`] speaks plain HTTP/1.1 over
//! a raw socket (paths such as `/../x` are sent as written, compressed bodies
//! arrive as sent); every wait is bounded.

use crate::support::site::Site;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the daemon gets for its first build and to start listening
/// (generous: several test binaries compile and run on two cores).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A port free on 127.0.0.1 now (the kernel's choice, released at once):
/// for a daemon whose configuration must name its address before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running `tributary serve`; killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// `tributary -v -C ROOT serve --listen 127.0.0.1:0` with `cwd` as working
    /// directory; returns once it prints the address it listens on.
    pub fn start(root: &Path, cwd: &Path) -> Daemon {
        Daemon::start_with(root, cwd, |_| {})
    }

    /// [`Daemon::start`], with `configure` applied to the command first
    /// (limits, environment).
    pub fn start_with(root: &Path, cwd: &Path, configure: impl FnOnce(&mut Command)) -> Daemon {
        Daemon::launch(root, cwd, "127.0.0.1:0", configure)
    }

    /// Serve `site` on `127.0.0.1:port` (a site whose configuration names
    /// its own address: see [`free_port`]).
    pub fn serve_on(site: &Site, port: u16) -> Daemon {
        Daemon::launch(
            site.root(),
            site.cwd(),
            &format!("127.0.0.1:{port}"),
            |_| {},
        )
    }

    fn launch(
        root: &Path,
        cwd: &Path,
        listen: &str,
        configure: impl FnOnce(&mut Command),
    ) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary"));
        cmd.current_dir(cwd)
            .arg("-v")
            .arg("-C")
            .arg(root)
            .args(["serve", "--listen", listen])
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("start tributary serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("tributary: serving http://") {
                    let _ = tx.send(rest.trim_end_matches('/').to_string());
                }
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        // The guard exists before the first wait, so that a failed start
        // still kills the child.
        let mut daemon = Daemon {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                daemon.addr = addr
                    .parse()
                    .unwrap_or_else(|e| panic!("address {addr:?} in the serving line: {e}"));
            }
            Err(e) => panic!(
                "tributary serve did not print its address ({e}); stderr:\n{}",
                daemon.log()
            ),
        }
        daemon
    }

    /// Serve `site`.
    pub fn serve(site: &Site) -> Daemon {
        Daemon::start(site.root(), site.cwd())
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> Resp {
        http(self.addr, "GET", path, &[])
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        http(self.addr, method, path, headers)
    }

    /// Whether the daemon is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGTERM, then wait up to `limit`: the exit status (None if it did not
    /// exit in time) and how long it took.
    pub fn terminate(&mut self, limit: Duration) -> (Option<ExitStatus>, Duration) {
        let Some(child) = self.child.as_mut() else {
            return (None, Duration::ZERO);
        };
        let (status, took) = terminate(child, limit);
        if status.is_some() {
            self.child = None;
        }
        (status, took)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIGTERM to `child`, then wait up to `limit`: the exit status (None if it
/// did not exit in time) and how long it took.
pub fn terminate(child: &mut Child, limit: Duration) -> (Option<ExitStatus>, Duration) {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {pid} failed");
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return (Some(status), started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (None, started.elapsed())
}

/// An HTTP response as received.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// (status, body as text).
    pub fn status_text(&self) -> (u16, String) {
        (self.status, self.text())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The header `name`, or a panic naming the request's headers.
    #[track_caller]
    pub fn must(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// One request on its own connection (`Connection: close`); the target is
/// sent exactly as given.
pub fn http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {target}: read response: {e}"));
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {target}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

pub fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Poll `f` every 100 ms until it gives a value; panic with `what` (and the
/// last value it saw, for the message) after `limit`.
#[track_caller]
pub fn wait_for<T>(limit: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_showing(limit, what, &[], f)
}

/// [`wait_for`], showing the logs of `daemons` when it times out.
pub fn wait_showing<T>(
    limit: Duration,
    what: &str,
    daemons: &[&Daemon],
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if started.elapsed() > limit {
            let logs: Vec<String> = daemons
                .iter()
                .enumerate()
                .map(|(i, d)| format!("daemon {i} log:\n{}", d.log()))
                .collect();
            panic!(
                "timed out after {limit:?} waiting for {what}\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Copy the repository's example site (`tributary.yaml`, `feeds/`,
/// `content/`) into `dest`.
pub fn copy_example_site(dest: &Path) {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).unwrap();
            }
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dest).unwrap();
    std::fs::copy(repo.join("tributary.yaml"), dest.join("tributary.yaml")).unwrap();
    copy_dir(&repo.join("feeds"), &dest.join("feeds"));
    copy_dir(&repo.join("content"), &dest.join("content"));
}
