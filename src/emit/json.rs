//! JSON Feed 1.1 with serde. Text fields (`title`, `summary`) are plain text;
//! HTML goes in `content_html`.

use super::{FeedMeta, Paging};
use crate::model::entry::{Entry, Person};
use crate::util::date::format_rfc3339;
use crate::util::text::html_to_text;
use serde::Serialize;

#[derive(Serialize)]
struct Feed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub<'a>>,
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Hub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct Item<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    content_html: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment<'a>>,
    /// Where an aggregated entry came from and which posts it relates to
    /// (JSON Feed extensions are `_`-prefixed objects).
    #[serde(rename = "_tributary", skip_serializing_if = "Option::is_none")]
    tributary: Option<Extension<'a>>,
}

/// JSON Feed's enclosure: `url` and `mime_type` are required.
#[derive(Serialize)]
struct Attachment<'a> {
    url: &'a str,
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_in_bytes: Option<u64>,
}

#[derive(Serialize)]
struct Extension<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<crate::model::entry::Source>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    related: &'a [String],
}

fn author(p: &Person) -> Author<'_> {
    Author {
        name: &p.name,
        url: p
            .uri
            .clone()
            .or_else(|| p.email.as_ref().map(|e| format!("mailto:{e}"))),
    }
}

/// Serialize a JSON Feed document.
pub fn write(
    meta: &FeedMeta,
    entries: &[&Entry],
    w: &mut dyn std::io::Write,
) -> Result<(), String> {
    // JSON Feed pages through `next_url` (newer to older), which is exactly
    // the RFC 5005 prev-archive chain.
    let next_url = match &meta.paging {
        Paging::Complete => None,
        Paging::Subscription { prev_archive } => prev_archive.as_deref(),
        Paging::Archive { prev_archive, .. } => prev_archive.as_deref(),
    };
    let feed = Feed {
        version: "https://jsonfeed.org/version/1.1",
        title: &meta.title,
        home_page_url: &meta.home_url,
        feed_url: &meta.subscription_url,
        description: meta.description.as_deref(),
        next_url,
        hubs: meta
            .hub
            .as_deref()
            .map(|url| Hub {
                kind: "WebSub",
                url,
            })
            .into_iter()
            .collect(),
        language: meta.language.as_deref(),
        authors: meta.authors.iter().map(author).collect(),
        items: entries
            .iter()
            .map(|e| {
                let (summary, content) = e.parts(meta.content);
                Item {
                    id: &e.id,
                    url: (!e.url.is_empty()).then_some(e.url.as_str()),
                    title: &e.title,
                    summary: summary.map(html_to_text).filter(|s| !s.is_empty()),
                    content_html: content.or(summary).unwrap_or(""),
                    image: e.image.as_deref(),
                    date_published: format_rfc3339(&e.published),
                    date_modified: format_rfc3339(&e.updated),
                    tags: &e.tags,
                    authors: e.authors.iter().map(author).collect(),
                    language: e.language.as_deref(),
                    attachments: e
                        .enclosures
                        .iter()
                        .map(|x| Attachment {
                            url: &x.url,
                            mime_type: x.mime_or_default(),
                            size_in_bytes: x.length,
                        })
                        .collect(),
                    tributary: {
                        let sources = e.published_sources();
                        (!sources.is_empty() || !e.related.is_empty()).then_some(Extension {
                            sources,
                            related: &e.related,
                        })
                    },
                }
            })
            .collect(),
    };
    serde_json::to_writer_pretty(w, &feed).map_err(|e| e.to_string())
}
