//! Feed documents from entries: one module per format, one shared description
//! of the document (`FeedMeta`). Emitters read `Entry` and nothing else.

pub mod atom;
pub mod json;
pub mod rss;

use crate::config::Format;
use crate::entry::{ContentMode, Entry, Person};
use chrono::{DateTime, FixedOffset, SecondsFormat};

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
}

/// Serialize one document.
pub fn emit(format: Format, meta: &FeedMeta, entries: &[&Entry]) -> Result<Vec<u8>, String> {
    match format {
        Format::Atom => atom::emit(meta, entries),
        Format::Rss => rss::emit(meta, entries),
        Format::Json => json::emit(meta, entries),
    }
}

/// RFC 3339 with `Z` for UTC, as Atom and JSON Feed want.
pub fn rfc3339(d: &DateTime<FixedOffset>) -> String {
    d.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The generator's name and version, written into every document.
pub const GENERATOR: &str = "tributary";
pub const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
