//! The post metadata cache (`.tributary/posts-cache.json`): a rebuild reads
//! only the posts whose size or modification time changed. Bodies are not
//! cached; `load_bodies` reads them when a document that holds them must be
//! written again, and refuses a file that changed since its metadata was read.
//!
//! The cache is an optimisation only: a missing, unreadable or foreign cache
//! (another program build, another timezone) is ignored, never an error.

use super::{LoadOptions, Post};
use crate::model::diag::Diagnostic;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::Metadata;
use std::path::Path;

/// Where the cache lives, relative to the site root.
pub const FILE: &str = ".tributary/posts-cache.json";

/// Size and modification time of a post file when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    len: u64,
    mtime_ns: u64,
}

impl Stamp {
    pub fn of(meta: &Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            mtime_ns: mtime_nanos(meta),
        }
    }
}

/// Modification time in nanoseconds since the epoch (0 where unknown).
pub fn mtime_nanos(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    stamp: Stamp,
    post: Post,
    warnings: Vec<Diagnostic>,
}

/// Parsed posts keyed by their path relative to the site root.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PostCache {
    /// What the cached metadata depends on besides the file: the program and
    /// the timezone that dates without one are read in.
    key: String,
    posts: HashMap<String, Cached>,
    #[serde(skip)]
    changed: bool,
}

fn path_key(shown: &Path) -> String {
    shown.to_string_lossy().into_owned()
}

impl PostCache {
    /// The cache key for this program and these load options.
    pub fn key_for(program: u64, opts: LoadOptions) -> String {
        let mut key = format!(
            "{}:{program:016x}:{}:{}",
            env!("CARGO_PKG_VERSION"),
            opts.timezone.name(),
            opts.jekyll
        );
        // Posts read as Hugo reads them depend on the pattern and base URL too.
        if let Some(h) = opts.hugo {
            key.push_str(&format!(
                ":hugo:{}:{}:{}",
                h.permalink, h.content_root, h.base_url
            ));
        }
        key
    }

    /// Read the cache of the site at `root`; empty when absent or made for another `key`.
    pub fn load(root: &Path, key: &str) -> PostCache {
        let cache: Option<PostCache> = std::fs::read(root.join(FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match cache {
            Some(c) if c.key == key => c,
            _ => PostCache {
                key: key.to_string(),
                posts: HashMap::new(),
                changed: true,
            },
        }
    }

    /// The cached post at `shown` if the file still has the same size and mtime.
    pub fn get(&self, shown: &Path, stamp: Stamp) -> Option<(Post, Vec<Diagnostic>)> {
        let c = self.posts.get(&path_key(shown))?;
        (c.stamp == stamp).then(|| (c.post.clone(), c.warnings.clone()))
    }

    /// Remember a freshly parsed post.
    pub fn put(&mut self, stamp: Stamp, post: &Post, warnings: &[Diagnostic]) {
        // A Hugo `ref` renders another page's URL: its post is read every time.
        if post.hugo.as_ref().is_some_and(|h| h.refs) {
            return;
        }
        let key = path_key(&post.path);
        if self.posts.get(&key).is_some_and(|c| c.stamp == stamp) {
            return;
        }
        self.changed = true;
        self.posts.insert(
            key,
            Cached {
                stamp,
                post: post.clone(),
                warnings: warnings.to_vec(),
            },
        );
    }

    /// Keep only the posts at `present` (the others were deleted or broke).
    pub fn retain(&mut self, present: &[&Path]) {
        let keep: std::collections::HashSet<String> = present.iter().map(|p| path_key(p)).collect();
        let before = self.posts.len();
        self.posts.retain(|k, _| keep.contains(k));
        self.changed |= self.posts.len() != before;
    }

    /// Write the cache atomically, if anything changed.
    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::util::write::write_atomic(&root.join(FILE), &bytes)
    }
}

/// Read the bodies of the posts at `which` that came from the cache. A file
/// whose bytes no longer match its cached metadata is an error: the build
/// would otherwise mix two versions of the post.
pub fn load_bodies(
    root: &Path,
    posts: &mut [Post],
    which: &[usize],
    opts: LoadOptions,
) -> Result<(), Diagnostic> {
    let todo: Vec<usize> = which
        .iter()
        .copied()
        .filter(|&i| !posts[i].body_loaded)
        .collect();
    let read = crate::util::par::parallel_map(&todo, 64, |&i| {
        let post = &posts[i];
        let (fresh, _) = super::load_file(&root.join(&post.path), &post.path, opts)?;
        if fresh.hash != post.hash {
            return Err(Diagnostic::error(
                &post.path,
                None,
                "changed while the site was being built; run the build again",
            ));
        }
        Ok((fresh.body, fresh.body_line))
    });
    for (&i, r) in todo.iter().zip(read) {
        let (body, line) = r?;
        posts[i].body = body;
        posts[i].body_line = line;
        posts[i].body_loaded = true;
    }
    Ok(())
}

/// `DateTime<FixedOffset>` as RFC 3339 text (chrono is built without serde).
pub mod date {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// `Option<DateTime<FixedOffset>>` as RFC 3339 text or null.
pub mod opt_date {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        d: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.to_rfc3339()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| DateTime::parse_from_rfc3339(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
