//! `tributary diff`: what a feed reader will experience if the new build is
//! published, document by document: entries it will see as new, entries whose
//! id would change (each one a duplicate in every reader), entries updated,
//! entries dropped off the end, and changes to the feed itself.

use crate::app::adopt::{match_entries, norm_url};
use crate::app::build::{self, Options};
use crate::model::entry::Entry;
use crate::model::Error;
use crate::parse;
use crate::util::text::plural;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Where the published feeds are.
#[derive(Debug, Clone)]
pub enum Against {
    /// An output directory (the default: the site's own).
    Dir(PathBuf),
    /// Documents already fetched: `path → bytes` (the CLI fetches a live site).
    Fetched(Vec<(String, Option<Vec<u8>>)>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum EntryChange {
    /// Readers will show it as a new item.
    New { id: String, title: String },
    /// The same post under another id: readers show it again as new.
    IdChanged {
        old_id: String,
        new_id: String,
        title: String,
    },
    /// Content, title or dates changed; `updated_moved` says whether readers are told.
    Updated {
        id: String,
        title: String,
        updated_moved: bool,
    },
    /// In the published document, not in the new one.
    Dropped { id: String, title: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DocDiff {
    pub path: String,
    /// `compared`, `new document` or why the old one could not be read.
    pub status: String,
    pub feed: Vec<String>,
    pub entries: Vec<EntryChange>,
    pub unchanged: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DiffReport {
    pub documents: Vec<DocDiff>,
    /// Entries (or feeds) whose id would change: readers would see duplicates.
    pub id_changes: usize,
}

/// The paths of every document the site would write (for fetching them).
pub fn document_paths(root: &Path, opts: &Options) -> Result<Vec<String>, Error> {
    let plan = build::prepare(root, opts)?.plan;
    Ok(plan
        .feed_docs()
        .into_iter()
        .map(|d| plan.docs[d].path.clone())
        .collect())
}

/// Compare the build that would be made now with what is published.
pub fn diff(root: &Path, against: &Against, opts: &Options) -> Result<DiffReport, Error> {
    let mut prepared = build::prepare(root, opts)?;
    let all = prepared.plan.feed_docs();
    let bytes = build::render_docs(&mut prepared.plan, &prepared.loaded.posts, &all)?;
    let mut report = DiffReport {
        documents: Vec::new(),
        id_changes: 0,
    };
    for (&d, new_bytes) in all.iter().zip(&bytes) {
        let doc = &prepared.plan.docs[d];
        let old_bytes = match against {
            Against::Dir(dir) => std::fs::read(dir.join(&doc.path)).ok(),
            Against::Fetched(list) => list
                .iter()
                .find(|(p, _)| *p == doc.path)
                .and_then(|(_, b)| b.clone()),
        };
        let new = parse::parse(new_bytes).map_err(|e| Error::Emit {
            path: PathBuf::from(&doc.path),
            message: format!("cannot read back: {e}"),
        })?;
        let mut d = DocDiff {
            path: doc.path.clone(),
            status: "compared".into(),
            feed: Vec::new(),
            entries: Vec::new(),
            unchanged: 0,
        };
        let Some(old_bytes) = old_bytes else {
            d.status = format!(
                "new document ({})",
                plural(new.entries.len(), "entry", "entries")
            );
            report.documents.push(d);
            continue;
        };
        let old = match parse::parse(&old_bytes) {
            Ok(o) => o,
            Err(e) => {
                d.status = format!("published document unreadable: {e}");
                report.documents.push(d);
                continue;
            }
        };
        if old.id.is_some() && new.id.is_some() && old.id != new.id {
            d.feed.push(format!(
                "feed id changes from {} to {}: some readers treat it as a new feed",
                old.id.as_deref().unwrap_or(""),
                new.id.as_deref().unwrap_or("")
            ));
            report.id_changes += 1;
        }
        if old.title != new.title {
            d.feed.push(format!(
                "title changes from {:?} to {:?}",
                old.title, new.title
            ));
        }
        if old.self_url != new.self_url {
            d.feed.push(format!(
                "self URL changes from {} to {}",
                old.self_url.as_deref().unwrap_or("(none)"),
                new.self_url.as_deref().unwrap_or("(none)")
            ));
        }
        compare(&old.entries, &new.entries, &mut d, &mut report.id_changes);
        report.documents.push(d);
    }
    Ok(report)
}

fn same_content(a: &Entry, b: &Entry) -> bool {
    a.title == b.title
        && a.url.is_empty() == b.url.is_empty()
        && norm_url(&a.url) == norm_url(&b.url)
        && a.content_html.as_deref().map(str::trim) == b.content_html.as_deref().map(str::trim)
        && a.summary_html.as_deref().map(str::trim) == b.summary_html.as_deref().map(str::trim)
        && a.updated == b.updated
        && a.published == b.published
}

fn compare(old: &[Entry], new: &[Entry], d: &mut DocDiff, id_changes: &mut usize) {
    let new_ids: HashSet<&str> = new.iter().map(|e| e.id.as_str()).collect();
    let old_ids: HashSet<&str> = old.iter().map(|e| e.id.as_str()).collect();
    // Old entries whose id is gone from the new document may be the same post under a new id.
    let gone: Vec<Entry> = old
        .iter()
        .filter(|o| !new_ids.contains(o.id.as_str()))
        .cloned()
        .collect();
    let fresh: Vec<&Entry> = new
        .iter()
        .filter(|n| !old_ids.contains(n.id.as_str()))
        .collect();
    let pairs = match_entries(&gone, &fresh);
    let mut renamed: HashSet<&str> = HashSet::new();
    for (o, hit) in gone.iter().zip(&pairs) {
        match hit {
            Some((i, _)) => {
                let n = fresh[*i];
                renamed.insert(n.id.as_str());
                *id_changes += 1;
                d.entries.push(EntryChange::IdChanged {
                    old_id: o.id.clone(),
                    new_id: n.id.clone(),
                    title: n.title.clone(),
                });
            }
            None => d.entries.push(EntryChange::Dropped {
                id: o.id.clone(),
                title: o.title.clone(),
            }),
        }
    }
    for n in new {
        if let Some(o) = old.iter().find(|o| o.id == n.id) {
            if same_content(o, n) {
                d.unchanged += 1;
            } else {
                d.entries.push(EntryChange::Updated {
                    id: n.id.clone(),
                    title: n.title.clone(),
                    updated_moved: o.updated != n.updated,
                });
            }
        } else if !renamed.contains(n.id.as_str()) {
            d.entries.push(EntryChange::New {
                id: n.id.clone(),
                title: n.title.clone(),
            });
        }
    }
}

/// The human-readable report.
pub fn render_text(r: &DiffReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for d in &r.documents {
        let interesting = !d.entries.is_empty() || !d.feed.is_empty() || d.status != "compared";
        if !interesting {
            continue;
        }
        let _ = writeln!(out, "{}: {}", d.path, d.status);
        for f in &d.feed {
            let _ = writeln!(out, "  feed: {f}");
        }
        for e in &d.entries {
            let _ = match e {
                EntryChange::New { id, title } => writeln!(out, "  new:        {title:?} ({id})"),
                EntryChange::IdChanged { old_id, new_id, title } => writeln!(
                    out,
                    "  ID CHANGES: {title:?}: {old_id} -> {new_id} (readers will see it again as new)"
                ),
                EntryChange::Updated { id, title, updated_moved } => writeln!(
                    out,
                    "  updated:    {title:?} ({id}){}",
                    if *updated_moved { "" } else { " [updated date unchanged: readers may not notice]" }
                ),
                EntryChange::Dropped { id, title } => writeln!(out, "  dropped:    {title:?} ({id})"),
            };
        }
        if d.unchanged > 0 {
            let _ = writeln!(
                out,
                "  unchanged:  {}",
                plural(d.unchanged, "entry", "entries")
            );
        }
    }
    let docs = r.documents.len();
    let _ = writeln!(
        out,
        "{} compared; {}{}",
        plural(docs, "document", "documents"),
        plural(r.id_changes, "id change", "id changes"),
        if r.id_changes > 0 {
            ": readers would see duplicates"
        } else {
            ""
        }
    );
    out
}
