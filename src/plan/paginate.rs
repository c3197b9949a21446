//! The documents of each feed: its formats, the subscription document and
//! archive pages of each, and the feed's human page; the paths they are
//! written to, and the feed's id from the ledger.

use super::ledger::{FeedLine, Ledger};
use super::select::{feed_instances, Instance};
use super::{DocPlan, Planned};
use crate::config::{FeedDef, Format, Limit, SiteConfig};
use crate::content::Post;
use crate::emit::html::Alternate;
use crate::emit::{FeedMeta, Paging};
use crate::model::entry::Person;
use crate::model::Error;
use crate::util::text;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;
use url::Url;

/// Entries a feed's human page shows: a person reads the newest; a reader
/// subscribed to the feed gets them all.
pub const PAGE_ENTRIES: usize = 100;

/// Every document of every feed of `feeds`, fingerprints not yet set.
/// `combined[d]` holds the members of feed `d` when it is a combined feed
/// (its entries already in `entries`). Feeds new to the ledger get their id
/// there. Fails when two documents would be written to one path.
pub fn documents(
    cfg: &SiteConfig,
    feeds: &[FeedDef],
    ledger: &mut Ledger,
    entries: &[Planned],
    posts: &[Post],
    mut combined: Vec<Option<Vec<usize>>>,
) -> Result<Vec<DocPlan>, Error> {
    let mut docs = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (d, def) in feeds.iter().enumerate() {
        let instances = match combined.get_mut(d).and_then(Option::take) {
            Some(members) => vec![Instance::whole(members)],
            None => feed_instances(def, entries, posts),
        };
        for inst in instances {
            let line = feed_line(ledger, cfg, def, &inst);
            for doc in instance_docs(cfg, def, &inst, &line, entries) {
                claim_path(&mut seen, &doc, def)?;
                docs.push(doc);
            }
        }
    }
    Ok(docs)
}

/// The ledger's line of a feed (of one tag of a per-tag feed), added the
/// first time the feed is built.
fn feed_line(ledger: &mut Ledger, cfg: &SiteConfig, def: &FeedDef, inst: &Instance) -> FeedLine {
    let key = match &inst.tag {
        Some(_) => format!("{}/{}", def.name, inst.tag_slug),
        None => def.name.clone(),
    };
    ledger
        .feeds
        .entry(key)
        .or_insert_with(|| FeedLine {
            id: default_feed_id(cfg, def, inst),
            format: None,
            self_url: None,
        })
        .clone()
}

/// One feed's documents: every page of each format, then its human page,
/// which mirrors the first format's subscription document.
fn instance_docs(
    cfg: &SiteConfig,
    def: &FeedDef,
    inst: &Instance,
    line: &FeedLine,
    entries: &[Planned],
) -> Vec<DocPlan> {
    let mut docs = Vec::new();
    let mut alternates = Vec::new();
    for format in &def.formats {
        let path = adopted_path(cfg, def, *format, line)
            .unwrap_or_else(|| def.output_path(*format).replace("{tag}", &inst.tag_slug));
        alternates.push(Alternate {
            format: *format,
            url: cfg.url_for(&path),
        });
        docs.extend(paginate(cfg, def, inst, *format, &path, &line.id, entries));
    }
    if let Some(first) = docs.first() {
        let mut members = first.entries.clone();
        members.truncate(PAGE_ENTRIES);
        let page = DocPlan {
            path: page_path(&first.path),
            page: Some(alternates),
            entries: members,
            ..first.clone()
        };
        docs.push(page);
    }
    docs
}

/// Record that `def` writes `doc`; an error if another feed (or this one)
/// already writes that path.
fn claim_path(
    seen: &mut BTreeMap<String, PathBuf>,
    doc: &DocPlan,
    def: &FeedDef,
) -> Result<(), Error> {
    let Some(prev) = seen.insert(doc.path.clone(), def.path.clone()) else {
        return Ok(());
    };
    let message = match doc.page {
        None => format!(
            "writes {} which {} also writes; set a different `output:`",
            doc.path,
            prev.display()
        ),
        Some(_) => format!(
            "its page {} is also written by {}; set a different `output:`",
            doc.path,
            prev.display()
        ),
    };
    Err(Error::at(&def.path, None, message))
}

/// The human page of a feed document: its path with `.html` for the extension.
pub fn page_path(path: &str) -> String {
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    match file.rfind('.') {
        Some(i) if i > 0 => format!("{dir}{}.html", &file[..i]),
        _ => format!("{dir}{file}.html"),
    }
}

/// Archive page `k` (1 = oldest) of a document at `path`: `DIR/archive/STEM-k.EXT`.
fn archive_path(path: &str, k: usize) -> String {
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    let (stem, ext) = match file.rfind('.') {
        Some(i) if i > 0 => (&file[..i], &file[i..]),
        _ => (file, ""),
    };
    format!("{dir}archive/{stem}-{k}{ext}")
}

fn epoch() -> DateTime<FixedOffset> {
    Utc.timestamp_opt(0, 0)
        .single()
        .unwrap_or_default()
        .fixed_offset()
}

/// The id a feed gets the first time it is built: `id:` from its file, else
/// the URL of its Atom document (of its first format without Atom).
fn default_feed_id(cfg: &SiteConfig, def: &FeedDef, inst: &Instance) -> String {
    match (&def.id, &inst.tag) {
        (Some(id), Some(_)) => format!("{}/{}", id.trim_end_matches('/'), inst.tag_slug),
        (Some(id), None) => id.clone(),
        (None, _) => {
            let format = if def.formats.contains(&Format::Atom) {
                Format::Atom
            } else {
                def.formats.first().copied().unwrap_or(Format::Atom)
            };
            cfg.url_for(&def.output_path(format).replace("{tag}", &inst.tag_slug))
        }
    }
}

/// The output path of a subscription URL adopted from an older generator, so
/// that readers keep their subscription: only when the feed file does not set
/// `output:` itself and the URL is under `base_url`.
fn adopted_path(
    cfg: &SiteConfig,
    def: &FeedDef,
    format: Format,
    line: &FeedLine,
) -> Option<String> {
    if line.format.as_deref() != Some(format.extension()) || def.per_tag {
        return None;
    }
    let explicit = match format {
        Format::Atom => &def.output.atom,
        Format::Rss => &def.output.rss,
        Format::Json => &def.output.json,
    };
    if explicit.is_some() || def.output.single.is_some() {
        return None;
    }
    // The path is what matters: after a move to another host, the old host
    // redirects and the file must still be at the same path.
    let url = Url::parse(line.self_url.as_deref()?).ok()?;
    let rest = url.path().strip_prefix(cfg.base_url.path())?;
    let ok = !rest.is_empty() && rest.split('/').all(|c| !c.is_empty() && c != "..");
    ok.then(|| rest.to_string())
}

/// What every document of one feed in one format shares.
struct FeedDoc<'a> {
    cfg: &'a SiteConfig,
    def: &'a FeedDef,
    inst: &'a Instance,
    format: Format,
    feed_id: &'a str,
    title: String,
    subscription_url: String,
    authors: Vec<Person>,
    entries: &'a [Planned],
}

impl FeedDoc<'_> {
    fn new<'a>(
        cfg: &'a SiteConfig,
        def: &'a FeedDef,
        inst: &'a Instance,
        format: Format,
        path: &str,
        feed_id: &'a str,
        entries: &'a [Planned],
    ) -> FeedDoc<'a> {
        let title = match (&def.title, &inst.tag) {
            (Some(t), Some(tag)) if t.contains("{tag}") => t.replace("{tag}", tag),
            (Some(t), Some(tag)) => format!("{t}: {tag}"),
            (None, Some(tag)) => format!("{}: {tag}", cfg.title),
            (Some(t), None) => t.clone(),
            (None, None) => cfg.title.clone(),
        };
        let authors = match &cfg.author {
            Some(a) => vec![a.clone()],
            None => vec![Person {
                name: cfg.title.clone(),
                ..Person::default()
            }],
        };
        FeedDoc {
            cfg,
            def,
            inst,
            format,
            feed_id,
            title,
            subscription_url: cfg.url_for(path),
            authors,
            entries,
        }
    }

    fn meta(&self, self_path: &str, members: &[usize], paging: Paging) -> FeedMeta {
        let (cfg, def) = (self.cfg, self.def);
        FeedMeta {
            id: text::xml_clean(self.feed_id).into_owned(),
            title: text::plain_text(&self.title),
            description: def
                .description
                .as_ref()
                .or(cfg.description.as_ref())
                .map(|d| {
                    text::plain_text(&d.replace("{tag}", self.inst.tag.as_deref().unwrap_or("")))
                }),
            language: cfg.language.clone(),
            home_url: cfg.base_url.to_string(),
            self_url: cfg.url_for(self_path),
            subscription_url: self.subscription_url.clone(),
            authors: self.authors.clone(),
            updated: members
                .iter()
                .map(|&i| self.entries[i].entry.updated)
                .max()
                .unwrap_or_else(epoch),
            content: def.content,
            paging,
            hub: cfg.hub.as_ref().map(|h| h.to_string()),
        }
    }

    fn doc(&self, self_path: &str, members: Vec<usize>, paging: Paging) -> DocPlan {
        DocPlan {
            path: self_path.to_string(),
            format: self.format,
            meta: self.meta(self_path, &members, paging),
            entries: members,
            feed_file: self.def.path.clone(),
            fingerprint: 0,
            page: None,
        }
    }
}

/// The documents of one feed in one format at `path`: the subscription
/// document, and with `archive: true` the full archive pages before it.
pub fn paginate(
    cfg: &SiteConfig,
    def: &FeedDef,
    inst: &Instance,
    format: Format,
    path: &str,
    feed_id: &str,
    entries: &[Planned],
) -> Vec<DocPlan> {
    let f = FeedDoc::new(cfg, def, inst, format, path, feed_id, entries);
    let all = &inst.members;
    let limit = match def.limit {
        Limit::All => return vec![f.doc(path, all.clone(), Paging::Complete)],
        Limit::Count(n) => n,
    };
    if all.len() <= limit {
        return vec![f.doc(path, all.clone(), Paging::Complete)];
    }
    if !def.archive {
        return vec![f.doc(
            path,
            all[..limit].to_vec(),
            Paging::Subscription { prev_archive: None },
        )];
    }
    archived(&f, path, limit)
}

/// Archive pages hold `limit` entries each, counted from the oldest, so a
/// page never changes once full. The subscription document's newest `limit`
/// entries cover whatever is not yet in a full page.
fn archived(f: &FeedDoc, path: &str, limit: usize) -> Vec<DocPlan> {
    let (cfg, all) = (f.cfg, &f.inst.members);
    let pages = all.len() / limit;
    let oldest_first: Vec<usize> = all.iter().rev().copied().collect();
    let mut out = Vec::with_capacity(pages + 1);
    out.push(f.doc(
        path,
        all[..limit].to_vec(),
        Paging::Subscription {
            prev_archive: Some(cfg.url_for(&archive_path(path, pages))),
        },
    ));
    for k in 1..=pages {
        let mut members = oldest_first[(k - 1) * limit..k * limit].to_vec();
        members.reverse();
        let paging = Paging::Archive {
            prev_archive: (k > 1).then(|| cfg.url_for(&archive_path(path, k - 1))),
            next_archive: (k < pages).then(|| cfg.url_for(&archive_path(path, k + 1))),
            current: f.subscription_url.clone(),
        };
        out.push(f.doc(&archive_path(path, k), members, paging));
    }
    out
}
