//! What `serve` serves: every document of the last good build, in memory,
//! swapped as a whole so that a reader never gets a mix of two builds.

use crate::util::date::format_http_date;
use axum::body::Bytes;
use axum::http::HeaderValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Largest document kept in memory; larger files are not served (a site
/// that big should put a static server in front).
pub const MAX_DOC_BYTES: u64 = 256 * 1024 * 1024;

/// Content codings `serve` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    fn index(self) -> usize {
        match self {
            Coding::Identity => 0,
            Coding::Gzip => 1,
            Coding::Brotli => 2,
        }
    }

    pub fn header(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Brotli => Some("br"),
        }
    }
}

/// One served document, with every response header that depends only on
/// it made once, when it is loaded: a request clones them (a reference
/// count) instead of formatting them.
#[derive(Debug)]
pub struct Doc {
    pub body: Bytes,
    pub content_type: &'static str,
    /// Hash of the bytes, the base of every coding's strong `ETag`.
    pub hash: u64,
    /// The feed's own `updated`, served as `Last-Modified`.
    pub modified: Option<DateTime<Utc>>,
    /// `ETag` per coding, indexed by [`Coding::index`].
    etags: [HeaderValue; 3],
    /// `Last-Modified`.
    pub last_modified: Option<HeaderValue>,
    identity: Coded,
    gzip: OnceLock<Coded>,
    brotli: OnceLock<Coded>,
}

/// A body in one coding and its `Content-Length`.
#[derive(Debug, Clone)]
pub struct Coded {
    pub bytes: Bytes,
    pub length: HeaderValue,
}

impl Coded {
    fn new(bytes: Bytes) -> Coded {
        Coded {
            length: HeaderValue::from(bytes.len()),
            bytes,
        }
    }
}

impl Doc {
    pub fn new(body: Vec<u8>, content_type: &'static str, modified: Option<DateTime<Utc>>) -> Doc {
        let hash = xxhash_rust::xxh3::xxh3_64(&body);
        // Hex digits, quotes and `-`: always a valid header value.
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{hash:016x}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
        };
        let body = Bytes::from(body);
        Doc {
            hash,
            etags: [etag(""), etag("-gz"), etag("-br")],
            last_modified: modified
                .as_ref()
                .and_then(|m| HeaderValue::from_str(&format_http_date(m)).ok()),
            identity: Coded::new(body.clone()),
            body,
            content_type,
            modified,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    /// A strong validator per representation: the coded bytes differ, so
    /// their `ETag`s must too.
    pub fn etag(&self, coding: Coding) -> &HeaderValue {
        &self.etags[coding.index()]
    }

    /// The body in `coding`, compressed once per document version.
    pub fn coded(&self, coding: Coding) -> &Coded {
        match coding {
            Coding::Identity => &self.identity,
            Coding::Gzip => self.gzip.get_or_init(|| Coded::new(gzip(&self.body))),
            Coding::Brotli => self.brotli.get_or_init(|| Coded::new(brotli(&self.body))),
        }
    }

    /// Make the compressed copies now if they are not made yet, so that no
    /// request waits for them (see [`Snapshot::precompress`]).
    fn precompress(&self) {
        self.coded(Coding::Gzip);
        self.coded(Coding::Brotli);
    }
}

fn gzip(bytes: &[u8]) -> Bytes {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = e.write_all(bytes);
    Bytes::from(e.finish().unwrap_or_default())
}

fn brotli(bytes: &[u8]) -> Bytes {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, 5, 22);
        let _ = w.write_all(bytes);
    }
    Bytes::from(out)
}

/// The media type of a generated file, by extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("atom") => "application/atom+xml; charset=utf-8",
        Some("rss") => "application/rss+xml; charset=utf-8",
        Some("json") => "application/feed+json; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("xsl") => "text/xsl; charset=utf-8",
        Some("xml") => "application/xml; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The `/` page's path among shared documents: no output file is named so
/// (output paths are relative).
pub const INDEX_KEY: &str = "/";

/// Every document of one build, by path under the output dir.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub docs: HashMap<String, Arc<Doc>>,
    /// The `/` page.
    pub index: Option<Arc<Doc>>,
    pub built: Option<DateTime<Utc>>,
    /// The headers the configuration of this build gives every response.
    pub headers: SiteHeaders,
}

/// Response headers from the site's configuration, made when a snapshot is
/// published (the configuration is reloaded with every build).
#[derive(Debug)]
pub struct SiteHeaders {
    /// `Cache-Control: public, max-age=N`.
    pub cache_control: HeaderValue,
    /// `Link: <hub>; rel="hub", <self>; rel="self"` per document, when the
    /// site has a `hub:`.
    pub links: HashMap<String, HeaderValue>,
}

impl Default for SiteHeaders {
    fn default() -> SiteHeaders {
        SiteHeaders {
            cache_control: HeaderValue::from_static("public, max-age=0"),
            links: HashMap::new(),
        }
    }
}

impl SiteHeaders {
    /// The headers `site` gives the documents at `paths`.
    pub fn new<'a>(site: &crate::site::Site, paths: impl Iterator<Item = &'a String>) -> Self {
        let cache_control =
            HeaderValue::from_str(&format!("public, max-age={}", site.config.cache_max_age))
                .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=0"));
        let links = match &site.config.hub {
            Some(hub) => paths
                .filter_map(|p| {
                    let link = format!(
                        "<{hub}>; rel=\"hub\", <{}>; rel=\"self\"",
                        site.config.url_for(p)
                    );
                    Some((p.clone(), HeaderValue::from_str(&link).ok()?))
                })
                .collect(),
            None => HashMap::new(),
        };
        SiteHeaders {
            cache_control,
            links,
        }
    }
}

impl Snapshot {
    /// Point the links of the HTML pages (and the `/` page) at `local`
    /// instead of `base` (`serve --public-url`): a preview on this machine
    /// stays on it. Feeds keep their URLs: their ids and links are what
    /// readers get once published.
    pub fn rebase_pages(&mut self, base: &str, local: &str) {
        let rebase = |d: &Arc<Doc>| {
            let text = String::from_utf8_lossy(&d.body).replace(base, local);
            Arc::new(Doc::new(text.into_bytes(), d.content_type, d.modified))
        };
        for (path, doc) in self.docs.iter_mut() {
            if path.ends_with(".html") {
                *doc = rebase(doc);
            }
        }
        self.index = self.index.as_ref().map(rebase);
    }

    /// Compress every document that has no compressed copies yet. Run off
    /// the request path after a swap: a 3 MB archive takes tens of
    /// milliseconds per coding, which a request on a busy server must not
    /// wait for, and which must not hold up the worker threads that answer
    /// the other readers.
    pub fn precompress(&self) {
        for doc in self.docs.values().chain(self.index.iter()) {
            doc.precompress();
        }
    }

    /// Documents published in a shared store; one whose bytes and date did
    /// not change keeps its `Doc` (and its compressed copies).
    pub fn from_shared(docs: Vec<crate::store::SharedDoc>, previous: &Snapshot) -> Snapshot {
        let mut out = HashMap::with_capacity(docs.len());
        let mut index = None;
        for d in docs {
            if d.path == INDEX_KEY {
                let same = previous
                    .index
                    .as_ref()
                    .filter(|p| p.body.as_ref() == d.body.as_slice());
                index = Some(match same {
                    Some(p) => p.clone(),
                    None => Arc::new(Doc::new(d.body, "text/html; charset=utf-8", None)),
                });
                continue;
            }
            let doc = match previous.docs.get(&d.path) {
                Some(p) if p.body.as_ref() == d.body.as_slice() && p.modified == d.modified => {
                    p.clone()
                }
                _ => Arc::new(Doc::new(d.body, content_type(&d.path), d.modified)),
            };
            out.insert(d.path, doc);
        }
        Snapshot {
            docs: out,
            index,
            built: Some(Utc::now()),
            headers: SiteHeaders::default(),
        }
    }

    /// The documents as a shared store keeps them, the `/` page under
    /// [`INDEX_KEY`].
    pub fn shared_docs(&self) -> Vec<crate::store::SharedDoc> {
        let mut out: Vec<crate::store::SharedDoc> = self
            .docs
            .iter()
            .map(|(path, d)| crate::store::SharedDoc {
                path: path.clone(),
                body: d.body.to_vec(),
                modified: d.modified,
            })
            .collect();
        if let Some(index) = &self.index {
            out.push(crate::store::SharedDoc {
                path: INDEX_KEY.to_string(),
                body: index.body.to_vec(),
                modified: None,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Every document as the build reports it (for the `/` page).
    pub fn files(&self) -> Vec<crate::app::build::OutputFile> {
        let mut out: Vec<crate::app::build::OutputFile> = self
            .docs
            .iter()
            .map(|(path, d)| crate::app::build::OutputFile {
                path: path.clone(),
                updated: d.modified.map(|m| m.fixed_offset()),
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Read the files a build reported from `output`. A document whose bytes
    /// did not change keeps its `Doc` (and its compressed copies).
    pub fn load(
        output: &Path,
        files: &[crate::app::build::OutputFile],
        previous: &Snapshot,
    ) -> std::io::Result<Snapshot> {
        let mut docs = HashMap::with_capacity(files.len());
        for f in files {
            let path = output.join(&f.path);
            if std::fs::metadata(&path)?.len() > MAX_DOC_BYTES {
                tracing::warn!(file = %f.path, "larger than {MAX_DOC_BYTES} bytes: not served");
                continue;
            }
            let bytes = std::fs::read(&path)?;
            let modified = f.updated.map(|u| u.with_timezone(&Utc));
            let doc = match previous.docs.get(&f.path) {
                Some(d) if d.body.as_ref() == bytes.as_slice() && d.modified == modified => {
                    d.clone()
                }
                _ => Arc::new(Doc::new(bytes, content_type(&f.path), modified)),
            };
            docs.insert(f.path.clone(), doc);
        }
        Ok(Snapshot {
            docs,
            index: None,
            built: Some(Utc::now()),
            headers: SiteHeaders::default(),
        })
    }
}
