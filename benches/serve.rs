//! `tributary serve` against nginx on the same documents: a site with a
//! 100-entry feed, served by the real binary and by nginx (a static server
//! on the output dir) on loopback, each measured with `wrk`:
//!
//! - `200`: `GET /main.atom`, the whole document;
//! - `gzip`: the same with `Accept-Encoding: gzip`: tributary's compressed
//!   copy, and nginx's `gzip_static` serving those same bytes from
//!   `main.atom.gz` (written beside `main.atom` from tributary's answer);
//! - `304`: the same with `If-None-Match` set to that server's own ETag.
//!
//! Prints requests/s side by side, the three ratios from the same run, and
//! PASS/MISS against the target (tributary >= 1.0x nginx); never fails. Skips with a message when
//! `wrk` or `nginx` is missing (`apt-get install -y wrk nginx`).
//! Run with `cargo bench --bench serve`. Environment: `BENCH_SECONDS`
//! (default 10), `BENCH_CONNECTIONS` (default 64).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TARGET_RATIO: f64 = 1.0;
const ENTRIES: usize = 100;

/// A child process stopped (SIGTERM, then SIGKILL) when dropped.
struct Guard {
    child: Option<Child>,
    name: &'static str,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM first: nginx's master takes its workers down with it.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM: killed", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(name).is_file())
            || ["/usr/sbin", "/sbin"]
                .iter()
                .any(|d| Path::new(d).join(name).is_file())
    })
}

fn find(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .or_else(|| {
            ["/usr/sbin", "/sbin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The example-like site: the newsletter's config, one main feed of the
/// newest 100 posts (Atom, RSS, JSON Feed), 100 posts of ~2 KB.
fn write_site(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("content"))?;
    std::fs::create_dir_all(root.join("feeds"))?;
    std::fs::write(
        root.join("tributary.yaml"),
        "title: Last Week in Riverbed Development\n\
         description: What changed in the Riverbed project this week.\n\
         base_url: https://weekly.riverbed.example\n\
         language: en\n\
         author: { name: The Riverbed Weekly editors }\n\
         permalink: /:year/:year:month:day\n\
         timezone: UTC\n",
    )?;
    std::fs::write(
        root.join("feeds/main.yaml"),
        "title: Last Week in Riverbed Development\nlimit: 100\n",
    )?;
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 7).unwrap_or_default();
    for i in 0..ENTRIES {
        let day = start + chrono::Duration::weeks(i as i64);
        let mut body = String::new();
        for k in 0..6 {
            body.push_str(&format!(
                "## Section {k}\n\nIn week {i} the project merged [change {i}-{k}]\
                 (https://github.com/riverbed-example/riverbed/pull/{}) and reviewed \
                 several others; thanks to everyone who helped with triage, docs and \
                 release notes this cycle.\n\n",
                1000 + i * 10 + k
            ));
        }
        std::fs::write(
            root.join(format!("content/{day}-update.md")),
            format!(
                "---\ntitle: Week Ending {}\ndate: {day} 22:00:00 +0000\ntags: [releases]\n---\n{body}",
                day.format("%B %-d, %Y")
            ),
        )?;
    }
    Ok(())
}

/// A free loopback port (bound and released; nginx binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

/// A response: status, headers (names lowercased), body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One raw HTTP/1.1 GET.
fn get(addr: SocketAddr, path: &str, extra: &str) -> Option<Answer> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, raw.split_off(end + 4)))
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Wait until `addr` answers `path` with 200.
fn wait_ready(addr: SocketAddr, path: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if matches!(get(addr, path, ""), Some((200, _, _))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn start_tributary(root: &Path) -> Result<(Guard, SocketAddr), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("-q")
        .arg("-C")
        .arg(root)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start tributary: {e}"))?;
    let stderr = child.stderr.take();
    let guard = Guard {
        child: Some(child),
        name: "tributary",
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return };
        // Keep draining, so that the daemon never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("tributary: serving http://") {
                let _ = tx.send(a.trim_end_matches('/').to_string());
            } else {
                eprintln!("tributary: {line}");
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|e| format!("tributary serve did not start: {e}"))?;
    let addr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    Ok((guard, addr))
}

/// nginx as a careful operator runs it: Debian's `sendfile on;
/// tcp_nopush on;`, and keep-alive connections not closed every 1,000
/// requests (`keepalive_requests 100000`), so that wrk measures serving, not
/// reconnecting.
fn start_nginx(dir: &Path, output: &Path) -> Result<(Guard, SocketAddr), String> {
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes auto;\npid {pid};\nerror_log {err};\n\
             events {{}}\n\
             http {{\n  access_log off;\n  default_type application/octet-stream;\n\
             \x20 sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n\
             \x20 types {{ application/atom+xml atom; application/rss+xml rss; application/feed+json json; text/html html; }}\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    location / {{ etag on; gzip_static on; }}\n  }}\n}}\n",
            pid = dir.join("nginx.pid").display(),
            err = dir.join("nginx-error.log").display(),
            root = output.display(),
        ),
    )
    .map_err(|e| format!("write nginx.conf: {e}"))?;
    let child = Command::new(find("nginx"))
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start nginx: {e}"))?;
    let guard = Guard {
        child: Some(child),
        name: "nginx",
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if !wait_ready(addr, "/main.atom") {
        let log = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
        return Err(format!("nginx did not serve /main.atom on {addr}:\n{log}"));
    }
    Ok((guard, addr))
}

/// `wrk` requests/s and average latency for `url` (with an optional header).
fn wrk(url: &str, header: Option<&str>, secs: u64, conns: u64) -> Result<(f64, String), String> {
    let mut cmd = Command::new(find("wrk"));
    cmd.args(["-t2", &format!("-c{conns}"), &format!("-d{secs}s")]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().map_err(|e| format!("run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Some(l) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("errors"))
    {
        eprintln!("wrk {url}: {}", l.trim());
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let latency = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Latency"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    Ok((rps, latency))
}

fn main() {
    if let Err(e) = run() {
        println!("serve bench: {e}");
    }
}

fn run() -> Result<(), String> {
    for tool in ["wrk", "nginx"] {
        if !on_path(tool) {
            println!(
                "serve bench skipped: `{tool}` is not installed (apt-get install -y wrk nginx)"
            );
            return Ok(());
        }
    }
    let secs = env_num("BENCH_SECONDS", 10);
    let conns = env_num("BENCH_CONNECTIONS", 64);
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    // nginx's workers run as nobody: they must be able to read the output.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755));
    }
    let root = tmp.path().join("site");
    write_site(&root).map_err(|e| format!("write the site: {e}"))?;

    let (_tributary, t_addr) = start_tributary(&root)?;
    let output = root.join("public");
    let (_nginx, n_addr) = start_nginx(tmp.path(), &output)?;

    let path = "/main.atom";
    let (t_status, t_headers, t_body) = get(t_addr, path, "").ok_or("tributary does not answer")?;
    let (n_status, n_headers, n_body) = get(n_addr, path, "").ok_or("nginx does not answer")?;
    let t_len = t_body.len();
    if t_status != 200 || n_status != 200 || t_body != n_body {
        return Err(format!(
            "not the same document: tributary {t_status} {t_len} bytes, nginx {n_status} {} bytes",
            n_body.len()
        ));
    }
    // The gzip path: nginx serves tributary's own compressed bytes.
    let gzip = "Accept-Encoding: gzip";
    let (_, t_gz_headers, t_gz) =
        get(t_addr, path, &format!("{gzip}\r\n")).ok_or("tributary does not answer")?;
    if header(&t_gz_headers, "content-encoding") != Some("gzip") {
        return Err("tributary does not answer gzip to `Accept-Encoding: gzip`".into());
    }
    std::fs::write(output.join("main.atom.gz"), &t_gz)
        .map_err(|e| format!("write main.atom.gz: {e}"))?;
    let (_, n_gz_headers, n_gz) =
        get(n_addr, path, &format!("{gzip}\r\n")).ok_or("nginx does not answer")?;
    if header(&n_gz_headers, "content-encoding") != Some("gzip") || n_gz != t_gz {
        return Err(
            "nginx's gzip_static does not serve main.atom.gz (is the module built in?)".into(),
        );
    }
    let entries = std::fs::read_to_string(output.join("main.atom"))
        .map(|t| t.matches("<entry>").count())
        .unwrap_or(0);
    println!(
        "serve bench: {path}, {entries} entries, {t_len} bytes ({} gzipped); wrk -t2 -c{conns} -d{secs}s; {} cores",
        t_gz.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let t_etag = header(&t_headers, "etag")
        .ok_or("no ETag from tributary")?
        .to_string();
    let n_etag = header(&n_headers, "etag")
        .ok_or("no ETag from nginx")?
        .to_string();
    for (name, addr, etag) in [("tributary", t_addr, &t_etag), ("nginx", n_addr, &n_etag)] {
        let code = get(addr, path, &format!("If-None-Match: {etag}\r\n")).map(|r| r.0);
        if code != Some(304) {
            return Err(format!(
                "{name} answers {code:?}, not 304, to its own ETag {etag}"
            ));
        }
    }

    println!(
        "{:<6} {:>16} {:>16} {:>7}  {:>10} {:>10}  target",
        "path", "tributary req/s", "nginx req/s", "ratio", "trib lat", "nginx lat"
    );
    let mut all_pass = true;
    for (label, t_header, n_header) in [
        ("200", None, None),
        ("gzip", Some(gzip.to_string()), Some(gzip.to_string())),
        (
            "304",
            Some(format!("If-None-Match: {t_etag}")),
            Some(format!("If-None-Match: {n_etag}")),
        ),
    ] {
        let (t_rps, t_lat) = wrk(
            &format!("http://{t_addr}{path}"),
            t_header.as_deref(),
            secs,
            conns,
        )?;
        let (n_rps, n_lat) = wrk(
            &format!("http://{n_addr}{path}"),
            n_header.as_deref(),
            secs,
            conns,
        )?;
        let ratio = if n_rps > 0.0 { t_rps / n_rps } else { 0.0 };
        let pass = ratio >= TARGET_RATIO;
        all_pass &= pass;
        println!(
            "{label:<6} {t_rps:>16.0} {n_rps:>16.0} {ratio:>6.2}x  {t_lat:>10} {n_lat:>10}  {} (>= {TARGET_RATIO}x)",
            if pass { "PASS" } else { "MISS" }
        );
    }
    println!(
        "serve bench: {}",
        if all_pass {
            "PASS on all three paths"
        } else {
            "MISS (see above)"
        }
    );
    Ok(())
}
