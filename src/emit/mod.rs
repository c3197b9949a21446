//! Feed documents from entries: one module per format, one shared description
//! of the document (`FeedMeta`). Emitters read `Entry` and nothing else.

pub mod atom;
pub mod html;
pub mod json;
pub mod rss;
pub mod validate;
pub mod xsl;

use crate::config::Format;
use crate::model::entry::{ContentMode, Entry, Person};
use chrono::{DateTime, FixedOffset};

/// RFC 5005 namespace (feed history).
pub const FH_NS: &str = "http://purl.org/syndication/history/1.0";

/// Where a document sits in its feed's history (RFC 5005).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// Every entry is in this one document: `fh:complete`.
    Complete,
    /// The subscription document of an archived feed.
    Subscription { prev_archive: Option<String> },
    /// An immutable archive document.
    Archive {
        prev_archive: Option<String>,
        next_archive: Option<String>,
        current: String,
    },
}

/// Everything a document says about itself.
#[derive(Debug, Clone)]
pub struct FeedMeta {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub language: Option<String>,
    /// The site's home page.
    pub home_url: String,
    /// This document's own URL.
    pub self_url: String,
    /// URL of the subscription document (equal to `self_url` for it).
    pub subscription_url: String,
    pub authors: Vec<Person>,
    /// Newest entry change (never the clock, so rebuilds are byte-identical).
    pub updated: DateTime<FixedOffset>,
    pub content: ContentMode,
    pub paging: Paging,
    /// WebSub hub (`link rel="hub"`; JSON Feed `hubs`).
    pub hub: Option<String>,
}

/// Serialize one document into memory.
pub fn emit(format: Format, meta: &FeedMeta, entries: &[&Entry]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(4096);
    write(format, meta, entries, &mut out)?;
    Ok(out)
}

/// Serialize one document into `w` as it is made (a large archive is never
/// held whole in memory).
pub fn write(
    format: Format,
    meta: &FeedMeta,
    entries: &[&Entry],
    w: &mut dyn std::io::Write,
) -> Result<(), String> {
    match format {
        Format::Atom => atom::write(meta, entries, w),
        Format::Rss => rss::write(meta, entries, w),
        Format::Json => json::write(meta, entries, w),
    }?;
    w.write_all(b"\n").map_err(|e| e.to_string())
}

/// The generator's name and version, written into every document.
pub const GENERATOR: &str = "tributary";
pub const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
