//! Which posts a build publishes, as entries with their ledger ids, and
//! which of them each feed takes.

use super::ledger::{self, Ledger, Resolution};
use super::{ids, Options, Planned};
use crate::config::{FeedDef, PostSelection, SiteConfig};
use crate::content::permalink;
use crate::content::{markdown, Post};
use crate::model::entry::{Entry, Person};
use crate::model::{Diagnostic, Error};
use crate::util::text;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use url::Url;

/// The entries of the posts `opts` publishes (bodies not rendered), each with
/// the id the ledger gives it, newest first; and the warnings about them.
/// Fails when two entries would have the same id.
pub fn local_entries(
    cfg: &SiteConfig,
    posts: &[Post],
    ledger: &mut Ledger,
    opts: &Options,
) -> Result<(Vec<Planned>, Vec<Diagnostic>), Error> {
    let mut entries = Vec::new();
    let mut paths = Vec::new();
    for (i, post) in posts.iter().enumerate() {
        if !opts.publishes(post) {
            continue;
        }
        let (entry, path) = entry_meta(cfg, post);
        paths.push(path);
        entries.push(Planned {
            computed_id: entry.id.clone(),
            entry,
            post: Some(i),
            feed: None,
            resolution: Resolution::New,
        });
    }
    assign_ids(&mut entries, &paths, posts, ledger, &cfg.content);
    // Newest first; ties broken by id so that the order never depends on the file system.
    entries.sort_by(|a, b| {
        b.entry
            .published
            .cmp(&a.entry.published)
            .then_with(|| a.entry.id.cmp(&b.entry.id))
    });
    let warnings = unique(&mut entries, posts, opts.keep_going)?;
    Ok((entries, warnings))
}

/// The ledger decides the published id: the first one ever given to the
/// post. `paths[k]` is the permalink path of `entries[k]`.
fn assign_ids(
    entries: &mut [Planned],
    paths: &[String],
    posts: &[Post],
    ledger: &mut Ledger,
    content: &Path,
) {
    let post_of = |p: &Planned| &posts[p.post.unwrap_or_default()];
    let keys: Vec<String> = entries
        .iter()
        .map(|p| ledger_key(post_of(p), content))
        .collect();
    let current: Vec<ledger::Current> = entries
        .iter()
        .zip(&keys)
        .zip(paths)
        .map(|((p, key), path)| ledger::Current {
            key,
            computed_id: &p.computed_id,
            explicit_id: post_of(p).id.is_some(),
            published: p.entry.published,
            slug: &post_of(p).slug,
            path,
            title: &p.entry.title,
        })
        .collect();
    let assigned = ledger.assign(&current);
    for (p, (id, how)) in entries.iter_mut().zip(assigned) {
        p.entry.id = id;
        p.resolution = how;
    }
}

/// Two posts with one id are an error (readers would see one); with
/// `--keep-going` the first is published and the others are left out with a
/// warning. Two with one URL are a warning.
fn unique(
    entries: &mut Vec<Planned>,
    posts: &[Post],
    keep_going: bool,
) -> Result<Vec<Diagnostic>, Error> {
    let post_of = |p: &Planned| &posts[p.post.unwrap_or_default()];
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut dup = vec![false; entries.len()];
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut by_url: HashMap<&str, usize> = HashMap::new();
    for (k, p) in entries.iter().enumerate() {
        if let Some(other) = by_id.insert(&p.entry.id, p.post.unwrap_or_default()) {
            dup[k] = true;
            problems.push(Diagnostic::error(
                &post_of(p).path,
                None,
                format!(
                    "has the same entry id as {} ({}); readers would see only one of them: \
                     give one a different `slug:` or an `id:`",
                    posts[other].path.display(),
                    p.entry.id
                ),
            ));
        }
        if let Some(other) = by_url.insert(&p.entry.url, p.post.unwrap_or_default()) {
            warnings.push(Diagnostic::warning(
                &post_of(p).path,
                None,
                format!(
                    "has the same URL as {} ({}); set `permalink:` or change the date",
                    posts[other].path.display(),
                    p.entry.url
                ),
            ));
        }
    }
    if !problems.is_empty() && !keep_going {
        return Err(Error::Invalid(problems));
    }
    for d in problems {
        let msg = format!("{}; left out (--keep-going)", d.message);
        warnings.push(Diagnostic::warning(&d.path, d.line, msg));
    }
    let mut k = 0;
    entries.retain(|_| {
        k += 1;
        !dup[k - 1]
    });
    Ok(warnings)
}

/// A post's key in the ledger: its path under the content directory
/// (`content:`), with `/` separators.
pub fn ledger_key(post: &Post, content: &Path) -> String {
    let p = post.path.strip_prefix(content).unwrap_or(&post.path);
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A post's site-relative permalink path (`/2024/01/02/slug/`).
pub fn permalink_path(cfg: &SiteConfig, post: &Post) -> String {
    permalink::post_path(&cfg.permalink, cfg.timezone, post)
}

/// The metadata half of a post's entry (everything but rendered HTML), and its
/// site-relative permalink path.
pub fn entry_meta(cfg: &SiteConfig, post: &Post) -> (Entry, String) {
    let path = permalink_path(cfg, post);
    let url = cfg.url_for(&path);
    let id = ids::post_id(cfg.ids, post, &path, cfg);
    let mut tags = post.tags.clone();
    for c in &post.categories {
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(c)) {
            tags.push(c.clone());
        }
    }
    let page = Url::parse(&url).ok();
    let image = post.image.as_ref().map(|i| match &page {
        Some(p) => markdown::absolutize(i, p).into_owned(),
        None => i.clone(),
    });
    let mut entry = Entry {
        id: text::xml_clean(&id).into_owned(),
        url,
        title: text::plain_text(&post.title),
        published: post.date,
        updated: post.updated.unwrap_or(post.date),
        authors: post.authors.iter().map(Person::cleaned).collect(),
        tags: tags.iter().map(|t| text::plain_text(t)).collect(),
        image,
        content_mode: post.content_mode,
        ..Entry::default()
    };
    crate::model::urlpolicy::entry(&mut entry);
    (entry, path)
}

/// Whether a feed's `posts:` selection takes `post`.
pub fn post_matches(sel: &PostSelection, post: &Post) -> bool {
    fn any<'a>(wanted: &[String], mut have: impl Iterator<Item = &'a str>) -> bool {
        wanted.is_empty() || have.any(|h| wanted.iter().any(|w| w.eq_ignore_ascii_case(h)))
    }
    match sel {
        PostSelection::All => true,
        PostSelection::None => false,
        PostSelection::Filter(f) => {
            any(&f.tags, post.tags.iter().map(String::as_str))
                && any(&f.categories, post.categories.iter().map(String::as_str))
                && any(&f.authors, post.authors.iter().map(|p| p.name.as_str()))
        }
    }
}

/// Indices of the local entries (not copies in combined feeds) whose posts
/// `def` takes.
pub fn feed_members(def: &FeedDef, entries: &[Planned], posts: &[Post]) -> Vec<usize> {
    (0..entries.len())
        .filter(|&i| {
            entries[i].feed.is_none()
                && entries[i]
                    .post
                    .is_some_and(|p| post_matches(&def.posts, &posts[p]))
        })
        .collect()
}

/// One concrete feed from a definition: the whole feed, or one tag of a per-tag feed.
pub struct Instance {
    pub tag: Option<String>,
    pub tag_slug: String,
    pub members: Vec<usize>,
}

impl Instance {
    /// The whole feed, of `members`.
    pub fn whole(members: Vec<usize>) -> Instance {
        Instance {
            tag: None,
            tag_slug: String::new(),
            members,
        }
    }
}

/// The feeds a definition of local posts makes: one, or one per tag.
pub fn feed_instances(def: &FeedDef, entries: &[Planned], posts: &[Post]) -> Vec<Instance> {
    let members = feed_members(def, entries, posts);
    if !def.per_tag {
        return vec![Instance::whole(members)];
    }
    // Group by tag, case-insensitively; the spelling of the newest post wins.
    let mut groups: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for &i in &members {
        for t in &entries[i].entry.tags {
            let g = groups
                .entry(t.to_lowercase())
                .or_insert_with(|| (t.clone(), Vec::new()));
            g.1.push(i);
        }
    }
    let mut used: HashMap<String, usize> = HashMap::new();
    groups
        .into_values()
        .map(|(tag, members)| {
            let mut slug = permalink::slugify(&tag);
            if slug.is_empty() {
                slug = "tag".to_string();
            }
            let n = used.entry(slug.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                slug = format!("{slug}-{n}");
            }
            Instance {
                tag: Some(tag),
                tag_slug: slug,
                members,
            }
        })
        .collect()
}
