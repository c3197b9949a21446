//! Posts on disk: Markdown with YAML front matter, Jekyll style.
//!
//! Loading never panics on input: every problem becomes a `Diagnostic` naming
//! the file and line.

pub mod cache;
pub mod date;
pub mod liquid;
pub mod markdown;
pub mod permalink;

use crate::model::diag::Diagnostic;
use crate::model::entry::{ContentMode, Person, MAX_TITLE_CHARS};
use chrono::{DateTime, FixedOffset, NaiveTime};
use chrono_tz::Tz;
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
}

/// What loading needs to know about the site.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub timezone: Tz,
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
    let mut out = PostFiles::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => return Ok(out),
            Err(e) => return Err(e),
        };
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
                stack.push(path);
            } else if ft.is_file() && is_markdown(&path) {
                out.files.push(path);
            } else if ft.is_symlink() && (is_markdown(&path) || path.is_dir()) {
                out.links.push(path);
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
    parse_post(&bytes, shown, opts)
}

/// Parse a post from its bytes.
pub fn parse_post(bytes: &[u8], shown: &Path, opts: LoadOptions) -> Result<Loaded, Diagnostic> {
    let hash = xxhash_rust::xxh3::xxh3_64(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Diagnostic::error(
            shown,
            Some(line),
            format!("is not valid UTF-8 (byte {at}); save the file as UTF-8"),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (front, body, body_line) =
        split_front_matter(text).map_err(|(line, m)| Diagnostic::error(shown, Some(line), m))?;

    let file_stem = shown
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file_date = date::split_file_name(&file_stem);

    // Front matter starts on line 2 (after the opening `---`).
    let fm_line = |key: &str| crate::config::key_line(front, key).map(|l| l + 1);
    let map: Map<String, Value> = if front.trim().is_empty() {
        Map::new()
    } else {
        match crate::util::yaml::from_str::<Value>(front) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return Err(Diagnostic::error(
                    shown,
                    Some(2),
                    "front matter must be a map of `key: value` lines",
                ))
            }
            Err(e) => {
                // Errors about the document as a whole (an alias bomb) have
                // no line: the front matter's first line is the place to look.
                let why = if e.message.contains("repetition limit") {
                    format!("{} (aliases expand too far)", e.message)
                } else {
                    e.message
                };
                return Err(Diagnostic::error(
                    shown,
                    Some(e.line.unwrap_or(1) + 1),
                    format!("front matter is not valid YAML: {why}"),
                ));
            }
        }
    };

    let mut warnings = Vec::new();
    let mut fm = FrontMatter {
        map,
        shown,
        warnings: &mut warnings,
        line: &fm_line,
    };

    let title = match fm.take_text("title") {
        Some(t) if t.trim().chars().count() > MAX_TITLE_CHARS => {
            fm.warnings.push(Diagnostic::warning(
                shown,
                fm_line("title"),
                format!(
                    "title is {} characters; feeds carry its first {MAX_TITLE_CHARS} (cut at a word, with …): move the rest into the post",
                    t.trim().chars().count()
                ),
            ));
            crate::util::text::shorten(t.trim(), MAX_TITLE_CHARS)
        }
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            return Err(Diagnostic::error(
                shown,
                fm_line("title").or(Some(1)),
                "missing title: add `title: ...` to the front matter",
            ))
        }
    };

    let date_value = fm.take_text("date");
    let date = match (date_value, file_date) {
        (Some(raw), fd) => match date::parse_date(
            &raw,
            if opts.jekyll && date::is_yaml_timestamp_without_zone(&raw) {
                chrono_tz::UTC
            } else {
                opts.timezone
            },
        ) {
            Ok(d) => d,
            Err(e) => match (date::parse_date_lenient(&raw, opts.timezone), fd) {
                // Read as Jekyll reads it, so that the permalink is the page Jekyll wrote.
                (Some(d), _) => {
                    fm.warnings.push(Diagnostic::warning(
                        shown,
                        fm_line("date"),
                        format!(
                            "date {raw:?}: {e}; read as {} as Jekyll does (fix the typo to be sure)",
                            d.format("%Y-%m-%d %H:%M:%S %:z")
                        ),
                    ));
                    d
                }
                (None, Some((fdate, _))) => {
                    fm.warnings.push(Diagnostic::warning(
                        shown,
                        fm_line("date"),
                        format!(
                            "date {raw:?}: {e}; using the date of the file name, {fdate}"
                        ),
                    ));
                    date::localize(fdate.and_time(NaiveTime::MIN), opts.timezone)
                }
                (None, None) => {
                    return Err(Diagnostic::error(
                        shown,
                        fm_line("date"),
                        format!("date {raw:?}: {e}"),
                    ))
                }
            },
        },
        (None, Some((fdate, _))) => date::localize(fdate.and_time(NaiveTime::MIN), opts.timezone),
        (None, None) => {
            return Err(Diagnostic::error(
                shown,
                Some(1),
                "no usable date: add `date: YYYY-MM-DD` to the front matter or name the file YYYY-MM-DD-title.md",
            ))
        }
    };

    let mut updated = None;
    for key in ["updated", "last_modified_at", "lastmod", "modified"] {
        if let Some(raw) = fm.take_text(key) {
            match date::parse_date(&raw, opts.timezone) {
                Ok(d) if updated.is_none() => updated = Some(d),
                Ok(_) => {}
                Err(e) => fm.warnings.push(Diagnostic::warning(
                    shown,
                    fm_line(key),
                    format!("{key} {raw:?}: {e}; ignored"),
                )),
            }
        }
    }
    if let Some(u) = updated {
        if u < date {
            fm.warnings.push(Diagnostic::warning(
                shown,
                fm_line("updated").or(fm_line("last_modified_at")),
                "the update date is before the post's date; using the post's date",
            ));
            updated = None;
        }
    }

    let file_slug = match file_date {
        Some((_, rest)) => rest.to_string(),
        None => file_stem.clone(),
    };
    let slug = fm
        .take_text("slug")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or(file_slug);

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

    let image = match fm.map.remove("image") {
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
    };
    let permalink = fm.take_text("permalink").filter(|p| !p.trim().is_empty());
    let id = fm.take_text("id").filter(|p| !p.trim().is_empty());
    let mut draft = fm.take_bool("draft").unwrap_or(false);
    if fm.take_bool("published") == Some(false) {
        draft = true;
    }
    let content_mode = match fm.take_text("feed_content").as_deref() {
        None => None,
        Some("both") => Some(ContentMode::Both),
        Some("full") => Some(ContentMode::Full),
        Some("summary") => Some(ContentMode::Summary),
        Some(other) => {
            fm.warnings.push(Diagnostic::warning(
                shown,
                fm_line("feed_content"),
                format!("feed_content {other:?} is not both, full or summary; ignored"),
            ));
            None
        }
    };
    let extra = std::mem::take(&mut fm.map);

    Ok((
        Post {
            path: shown.to_path_buf(),
            file_stem,
            title,
            date,
            updated,
            slug,
            tags,
            categories,
            authors,
            summary,
            image,
            permalink,
            id,
            draft,
            content_mode,
            body: body.to_string(),
            body_loaded: true,
            body_line,
            extra,
            hash,
        },
        warnings,
    ))
}

/// Split `---\nYAML\n---\nbody`. Returns (front, body, 1-based body line).
/// A file without a leading `---` has no front matter and is refused: it is
/// not a post (Jekyll skips such files too).
fn split_front_matter(text: &str) -> Result<(&str, &str, usize), (usize, String)> {
    let first_end = text.find('\n').unwrap_or(text.len());
    let first = text[..first_end].trim_end_matches('\r');
    if first.trim_end() != "---" {
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
        if l == "---" || l == "..." {
            let body_start = (end + 1).min(text.len());
            return Ok((&text[front_start..pos], &text[body_start..], line + 1));
        }
        pos = end + 1;
        line += 1;
    }
    Err((
        1,
        "front matter starts with `---` but has no closing `---` line".to_string(),
    ))
}

struct FrontMatter<'a, F: Fn(&str) -> Option<usize>> {
    map: Map<String, Value>,
    shown: &'a Path,
    warnings: &'a mut Vec<Diagnostic>,
    line: &'a F,
}

impl<F: Fn(&str) -> Option<usize>> FrontMatter<'_, F> {
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
