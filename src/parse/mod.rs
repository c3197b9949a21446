//! Feed documents (Atom, RSS, JSON Feed) read back into the one model,
//! `Entry`. `adopt` and `diff` read the feeds readers already have with it.
//!
//! Parsing is strict here (the `rss` and `atom_syndication` readers): the
//! documents it reads are generators' output. Messy upstream feeds are the
//! aggregate issue's work and will extend this module.

pub mod date;
pub mod encoding;
pub mod jsonl;
pub mod sanitize;
pub mod upstream;

pub use upstream::{
    parse_upstream, parse_whole, FeedKind, UpstreamFeed, UpstreamHtml, UpstreamItem,
};

use crate::config::Format;
use crate::model::entry::{Entry, Person};
use crate::util::date::parse_rfc822_or_rfc3339;
use crate::util::text::{html_to_text, plain_text};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// A feed document as read.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    pub format: Format,
    /// Atom `id`; RSS and JSON Feed have none (JSON's `feed_url` serves).
    pub id: Option<String>,
    pub title: String,
    /// The document's own URL (`rel="self"`, `atom:link`, `feed_url`).
    pub self_url: Option<String>,
    pub home_url: Option<String>,
    pub updated: Option<DateTime<FixedOffset>>,
    pub entries: Vec<Entry>,
}

/// Why a document could not be read. The words are what `sources list`
/// shortens (`not a feed`, `truncated`): keep them when adding a kind.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseError {
    /// Our own output read strictly, and it is none of the three formats.
    #[error("not an Atom, RSS or JSON Feed document")]
    NotOurs,
    /// A document of a known format that its parser refuses.
    #[error("{format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    /// Not a feed at all: XML of another kind, or JSON without a version.
    #[error("not a feed: {0}")]
    NotAFeed(String),
    /// The document ends before its root element closes.
    #[error("truncated: the document ends before <{root}> closes (cut off in transfer?)")]
    Truncated { root: String },
    /// Reading it took longer than the parse budget.
    #[error("gave up after {:.1} s: the document costs too much to read", .budget.as_secs_f64())]
    TooCostly { budget: std::time::Duration },
    /// Elements nested deeper than the parser follows.
    #[error("elements nested deeper than {max} levels")]
    TooDeep { max: usize },
}

/// A known format's parser refused the document.
pub(crate) fn syntax(format: &'static str, e: impl std::fmt::Display) -> ParseError {
    ParseError::Syntax {
        format,
        message: e.to_string(),
    }
}

fn epoch() -> DateTime<FixedOffset> {
    Utc.timestamp_opt(0, 0)
        .single()
        .unwrap_or_default()
        .fixed_offset()
}

/// Read an Atom, RSS or JSON Feed document, detected from its content.
pub fn parse(bytes: &[u8]) -> Result<ParsedFeed, ParseError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF)
        .unwrap_or(0);
    if bytes.get(start) == Some(&b'{') {
        return json(bytes);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    if head.contains("<feed") {
        atom(bytes)
    } else if head.contains("<rss") || head.contains("<rdf:RDF") {
        rss(bytes)
    } else {
        Err(ParseError::NotOurs)
    }
}

/// A stable id for an entry that has none: its link, else its title and date.
pub fn derived_id(link: Option<&str>, title: &str, date: Option<&DateTime<FixedOffset>>) -> String {
    match link.filter(|l| !l.trim().is_empty()) {
        Some(l) => l.trim().to_string(),
        None => {
            let key = format!(
                "{title}\u{1f}{}",
                date.map(|d| d.to_rfc3339()).unwrap_or_default()
            );
            format!(
                "urn:tributary:{:016x}",
                xxhash_rust::xxh3::xxh3_64(key.as_bytes())
            )
        }
    }
}

fn text_to_html(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

fn atom(bytes: &[u8]) -> Result<ParsedFeed, ParseError> {
    use atom_syndication::TextType;
    let feed = atom_syndication::Feed::read_from(bytes).map_err(|e| syntax("Atom", e))?;
    let link = |links: &[atom_syndication::Link], rel: &str| {
        links.iter().find(|l| l.rel == rel).map(|l| l.href.clone())
    };
    let text = |t: &atom_syndication::Text| match t.r#type {
        TextType::Text => plain_text(&t.value),
        _ => html_to_text(&t.value),
    };
    let html = |t: &atom_syndication::Text| match t.r#type {
        TextType::Text => text_to_html(&t.value),
        _ => t.value.clone(),
    };
    let entries = feed
        .entries
        .iter()
        .map(|e| {
            let url = link(&e.links, "alternate")
                .or_else(|| e.links.first().map(|l| l.href.clone()))
                .unwrap_or_default();
            Entry {
                id: e.id.trim().to_string(),
                url,
                title: text(&e.title),
                summary_html: e.summary.as_ref().map(html),
                content_html: e.content.as_ref().and_then(|c| {
                    let v = c.value.clone()?;
                    Some(match c.content_type.as_deref() {
                        Some("text") | None => text_to_html(&v),
                        _ => v,
                    })
                }),
                published: e.published.unwrap_or(e.updated),
                updated: e.updated,
                authors: e
                    .authors
                    .iter()
                    .map(|p| Person {
                        name: p.name.clone(),
                        email: p.email.clone(),
                        uri: p.uri.clone(),
                    })
                    .collect(),
                tags: e.categories.iter().map(|c| c.term.clone()).collect(),
                ..Entry::default()
            }
        })
        .collect();
    Ok(ParsedFeed {
        format: Format::Atom,
        id: Some(feed.id.trim().to_string()),
        title: text(&feed.title),
        self_url: link(&feed.links, "self"),
        home_url: link(&feed.links, "alternate"),
        updated: Some(feed.updated),
        entries,
    })
}

fn rss(bytes: &[u8]) -> Result<ParsedFeed, ParseError> {
    let ch = rss::Channel::read_from(bytes).map_err(|e| syntax("RSS", e))?;
    let updated = ch
        .last_build_date
        .as_deref()
        .or(ch.pub_date.as_deref())
        .and_then(parse_rfc822_or_rfc3339);
    let entries = ch
        .items
        .iter()
        .map(|it| {
            let date = it
                .pub_date
                .as_deref()
                .and_then(parse_rfc822_or_rfc3339)
                .or_else(|| {
                    it.dublin_core_ext
                        .as_ref()?
                        .dates
                        .first()
                        .and_then(|d| parse_rfc822_or_rfc3339(d))
                });
            let title = plain_text(it.title.as_deref().unwrap_or(""));
            let id = match &it.guid {
                Some(g) if !g.value.trim().is_empty() => g.value.trim().to_string(),
                _ => derived_id(it.link.as_deref(), &title, date.as_ref()),
            };
            let d = date.or(updated).unwrap_or_else(epoch);
            let mut authors: Vec<Person> = it.author.iter().map(|a| Person::parse(a)).collect();
            if let Some(dc) = &it.dublin_core_ext {
                authors.extend(dc.creators.iter().map(|c| Person::parse(c)));
            }
            Entry {
                id,
                url: it.link.clone().unwrap_or_default(),
                title,
                summary_html: it.description.clone(),
                content_html: it.content.clone(),
                published: d,
                updated: d,
                authors,
                tags: it.categories.iter().map(|c| c.name.clone()).collect(),
                ..Entry::default()
            }
        })
        .collect();
    let self_url = ch.atom_ext.as_ref().and_then(|a| {
        a.links
            .iter()
            .find(|l| l.rel == "self")
            .map(|l| l.href.clone())
    });
    Ok(ParsedFeed {
        format: Format::Rss,
        id: None,
        title: plain_text(&ch.title),
        self_url,
        home_url: Some(ch.link.clone()).filter(|l| !l.is_empty()),
        updated,
        entries,
    })
}

fn json(bytes: &[u8]) -> Result<ParsedFeed, ParseError> {
    use serde_json::Value;
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| syntax("JSON Feed", e))?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if !s(&doc, "version").is_some_and(|v| v.starts_with("https://jsonfeed.org/version/")) {
        return Err(syntax("JSON Feed", "no jsonfeed.org version"));
    }
    let date = |v: &Value, k: &str| s(v, k).and_then(|d| DateTime::parse_from_rfc3339(&d).ok());
    let entries = doc
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|it| {
                    let published = date(it, "date_published");
                    let updated = date(it, "date_modified")
                        .or(published)
                        .unwrap_or_else(epoch);
                    let title = plain_text(&s(it, "title").unwrap_or_default());
                    let url = s(it, "url").unwrap_or_default();
                    let id = match it.get("id") {
                        Some(Value::String(id)) if !id.is_empty() => id.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => derived_id(Some(&url), &title, published.as_ref()),
                    };
                    Entry {
                        id,
                        url,
                        title,
                        summary_html: s(it, "summary").map(|t| text_to_html(&t)),
                        content_html: s(it, "content_html")
                            .or_else(|| s(it, "content_text").map(|t| text_to_html(&t))),
                        published: published.unwrap_or(updated),
                        updated,
                        authors: it
                            .get("authors")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|p| {
                                        Some(Person {
                                            name: s(p, "name")?,
                                            email: None,
                                            uri: s(p, "url"),
                                        })
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        tags: it
                            .get("tags")
                            .and_then(Value::as_array)
                            .map(|t| {
                                t.iter()
                                    .filter_map(|x| x.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        image: s(it, "image"),
                        ..Entry::default()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ParsedFeed {
        format: Format::Json,
        id: None,
        title: plain_text(&s(&doc, "title").unwrap_or_default()),
        self_url: s(&doc, "feed_url"),
        home_url: s(&doc, "home_page_url"),
        updated: None,
        entries,
    })
}
