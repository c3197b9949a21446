//! Posts on disk: Markdown with YAML front matter, Jekyll style, or read as
//! Hugo reads a section (`ids: hugo`, see `hugo.rs` and `shortcodes.rs`).
//!
//! Loading never panics on input: every problem becomes a `Diagnostic` naming
//! the file and line.

pub mod cache;
pub mod date;
pub mod hugo;
pub mod liquid;
pub mod markdown;
pub mod permalink;
pub mod shortcodes;

use crate::model::diag::Diagnostic;
use crate::model::entry::{ContentMode, Person, MAX_TITLE_CHARS};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use hugo::{HugoOptions, HugoPage};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The largest post file read; anything bigger is refused with an error.
pub const MAX_POST_BYTES: u64 = 16 * 1024 * 1024;

/// One post, as read from `content/`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Post {
    /// Path relative to the site root, e.g. `content/2018-07-23-update.md`.
    pub path: PathBuf,
    /// File name without extension, e.g. `2018-07-23-update`.
    pub file_stem: String,
    pub title: String,
    #[serde(with = "cache::date")]
    pub date: DateTime<FixedOffset>,
    #[serde(with = "cache::opt_date")]
    pub updated: Option<DateTime<FixedOffset>>,
    /// Front-matter `slug`, or the file name without date and extension.
    pub slug: String,
    pub tags: Vec<String>,
    pub categories: Vec<String>,
    pub authors: Vec<Person>,
    /// Markdown from `summary`, `description` or `excerpt`.
    pub summary: Option<String>,
    pub image: Option<String>,
    /// Front-matter `permalink` override (a pattern or a path).
    pub permalink: Option<String>,
    /// Front-matter `id` override.
    pub id: Option<String>,
    pub draft: bool,
    pub content_mode: Option<ContentMode>,
    /// Markdown body; empty until loaded when the post came from the cache
    /// (see `body_loaded`).
    #[serde(skip)]
    pub body: String,
    /// False for a post taken from the metadata cache: `cache::load_bodies` reads it.
    #[serde(skip)]
    pub body_loaded: bool,
    /// 1-based line of the file where the body starts.
    pub body_line: usize,
    /// Keys tributary does not use, kept for templates and later tools.
    pub extra: Map<String, Value>,
    /// Fingerprint of the file's bytes.
    pub hash: u64,
    /// How Hugo reads the post (`ids: hugo`); `None` otherwise.
    #[serde(default)]
    pub hugo: Option<HugoPage>,
}

impl Post {
    /// When the post goes live: Hugo's `publishDate` if set, else its date.
    pub fn publish_date(&self) -> DateTime<FixedOffset> {
        self.hugo
            .as_ref()
            .and_then(|h| h.publish)
            .unwrap_or(self.date)
    }

    /// Whether Hugo's `expiryDate` has passed at `now`: the post is not published.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.hugo
            .as_ref()
            .and_then(|h| h.expiry)
            .is_some_and(|e| e.with_timezone(&Utc) <= now)
    }
}

/// What loading needs to know about the site.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub timezone: Tz,
    /// Read posts as Hugo reads a section (`ids: hugo`).
    pub hugo: Option<HugoOptions>,
    /// A Jekyll site (`liquid::applies`): a `date:` YAML reads as a
    /// timestamp without a zone is UTC, as Jekyll reads it.
    pub jekyll: bool,
}

/// A loaded post with the warnings its loading produced.
pub type Loaded = (Post, Vec<Diagnostic>);

/// The Markdown files under `content/`, and the symbolic links passed over.
#[derive(Debug, Default)]
pub struct PostFiles {
    /// Regular Markdown files, sorted.
    pub files: Vec<PathBuf>,
    /// Symbolic links that would otherwise have been read (to a Markdown
    /// file or to a directory), sorted: not followed, so that a link cannot
    /// publish a file from outside the site, but reported.
    pub links: Vec<PathBuf>,
}

fn is_markdown(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("md" | "markdown" | "mdown" | "mkd")
    )
}

/// Every Markdown file under `dir` (recursively, hidden and `_` files skipped), sorted.
pub fn post_files(dir: &Path) -> Result<PostFiles, std::io::Error> {
    post_files_for(dir, None)
}

/// The post files of a site read with `opts`: as Hugo reads them, a
/// directory with an `index.md` is a page bundle, whose other files
/// (Markdown ones too) are its resources, not pages; `_index.md` (a
/// section's own page) is not a post.
pub fn post_files_for(dir: &Path, hugo: Option<HugoOptions>) -> Result<PostFiles, std::io::Error> {
    let mut out = PostFiles::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => return Ok(out),
            Err(e) => return Err(e),
        };
        let mut found = PostFiles::default();
        let mut dirs = Vec::new();
        let mut bundle = None;
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let ft = entry.file_type()?;
            let path = entry.path();
            if ft.is_dir() {
                dirs.push(path);
            } else if ft.is_file() && is_markdown(&path) {
                if hugo.is_some() && hugo::is_bundle_index(&path) {
                    bundle = Some(path.clone());
                }
                found.files.push(path);
            } else if ft.is_symlink() && (is_markdown(&path) || path.is_dir()) {
                found.links.push(path);
            }
        }
        match bundle {
            Some(index) if d != dir => out.files.push(index),
            _ => {
                out.files.extend(found.files);
                out.links.extend(found.links);
                stack.extend(dirs);
            }
        }
    }
    out.files.sort();
    out.links.sort();
    Ok(out)
}

/// The warning for a symbolic link [`post_files`] passed over.
pub fn skipped_link(path: &Path, shown: &Path) -> Diagnostic {
    let (what, fix) = if path.is_dir() {
        (
            "a symbolic link to a directory, whose posts are not read",
            "the directory itself",
        )
    } else {
        ("a symbolic link", "a copy of the file")
    };
    Diagnostic::warning(
        shown,
        None,
        format!(
            "skipped: {what} (links are not followed, so that one cannot publish a file from outside the site); replace the link with {fix}"
        ),
    )
}

/// The problem of a post that `build --keep-going` leaves out, as a warning
/// that says so (issue 21: an unrenderable shortcode is an error, and a
/// warning with `--keep-going`).
pub fn left_out(d: Diagnostic) -> Diagnostic {
    let msg = format!("{}; the post is left out (--keep-going)", d.message);
    Diagnostic::warning(&d.path, d.line, msg)
}

/// Read and parse one post. `shown` is the path used in messages.
pub fn load_file(file: &Path, shown: &Path, opts: LoadOptions) -> Result<Loaded, Diagnostic> {
    let meta = std::fs::metadata(file)
        .map_err(|e| Diagnostic::error(shown, None, format!("cannot read: {e}")))?;
    if meta.len() > MAX_POST_BYTES {
        return Err(Diagnostic::error(
            shown,
            None,
            format!(
                "is {} bytes; posts larger than {} bytes are refused",
                meta.len(),
                MAX_POST_BYTES
            ),
        ));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| Diagnostic::error(shown, None, format!("cannot read: {e}")))?;
    parse_post_in(&bytes, shown, opts, site_root(file, shown).as_deref())
}

/// The site root: `file` without the components of `shown` at its end.
fn site_root(file: &Path, shown: &Path) -> Option<PathBuf> {
    if shown.is_absolute() {
        return None;
    }
    let mut root = file.to_path_buf();
    for _ in shown.components() {
        if !root.pop() {
            return None;
        }
    }
    Some(root)
}

/// Parse a post from its bytes. Shortcodes that read other files (`ref`,
/// a site's own) need the site root: [`load_file`] has it, this does not.
pub fn parse_post(bytes: &[u8], shown: &Path, opts: LoadOptions) -> Result<Loaded, Diagnostic> {
    parse_post_in(bytes, shown, opts, None)
}

/// Parse a post; `root` is the site root, `None` when not known.
fn parse_post_in(
    bytes: &[u8],
    shown: &Path,
    opts: LoadOptions,
    root: Option<&Path>,
) -> Result<Loaded, Diagnostic> {
    let hash = xxhash_rust::xxh3::xxh3_64(bytes);
    let text = utf8_text(bytes, shown)?;
    let split =
        split_front_matter(text).map_err(|(line, m)| Diagnostic::error(shown, Some(line), m))?;
    let map = read_front(&split, shown, opts.hugo.is_some())?;
    let (file_stem, file_date) = file_name_parts(shown, opts);
    let line = |key: &str| split.key_line(key, opts.hugo.is_some());
    let mut warnings = match opts.hugo {
        // Hugo reads keys in any case and knows keys Jekyll does not.
        Some(_) => Vec::new(),
        None => crate::config::front_matter::misspelt_keys(map.keys(), shown, &line)?,
    };
    let mut fm = FrontMatter::new(map, shown, &mut warnings, &line);
    let raw_title = fm.take_text("title");
    let title = title_of(&mut fm, raw_title.as_deref())?;
    let hugo_dates = opts.hugo.map(|_| take_hugo_dates(&mut fm, opts.timezone));
    let fallback = hugo_dates.and_then(|(publish, _)| publish);
    let date = take_date(&mut fm, file_date, fallback, opts)?;
    let updated = take_updated(&mut fm, date, opts.timezone);
    let mut hugo = match (opts.hugo, hugo_dates) {
        (Some(h), Some(dates)) => {
            let title = raw_title.as_deref().unwrap_or("");
            Some(hugo_page(&mut fm, h, title, dates, root))
        }
        _ => None,
    };
    let slug = match &hugo {
        Some(h) => h.slug(),
        None => jekyll_slug(&mut fm, &file_stem, file_date),
    };
    let meta = take_meta(&mut fm);
    let extra = std::mem::take(&mut fm.map);
    let body = render_body(&split, hugo.as_mut(), shown, opts, root)?;
    let hash = body_hash(hash, hugo.as_ref(), &body);
    let post = Post {
        path: shown.to_path_buf(),
        file_stem,
        title,
        date,
        updated,
        slug,
        tags: meta.tags,
        categories: meta.categories,
        authors: meta.authors,
        summary: meta.summary,
        image: meta.image,
        permalink: meta.permalink,
        id: meta.id,
        draft: meta.draft,
        content_mode: meta.content_mode,
        body,
        body_loaded: true,
        body_line: split.body_line,
        extra,
        hash,
        hugo,
    };
    Ok((post, warnings))
}

/// The site-relative path Hugo gives the page in `bytes` (for `ref`), read
/// from its front matter only (its shortcodes are not rendered).
pub(crate) fn hugo_path_of(
    bytes: &[u8],
    shown: &Path,
    root: &Path,
    opts: LoadOptions,
    h: HugoOptions,
) -> Result<String, Diagnostic> {
    let text = utf8_text(bytes, shown)?;
    let split =
        split_front_matter(text).map_err(|(line, m)| Diagnostic::error(shown, Some(line), m))?;
    let map = read_front(&split, shown, true)?;
    let (_, file_date) = file_name_parts(shown, opts);
    let line = |key: &str| split.key_line(key, true);
    let mut warnings = Vec::new();
    let mut fm = FrontMatter::new(map, shown, &mut warnings, &line);
    let raw_title = fm.take_text("title").unwrap_or_default();
    let dates = take_hugo_dates(&mut fm, opts.timezone);
    let date = take_date(&mut fm, file_date, dates.0, opts)?;
    let page = hugo_page(&mut fm, h, &raw_title, dates, Some(root));
    Ok(hugo::page_path(h.permalink, &page, date))
}

/// The post's fingerprint: its bytes', and, when a `ref` shows another
/// page's URL, its rendered body's too (the post changes when that URL does).
fn body_hash(bytes_hash: u64, page: Option<&HugoPage>, body: &str) -> u64 {
    match page {
        Some(h) if h.refs => bytes_hash ^ xxhash_rust::xxh3::xxh3_64(body.as_bytes()),
        _ => bytes_hash,
    }
}

/// The body as Markdown: as written, or with Hugo's shortcodes rendered.
fn render_body(
    split: &Split,
    page: Option<&mut HugoPage>,
    shown: &Path,
    opts: LoadOptions,
    root: Option<&Path>,
) -> Result<String, Diagnostic> {
    let (Some(page), Some(hugo)) = (page, opts.hugo) else {
        return Ok(split.body.to_string());
    };
    let ctx = shortcodes::Context {
        shown,
        body_line: split.body_line,
        root,
        hugo,
        opts,
    };
    let out = shortcodes::render(split.body, &ctx)?;
    page.refs = out.refs;
    Ok(out.text)
}

/// The text of a post file, without a byte-order mark.
fn utf8_text<'a>(bytes: &'a [u8], shown: &Path) -> Result<&'a str, Diagnostic> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Diagnostic::error(
            shown,
            Some(line),
            format!("is not valid UTF-8 (byte {at}); save the file as UTF-8"),
        )
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// The file name without extension (a Hugo bundle's directory name for its
/// `index.md`).
fn file_name_parts(shown: &Path, opts: LoadOptions) -> (String, Option<NaiveDate>) {
    let stem = match opts.hugo {
        Some(h) => hugo::file_parts(shown, h.content_root).0,
        None => shown
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let date = date::split_file_name(&stem).map(|(d, _)| d);
    (stem, date)
}

/// The front matter as a map: YAML, or TOML between `+++` lines. In Hugo's
/// reading keys are case-insensitive (`publishDate` is `publishdate`).
fn read_front(
    split: &Split,
    shown: &Path,
    lower_keys: bool,
) -> Result<Map<String, Value>, Diagnostic> {
    let map = if split.front.trim().is_empty() {
        Map::new()
    } else if split.toml {
        hugo::toml_front(split.front).map_err(|(l, m)| Diagnostic::error(shown, Some(l + 1), m))?
    } else {
        yaml_front(split.front, shown)?
    };
    Ok(if lower_keys {
        map.into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect()
    } else {
        map
    })
}

fn yaml_front(front: &str, shown: &Path) -> Result<Map<String, Value>, Diagnostic> {
    match crate::util::yaml::from_str::<Value>(front) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Diagnostic::error(
            shown,
            Some(2),
            "front matter must be a map of `key: value` lines",
        )),
        Err(e) => {
            // Errors about the document as a whole (an alias bomb) have
            // no line: the front matter's first line is the place to look.
            let why = if e.message.contains("repetition limit") {
                format!("{} (aliases expand too far)", e.message)
            } else {
                e.message
            };
            Err(Diagnostic::error(
                shown,
                Some(e.line.unwrap_or(1) + 1),
                format!("front matter is not valid YAML: {why}"),
            ))
        }
    }
}

/// The title, trimmed and cut to what feeds carry; an error when missing.
fn title_of(fm: &mut FrontMatter, raw: Option<&str>) -> Result<String, Diagnostic> {
    match raw.map(str::trim) {
        Some(t) if t.chars().count() > MAX_TITLE_CHARS => {
            fm.warn(
                "title",
                format!(
                    "title is {} characters; feeds carry its first {MAX_TITLE_CHARS} (cut at a word, with …): move the rest into the post",
                    t.chars().count()
                ),
            );
            Ok(crate::util::text::shorten(t, MAX_TITLE_CHARS))
        }
        Some(t) if !t.is_empty() => Ok(t.to_string()),
        _ => Err(Diagnostic::error(
            fm.shown,
            (fm.line)("title").or(Some(1)),
            "missing title: add `title: ...` to the front matter",
        )),
    }
}

/// The post's date: front-matter `date`, else (Hugo) `fallback`, else the
/// date of the file name.
fn take_date(
    fm: &mut FrontMatter,
    file_date: Option<NaiveDate>,
    fallback: Option<DateTime<FixedOffset>>,
    opts: LoadOptions,
) -> Result<DateTime<FixedOffset>, Diagnostic> {
    let tz = opts.timezone;
    let from_file = |d: NaiveDate| date::localize(d.and_time(NaiveTime::MIN), tz);
    let Some(raw) = fm.take_text("date") else {
        return match (fallback, file_date) {
            (Some(d), _) => Ok(d),
            (None, Some(d)) => Ok(from_file(d)),
            (None, None) => Err(Diagnostic::error(
                fm.shown,
                Some(1),
                "no usable date: add `date: YYYY-MM-DD` to the front matter or name the file YYYY-MM-DD-title.md",
            )),
        };
    };
    // Jekyll reads a YAML timestamp without a zone as UTC, whatever
    // `timezone:` says; its pages are where it put them.
    let strict_tz = if opts.jekyll && date::is_yaml_timestamp_without_zone(&raw) {
        chrono_tz::UTC
    } else {
        tz
    };
    let e = match date::parse_date(&raw, strict_tz) {
        Ok(d) => return Ok(d),
        Err(e) => e,
    };
    match (date::parse_date_lenient(&raw, tz), file_date) {
        // Read as Jekyll reads it, so that the permalink is the page Jekyll wrote.
        (Some(d), _) => {
            let read = d.format("%Y-%m-%d %H:%M:%S %:z");
            fm.warn(
                "date",
                format!(
                    "date {raw:?}: {e}; read as {read} as Jekyll does (fix the typo to be sure)"
                ),
            );
            Ok(d)
        }
        (None, Some(fdate)) => {
            fm.warn(
                "date",
                format!("date {raw:?}: {e}; using the date of the file name, {fdate}"),
            );
            Ok(from_file(fdate))
        }
        (None, None) => Err(Diagnostic::error(
            fm.shown,
            (fm.line)("date"),
            format!("date {raw:?}: {e}"),
        )),
    }
}

/// The first of `keys` that holds a date; the others are removed too.
fn take_first_date(fm: &mut FrontMatter, keys: &[&str], tz: Tz) -> Option<DateTime<FixedOffset>> {
    let mut found = None;
    for key in keys {
        if let Some(raw) = fm.take_text(key) {
            match date::parse_date(&raw, tz) {
                Ok(d) if found.is_none() => found = Some(d),
                Ok(_) => {}
                Err(e) => fm.warn(key, format!("{key} {raw:?}: {e}; ignored")),
            }
        }
    }
    found
}

/// The update date, unless it is before `date`.
fn take_updated(
    fm: &mut FrontMatter,
    date: DateTime<FixedOffset>,
    tz: Tz,
) -> Option<DateTime<FixedOffset>> {
    let keys = ["updated", "last_modified_at", "lastmod", "modified"];
    let updated = take_first_date(fm, &keys, tz)?;
    if updated < date {
        let line = (fm.line)("updated").or((fm.line)("last_modified_at"));
        fm.warnings.push(Diagnostic::warning(
            fm.shown,
            line,
            "the update date is before the post's date; using the post's date",
        ));
        return None;
    }
    Some(updated)
}

/// Hugo's publish and expiry dates (`publishDate`, `expiryDate` and their aliases).
type HugoDates = (Option<DateTime<FixedOffset>>, Option<DateTime<FixedOffset>>);

fn take_hugo_dates(fm: &mut FrontMatter, tz: Tz) -> HugoDates {
    let publish = take_first_date(fm, &["publishdate", "pubdate", "published"], tz);
    let expiry = take_first_date(fm, &["expirydate", "unpublishdate"], tz);
    (publish, expiry)
}

/// What Hugo reads besides a Jekyll post's keys; with the site `root`,
/// only directories that are Hugo sections are its sections.
fn hugo_page(
    fm: &mut FrontMatter,
    h: HugoOptions,
    raw_title: &str,
    (publish, expiry): HugoDates,
    root: Option<&Path>,
) -> HugoPage {
    let (filename, mut sections) = hugo::file_parts(fm.shown, h.content_root);
    if let Some(root) = root {
        hugo::prune_sections(&mut sections, root, h.content_root);
    }
    let slug = fm
        .take_text("slug")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let url = fm.take_text("url").filter(|u| !u.trim().is_empty());
    HugoPage {
        slug,
        title_slug: hugo::urlize(raw_title),
        filename,
        sections,
        url,
        publish,
        expiry,
        aliases: fm.take_list("aliases"),
        refs: false,
    }
}

/// Front-matter `slug`, else the file name without its date.
fn jekyll_slug(fm: &mut FrontMatter, file_stem: &str, file_date: Option<NaiveDate>) -> String {
    let file_slug = match (file_date, date::split_file_name(file_stem)) {
        (Some(_), Some((_, rest))) => rest.to_string(),
        _ => file_stem.to_string(),
    };
    fm.take_text("slug")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or(file_slug)
}

/// The front-matter keys every post may have besides title, dates and slug.
struct Meta {
    tags: Vec<String>,
    categories: Vec<String>,
    authors: Vec<Person>,
    summary: Option<String>,
    image: Option<String>,
    permalink: Option<String>,
    id: Option<String>,
    draft: bool,
    content_mode: Option<ContentMode>,
}

fn take_meta(fm: &mut FrontMatter) -> Meta {
    let mut tags = fm.take_list("tags");
    tags.extend(fm.take_list("tag"));
    let mut categories = fm.take_list("categories");
    categories.extend(fm.take_list("category"));
    dedup_ci(&mut tags);
    dedup_ci(&mut categories);
    let mut authors = fm.take_people("authors");
    authors.extend(fm.take_people("author"));
    let mut summary = None;
    for key in ["summary", "description", "excerpt"] {
        if let Some(s) = fm.take_text(key) {
            if summary.is_none() && !s.trim().is_empty() {
                summary = Some(s);
            }
        }
    }
    let image = take_image(fm);
    let permalink = fm.take_text("permalink").filter(|p| !p.trim().is_empty());
    let id = fm.take_text("id").filter(|p| !p.trim().is_empty());
    let mut draft = fm.take_bool("draft").unwrap_or(false);
    if fm.take_bool("published") == Some(false) {
        draft = true;
    }
    let content_mode = take_content_mode(fm);
    Meta {
        tags,
        categories,
        authors,
        summary,
        image,
        permalink,
        id,
        draft,
        content_mode,
    }
}

fn take_image(fm: &mut FrontMatter) -> Option<String> {
    match fm.map.remove("image") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Object(mut m)) => ["path", "url", "src"]
            .iter()
            .find_map(|k| m.remove(*k))
            .and_then(|v| v.as_str().map(str::to_string)),
        Some(_) => {
            fm.warn_type("image", "a URL");
            None
        }
        None => None,
    }
}

fn take_content_mode(fm: &mut FrontMatter) -> Option<ContentMode> {
    match fm.take_text("feed_content").as_deref() {
        None => None,
        Some("both") => Some(ContentMode::Both),
        Some("full") => Some(ContentMode::Full),
        Some("summary") => Some(ContentMode::Summary),
        Some(other) => {
            fm.warn(
                "feed_content",
                format!("feed_content {other:?} is not both, full or summary; ignored"),
            );
            None
        }
    }
}

/// A post file cut in two.
struct Split<'a> {
    front: &'a str,
    body: &'a str,
    /// 1-based line of the file where the body starts.
    body_line: usize,
    /// Between `+++` lines: TOML (Hugo).
    toml: bool,
}

impl Split<'_> {
    /// The file's line of a top-level front-matter key (it starts on line 2,
    /// after the opening `---`).
    fn key_line(&self, key: &str, any_case: bool) -> Option<usize> {
        let l = if any_case || self.toml {
            hugo::key_line_ci(self.front, key)
        } else {
            crate::config::key_line(self.front, key)
        };
        l.map(|l| l + 1)
    }
}

/// Split `---\nYAML\n---\nbody` (or `+++\nTOML\n+++\nbody`, as Hugo reads).
/// A file without a leading `---` has no front matter and is refused: it is
/// not a post (Jekyll skips such files too).
fn split_front_matter(text: &str) -> Result<Split<'_>, (usize, String)> {
    let first_end = text.find('\n').unwrap_or(text.len());
    let first = text[..first_end].trim_end_matches('\r').trim_end();
    let toml = first == "+++";
    if first != "---" && !toml {
        return Err((
            1,
            "has no front matter: a post starts with a `---` line, then `title:` and `date:`, then `---`"
                .to_string(),
        ));
    }
    let mut pos = (first_end + 1).min(text.len());
    let front_start = pos;
    let mut line = 2;
    while pos < text.len() {
        let end = text[pos..]
            .find('\n')
            .map(|i| pos + i)
            .unwrap_or(text.len());
        let l = text[pos..end].trim_end_matches('\r').trim_end();
        let closes = if toml {
            l == "+++"
        } else {
            l == "---" || l == "..."
        };
        if closes {
            let body_start = (end + 1).min(text.len());
            return Ok(Split {
                front: &text[front_start..pos],
                body: &text[body_start..],
                body_line: line + 1,
                toml,
            });
        }
        pos = end + 1;
        line += 1;
    }
    Err((
        1,
        format!(
            "front matter starts with `{}` but has no closing `{}` line",
            first, first
        ),
    ))
}

struct FrontMatter<'a> {
    map: Map<String, Value>,
    shown: &'a Path,
    warnings: &'a mut Vec<Diagnostic>,
    line: &'a dyn Fn(&str) -> Option<usize>,
}

impl<'a> FrontMatter<'a> {
    fn new(
        map: Map<String, Value>,
        shown: &'a Path,
        warnings: &'a mut Vec<Diagnostic>,
        line: &'a dyn Fn(&str) -> Option<usize>,
    ) -> Self {
        FrontMatter {
            map,
            shown,
            warnings,
            line,
        }
    }

    fn warn(&mut self, key: &str, msg: String) {
        self.warnings
            .push(Diagnostic::warning(self.shown, (self.line)(key), msg));
    }

    fn warn_type(&mut self, key: &str, expected: &str) {
        self.warnings.push(Diagnostic::warning(
            self.shown,
            (self.line)(key),
            format!("{key} should be {expected}; ignored"),
        ));
    }

    /// A scalar as text (numbers and booleans too, as YAML may read `title: 2024`).
    fn take_text(&mut self, key: &str) -> Option<String> {
        match self.map.remove(key)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            _ => {
                self.warn_type(key, "text");
                None
            }
        }
    }

    fn take_bool(&mut self, key: &str) -> Option<bool> {
        match self.map.remove(key)? {
            Value::Bool(b) => Some(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") || s == "yes" => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") || s == "no" => Some(false),
            Value::Null => None,
            _ => {
                self.warn_type(key, "true or false");
                None
            }
        }
    }

    /// A list, or a string separated by commas (if it has any) or else spaces.
    fn take_list(&mut self, key: &str) -> Vec<String> {
        let items: Vec<String> = match self.map.remove(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::String(s)) => {
                if s.contains(',') {
                    s.split(',').map(str::to_string).collect()
                } else {
                    s.split_whitespace().map(str::to_string).collect()
                }
            }
            Some(Value::Number(n)) => vec![n.to_string()],
            Some(Value::Array(a)) => a
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect(),
            Some(_) => {
                self.warn_type(key, "a list or a comma-separated string");
                return Vec::new();
            }
        };
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn take_people(&mut self, key: &str) -> Vec<Person> {
        let one = |v: Value| -> Option<Person> {
            match v {
                Value::String(s) if !s.trim().is_empty() => Some(Person::parse(&s)),
                Value::Object(m) => {
                    let get = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_string);
                    Some(Person {
                        name: get("name")?,
                        email: get("email"),
                        uri: get("uri").or_else(|| get("url")),
                    })
                }
                _ => None,
            }
        };
        match self.map.remove(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.into_iter().filter_map(one).collect(),
            Some(v) => match one(v) {
                Some(p) => vec![p],
                None => {
                    self.warn_type(key, "a name or a map with `name`");
                    Vec::new()
                }
            },
        }
    }
}

fn dedup_ci(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.to_lowercase()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hugo_opts() -> LoadOptions {
        LoadOptions {
            timezone: chrono_tz::UTC,
            jekyll: false,
            hugo: Some(HugoOptions::new(
                "/blog/:year/:month/:slug/",
                Path::new("content/blog"),
                "https://example.org/",
            )),
        }
    }

    fn hugo_post(path: &str, text: &str) -> Result<Loaded, Diagnostic> {
        parse_post(text.as_bytes(), Path::new(path), hugo_opts())
    }

    #[test]
    fn a_bundle_is_named_by_its_directory_and_slugged_by_its_title() {
        let (p, w) = hugo_post(
            "content/blog/my-trip/index.md",
            "---\ntitle: \"Köln, at last!\"\ndate: 2022-05-10 8:30:00+00:00\n---\nx\n",
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(p.file_stem, "my-trip");
        assert_eq!(p.slug, "köln-at-last");
        let h = p.hugo.as_ref().unwrap();
        assert_eq!(h.filename, "my-trip");
        assert_eq!(h.sections, ["blog"]);
        let path = permalink::post_path("/blog/:year/:month/:slug/", chrono_tz::UTC, &p);
        assert_eq!(path, "/blog/2022/05/köln-at-last/");
    }

    #[test]
    fn toml_front_matter_keys_in_any_case_and_hugo_s_dates() {
        let text = "+++\ntitle = \"T\"\ndate = 2021-03-04T10:00:00-05:00\nSlug = \"My Slug\"\n\
                    publishDate = 2021-04-01\nexpiryDate = \"2022-01-01\"\nurl = \"/x/\"\n+++\nBody.\n";
        let (p, _) = hugo_post("content/blog/t.md", text).unwrap();
        assert_eq!(p.slug, "my-slug");
        assert_eq!(p.body, "Body.\n");
        assert_eq!(p.body_line, 9);
        assert_eq!(p.publish_date().to_rfc3339(), "2021-04-01T00:00:00+00:00");
        let now = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(!p.expired(now("2021-12-31T23:59:59Z")));
        assert!(p.expired(now("2022-01-01T00:00:00Z")));
        assert_eq!(p.hugo.as_ref().unwrap().url.as_deref(), Some("/x/"));
    }

    #[test]
    fn toml_errors_name_their_line() {
        let e =
            hugo_post("content/blog/t.md", "+++\ntitle = \"T\"\ndate = = 3\n+++\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e:?}");
        assert!(e.message.contains("not valid TOML"), "{e:?}");
        let e = hugo_post("content/blog/t.md", "+++\ntitle = \"T\"\n").unwrap_err();
        assert!(e.message.contains("no closing `+++`"), "{e:?}");
    }

    #[test]
    fn without_hugo_nothing_changes() {
        let opts = LoadOptions {
            timezone: chrono_tz::UTC,
            hugo: None,
            jekyll: false,
        };
        let text = "---\ntitle: A {{< b >}}\ndate: 2024-01-02\nurl: /x/\n---\n{{< youtube x >}}\n";
        let (p, _) = parse_post(
            text.as_bytes(),
            Path::new("content/2024-01-02-a/index.md"),
            opts,
        )
        .unwrap();
        assert_eq!(p.slug, "index");
        assert!(p.hugo.is_none());
        assert_eq!(p.body, "{{< youtube x >}}\n");
        assert!(p.extra.contains_key("url"));
    }
}
