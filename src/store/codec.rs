//! What every backend stores the same way: an item's fields as columns
//! (JSON lists, the content mode, dates as (seconds, nanoseconds, offset)),
//! its fingerprint, and instants as i64 nanoseconds since the epoch.

use chrono::{DateTime, FixedOffset, Utc};
use xxhash_rust::xxh3::Xxh3;

use super::{StoreError, StoredItem};
use crate::entry::{ContentMode, Entry};

pub(super) fn encode_mode(mode: ContentMode) -> &'static str {
    match mode {
        ContentMode::Both => "both",
        ContentMode::Full => "full",
        ContentMode::Summary => "summary",
    }
}

pub(super) fn decode_mode(text: &str) -> Option<ContentMode> {
    match text {
        "both" => Some(ContentMode::Both),
        "full" => Some(ContentMode::Full),
        "summary" => Some(ContentMode::Summary),
        _ => None,
    }
}

/// An item as columns, with a fingerprint of everything but the seen times.
pub(super) struct Encoded<'a> {
    pub(super) entry: &'a Entry,
    pub(super) canonical_url: Option<&'a str>,
    pub(super) authors: String,
    pub(super) tags: String,
    pub(super) sources: String,
    pub(super) related: String,
    pub(super) content_mode: Option<&'static str>,
    pub(super) fingerprint: i64,
}

impl Encoded<'_> {
    /// Roughly the bytes the body takes on disk.
    pub(super) fn size(&self) -> u64 {
        let e = self.entry;
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        (e.url.len()
            + e.title.len()
            + opt(&e.summary_html)
            + opt(&e.content_html)
            + opt(&e.image)
            + self.canonical_url.map_or(0, str::len)
            + self.authors.len()
            + self.tags.len()
            + self.sources.len()
            + self.related.len()) as u64
    }
}

pub(super) fn json<T: serde::Serialize>(list: &[T]) -> String {
    if list.is_empty() {
        return "[]".to_string();
    }
    // Serializing plain strings and derive(Serialize) structs cannot fail.
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_string())
}

/// A JSON list column read back (`json`'s inverse).
pub(super) fn decode_list<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<Vec<T>, serde_json::Error> {
    if text == "[]" {
        return Ok(Vec::new());
    }
    serde_json::from_str(text)
}

/// An entry date as stored: UTC seconds, nanoseconds, offset seconds.
pub(super) fn date_parts(date: &DateTime<FixedOffset>) -> (i64, u32, i32) {
    (
        date.timestamp(),
        date.timestamp_subsec_nanos(),
        date.offset().local_minus_utc(),
    )
}

/// `date_parts` read back; `None` for values no date has.
pub(super) fn decode_date(secs: i64, nanos: i64, off: i64) -> Option<DateTime<FixedOffset>> {
    let offset = i32::try_from(off).ok().and_then(FixedOffset::east_opt)?;
    let utc = u32::try_from(nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(secs, n))?;
    Some(utc.with_timezone(&offset))
}

/// An instant as i64 nanoseconds since the epoch, or `OutOfRange`.
pub(super) fn nanos(store: &str, what: &'static str, t: DateTime<Utc>) -> Result<i64, StoreError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| StoreError::OutOfRange {
            store: store.to_string(),
            what,
            value: t.to_rfc3339(),
        })
}

pub(super) fn opt_nanos(
    store: &str,
    what: &'static str,
    t: Option<DateTime<Utc>>,
) -> Result<Option<i64>, StoreError> {
    t.map(|t| nanos(store, what, t)).transpose()
}

pub(super) fn encode(item: &StoredItem) -> Encoded<'_> {
    let e = &item.entry;
    let mut enc = Encoded {
        entry: e,
        canonical_url: item.canonical_url.as_deref(),
        authors: json(&e.authors),
        tags: json(&e.tags),
        sources: json(&e.sources),
        related: json(&e.related),
        content_mode: e.content_mode.map(encode_mode),
        fingerprint: 0,
    };
    let mut h = Xxh3::new();
    fn field(h: &mut Xxh3, v: Option<&str>) {
        match v {
            // Length-prefixed, so that moving text between fields changes the hash.
            Some(s) => {
                h.update(&[1]);
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => h.update(&[0]),
        }
    }
    for v in [
        enc.canonical_url,
        Some(&e.url),
        Some(&e.title),
        e.summary_html.as_deref(),
        e.content_html.as_deref(),
        Some(&enc.authors),
        Some(&enc.tags),
        e.image.as_deref(),
        enc.content_mode,
        Some(&enc.sources),
        Some(&enc.related),
    ] {
        field(&mut h, v);
    }
    for date in [e.published, e.updated] {
        h.update(&date.timestamp().to_le_bytes());
        h.update(&date.timestamp_subsec_nanos().to_le_bytes());
        h.update(&date.offset().local_minus_utc().to_le_bytes());
    }
    // Bit-for-bit into the databases' signed 64-bit integer.
    enc.fingerprint = h.digest() as i64;
    enc
}
