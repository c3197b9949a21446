//! A scriptable HTTP/1.1 server on 127.0.0.1 for tests: records requests, serves fixtures, stalls on demand.
//!
//! ```ignore
//! let server = TestServer::start();
//! server.route("/feed.xml", Response::ok("<rss/>").header("ETag", "\"v1\""));
//! let url = server.url("/feed.xml");
//! // ... fetch it ...
//! assert_eq!(server.requests_to("/feed.xml").len(), 1);
//! ```
//!
//! One request per connection (`Connection: close`), a thread per
//! connection, std only. Unknown paths get a 404. A route whose response has
//! an `ETag` or `Last-Modified` header answers 304 to a request whose
//! `If-None-Match` (or, without one, `If-Modified-Since`) equals it byte for
//! byte, as a real static server would. The server stops when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A scripted response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Wait this long before answering (to hold a connection open).
    pub delay: Option<Duration>,
    /// Send the status line and headers, then stall this long without a byte of body.
    pub stall: Option<Duration>,
    /// Send `Content-Length` (otherwise the body ends when the connection closes).
    pub content_length: bool,
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// This many bytes of a repeating pattern, written in chunks and never held in memory.
    Generated(u64),
}

impl Response {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            delay: None,
            stall: None,
            content_length: true,
        }
    }

    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Response {
        Response::status(200).body(body)
    }

    /// A redirect (`status` 301, 302, 307, 308...) to `location`.
    pub fn redirect(status: u16, location: &str) -> Response {
        Response::status(status).header("Location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = Body::Bytes(body.into());
        self
    }

    /// A generated body of `len` bytes (e.g. 50 MiB) streamed from a loop.
    pub fn generated(mut self, len: u64) -> Response {
        self.body = Body::Generated(len);
        self
    }

    pub fn delay(mut self, d: Duration) -> Response {
        self.delay = Some(d);
        self
    }

    pub fn stall(mut self, d: Duration) -> Response {
        self.stall = Some(d);
        self
    }

    pub fn without_content_length(mut self) -> Response {
        self.content_length = false;
        self
    }

    fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::Generated(n) => *n,
        }
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Response>>,
    requests: Mutex<Vec<Request>>,
    body_bytes: AtomicU64,
    active: AtomicUsize,
    max_active: AtomicUsize,
    stop: AtomicBool,
}

/// The server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler thread must not hide the test's own failure.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TestServer {
    /// Listen on 127.0.0.1 on a free port.
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        let st = state.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || handle(stream, &st));
            }
        });
        TestServer {
            addr,
            state,
            accept: Some(accept),
        }
    }

    /// Serve `response` at `path` (the full request target, or the path
    /// without its query); replaces an earlier route.
    pub fn route(&self, path: &str, response: Response) {
        lock(&self.state.routes).insert(path.to_string(), response);
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    /// The requests whose target was `path` (with or without the query).
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path || r.path.split('?').next() == Some(path))
            .collect()
    }

    /// Body bytes written to clients so far (accepted by the kernel).
    pub fn body_bytes_sent(&self) -> u64 {
        self.state.body_bytes.load(Ordering::SeqCst)
    }

    /// The most requests that were being answered at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Sleep up to `d`, returning early once the server stops.
fn nap(d: Duration, st: &State) {
    let end = Instant::now() + d;
    while Instant::now() < end && !st.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
}

/// Read up to the end of the request head.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn parse(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Request {
        method,
        path,
        headers,
        at: Instant::now(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// 304 when the request's validators match the route's, exactly.
fn not_modified(route: &Response, req: &Request) -> bool {
    match (req.header("If-None-Match"), route.header_value("ETag")) {
        (Some(sent), Some(etag)) => return sent == etag,
        (Some(_), None) => return false,
        _ => {}
    }
    matches!(
        (req.header("If-Modified-Since"), route.header_value("Last-Modified")),
        (Some(sent), Some(lm)) if sent == lm
    )
}

fn handle(mut stream: TcpStream, st: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some(req) = read_head(&mut stream).and_then(|h| parse(&h)) else {
        return;
    };
    let now = st.active.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_active.fetch_max(now, Ordering::SeqCst);
    let route = {
        let routes = lock(&st.routes);
        routes
            .get(&req.path)
            .or_else(|| req.path.split('?').next().and_then(|p| routes.get(p)))
            .cloned()
    };
    lock(&st.requests).push(req.clone());
    respond(&mut stream, st, &req, route);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn respond(stream: &mut TcpStream, st: &State, req: &Request, route: Option<Response>) {
    let mut r = route.unwrap_or_else(|| Response::status(404).body("not found"));
    if let Some(d) = r.delay {
        nap(d, st);
    }
    // A request is "active" until its answer starts: once the client can
    // have read the answer, it may send the next request, and counting the
    // old one a moment longer would report an overlap that never happened.
    st.active.fetch_sub(1, Ordering::SeqCst);
    if not_modified(&r, req) {
        r = Response {
            status: 304,
            headers: r
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"))
                .cloned()
                .collect(),
            body: Body::Bytes(Vec::new()),
            delay: None,
            stall: None,
            content_length: false,
        };
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (n, v) in &r.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if r.content_length {
        head.push_str(&format!("Content-Length: {}\r\n", r.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let _ = stream.flush();
    if let Some(d) = r.stall {
        nap(d, st);
        return;
    }
    if r.status == 304 || req.method == "HEAD" {
        return;
    }
    match &r.body {
        Body::Bytes(b) => {
            if stream.write_all(b).is_ok() {
                st.body_bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
            }
        }
        Body::Generated(len) => {
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
            let mut left = *len;
            while left > 0 && !st.stop.load(Ordering::SeqCst) {
                let n = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..n]).is_err() {
                    return;
                }
                st.body_bytes.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
        }
    }
}
