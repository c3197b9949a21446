//! The one model: local posts, upstream items and merged entries are all `Entry`.
//! Every emitter reads only this type.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// A person (author), as all three formats know one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "url")]
    pub uri: Option<String>,
}

impl Person {
    /// The same person with every field as XML-safe plain text.
    pub fn cleaned(&self) -> Person {
        let t = |s: &str| crate::util::text::plain_text(s);
        Person {
            name: t(&self.name),
            email: self.email.as_deref().map(t).filter(|e| !e.is_empty()),
            uri: self.uri.as_deref().map(t).filter(|u| !u.is_empty()),
        }
    }

    /// Parse `Name`, `Name <email>` or a bare `email@host`.
    pub fn parse(text: &str) -> Person {
        let text = text.trim();
        if let (Some(open), true) = (text.rfind('<'), text.ends_with('>')) {
            let email = text[open + 1..text.len() - 1].trim();
            let name = text[..open].trim();
            if email.contains('@') {
                return Person {
                    name: if name.is_empty() { email } else { name }.to_string(),
                    email: Some(email.to_string()),
                    uri: None,
                };
            }
        }
        if !text.contains(' ') && text.contains('@') {
            return Person {
                name: text.to_string(),
                email: Some(text.to_string()),
                uri: None,
            };
        }
        Person {
            name: text.to_string(),
            email: None,
            uri: None,
        }
    }
}

/// What an entry carries of its body: the full HTML, a summary, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentMode {
    #[default]
    Both,
    Full,
    Summary,
}

/// Titles longer than this many characters are cut at a word with `…`:
/// readers show a line or two, and a megabyte title would be republished
/// in every document and page that lists the entry.
pub const MAX_TITLE_CHARS: usize = 1000;

/// One entry of a feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Stable id (Atom `id`, RSS `guid`, JSON Feed `id`); never changes once published.
    pub id: String,
    /// Absolute URL of the entry's page.
    pub url: String,
    /// Plain text; emitters escape it.
    pub title: String,
    /// HTML, absolute URLs, XML-safe characters.
    pub summary_html: Option<String>,
    /// HTML, absolute URLs, XML-safe characters.
    pub content_html: Option<String>,
    pub published: DateTime<FixedOffset>,
    pub updated: DateTime<FixedOffset>,
    pub authors: Vec<Person>,
    /// Tags and categories, in the order written, without duplicates.
    pub tags: Vec<String>,
    /// Absolute URL of a representative image.
    pub image: Option<String>,
    /// The entry's own choice of content, overriding the feed's.
    pub content_mode: Option<ContentMode>,
    /// Upstream feeds this entry was taken from (empty for a local post that
    /// no upstream repeats). Emitted as Atom `source` + `link rel="via"`,
    /// RSS `source`, JSON Feed `_tributary.sources`.
    pub sources: Vec<Source>,
    /// URLs of local posts this entry is related to (Atom `link rel="related"`).
    pub related: Vec<String>,
    /// Media files attached to the entry (RSS `enclosure`, Atom
    /// `link rel="enclosure"`, JSON Feed `attachments`), in the order written:
    /// podcasts and release feeds are read for them.
    pub enclosures: Vec<Enclosure>,
    /// The vocabulary of those tags that name one (Atom `scheme`, RSS
    /// `domain`), kept beside `tags` so that the plain tag list stays what
    /// every consumer already reads.
    pub tag_schemes: Vec<TagScheme>,
    /// The language of the entry's text (`xml:lang`, RSS `language`, JSON
    /// Feed `language`), when the upstream says.
    pub language: Option<String>,
}

/// A media file attached to an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Enclosure {
    /// Absolute URL of the file.
    pub url: String,
    /// Its MIME type, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its size in bytes, when given (RSS and Atom write 0 or nothing when
    /// unknown; that is kept as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

impl Enclosure {
    /// The MIME type to publish: the stored one when it is well-formed, else
    /// `application/octet-stream` (RSS requires a type on every enclosure).
    pub fn mime_or_default(&self) -> &str {
        self.mime_type
            .as_deref()
            .filter(|t| is_mime_type(t))
            .unwrap_or("application/octet-stream")
    }
}

/// Whether `t` is `type/subtype` (parameters allowed), as feed checkers
/// require of an enclosure type.
pub fn is_mime_type(t: &str) -> bool {
    let token = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    let essence = t.split(';').next().unwrap_or("").trim_end();
    match essence.split_once('/') {
        Some((a, b)) => token(a) && token(b),
        None => false,
    }
}

/// Whether `t` is a language tag of the shape `xml:lang` takes
/// (`en`, `pt-BR`, `zh-Hant-TW`): anything else is not republished.
pub fn is_language_tag(t: &str) -> bool {
    let mut parts = t.split('-');
    let first = parts.next().unwrap_or("");
    (2..=8).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A tag's vocabulary: the term as in `Entry::tags`, the scheme URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TagScheme {
    pub term: String,
    pub scheme: String,
}

/// Most enclosures and tag schemes one entry keeps: a hostile feed must not
/// make every combined document it reaches megabytes long.
pub const MAX_ENCLOSURES: usize = 64;
pub const MAX_TAG_SCHEMES: usize = 256;

/// Where an aggregated entry came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Source {
    /// The source's display name (`name:` in the feed file).
    pub name: String,
    /// The upstream feed document's URL.
    pub feed_url: String,
    /// The upstream item's own link, where this copy of the story lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_url: Option<String>,
    /// The upstream item's id (as published): which copy this is, when two
    /// items of one feed share a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Source {
    /// Whether the source has a feed URL that readers can open (a local file has none).
    pub fn is_published(&self) -> bool {
        self.feed_url.starts_with("https://") || self.feed_url.starts_with("http://")
    }
}

/// An entry with nothing but empty fields, dated at the epoch: literals
/// name what they set and take the rest from here (`..Entry::default()`),
/// so that a new optional field is one line, not one per constructor.
impl Default for Entry {
    fn default() -> Self {
        let epoch = DateTime::UNIX_EPOCH.fixed_offset();
        Entry {
            id: String::new(),
            url: String::new(),
            title: String::new(),
            summary_html: None,
            content_html: None,
            published: epoch,
            updated: epoch,
            authors: Vec::new(),
            tags: Vec::new(),
            image: None,
            content_mode: None,
            sources: Vec::new(),
            related: Vec::new(),
            enclosures: Vec::new(),
            tag_schemes: Vec::new(),
            language: None,
        }
    }
}

impl Entry {
    /// The sources that can be shown to readers.
    pub fn published_sources(&self) -> Vec<Source> {
        self.sources
            .iter()
            .filter(|s| s.is_published())
            .cloned()
            .collect()
    }

    /// The source this entry was taken from: the one whose item is the
    /// entry's own link. `None` for a local post, even one upstreams repeat.
    pub fn origin(&self) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| s.is_published() && s.item_url.as_deref() == Some(self.url.as_str()))
    }

    /// `via` links: every upstream copy of the story other than the entry's
    /// own link (the copy's item URL, else its feed), without duplicates.
    pub fn via_urls(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.sources.iter().filter(|s| s.is_published()) {
            let url = s
                .item_url
                .as_deref()
                .filter(|u| *u != self.url)
                .unwrap_or(&s.feed_url);
            if !out.contains(&url) {
                out.push(url);
            }
        }
        out
    }

    /// Whether the id is the entry's URL (RSS `isPermaLink`).
    pub fn id_is_permalink(&self) -> bool {
        self.id == self.url
    }

    /// The content mode in force for this entry in a feed that asks for `feed_mode`.
    pub fn mode(&self, feed_mode: ContentMode) -> ContentMode {
        self.content_mode.unwrap_or(feed_mode)
    }

    /// Summary and content HTML as the mode says; whichever the mode wants falls
    /// back to the other, so that no format is left with neither.
    pub fn parts(&self, feed_mode: ContentMode) -> (Option<&str>, Option<&str>) {
        let summary = self.summary_html.as_deref();
        let content = self.content_html.as_deref();
        match self.mode(feed_mode) {
            ContentMode::Both => (summary, content.or(summary)),
            ContentMode::Full => (None, content.or(summary)),
            ContentMode::Summary => (summary.or(content), None),
        }
    }
}
