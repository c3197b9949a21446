//! Atom 1.0 (RFC 4287) with atom_syndication.

use super::{FeedMeta, Paging, FH_NS, GENERATOR, GENERATOR_VERSION};
use crate::model::entry::{Entry, Person};
use atom_syndication as atom;
use std::collections::BTreeMap;

fn person(p: &Person) -> atom::Person {
    atom::Person {
        name: p.name.clone(),
        email: p.email.clone(),
        uri: p.uri.clone(),
        extensions: Default::default(),
    }
}

fn link(href: &str, rel: &str, mime: Option<&str>) -> atom::Link {
    atom::Link {
        href: href.to_string(),
        rel: rel.to_string(),
        mime_type: mime.map(str::to_string),
        ..Default::default()
    }
}

/// Puts `<fh:NAME/>` before the first entry while the document streams
/// through. RFC 4287's grammar allows extension elements only before the
/// entries, but atom_syndication writes them after; entry text is escaped,
/// so the first raw `<entry>` (or `</feed>`) is where they belong. Only the
/// short head before it is buffered.
struct InsertBeforeFirstEntry<'a> {
    inner: &'a mut dyn std::io::Write,
    element: Option<Vec<u8>>,
    head: Vec<u8>,
}

impl InsertBeforeFirstEntry<'_> {
    fn finish(&mut self) -> std::io::Result<()> {
        if self.element.take().is_some() {
            // No entry and no closing tag: nothing to put it before.
            self.inner.write_all(&self.head)?;
            self.head.clear();
        }
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl std::io::Write for InsertBeforeFirstEntry<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.element.is_none() {
            return self.inner.write(buf);
        }
        self.head.extend_from_slice(buf);
        let at = find(&self.head, b"<entry>").or_else(|| find(&self.head, b"</feed>"));
        if let Some(at) = at {
            let element = self.element.take().unwrap_or_default();
            self.inner.write_all(&self.head[..at])?;
            self.inner.write_all(&element)?;
            self.inner.write_all(&self.head[at..])?;
            self.head = Vec::new();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Serialize an Atom document.
pub fn write(
    meta: &FeedMeta,
    entries: &[&Entry],
    w: &mut dyn std::io::Write,
) -> Result<(), String> {
    const TYPE: &str = "application/atom+xml";
    let mut links = vec![
        link(&meta.self_url, "self", Some(TYPE)),
        link(&meta.home_url, "alternate", Some("text/html")),
    ];
    let mut namespaces = BTreeMap::new();
    let mut fh = None;
    if let Some(hub) = &meta.hub {
        links.push(link(hub, "hub", None));
    }
    match &meta.paging {
        Paging::Complete => {
            namespaces.insert("fh".to_string(), FH_NS.to_string());
            fh = Some("complete");
        }
        Paging::Subscription { prev_archive } => {
            if let Some(prev) = prev_archive {
                links.push(link(prev, "prev-archive", Some(TYPE)));
            }
        }
        Paging::Archive {
            prev_archive,
            next_archive,
            current,
        } => {
            namespaces.insert("fh".to_string(), FH_NS.to_string());
            fh = Some("archive");
            links.push(link(current, "current", Some(TYPE)));
            if let Some(prev) = prev_archive {
                links.push(link(prev, "prev-archive", Some(TYPE)));
            }
            if let Some(next) = next_archive {
                links.push(link(next, "next-archive", Some(TYPE)));
            }
        }
    }
    let feed = atom::Feed {
        title: atom::Text::plain(meta.title.clone()),
        id: meta.id.clone(),
        updated: meta.updated,
        authors: meta.authors.iter().map(person).collect(),
        generator: Some(atom::Generator {
            value: GENERATOR.to_string(),
            uri: None,
            version: Some(GENERATOR_VERSION.to_string()),
        }),
        links,
        subtitle: meta.description.clone().map(atom::Text::plain),
        entries: entries.iter().map(|e| entry(meta, e)).collect(),
        namespaces,
        lang: meta.language.clone(),
        ..Default::default()
    };
    let config = atom::WriteConfig {
        write_document_declaration: true,
        indent_size: Some(2),
    };
    let mut w = InsertBeforeFirstEntry {
        inner: w,
        element: fh.map(|name| format!("<fh:{name}/>\n  ").into_bytes()),
        head: Vec::new(),
    };
    feed.write_with_config(&mut w, config)
        .map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}

fn entry(meta: &FeedMeta, e: &Entry) -> atom::Entry {
    let (summary, content) = e.parts(meta.content);
    atom::Entry {
        title: atom::Text::plain(e.title.clone()),
        id: e.id.clone(),
        updated: e.updated,
        published: Some(e.published),
        authors: e.authors.iter().map(person).collect(),
        categories: e
            .tags
            .iter()
            .map(|t| atom::Category {
                term: t.clone(),
                // Atom's scheme is an absolute IRI; RSS `domain` may be
                // any text ("Syndic8"), which is left out here.
                scheme: e
                    .tag_schemes
                    .iter()
                    .find(|s| s.term == *t)
                    .and_then(|s| url::Url::parse(s.scheme.trim()).ok())
                    .map(String::from),
                ..Default::default()
            })
            .collect(),
        links: entry_links(e),
        source: e.origin().map(|s| atom::Source {
            title: atom::Text::plain(s.name.clone()),
            // Normalized (RFC 4287 4.2.6.1): a local file's source is
            // named by its home page as written, `http://host` included.
            id: url::Url::parse(&s.feed_url).map_or_else(|_| s.feed_url.clone(), String::from),
            updated: e.updated,
            ..Default::default()
        }),
        summary: summary.map(|s| atom::Text::html(s.to_string())),
        content: content.map(|c| atom::Content {
            value: Some(c.to_string()),
            content_type: Some("html".to_string()),
            lang: e.language.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The alternate link, then `via` for every upstream copy and `related` for
/// every local post the entry relates to.
fn entry_links(e: &Entry) -> Vec<atom::Link> {
    // An entry whose link the URL policy refused has no alternate link.
    let mut links: Vec<atom::Link> = (!e.url.is_empty())
        .then(|| link(&e.url, "alternate", Some("text/html")))
        .into_iter()
        .collect();
    for via in e.via_urls() {
        links.push(link(via, "via", None));
    }
    for r in &e.related {
        links.push(link(r, "related", Some("text/html")));
    }
    for x in &e.enclosures {
        let mime = x
            .mime_type
            .as_deref()
            .filter(|t| crate::model::entry::is_mime_type(t));
        let mut l = link(&x.url, "enclosure", mime);
        l.length = x.length.map(|n| n.to_string());
        links.push(l);
    }
    links
}
