//! What a build publishes before any byte is written: which posts
//! (`select`), their entry ids and the ledger that keeps them for good
//! (`ids`, `ledger`), the documents of each feed (`paginate`), and the
//! fingerprints that let a build skip what is unchanged (`fingerprint`).
//! Rendering bodies and writing files is the `app` layer's.

pub mod fingerprint;
pub mod ids;
pub mod ledger;
pub mod paginate;
pub mod select;

use crate::config::Format;
use crate::content::Post;
use crate::emit::html::Alternate;
use crate::emit::FeedMeta;
use crate::model::entry::Entry;
use crate::model::Diagnostic;
use chrono::{DateTime, Utc};
use ledger::Resolution;
use std::path::PathBuf;

/// Flags that change what a build includes.
#[derive(Debug, Clone)]
pub struct Options {
    pub drafts: bool,
    pub future: bool,
    pub keep_going: bool,
    /// Overrides `output:` of tributary.yaml.
    pub output: Option<PathBuf>,
    /// "Now", for leaving out future posts.
    pub now: DateTime<Utc>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            drafts: false,
            future: false,
            keep_going: false,
            output: None,
            now: Utc::now(),
        }
    }
}

impl Options {
    /// Whether a build with these flags publishes `post`: not a draft (or
    /// `--drafts`), not to be published in the future (or `--future`), not
    /// expired (Hugo's `expiryDate`).
    pub fn publishes(&self, post: &Post) -> bool {
        (!post.draft || self.drafts)
            && (self.future || !self.is_future(post))
            && !post.expired(self.now)
    }

    /// Whether `post` is to be published after "now" (its date, or Hugo's
    /// `publishDate`).
    pub fn is_future(&self, post: &Post) -> bool {
        post.publish_date().with_timezone(&Utc) > self.now
    }
}

/// An entry of the plan: a local post (its body not yet rendered), or an
/// entry of a combined feed (upstream items merged with the feed's posts).
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    /// Index into the posts the plan was made from; `None` for an upstream item.
    pub post: Option<usize>,
    /// For entries of a combined feed: the index of its definition in
    /// `Site::feeds`. Such entries come after every local one.
    pub feed: Option<usize>,
    /// The id the `ids:` scheme gives today (the ledger may keep an older one).
    pub computed_id: String,
    pub resolution: Resolution,
}

/// One document to write.
#[derive(Debug, Clone)]
pub struct DocPlan {
    /// Path relative to the output dir.
    pub path: String,
    pub format: Format,
    pub meta: FeedMeta,
    /// Indices into `Plan::entries`, newest first.
    pub entries: Vec<usize>,
    /// Which feed file it comes from, for messages.
    pub feed_file: PathBuf,
    pub fingerprint: u64,
    /// `Some` for the feed's human page (`NAME.html`): the formats it links
    /// to. `None` for a feed document.
    pub page: Option<Vec<Alternate>>,
}

/// Everything a build will write.
#[derive(Debug)]
pub struct Plan {
    pub entries: Vec<Planned>,
    pub docs: Vec<DocPlan>,
    pub warnings: Vec<Diagnostic>,
}

impl Plan {
    /// Indices of the feed documents (not the HTML pages).
    pub fn feed_docs(&self) -> Vec<usize> {
        (0..self.docs.len())
            .filter(|&d| self.docs[d].page.is_none())
            .collect()
    }

    /// `(entry index, post index)` of every local post's entry (not the
    /// copies in combined feeds).
    pub fn local_posts(&self) -> Vec<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, p)| p.feed.is_none())
            .filter_map(|(i, p)| Some((i, p.post?)))
            .collect()
    }
}
