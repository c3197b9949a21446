//! The upstream fetcher: conditional GET, redirects followed by hand (so that
//! every hop is checked and permanence is known), the SSRF guard, a body cap
//! while streaming, one deadline for the whole fetch, and per-host limits.

use super::{guard, headers, FetchError};
use crate::config::FetchSettings;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use url::Url;

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Cache validators of a fetched document, stored and sent back verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What one fetch came to.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer (or a local file) and its body, within the cap.
    Fetched {
        body: Vec<u8>,
        validators: Validators,
        /// The URL after redirects.
        final_url: String,
        /// The new URL when every redirect hop was permanent (301/308).
        permanent_url: Option<String>,
        /// From `Cache-Control: max-age`: do not fetch again sooner.
        min_interval: Option<Duration>,
        content_type: Option<String>,
        /// The WebSub hub and topic its `Link` headers name.
        websub: headers::WebSubLinks,
    },
    /// 304: the stored copy is current.
    NotModified {
        permanent_url: Option<String>,
        min_interval: Option<Duration>,
    },
    /// 410: the feed is gone for good.
    Gone { permanent_url: Option<String> },
    Failed {
        error: FetchError,
        /// From `Retry-After` on a 429 or 503.
        retry_after: Option<Duration>,
    },
}

impl Outcome {
    fn failed(error: FetchError) -> Outcome {
        Outcome::Failed {
            error,
            retry_after: None,
        }
    }
}

/// Fetches upstream documents; cheap to clone (one shared connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
    slots: Arc<Slots>,
    policy: Arc<guard::Policy>,
}

/// The `concurrency` and `per_host` limits as permits. Fetchers that share
/// one `Slots` (the batches `serve` runs side by side) share the limits.
#[derive(Debug)]
pub struct Slots {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Slots {
    pub fn new(settings: &FetchSettings) -> Arc<Slots> {
        Arc::new(Slots {
            global: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            per_host: settings.per_host.max(1),
            hosts: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn host(&self, host: String) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }
}

impl Fetcher {
    /// A fetcher with `settings`; `site_url` goes into the User-Agent.
    pub fn new(settings: &FetchSettings, site_url: Option<&str>) -> Result<Fetcher, FetchError> {
        Fetcher::with_slots(settings, site_url, Slots::new(settings))
    }

    /// A fetcher whose limits are `slots`, shared with other fetchers.
    pub fn with_slots(
        settings: &FetchSettings,
        site_url: Option<&str>,
        slots: Arc<Slots>,
    ) -> Result<Fetcher, FetchError> {
        let timeout = Duration::from_secs(settings.timeout.max(1));
        let ua = settings
            .user_agent
            .clone()
            .unwrap_or_else(|| super::user_agent(site_url));
        let ua = HeaderValue::from_str(&ua).map_err(|_| {
            FetchError::Settings(format!("user_agent {ua:?} is not a valid header"))
        })?;
        let policy = Arc::new(guard::Policy::new(settings));
        // Even with `allow_private_addresses` the resolver stays: metadata
        // services are refused whatever is allowed. No proxy: it would
        // resolve and connect on our behalf, past the guard.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(ua)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(guard::GuardedResolver::new(policy.clone())))
            .no_proxy()
            .build()
            .map_err(|e| FetchError::Settings(super::describe(&e)))?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                timeout,
                max_body: settings.max_body,
                slots,
                policy,
            }),
        })
    }

    /// Fetch one document (an http(s) or file URL) within the deadline.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Outcome {
        let deadline = self.inner.timeout;
        match tokio::time::timeout(deadline, self.fetch_unbounded(url, validators)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::failed(FetchError::Timeout {
                url: url.to_string(),
                after: deadline,
            }),
        }
    }

    /// Fetch every job, at most `concurrency` at once and `per_host` per host
    /// (the host of the job's URL; redirects do not move a job to another
    /// host's queue). One request per job, results in job order.
    pub async fn fetch_all<K: Send>(
        &self,
        jobs: Vec<(K, String, Validators)>,
    ) -> Vec<(K, Outcome)> {
        let mut slots: Vec<Option<(K, Outcome)>> = jobs.iter().map(|_| None).collect();
        let jobs = jobs
            .into_iter()
            .enumerate()
            .map(|(i, (k, url, v))| ((i, k), url, v))
            .collect();
        self.fetch_each(jobs, |(i, k), o, _| {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some((k, o));
            }
        })
        .await;
        slots.into_iter().flatten().collect()
    }

    /// [`Fetcher::fetch_all`], handing each outcome to `sink` as soon as it
    /// is in (completion order), so that a caller can parse and store while
    /// other requests are still running and never holds every body at once.
    /// With each outcome: when its request began (its slots acquired), the
    /// moment a schedule counts it for.
    pub async fn fetch_each<K: Send>(
        &self,
        jobs: Vec<(K, String, Validators)>,
        mut sink: impl FnMut(K, Outcome, std::time::Instant),
    ) {
        let mut keys: Vec<Option<K>> = Vec::with_capacity(jobs.len());
        let mut task_index = HashMap::new();
        let mut set = tokio::task::JoinSet::new();
        for (i, (key, url, validators)) in jobs.into_iter().enumerate() {
            keys.push(Some(key));
            let host = self.inner.slots.host(host_key(&url));
            let global = self.inner.slots.global.clone();
            let me = self.clone();
            // The host permit first: a job waiting for its host holds no global slot.
            let handle = set.spawn(async move {
                let _host = host.acquire_owned().await;
                let _slot = global.acquire_owned().await;
                let began = std::time::Instant::now();
                (me.fetch(&url, &validators).await, began)
            });
            task_index.insert(handle.id(), i);
        }
        while let Some(joined) = set.join_next_with_id().await {
            let (id, outcome, began) = match joined {
                Ok((id, (o, began))) => (id, o, began),
                Err(e) => (
                    e.id(),
                    Outcome::failed(FetchError::Request {
                        url: String::new(),
                        message: format!("the fetch task failed: {e}"),
                    }),
                    std::time::Instant::now(),
                ),
            };
            if let Some(key) = task_index.get(&id).and_then(|&i| keys.get_mut(i)?.take()) {
                sink(key, outcome, began);
            }
        }
    }

    async fn fetch_unbounded(&self, url: &str, validators: &Validators) -> Outcome {
        let original = match Url::parse(url) {
            Ok(u) => u,
            Err(e) => {
                return Outcome::failed(FetchError::InvalidUrl {
                    url: url.to_string(),
                    message: e.to_string(),
                })
            }
        };
        if original.scheme() == "file" {
            return self.fetch_file(original, validators).await;
        }
        let mut current = original.clone();
        let mut hops = 0;
        let mut all_permanent = true;
        loop {
            if let Err(e) = self.check_target(&current, hops > 0, &original) {
                return Outcome::failed(e);
            }
            let resp = match self.send(&current, validators).await {
                Ok(r) => r,
                Err(e) => return Outcome::failed(e),
            };
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Outcome::failed(FetchError::TooManyRedirects {
                        url: original.to_string(),
                        limit: MAX_REDIRECTS,
                    });
                }
                all_permanent &= matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                current = match redirect_target(&resp, &current) {
                    Ok(u) => u,
                    Err(e) => return Outcome::failed(e),
                };
                continue;
            }
            let permanent_url =
                (hops > 0 && all_permanent && current != original).then(|| current.to_string());
            return self.answer(resp, &current, permanent_url).await;
        }
    }

    /// One conditional GET of one hop, redirects not followed.
    async fn send(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<reqwest::Response, FetchError> {
        let mut request = self.inner.client.get(url.clone());
        if let Some(v) = validators.etag.as_deref().and_then(header_value) {
            request = request.header(header::IF_NONE_MATCH, v);
        }
        if let Some(v) = validators.last_modified.as_deref().and_then(header_value) {
            request = request.header(header::IF_MODIFIED_SINCE, v);
        }
        request.send().await.map_err(|e| request_error(url, &e))
    }

    /// What a final (not redirecting) response at `url` comes to.
    async fn answer(
        &self,
        mut resp: reqwest::Response,
        url: &Url,
        permanent_url: Option<String>,
    ) -> Outcome {
        let min_interval = cache_max_age(resp.headers());
        match resp.status() {
            StatusCode::NOT_MODIFIED => Outcome::NotModified {
                permanent_url,
                min_interval,
            },
            StatusCode::GONE => Outcome::Gone { permanent_url },
            s if s.is_success() => {
                let h = resp.headers();
                let validators = Validators {
                    etag: header_text(h, header::ETAG),
                    last_modified: header_text(h, header::LAST_MODIFIED),
                };
                let content_type = header_text(h, header::CONTENT_TYPE);
                let links = h
                    .get_all(header::LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok());
                let websub = headers::websub_links(links, url);
                match read_capped(&mut resp, url, self.inner.max_body).await {
                    Ok(body) => Outcome::Fetched {
                        body,
                        validators,
                        final_url: url.to_string(),
                        permanent_url,
                        min_interval,
                        content_type,
                        websub,
                    },
                    Err(e) => Outcome::failed(e),
                }
            }
            s => failed_status(resp.headers(), url, s),
        }
    }

    /// The scheme, and an IP-literal host (hosts by name are checked by the resolver).
    fn check_target(&self, url: &Url, redirected: bool, original: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme {
                url: url.to_string(),
                redirected_from: redirected.then(|| original.to_string()),
            });
        }
        if let Some(host) = url.host() {
            self.inner
                .policy
                .check_host(&host)
                .map_err(|refused| FetchError::Refused {
                    url: url.to_string(),
                    refused,
                })?;
        }
        Ok(())
    }

    /// The checks every hop passes before a connection is opened (scheme;
    /// the guard on an IP-literal host, or on the addresses a name resolves
    /// to), without connecting: `Ok` when a fetch of `url` would connect.
    pub async fn admits(&self, url: &str) -> Result<(), FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        self.check_target(&parsed, false, &parsed)?;
        if let Some(url::Host::Domain(name)) = parsed.host() {
            match self.inner.policy.resolve(name).await {
                Ok(_) => {}
                Err(guard::ResolveError::Refused(refused)) => {
                    return Err(FetchError::Refused {
                        url: url.to_string(),
                        refused,
                    })
                }
                Err(guard::ResolveError::Lookup(e)) => {
                    return Err(FetchError::Request {
                        url: url.to_string(),
                        message: format!("cannot resolve {name}: {e}"),
                    })
                }
            }
        }
        Ok(())
    }

    /// A local file (an upstream given as a path), under the same cap. Its
    /// ETag is made from size and modification time, so an unchanged file
    /// comes back as `NotModified`.
    async fn fetch_file(&self, url: Url, validators: &Validators) -> Outcome {
        let max = self.inner.max_body;
        let known = validators.etag.clone();
        let shown = url.to_string();
        let Ok(path) = url.to_file_path() else {
            return Outcome::failed(FetchError::File {
                url: shown,
                message: "not a local file path".into(),
            });
        };
        let read =
            tokio::task::spawn_blocking(move || read_file(&path, max, known.as_deref())).await;
        match read {
            Ok(Ok(Some((body, etag)))) => Outcome::Fetched {
                body,
                validators: Validators {
                    etag: Some(etag),
                    last_modified: None,
                },
                final_url: shown,
                permanent_url: None,
                min_interval: None,
                content_type: None,
                websub: headers::WebSubLinks::default(),
            },
            Ok(Ok(None)) => Outcome::NotModified {
                permanent_url: None,
                min_interval: None,
            },
            Ok(Err(FileError::TooLarge)) => Outcome::failed(FetchError::TooLarge {
                url: shown,
                limit: max,
            }),
            Ok(Err(FileError::Io(e))) => Outcome::failed(FetchError::File {
                url: shown,
                message: e.to_string(),
            }),
            Err(e) => Outcome::failed(FetchError::File {
                url: shown,
                message: e.to_string(),
            }),
        }
    }
}

enum FileError {
    TooLarge,
    Io(std::io::Error),
}

/// `None` when the file's ETag equals `known`.
fn read_file(
    path: &std::path::Path,
    max: u64,
    known: Option<&str>,
) -> Result<Option<(Vec<u8>, String)>, FileError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let meta = file.metadata().map_err(FileError::Io)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let etag = format!(
        "\"file-{}-{}.{:09}\"",
        meta.len(),
        mtime.as_secs(),
        mtime.subsec_nanos()
    );
    if known == Some(etag.as_str()) {
        return Ok(None);
    }
    if meta.len() > max {
        return Err(FileError::TooLarge);
    }
    // The length can change under us: read at most one byte past the cap.
    let mut body = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(FileError::Io)?;
    if body.len() as u64 > max {
        return Err(FileError::TooLarge);
    }
    Ok(Some((body, etag)))
}

/// Read the (decompressed) body chunk by chunk, failing as soon as it passes `max`.
async fn read_capped(
    resp: &mut reqwest::Response,
    url: &Url,
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        limit: max,
    };
    // Only known when the body is not compressed; then fail before reading.
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(max) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > max {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(request_error(url, &e)),
        }
    }
}

/// A reqwest error in words; the guard's refusal keeps its own message.
fn request_error(url: &Url, e: &reqwest::Error) -> FetchError {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<guard::Refused>() {
            return FetchError::Refused {
                url: url.to_string(),
                refused: r.clone(),
            };
        }
        source = s.source();
    }
    FetchError::Request {
        url: url.to_string(),
        message: super::describe(e),
    }
}

/// A stored validator as a header value, byte for byte; `None` if it cannot be one.
/// Where a redirect at `url` points, resolved against it.
fn redirect_target(resp: &reqwest::Response, url: &Url) -> Result<Url, FetchError> {
    let Some(location) = header_text(resp.headers(), header::LOCATION) else {
        return Err(FetchError::Request {
            url: url.to_string(),
            message: format!("HTTP {} without a Location header", resp.status().as_u16()),
        });
    };
    url.join(location.trim())
        .map_err(|e| FetchError::InvalidUrl {
            url: location,
            message: format!("{e} (redirected from {url})"),
        })
}

/// An error status, with the `Retry-After` of the statuses that mean "later".
fn failed_status(h: &HeaderMap, url: &Url, status: StatusCode) -> Outcome {
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            header_text(h, header::RETRY_AFTER)
                .and_then(|v| headers::retry_after(&v, chrono::Utc::now()))
        }
        _ => None,
    };
    Outcome::Failed {
        error: FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        },
        retry_after,
    }
}

fn header_value(v: &str) -> Option<HeaderValue> {
    HeaderValue::from_bytes(v.as_bytes()).ok()
}

fn header_text(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Every `Cache-Control` header, as one list.
fn cache_max_age(h: &HeaderMap) -> Option<Duration> {
    let all: Vec<String> = h
        .get_all(header::CACHE_CONTROL)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if all.is_empty() {
        return None;
    }
    headers::max_age(&all.join(","))
}

/// The per-host queue a job waits in.
fn host_key(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match u.host_str() {
            Some(h) => h.to_ascii_lowercase(),
            None => u.scheme().to_string(),
        },
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys() {
        assert_eq!(host_key("https://Example.ORG/a"), "example.org");
        assert_eq!(host_key("http://example.org:8080/b"), "example.org");
        assert_eq!(host_key("file:///tmp/feed.xml"), "file");
        assert_eq!(host_key("not a url"), "");
    }

    #[test]
    fn validators_survive_as_header_values() {
        let weak = "W/\"abc\u{e9}\"";
        let v = header_value(weak).unwrap();
        assert_eq!(v.as_bytes(), weak.as_bytes());
        assert!(header_value("a\nb").is_none());
    }

    #[test]
    fn local_files_and_their_etag() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("feed.xml");
        std::fs::write(&p, b"<rss/>").unwrap();
        let (body, etag) = match read_file(&p, 100, None) {
            Ok(Some(x)) => x,
            _ => panic!("not read"),
        };
        assert_eq!(body, b"<rss/>");
        assert!(matches!(read_file(&p, 100, Some(&etag)), Ok(None)));
        assert!(matches!(read_file(&p, 5, None), Err(FileError::TooLarge)));
        assert!(matches!(
            read_file(&dir.path().join("missing"), 5, None),
            Err(FileError::Io(_))
        ));
    }
}
