//! The publish pipeline: load the site, turn posts into entries, plan every
//! feed document, render only the documents whose inputs changed, and write
//! them atomically.

use crate::app::aggregate::{self, Upstream};
use crate::config::{FeedDef, Format, Limit, PostSelection, SiteConfig};
use crate::content::cache::{PostCache, Stamp};
use crate::content::permalink::{self, PermalinkVars};
use crate::content::{self, Post};
use crate::emit::html::Alternate;
use crate::emit::{self, FeedMeta, Paging};
use crate::model::entry::{Entry, Person};
use crate::model::{Diagnostic, Error};
use crate::plan::ledger::{self, Ledger, Resolution};
use crate::site::Site;
use crate::util::date::format_rfc3339;
use crate::util::par::parallel_map;
use crate::util::text;
use crate::{content::markdown, plan::ids, util::write};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use url::Url;

/// Bumped whenever the output for the same inputs changes, so that old
/// manifests do not make a new version skip documents.
const OUTPUT_REVISION: u32 = 1;
const MANIFEST: &str = ".tributary/build-manifest.json";

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

/// `Options` is the pipeline's, so this one method stays with it.
impl Site {
    pub fn output_dir(&self, opts: &Options) -> PathBuf {
        self.output_dir_for(opts.output.as_deref())
    }
}

/// The posts of a site, with the problems found reading them.
#[derive(Debug, Default)]
pub struct Posts {
    pub posts: Vec<Post>,
    /// Posts that could not be read (each an error).
    pub broken: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Read every post under `content/`, two threads at a time.
pub fn load_posts(site: &Site) -> Result<Posts, Error> {
    load_posts_cached(site, None)
}

/// Read every post under `content/`; with a cache, a post whose file has the
/// same size and mtime as when it was cached is not read (its body is read
/// later, if a document that holds it is written). The cache is updated.
pub fn load_posts_cached(site: &Site, mut cache: Option<&mut PostCache>) -> Result<Posts, Error> {
    let dir = site.content_dir();
    let found = content::post_files(&dir).map_err(|e| Error::io(&dir, e))?;
    let files = found.files;
    let opts = site.load_options();
    let root = &site.root;
    let cached: Option<&PostCache> = cache.as_deref();
    let results = parallel_map(&files, 64, |file| {
        let shown = file.strip_prefix(root).unwrap_or(file);
        let stamp = cached.and(std::fs::metadata(file).ok().map(|m| Stamp::of(&m)));
        if let (Some(c), Some(st)) = (cached, stamp) {
            if let Some(hit) = c.get(shown, st) {
                return (Ok(hit), None);
            }
        }
        (content::load_file(file, shown, opts), stamp)
    });
    let mut out = Posts::default();
    for link in &found.links {
        let shown = link.strip_prefix(root).unwrap_or(link);
        out.warnings.push(content::skipped_link(link, shown));
    }
    for (r, stamp) in results {
        match r {
            Ok((post, warnings)) => {
                if let (Some(c), Some(st)) = (cache.as_deref_mut(), stamp) {
                    c.put(st, &post, &warnings);
                }
                out.warnings.extend(warnings);
                out.posts.push(post);
            }
            Err(d) => out.broken.push(d),
        }
    }
    // Jekyll sites: Liquid rendered before Markdown, as Jekyll does (content/liquid.rs).
    let failed = content::liquid::render_posts(root, &site.config, opts, &mut out.posts)
        .map_err(Error::invalid)?;
    out.broken.extend(failed);
    if let Some(c) = cache {
        let present: Vec<&Path> = out.posts.iter().map(|p| p.path.as_path()).collect();
        c.retain(&present);
    }
    Ok(out)
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

/// Write one document: a feed (with the XSL processing instruction for
/// Atom and RSS when `xslt`), or a feed's HTML page.
fn write_doc(
    doc: &DocPlan,
    list: &[&Entry],
    w: &mut dyn std::io::Write,
    xslt: bool,
) -> std::io::Result<()> {
    if let Some(alternates) = &doc.page {
        return w.write_all(emit::html::feed_page(&doc.meta, list, alternates).as_bytes());
    }
    if xslt && doc.format != Format::Json {
        let bytes = emit::emit(doc.format, &doc.meta, list).map_err(std::io::Error::other)?;
        let href = relative_to_root(&doc.path, emit::xsl::FILE_NAME);
        let pi = emit::xsl::processing_instruction(&href);
        return w.write_all(&emit::xsl::insert_after_declaration(&bytes, &pi));
    }
    emit::write(doc.format, &doc.meta, list, w).map_err(std::io::Error::other)
}

/// A link from the document at `from` (a path under the output dir) to the
/// file `to` at the output dir's root: `../` per directory level, so that it
/// works on any host and under any base path.
fn relative_to_root(from: &str, to: &str) -> String {
    format!("{}{to}", "../".repeat(from.matches('/').count()))
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

/// Turn posts into entries and feed documents. Fails on conflicts the user must resolve.
pub fn plan(
    site: &Site,
    posts: &[Post],
    ledger: &mut Ledger,
    upstream: &Upstream,
    opts: &Options,
) -> Result<Plan, Error> {
    let cfg = &site.config;
    let mut warnings = Vec::new();
    let mut entries: Vec<Planned> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    for (i, post) in posts.iter().enumerate() {
        if post.draft && !opts.drafts {
            continue;
        }
        if post.date.with_timezone(&Utc) > opts.now && !opts.future {
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
    // The ledger decides the published id: the first one ever given to the post.
    let post_of = |p: &Planned| &posts[p.post.unwrap_or_default()];
    let keys: Vec<String> = entries
        .iter()
        .map(|p| ledger_key(post_of(p), &cfg.content))
        .collect();
    let current: Vec<ledger::Current> = entries
        .iter()
        .zip(&keys)
        .zip(&paths)
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
    // Newest first; ties broken by id so that the order never depends on the file system.
    entries.sort_by(|a, b| {
        b.entry
            .published
            .cmp(&a.entry.published)
            .then_with(|| a.entry.id.cmp(&b.entry.id))
    });

    let mut problems = Vec::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut by_url: HashMap<&str, usize> = HashMap::new();
    for p in &entries {
        if let Some(other) = by_id.insert(&p.entry.id, p.post.unwrap_or_default()) {
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
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }

    // Combined feeds get their own entries (posts with the sources of their
    // upstream copies, and upstream items), after every local entry.
    let mut combined: Vec<Option<Vec<usize>>> = vec![None; site.feeds.len()];
    for (d, def) in site.feeds.iter().enumerate() {
        if def.upstreams.is_empty() {
            continue;
        }
        let members = combine_feed(site, def, d, posts, &mut entries, upstream, opts)?;
        combined[d] = Some(members);
    }

    let mut docs = Vec::new();
    let mut seen_paths: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (d, def) in site.feeds.iter().enumerate() {
        let instances = match combined[d].take() {
            Some(members) => vec![Instance {
                tag: None,
                tag_slug: String::new(),
                members,
            }],
            None => feed_instances(def, &entries, posts),
        };
        for inst in instances {
            let key = match &inst.tag {
                Some(_) => format!("{}/{}", def.name, inst.tag_slug),
                None => def.name.clone(),
            };
            let line = ledger
                .feeds
                .entry(key)
                .or_insert_with(|| ledger::FeedLine {
                    id: default_feed_id(cfg, def, &inst),
                    format: None,
                    self_url: None,
                })
                .clone();
            let mut page: Option<DocPlan> = None;
            let mut alternates = Vec::new();
            for format in &def.formats {
                let path = adopted_path(cfg, def, *format, &line)
                    .unwrap_or_else(|| def.output_path(*format).replace("{tag}", &inst.tag_slug));
                alternates.push(Alternate {
                    format: *format,
                    url: cfg.url_for(&path),
                });
                for doc in paginate(cfg, def, &inst, *format, &path, &line.id, &entries) {
                    // The human page mirrors the first format's subscription document.
                    if page.is_none() {
                        let mut entries = doc.entries.clone();
                        entries.truncate(PAGE_ENTRIES);
                        page = Some(DocPlan {
                            path: page_path(&doc.path),
                            page: Some(Vec::new()),
                            entries,
                            ..doc.clone()
                        });
                    }
                    if let Some(prev) = seen_paths.insert(doc.path.clone(), def.path.clone()) {
                        return Err(Error::at(
                            &def.path,
                            None,
                            format!(
                                "writes {} which {} also writes; set a different `output:`",
                                doc.path,
                                prev.display()
                            ),
                        ));
                    }
                    docs.push(doc);
                }
            }
            if let Some(mut page) = page {
                page.page = Some(alternates);
                if let Some(prev) = seen_paths.insert(page.path.clone(), def.path.clone()) {
                    return Err(Error::at(
                        &def.path,
                        None,
                        format!(
                            "its page {} is also written by {}; set a different `output:`",
                            page.path,
                            prev.display()
                        ),
                    ));
                }
                docs.push(page);
            }
        }
    }
    let site_hash = xxhash_rust::xxh3::xxh3_64(cfg.source_text.as_bytes());
    for doc in &mut docs {
        doc.fingerprint = fingerprint(site, site_hash, doc, &entries, posts);
    }
    Ok(Plan {
        entries,
        docs,
        warnings,
    })
}

/// Add the entries of the combined feed `def` (index `d`) to `entries`;
/// returns their indices, newest first. Its posts are rendered here: the
/// links in their bodies decide which upstream items relate to them.
#[allow(clippy::too_many_arguments)]
fn combine_feed(
    site: &Site,
    def: &FeedDef,
    d: usize,
    posts: &[Post],
    entries: &mut Vec<Planned>,
    upstream: &Upstream,
    opts: &Options,
) -> Result<Vec<usize>, Error> {
    let locals: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].feed.is_none())
        .filter(|&i| {
            entries[i]
                .post
                .is_some_and(|p| post_matches(&def.posts, &posts[p]))
        })
        .collect();
    let rendered = parallel_map(&locals, 16, |&i| {
        let p = &entries[i];
        let post = p.post.map(|k| &posts[k]);
        let mut e = p.entry.clone();
        if let Some(post) = post {
            let r = render_post(&e.url, post);
            e.summary_html = r.summary_html;
            e.content_html = Some(r.content_html);
        }
        e
    });
    let by_id: HashMap<String, usize> = locals
        .iter()
        .map(|&i| (entries[i].entry.id.clone(), i))
        .collect();
    let merged = aggregate::combine(site, def, rendered, upstream, opts.now)?;
    let mut members = Vec::with_capacity(merged.len());
    for entry in merged {
        let local = by_id.get(&entry.id).map(|&i| &entries[i]);
        let planned = Planned {
            post: local.and_then(|l| l.post),
            feed: Some(d),
            computed_id: local.map_or_else(|| entry.id.clone(), |l| l.computed_id.clone()),
            resolution: local.map_or(Resolution::Kept, |l| l.resolution.clone()),
            entry,
        };
        members.push(entries.len());
        entries.push(planned);
    }
    Ok(members)
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

/// The metadata half of a post's entry (everything but rendered HTML), and its
/// site-relative permalink path.
fn entry_meta(cfg: &SiteConfig, post: &Post) -> (Entry, String) {
    let local = post.date.with_timezone(&cfg.timezone).naive_local();
    let vars = PermalinkVars {
        date: local,
        slug: &post.slug,
        categories: &post.categories,
    };
    let pattern = post.permalink.as_deref().unwrap_or(&cfg.permalink);
    let mut path = permalink::expand(pattern, &vars);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
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
        summary_html: None,
        content_html: None,
        published: post.date,
        updated: post.updated.unwrap_or(post.date),
        authors: post.authors.iter().map(Person::cleaned).collect(),
        tags: tags.iter().map(|t| text::plain_text(t)).collect(),
        image,
        content_mode: post.content_mode,
        sources: Vec::new(),
        related: Vec::new(),
    };
    crate::model::urlpolicy::entry(&mut entry);
    (entry, path)
}

/// A post's rendered body and summary, and what `check` warns about.
pub struct RenderedPost {
    pub summary_html: Option<String>,
    pub content_html: String,
    pub stray_tags: Vec<(usize, String)>,
}

/// Render a post's body and summary, resolving links against its `url`.
pub fn render_post(url: &str, post: &Post) -> RenderedPost {
    let page = Url::parse(url)
        .unwrap_or_else(|_| Url::parse("https://invalid.invalid/").expect("static URL"));
    let rendered = markdown::markdown(&post.body, &page);
    let summary = match &post.summary {
        Some(md) => Some(markdown::markdown(md, &page).html.trim_end().to_string()),
        None => rendered.excerpt_html,
    };
    // A one-paragraph post needs no separate summary.
    let summary_html = summary.filter(|s| s.trim() != rendered.html.trim());
    RenderedPost {
        summary_html,
        content_html: rendered.html,
        stray_tags: rendered.stray_tags,
    }
}

/// One concrete feed from a definition: the whole feed, or one tag of a per-tag feed.
struct Instance {
    tag: Option<String>,
    tag_slug: String,
    members: Vec<usize>,
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

fn feed_instances(def: &FeedDef, entries: &[Planned], posts: &[Post]) -> Vec<Instance> {
    let members: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            entries[i].feed.is_none()
                && entries[i]
                    .post
                    .is_some_and(|p| post_matches(&def.posts, &posts[p]))
        })
        .collect();
    if !def.per_tag {
        return vec![Instance {
            tag: None,
            tag_slug: String::new(),
            members,
        }];
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

/// Entries a feed's human page shows: a person reads the newest; a reader
/// subscribed to the feed gets them all.
pub const PAGE_ENTRIES: usize = 100;

/// The human page of a feed document: its path with `.html` for the extension.
fn page_path(path: &str) -> String {
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
    line: &ledger::FeedLine,
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

#[allow(clippy::too_many_arguments)]
fn paginate(
    cfg: &SiteConfig,
    def: &FeedDef,
    inst: &Instance,
    format: Format,
    path: &str,
    feed_id: &str,
    entries: &[Planned],
) -> Vec<DocPlan> {
    let title = match (&def.title, &inst.tag) {
        (Some(t), Some(tag)) if t.contains("{tag}") => t.replace("{tag}", tag),
        (Some(t), Some(tag)) => format!("{t}: {tag}"),
        (None, Some(tag)) => format!("{}: {tag}", cfg.title),
        (Some(t), None) => t.clone(),
        (None, None) => cfg.title.clone(),
    };
    let subscription_url = cfg.url_for(path);
    let authors = match &cfg.author {
        Some(a) => vec![a.clone()],
        None => vec![Person {
            name: cfg.title.clone(),
            ..Person::default()
        }],
    };
    let meta_for = |self_path: &str, members: &[usize], paging: Paging| FeedMeta {
        id: text::xml_clean(feed_id).into_owned(),
        title: text::plain_text(&title),
        description: def
            .description
            .as_ref()
            .or(cfg.description.as_ref())
            .map(|d| text::plain_text(&d.replace("{tag}", inst.tag.as_deref().unwrap_or("")))),
        language: cfg.language.clone(),
        home_url: cfg.base_url.to_string(),
        self_url: cfg.url_for(self_path),
        subscription_url: subscription_url.clone(),
        authors: authors.clone(),
        updated: members
            .iter()
            .map(|&i| entries[i].entry.updated)
            .max()
            .unwrap_or_else(epoch),
        content: def.content,
        paging,
        hub: cfg.hub.as_ref().map(|h| h.to_string()),
    };
    let doc = |self_path: &str, members: Vec<usize>, paging: Paging| DocPlan {
        path: self_path.to_string(),
        format,
        meta: meta_for(self_path, &members, paging),
        entries: members,
        feed_file: def.path.clone(),
        fingerprint: 0,
        page: None,
    };
    let all = &inst.members;
    let limit = match def.limit {
        Limit::All => return vec![doc(path, all.clone(), Paging::Complete)],
        Limit::Count(n) => n,
    };
    if all.len() <= limit {
        return vec![doc(path, all.clone(), Paging::Complete)];
    }
    if !def.archive {
        return vec![doc(
            path,
            all[..limit].to_vec(),
            Paging::Subscription { prev_archive: None },
        )];
    }
    // Archive pages hold `limit` entries each, counted from the oldest, so a
    // page never changes once full. The subscription document's newest `limit`
    // entries cover whatever is not yet in a full page.
    let pages = all.len() / limit;
    let oldest_first: Vec<usize> = all.iter().rev().copied().collect();
    let mut out = Vec::with_capacity(pages + 1);
    out.push(doc(
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
            current: subscription_url.clone(),
        };
        out.push(doc(&archive_path(path, k), members, paging));
    }
    out
}

fn fingerprint(
    site: &Site,
    site_hash: u64,
    doc: &DocPlan,
    entries: &[Planned],
    posts: &[Post],
) -> u64 {
    use std::hash::Hasher;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.write_u32(OUTPUT_REVISION);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write_u64(program_identity());
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
fn program_identity() -> u64 {
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        let meta = std::env::current_exe().and_then(std::fs::metadata);
        match meta {
            Ok(m) => m.len() ^ content::cache::mtime_nanos(&m).rotate_left(17),
            Err(_) => 0,
        }
    })
}

/// What `build` did.
#[derive(Debug, Default)]
pub struct Report {
    pub posts_read: usize,
    pub entries: usize,
    /// Feed documents (Atom, RSS, JSON Feed; archives included).
    pub documents: usize,
    /// Feed documents written and left as they were.
    pub written: usize,
    pub unchanged: usize,
    /// Feed documents removed (a tag that is gone).
    pub removed: usize,
    /// Human pages (`NAME.html`) in the build.
    pub pages: usize,
    pub warnings: Vec<Diagnostic>,
    /// Broken posts skipped under `--keep-going`.
    pub skipped: Vec<Diagnostic>,
    pub elapsed: Duration,
    /// Every document of the build (written or unchanged), relative to the
    /// output dir, with its feed's `updated` time: what `serve` serves.
    pub files: Vec<OutputFile>,
    /// The date of the next post left out for being in the future: when the
    /// build must run again for it to go live.
    pub next_future: Option<DateTime<Utc>>,
}

/// How many of `paths` are feed documents (not pages or the stylesheet).
fn count_feeds<'a>(paths: impl Iterator<Item = &'a String>) -> usize {
    paths.filter(|p| is_feed_path(p)).count()
}

fn is_feed_path(p: &str) -> bool {
    !p.ends_with(".html") && !p.ends_with(".xsl")
}

/// One document a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    /// When the document last changed for a reader: its feed's `updated`,
    /// or the time its bytes last changed when that is later (`serve`'s
    /// `Last-Modified`).
    pub updated: Option<DateTime<FixedOffset>>,
}

/// When the earliest post that `opts` leaves out for its future date goes live.
fn next_future(posts: &Posts, opts: &Options) -> Option<DateTime<Utc>> {
    if opts.future {
        return None;
    }
    posts
        .posts
        .iter()
        .filter(|p| !p.draft || opts.drafts)
        .map(|p| p.date.with_timezone(&Utc))
        .filter(|d| *d > opts.now)
        .min()
}

fn output_files(m: &Manifest) -> Vec<OutputFile> {
    m.files
        .iter()
        .map(|(path, f)| {
            let date = |t: &Option<String>| {
                t.as_deref()
                    .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
            };
            OutputFile {
                path: path.clone(),
                updated: date(&f.updated).max(date(&f.changed)),
            }
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Manifest {
    output: String,
    files: BTreeMap<String, ManifestFile>,
    /// `inputs_fingerprint` of the build that wrote it.
    #[serde(default)]
    inputs: Option<String>,
    /// Entries in that build, for the report of a build with nothing to do.
    #[serde(default)]
    entries: usize,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq)]
struct ManifestFile {
    fingerprint: String,
    len: u64,
    /// The document's `updated` (RFC 3339).
    #[serde(default)]
    updated: Option<String>,
    /// xxh3 of the bytes written.
    #[serde(default)]
    hash: Option<String>,
    /// When the bytes last changed (RFC 3339): a feed's title or an old
    /// entry can change without its `updated` moving.
    #[serde(default)]
    changed: Option<String>,
}

fn read_manifest(root: &Path, output: &Path) -> Manifest {
    let m: Manifest = std::fs::read(root.join(MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if m.output == output.to_string_lossy() {
        m
    } else {
        Manifest::default()
    }
}

/// Render the bodies of every entry that the documents at `which` (indices
/// into `plan.docs`) contain and that is not rendered yet.
pub fn render_bodies(plan: &mut Plan, posts: &[Post], which: &[usize]) {
    let mut needed = vec![false; plan.entries.len()];
    for &d in which {
        for &i in &plan.docs[d].entries {
            needed[i] = true;
        }
    }
    let todo: Vec<(usize, usize)> = (0..plan.entries.len())
        .filter(|&i| needed[i] && plan.entries[i].entry.content_html.is_none())
        .filter_map(|i| Some((i, plan.entries[i].post?)))
        .collect();
    let entries = &plan.entries;
    let rendered = parallel_map(&todo, 16, |&(i, post)| {
        render_post(&entries[i].entry.url, &posts[post])
    });
    for (&(i, _), r) in todo.iter().zip(rendered) {
        plan.entries[i].entry.summary_html = r.summary_html;
        plan.entries[i].entry.content_html = Some(r.content_html);
    }
}

/// Render the bodies the documents at `which` need, then hand each document
/// and its entries to `sink`, which emits it (documents in parallel, one per
/// core; `build` streams each straight into its staged file).
pub fn emit_docs<R: Send>(
    plan: &mut Plan,
    posts: &[Post],
    which: &[usize],
    sink: impl Fn(&DocPlan, &[&Entry]) -> Result<R, Error> + Sync,
) -> Result<Vec<R>, Error> {
    render_bodies(plan, posts, which);
    let entries = &plan.entries;
    let docs = &plan.docs;
    parallel_map(which, 1, |&d| {
        let doc = &docs[d];
        let list: Vec<&Entry> = doc.entries.iter().map(|&i| &entries[i].entry).collect();
        sink(doc, &list)
    })
    .into_iter()
    .collect()
}

/// Emit the documents at `which` into memory.
pub fn render_docs(
    plan: &mut Plan,
    posts: &[Post],
    which: &[usize],
) -> Result<Vec<Vec<u8>>, Error> {
    emit_docs(plan, posts, which, |doc, list| {
        let mut out = Vec::with_capacity(4096);
        write_doc(doc, list, &mut out, false).map_err(|e| Error::Emit {
            path: PathBuf::from(&doc.path),
            message: e.to_string(),
        })?;
        Ok(out)
    })
}

/// Load `tributary.ledger` from the site root.
pub fn load_ledger(root: &Path) -> Result<Ledger, Error> {
    Ledger::load(root).map_err(Error::Invalid)
}

/// A site loaded and planned: what `build`, `adopt` and `diff` start from.
#[derive(Debug)]
pub struct Prepared {
    pub site: Site,
    pub loaded: Posts,
    /// The ledger after assigning ids to this build's posts (not yet saved).
    pub ledger: Ledger,
    pub plan: Plan,
    /// The post cache, when the site was loaded through it (`build`).
    pub cache: Option<PostCache>,
}

/// Load the site, its posts and ledger, and plan every document. Broken posts
/// fail unless `opts.keep_going`.
pub fn prepare(root: &Path, opts: &Options) -> Result<Prepared, Error> {
    prepare_with(root, opts, false)
}

fn prepare_with(root: &Path, opts: &Options, use_cache: bool) -> Result<Prepared, Error> {
    let site = Site::load(root)?;
    let mut cache = use_cache.then(|| {
        PostCache::load(
            root,
            &PostCache::key_for(program_identity(), site.load_options()),
        )
    });
    let loaded = load_checked(&site, cache.as_mut(), opts)?;
    plan_loaded(site, loaded, cache, opts)
}

/// Read the posts; broken ones fail unless `opts.keep_going`.
fn load_checked(
    site: &Site,
    cache: Option<&mut PostCache>,
    opts: &Options,
) -> Result<Posts, Error> {
    let loaded = load_posts_cached(site, cache)?;
    if !loaded.broken.is_empty() && !opts.keep_going {
        let mut all = loaded.broken;
        all.extend(loaded.warnings);
        return Err(Error::Invalid(all));
    }
    Ok(loaded)
}

fn plan_loaded(
    site: Site,
    mut loaded: Posts,
    cache: Option<PostCache>,
    opts: &Options,
) -> Result<Prepared, Error> {
    let root = site.root.clone();
    let root = root.as_path();
    let mut ledger = load_ledger(root)?;
    let upstream = Upstream::load(&site)?;
    if site.feeds.iter().any(|f| !f.upstreams.is_empty()) {
        // Combined feeds render their posts while planning (their links relate items).
        let all: Vec<usize> = (0..loaded.posts.len()).collect();
        content::cache::load_bodies(root, &mut loaded.posts, &all, site.load_options())
            .map_err(Error::invalid)?;
    }
    let plan = plan(&site, &loaded.posts, &mut ledger, &upstream, opts)?;
    Ok(Prepared {
        site,
        loaded,
        ledger,
        plan,
        cache,
    })
}

/// Everything a build's output depends on, hashed: the program, the
/// configuration and feed files, the ledger, which posts are published and
/// their bytes, the store's generation and the `max_age` windows (to the
/// hour). Equal to the last build's, with every file still in place, means
/// there is nothing to do, without planning anything.
fn inputs_fingerprint(
    site: &Site,
    posts: &Posts,
    opts: &Options,
    generation: Option<u64>,
) -> Result<u64, Error> {
    use std::hash::Hasher;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.write_u32(OUTPUT_REVISION);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write_u64(program_identity());
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
    for p in &posts.posts {
        let published =
            (!p.draft || opts.drafts) && (opts.future || p.date.with_timezone(&Utc) <= opts.now);
        h.write(p.path.to_string_lossy().as_bytes());
        h.write_u64(p.hash);
        h.write_u8(u8::from(published));
    }
    if let Some(g) = generation {
        h.write_u64(g);
    }
    Ok(h.finish())
}

/// The store's generation, for a site with upstreams whose store exists.
/// Read once, before any item is: a fetch that commits during the build
/// then leaves a different generation, and the next build runs again.
fn store_generation(site: &Site) -> Result<Option<u64>, Error> {
    if !site.feeds.iter().any(|f| !f.upstreams.is_empty()) {
        return Ok(None);
    }
    match aggregate::open_existing_store(site)? {
        Some(store) => Ok(Some(store.generation()?)),
        None => Ok(None),
    }
}

/// On a store several replicas share, the ledger lives in the store too:
/// replicas cannot commit `tributary.ledger` back to the site's repository,
/// yet every one must publish the ids the others published. Lines the store
/// has and the file lacks are added to the file before a build; after it,
/// the file goes back to the store (builds on a shared store take turns).
struct SharedLedger {
    store: Box<dyn crate::store::Store + Send>,
    text: Option<String>,
}

impl SharedLedger {
    fn pull(site: &Site) -> Result<Option<SharedLedger>, Error> {
        if !site.store_location().is_shared() {
            return Ok(None);
        }
        let mut store = aggregate::open_store(site)?;
        let Some(shared) = store.shared() else {
            return Ok(None);
        };
        let text = shared.ledger()?;
        if let Some(text) = &text {
            let from_store = Ledger::parse(text).map_err(Error::Invalid)?;
            let mut file = load_ledger(&site.root)?;
            if file.add_missing(&from_store) {
                file.save(&site.root)
                    .map_err(|e| Error::io(site.root.join(ledger::FILE), e))?;
            }
        }
        Ok(Some(SharedLedger { store, text }))
    }

    fn push(mut self, root: &Path) -> Result<(), Error> {
        let path = root.join(ledger::FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(path, e)),
        };
        if self.text.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        if let Some(shared) = self.store.shared() {
            // Added to what the store holds now, not written over it: a
            // one-shot `build` may run beside the replicas' builds.
            let mut merged = Ledger::parse(&text).map_err(Error::Invalid)?;
            if let Some(now) = shared.ledger()? {
                merged.add_missing(&Ledger::parse(&now).map_err(Error::Invalid)?);
            }
            shared.save_ledger(&merged.to_text())?;
        }
        Ok(())
    }
}

/// `tributary build`: write every feed whose inputs changed.
pub fn build(root: &Path, opts: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let site = Site::load(root)?;
    let shared_ledger = SharedLedger::pull(&site)?;
    let mut cache = PostCache::load(
        root,
        &PostCache::key_for(program_identity(), site.load_options()),
    );
    let loaded = load_checked(&site, Some(&mut cache), opts)?;
    let output = site.output_dir(opts);
    // A build killed mid-way leaves its temp files behind; the next one clears them.
    let cleared = write::remove_stale_temps(&output);
    if cleared > 0 {
        tracing::info!("removed {cleared} temp files of an interrupted build");
    }
    let old = read_manifest(root, &output);
    let generation = store_generation(&site)?;
    let inputs = format!(
        "{:016x}",
        inputs_fingerprint(&site, &loaded, opts, generation)?
    );
    let in_place = || {
        old.files
            .iter()
            .all(|(path, f)| std::fs::metadata(output.join(path)).is_ok_and(|m| m.len() == f.len))
    };
    if old.inputs.as_deref() == Some(inputs.as_str()) && in_place() {
        let next_future = next_future(&loaded, opts);
        cache
            .save(root)
            .map_err(|e| Error::io(root.join(content::cache::FILE), e))?;
        return Ok(Report {
            posts_read: loaded.posts.len(),
            entries: old.entries,
            documents: count_feeds(old.files.keys()),
            written: 0,
            unchanged: count_feeds(old.files.keys()),
            pages: old.files.len() - count_feeds(old.files.keys()),
            removed: 0,
            warnings: loaded.warnings,
            skipped: loaded.broken,
            elapsed: start.elapsed(),
            files: output_files(&old),
            next_future,
        });
    }
    let Prepared {
        site,
        mut loaded,
        ledger,
        mut plan,
        cache,
    } = plan_loaded(site, loaded, Some(cache), opts)?;
    let mut manifest = Manifest {
        output: output.to_string_lossy().into_owned(),
        files: BTreeMap::new(),
        inputs: None,
        entries: plan.local_posts().len(),
    };
    let mut stale = Vec::new();
    for (i, doc) in plan.docs.iter().enumerate() {
        let fp = format!("{:016x}", doc.fingerprint);
        let current = old.files.get(&doc.path).filter(|f| {
            f.fingerprint == fp
                && std::fs::metadata(output.join(&doc.path)).is_ok_and(|m| m.len() == f.len)
        });
        match current {
            Some(f) => {
                let mut f = f.clone();
                f.updated = Some(format_rfc3339(&doc.meta.updated));
                manifest.files.insert(doc.path.clone(), f);
            }
            None => stale.push(i),
        }
    }
    // Posts that came from the cache have no body yet: read those the stale documents hold.
    let mut needed: Vec<usize> = stale
        .iter()
        .flat_map(|&d| plan.docs[d].entries.iter())
        .filter_map(|&i| plan.entries[i].post)
        .collect();
    needed.sort_unstable();
    needed.dedup();
    content::cache::load_bodies(root, &mut loaded.posts, &needed, site.load_options())
        .map_err(Error::invalid)?;
    // Stage everything first: if any document fails, no old file has been replaced.
    let staged = emit_docs(&mut plan, &loaded.posts, &stale, |doc, list| {
        let dest = output.join(&doc.path);
        write::stage_with(&dest, |w| write_doc(doc, list, w, site.config.xslt))
            .map_err(|e| Error::io(&dest, e))
    })?;
    let now = format_rfc3339(&Utc::now().fixed_offset());
    for (&i, (s, written)) in stale.iter().zip(staged) {
        let doc = &plan.docs[i];
        let hash = format!("{:016x}", written.hash);
        // Same bytes as before: unchanged for a reader. Other bytes: changed
        // now (only worth recording when it differs from `updated`, which a
        // new document's bytes always match).
        let changed = match old.files.get(&doc.path) {
            Some(f) if f.hash.as_deref() == Some(hash.as_str()) => f.changed.clone(),
            Some(f) if f.hash.is_some() => Some(now.clone()),
            _ => None,
        };
        manifest.files.insert(
            doc.path.clone(),
            ManifestFile {
                fingerprint: format!("{:016x}", doc.fingerprint),
                len: written.len,
                updated: Some(format_rfc3339(&doc.meta.updated)),
                hash: Some(hash),
                changed,
            },
        );
        let dest = s.dest().to_path_buf();
        s.commit().map_err(|e| Error::io(&dest, e))?;
    }
    if site.config.xslt {
        // The stylesheet the Atom and RSS documents point to.
        let bytes = emit::xsl::STYLESHEET.as_bytes();
        let dest = output.join(emit::xsl::FILE_NAME);
        if std::fs::read(&dest).ok().as_deref() != Some(bytes) {
            write::write_atomic(&dest, bytes).map_err(|e| Error::io(&dest, e))?;
        }
        manifest.files.insert(
            emit::xsl::FILE_NAME.to_string(),
            ManifestFile {
                fingerprint: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
                len: bytes.len() as u64,
                updated: None,
                hash: None,
                changed: None,
            },
        );
    }
    // Documents this build no longer produces (a tag that is gone) are removed,
    // but only files an earlier build wrote.
    let mut removed = 0;
    for path in old.files.keys() {
        if !manifest.files.contains_key(path)
            && std::fs::remove_file(output.join(path)).is_ok()
            && is_feed_path(path)
        {
            removed += 1;
        }
    }
    // The ledger is saved after the feeds: an id is recorded once it is published.
    ledger
        .save(root)
        .map_err(|e| Error::io(root.join(ledger::FILE), e))?;
    if let Some(shared) = shared_ledger {
        shared.push(root)?;
    }
    // The inputs as the next build will see them: with the ledger just saved.
    manifest.inputs = Some(format!(
        "{:016x}",
        inputs_fingerprint(&site, &loaded, opts, generation)?
    ));
    let manifest_path = root.join(MANIFEST);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Emit {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    if std::fs::read(&manifest_path).ok().as_deref() != Some(json.as_slice()) {
        write::write_atomic(&manifest_path, &json).map_err(|e| Error::io(&manifest_path, e))?;
    }
    if let Some(cache) = cache {
        cache
            .save(root)
            .map_err(|e| Error::io(root.join(content::cache::FILE), e))?;
    }

    let next_future = next_future(&loaded, opts);
    let mut warnings = loaded.warnings;
    warnings.append(&mut plan.warnings);
    Ok(Report {
        posts_read: loaded.posts.len(),
        entries: plan.local_posts().len(),
        documents: plan.feed_docs().len(),
        written: stale
            .iter()
            .filter(|&&d| plan.docs[d].page.is_none())
            .count(),
        unchanged: plan.feed_docs().len()
            - stale
                .iter()
                .filter(|&&d| plan.docs[d].page.is_none())
                .count(),
        pages: plan.docs.len() - plan.feed_docs().len(),
        removed,
        warnings,
        skipped: loaded.broken,
        elapsed: start.elapsed(),
        files: output_files(&manifest),
        next_future,
    })
}

/// What `check` found: every problem, nothing written.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub posts: usize,
    pub documents: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// `tributary check`: load, plan and render everything in memory, validate
/// every document against the feed standards, and report; write nothing.
pub fn check(root: &Path, opts: &Options) -> Result<CheckReport, Error> {
    let site = Site::load(root)?;
    let loaded = load_posts(&site)?;
    let mut diags = loaded.broken;
    diags.extend(loaded.warnings);
    if let (Some(s), Some(text)) = (&site.config.schedule, &site.config.schedule_text) {
        let next: Vec<String> = s
            .after(&opts.now)
            .take(3)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .collect();
        diags.push(Diagnostic::note(
            SiteConfig::FILE,
            crate::config::key_line(&site.config.source_text, "schedule"),
            format!("schedule {text:?} fires next at {}", next.join(", ")),
        ));
    }
    let mut ledger = match load_ledger(root) {
        Ok(l) => l,
        Err(Error::Invalid(more)) => {
            diags.extend(more);
            Ledger::default()
        }
        Err(e) => return Err(e),
    };
    let before = ledger.clone();
    let upstream = Upstream::load(&site)?;
    let mut plan = match plan(&site, &loaded.posts, &mut ledger, &upstream, opts) {
        Ok(p) => p,
        Err(Error::Invalid(more)) => {
            diags.extend(more);
            return Ok(CheckReport {
                posts: loaded.posts.len(),
                documents: 0,
                diagnostics: diags,
            });
        }
        Err(e) => return Err(e),
    };
    diags.append(&mut plan.warnings);
    diags.extend(ledger_notes(
        &before,
        &plan,
        &loaded.posts,
        &site.config.content,
    ));
    // Render every entry to look for tags that readers would hide.
    let posts = &loaded.posts;
    let locals = plan.local_posts();
    let rendered = parallel_map(&locals, 16, |&(i, post)| {
        let post = &posts[post];
        let r = render_post(&plan.entries[i].entry.url, post);
        let w = stray_tag_warnings(post, &r.stray_tags);
        (r, w)
    });
    for (&(i, _), (r, w)) in locals.iter().zip(rendered) {
        let p = &mut plan.entries[i];
        p.entry.summary_html = r.summary_html;
        p.entry.content_html = Some(r.content_html);
        diags.extend(w);
    }
    let all = plan.feed_docs();
    let bytes = render_docs(&mut plan, &loaded.posts, &all)?;
    let output = opts.output.as_ref().unwrap_or(&site.config.output);
    for (&d, b) in all.iter().zip(&bytes) {
        let doc = &plan.docs[d];
        diags.extend(crate::emit::validate::check(
            doc.format,
            b,
            &output.join(&doc.path),
        ));
    }
    Ok(CheckReport {
        posts: loaded.posts.len(),
        documents: plan.feed_docs().len(),
        diagnostics: diags,
    })
}

/// What the ledger did for this build: ids it kept that the `ids:` scheme
/// would now make differently (the duplicates it prevented), renamed files it
/// recognised, and lines whose post is gone.
fn ledger_notes(before: &Ledger, plan: &Plan, posts: &[Post], content: &Path) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, post) in plan.local_posts() {
        let p = &plan.entries[i];
        let post = &posts[post];
        match &p.resolution {
            Resolution::Kept if p.entry.id != p.computed_id => out.push(Diagnostic::note(
                &post.path,
                None,
                format!(
                    "the ledger keeps the published id {}; without it readers would get {} and see the post again as new",
                    p.entry.id, p.computed_id
                ),
            )),
            Resolution::Renamed { old_key } => out.push(Diagnostic::note(
                &post.path,
                None,
                format!("recognised as the renamed content/{old_key}; it keeps the id {}", p.entry.id),
            )),
            Resolution::Overridden { old_id } => out.push(Diagnostic::warning(
                &post.path,
                None,
                format!(
                    "front-matter id {} replaces the published id {old_id}: readers will see this post again as new",
                    p.entry.id
                ),
            )),
            _ => {}
        }
    }
    let present: Vec<String> = posts.iter().map(|p| ledger_key(p, content)).collect();
    let present: Vec<&str> = present.iter().map(String::as_str).collect();
    for key in before.gone(&present) {
        let renamed = plan
            .entries
            .iter()
            .any(|p| matches!(&p.resolution, Resolution::Renamed { old_key } if old_key == key));
        if !renamed {
            out.push(Diagnostic::note(
                ledger::FILE,
                None,
                format!("post:{key} has no post in content/ any more (its id stays reserved)"),
            ));
        }
    }
    out
}

fn stray_tag_warnings(post: &Post, stray_tags: &[(usize, String)]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for (offset, tag) in stray_tags {
        let line = post.body_line
            + post.body.as_bytes()[..(*offset).min(post.body.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
        if out
            .iter()
            .any(|d| d.line == Some(line) && d.message.contains(tag.as_str()))
        {
            continue;
        }
        out.push(Diagnostic::warning(
            &post.path,
            Some(line),
            format!(
                "{tag} is not an HTML tag: it passes through as raw HTML and readers hide it \
                 (an unclosed backtick?); write it inside `code` or as &lt;...&gt;"
            ),
        ));
    }
    out
}
