//! The publish pipeline: load the site, turn posts into entries, plan every
//! feed document, render only the documents whose inputs changed, and write
//! them atomically.

use crate::app::aggregate::{self, Upstream};
use crate::config::{FeedDef, Format};
use crate::content::cache::{PostCache, Stamp};
use crate::content::{self, Post};
use crate::emit;
use crate::model::entry::Entry;
use crate::model::{Diagnostic, Error};
use crate::plan::fingerprint::{self, inputs_fingerprint, program_identity};
use crate::plan::ledger::{self, Ledger, Resolution};
use crate::plan::paginate;
use crate::plan::select::{self, feed_members};
use crate::site::Site;
use crate::util::date::format_rfc3339;
use crate::util::par::parallel_map;
use crate::{content::markdown, util::write};
use chrono::{DateTime, FixedOffset, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use url::Url;

pub use crate::app::check::{check, CheckReport};
pub use crate::plan::paginate::PAGE_ENTRIES;
pub use crate::plan::select::{ledger_key, post_matches};
pub use crate::plan::{DocPlan, Options, Plan, Planned};

const MANIFEST: &str = ".tributary/build-manifest.json";
/// The `/` page, as a static host serves it.
const INDEX: &str = "index.html";

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
    let opts = site.load_options();
    let found = content::post_files_for(&dir, opts.hugo).map_err(|e| Error::io(&dir, e))?;
    let files = found.files;
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

/// Turn posts into entries and feed documents, step by step: select the
/// published posts and give each its ledger id, add the entries of combined
/// feeds, lay out every feed's documents, fingerprint them. Fails on
/// conflicts the user must resolve.
pub fn plan(
    site: &Site,
    posts: &[Post],
    ledger: &mut Ledger,
    upstream: &Upstream,
    opts: &Options,
) -> Result<Plan, Error> {
    let (mut entries, warnings) = select::local_entries(&site.config, posts, ledger, opts)?;
    let combined = combined_feeds(site, posts, &mut entries, upstream, opts)?;
    let mut docs =
        paginate::documents(&site.config, &site.feeds, ledger, &entries, posts, combined)?;
    fingerprint::fingerprint_docs(site, &mut docs, &entries, posts);
    Ok(Plan {
        entries,
        docs,
        warnings,
    })
}

/// Combined feeds get their own entries (posts with the sources of their
/// upstream copies, and upstream items), after every local entry: for each
/// feed of `site.feeds`, the members of a combined one.
fn combined_feeds(
    site: &Site,
    posts: &[Post],
    entries: &mut Vec<Planned>,
    upstream: &Upstream,
    opts: &Options,
) -> Result<Vec<Option<Vec<usize>>>, Error> {
    let mut combined = vec![None; site.feeds.len()];
    for (d, def) in site.feeds.iter().enumerate() {
        if !def.upstreams.is_empty() {
            combined[d] = Some(combine_feed(site, def, d, posts, entries, upstream, opts)?);
        }
    }
    Ok(combined)
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
    let locals = feed_members(def, entries, posts);
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

impl Report {
    /// A build whose inputs are the last one's: the files `old` lists stand.
    fn nothing_to_do(old: &Manifest, loaded: Posts, opts: &Options, start: Instant) -> Report {
        let feeds = count_feeds(old.files.keys());
        Report {
            posts_read: loaded.posts.len(),
            entries: old.entries,
            documents: feeds,
            written: 0,
            unchanged: feeds,
            // The `/` page is not a feed's page.
            pages: old.files.len()
                - feeds
                - usize::from(old.files.get(INDEX).is_some_and(|f| f.hash.is_none())),
            removed: 0,
            next_future: next_future(&loaded, opts),
            warnings: loaded.warnings,
            skipped: loaded.broken.into_iter().map(content::left_out).collect(),
            elapsed: start.elapsed(),
            files: output_files(old),
        }
    }

    /// A build that planned `plan` and wrote its documents at `stale`.
    fn built(
        mut plan: Plan,
        stale: &[usize],
        loaded: Posts,
        manifest: &Manifest,
        removed: usize,
        opts: &Options,
        start: Instant,
    ) -> Report {
        let feeds = plan.feed_docs().len();
        let written = stale
            .iter()
            .filter(|&&d| plan.docs[d].page.is_none())
            .count();
        let next_future = next_future(&loaded, opts);
        let mut warnings = loaded.warnings;
        warnings.append(&mut plan.warnings);
        Report {
            posts_read: loaded.posts.len(),
            entries: plan.local_posts().len(),
            documents: feeds,
            written,
            unchanged: feeds - written,
            pages: plan.docs.len() - feeds,
            removed,
            warnings,
            skipped: loaded.broken.into_iter().map(content::left_out).collect(),
            elapsed: start.elapsed(),
            files: output_files(manifest),
            next_future,
        }
    }
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
        .filter(|p| (!p.draft || opts.drafts) && opts.is_future(p))
        .map(|p| p.publish_date().with_timezone(&Utc))
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

impl Manifest {
    /// Whether every file it lists is still in the output dir, with its length.
    fn in_place(&self, output: &Path) -> bool {
        self.files
            .iter()
            .all(|(path, f)| std::fs::metadata(output.join(path)).is_ok_and(|m| m.len() == f.len))
    }

    /// The new build's manifest with the documents of `plan` that are up to
    /// date (same fingerprint as in `old`, file in place), and the indices
    /// of the others: those to write.
    fn unchanged(old: &Manifest, plan: &Plan, output: &Path) -> (Manifest, Vec<usize>) {
        let mut manifest = Manifest {
            output: output.to_string_lossy().into_owned(),
            files: BTreeMap::new(),
            inputs: None,
            entries: plan.local_posts().len(),
        };
        let mut stale = Vec::new();
        for (i, doc) in plan.docs.iter().enumerate() {
            let fp = hex(doc.fingerprint);
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
        (manifest, stale)
    }

    /// Write it under the site root, unless it is there already.
    fn save(&self, root: &Path) -> Result<(), Error> {
        let path = root.join(MANIFEST);
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Emit {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if std::fs::read(&path).ok().as_deref() != Some(json.as_slice()) {
            write::write_atomic(&path, &json).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }
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
        let (from_store, text) = ledger::Side::Store(shared).read_text()?;
        if text.is_some() {
            ledger::Side::File(&site.root).add_missing(&from_store)?;
        }
        Ok(Some(SharedLedger { store, text }))
    }

    fn push(mut self, root: &Path) -> Result<(), Error> {
        let (file, text) = ledger::Side::File(root).read_text()?;
        let Some(text) = text else {
            return Ok(());
        };
        if self.text.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        if let Some(shared) = self.store.shared() {
            // Added to what the store holds now, not written over it: a
            // one-shot `build` may run beside the replicas' builds.
            ledger::Side::Store(shared).put(file)?;
        }
        Ok(())
    }
}

/// `tributary build`: write every feed whose inputs changed. The steps:
/// read the posts (through the cache), stop if the inputs are the last
/// build's, plan, write the documents whose fingerprint changed (and the
/// stylesheet), remove those no longer built, then record the ledger, the
/// manifest and the cache.
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
    clear_temps(&output);
    let old = read_manifest(root, &output);
    let generation = store_generation(&site)?;
    let inputs = hex(inputs_fingerprint(&site, &loaded.posts, opts, generation));
    if old.inputs.as_deref() == Some(inputs.as_str()) && old.in_place(&output) {
        save_cache(&cache, root)?;
        return Ok(Report::nothing_to_do(&old, loaded, opts, start));
    }
    let Prepared {
        site,
        mut loaded,
        ledger,
        mut plan,
        cache,
    } = plan_loaded(site, loaded, Some(cache), opts)?;
    let (mut manifest, stale) = Manifest::unchanged(&old, &plan, &output);
    let needed = bodies_needed(&plan, &stale);
    content::cache::load_bodies(root, &mut loaded.posts, &needed, site.load_options())
        .map_err(Error::invalid)?;
    write_stale(
        &site,
        &output,
        &old,
        &mut manifest,
        &mut plan,
        &loaded,
        &stale,
    )?;
    write_site_files(&site, &output, &mut manifest)?;
    let removed = remove_gone(&old, &manifest, &output);
    save_ledger(&ledger, shared_ledger, root)?;
    // The inputs as the next build will see them: with the ledger just saved.
    let next_inputs = inputs_fingerprint(&site, &loaded.posts, opts, generation);
    manifest.inputs = Some(hex(next_inputs));
    manifest.save(root)?;
    if let Some(cache) = cache {
        save_cache(&cache, root)?;
    }
    Ok(Report::built(
        plan, &stale, loaded, &manifest, removed, opts, start,
    ))
}

fn hex(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// A build killed mid-way leaves its temp files behind; the next one clears them.
fn clear_temps(output: &Path) {
    let cleared = write::remove_stale_temps(output);
    if cleared > 0 {
        tracing::info!("removed {cleared} temp files of an interrupted build");
    }
}

fn save_cache(cache: &PostCache, root: &Path) -> Result<(), Error> {
    cache
        .save(root)
        .map_err(|e| Error::io(root.join(content::cache::FILE), e))
}

/// Posts that came from the cache have no body yet: those the documents at
/// `stale` hold, which are about to be written.
fn bodies_needed(plan: &Plan, stale: &[usize]) -> Vec<usize> {
    let mut needed: Vec<usize> = stale
        .iter()
        .flat_map(|&d| plan.docs[d].entries.iter())
        .filter_map(|&i| plan.entries[i].post)
        .collect();
    needed.sort_unstable();
    needed.dedup();
    needed
}

/// Write the documents at `stale` and record them in `manifest`. Everything
/// is staged first: if any document fails, no old file has been replaced.
fn write_stale(
    site: &Site,
    output: &Path,
    old: &Manifest,
    manifest: &mut Manifest,
    plan: &mut Plan,
    loaded: &Posts,
    stale: &[usize],
) -> Result<(), Error> {
    let staged = emit_docs(plan, &loaded.posts, stale, |doc, list| {
        let dest = output.join(&doc.path);
        write::stage_with(&dest, |w| write_doc(doc, list, w, site.config.xslt))
            .map_err(|e| Error::io(&dest, e))
    })?;
    let now = format_rfc3339(&Utc::now().fixed_offset());
    for (&i, (s, written)) in stale.iter().zip(staged) {
        let doc = &plan.docs[i];
        let hash = hex(written.hash);
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
                fingerprint: hex(doc.fingerprint),
                len: written.len,
                updated: Some(format_rfc3339(&doc.meta.updated)),
                hash: Some(hash),
                changed,
            },
        );
        let dest = s.dest().to_path_buf();
        s.commit().map_err(|e| Error::io(&dest, e))?;
    }
    Ok(())
}

/// The ledger is saved after the feeds: an id is recorded once it is
/// published; on a shared store it goes back to the store.
fn save_ledger(ledger: &Ledger, shared: Option<SharedLedger>, root: &Path) -> Result<(), Error> {
    ledger
        .save(root)
        .map_err(|e| Error::io(root.join(ledger::FILE), e))?;
    match shared {
        Some(shared) => shared.push(root),
        None => Ok(()),
    }
}

/// The files beside the documents: the stylesheet (with `xslt:`) and the
/// `/` page.
fn write_site_files(site: &Site, output: &Path, manifest: &mut Manifest) -> Result<(), Error> {
    if site.config.xslt {
        write_stylesheet(output, manifest)?;
    }
    write_index(site, output, manifest)
}

/// The stylesheet the Atom and RSS documents point to.
fn write_stylesheet(output: &Path, manifest: &mut Manifest) -> Result<(), Error> {
    let bytes = emit::xsl::STYLESHEET.as_bytes();
    write_root_file(output, manifest, emit::xsl::FILE_NAME, bytes)
}

/// The `/` page that `serve` serves, as `index.html` (issue 21), listing
/// this build's documents; not when a feed's own page is `index.html`.
fn write_index(site: &Site, output: &Path, manifest: &mut Manifest) -> Result<(), Error> {
    if manifest.files.contains_key(INDEX) {
        return Ok(());
    }
    let html = crate::app::index::index_html(site, &output_files(manifest));
    write_root_file(output, manifest, INDEX, html.as_bytes())
}

/// Write `bytes` as `name` at the output dir's root (unless they are there
/// already) and record the file in `manifest`.
fn write_root_file(
    output: &Path,
    manifest: &mut Manifest,
    name: &str,
    bytes: &[u8],
) -> Result<(), Error> {
    let dest = output.join(name);
    if std::fs::read(&dest).ok().as_deref() != Some(bytes) {
        write::write_atomic(&dest, bytes).map_err(|e| Error::io(&dest, e))?;
    }
    manifest.files.insert(
        name.to_string(),
        ManifestFile {
            fingerprint: hex(xxhash_rust::xxh3::xxh3_64(bytes)),
            len: bytes.len() as u64,
            updated: None,
            hash: None,
            changed: None,
        },
    );
    Ok(())
}

/// Documents this build no longer produces (a tag that is gone) are removed,
/// but only files an earlier build wrote. Returns how many feed documents.
fn remove_gone(old: &Manifest, manifest: &Manifest, output: &Path) -> usize {
    let mut removed = 0;
    for path in old.files.keys() {
        if !manifest.files.contains_key(path)
            && std::fs::remove_file(output.join(path)).is_ok()
            && is_feed_path(path)
        {
            removed += 1;
        }
    }
    removed
}
