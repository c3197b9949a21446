//! RSS 2.0 with the `rss` crate, following the RSS Advisory Board's profile:
//! `atom:link rel="self"`, `content:encoded`, RFC 822 dates, `guid` with a
//! correct `isPermaLink`, `author` only with an e-mail address (else `dc:creator`).

use super::{FeedMeta, Paging, FH_NS, GENERATOR, GENERATOR_VERSION};
use crate::model::entry::Entry;
use crate::util::date::format_rfc822;
use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::extension::Extension;
use std::collections::BTreeMap;

fn link(href: &str, rel: &str) -> Link {
    Link {
        href: href.to_string(),
        rel: rel.to_string(),
        mime_type: Some("application/rss+xml".to_string()),
        ..Default::default()
    }
}

/// Serialize an RSS document.
pub fn write(
    meta: &FeedMeta,
    entries: &[&Entry],
    w: &mut dyn std::io::Write,
) -> Result<(), String> {
    let mut links = vec![link(&meta.self_url, "self")];
    let mut namespaces = BTreeMap::new();
    let mut extensions: rss::extension::ExtensionMap = BTreeMap::new();
    let fh = |name: &str| {
        let mut inner = BTreeMap::new();
        inner.insert(
            name.to_string(),
            vec![Extension {
                name: format!("fh:{name}"),
                ..Default::default()
            }],
        );
        let mut map = BTreeMap::new();
        map.insert("fh".to_string(), inner);
        map
    };
    if let Some(hub) = &meta.hub {
        links.push(Link {
            href: hub.clone(),
            rel: "hub".to_string(),
            ..Default::default()
        });
    }
    match &meta.paging {
        Paging::Complete => {
            namespaces.insert("fh".to_string(), FH_NS.to_string());
            extensions = fh("complete");
        }
        Paging::Subscription { prev_archive } => {
            if let Some(prev) = prev_archive {
                links.push(link(prev, "prev-archive"));
            }
        }
        Paging::Archive {
            prev_archive,
            next_archive,
            current,
        } => {
            namespaces.insert("fh".to_string(), FH_NS.to_string());
            extensions = fh("archive");
            links.push(link(current, "current"));
            if let Some(prev) = prev_archive {
                links.push(link(prev, "prev-archive"));
            }
            if let Some(next) = next_archive {
                links.push(link(next, "next-archive"));
            }
        }
    }
    let items: Vec<rss::Item> = entries.iter().map(|e| item(meta, e)).collect();
    let channel = rss::Channel {
        title: meta.title.clone(),
        link: meta.home_url.clone(),
        // RSS requires a description; the title is the honest fallback.
        description: meta
            .description
            .clone()
            .unwrap_or_else(|| meta.title.clone()),
        language: meta.language.clone(),
        last_build_date: Some(format_rfc822(&meta.updated)),
        generator: Some(format!("{GENERATOR} {GENERATOR_VERSION}")),
        items,
        extensions,
        namespaces,
        atom_ext: Some(AtomExtension { links }),
        ..Default::default()
    };
    channel
        .pretty_write_to(w, b' ', 2)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn item(meta: &FeedMeta, e: &Entry) -> rss::Item {
    let (summary, content) = e.parts(meta.content);
    // `author` must be an e-mail address; names alone go to dc:creator.
    let with_email: Vec<_> = e.authors.iter().filter(|p| p.email.is_some()).collect();
    let (author, dc) = if !e.authors.is_empty() && with_email.len() == e.authors.len() {
        let first = with_email[0];
        let email = first.email.as_deref().unwrap_or_default();
        (Some(format!("{email} ({})", first.name)), None)
    } else if e.authors.is_empty() {
        (None, None)
    } else {
        (
            None,
            Some(DublinCoreExtension {
                creators: e.authors.iter().map(|p| p.name.clone()).collect(),
                ..Default::default()
            }),
        )
    };
    rss::Item {
        title: Some(e.title.clone()),
        link: (!e.url.is_empty()).then(|| e.url.clone()),
        description: summary.map(str::to_string),
        author,
        categories: e
            .tags
            .iter()
            .map(|t| rss::Category {
                name: t.clone(),
                domain: e
                    .tag_schemes
                    .iter()
                    .find(|s| s.term == *t)
                    .map(|s| s.scheme.clone()),
            })
            .collect(),
        // RSS allows one enclosure per item (the RSS profile; readers take
        // the first): the first is published here, every one in Atom and
        // JSON Feed. `url`, `length` and `type` are all required: an
        // unknown length is 0, as the RSS Advisory Board recommends.
        enclosure: e.enclosures.first().map(|x| rss::Enclosure {
            url: x.url.clone(),
            length: x.length.unwrap_or(0).to_string(),
            mime_type: x.mime_or_default().to_string(),
        }),
        guid: Some(rss::Guid {
            value: e.id.clone(),
            permalink: e.id_is_permalink(),
        }),
        pub_date: Some(format_rfc822(&e.published)),
        content: content.map(str::to_string),
        dublin_core_ext: dc,
        source: e.origin().map(|s| rss::Source {
            url: s.feed_url.clone(),
            title: Some(s.name.clone()),
        }),
        ..Default::default()
    }
}
