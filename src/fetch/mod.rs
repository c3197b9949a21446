//! Fetching feed documents over HTTP with reqwest on tokio.
//!
//! Every response body is read in chunks and refused once it passes the cap
//! (after decompression), so a hostile or broken server cannot make
//! tributary buffer more than `max_body` bytes.
//!
//! [`Fetcher`] is the upstream fetcher (conditional GET, manual redirects,
//! SSRF guard, per-host limits); [`get`] and [`get_many_blocking`] are the
//! plain capped GET used by `adopt` and `diff` on URLs the user typed.

pub mod guard;
pub mod headers;
mod http;
pub mod schedule;

pub use http::{Fetcher, Outcome, Slots, Validators};
pub use schedule::backoff;

use std::time::Duration;

/// Limits for one request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole request, connection to last byte.
    pub timeout: Duration,
    /// Largest body accepted, in bytes, after decompression.
    pub max_body: u64,
    pub max_redirects: usize,
    pub user_agent: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            max_body: 10 * 1024 * 1024,
            max_redirects: 5,
            user_agent: user_agent(None),
        }
    }
}

/// `tributary/VERSION (+SITE)`: servers can tell who is asking and whom to ask about it.
pub fn user_agent(site: Option<&str>) -> String {
    match site {
        Some(s) => format!("tributary/{} (+{s})", env!("CARGO_PKG_VERSION")),
        None => format!("tributary/{}", env!("CARGO_PKG_VERSION")),
    }
}

/// Why a fetch failed, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: the body is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: not a valid URL: {message}")]
    InvalidUrl { url: String, message: String },
    /// A scheme other than http/https (or `file` for the first URL).
    #[error("{url}: refused: only http and https URLs are fetched{}", redirect_note(.redirected_from))]
    Scheme {
        url: String,
        redirected_from: Option<String>,
    },
    /// The SSRF guard refused the address.
    #[error("{url}: {refused}")]
    Refused {
        url: String,
        refused: guard::Refused,
    },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: timed out after {} s (fetch.timeout)", .after.as_secs())]
    Timeout { url: String, after: Duration },
    #[error("{url}: cannot read the file: {message}")]
    File { url: String, message: String },
    #[error("fetch settings: {0}")]
    Settings(String),
}

fn redirect_note(from: &Option<String>) -> String {
    match from {
        Some(f) => format!(" (redirected from {f})"),
        None => String::new(),
    }
}

/// A client with the limits applied.
pub fn client(limits: &Limits) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::limited(limits.max_redirects))
        .user_agent(limits.user_agent.clone())
        .build()
        .map_err(|e| FetchError::Request {
            url: String::new(),
            message: e.to_string(),
        })
}

/// GET `url` and return the body of a 2xx answer, read under the cap.
pub async fn get(
    client: &reqwest::Client,
    url: &str,
    max_body: u64,
) -> Result<Vec<u8>, FetchError> {
    let err = |e: reqwest::Error| FetchError::Request {
        url: url.to_string(),
        message: describe(&e),
    };
    let mut resp = client.get(url).send().await.map_err(err)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    if resp.content_length().is_some_and(|n| n > max_body) {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit: max_body,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(err)? {
        if body.len() as u64 + chunk.len() as u64 > max_body {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit: max_body,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request error in a few words, then its chain of causes.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Fetch several documents from the command line (no daemon, no runtime yet):
/// one current-thread runtime for the call. `None` for a 404.
pub fn get_many_blocking(
    urls: &[String],
    limits: &Limits,
) -> Result<Vec<Option<Vec<u8>>>, FetchError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Request {
            url: String::new(),
            message: e.to_string(),
        })?;
    rt.block_on(async {
        let c = client(limits)?;
        let mut out = Vec::with_capacity(urls.len());
        for u in urls {
            match get(&c, u, limits.max_body).await {
                Ok(b) => out.push(Some(b)),
                Err(FetchError::Status {
                    status: 404 | 410, ..
                }) => out.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
}
