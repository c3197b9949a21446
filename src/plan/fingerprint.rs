//! Fingerprints that let a build skip work: one per document (its inputs:
//! program, configuration, feed file, entries), and one of everything a
//! build depends on (equal to the last build's: nothing to do at all).

use super::{ledger, DocPlan, Options, Planned};
use crate::content::Post;
use crate::site::Site;
use std::hash::Hasher;
use xxhash_rust::xxh3::Xxh3;

/// Bumped whenever the output for the same inputs changes, so that old
/// manifests do not make a new version skip documents.
const OUTPUT_REVISION: u32 = 1;

/// The program that writes: revision, version and the binary itself.
fn program(h: &mut Xxh3) {
    h.write_u32(OUTPUT_REVISION);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write_u64(program_identity());
}

/// Set the fingerprint of every document of `docs`.
pub fn fingerprint_docs(site: &Site, docs: &mut [DocPlan], entries: &[Planned], posts: &[Post]) {
    let site_hash = xxhash_rust::xxh3::xxh3_64(site.config.source_text.as_bytes());
    for doc in docs {
        doc.fingerprint = fingerprint(site, site_hash, doc, entries, posts);
    }
}

fn fingerprint(
    site: &Site,
    site_hash: u64,
    doc: &DocPlan,
    entries: &[Planned],
    posts: &[Post],
) -> u64 {
    let mut h = Xxh3::new();
    program(&mut h);
    h.write_u64(site_hash);
    if let Some(def) = site.feeds.iter().find(|d| d.path == doc.feed_file) {
        h.write(def.source_text.as_bytes());
    }
    h.write(
        format!(
            "{:?}|{:?}|{}|{:?}",
            doc.format, doc.meta, doc.path, doc.page
        )
        .as_bytes(),
    );
    for &i in &doc.entries {
        let p = &entries[i];
        match p.post {
            Some(post) => h.write_u64(posts[post].hash),
            // An upstream item: everything it says is in the entry.
            None => h.write(format!("{:?}", p.entry).as_bytes()),
        }
        h.write(p.entry.id.as_bytes());
        h.write(p.entry.url.as_bytes());
        if p.feed.is_some() {
            h.write(format!("{:?}|{:?}", p.entry.sources, p.entry.related).as_bytes());
        }
    }
    h.finish()
}

/// Size and modification time of the running program: a different binary
/// (even one with the same version number) may write different bytes, so its
/// documents are not taken as up to date.
pub fn program_identity() -> u64 {
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        let meta = std::env::current_exe().and_then(std::fs::metadata);
        match meta {
            Ok(m) => m.len() ^ crate::content::cache::mtime_nanos(&m).rotate_left(17),
            Err(_) => 0,
        }
    })
}

/// Everything a build's output depends on, hashed: the program, the
/// configuration and feed files, the ledger, which posts are published and
/// their bytes, the store's generation and the `max_age` windows (to the
/// hour). Equal to the last build's, with every file still in place, means
/// there is nothing to do, without planning anything.
pub fn inputs_fingerprint(
    site: &Site,
    posts: &[Post],
    opts: &Options,
    generation: Option<u64>,
) -> u64 {
    let mut h = Xxh3::new();
    program(&mut h);
    h.write(site.config.source_text.as_bytes());
    for def in &site.feeds {
        h.write(def.name.as_bytes());
        h.write(def.source_text.as_bytes());
        if let Some(age) = def.max_age {
            let cutoff = opts.now - age;
            h.write_i64(cutoff.timestamp() / 3600);
        }
    }
    let ledger = std::fs::read(site.root.join(ledger::FILE)).unwrap_or_default();
    h.write(&ledger);
    h.write(format!("{}|{}|{}", opts.drafts, opts.future, opts.keep_going).as_bytes());
    for p in posts {
        h.write(p.path.to_string_lossy().as_bytes());
        h.write_u64(p.hash);
        h.write_u8(u8::from(opts.publishes(p)));
    }
    if let Some(g) = generation {
        h.write_u64(g);
    }
    h.finish()
}
