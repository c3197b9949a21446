//! What every backend stores the same way: an item's fields as columns
//! (JSON lists, the content mode, dates as (seconds, nanoseconds, offset)),
//! its fingerprint, and instants as i64 nanoseconds since the epoch.

use chrono::{DateTime, FixedOffset, Utc};
use xxhash_rust::xxh3::Xxh3;

use super::{SourceState, StoreError, StoredItem};
use crate::model::entry::{ContentMode, Enclosure, Entry, Person, Source, TagScheme};

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
    /// [`Extras`] as a JSON object (`{}` when there are none).
    pub(super) extras: String,
    pub(super) content_mode: Option<&'static str>,
    pub(super) fingerprint: i64,
}

/// The fields stored in the one `extras` column (SQLite step 6, PostgreSQL
/// step 3): enclosures, tag schemes and the content language. One JSON
/// column rather than three, so that later optional fields need no
/// migration; absent members are empty.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Extras {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    enclosures: Vec<Enclosure>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tag_schemes: Vec<TagScheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<String>,
}

/// `Extras` borrowed from an entry, for writing.
#[derive(serde::Serialize)]
struct ExtrasRef<'a> {
    #[serde(skip_serializing_if = "<[Enclosure]>::is_empty")]
    enclosures: &'a [Enclosure],
    #[serde(skip_serializing_if = "<[TagScheme]>::is_empty")]
    tag_schemes: &'a [TagScheme],
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
}

fn encode_extras(e: &Entry) -> String {
    if e.enclosures.is_empty() && e.tag_schemes.is_empty() && e.language.is_none() {
        return "{}".to_string();
    }
    let x = ExtrasRef {
        enclosures: &e.enclosures,
        tag_schemes: &e.tag_schemes,
        language: e.language.as_deref(),
    };
    // Plain strings and numbers: serializing cannot fail.
    serde_json::to_string(&x).unwrap_or_else(|_| "{}".to_string())
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
            + self.related.len()
            + self.extras.len()) as u64
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
        extras: encode_extras(e),
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
    // Only when there are any: an entry without extras keeps the
    // fingerprint it had before they were stored, so that upgrading does
    // not rewrite every row.
    if enc.extras != "{}" {
        field(&mut h, Some(&enc.extras));
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

/// One result row of either backend, read by column index; errors already
/// name the store.
pub(super) trait Columns {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// The store's "damaged" error.
    fn corrupt(&self, message: String) -> StoreError;
}

/// `Columns` for a backend's row wrapper (`row`, `store` fields): every
/// column read the same way, through the driver's getter `$get`, its errors
/// named by `store.db()`, so that the backends differ only in that getter.
macro_rules! row_columns {
    ($cols:ty, $get:ident) => {
        impl $crate::store::codec::Columns for $cols {
            fn int(&self, i: usize) -> Result<i64, $crate::store::StoreError> {
                self.row.$get(i).map_err(self.store.db())
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>, $crate::store::StoreError> {
                self.row.$get(i).map_err(self.store.db())
            }
            fn text(&self, i: usize) -> Result<String, $crate::store::StoreError> {
                self.row.$get(i).map_err(self.store.db())
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, $crate::store::StoreError> {
                self.row.$get(i).map_err(self.store.db())
            }
            fn corrupt(&self, message: String) -> $crate::store::StoreError {
                self.store.corrupt(message)
            }
        }
    };
}
pub(super) use row_columns;

/// A source from a row in the order every backend selects it: key, name,
/// url, etag, last_modified, last_fetch, last_success, last_error,
/// consecutive_failures, next_due, min_interval_secs, disabled, item count.
pub(super) fn source_state(row: &impl Columns) -> Result<SourceState, StoreError> {
    let instant =
        |i: usize| Ok::<_, StoreError>(row.opt_int(i)?.map(DateTime::from_timestamp_nanos));
    Ok(SourceState {
        key: row.text(0)?,
        name: row.text(1)?,
        url: row.text(2)?,
        etag: row.opt_text(3)?,
        last_modified: row.opt_text(4)?,
        last_fetch: instant(5)?,
        last_success: instant(6)?,
        last_error: row.opt_text(7)?,
        consecutive_failures: u32::try_from(row.int(8)?.max(0)).unwrap_or(u32::MAX),
        next_due: instant(9)?,
        min_interval_secs: row.opt_int(10)?,
        disabled: row.opt_text(11)?,
        item_count: u64::try_from(row.int(12)?).unwrap_or(0),
    })
}

/// An item from a row in the order every backend selects it: upstream id,
/// canonical_url, url, title, summary_html, content_html, published (s, ns,
/// offset), updated (s, ns, offset), authors, tags, image, content_mode,
/// sources, related, first_seen, extras.
pub(super) fn stored_item(row: &impl Columns) -> Result<StoredItem, StoreError> {
    let date = |s: usize| -> Result<DateTime<FixedOffset>, StoreError> {
        let (secs, nanos, off) = (row.int(s)?, row.int(s + 1)?, row.int(s + 2)?);
        decode_date(secs, nanos, off).ok_or_else(|| {
            row.corrupt(format!(
                "invalid date ({secs}, {nanos}, {off}) in column {s}"
            ))
        })
    };
    fn list<T: serde::de::DeserializeOwned>(
        row: &impl Columns,
        i: usize,
    ) -> Result<Vec<T>, StoreError> {
        decode_list(&row.text(i)?).map_err(|e| row.corrupt(format!("column {i}: {e}")))
    }
    let content_mode = match row.opt_text(15)? {
        None => None,
        Some(m) => Some(decode_mode(&m).ok_or_else(|| row.corrupt(format!("content mode {m:?}")))?),
    };
    let mut entry = Entry {
        id: row.text(0)?,
        url: row.text(2)?,
        title: row.text(3)?,
        summary_html: row.opt_text(4)?,
        content_html: row.opt_text(5)?,
        published: date(6)?,
        updated: date(9)?,
        authors: list::<Person>(row, 12)?,
        tags: list::<String>(row, 13)?,
        image: row.opt_text(14)?,
        content_mode,
        sources: list::<Source>(row, 16)?,
        related: list::<String>(row, 17)?,
        enclosures: Vec::new(),
        tag_schemes: Vec::new(),
        language: None,
    };
    let extras = row.text(19)?;
    if extras != "{}" {
        let x: Extras =
            serde_json::from_str(&extras).map_err(|e| row.corrupt(format!("column 19: {e}")))?;
        entry.enclosures = x.enclosures;
        entry.tag_schemes = x.tag_schemes;
        entry.language = x.language;
    }
    // Rows stored before a policy change are held to today's policy.
    crate::model::urlpolicy::entry(&mut entry);
    Ok(StoredItem {
        entry,
        canonical_url: row.opt_text(1)?,
        first_seen: DateTime::from_timestamp_nanos(row.int(18)?),
    })
}
