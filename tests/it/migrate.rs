//! `tributary store migrate`: a populated SQLite store to PostgreSQL and
//! back, with nothing lost: every source's state, every item with its
//! sightings, the id ledger, and the feeds built from each store.

use crate::support::feeds::{Entry, Feed};
use crate::support::site::{Site, BASIC_CONFIG};
use crate::support::upstream_server::{Response, TestServer};
use std::collections::BTreeMap;
use std::fs;
use tributary::store::{self, ItemRecord, Location, SourceState};

const SOURCES: usize = 12;

fn atom(n: usize, items: usize) -> String {
    Feed::new(&format!("Upstream {n}"), &format!("urn:up:{n}"))
        .updated("2026-05-01T00:00:00Z")
        .entries((0..items).map(|i| {
            Entry::new(
                &format!("urn:up:{n}:{i}"),
                &format!("Item {n}.{i} & more"),
                &format!("https://up{n}.example/{i}"),
                &format!("2026-04-{:02}T10:00:00+02:00", i + 1),
            )
            .author(&format!("Author {n}"))
            .category(&format!("t{i}"))
            .content_html(&format!("<p>Body {n}.{i} \u{e9}</p>"))
        }))
        .atom()
}

/// Everything a store holds, comparable: per source its state and items.
fn contents(location: &Location) -> BTreeMap<String, (SourceState, Vec<ItemRecord>)> {
    let s = store::open(location).expect("open store");
    let mut out = BTreeMap::new();
    for state in s.sources().expect("sources") {
        let mut items = s.dump_items(&state.key).expect("dump");
        items.sort_by(|a, b| a.item.entry.id.cmp(&b.item.entry.id));
        out.insert(state.key.clone(), (state, items));
    }
    out
}

fn feeds(site: &Site) -> BTreeMap<String, Vec<u8>> {
    ["stream.atom", "stream.rss", "stream.json", "main.atom"]
        .iter()
        .map(|p| {
            let bytes = fs::read(site.root().join("public").join(p)).expect("feed written");
            (p.to_string(), bytes)
        })
        .collect()
}

#[test]
fn sqlite_to_postgres_and_back_loses_nothing() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let server = TestServer::start();
    let mut upstreams = String::from("title: Stream\nlimit: all\nupstreams:\n");
    for n in 0..SOURCES {
        let path = format!("/u{n}.atom");
        server.route(
            &path,
            Response::ok(atom(n, 3 + n % 4))
                .header("Content-Type", "application/atom+xml")
                .header("ETag", &format!("\"v{n}\""))
                .header("Last-Modified", "Fri, 01 May 2026 00:00:00 GMT"),
        );
        upstreams.push_str(&format!(
            "  - url: \"{}\"\n    name: \"up{n}\"\n",
            server.url(&path)
        ));
    }
    let config = format!("{BASIC_CONFIG}fetch: {{ allow_private_addresses: true, timeout: 5 }}\n");
    let site = Site::new(&config);
    site.feed("main", "title: Main\n");
    site.feed("stream", &upstreams);
    site.post(
        "2026-05-02-note.md",
        "---\ntitle: A note\ndate: 2026-05-02 08:00:00 +0000\n---\nHello.\n",
    );
    site.run(&["fetch"]).expect_success();
    site.run(&["build"]).expect_success();
    let before = feeds(&site);
    let ledger = fs::read_to_string(site.root().join("tributary.ledger")).expect("ledger");
    let sqlite = Location::Sqlite(site.root().join(".tributary/store.db"));
    let original = contents(&sqlite);
    assert_eq!(original.len(), SOURCES);
    assert!(original
        .values()
        .all(|(s, items)| s.etag.is_some() && !items.is_empty()));

    // To PostgreSQL; the ledger file is gone afterwards (a replica has none).
    site.run(&[
        "store",
        "migrate",
        "--from",
        "sqlite:.tributary/store.db",
        "--to",
        &url,
    ])
    .expect_success()
    .stderr_has(&format!("copied {SOURCES} sources"));
    let pg = Location::Postgres(url.clone());
    assert_eq!(contents(&pg), original, "PostgreSQL holds what SQLite held");
    fs::remove_file(site.root().join("tributary.ledger")).expect("remove ledger");
    fs::remove_dir_all(site.root().join("public")).expect("remove output");
    site.write("tributary.yaml", format!("{config}store: \"{url}\"\n"));
    site.run(&["build"]).expect_success();
    assert_eq!(feeds(&site), before, "the feeds built from PostgreSQL");
    assert_eq!(
        fs::read_to_string(site.root().join("tributary.ledger")).expect("ledger back"),
        ledger,
        "the ledger comes back from the store"
    );

    // And back to a new SQLite file, with the ledger file removed again.
    fs::remove_file(site.root().join("tributary.ledger")).expect("remove ledger");
    site.run(&["store", "migrate", "--from", &url, "--to", "sqlite:back.db"])
        .expect_success();
    let back = Location::Sqlite(site.root().join("back.db"));
    assert_eq!(contents(&back), original, "SQLite again holds everything");
    assert_eq!(
        fs::read_to_string(site.root().join("tributary.ledger")).expect("ledger file"),
        ledger
    );
    fs::remove_dir_all(site.root().join("public")).expect("remove output");
    site.write("tributary.yaml", format!("{config}store: back.db\n"));
    site.run(&["build"]).expect_success();
    assert_eq!(feeds(&site), before, "the feeds built from the copy");

    // Migrating onto itself is refused with a reason.
    site.run(&[
        "store",
        "migrate",
        "--from",
        "back.db",
        "--to",
        "sqlite:back.db",
    ])
    .expect_code(1)
    .stderr_has("the same store");
}

/// PostgreSQL text holds no NUL: a JSON Feed full of `\u0000` is still
/// fetched and stored, the characters dropped (as the XML outputs drop them).
#[test]
fn nul_characters_from_upstream_are_stored_in_postgres_without_them() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let server = TestServer::start();
    server.route(
        "/nul.json",
        Response::ok(
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"N\u0000ul",
            "items":[{"id":"urn:x:\u00001","title":"A\u0000B","url":"https://n.example/\u0000a",
            "content_html":"<p>c\u0000d</p>","date_published":"2026-05-01T00:00:00Z",
            "authors":[{"name":"E\u0000F"}],"tags":["g\u0000h"]}]}"#,
        )
        .header("Content-Type", "application/feed+json"),
    );
    let site = Site::new(&format!(
        "{BASIC_CONFIG}store: \"{url}\"\nfetch: {{ allow_private_addresses: true, timeout: 5 }}\n"
    ));
    site.feed(
        "stream",
        &format!(
            "title: Stream\nupstreams:\n  - url: \"{}\"\n",
            server.url("/nul.json")
        ),
    );
    site.run(&["fetch"])
        .expect_success()
        .stderr_has("fetched 1, not modified 0, failed 0, new items 1");
    site.run(&["build"]).expect_success();
    let atom = fs::read_to_string(site.root().join("public/stream.atom")).expect("feed");
    assert!(atom.contains("<title>AB</title>"), "{atom}");
    assert!(!atom.contains('\0'));
}

/// Items the store refuses fail their own source, not the run: the other
/// sources are stored and the refused one backs off with the reason.
#[test]
fn a_source_whose_items_the_store_refuses_fails_alone() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let server = TestServer::start();
    let mut upstreams = String::from("title: Stream\nupstreams:\n");
    for n in 0..3 {
        let path = format!("/u{n}.atom");
        server.route(
            &path,
            Response::ok(atom(n, 2)).header("Content-Type", "application/atom+xml"),
        );
        upstreams.push_str(&format!(
            "  - url: \"{}\"\n    name: \"up{n}\"\n",
            server.url(&path)
        ));
    }
    let site = Site::new(&format!(
        "{BASIC_CONFIG}store: \"{url}\"\nfetch: {{ allow_private_addresses: true, timeout: 5, concurrency: 1 }}\n"
    ));
    site.feed("stream", &upstreams);
    // The schema exists once a store was opened; then a trigger that refuses
    // the items of upstream 1, as a constraint of the database would.
    drop(store::open(&Location::Postgres(url.clone())).expect("open"));
    // (`query`: one simple query, so the function's own `;` stay in it.)
    crate::support::pg::query(
        &url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.upstream_id LIKE 'urn:up:1:%' THEN RAISE EXCEPTION 'refused by a test'; \
         END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION refuse()",
    );
    let r = site.run(&["fetch"]);
    r.expect_code(0)
        .stderr_has("fetched 2, not modified 0, failed 1, new items 4")
        .stderr_has("up1: failed: its items were not stored");
    let s = store::open(&Location::Postgres(url)).expect("open");
    let states: BTreeMap<String, SourceState> = s
        .sources()
        .expect("sources")
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    assert_eq!(states["up0"].item_count, 2);
    assert_eq!(states["up1"].item_count, 0);
    assert_eq!(states["up1"].consecutive_failures, 1);
    assert!(states["up1"].next_due.is_some());
    assert_eq!(states["up2"].item_count, 2);
}

/// `sslmode=require` connects with TLS and checks the server's certificate:
/// trusted through `sslrootcert`, refused without it.
#[test]
fn tls_to_postgres_verifies_the_server() {
    let Some(url) = crate::support::pg::database() else {
        return;
    };
    let Some(ca) = crate::support::pg::server().and_then(|s| s.ca.clone()) else {
        println!("skipped: the test PostgreSQL has no TLS (no openssl command)");
        return;
    };
    let db = url.rsplit('/').next().unwrap_or_default().to_string();
    let tls = format!("{url}?sslmode=require&sslrootcert={}", ca.display());
    let mut s = store::open(&Location::Postgres(tls)).expect("open over TLS");
    s.ensure_source("https://up.example/feed", "up")
        .expect("write over TLS");
    let encrypted = crate::support::pg::query(
        &url,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE s.ssl AND a.datname = '{db}' AND a.application_name = 'tributary'"
        ),
    );
    assert_ne!(encrypted, ["0"], "tributary's connections use TLS");
    // libpq's verify-full means the same here.
    let full = format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(store::open(&Location::Postgres(full)).is_ok());
    // A certificate no trusted CA signed: refused, and said so.
    let untrusted = format!("{url}?sslmode=require&connect_timeout=5");
    let e = match store::open(&Location::Postgres(untrusted)) {
        Ok(_) => panic!("a server certificate from an unknown CA was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}
