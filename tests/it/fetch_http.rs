//! Fetcher behaviour against a real HTTP server on 127.0.0.1.

use crate::support::upstream_server::{Response, TestServer};
use std::time::{Duration, Instant};
use tributary::config::FetchSettings;
use tributary::fetch::{FetchError, Fetcher, Outcome, Validators};

const MIB: u64 = 1024 * 1024;

/// The server is on loopback, so the guard is off unless a test is about it.
fn settings() -> FetchSettings {
    FetchSettings {
        allow_private_addresses: true,
        timeout: 10,
        ..FetchSettings::default()
    }
}

fn fetcher(s: &FetchSettings) -> Fetcher {
    Fetcher::new(s, Some("https://example.org/")).expect("fetcher")
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn fetch(f: &Fetcher, url: &str, v: &Validators) -> Outcome {
    run(f.fetch(url, v))
}

fn none() -> Validators {
    Validators::default()
}

fn failed(o: Outcome) -> (FetchError, Option<Duration>) {
    match o {
        Outcome::Failed { error, retry_after } => (error, retry_after),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn conditional_get_sends_stored_validators_verbatim() {
    let server = TestServer::start();
    let etag = "W/\"5f-abc\"";
    let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
    server.route(
        "/feed.xml",
        Response::ok("<rss/>")
            .header("ETag", etag)
            .header("Last-Modified", lm)
            .header("Content-Type", "application/rss+xml; charset=utf-8")
            .header("Cache-Control", "public, max-age=600"),
    );
    let f = fetcher(&settings());
    let url = server.url("/feed.xml");
    let stored = match fetch(&f, &url, &none()) {
        Outcome::Fetched {
            body,
            validators,
            final_url,
            permanent_url,
            min_interval,
            content_type,
            ..
        } => {
            assert_eq!(body, b"<rss/>");
            assert_eq!(final_url, url);
            assert_eq!(permanent_url, None);
            assert_eq!(min_interval, Some(Duration::from_secs(600)));
            assert_eq!(
                content_type.as_deref(),
                Some("application/rss+xml; charset=utf-8")
            );
            validators
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(stored.etag.as_deref(), Some(etag));
    assert_eq!(stored.last_modified.as_deref(), Some(lm));
    let first = &server.requests_to("/feed.xml")[0];
    assert_eq!(first.header("If-None-Match"), None);
    assert_eq!(first.header("If-Modified-Since"), None);

    match fetch(&f, &url, &stored) {
        Outcome::NotModified {
            permanent_url,
            min_interval,
        } => {
            assert_eq!(permanent_url, None);
            assert_eq!(min_interval, Some(Duration::from_secs(600)));
        }
        other => panic!("{other:?}"),
    }
    let second = &server.requests_to("/feed.xml")[1];
    assert_eq!(second.header("If-None-Match"), Some(etag));
    assert_eq!(second.header("If-Modified-Since"), Some(lm));

    // Only a Last-Modified stored: it alone is sent, as stored, never reformatted.
    let odd = "Wednesday, 21-Oct-15 07:28:00 GMT";
    let v = Validators {
        etag: None,
        last_modified: Some(odd.into()),
    };
    assert!(matches!(fetch(&f, &url, &v), Outcome::Fetched { .. }));
    let third = &server.requests_to("/feed.xml")[2];
    assert_eq!(third.header("If-None-Match"), None);
    assert_eq!(third.header("If-Modified-Since"), Some(odd));
}

#[test]
fn permanent_url_only_when_every_hop_is_permanent() {
    let server = TestServer::start();
    server.route("/feed", Response::ok("<feed/>"));
    server.route("/a", Response::redirect(301, &server.url("/b")));
    server.route("/b", Response::redirect(308, "/feed"));
    server.route("/c", Response::redirect(301, "/d"));
    server.route("/d", Response::redirect(302, "/feed"));
    server.route("/e", Response::redirect(307, "/feed"));
    server.route("/gone-old", Response::redirect(301, "/gone"));
    server.route("/gone", Response::status(410));
    let f = fetcher(&settings());

    match fetch(&f, &server.url("/a"), &none()) {
        Outcome::Fetched {
            body,
            final_url,
            permanent_url,
            ..
        } => {
            assert_eq!(body, b"<feed/>");
            assert_eq!(final_url, server.url("/feed"));
            assert_eq!(permanent_url, Some(server.url("/feed")));
        }
        other => panic!("{other:?}"),
    }
    for temporary in ["/c", "/e"] {
        match fetch(&f, &server.url(temporary), &none()) {
            Outcome::Fetched {
                final_url,
                permanent_url,
                ..
            } => {
                assert_eq!(final_url, server.url("/feed"));
                assert_eq!(permanent_url, None, "{temporary}");
            }
            other => panic!("{other:?}"),
        }
    }
    match fetch(&f, &server.url("/gone-old"), &none()) {
        Outcome::Gone { permanent_url } => assert_eq!(permanent_url, Some(server.url("/gone"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn at_most_five_redirects() {
    let server = TestServer::start();
    for i in 0..6 {
        server.route(
            &format!("/r{i}"),
            Response::redirect(301, &format!("/r{}", i + 1)),
        );
    }
    server.route("/r6", Response::ok("end"));
    let f = fetcher(&settings());
    // r1 → r6 is five hops: fine.
    assert!(matches!(
        fetch(&f, &server.url("/r1"), &none()),
        Outcome::Fetched { .. }
    ));
    // r0 → r6 is six.
    let (e, _) = failed(fetch(&f, &server.url("/r0"), &none()));
    assert!(
        matches!(e, FetchError::TooManyRedirects { limit: 5, .. }),
        "{e}"
    );
    assert!(
        server.requests_to("/r6").len() == 1,
        "the sixth hop was not followed"
    );
}

#[test]
fn gone_and_errors() {
    let server = TestServer::start();
    server.route("/gone", Response::status(410));
    server.route("/broken", Response::status(500).header("Retry-After", "60"));
    let f = fetcher(&settings());
    assert!(matches!(
        fetch(&f, &server.url("/gone"), &none()),
        Outcome::Gone {
            permanent_url: None
        }
    ));
    let (e, retry) = failed(fetch(&f, &server.url("/missing"), &none()));
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e}");
    assert_eq!(retry, None);
    let (e, retry) = failed(fetch(&f, &server.url("/broken"), &none()));
    assert!(matches!(e, FetchError::Status { status: 500, .. }), "{e}");
    assert_eq!(retry, None, "Retry-After is only read on 429 and 503");
}

#[test]
fn retry_after_on_429_and_503() {
    let server = TestServer::start();
    server.route("/slow", Response::status(429).header("Retry-After", "120"));
    let date = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    server.route("/down", Response::status(503).header("Retry-After", &date));
    let f = fetcher(&settings());
    let (e, retry) = failed(fetch(&f, &server.url("/slow"), &none()));
    assert!(matches!(e, FetchError::Status { status: 429, .. }), "{e}");
    assert_eq!(retry, Some(Duration::from_secs(120)));
    let (e, retry) = failed(fetch(&f, &server.url("/down"), &none()));
    assert!(matches!(e, FetchError::Status { status: 503, .. }), "{e}");
    let secs = retry.expect("retry_after from the date").as_secs();
    assert!((3590..=3600).contains(&secs), "{secs}");
}

#[test]
fn huge_body_is_cut_off_at_the_cap() {
    let server = TestServer::start();
    // No Content-Length: the cap has to be enforced while reading.
    server.route(
        "/huge",
        Response::ok("")
            .generated(50 * MIB)
            .without_content_length(),
    );
    let f = fetcher(&FetchSettings {
        max_body: MIB,
        ..settings()
    });
    let start = Instant::now();
    let (e, _) = failed(fetch(&f, &server.url("/huge"), &none()));
    assert!(
        matches!(e, FetchError::TooLarge { limit, .. } if limit == MIB),
        "{e}"
    );
    assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    std::thread::sleep(Duration::from_millis(300));
    let sent = server.body_bytes_sent();
    assert!(sent >= MIB, "{sent}");
    assert!(
        sent < 20 * MIB,
        "the client kept reading: {sent} bytes sent"
    );
}

#[test]
fn declared_length_over_the_cap_fails_before_the_body() {
    let server = TestServer::start();
    server.route("/huge", Response::ok("").generated(50 * MIB));
    let f = fetcher(&FetchSettings {
        max_body: MIB,
        ..settings()
    });
    let (e, _) = failed(fetch(&f, &server.url("/huge"), &none()));
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.body_bytes_sent() < 20 * MIB);
}

/// A gzip stream of `1 + 258 * matches` zero bytes, a few bytes per 258:
/// one fixed-Huffman deflate block of a literal 0 and back-references.
fn gzip_zeros(matches: usize) -> (Vec<u8>, usize) {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u32, len: u32) {
            self.acc |= value << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        // Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            let rev = (0..len).fold(0, |r, i| r | (((code >> i) & 1) << (len - 1 - i)));
            self.put(rev, len);
        }
    }
    let mut b = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(1, 2); // fixed Huffman
    b.code(0x30, 8); // literal 0
    for _ in 0..matches {
        b.code(0xc5, 8); // length 258 (symbol 285)
        b.code(0, 5); // distance 1
    }
    b.code(0, 7); // end of block
    if b.n > 0 {
        b.out.push(b.acc as u8);
    }
    let len = 1 + 258 * matches;
    let mut crc = !0u32;
    // CRC-32 of zero bytes: nothing to xor in, eight shifts per byte.
    for _ in 0..len {
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut out = b.out;
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    (out, len)
}

#[test]
fn the_cap_applies_after_decompression() {
    let (gz, len) = gzip_zeros(16_257); // 4 MiB of zeros in 26 KiB
    assert!(gz.len() < 32 * 1024, "{}", gz.len());
    let server = TestServer::start();
    server.route(
        "/bomb",
        Response::ok(gz.clone()).header("Content-Encoding", "gzip"),
    );
    let roomy = fetcher(&FetchSettings {
        max_body: 8 * MIB,
        ..settings()
    });
    match fetch(&roomy, &server.url("/bomb"), &none()) {
        Outcome::Fetched { body, .. } => {
            assert_eq!(body.len(), len, "decompressed");
            assert!(body.iter().all(|&b| b == 0));
        }
        other => panic!("{other:?}"),
    }
    assert!(server.requests()[0]
        .header("Accept-Encoding")
        .is_some_and(|v| v.contains("gzip")));
    let tight = fetcher(&FetchSettings {
        max_body: MIB,
        ..settings()
    });
    let (e, _) = failed(fetch(&tight, &server.url("/bomb"), &none()));
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e}");
}

#[test]
fn stalled_servers_time_out() {
    let server = TestServer::start();
    server.route(
        "/stall-body",
        Response::ok("x".repeat(1000)).stall(Duration::from_secs(30)),
    );
    server.route(
        "/stall-head",
        Response::ok("x").delay(Duration::from_secs(30)),
    );
    let f = fetcher(&FetchSettings {
        timeout: 1,
        ..settings()
    });
    for path in ["/stall-body", "/stall-head"] {
        let start = Instant::now();
        let (e, _) = failed(fetch(&f, &server.url(path), &none()));
        let took = start.elapsed();
        assert!(matches!(e, FetchError::Timeout { .. }), "{path}: {e}");
        assert!(e.to_string().contains("timed out after 1 s"), "{e}");
        assert!(took >= Duration::from_millis(900), "{path}: {took:?}");
        assert!(took < Duration::from_secs(3), "{path}: {took:?}");
    }
}

#[test]
fn private_addresses_are_refused_by_default() {
    let server = TestServer::start();
    server.route("/feed", Response::ok("<rss/>"));
    let f = fetcher(&FetchSettings {
        allow_private_addresses: false,
        ..settings()
    });
    let (e, _) = failed(fetch(&f, &server.url("/feed"), &none()));
    assert!(matches!(e, FetchError::Refused { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(text.contains("loopback"), "{text}");
    assert!(text.contains("`fetch: { allow: [127.0.0.1] }`"), "{text}");

    // A name that resolves to loopback: refused at resolution, not before.
    let by_name = format!("http://localhost:{}/feed", server.port());
    let (e, _) = failed(fetch(&f, &by_name, &none()));
    assert!(matches!(e, FetchError::Refused { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("localhost"), "{text}");
    assert!(text.contains("loopback"), "{text}");

    // The IPv4-mapped IPv6 literal of the same address.
    let mapped = format!("http://[::ffff:127.0.0.1]:{}/feed", server.port());
    let (e, _) = failed(fetch(&f, &mapped, &none()));
    assert!(matches!(e, FetchError::Refused { .. }), "{e}");

    assert!(
        server.requests().is_empty(),
        "no request reached the server"
    );

    // The same fetcher settings with the guard off do reach it.
    let open = fetcher(&settings());
    assert!(matches!(
        fetch(&open, &by_name, &none()),
        Outcome::Fetched { .. }
    ));
}

/// Every IPv6 form carrying a refused IPv4 address, and the special-purpose
/// ranges, are refused by the checks made before a connection is opened
/// (`admits` runs exactly those; nothing is sent anywhere).
#[test]
fn reserved_and_embedded_addresses_are_refused_before_connecting() {
    let strict = fetcher(&FetchSettings {
        allow_private_addresses: false,
        ..settings()
    });
    let cases = [
        ("http://[::127.0.0.1]/", "loopback"),
        ("http://[::ffff:0:7f00:1]/", "loopback"),
        ("http://[2002:7f00:1::]/", "inside a 6to4 address"),
        ("http://[2002:a9fe:a9fe::]/latest/", "metadata"),
        ("http://[64:ff9b::a00:1]/", "private network"),
        ("http://[64:ff9b:1::7f00:1]/", "loopback"),
        ("http://[64:ff9b:1::808:808]/", "reserved"),
        ("http://[2001:0:808:808::80ff:fffe]/", "Teredo"),
        ("http://198.18.0.1/", "benchmarking"),
        ("http://198.19.255.254/", "benchmarking"),
        ("http://192.0.0.8/", "reserved"),
        ("http://192.0.2.1/", "documentation"),
        ("http://198.51.100.1/", "documentation"),
        ("http://203.0.113.1/", "documentation"),
        ("http://[2001:db8::1]/", "documentation"),
        ("http://[100::1]/", "reserved"),
        ("http://[2001:2::1]/", "benchmarking"),
    ];
    for (url, words) in cases {
        let e = run(strict.admits(url)).expect_err(url);
        assert!(matches!(e, FetchError::Refused { .. }), "{url}: {e}");
        let text = e.to_string();
        assert!(text.contains(words), "{url}: {text}");
        assert!(text.contains("`fetch: { allow: ["), "{url}: {text}");
    }
    assert!(run(strict.admits("http://93.184.216.34/")).is_ok());
    assert!(run(strict.admits("http://[2606:4700::1111]/")).is_ok());
}

/// Metadata services stay refused under `allow_private_addresses` and under
/// any `allow` range holding them; only an entry naming the address opens it.
#[test]
fn metadata_addresses_need_an_entry_naming_them() {
    let wide: Vec<_> = ["169.254.0.0/16", "100.64.0.0/10", "fd00::/8"]
        .iter()
        .map(|e| e.parse().expect("entry"))
        .collect();
    let open = [
        fetcher(&settings()),
        fetcher(&FetchSettings {
            allow_private_addresses: false,
            allow: wide,
            ..settings()
        }),
    ];
    for f in &open {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.170.2/v2/credentials",
            "http://100.100.100.200/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/",
        ] {
            let e = run(f.admits(url)).expect_err(url);
            let text = e.to_string();
            assert!(text.contains("metadata"), "{url}: {text}");
            assert!(text.contains("naming the address itself"), "{url}: {text}");
        }
        // What the wider setting is for still goes through.
        assert!(run(f.admits("http://169.254.10.1/")).is_ok());
    }
    let named = fetcher(&FetchSettings {
        allow_private_addresses: false,
        allow: vec!["169.254.169.254".parse().expect("entry")],
        ..settings()
    });
    assert!(run(named.admits("http://169.254.169.254/latest/meta-data/")).is_ok());
    assert!(run(named.admits("http://169.254.170.2/")).is_err());
}

/// A host entry opens that name's addresses, not the addresses themselves
/// (a redirect to the same address by number is refused); a range opens
/// every name and literal in it.
#[test]
fn allow_opens_a_host_or_a_range() {
    let server = TestServer::start();
    server.route("/feed", Response::ok("<rss/>"));
    let literal = server.url("/feed");
    server.route("/hop", Response::redirect(302, &literal));
    let port = server.port();
    let by_name = format!("http://localhost:{port}/feed");
    let hop = format!("http://localhost:{port}/hop");

    let host_only = fetcher(&FetchSettings {
        allow_private_addresses: false,
        allow: vec!["localhost".parse().expect("entry")],
        ..settings()
    });
    assert!(matches!(
        fetch(&host_only, &by_name, &none()),
        Outcome::Fetched { .. }
    ));
    let (e, _) = failed(fetch(&host_only, &literal, &none()));
    assert!(matches!(e, FetchError::Refused { .. }), "{e}");
    assert!(
        e.to_string().contains("`fetch: { allow: [127.0.0.1] }`"),
        "{e}"
    );
    let (e, _) = failed(fetch(&host_only, &hop, &none()));
    assert!(matches!(e, FetchError::Refused { .. }), "{e}");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/feed", "/hop"],
        "the refused hop was not requested"
    );

    let range = fetcher(&FetchSettings {
        allow_private_addresses: false,
        allow: vec!["127.0.0.0/8".parse().expect("entry")],
        ..settings()
    });
    for url in [&by_name, &literal, &hop] {
        assert!(
            matches!(fetch(&range, url, &none()), Outcome::Fetched { .. }),
            "{url}"
        );
    }
    // 127.0.0.0/8 does not hold ::1.
    assert!(run(range.admits("http://[::1]/")).is_err());
}

#[test]
fn redirects_to_other_schemes_are_refused() {
    let server = TestServer::start();
    server.route("/to-file", Response::redirect(302, "file:///etc/passwd"));
    server.route("/to-ftp", Response::redirect(301, "ftp://example.org/feed"));
    let f = fetcher(&settings());
    for path in ["/to-file", "/to-ftp"] {
        let (e, _) = failed(fetch(&f, &server.url(path), &none()));
        match &e {
            FetchError::Scheme {
                redirected_from, ..
            } => assert_eq!(redirected_from.as_deref(), Some(server.url(path).as_str())),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("only http and https"), "{e}");
    }
    let (e, _) = failed(fetch(&f, "gopher://example.org/", &none()));
    assert!(matches!(e, FetchError::Scheme { .. }), "{e}");
}

#[test]
fn local_files_are_read_under_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, "<rss/>").unwrap();
    let url = url::Url::from_file_path(&path).unwrap().to_string();
    let f = fetcher(&settings());
    let v = match fetch(&f, &url, &none()) {
        Outcome::Fetched {
            body, validators, ..
        } => {
            assert_eq!(body, b"<rss/>");
            validators
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(fetch(&f, &url, &v), Outcome::NotModified { .. }));
    let small = fetcher(&FetchSettings {
        max_body: 3,
        ..settings()
    });
    let (e, _) = failed(fetch(&small, &url, &none()));
    assert!(matches!(e, FetchError::TooLarge { limit: 3, .. }), "{e}");
    let missing = url::Url::from_file_path(dir.path().join("nope.xml"))
        .unwrap()
        .to_string();
    let (e, _) = failed(fetch(&f, &missing, &none()));
    assert!(matches!(e, FetchError::File { .. }), "{e}");
}

#[test]
fn per_host_limit_and_job_order() {
    let server = TestServer::start();
    for i in 0..8 {
        server.route(
            &format!("/f{i}"),
            Response::ok(format!("feed {i}")).delay(Duration::from_millis(250)),
        );
    }
    let f = fetcher(&FetchSettings {
        per_host: 2,
        concurrency: 16,
        ..settings()
    });
    let jobs: Vec<(usize, String, Validators)> = (0..8)
        .map(|i| (i, server.url(&format!("/f{i}")), none()))
        .collect();
    let start = Instant::now();
    let results = run(f.fetch_all(jobs));
    let took = start.elapsed();
    assert_eq!(server.max_concurrent(), 2);
    // 8 jobs, 2 at a time, 250 ms each: four rounds.
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert_eq!(results.len(), 8);
    for (i, (k, o)) in results.into_iter().enumerate() {
        assert_eq!(k, i);
        match o {
            Outcome::Fetched { body, .. } => assert_eq!(body, format!("feed {i}").as_bytes()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.requests().len(), 8, "one request per job");
}

#[test]
fn global_concurrency_limit_across_hosts() {
    let server = TestServer::start();
    server.route("/f", Response::ok("x").delay(Duration::from_millis(250)));
    let f = fetcher(&FetchSettings {
        per_host: 4,
        concurrency: 3,
        ..settings()
    });
    // Two host names for one server: two per-host queues.
    let hosts = ["127.0.0.1", "localhost"];
    let jobs: Vec<(String, String, Validators)> = (0..8)
        .map(|i| {
            let url = format!("http://{}:{}/f?{i}", hosts[i % 2], server.port());
            (url.clone(), url, none())
        })
        .collect();
    let results = run(f.fetch_all(jobs));
    assert!(results
        .iter()
        .all(|(_, o)| matches!(o, Outcome::Fetched { .. })));
    assert_eq!(server.max_concurrent(), 3);
}

#[test]
fn user_agent_names_tributary_and_the_site() {
    let server = TestServer::start();
    server.route("/feed", Response::ok("<rss/>"));
    let f = fetcher(&settings());
    fetch(&f, &server.url("/feed"), &none());
    let custom = Fetcher::new(
        &FetchSettings {
            user_agent: Some("MyReader/2.0".into()),
            ..settings()
        },
        Some("https://example.org/"),
    )
    .unwrap();
    fetch(&custom, &server.url("/feed"), &none());
    let reqs = server.requests_to("/feed");
    assert_eq!(
        reqs[0].header("User-Agent"),
        Some(
            format!(
                "tributary/{} (+https://example.org/)",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
    assert_eq!(reqs[1].header("User-Agent"), Some("MyReader/2.0"));
    let bad = Fetcher::new(
        &FetchSettings {
            user_agent: Some("a\nb".into()),
            ..settings()
        },
        None,
    );
    assert!(matches!(bad, Err(FetchError::Settings(_))));
}

#[test]
fn settings_from_yaml() {
    let s: FetchSettings = serde_yaml::from_str("per_host: 4\nmax_body: 1024\n").unwrap();
    assert_eq!(s.per_host, 4);
    assert_eq!(s.max_body, 1024);
    assert_eq!(s.concurrency, 16);
    assert_eq!(s.timeout, 30);
    assert!(!s.allow_private_addresses);
    assert!(serde_yaml::from_str::<FetchSettings>("per_hots: 4\n").is_err());
}

/// Two fetchers on two threads (as `serve` runs batches side by side) that
/// share one `Slots` keep `per_host` together.
#[test]
fn shared_slots_hold_per_host_across_fetchers() {
    let server = TestServer::start();
    for i in 0..6 {
        server.route(
            &format!("/s{i}"),
            Response::ok("x").delay(Duration::from_millis(200)),
        );
    }
    let s = FetchSettings {
        per_host: 2,
        concurrency: 16,
        ..settings()
    };
    let slots = tributary::fetch::Slots::new(&s);
    let threads: Vec<_> = [0..3, 3..6]
        .into_iter()
        .map(|range| {
            let f = Fetcher::with_slots(&s, None, slots.clone()).expect("fetcher");
            let jobs: Vec<(usize, String, Validators)> = range
                .map(|i| (i, server.url(&format!("/s{i}")), none()))
                .collect();
            std::thread::spawn(move || run(f.fetch_all(jobs)))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread").len(), 3);
    }
    assert_eq!(
        server.max_concurrent(),
        2,
        "per_host held across both fetchers"
    );
    assert_eq!(server.requests().len(), 6);
}
