//! Hostile input and faults end to end: the real binary against real servers
//! on loopback. Hostile upstreams sit next to a well-behaved one in the same
//! feed: each must fail alone with a reason a user can act on, and the good
//! source's items must still be published. Upstream HTML is checked in every
//! output format after parsing it back, and the address guard is checked
//! with the setting off.

use crate::support::daemon::Daemon;
use crate::support::feeds::{Entry, Feed};
use crate::support::site::{items, stream_site, summary, Run, Site, BASIC_CONFIG};
use crate::support::upstream_server::{Response, TestServer};
use chrono::{DateTime, Duration as Span, Utc};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

// ------------------------------------------------------------ helpers

fn xml(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

fn xml_attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// The well-behaved source every hostile test runs next to.
fn good_feed() -> String {
    Feed::new("Good", "urn:good")
        .entries([
            Entry::new(
                "tag:good.example,2026:1",
                "Good one",
                "https://good.example/1",
                "2026-01-05T10:00:00Z",
            )
            .summary("Fine."),
            Entry::new(
                "tag:good.example,2026:2",
                "Good two",
                "https://good.example/2",
                "2026-01-06T10:00:00Z",
            )
            .summary("Fine too."),
        ])
        .atom()
}

const GOOD_IDS: [&str; 2] = ["tag:good.example,2026:1", "tag:good.example,2026:2"];

/// A site whose `feeds/stream.yaml` draws from `upstreams` (url, name), with
/// `fetch: { FETCH }`.
fn site_with(fetch: &str, upstreams: &[(&str, &str)]) -> Site {
    stream_site(fetch, 400, upstreams)
}

/// `sources list` rows by source name.
#[track_caller]
fn rows(site: &Site) -> Vec<String> {
    let r = site.run(&["sources", "list"]);
    r.expect_success();
    r.stdout.lines().map(str::to_string).collect()
}

#[track_caller]
fn row<'a>(rows: &'a [String], name: &str) -> &'a str {
    rows.iter()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", rows.join("\n")))
}

/// Assert the source `name` is failing once and its error (`sources show`:
/// the table has only a short reason) says `why`.
#[track_caller]
fn assert_failing(site: &Site, rows: &[String], name: &str, why: &[&str]) {
    let r = row(rows, name);
    assert!(r.contains("failing (1x)"), "{name} not failing: {r}");
    let shown = site.run(&["sources", "show", name]);
    shown.expect_success();
    let error = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{name}: no error in:\n{}", shown.stdout));
    for w in why {
        assert!(error.contains(w), "{name}: error lacks {w:?}: {error}");
    }
}

fn ids(doc: &Value) -> Vec<String> {
    items(doc)
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

/// Build (every output validated) and check the good source is published.
#[track_caller]
fn build_has_good_items(site: &Site) -> Value {
    site.build_ok();
    let doc = site.json("stream.json");
    let got = ids(&doc);
    for id in GOOD_IDS {
        assert!(got.iter().any(|g| g == id), "{id} missing from {got:?}");
    }
    doc
}

/// Every file under `public/` as one string, for "never appears" checks.
fn all_output(site: &Site) -> String {
    site.public_files()
        .iter()
        .map(|f| String::from_utf8_lossy(&site.read_bytes(f)).into_owned())
        .collect()
}

/// `kB` of a `/proc/PID/status` field (`VmRSS`, `VmHWM`); `None` once gone.
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Run the binary like [`Site::run`], sampling its peak RSS (`VmHWM`, kB).
fn run_measured(site: &Site, args: &[&str]) -> (Run, u64) {
    let mut child = site
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tributary");
    let pid = child.id();
    // Drain the pipes meanwhile so that a chatty child never blocks.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut peak = 0;
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(kb) = proc_kb(pid, "VmHWM:") {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("tributary {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let run = Run {
        code: status.code(),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    };
    (run, peak)
}

/// `size` bytes of zeros, gzip-compressed: a few kB that expand past any cap.
fn gzip_bomb(size: u64) -> Vec<u8> {
    use flate2::{write::GzEncoder, Compression};
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; MIB as usize];
    for _ in 0..size / MIB {
        enc.write_all(&zeros).expect("gzip");
    }
    enc.finish().expect("gzip")
}

/// A server of its own that answers 200 and then sends one byte per second
/// (never finishing within any sane timeout). Stops when dropped.
struct Trickle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    accept: Option<JoinHandle<()>>,
}

impl Trickle {
    fn start() -> Trickle {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (st, se) = (stop.clone(), sent.clone());
        let accept = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(60);
            while !st.load(Ordering::SeqCst) && Instant::now() < end {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (st, se) = (st.clone(), se.clone());
                        std::thread::spawn(move || trickle(conn, &st, &se));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Trickle {
            addr,
            stop,
            sent,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/slow.atom", self.addr)
    }
}

fn trickle(mut conn: TcpStream, stop: &AtomicBool, sent: &AtomicU64) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = good_feed();
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if conn.write_all(resp.as_bytes()).is_err() {
        return;
    }
    // At most 30 bytes: the thread ends on its own even if nobody hangs up.
    for b in body.bytes().take(30) {
        if stop.load(Ordering::SeqCst) || conn.write_all(&[b]).is_err() {
            return;
        }
        let _ = conn.flush();
        sent.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(1));
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------ 1. hostile upstreams

#[test]
fn hostile_transports_fail_alone_and_the_good_source_is_published() {
    let server = TestServer::start();
    let trickle = Trickle::start();
    server.route("/good.atom", Response::ok(good_feed()));
    server.route(
        "/endless.atom",
        Response::ok("")
            .generated(u64::MAX)
            .without_content_length(),
    );
    let bomb = gzip_bomb(256 * MIB);
    assert!(bomb.len() < 512 * 1024, "bomb is {} bytes", bomb.len());
    server.route(
        "/bomb.atom",
        Response::ok(bomb)
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/atom+xml"),
    );
    // A single 50 MB attribute, sent without Content-Length so that only the
    // streaming cap can stop it.
    let mut big =
        b"<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title x=\"".to_vec();
    big.resize(big.len() + 50_000_000, b'A');
    big.extend_from_slice(b"\">Big</title></feed>");
    server.route("/bigattr.atom", Response::ok(big).without_content_length());
    server.route("/loop-a", Response::redirect(302, "/loop-b"));
    server.route("/loop-b", Response::redirect(302, "/loop-a"));
    server.route("/to-file", Response::redirect(302, "file:///etc/passwd"));
    server.route(
        "/to-ftp",
        Response::redirect(301, "ftp://ftp.example.org/feed.atom"),
    );
    server.route(
        "/page.atom",
        Response::ok(
            "<!DOCTYPE html><html><head><title>Hi</title></head><body><p>Welcome</p></body></html>",
        )
        .header("Content-Type", "text/html"),
    );
    let (slow, good) = (trickle.url(), server.url("/good.atom"));
    let hostile = [
        (server.url("/endless.atom"), "endless"),
        (slow, "trickle"),
        (server.url("/bomb.atom"), "bomb"),
        (server.url("/bigattr.atom"), "bigattr"),
        (server.url("/loop-a"), "loop"),
        (server.url("/to-file"), "tofile"),
        (server.url("/to-ftp"), "toftp"),
        (server.url("/page.atom"), "page"),
    ];
    let mut upstreams: Vec<(&str, &str)> = hostile.iter().map(|(u, n)| (u.as_str(), *n)).collect();
    upstreams.push((&good, "good"));
    let site = site_with(
        "allow_private_addresses: true, timeout: 2, max_body: 4194304, per_host: 16",
        &upstreams,
    );
    let start = Instant::now();
    let (r, peak_kb) = run_measured(&site, &["fetch"]);
    let took = start.elapsed();
    // Exit 1 is only for "every source failed".
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 1, not modified 0, failed 8, new items 2",
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(8), "fetch took {took:?}");
    // 256 MiB of zeros and a 50 MB attribute never sit in memory.
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} kB");
    eprintln!("hostile transports: fetch took {took:?}, peak RSS {peak_kb} kB");

    let rows = rows(&site);
    assert_failing(&site, &rows, "endless", &["larger than 4194304 bytes"]);
    assert_failing(
        &site,
        &rows,
        "trickle",
        &["timed out after 2 s (fetch.timeout)"],
    );
    assert_failing(&site, &rows, "bomb", &["larger than 4194304 bytes"]);
    assert_failing(&site, &rows, "bigattr", &["larger than 4194304 bytes"]);
    assert_failing(&site, &rows, "loop", &["more than 5 redirects"]);
    assert_failing(
        &site,
        &rows,
        "tofile",
        &[
            "file:///etc/passwd",
            "only http and https",
            "redirected from",
        ],
    );
    assert_failing(
        &site,
        &rows,
        "toftp",
        &["ftp://ftp.example.org/feed.atom", "only http and https"],
    );
    assert_failing(&site, &rows, "page", &["not a feed", "root element <html>"]);
    assert!(
        row(&rows, "good").contains(" ok "),
        "{}",
        row(&rows, "good")
    );
    // The loop was followed hop by hop up to the limit, not for ever.
    let hops = server.requests_to("/loop-a").len() + server.requests_to("/loop-b").len();
    assert_eq!(hops, 6, "{:?}", server.requests());
    assert!(trickle.sent.load(Ordering::SeqCst) <= 4);

    let doc = build_has_good_items(&site);
    assert_eq!(items(&doc).len(), 2, "{:?}", ids(&doc));
    let everything = all_output(&site);
    assert!(!everything.contains("root:"));
    assert!(!everything.contains("AAAAAAAA"));
}

#[test]
fn a_huge_attribute_within_the_cap_is_parsed_without_blowing_up() {
    let server = TestServer::start();
    server.route("/good.atom", Response::ok(good_feed()));
    // 50 MB in an attribute nobody reads, and the one item it carries.
    let mut big = b"<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Big</title><id>urn:big</id><updated>2026-01-04T00:00:00Z</updated><entry x=\"".to_vec();
    big.resize(big.len() + 50_000_000, b'A');
    big.extend_from_slice(
        b"\"><id>tag:big.example,2026:1</id><title>Carried</title><link href=\"https://big.example/1\"/><updated>2026-01-04T10:00:00Z</updated></entry></feed>",
    );
    server.route("/big.atom", Response::ok(big));
    let site = site_with(
        "allow_private_addresses: true, timeout: 20, max_body: 67108864",
        &[
            (&server.url("/big.atom"), "big"),
            (&server.url("/good.atom"), "good"),
        ],
    );
    let start = Instant::now();
    let (r, peak_kb) = run_measured(&site, &["fetch"]);
    let took = start.elapsed();
    r.expect_success();
    eprintln!("50 MB attribute: fetch took {took:?}, peak RSS {peak_kb} kB");
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 3"
    );
    // The body is held once or twice (bytes, text), not once per attribute copy.
    assert!(peak_kb < 400 * 1024, "peak RSS {peak_kb} kB");
    let doc = build_has_good_items(&site);
    assert!(ids(&doc).contains(&"tag:big.example,2026:1".to_string()));
    assert!(!all_output(&site).contains("AAAAAAAA"));
}

/// An Atom document from raw entry XML.
fn atom_doc(head: &str, entries: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{head}<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>T</title><id>urn:t</id><updated>2026-01-06T00:00:00Z</updated>{entries}</feed>\n"
    )
}

fn atom_entry(id: &str, title: &str, date: &str) -> String {
    Entry::new(
        id,
        title,
        &format!("https://x.example/{}", id.replace([':', ','], "-")),
        date,
    )
    .published(date)
    .summary("s")
    .atom()
}

#[test]
fn hostile_documents_are_read_safely_or_refused_with_a_reason() {
    let server = TestServer::start();
    server.route("/good.atom", Response::ok(good_feed()));
    let laughs = {
        let mut dtd = String::from("<!DOCTYPE feed [<!ENTITY lol \"lol\">");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            dtd.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">",
                format!("&{prev};").repeat(10)
            ));
        }
        dtd.push_str("]>\n");
        atom_doc(
            &dtd,
            "<entry><id>tag:laughs.example,2026:1</id><title>Laughs &lol9;</title>\
             <link href=\"https://laughs.example/1\"/><updated>2026-01-02T00:00:00Z</updated>\
             <content type=\"html\">&lol9;&lol9;</content></entry>",
        )
    };
    server.route("/laughs.atom", Response::ok(laughs));
    server.route(
        "/xxe.rss",
        Response::ok(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">\
             <!ENTITY % remote SYSTEM \"file:///etc/shadow\"> %remote;]>\n\
             <rss version=\"2.0\"><channel><title>XXE &xxe;</title><link>https://xxe.example/</link>\
             <description>&xxe;</description><item><guid>tag:xxe.example,2026:1</guid>\
             <title>Secret &xxe;</title><link>https://xxe.example/1</link>\
             <description>&xxe;</description><pubDate>Fri, 02 Jan 2026 00:00:00 +0000</pubDate>\
             </item></channel></rss>\n",
        ),
    );
    // Declared UTF-8; invalid UTF-8 bytes and control characters XML 1.0 forbids.
    let mut bad_utf8 = atom_doc("", "").into_bytes();
    let tail = bad_utf8.split_off(bad_utf8.len() - "</feed>\n".len());
    bad_utf8.extend_from_slice(b"<entry><id>tag:bytes.example,2026:1</id><title>Bad \xff\xfe bytes \x01\x0b here</title><link href=\"https://bytes.example/1\"/><updated>2026-01-02T00:00:00Z</updated><content type=\"html\">&lt;p&gt;caf\xe9 \xc3\x28 &#1;&#xFFFE;&lt;/p&gt;</content></entry>");
    bad_utf8.extend_from_slice(&tail);
    server.route("/bytes.atom", Response::ok(bad_utf8));
    // UTF-8 text declared as windows-1251 (the common lie).
    server.route(
        "/lie.atom",
        Response::ok(
            atom_doc(
                "",
                &atom_entry(
                    "tag:lie.example,2026:1",
                    "Привет, мир",
                    "2026-01-02T00:00:00Z",
                ),
            )
            .replace("encoding=\"utf-8\"", "encoding=\"windows-1251\""),
        )
        .header("Content-Type", "application/atom+xml; charset=iso-8859-1"),
    );
    // Real windows-1251 bytes declared as such.
    let cp_bytes = {
        let doc = atom_doc(
            "",
            &atom_entry(
                "tag:cp.example,2026:1",
                "Новости недели",
                "2026-01-02T00:00:00Z",
            ),
        )
        .replace("encoding=\"utf-8\"", "encoding=\"windows-1251\"");
        encoding_rs::WINDOWS_1251.encode(&doc).0.into_owned()
    };
    server.route("/cp1251.atom", Response::ok(cp_bytes));
    // Duplicate ids inside one feed.
    server.route(
        "/dups.atom",
        Response::ok(atom_doc(
            "",
            &[
                atom_entry(
                    "tag:dup.example,2026:1",
                    "Dup first",
                    "2026-01-02T00:00:00Z",
                ),
                atom_entry(
                    "tag:dup.example,2026:1",
                    "Dup second",
                    "2026-01-03T00:00:00Z",
                ),
                atom_entry(
                    "tag:dup.example,2026:2",
                    "Dup other",
                    "2026-01-02T00:00:00Z",
                ),
                atom_entry(
                    "tag:dup.example,2026:1",
                    "Dup third",
                    "2026-01-04T00:00:00Z",
                ),
            ]
            .concat(),
        )),
    );
    // Dates at and around the edges of plausibility.
    server.route(
        "/dates.atom",
        Response::ok(atom_doc(
            "",
            &[
                atom_entry(
                    "tag:dates.example,2026:epoch",
                    "Epoch",
                    "1970-01-01T00:00:00Z",
                ),
                atom_entry(
                    "tag:dates.example,2026:1970",
                    "Summer 1970",
                    "1970-06-15T12:00:00Z",
                ),
                atom_entry(
                    "tag:dates.example,2026:1969",
                    "Just before",
                    "1969-12-31T23:59:59Z",
                ),
                atom_entry(
                    "tag:dates.example,2026:2999",
                    "Far future",
                    "2999-12-31T23:59:59Z",
                ),
            ]
            .concat(),
        )),
    );
    let u = |p: &str| server.url(p);
    let site = site_with(
        "allow_private_addresses: true, timeout: 5",
        &[
            (&u("/laughs.atom"), "laughs"),
            (&u("/xxe.rss"), "xxe"),
            (&u("/bytes.atom"), "bytes"),
            (&u("/lie.atom"), "lie"),
            (&u("/cp1251.atom"), "cp1251"),
            (&u("/dups.atom"), "dups"),
            (&u("/dates.atom"), "dates"),
            (&u("/good.atom"), "good"),
        ],
    );
    let before = Utc::now() - Span::seconds(5);
    let start = Instant::now();
    let r = site.run(&["fetch"]);
    let took = start.elapsed();
    r.expect_success();
    assert!(took < Duration::from_secs(10), "fetch took {took:?}");
    let after = Utc::now() + Span::seconds(5);
    assert!(
        summary(&r).starts_with("fetched 8, not modified 0, failed 0, new items "),
        "{}",
        r.stderr
    );
    let doc = build_has_good_items(&site);
    let by_id = |id: &str| -> Value {
        items(&doc)
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no item {id} in {:?}", ids(&doc)))
    };
    let everything = all_output(&site);

    // Billion laughs: never expanded.
    assert!(by_id("tag:laughs.example,2026:1")["title"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Laughs"));
    assert!(!everything.contains("lollollol"), "entities were expanded");
    // XXE: the file is never read.
    assert!(by_id("tag:xxe.example,2026:1")["title"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Secret"));
    assert!(!everything.contains("root:"), "/etc/passwd leaked");
    // Invalid bytes: the item is kept, replacement characters instead of
    // bytes, and every document still valid XML 1.0 (build_ok validated them).
    let t = by_id("tag:bytes.example,2026:1");
    let title = t["title"].as_str().unwrap_or_default();
    assert!(
        title.starts_with("Bad ") && title.contains("here"),
        "{title:?}"
    );
    assert!(
        !title.contains('\u{1}') && !title.contains('\u{b}'),
        "{title:?}"
    );
    assert!(!everything.contains('\u{1}') && !everything.contains('\u{fffe}'));
    // A wrong declaration on UTF-8 text: read as UTF-8.
    assert_eq!(by_id("tag:lie.example,2026:1")["title"], "Привет, мир");
    // A right legacy declaration: decoded.
    assert_eq!(by_id("tag:cp.example,2026:1")["title"], "Новости недели");
    // Duplicate ids: one item per id.
    let dup_ids: Vec<String> = ids(&doc)
        .into_iter()
        .filter(|i| i.starts_with("tag:dup.example"))
        .collect();
    assert_eq!(dup_ids.len(), 2, "{dup_ids:?}");
    let rows = rows(&site);
    let dups = row(&rows, "dups");
    assert!(dups.contains(" 2 "), "dups stored: {dups}");
    // Dates: before 1970 and in the future become the time first seen;
    // 1970 itself is a plausible date and is kept.
    let date = |id: &str| {
        let v = by_id(id);
        DateTime::parse_from_rfc3339(v["date_published"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{id}: {e}"))
            .with_timezone(&Utc)
    };
    for id in ["tag:dates.example,2026:1969", "tag:dates.example,2026:2999"] {
        let d = date(id);
        assert!(d >= before && d <= after, "{id}: {d}");
    }
    assert_eq!(
        date("tag:dates.example,2026:1970").to_rfc3339(),
        "1970-06-15T12:00:00+00:00"
    );
    assert_eq!(
        date("tag:dates.example,2026:epoch").to_rfc3339(),
        "1970-01-01T00:00:00+00:00"
    );
    for r in &rows {
        if !r.starts_with("NAME") {
            assert!(r.contains(" ok "), "{r}");
        }
    }
}

#[test]
fn ten_thousand_items_are_all_stored_and_built() {
    let server = TestServer::start();
    server.route("/good.atom", Response::ok(good_feed()));
    let base = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("date");
    let rss = Feed::new("Many", "urn:many")
        .home("https://many.example/")
        .entries((0..10_000).map(|i| {
            let link = format!("https://many.example/{i}");
            Entry::new(&link, &format!("Item {i}"), &link, "")
                .published(&(base + Span::minutes(i)).to_rfc3339())
                .summary(&format!("Number {i}."))
        }))
        .rss();
    server.route("/many.rss", Response::ok(rss));
    let site = site_with(
        "allow_private_addresses: true, timeout: 20",
        &[
            (&server.url("/many.rss"), "many"),
            (&server.url("/good.atom"), "good"),
        ],
    );
    let start = Instant::now();
    let r = site.run(&["fetch"]);
    let fetch_took = start.elapsed();
    r.expect_success();
    assert_eq!(
        summary(&r),
        "fetched 2, not modified 0, failed 0, new items 10002"
    );
    let start = Instant::now();
    let doc = build_has_good_items(&site);
    let build_took = start.elapsed();
    eprintln!("10,000 items: fetch {fetch_took:?}, build {build_took:?}");
    assert_eq!(items(&doc).len(), 400);
    let rows = rows(&site);
    let many = row(&rows, "many");
    assert!(many.contains(" 10000 "), "{many}");
    assert!(
        build_took < Duration::from_secs(20),
        "build took {build_took:?}"
    );
}

// ------------------------------------------------ 1b. under `serve`

/// The value of `metric{source="NAME"}` in Prometheus text.
fn metric(text: &str, metric: &str, source: &str) -> Option<u64> {
    let prefix = format!("{metric}{{source=\"{source}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_daemon_survives_an_endless_body_and_a_gzip_bomb() {
    let server = TestServer::start();
    server.route("/good.atom", Response::ok(good_feed()));
    server.route(
        "/endless.atom",
        Response::ok("")
            .generated(u64::MAX)
            .without_content_length(),
    );
    server.route(
        "/bomb.atom",
        Response::ok(gzip_bomb(256 * MIB)).header("Content-Encoding", "gzip"),
    );
    let site = site_with(
        "allow_private_addresses: true, timeout: 3, max_body: 1048576",
        &[
            (&server.url("/endless.atom"), "endless"),
            (&server.url("/bomb.atom"), "bomb"),
            (&server.url("/good.atom"), "good"),
        ],
    );
    let mut daemon = Daemon::serve(&site);
    let pid = daemon.pid();
    let mut max_rss = 0;
    let end = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        if let Some(kb) = proc_kb(pid, "VmRSS:") {
            max_rss = max_rss.max(kb);
        }
        let (status, body) = daemon.get("/metrics").status_text();
        assert_eq!(status, 200, "{body}");
        let failing = |s| metric(&body, "tributary_source_consecutive_failures", s);
        if failing("endless").unwrap_or(0) >= 1
            && failing("bomb").unwrap_or(0) >= 1
            && metric(&body, "tributary_items_stored", "good") == Some(2)
        {
            break body;
        }
        assert!(Instant::now() < end, "no failures after 20 s:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        metric(&metrics, "tributary_source_consecutive_failures", "good"),
        Some(0),
        "{metrics}"
    );
    // Still up and serving after the fight; memory stayed small.
    for _ in 0..10 {
        if let Some(kb) = proc_kb(pid, "VmRSS:") {
            max_rss = max_rss.max(kb);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = proc_kb(pid, "VmHWM:").unwrap_or(max_rss);
    eprintln!("serve: max VmRSS sampled {max_rss} kB, VmHWM {peak} kB");
    assert!(peak < 200 * 1024, "VmHWM {peak} kB");
    let (status, health) = daemon.get("/healthz").status_text();
    assert_eq!(status, 200, "{health}");
    let (status, stream) = daemon.get("/stream.json").status_text();
    assert_eq!(status, 200);
    for id in GOOD_IDS {
        assert!(stream.contains(id), "{id} not served:\n{stream}");
    }
    assert!(daemon.running(), "the daemon exited");
}

// ------------------------------------------------ 2. sanitization

/// XSS vectors, each placed in a title, a summary and a content of every
/// upstream format.
const VECTORS: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" onerror=\"alert(1)\"",
    "<body onload=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math><mtext><table><mglyph><style><!--</style><img title=\"--&gt;&lt;img src=1 onerror=alert(1)&gt;\">",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<a href=\"javascript:alert(1)\">plain</a>",
    "<a href=\"&#106;avascript:alert(1)\">decimal</a>",
    "<a href=\"&#x6A;&#x61;vascript:alert(1)\">hex</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">mixed</a>",
    "<a href=\" javascript:alert(1)\">space</a>",
    "<a href=\"&#1;&#14; javascript:alert(1)\">controls</a>",
    "<a href=\"java&#9;script:alert(1)\">tab</a>",
    "<a href=\"javascript&colon;alert(1)\">colon</a>",
    "<a href=\"vbscript:msgbox(1)\">vb</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">data</a>",
    "<img src=\"data:image/svg+xml,&lt;svg onload=alert(1)&gt;\">",
    "<img srcset=\"javascript:alert(1) 1x, https://ok.example/a.png 2x\">",
    "<div style=\"width: expression(alert(1))\">css</div>",
    "<p style=\"background:url(javascript:alert(1))\">bg</p>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<iframe src=\"https://evil.example/\"></iframe>",
    "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\">",
    "<object data=\"https://evil.example/x.swf\"></object>",
    "<embed src=\"https://evil.example/x.swf\">",
    "<form action=\"javascript:alert(1)\"><input name=q><button formaction=\"javascript:alert(1)\">go</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<base href=\"javascript:alert(1)//\">",
    "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    "<video><source onerror=\"alert(1)\"></video>",
    "<details open ontoggle=alert(1)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<a href=\"https://ok.example/\" onclick=\"alert(1)\" onmouseover=alert(1)>ok</a>",
    "<p>unclosed <b>tags <i>everywhere",
];

/// Item links no reader may be handed; items carrying them are left out
/// (no http(s) link) or resolved to a harmless relative http(s) URL.
const LINKS: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "&#106;avascript:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "java\nscript:alert(1)",
    "\u{0}javascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
];

/// Item `n` of the upstream in format `f`: (id, title, link, html).
fn vector_item(f: &str, n: usize) -> (String, String, String, String) {
    let v = VECTORS[n];
    (
        format!("tag:{f}.example,2026:{n}"),
        format!("V{n}{f} {v}"),
        format!("https://ok.example/{f}/{n}"),
        format!("<p>Body V{n}{f}</p>{v}"),
    )
}

/// Link item `k` in format `f`: (id, title, link).
fn link_item(f: &str, k: usize) -> (String, String, String) {
    (
        format!("tag:{f}.example,2026:L{k}"),
        format!("L{k}{f} dangerous link"),
        format!("{}//{f}{k}", LINKS[k]),
    )
}

fn vector_date(n: usize) -> String {
    format!("2026-01-01T{:02}:{:02}:00Z", n / 60, n % 60)
}

fn vectors_atom() -> String {
    let mut entries = String::new();
    for (n, v) in VECTORS.iter().enumerate() {
        let (id, title, link, html) = vector_item("atom", n);
        let kind = if n % 2 == 0 { "html" } else { "text" };
        entries.push_str(&format!(
            "<entry><id>{}</id><title type=\"{kind}\">{}</title>\
             <link rel=\"alternate\" href=\"{}\"/><updated>{}</updated>\
             <summary type=\"html\">{}</summary><content type=\"html\">{}</content></entry>\n",
            xml(&id),
            xml(&title),
            xml_attr(&link),
            vector_date(n),
            xml(v),
            xml(&html)
        ));
    }
    for k in 0..LINKS.len() {
        let (id, title, link) = link_item("atom", k);
        entries.push_str(&format!(
            "<entry><id>{}</id><title>{}</title><link href=\"{}\"/>\
             <updated>2026-01-03T00:00:00Z</updated><summary>s</summary></entry>\n",
            xml(&id),
            xml(&title),
            xml_attr(&link).replace('\u{0}', "&#0;")
        ));
    }
    // XHTML content is markup in the document itself.
    entries.push_str(
        "<entry><id>tag:atom.example,2026:xhtml</id><title type=\"xhtml\">\
         <div xmlns=\"http://www.w3.org/1999/xhtml\">VXatom <script>alert(1)</script></div></title>\
         <link href=\"https://ok.example/xhtml\"/><updated>2026-01-02T00:00:00Z</updated>\
         <content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Body VXatom</p>\
         <script>alert(1)</script><a href=\"javascript:alert(1)\">x</a>\
         <img src=\"x\" onerror=\"alert(1)\"/><svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\
         </div></content></entry>\n",
    );
    atom_doc("", &entries)
}

fn vectors_rss() -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\
         <channel><title>R</title><link>https://rss.example/</link><description>d</description>\n",
    );
    for (n, v) in VECTORS.iter().enumerate() {
        let (id, title, link, html) = vector_item("rss", n);
        let date = DateTime::parse_from_rfc3339(&vector_date(n))
            .expect("date")
            .to_rfc2822();
        out.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><title><![CDATA[{title}]]></title>\
             <link>{}</link><pubDate>{date}</pubDate>\
             <description><![CDATA[{}]]></description>\
             <content:encoded><![CDATA[{html}]]></content:encoded></item>\n",
            xml(&id),
            xml(&link),
            v
        ));
    }
    for k in 0..LINKS.len() {
        let (_, title, link) = link_item("rss", k);
        // A permalink guid is a link too.
        out.push_str(&format!(
            "<item><guid isPermaLink=\"true\">{}</guid><title>{}</title><link>{}</link>\
             <pubDate>Sat, 03 Jan 2026 00:00:00 +0000</pubDate><description>s</description></item>\n",
            xml(&link).replace('\u{0}', "&#0;"),
            xml(&title),
            xml(&link).replace('\u{0}', "&#0;"),
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

fn vectors_json() -> String {
    let mut items = Vec::new();
    for (n, v) in VECTORS.iter().enumerate() {
        let (id, title, link, html) = vector_item("json", n);
        items.push(serde_json::json!({
            "id": id,
            "title": title,
            "url": link,
            "external_url": "\u{1}\u{1f} javascript:alert(1)",
            "summary": v,
            "content_html": format!("{html}<a href=\"\u{1}\u{1f} javascript:alert(1)\">raw controls</a>"),
            "date_published": vector_date(n),
        }));
    }
    for k in 0..LINKS.len() {
        let (id, title, link) = link_item("json", k);
        items.push(serde_json::json!({
            "id": id, "title": title, "url": link, "external_url": link,
            "content_text": "s", "date_published": "2026-01-03T00:00:00Z",
        }));
    }
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "home_page_url": "javascript:alert(1)",
        "items": items,
    })
    .to_string()
}

/// One start tag of an HTML document.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

/// The start tags of `html` as a browser's tokenizer sees them in the data
/// state (comments and doctypes skipped; attribute values entity-decoded).
fn start_tags(html: &str) -> Vec<Tag> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let s = i + off + 1;
        let rest = &html[s..];
        if rest.starts_with("!--") {
            match rest.find("-->") {
                Some(e) => i = s + e + 3,
                None => break,
            }
            continue;
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            i = s;
            continue;
        }
        let name_len = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        let mut j = s + name_len;
        let mut attrs = Vec::new();
        loop {
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                j += 1;
            }
            if j >= b.len() || b[j] == b'>' {
                break;
            }
            let start = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/')
            {
                j += 1;
            }
            let an = html[start..j].to_ascii_lowercase();
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut value = String::new();
            if j < b.len() && b[j] == b'=' {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let q = b[j] as char;
                    let end = html[j + 1..].find(q).map_or(b.len(), |e| j + 1 + e);
                    value = html[j + 1..end].to_string();
                    j = (end + 1).min(b.len());
                } else {
                    let end = html[j..]
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .map_or(b.len(), |e| j + e);
                    value = html[j..end].to_string();
                    j = end;
                }
            }
            if an.is_empty() {
                j += 1;
                continue;
            }
            attrs.push((an, decode_refs(&value)));
        }
        out.push(Tag { name, attrs });
        i = j.min(b.len());
    }
    out
}

/// Character references decoded as a browser does: numeric ones of any code
/// point (controls included, `;` optional), then named ones.
fn decode_refs(v: &str) -> String {
    let numeric = regex::Regex::new(r"(?i)&#(x[0-9a-f]+|[0-9]+);?").expect("regex");
    let v = numeric.replace_all(v, |c: &regex::Captures| {
        let n = &c[1];
        let code = match n.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => n.parse().ok(),
        };
        code.and_then(char::from_u32)
            .unwrap_or('\u{fffd}')
            .to_string()
    });
    html_escape::decode_html_entities(&v).into_owned()
}

/// A URL a browser would run or render as a document of its own.
fn dangerous_url(v: &str) -> bool {
    let decoded = decode_refs(v);
    // Browsers drop tabs and newlines anywhere, and C0 controls and spaces
    // around a URL.
    let cleaned: String = decoded
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let t = cleaned
        .trim_matches(|c: char| c <= ' ')
        .to_ascii_lowercase();
    ["javascript:", "vbscript:", "data:"]
        .iter()
        .any(|p| t.starts_with(p))
}

const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "poster",
    "background",
    "data",
    "cite",
    "longdesc",
    "lowsrc",
    "dynsrc",
];

const FORBIDDEN_TAGS: &[&str] = &[
    "script", "iframe", "object", "embed", "form", "meta", "base", "style", "frame", "frameset",
    "applet", "link", "input", "button", "noscript",
];

/// What is unsafe in one upstream HTML value (`what` names it in messages).
fn unsafe_html(what: &str, html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for t in start_tags(html) {
        if FORBIDDEN_TAGS.contains(&t.name.as_str()) {
            bad.push(format!("{what}: <{}> in {html:?}", t.name));
        }
        for (n, v) in &t.attrs {
            if n.starts_with("on") || n == "style" || n == "srcdoc" {
                bad.push(format!("{what}: attribute {n} on <{}> in {html:?}", t.name));
            }
            if URL_ATTRS.contains(&n.as_str()) && dangerous_url(v) {
                bad.push(format!("{what}: {n}={v:?} in {html:?}"));
            }
            if n == "srcset" && v.split(',').any(|c| dangerous_url(c.trim())) {
                bad.push(format!("{what}: srcset={v:?} in {html:?}"));
            }
        }
    }
    bad
}

/// Every string under a JSON key that names a URL or an image.
fn json_urls<'a>(v: &'a Value, key: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s)
            if key.ends_with("url")
                || key.contains("image")
                || key == "icon"
                || key == "favicon" =>
        {
            out.push((key.to_string(), s))
        }
        Value::Array(a) => a.iter().for_each(|x| json_urls(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| json_urls(x, k, out)),
        _ => {}
    }
}

/// Problems with the human page `stream.html`: nothing in it may run.
fn unsafe_page(page: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(body_at) = page.find("<body") else {
        return vec!["stream.html has no <body>".into()];
    };
    let (head, body) = page.split_at(body_at);
    // The head has the page's own inline CSS and a CSP <meta>; nothing else runs.
    for t in start_tags(head) {
        let refresh = t.name == "meta"
            && t.attrs
                .iter()
                .any(|(n, v)| n == "http-equiv" && v.eq_ignore_ascii_case("refresh"));
        if ["script", "iframe", "object", "embed", "form", "base"].contains(&t.name.as_str())
            || refresh
        {
            bad.push(format!("page head: <{}> {:?}", t.name, t.attrs));
        }
    }
    bad.extend(unsafe_html("page body", body));
    bad
}

/// Fetch `feeds` (path, body, content type) next to the good source, build,
/// and return the site.
fn fetch_and_build(server: &TestServer, feeds: &[(&str, String, &str)]) -> Site {
    server.route("/good.atom", Response::ok(good_feed()));
    let mut urls = Vec::new();
    for (path, body, ct) in feeds {
        server.route(path, Response::ok(body.clone()).header("Content-Type", ct));
        urls.push((
            server.url(path),
            path.trim_start_matches('/').replace('.', "-"),
        ));
    }
    let good = server.url("/good.atom");
    let mut upstreams: Vec<(&str, &str)> =
        urls.iter().map(|(u, n)| (u.as_str(), n.as_str())).collect();
    upstreams.push((&good, "good"));
    let site = site_with("allow_private_addresses: true, timeout: 5", &upstreams);
    let r = site.run(&["fetch"]);
    r.expect_success();
    let want = format!("fetched {}, not modified 0, failed 0,", feeds.len() + 1);
    assert!(summary(&r).starts_with(&want), "{}", r.stderr);
    build_has_good_items(&site);
    site
}

#[test]
fn upstream_html_is_safe_in_every_output_format() {
    let server = TestServer::start();
    let site = fetch_and_build(
        &server,
        &[
            ("/v.atom", vectors_atom(), "application/atom+xml"),
            ("/v.rss", vectors_rss(), "application/rss+xml"),
            ("/v.json", vectors_json(), "application/feed+json"),
        ],
    );
    let mut bad = Vec::new();
    // (format, title) of every entry.
    let mut titles: Vec<(&str, String)> = Vec::new();

    // Atom: titles are text constructs; html/xhtml values are checked as HTML.
    let atom = site.atom("stream.atom");
    for e in atom.entries() {
        let t = e.title();
        titles.push(("atom", t.value.clone()));
        if t.r#type != atom_syndication::TextType::Text {
            bad.push(format!("atom title {:?} is {:?}", t.value, t.r#type));
        }
        for l in e.links() {
            if dangerous_url(l.href()) {
                bad.push(format!("atom link {:?}", l.href()));
            }
        }
        if let Some(s) = e.summary() {
            if s.r#type != atom_syndication::TextType::Text {
                bad.extend(unsafe_html("atom summary", &s.value));
            }
        }
        if let Some(c) = e.content() {
            if c.content_type() != Some("text") {
                bad.extend(unsafe_html("atom content", c.value().unwrap_or_default()));
            }
            if c.src().is_some_and(dangerous_url) {
                bad.push(format!("atom content src {:?}", c.src()));
            }
        }
    }

    // RSS: description and content:encoded are HTML.
    let rss = site.rss("stream.rss");
    for i in rss.items() {
        titles.push(("rss", i.title().unwrap_or_default().to_string()));
        if i.link().is_some_and(dangerous_url) {
            bad.push(format!("rss link {:?}", i.link()));
        }
        if let Some(g) = i.guid().filter(|g| g.is_permalink()) {
            if dangerous_url(g.value()) {
                bad.push(format!("rss guid {:?}", g.value()));
            }
        }
        bad.extend(unsafe_html(
            "rss description",
            i.description().unwrap_or_default(),
        ));
        bad.extend(unsafe_html("rss content", i.content().unwrap_or_default()));
    }

    // JSON Feed: content_html is HTML; every URL field is checked, and item
    // URLs are http(s) (items without such a link are left out).
    let json = site.json("stream.json");
    let mut urls = Vec::new();
    json_urls(&json, "", &mut urls);
    for (k, u) in urls {
        if dangerous_url(u) {
            bad.push(format!("json {k}: {u:?}"));
        }
    }
    for i in items(&json) {
        titles.push(("json", i["title"].as_str().unwrap_or_default().into()));
        let url = i["url"].as_str().unwrap_or_default();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            bad.push(format!("json item url {url:?}"));
        }
        for k in ["content_html", "summary_html"] {
            if let Some(h) = i[k].as_str() {
                bad.extend(unsafe_html(&format!("json {k}"), h));
            }
        }
    }

    // The human page: nothing runs, titles are escaped text.
    let page = site.read("stream.html");
    bad.extend(unsafe_page(&page));
    let page_text = html_escape::decode_html_entities(&page).into_owned();

    // Every vector item reached every format (sanitizing did not just drop
    // it), with one plain-text title in all of them.
    let title_in = |format: &str, marker: &str| -> Option<String> {
        titles
            .iter()
            .find(|(f, t)| *f == format && (t == marker || t.starts_with(&format!("{marker} "))))
            .map(|(_, t)| t.clone())
    };
    for f in ["atom", "rss", "json"] {
        for n in 0..VECTORS.len() {
            let marker = format!("V{n}{f}");
            let t = title_in("json", &marker)
                .unwrap_or_else(|| panic!("{marker} missing from stream.json"));
            for format in ["atom", "rss"] {
                assert_eq!(
                    title_in(format, &marker).as_deref(),
                    Some(t.as_str()),
                    "{marker} in stream.{format}"
                );
            }
            // The page shows the newest entries only (the feed has them all).
            let on_page = titles
                .iter()
                .filter(|(f, _)| *f == "json")
                .take(tributary::app::build::PAGE_ENTRIES)
                .any(|(_, x)| *x == t);
            if on_page {
                assert!(page_text.contains(&t), "{t:?} not on stream.html as text");
            }
        }
    }
    assert!(
        title_in("json", "VXatom").is_some(),
        "the xhtml item is missing"
    );
    assert!(
        !page.contains("<iframe"),
        "a title became markup on the page"
    );
    assert!(
        bad.is_empty(),
        "{} problems:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn upstream_image_urls_are_only_http() {
    let server = TestServer::start();
    let bad_urls = [
        "javascript:alert(1)",
        "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
        "vbscript:msgbox(1)",
        " JaVaScRiPt:alert(1)",
    ];
    let json_items: Vec<Value> = bad_urls
        .iter()
        .enumerate()
        .map(|(k, u)| {
            serde_json::json!({
                "id": format!("tag:img.example,2026:j{k}"),
                "title": format!("Image j{k}"),
                "url": format!("https://img.example/j{k}"),
                "image": u, "banner_image": u,
                "content_text": "s", "date_published": "2026-01-03T00:00:00Z",
            })
        })
        .collect();
    let json = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1", "title": "J", "items": json_items,
    })
    .to_string();
    let mut rss = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\" \
         xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\"><channel><title>R</title>\
         <link>https://rss.example/</link><description>d</description>\n",
    );
    for (k, u) in bad_urls.iter().enumerate() {
        let u = xml_attr(u);
        let media = match k % 4 {
            0 => format!("<enclosure url=\"{u}\" type=\"image/png\" length=\"1\"/>"),
            1 => format!("<media:thumbnail url=\"{u}\"/>"),
            2 => format!("<media:content url=\"{u}\" medium=\"image\"/>"),
            _ => format!("<itunes:image href=\"{u}\"/>"),
        };
        rss.push_str(&format!(
            "<item><guid>tag:img.example,2026:r{k}</guid><title>Image r{k}</title>\
             <link>https://img.example/r{k}</link><pubDate>Sat, 03 Jan 2026 00:00:00 +0000</pubDate>\
             <description>s</description>{media}</item>\n"
        ));
    }
    rss.push_str("</channel></rss>\n");
    let site = fetch_and_build(
        &server,
        &[
            ("/img.json", json, "application/feed+json"),
            ("/img.rss", rss, "application/rss+xml"),
        ],
    );
    let doc = site.json("stream.json");
    let mut urls = Vec::new();
    json_urls(&doc, "", &mut urls);
    let bad: Vec<String> = urls
        .iter()
        .filter(|(_, u)| dangerous_url(u))
        .map(|(k, u)| format!("{k}: {u:?}"))
        .collect();
    assert_eq!(items(&doc).len(), 2 + 2 * bad_urls.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let mut page_bad = unsafe_page(&site.read("stream.html"));
    page_bad.retain(|p| !p.contains("https://"));
    assert!(page_bad.is_empty(), "{}", page_bad.join("\n"));
}

// ------------------------------------------------ 3. upstream addresses

#[test]
fn the_guard_names_the_range_it_refuses() {
    use tributary::fetch::guard::{check_host, classify, Blocked};
    let cases = [
        (
            "http://10.0.0.1/",
            Blocked::Private,
            "a private network address",
        ),
        (
            "http://192.168.1.1/",
            Blocked::Private,
            "a private network address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            Blocked::Metadata,
            "a cloud metadata service address",
        ),
        (
            "http://169.254.1.1/",
            Blocked::LinkLocal,
            "a link-local address",
        ),
        ("http://[::1]/", Blocked::Loopback, "a loopback address"),
        (
            "http://[::ffff:127.0.0.1]/",
            Blocked::Loopback,
            "a loopback address",
        ),
        ("http://[fd00::1]/", Blocked::UniqueLocal, "unique-local"),
        ("http://100.64.0.1/", Blocked::SharedCgnat, "100.64.0.0/10"),
        ("http://0x7f.1/", Blocked::Loopback, "a loopback address"),
    ];
    for (u, why, words) in cases {
        let url = url::Url::parse(u).expect("url");
        let host = url.host().expect("host");
        let refused = check_host(&host).expect_err(u);
        assert_eq!(refused.why, why, "{u}");
        assert_eq!(classify(refused.addr), Some(why), "{u}");
        let msg = refused.to_string();
        assert!(msg.contains(words), "{u}: {msg}");
        assert!(msg.contains("`fetch: { allow: ["), "{u}: {msg}");
    }
    for public in [
        "http://93.184.216.34/",
        "http://[2606:4700::1111]/",
        "http://example.org/",
    ] {
        let url = url::Url::parse(public).expect("url");
        assert!(check_host(&url.host().expect("host")).is_ok(), "{public}");
    }
}

#[test]
fn private_upstream_addresses_are_refused_before_any_request() {
    let server = TestServer::start();
    server.route("/a.atom", Response::ok(good_feed()));
    // An "allowed host" redirecting to a private address cannot be staged
    // here: every server of a test is on loopback, which the guard refuses at
    // the first hop (checked below). Each later hop goes through the same
    // check (`check_target` on every hop, the guarded resolver on every
    // connection), which the unit tests of fetch::guard cover.
    server.route("/hop", Response::redirect(302, "http://10.0.0.1/feed.atom"));
    let port = server.port();
    // [::1], if this machine has IPv6 loopback: a listener that must see no connection.
    let v6 = TcpListener::bind("[::1]:0").ok();
    if let Some(l) = &v6 {
        l.set_nonblocking(true).expect("nonblocking");
    }
    let v6_port = v6
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(port, |a| a.port());
    let cases = [
        (
            format!("http://localhost:{port}/a.atom"),
            "byname",
            "loopback",
        ),
        (
            format!("http://127.0.0.1:{port}/hop"),
            "redirector",
            "loopback",
        ),
        (
            format!("http://[::1]:{v6_port}/a.atom"),
            "v6loop",
            "loopback",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/a.atom"),
            "mapped",
            "loopback",
        ),
        (
            format!("http://2130706433:{port}/a.atom"),
            "decimal",
            "loopback",
        ),
        (
            format!("http://0.0.0.0:{port}/a.atom"),
            "zero",
            "unspecified",
        ),
    ];
    let site = Site::new(&format!("{BASIC_CONFIG}fetch: {{ timeout: 2 }}\n"));
    site.write("upstream/good.atom", good_feed());
    let mut feed = String::from("title: Stream\nupstreams:\n");
    for (url, name, _) in &cases {
        feed.push_str(&format!("  - url: \"{url}\"\n    name: \"{name}\"\n"));
    }
    feed.push_str("  - url: upstream/good.atom\n    name: good\n");
    site.feed("stream", &feed);
    let start = Instant::now();
    let r = site.run(&["fetch"]);
    r.expect_success();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        summary(&r),
        format!(
            "fetched 1, not modified 0, failed {}, new items 2",
            cases.len()
        )
    );
    let rows = rows(&site);
    for (_, name, why) in &cases {
        assert_failing(
            &site,
            &rows,
            name,
            &["refused to connect", why, "`fetch: { allow: ["],
        );
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    if let Some(l) = &v6 {
        assert!(l.accept().is_err(), "a connection reached [::1]");
    }
    build_has_good_items(&site);
}

#[test]
fn the_html_checks_catch_every_raw_vector() {
    // Each vector unsanitized must be caught, so that a clean output means
    // the sanitizer worked, not that the checks are blind.
    // Harmless raw too: a tokenizer reads `scr<script` as one tag name (the
    // vector is for filters that strip `<script>` once and re-join).
    let harmless = [
        "<p>unclosed <b>tags <i>everywhere",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
    ];
    for v in VECTORS.iter().filter(|v| !harmless.contains(v)) {
        assert!(!unsafe_html("raw", v).is_empty(), "not caught: {v}");
    }
    for l in LINKS.iter().filter(|l| !l.starts_with('&')) {
        assert!(dangerous_url(l), "not caught: {l:?}");
    }
    assert!(dangerous_url("&#106;avascript:alert(1)"));
    assert!(!dangerous_url("https://ok.example/javascript:x"));
    assert!(
        unsafe_page("<html><head><meta http-equiv=Refresh content=0></head><body></body>").len()
            == 1
    );
    assert!(unsafe_html(
        "t",
        "<a href=\"https://ok.example/\">ok</a><img src=\"https://ok.example/i.png\" alt=\"\">"
    )
    .is_empty());
}

// ------------------------------------------------ 2b. the URL policy

/// URLs and bases no reader may be handed, each placed as an `xml:base` (or
/// JSON base), an author URI, an image, an enclosure and a link in content
/// of every upstream encoding. Only http(s) (and mailto: for people) may be
/// published, after every resolution.
const URL_PAYLOADS: &[&str] = &[
    "javascript://x/%0Aalert(document.domain)//",
    "javascript:alert(4)",
    "JAVASCRIPT:alert(4)",
    "java\tscript:alert(4)",
    " javascript:alert(4)",
    "javascript:/x/",
    "jAvAsCrIpT://%0Aalert(1)",
    "vbscript:msgbox(1)",
    "VBScript://x/%0Amsgbox(1)",
    "livescript:alert(1)",
    "mocha:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "DATA:,x",
    "file:///etc/passwd",
    "file://localhost/etc/",
    "ftp://evil.example/",
    "feed:https://evil.example/",
    "feed:javascript:alert(1)",
    "jar:https://evil.example/a.jar!/",
    "view-source:https://evil.example/",
    "about:blank",
    "blob:https://evil.example/uuid",
    "filesystem:https://evil.example/temporary/",
    "chrome://settings/",
    "intent://scan/#Intent;scheme=zxing;end",
    "ms-its:mhtml:file://c:/x.mht!https://evil.example/",
    "mhtml:https://evil.example/x",
    "res://ieframe.dll/",
    "ws://evil.example/",
    "wss://evil.example/",
    "gopher://evil.example/",
    "tel:+1555",
    "sms:+1555",
    "irc://evil.example/",
    "x-javascript:alert(1)",
    "urn:isbn:0",
    "tag:evil.example,2026:x",
    "http:",
    "https://exa mple.com/x",
    "http://[::1",
];

/// The encodings an upstream item can arrive in.
const URL_ENCODINGS: &[&str] = &["atom-text", "atom-html", "atom-xhtml", "rss", "json"];

fn url_item_link(enc: &str, n: usize) -> String {
    format!("https://ok.example/{enc}/{n}")
}

/// Atom with `type` text, html or xhtml: the payload is the entry's
/// `xml:base`, the author's URI, an enclosure, an icon-like link and a link
/// inside the content; the content's relative links resolve against it.
fn url_payloads_atom(kind: &str) -> String {
    let enc = format!("atom-{kind}");
    let mut entries = String::new();
    for (n, u) in URL_PAYLOADS.iter().enumerate() {
        let a = xml_attr(u);
        let body = format!(
            "<p>U{n}{enc}</p><a href=\"?x\">rel</a><img src=\"i.png\"/><a href=\"{a}\">abs</a>"
        );
        let content = match kind {
            "xhtml" => format!(
                "<content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">{body}</div></content>"
            ),
            "html" => format!("<content type=\"html\">{}</content>", xml(&body)),
            _ => format!("<content type=\"text\">U{n}{enc} {}</content>", xml(u)),
        };
        entries.push_str(&format!(
            "<entry xml:base=\"{a}\"><id>tag:{enc}.example,2026:{n}</id><title>U{n}{enc}</title>\
             <link rel=\"alternate\" href=\"{}\"/><link rel=\"enclosure\" href=\"{a}\" type=\"audio/mpeg\" length=\"1\"/>\
             <link rel=\"related\" href=\"{a}\"/>\
             <author><name>A{n}</name><uri>{a}</uri></author><contributor><name>C</name><uri>?c</uri></contributor>\
             <updated>{}</updated><summary type=\"html\">{}</summary>{content}</entry>\n",
            url_item_link(&enc, n),
            vector_date(n),
            xml("<a href=\"?s\">s</a>"),
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>{enc}</title><id>urn:{enc}</id><icon>{}</icon><logo>{}</logo>\
         <updated>2026-01-06T00:00:00Z</updated>{entries}</feed>\n",
        xml(URL_PAYLOADS[1]),
        xml(URL_PAYLOADS[11]),
    )
}

fn url_payloads_rss() -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\
         <channel><title>R</title><link>https://rss.example/</link><description>d</description>\n",
    );
    for (n, u) in URL_PAYLOADS.iter().enumerate() {
        let a = xml_attr(u);
        let date = DateTime::parse_from_rfc3339(&vector_date(n))
            .expect("date")
            .to_rfc2822();
        out.push_str(&format!(
            "<item xml:base=\"{a}\"><guid isPermaLink=\"false\">tag:rss.example,2026:{n}</guid>\
             <title>U{n}rss</title><link>{}</link><pubDate>{date}</pubDate><comments>{}</comments>\
             <enclosure url=\"{a}\" type=\"image/png\" length=\"1\"/><media:thumbnail url=\"{a}\"/>\
             <source url=\"{a}\">S</source>\
             <description>{}</description></item>\n",
            url_item_link("rss", n),
            xml(u),
            xml(&format!(
                "<p>U{n}rss</p><a href=\"?x\">rel</a><img src=\"i.png\"><a href=\"{}\">abs</a>",
                xml_attr(u)
            )),
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

fn url_payloads_json() -> String {
    let items: Vec<Value> = URL_PAYLOADS
        .iter()
        .enumerate()
        .map(|(n, u)| {
            serde_json::json!({
                "id": format!("tag:json.example,2026:{n}"),
                "title": format!("U{n}json"),
                "url": url_item_link("json", n),
                "external_url": u,
                "image": u,
                "banner_image": u,
                "authors": [{"name": format!("A{n}"), "url": u, "avatar": u}],
                "attachments": [{"url": u, "mime_type": "audio/mpeg"}],
                "content_html": format!(
                    "<p>U{n}json</p><a href=\"?x\">rel</a><img src=\"i.png\"><a href=\"{}\">abs</a>",
                    xml_attr(u)
                ),
                "date_published": vector_date(n),
            })
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "home_page_url": URL_PAYLOADS[0],
        "feed_url": URL_PAYLOADS[1],
        "icon": URL_PAYLOADS[11],
        "favicon": URL_PAYLOADS[1],
        "authors": [{"name": "J", "url": URL_PAYLOADS[1]}],
        "items": items,
    })
    .to_string()
}

/// What the policy allows: absolute http(s) with a host, `mailto:` where
/// `mailto` is allowed, a reference without a scheme where `relative` is.
/// Written from the URL standard, not from tributary's code.
fn policy_allows(v: &str, mailto: bool, relative: bool) -> bool {
    let decoded = decode_refs(v);
    let cleaned: String = decoded
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let t = cleaned.trim_matches(|c: char| c <= ' ');
    let scheme_re = regex::Regex::new(r"^([A-Za-z][A-Za-z0-9+.-]*):").expect("regex");
    match scheme_re.captures(t) {
        Some(c) => match c[1].to_ascii_lowercase().as_str() {
            "http" | "https" => url::Url::parse(t).is_ok_and(|u| u.host_str().is_some()),
            "mailto" => mailto,
            _ => false,
        },
        None => relative,
    }
}

/// Every URL attribute of an HTML value that the policy refuses.
fn refused_in_html(what: &str, html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for t in start_tags(html) {
        for (n, v) in &t.attrs {
            let refused = if n == "srcset" {
                v.split(',')
                    .filter_map(|c| c.split_whitespace().next())
                    .any(|u| !policy_allows(u, true, true))
            } else {
                URL_ATTRS.contains(&n.as_str()) && !policy_allows(v, true, true)
            };
            if refused {
                bad.push(format!("{what}: <{} {n}={v:?}>", t.name));
            }
        }
    }
    bad
}

#[test]
fn only_http_urls_leave_tributary_whatever_base_or_field_carries_them() {
    assert!(URL_PAYLOADS.len() >= 40);
    let server = TestServer::start();
    let mut feeds: Vec<(&str, String, &str)> = vec![
        (
            "/u-text.atom",
            url_payloads_atom("text"),
            "application/atom+xml",
        ),
        (
            "/u-html.atom",
            url_payloads_atom("html"),
            "application/atom+xml",
        ),
        (
            "/u-xhtml.atom",
            url_payloads_atom("xhtml"),
            "application/atom+xml",
        ),
        ("/u.rss", url_payloads_rss(), "application/rss+xml"),
        ("/u.json", url_payloads_json(), "application/feed+json"),
    ];
    feeds.truncate(URL_ENCODINGS.len());
    let site = fetch_and_build(&server, &feeds);
    let mut bad = Vec::new();
    let web = |u: &str| policy_allows(u, false, false);

    let atom = site.atom("stream.atom");
    let mut seen = std::collections::BTreeSet::new();
    for e in atom.entries() {
        seen.insert(format!("atom {}", e.title().value));
        for l in e.links() {
            if !web(l.href()) {
                bad.push(format!("atom {} link {:?}", e.title().value, l.href()));
            }
        }
        for p in e.authors().iter().chain(e.contributors()) {
            if p.uri().is_some_and(|u| !policy_allows(u, true, false)) {
                bad.push(format!("atom author uri {:?}", p.uri()));
            }
        }
        if let Some(s) = e.summary() {
            bad.extend(refused_in_html("atom summary", &s.value));
        }
        if let Some(c) = e.content() {
            bad.extend(refused_in_html(
                "atom content",
                c.value().unwrap_or_default(),
            ));
        }
    }
    for u in [atom.icon(), atom.logo()].into_iter().flatten() {
        if !web(u) {
            bad.push(format!("atom icon/logo {u:?}"));
        }
    }

    let rss = site.rss("stream.rss");
    for i in rss.items() {
        seen.insert(format!("rss {}", i.title().unwrap_or_default()));
        let fields = [
            i.link(),
            i.comments(),
            i.enclosure().map(|e| e.url()),
            i.source().map(|s| s.url()),
            i.guid().filter(|g| g.is_permalink()).map(|g| g.value()),
        ];
        for u in fields.into_iter().flatten() {
            if !web(u) {
                bad.push(format!("rss {:?} field {u:?}", i.title()));
            }
        }
        bad.extend(refused_in_html(
            "rss description",
            i.description().unwrap_or_default(),
        ));
        bad.extend(refused_in_html(
            "rss content",
            i.content().unwrap_or_default(),
        ));
    }

    let json = site.json("stream.json");
    let mut urls = Vec::new();
    json_urls(&json, "", &mut urls);
    for (k, u) in urls {
        let person = k == "url" && !u.starts_with("https://ok.example/");
        if !policy_allows(u, person, false) {
            bad.push(format!("json {k}: {u:?}"));
        }
    }
    for i in items(&json) {
        seen.insert(format!("json {}", i["title"].as_str().unwrap_or_default()));
        for k in ["content_html", "summary_html"] {
            if let Some(h) = i[k].as_str() {
                bad.extend(refused_in_html(&format!("json {k}"), h));
            }
        }
    }

    let page = site.read("stream.html");
    bad.extend(refused_in_html("stream.html", &page));

    // The items themselves got through (the policy drops URLs, not stories),
    // and the relative links resolved against the item, not the hostile base.
    for enc in URL_ENCODINGS {
        for n in 0..URL_PAYLOADS.len() {
            for f in ["atom", "rss", "json"] {
                assert!(
                    seen.contains(&format!("{f} U{n}{enc}")),
                    "U{n}{enc} missing from stream.{f}"
                );
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} URLs the policy refuses were published:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
