//! A WebSub subscriber's callback on 127.0.0.1 for tests of the hub:
//! it answers verifications of intent (echoing the challenge, or not, as
//! told), answers pushes with the status it is told, and keeps every
//! request (head and body). Plus [`post_form`], a form POST to the daemon,
//! and [`Script`], flask-websub's side of the interop tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::daemon::{parse_response, Resp};

/// One request the callback received.
#[derive(Debug, Clone)]
pub struct CallbackRequest {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl CallbackRequest {
    /// Every value of the header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    /// A query parameter of the target, decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, q) = self.target.split_once('?')?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The callback server; stops when dropped.
pub struct Callback {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<CallbackRequest>>>,
    echo: Arc<AtomicBool>,
    push_status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
}

impl Callback {
    /// Echoes challenges and answers pushes with 200.
    pub fn start() -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cb = Callback {
            addr,
            got: Arc::new(Mutex::new(Vec::new())),
            echo: Arc::new(AtomicBool::new(true)),
            push_status: Arc::new(AtomicU16::new(200)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (got, echo, status, stop) = (
            cb.got.clone(),
            cb.echo.clone(),
            cb.push_status.clone(),
            cb.stop.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(c) = conn else { continue };
                let (got, echo, status) = (got.clone(), echo.clone(), status.clone());
                std::thread::spawn(move || answer(c, &got, &echo, &status));
            }
        });
        cb
    }

    /// Whether verifications get their challenge back.
    pub fn set_echo(&self, echo: bool) {
        self.echo.store(echo, Ordering::SeqCst);
    }

    /// The status pushes are answered with.
    pub fn set_push_status(&self, status: u16) {
        self.push_status.store(status, Ordering::SeqCst);
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<CallbackRequest> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The verifications of intent (GETs) so far.
    pub fn verifications(&self) -> Vec<CallbackRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect()
    }

    /// The pushes (POSTs) so far.
    pub fn pushes(&self) -> Vec<CallbackRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn answer(
    mut c: TcpStream,
    got: &Mutex<Vec<CallbackRequest>>,
    echo: &AtomicBool,
    status: &AtomicU16,
) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(req) = read_request(&mut c) else {
        return;
    };
    let (code, body) = if req.method == "GET" {
        match req.query("hub.challenge") {
            Some(ch) if echo.load(Ordering::SeqCst) => (200, ch),
            _ => (200, "no".to_string()),
        }
    } else {
        (status.load(Ordering::SeqCst), String::new())
    };
    got.lock().unwrap_or_else(|e| e.into_inner()).push(req);
    let _ = c.write_all(
        format!(
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

fn read_request(c: &mut TcpStream) -> Option<CallbackRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(CallbackRequest {
        method,
        target,
        headers,
        body,
    })
}

/// POST `form` (already encoded) to `path` on `addr` as
/// `application/x-www-form-urlencoded`.
pub fn post_form(addr: SocketAddr, path: &str, form: &str) -> Resp {
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    post_bytes(addr, path, &headers, form.as_bytes())
}

/// A `POST` of `body` with `headers` (a hub's push, a form).
pub fn post_bytes(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).expect("send request");
    s.write_all(body).expect("send body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw).expect("an HTTP response")
}

/// A form, each value encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A flask-websub script of `tests/fixtures/websub/` running, killed when
/// dropped; its stdout lines are read as they come.
pub struct Script {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Script {
    /// `python3 tests/fixtures/websub/NAME ARGS...`; `None`, with the reason
    /// printed, where Python lacks flask-websub or Celery (`.ci/run`
    /// installs both).
    pub fn start(name: &str, args: &[&str]) -> Option<Script> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let installed = Command::new("python3")
            .args([
                "-c",
                "import flask_websub.hub, flask_websub.subscriber, celery",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("skipped: flask-websub or celery is not installed (pip install flask-websub celery)");
            return None;
        }
        let script = format!(
            "{}/tests/fixtures/websub/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        Some(Script { child, lines })
    }

    /// The next line, which must start with `want` (within a minute);
    /// `context` is shown when it does not.
    pub fn next(&self, want: &str, context: impl Fn() -> String) -> String {
        match self.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with(want) => line,
            Ok(line) => panic!("flask-websub said {line:?}, not {want}; {}", context()),
            Err(e) => panic!("no {want} from flask-websub ({e}); {}", context()),
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `HEX` of `sha256=HEX`: the HMAC-SHA256 of `body` under `secret`.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
