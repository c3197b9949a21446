//! The HTTP side of `serve`: generated documents from the current snapshot
//! with validators, conditional requests and compression; `/healthz`;
//! `/metrics`. Nothing but generated documents is served: a path is only a
//! key into the snapshot, never a file system path.

use super::snapshot::{Coding, Doc, Snapshot};
use super::{App, Status};
use crate::store::SourceState;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The router: `/healthz`, `/metrics`, and every generated document.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            &format!("/{}", crate::config::HUB_PATH),
            axum::routing::post(super::websub::subscription_request),
        )
        .route(
            &format!("/{}/{{token}}", crate::config::CALLBACK_PATH),
            axum::routing::any(super::subscriber::callback),
        )
        .fallback(document)
        .with_state(app)
}

/// The coding to answer with: brotli, then gzip, when the client accepts it
/// (`q=0` refuses).
fn negotiate(headers: &HeaderMap) -> Coding {
    let Some(accept) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Coding::Identity;
    };
    let accepts = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case(name) || coding == "*") && q > 0.0
        })
    };
    if accepts("br") {
        Coding::Brotli
    } else if accepts("gzip") {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// RFC 9110 13.1.2: weak comparison, or `*`.
fn none_match(header: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

/// Decode `%XX` in a request path (output paths may hold `%`, `?`, `#`,
/// written escaped in URLs). Invalid escapes stay as written.
fn decode_path(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

// Taken whole rather than as `HeaderMap`/`Method`/`Uri` extractors, which
// would clone the request's headers for every request.
async fn document(State(app): State<Arc<App>>, request: Request) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = decode_path(request.uri().path());
    let key = path.trim_start_matches('/');
    let snapshot = app.snapshot();
    let doc = if key.is_empty() {
        snapshot.index.as_ref()
    } else {
        snapshot.docs.get(key)
    };
    let Some(doc) = doc else {
        return plain(StatusCode::NOT_FOUND, "no such feed\n");
    };
    let head = *method == Method::HEAD;
    respond(&app, &snapshot, doc, key, head, request.headers())
}

/// The answer to a GET (or HEAD, `head`) of `doc` at `key`. Every header
/// value was made when the snapshot was published: nothing is formatted
/// here.
fn respond(
    app: &App,
    snapshot: &Snapshot,
    doc: &Doc,
    key: &str,
    head: bool,
    headers: &HeaderMap,
) -> Response {
    let coding = negotiate(headers);
    let etag = doc.etag(coding);
    let mut out = HeaderMap::with_capacity(10);
    out.insert(header::ETAG, etag.clone());
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    out.insert(
        header::CACHE_CONTROL,
        snapshot.headers.cache_control.clone(),
    );
    if let Some(m) = &doc.last_modified {
        out.insert(header::LAST_MODIFIED, m.clone());
    }
    if let Some(link) = snapshot.headers.links.get(key) {
        out.insert(header::LINK, link.clone());
    }
    // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    let not_modified = match headers.get(header::IF_NONE_MATCH) {
        Some(inm) => inm
            .to_str()
            .is_ok_and(|inm| none_match(inm, etag.to_str().unwrap_or_default())),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::util::date::parse_http_date)
            .zip(doc.modified)
            .is_some_and(|(since, modified)| modified.timestamp() <= since.timestamp()),
    };
    app.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if not_modified {
        app.metrics.not_modified.fetch_add(1, Ordering::Relaxed);
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        *r.headers_mut() = out;
        return r;
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(doc.content_type),
    );
    if let Some(c) = coding.header() {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    let coded = doc.coded(coding);
    out.insert(header::CONTENT_LENGTH, coded.length.clone());
    let mut r = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(coded.bytes.clone()))
    };
    *r.headers_mut() = out;
    r
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let status = app.status();
    let snapshot = app.snapshot();
    let json = serde_json::json!({
        "status": "ok",
        "documents": snapshot.docs.len(),
        "last_build": status.last_build.map(|d| d.to_rfc3339()),
        "last_build_error": status.last_build_error,
        "last_fetch": status.last_fetch.map(|d| d.to_rfc3339()),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}

/// Readiness for a load balancer: 200 once there are documents to serve
/// and, on a shared store, the store answers; 503 with the reason otherwise
/// (a replica that lost PostgreSQL keeps serving from memory, but gets no
/// new traffic until it is back).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let unready = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("not ready: {why}\n"),
        )
            .into_response()
    };
    if app.snapshot().docs.is_empty() {
        return unready("nothing built yet".into());
    }
    let a = app.clone();
    let ping = tokio::task::spawn_blocking(move || a.ping_store());
    match tokio::time::timeout(std::time::Duration::from_secs(3), ping).await {
        Ok(Ok(Ok(()))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ready\n",
        )
            .into_response(),
        Ok(Ok(Err(e))) => unready(e.to_string()),
        Ok(Err(e)) => unready(e.to_string()),
        Err(_) => unready("the store did not answer within 3 s".into()),
    }
}

/// Prometheus text format: counters, the last build's duration, and per
/// source the items stored and consecutive failures.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let status = app.status();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_metrics(&app, &status),
    )
        .into_response()
}

/// One line of a metric family: its label (name and value), if it has one,
/// and its value as written.
struct Sample {
    label: Option<(&'static str, String)>,
    value: String,
}

/// One metric family of `/metrics`: a row of the table [`FAMILIES`].
struct Family {
    name: &'static str,
    /// The Prometheus type: `counter` or `gauge`.
    kind: &'static str,
    help: &'static str,
    samples: fn(&App, &Status) -> Vec<Sample>,
}

/// Everything `/metrics` reports, in the order it is written.
const FAMILIES: &[Family] = &[
    Family {
        name: "tributary_fetches_total",
        kind: "counter",
        help: "Upstream fetches by result.",
        samples: |app, _| {
            let m = &app.metrics;
            by_label(
                "result",
                [
                    ("fetched", &m.fetched),
                    ("not_modified", &m.fetch_not_modified),
                    ("failed", &m.fetch_failed),
                    ("gone", &m.fetch_gone),
                ],
            )
        },
    },
    Family {
        name: "tributary_builds_total",
        kind: "counter",
        help: "Builds by result.",
        samples: |app, _| {
            let m = &app.metrics;
            by_label("result", [("ok", &m.builds_ok), ("failed", &m.builds_failed)])
        },
    },
    Family {
        name: "tributary_documents_generation",
        kind: "gauge",
        help: "The published build served, on a shared store (0 otherwise): equal on every replica once they agree.",
        samples: |app, _| one(app.doc_generation.load(Ordering::Relaxed)),
    },
    Family {
        name: "tributary_build_duration_seconds",
        kind: "gauge",
        help: "Duration of the last build.",
        samples: |app, _| {
            let ms = app.metrics.build_ms.load(Ordering::Relaxed);
            one(format!("{:.3}", ms as f64 / 1000.0))
        },
    },
    Family {
        name: "tributary_http_requests_total",
        kind: "counter",
        help: "Document requests answered (200 and 304).",
        samples: |app, _| one(app.metrics.requests.load(Ordering::Relaxed)),
    },
    Family {
        name: "tributary_http_not_modified_total",
        kind: "counter",
        help: "Document requests answered 304.",
        samples: |app, _| one(app.metrics.not_modified.load(Ordering::Relaxed)),
    },
    Family {
        name: "tributary_http_connections",
        kind: "gauge",
        help: "Connections open now.",
        samples: |app, _| one(app.connections.open()),
    },
    Family {
        name: "tributary_http_connections_max",
        kind: "gauge",
        help: "The connection cap: serve: max_connections, or less to keep descriptors for builds.",
        samples: |app, _| one(app.connections.cap()),
    },
    Family {
        name: "tributary_http_connections_shed_total",
        kind: "counter",
        help: "Connections the server closed or refused, by reason.",
        samples: |app, _| by_label("reason", app.connections.shed.by_reason()),
    },
    Family {
        name: "tributary_websub_pushes_received_total",
        kind: "counter",
        help: "WebSub pushes from upstream hubs, by result: stored, or refused for a missing or wrong signature.",
        samples: |app, _| {
            let m = &app.metrics;
            by_label(
                "result",
                [("stored", &m.pushes_received), ("refused", &m.pushes_refused)],
            )
        },
    },
    Family {
        name: "tributary_websub_hub_requests_total",
        kind: "counter",
        help: "WebSub subscription requests sent to upstream hubs (new, renewals, unsubscriptions).",
        samples: |app, _| one(app.metrics.hub_requests.load(Ordering::Relaxed)),
    },
    Family {
        name: "tributary_websub_pushes_sent_total",
        kind: "counter",
        help: "Pushes of the hub of hub: self to subscribers, by result.",
        samples: |app, _| {
            let m = &app.metrics;
            by_label(
                "result",
                [
                    ("delivered", &m.hub_delivered),
                    ("failed", &m.hub_failed),
                    ("dropped", &m.hub_dropped),
                ],
            )
        },
    },
    Family {
        name: "tributary_items_stored",
        kind: "gauge",
        help: "Upstream items in the store, by source.",
        samples: |_, status| per_source(status, |st| st.item_count),
    },
    Family {
        name: "tributary_source_consecutive_failures",
        kind: "gauge",
        help: "Consecutive failed fetches, by source.",
        samples: |_, status| per_source(status, |st| u64::from(st.consecutive_failures)),
    },
];

/// The text of `/metrics`: each family's `HELP` and `TYPE`, then its samples.
fn render_metrics(app: &App, status: &Status) -> String {
    let mut s = String::new();
    for f in FAMILIES {
        let name = f.name;
        let _ = writeln!(s, "# HELP {name} {}\n# TYPE {name} {}", f.help, f.kind);
        for sample in (f.samples)(app, status) {
            let value = sample.value;
            let _ = match sample.label {
                Some((key, v)) => writeln!(s, "{name}{{{key}=\"{}\"}} {value}", label_value(&v)),
                None => writeln!(s, "{name} {value}"),
            };
        }
    }
    s
}

/// A family of one unlabelled sample.
fn one(value: impl std::fmt::Display) -> Vec<Sample> {
    vec![Sample {
        label: None,
        value: value.to_string(),
    }]
}

/// One sample per counter, labelled `key="name"`.
fn by_label<const N: usize>(key: &'static str, counters: [(&str, &AtomicU64); N]) -> Vec<Sample> {
    counters
        .into_iter()
        .map(|(name, v)| Sample {
            label: Some((key, name.to_string())),
            value: v.load(Ordering::Relaxed).to_string(),
        })
        .collect()
}

/// One sample per source, labelled `source="NAME"`: 0 for a source the
/// store does not know yet.
fn per_source(status: &Status, value: fn(&SourceState) -> u64) -> Vec<Sample> {
    status
        .health
        .iter()
        .map(|h| Sample {
            label: Some(("source", h.name.clone())),
            value: h.state.as_ref().map_or(0, value).to_string(),
        })
        .collect()
}

/// A label value as the text format wants it: source names are free text.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn encodings_are_negotiated_by_preference_and_q() {
        assert_eq!(negotiate(&headers(&[])), Coding::Identity);
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "gzip, deflate, br")])),
            Coding::Brotli
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "gzip")])),
            Coding::Gzip
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "br;q=0, gzip;q=0.5")])),
            Coding::Gzip
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "identity")])),
            Coding::Identity
        );
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(none_match("\"a\"", "\"a\""));
        assert!(none_match("W/\"a\", \"b\"", "\"a\""));
        assert!(none_match("*", "\"a\""));
        assert!(!none_match("\"b\"", "\"a\""));
    }

    #[test]
    fn paths_are_percent_decoded_once() {
        assert_eq!(decode_path("/tags/c%2B%2B.atom"), "/tags/c++.atom");
        assert_eq!(decode_path("/a%25b.atom"), "/a%b.atom");
        assert_eq!(decode_path("/bad%zz%"), "/bad%zz%");
    }
}
