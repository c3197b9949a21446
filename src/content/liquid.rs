//! Liquid in the posts of a Jekyll site, rendered before Markdown as Jekyll
//! renders it, so that feeds carry what the site shows and never template
//! text.
//!
//! Only for Jekyll sites ([`applies`]): `ids: jekyll`, a `_config.yml`
//! beside `tributary.yaml`, or posts in `_posts`. Liquid's own tags (`if`,
//! `unless`, `case`, `for`, `assign`, `capture`, `raw`, `comment`, `break`,
//! `continue`) and filters, and Jekyll's `link`, `post_url`, `highlight`,
//! `relative_url`, `absolute_url` and text filters (`slugify`, `jsonify`,
//! `date_to_xmlschema`…); `site.*` is the site's `_config.yml` (with `url`,
//! `baseurl`, `title` and `description` from `tributary.yaml` where it has
//! none, `site.posts` and `site.data`), `page.*` the post's front matter.
//! Anything else (`include`, an unknown filter, a syntax error, a link to a
//! file the site does not have) is an error at its `file:line`: a post is
//! never published with its template text.
//!
//! Posts are untrusted: a post's rendering is bounded in loop iterations,
//! in the text its filters and loops make, in nesting and in time.

use crate::config::{IdScheme, SiteConfig};
use crate::content::{permalink, LoadOptions, Post};
use crate::model::diag::Diagnostic;
use liquid_core::error::ResultLiquidReplaceExt;
use liquid_core::model::{KString, Value, ValueView};
use liquid_core::parser::{FilterArguments, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister, StackFrame};
use liquid_core::{
    BlockReflection, Filter, FilterReflection, Language, ParseBlock, ParseFilter, ParseTag,
    Renderable, Runtime, TagBlock, TagReflection, TagTokenIter, Template,
};
use liquid_lib::stdlib;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Loop iterations in one post, all loops together.
pub const MAX_ITERATIONS: u64 = 10_000;
/// Text that one post's filters and loops may make, all together.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Blocks inside blocks.
pub const MAX_DEPTH: usize = 32;
/// Wall time for one post.
pub const MAX_TIME: Duration = Duration::from_secs(2);
/// Files of the site read to resolve `{% link %}`.
const MAX_SITE_FILES: usize = 20_000;

/// Whether the site is a Jekyll site whose posts are Liquid templates.
pub fn applies(root: &Path, cfg: &SiteConfig) -> bool {
    matches!(cfg.ids, IdScheme::Jekyll)
        || root.join("_config.yml").is_file()
        || cfg.content.file_name().is_some_and(|n| n == "_posts")
}

/// Whether a body has anything Liquid would read.
fn has_liquid(body: &str) -> bool {
    body.contains("{{") || body.contains("{%")
}

/// Render the Liquid of every post of a Jekyll site into its body (Markdown
/// still). Posts that fail are taken out of `posts`; their errors are
/// returned. A post whose body changed gets a fingerprint of the rendered
/// text, so that builds see a change of `_config.yml` or of a linked post.
pub fn render_posts(
    root: &Path,
    cfg: &SiteConfig,
    opts: LoadOptions,
    posts: &mut Vec<Post>,
) -> Result<Vec<Diagnostic>, Diagnostic> {
    if !applies(root, cfg) {
        return Ok(Vec::new());
    }
    let all: Vec<usize> = (0..posts.len()).collect();
    super::cache::load_bodies(root, posts, &all, opts)?;
    if !posts.iter().any(|p| has_liquid(&p.body)) {
        return Ok(Vec::new());
    }
    let site = Arc::new(JekyllSite::load(root, cfg, posts)?);
    let parser = parser(&site).map_err(|e| Diagnostic::error(root, None, e.to_string()))?;
    let results = crate::util::par::parallel_map(posts, 8, |p| {
        has_liquid(&p.body).then(|| render_post(&parser, &site, p))
    });
    let mut broken = Vec::new();
    let mut kept = Vec::with_capacity(posts.len());
    for (mut post, r) in posts.drain(..).zip(results) {
        match r {
            None => kept.push(post),
            Some(Ok(body)) => {
                if body != post.body {
                    post.hash = xxhash_rust::xxh3::xxh3_64_with_seed(body.as_bytes(), post.hash);
                    post.body = body;
                }
                kept.push(post);
            }
            Some(Err(d)) => broken.push(d),
        }
    }
    *posts = kept;
    Ok(broken)
}

/// What Liquid sees of the site.
#[derive(Debug, Default)]
pub struct JekyllSite {
    /// `site.*`.
    site: Json,
    /// `_config.yml`'s `url` (or `base_url`'s origin), no trailing slash.
    url: String,
    /// `baseurl`, no trailing slash (`""` at the root).
    baseurl: String,
    /// Site-relative URL of every file `{% link %}` reaches, by its path
    /// under the Jekyll site's root (`_posts/2024-01-01-a.md`, `about.md`).
    files: HashMap<String, String>,
    /// Site-relative URL of every post, by file name without extension.
    posts: HashMap<String, String>,
    /// Each post's `page.*`, by its path.
    pages: HashMap<PathBuf, Json>,
}

impl JekyllSite {
    /// Read `_config.yml` (beside `tributary.yaml`, else beside the posts'
    /// folder) and the files of the site.
    pub fn load(root: &Path, cfg: &SiteConfig, posts: &[Post]) -> Result<JekyllSite, Diagnostic> {
        let jekyll_root = find_jekyll_root(root, cfg);
        let mut config = read_config(root, &jekyll_root)?;
        let (url, baseurl) = add_config_defaults(&mut config, cfg);
        let data = read_data(root, &jekyll_root)?;
        config.entry("data").or_insert(Json::Object(data));
        let style = permalink_style(&config, cfg);

        let mut site = JekyllSite {
            url,
            baseurl,
            ..JekyllSite::default()
        };
        let listed = site.add_posts(root, cfg, posts, &jekyll_root);
        config.insert("posts".into(), Json::Array(listed));
        let mut budget = MAX_SITE_FILES;
        site.add_collections(&config, &jekyll_root, &style, &mut budget);
        site.add_included(&config, &jekyll_root, &style, &mut budget);
        site.add_plain_files(root, cfg, &jekyll_root, &style, &mut budget);
        site.site = Json::Object(config);
        Ok(site)
    }

    /// Posts, newest first as in `site.posts`: record each one's URL and
    /// `page.*`, and return the list `site.posts` holds.
    fn add_posts(
        &mut self,
        root: &Path,
        cfg: &SiteConfig,
        posts: &[Post],
        jekyll_root: &Path,
    ) -> Vec<Json> {
        let mut order: Vec<&Post> = posts.iter().collect();
        order.sort_by_key(|p| std::cmp::Reverse(p.date));
        let mut listed = Vec::with_capacity(order.len());
        for p in order {
            let url = post_path(cfg, p);
            let page = page_of(p, &url, jekyll_root, root);
            let rel = rel_path(&root.join(&p.path), jekyll_root);
            self.files.insert(rel, url.clone());
            self.posts.insert(p.file_stem.clone(), url.clone());
            listed.push(page.clone());
            self.pages.insert(p.path.clone(), page);
        }
        listed
    }

    /// Collections (`collections:` in `_config.yml`) other than posts: each
    /// document's URL, from the collection's `permalink` or the default.
    fn add_collections(
        &mut self,
        config: &Map<String, Json>,
        jekyll_root: &Path,
        style: &str,
        budget: &mut usize,
    ) {
        for (name, pattern) in &collections_of(config) {
            if name == "posts" {
                continue;
            }
            let dir = jekyll_root.join(format!("_{name}"));
            let pattern = pattern
                .clone()
                .unwrap_or_else(|| add_suffix("/:collection/:path", style));
            for file in walk(&dir, budget, false) {
                let rel = rel_path(&file, jekyll_root);
                let within = rel_path(&file, &dir);
                let url = document_url(&file, &within, name, &pattern);
                self.files.insert(rel, url);
            }
        }
    }

    /// Folders `include:` brings in (`_pages`): plain pages and files.
    fn add_included(
        &mut self,
        config: &Map<String, Json>,
        jekyll_root: &Path,
        style: &str,
        budget: &mut usize,
    ) {
        let included: Vec<PathBuf> = match config.get("include") {
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(Json::as_str)
                .filter(|n| n.starts_with('_') && !n.contains(".."))
                .map(|n| jekyll_root.join(n))
                .filter(|d| d.is_dir())
                .collect(),
            _ => Vec::new(),
        };
        for dir in &included {
            for file in walk(dir, budget, false) {
                let rel = rel_path(&file, jekyll_root);
                let url = page_url(&file, &rel, style).unwrap_or_else(|| format!("/{rel}"));
                self.files.insert(rel, url);
            }
        }
    }

    /// Plain pages and static files of the site's root, leaving out
    /// tributary's own output and feeds.
    fn add_plain_files(
        &mut self,
        root: &Path,
        cfg: &SiteConfig,
        jekyll_root: &Path,
        style: &str,
        budget: &mut usize,
    ) {
        let output = root.join(&cfg.output);
        for file in walk(jekyll_root, budget, true) {
            if file.starts_with(&output) || file.starts_with(root.join("feeds")) {
                continue;
            }
            let rel = rel_path(&file, jekyll_root);
            let url = page_url(&file, &rel, style).unwrap_or_else(|| format!("/{rel}"));
            self.files.insert(rel, url);
        }
    }

    /// `relative_url`: the base URL's path before a site-relative URL.
    fn relative_url(&self, input: &str) -> String {
        if url::Url::parse(input).is_ok() {
            return input.to_string();
        }
        let input = if input.is_empty() || input.starts_with('/') {
            input.to_string()
        } else {
            format!("/{input}")
        };
        let base = if self.baseurl.is_empty() || self.baseurl.starts_with('/') {
            self.baseurl.clone()
        } else {
            format!("/{}", self.baseurl)
        };
        format!("{base}{input}")
    }

    /// `absolute_url`: the site's URL and base path before a site-relative URL.
    fn absolute_url(&self, input: &str) -> String {
        if url::Url::parse(input).is_ok() {
            return input.to_string();
        }
        format!("{}{}", self.url, self.relative_url(input))
    }
}

/// The Jekyll site's root: where `_config.yml` is, beside `tributary.yaml`
/// or else beside the posts' folder (the root itself if neither has one).
fn find_jekyll_root(root: &Path, cfg: &SiteConfig) -> PathBuf {
    let content = root.join(&cfg.content);
    let found = [Some(root), content.parent()]
        .into_iter()
        .flatten()
        .find(|d| d.join("_config.yml").is_file())
        .unwrap_or(root)
        .to_path_buf();
    found
}

/// `_config.yml` as a map (empty if missing or empty); anything but a map
/// is an error, pointed at the file.
fn read_config(root: &Path, jekyll_root: &Path) -> Result<Map<String, Json>, Diagnostic> {
    let config_path = jekyll_root.join("_config.yml");
    let Ok(text) = std::fs::read_to_string(&config_path) else {
        return Ok(Map::new());
    };
    let shown = config_path.strip_prefix(root).unwrap_or(&config_path);
    match crate::util::yaml::from_str::<Json>(&text) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(Json::Null) => Ok(Map::new()),
        Ok(_) => Err(Diagnostic::error(
            shown,
            Some(1),
            "must be a map of `key: value` lines",
        )),
        Err(e) => Err(Diagnostic::error(
            shown,
            e.line.or(Some(1)),
            format!("is not valid YAML: {}", e.message),
        )),
    }
}

/// A string setting of `_config.yml`.
fn config_text(m: &Map<String, Json>, k: &str) -> Option<String> {
    m.get(k).and_then(Json::as_str).map(str::to_string)
}

/// Settle `site.url` and `site.baseurl` (from `_config.yml`, else from
/// `base_url`), fill `title` and `description` from tributary's config when
/// `_config.yml` lacks them, and return the URL and base URL.
fn add_config_defaults(config: &mut Map<String, Json>, cfg: &SiteConfig) -> (String, String) {
    let base = &cfg.base_url;
    let origin = base.origin().ascii_serialization();
    let url = config_text(config, "url").unwrap_or(origin);
    let url = url.trim_end_matches('/').to_string();
    let baseurl = config_text(config, "baseurl")
        .unwrap_or_else(|| base.path().to_string())
        .trim_end_matches('/')
        .to_string();
    config.insert("url".into(), Json::String(url.clone()));
    config.insert("baseurl".into(), Json::String(baseurl.clone()));
    config
        .entry("title")
        .or_insert_with(|| Json::String(cfg.title.clone()));
    if let Some(d) = &cfg.description {
        config
            .entry("description")
            .or_insert_with(|| Json::String(d.clone()));
    }
    (url, baseurl)
}

/// `site.data`: the files of `_data/` (YAML or JSON) by name.
fn read_data(root: &Path, jekyll_root: &Path) -> Result<Map<String, Json>, Diagnostic> {
    let mut data = Map::new();
    let Ok(rd) = std::fs::read_dir(jekyll_root.join("_data")) else {
        return Ok(data);
    };
    for entry in rd.flatten().take(1000) {
        let path = entry.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|e| e.to_str()),
        ) else {
            continue;
        };
        if !matches!(ext, "yml" | "yaml" | "json")
            || std::fs::metadata(&path).map_or(true, |m| m.len() > super::MAX_POST_BYTES)
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let shown = path.strip_prefix(root).unwrap_or(&path);
        let value = crate::util::yaml::from_str::<Json>(&text).map_err(|e| {
            Diagnostic::error(
                shown,
                e.line.or(Some(1)),
                format!("is not valid YAML: {}", e.message),
            )
        })?;
        data.insert(stem.to_string(), value);
    }
    Ok(data)
}

/// The permalink style: `_config.yml`'s, else tributary's, with Jekyll's
/// named styles (`date`, `pretty`, ...) spelled out.
fn permalink_style(config: &Map<String, Json>, cfg: &SiteConfig) -> String {
    let style = config_text(config, "permalink").unwrap_or_else(|| cfg.permalink.clone());
    crate::config::jekyll_permalink_style(&style)
        .map(str::to_string)
        .unwrap_or(style)
}

/// The collections `_config.yml` declares (a map or a list of names), each
/// with its own `permalink` if it has one.
fn collections_of(config: &Map<String, Json>) -> Vec<(String, Option<String>)> {
    match config.get("collections") {
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.get("permalink")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                )
            })
            .collect(),
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(|s| (s.to_string(), None)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A post's site-relative URL, as `build` makes it.
fn post_path(cfg: &SiteConfig, post: &Post) -> String {
    let vars = permalink::PermalinkVars {
        date: post.date.with_timezone(&cfg.timezone).naive_local(),
        slug: &post.slug,
        categories: &post.categories,
    };
    let pattern = post.permalink.as_deref().unwrap_or(&cfg.permalink);
    let mut path = permalink::expand(pattern, &vars);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    path
}

/// `page.*` of a post: its front matter and what Jekyll adds.
fn page_of(post: &Post, url: &str, jekyll_root: &Path, root: &Path) -> Json {
    let mut m = post.extra.clone();
    let list = |v: &[String]| Json::Array(v.iter().cloned().map(Json::String).collect());
    m.insert("title".into(), Json::String(post.title.clone()));
    m.insert(
        "date".into(),
        Json::String(post.date.format("%Y-%m-%d %H:%M:%S %z").to_string()),
    );
    m.insert("url".into(), Json::String(url.to_string()));
    m.insert("slug".into(), Json::String(post.slug.clone()));
    m.insert("tags".into(), list(&post.tags));
    m.insert("categories".into(), list(&post.categories));
    m.insert(
        "path".into(),
        Json::String(rel_path(&root.join(&post.path), jekyll_root)),
    );
    let id = url
        .strip_suffix(".html")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string();
    m.insert("id".into(), Json::String(id));
    if let Some(s) = &post.summary {
        m.entry("description")
            .or_insert_with(|| Json::String(s.clone()));
    }
    Json::Object(m)
}

/// `path` under `base`, with `/` separators.
fn rel_path(path: &Path, base: &Path) -> String {
    let p = path.strip_prefix(base).unwrap_or(path);
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Files under `dir`, at most `budget` all calls together; with `top`,
/// Jekyll's site root: `_`, `.` and dependency folders skipped.
fn walk(dir: &Path, budget: &mut usize, top: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd.flatten() {
            if *budget == 0 {
                return out;
            }
            *budget -= 1;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.')
                || (top && (name.starts_with('_') || name == "node_modules" || name == "vendor"))
            {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Jekyll's `add_permalink_suffix`: pages follow the posts' style.
fn add_suffix(template: &str, style: &str) -> String {
    if style.ends_with('/') {
        format!("{template}/")
    } else if style.ends_with(":output_ext") {
        format!("{template}:output_ext")
    } else {
        template.to_string()
    }
}

/// The front matter of a page or document, if it has one (a file without is
/// a static file).
fn front_matter(file: &Path) -> Option<Map<String, Json>> {
    let meta = std::fs::metadata(file).ok()?;
    if meta.len() > super::MAX_POST_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let end = rest
        .find("\n---")
        .or_else(|| rest.starts_with("---").then_some(0))?;
    match crate::util::yaml::from_str::<Json>(&rest[..end]) {
        Ok(Json::Object(m)) => Some(m),
        _ => Some(Map::new()),
    }
}

fn output_ext(file: &Path) -> String {
    match file.extension().and_then(|e| e.to_str()) {
        Some("md" | "markdown" | "mdown" | "mkd" | "html" | "htm") => ".html".to_string(),
        Some(e) => format!(".{e}"),
        None => String::new(),
    }
}

/// A plain page's URL as Jekyll makes it (`Page#template`), or None for a
/// static file.
fn page_url(file: &Path, rel: &str, style: &str) -> Option<String> {
    let fm = front_matter(file)?;
    if let Some(p) = fm.get("permalink").and_then(Json::as_str) {
        return Some(p.to_string());
    }
    let ext = output_ext(file);
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let basename = name.rsplit_once('.').map_or(name, |(b, _)| b);
    let dir = if dir.is_empty() {
        String::new()
    } else {
        format!("/{dir}")
    };
    Some(if ext != ".html" {
        format!("{dir}/{basename}{ext}")
    } else if basename == "index" {
        format!("{dir}/")
    } else {
        add_suffix(&format!("{dir}/{basename}"), style).replace(":output_ext", &ext)
    })
}

/// A collection document's URL: its `permalink:`, else the collection's pattern.
fn document_url(file: &Path, within: &str, collection: &str, pattern: &str) -> String {
    let fm = front_matter(file).unwrap_or_default();
    if let Some(p) = fm.get("permalink").and_then(Json::as_str) {
        return p.to_string();
    }
    let path = within.rsplit_once('.').map_or(within, |(b, _)| b);
    let name = path.rsplit('/').next().unwrap_or(path);
    let title = fm
        .get("slug")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string());
    let mut out = pattern.to_string();
    for (k, v) in [
        (":collection", collection.to_string()),
        (":output_ext", output_ext(file)),
        (":path", path.to_string()),
        (":name", name.to_string()),
        (":title", title.clone()),
        (":slug", title),
    ] {
        out = out.replace(k, &v);
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

// ---------------------------------------------------------------------------
// Scanning: every `{{ }}` and `{% %}` with its line, checked before parsing.

/// A tag or output in a body.
struct Piece {
    /// Byte range in the body.
    start: usize,
    end: usize,
    /// 1-based line in the body.
    line: usize,
    /// The tag's name (`""` for an output `{{ }}`).
    name: String,
}

/// Tags this renderer knows, and what is said of common others.
const BLOCKS: [&str; 8] = [
    "if",
    "unless",
    "case",
    "for",
    "capture",
    "highlight",
    "raw",
    "comment",
];
const TAGS: [&str; 8] = [
    "assign", "break", "continue", "else", "elsif", "when", "link", "post_url",
];

fn refused(name: &str) -> String {
    let why = match name {
        "include" | "include_relative" | "render" => {
            "it needs the site's _includes, which tributary does not read: write the included text into the post"
        }
        _ => "tributary renders Liquid's if, unless, case, for, assign, capture, raw and comment and Jekyll's link, post_url and highlight",
    };
    format!("{{% {name} %}} is not rendered ({why}); it would be published as template text")
}

/// The body rewritten for the parser: `link` and `post_url` arguments
/// quoted with their line, `highlight` checked, `raw` blocks taken out into
/// `raws` (read back as `{{ __raw[N] }}`), comments dropped.
struct Scanned {
    source: String,
    raws: Vec<String>,
    pieces: Vec<Piece>,
}

fn line_at(body: &str, offset: usize) -> usize {
    body.as_bytes()[..offset.min(body.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The inside of a tag: name and arguments, whitespace control dropped.
fn tag_inner(text: &str) -> &str {
    let t = text.trim_start_matches("{%").trim_end_matches("%}");
    t.trim_start_matches('-').trim_end_matches('-').trim()
}

/// The next `{% endNAME %}` at or after `from`: (start, end).
fn find_end(body: &str, from: usize, name: &str) -> Option<(usize, usize)> {
    let mut pos = from;
    while let Some(i) = body[pos..].find("{%") {
        let start = pos + i;
        let close = body[start..].find("%}")? + start + 2;
        if tag_inner(&body[start..close]) == format!("end{name}") {
            return Some((start, close));
        }
        pos = start + 2;
    }
    None
}

/// Rewrite a post's body for the parser (see [`Scanned`]), or say at which
/// line, and why, it cannot be rendered.
fn scan(body: &str) -> Result<Scanned, (usize, String)> {
    let mut out = Scanned {
        source: String::with_capacity(body.len() + 64),
        raws: Vec::new(),
        pieces: Vec::new(),
    };
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut pos = 0;
    let highlight_syntax =
        regex::Regex::new(r#"^([a-zA-Z0-9.+#_-]+)((\s+\w+(=(\w+|"([0-9]+\s)*[0-9]+"))?)*)$"#)
            .map_err(|e| (1, e.to_string()))?;
    while let Some(start) = next_markup(body, pos) {
        out.source.push_str(&body[pos..start]);
        let line = line_at(body, start);
        let end = markup_end(body, start, line)?;
        let text = &body[start..end];
        check_brackets(text, line)?;
        if text.starts_with("{{") {
            out.pieces.push(Piece {
                start,
                end,
                line,
                name: String::new(),
            });
            out.source.push_str(text);
            pos = end;
            continue;
        }
        pos = scan_tag(
            &mut out,
            &mut stack,
            &highlight_syntax,
            body,
            start..end,
            line,
        )?;
    }
    out.source.push_str(&body[pos..]);
    if let Some((open, at)) = stack.pop() {
        return Err((at, format!("{{% {open} %}} has no {{% end{open} %}}")));
    }
    Ok(out)
}

/// Where the next `{{` or `{%` at or after `pos` starts.
fn next_markup(body: &str, pos: usize) -> Option<usize> {
    [body[pos..].find("{{"), body[pos..].find("{%")]
        .into_iter()
        .flatten()
        .min()
        .map(|i| pos + i)
}

/// The end of the `{{ }}` or `{% %}` starting at `start`, which must be closed.
fn markup_end(body: &str, start: usize, line: usize) -> Result<usize, (usize, String)> {
    let close = if body[start..].starts_with("{{") {
        "}}"
    } else {
        "%}"
    };
    let Some(len) = body[start + 2..].find(close) else {
        return Err((
            line,
            format!(
                "`{}` is not closed by `{close}`: write {{% raw %}}…{{% endraw %}} around text that is not Liquid",
                &body[start..start + 2]
            ),
        ));
    };
    Ok(start + 2 + len + 2)
}

/// The parser recurses into `a[b[c]]`: bounded like blocks.
fn check_brackets(text: &str, line: usize) -> Result<(), (usize, String)> {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err((line, format!("brackets nested deeper than {MAX_DEPTH}")));
        }
    }
    Ok(())
}

/// One `{% tag %}` at `range`: note it, write it (or its rewrite) into the
/// source and keep the stack of open blocks; returns where scanning goes on.
fn scan_tag(
    out: &mut Scanned,
    stack: &mut Vec<(String, usize)>,
    highlight_syntax: &regex::Regex,
    body: &str,
    range: std::ops::Range<usize>,
    line: usize,
) -> Result<usize, (usize, String)> {
    let (start, end) = (range.start, range.end);
    let text = &body[start..end];
    let inner = tag_inner(text);
    let (name, args) = inner
        .split_once(char::is_whitespace)
        .map_or((inner, ""), |(n, a)| (n, a.trim()));
    let name = name.to_string();
    out.pieces.push(Piece {
        start,
        end,
        line,
        name: name.clone(),
    });
    match name.as_str() {
        "raw" | "comment" => return take_verbatim(out, body, text, end, &name, line),
        "link" | "post_url" => {
            out.source.push_str(&quote_path(&name, args, line)?);
            return Ok(end);
        }
        "highlight" => {
            let Some(c) = highlight_syntax.captures(args) else {
                return Err((
                    line,
                    format!(
                        "{{% highlight {args} %}}: expected {{% highlight LANGUAGE [linenos] %}}"
                    ),
                ));
            };
            let lang = c.get(1).map_or("", |m| m.as_str()).to_lowercase();
            out.source
                .push_str(&format!("{{% highlight \"{lang}\" %}}"));
            stack.push((name, line));
        }
        n if BLOCKS.contains(&n) => {
            out.source.push_str(text);
            stack.push((name, line));
        }
        n if n.starts_with("end") && BLOCKS.contains(&&n[3..]) => {
            out.source.push_str(text);
            close_block(stack, n, line)?;
        }
        n if TAGS.contains(&n) => out.source.push_str(text),
        n => return Err((line, refused(n))),
    }
    if stack.len() > MAX_DEPTH {
        return Err((line, format!("blocks nested deeper than {MAX_DEPTH}")));
    }
    Ok(end)
}

/// `link` and `post_url` with their path quoted and their line added, for
/// the tags to name the line in their errors.
fn quote_path(name: &str, args: &str, line: usize) -> Result<String, (usize, String)> {
    let quoted = if !args.contains('"') {
        format!("\"{args}\"")
    } else if !args.contains('\'') {
        format!("'{args}'")
    } else {
        return Err((line, format!("{{% {name} %}}: a path with both quotes")));
    };
    Ok(format!("{{% {name} {quoted} {line} %}}"))
}

/// `{% endNAME %}` (`n`) must close the innermost open block.
fn close_block(
    stack: &mut Vec<(String, usize)>,
    n: &str,
    line: usize,
) -> Result<(), (usize, String)> {
    match stack.pop() {
        Some((open, _)) if open == n[3..] => Ok(()),
        Some((open, at)) => Err((
            line,
            format!("{{% {n} %}} closes {{% {open} %}} of line {at}: expected {{% end{open} %}}"),
        )),
        None => Err((line, format!("{{% {n} %}} closes no block"))),
    }
}

/// `raw` and `comment` (the tag `text`, ending at `end`): skip to their end
/// tag. A raw block's text goes into `raws`, read back as `{{ __raw[N] }}`
/// with the tags' whitespace control; a comment is dropped.
fn take_verbatim(
    out: &mut Scanned,
    body: &str,
    text: &str,
    end: usize,
    name: &str,
    line: usize,
) -> Result<usize, (usize, String)> {
    let Some((s, e)) = find_end(body, end, name) else {
        return Err((line, format!("{{% {name} %}} has no {{% end{name} %}}")));
    };
    if name == "raw" {
        let open = if text.starts_with("{%-") { "{{-" } else { "{{" };
        let shut = if body[s..e].ends_with("-%}") {
            "-}}"
        } else {
            "}}"
        };
        out.source
            .push_str(&format!("{open} __raw[{}] {shut}", out.raws.len()));
        out.raws.push(body[end..s].to_string());
    }
    Ok(e)
}

// ---------------------------------------------------------------------------
// Rendering one post.

fn render_post(
    parser: &liquid::Parser,
    site: &JekyllSite,
    post: &Post,
) -> Result<String, Diagnostic> {
    let at = |line: usize, msg: String| {
        Diagnostic::error(&post.path, Some(post.body_line + line - 1), msg)
    };
    let scanned = scan(&post.body).map_err(|(l, m)| at(l, format!("Liquid: {m}")))?;
    let template = match parser.parse(&scanned.source) {
        Ok(t) => t,
        Err(e) => {
            let (line, msg) = match own_line(&message(&e)) {
                Some(found) => found,
                None => locate_parse_error(parser, &post.body, &scanned, &e),
            };
            return Err(at(line, format!("Liquid: {msg}")));
        }
    };
    let page = site.pages.get(&post.path).cloned().unwrap_or(Json::Null);
    let mut data = serde_json::json!({ "site": site.site, "page": page });
    let raws = Value::Array(
        scanned
            .raws
            .iter()
            .map(|r| Value::scalar(r.clone()))
            .collect(),
    );
    let started = Instant::now();
    loop {
        let mut globals = liquid_core::to_object(&data).unwrap_or_default();
        globals.insert("__raw".into(), raws.clone());
        let mut out = Capped::default();
        let e = match template.render_to(&mut out, &globals) {
            Ok(()) => {
                return String::from_utf8(out.bytes)
                    .map_err(|_| at(1, "Liquid: output is not UTF-8".into()))
            }
            Err(e) => e,
        };
        // Jekyll renders a variable it does not have as nothing: define it
        // as nil and render again.
        if !out.over && started.elapsed() < MAX_TIME {
            if let Some(path) = missing_variable(&e) {
                if define_nil(&mut data, &path) {
                    continue;
                }
            }
        }
        let msg = if out.over {
            format!("Liquid: the post's text grows past {MAX_BYTES} bytes")
        } else {
            message(&e)
        };
        return match own_line(&msg) {
            Some((line, msg)) => Err(at(line, format!("Liquid: {msg}"))),
            None => Err(at(line_of_render_error(&post.body, &scanned, &msg), msg)),
        };
    }
}

/// The variable an "unknown variable" or "unknown index" error names, as
/// a path from the globals (`["page", "subtitle"]`).
fn missing_variable(e: &liquid_core::Error) -> Option<Vec<String>> {
    let text = e.to_string();
    let field = |key: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_string)
    };
    let first = text.lines().next().unwrap_or("");
    let mut path: Vec<String> = if first.contains("Unknown variable") {
        Vec::new()
    } else if first.contains("Unknown index") {
        field("variable=")?.split('.').map(str::to_string).collect()
    } else {
        return None;
    };
    path.push(field("requested variable=").or_else(|| field("requested index="))?);
    let plain = |s: &String| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    path.iter().all(plain).then_some(path)
}

/// Define `path` as nil in `data` (a nil on the way becomes an empty map).
/// False when that changes nothing, or the path goes through something else.
fn define_nil(data: &mut Json, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut at = data;
    for key in parents {
        let Json::Object(m) = at else { return false };
        let Some(child) = m.get_mut(key) else {
            return false;
        };
        if child.is_null() {
            *child = Json::Object(Map::new());
        }
        at = child;
    }
    match at {
        Json::Object(m) if !m.contains_key(last) => {
            m.insert(last.clone(), Json::Null);
            true
        }
        _ => false,
    }
}

/// A Liquid error in one line: its first line and the variable it names.
fn message(e: &liquid_core::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("error")
        .trim_start_matches("liquid: ");
    let detail: Vec<&str> = lines
        .filter(|l| l.contains('=') && !l.starts_with("from:"))
        .take(2)
        .collect();
    // Our own messages carry the line: `(line N)` is read by the caller.
    if detail.is_empty() {
        format!("Liquid: {first}")
    } else {
        format!("Liquid: {first} ({})", detail.join(", "))
    }
}

/// The line our own tags put in their messages (`… (line N)`), and the
/// message without it.
fn own_line(msg: &str) -> Option<(usize, String)> {
    let start = msg.find(" (line ")?;
    let rest = &msg[start + 7..];
    let end = rest.find(')')?;
    let line = rest[..end].parse().ok()?;
    let text = format!("{}{}", &msg[..start], &rest[end + 1..]);
    Some((line, text.trim_start_matches("Liquid: ").to_string()))
}

/// The line of a parse error: the first piece that does not parse alone
/// (a block opener is closed for the try).
fn locate_parse_error(
    parser: &liquid::Parser,
    body: &str,
    scanned: &Scanned,
    e: &liquid_core::Error,
) -> (usize, String) {
    for p in &scanned.pieces {
        let text = &body[p.start..p.end];
        let alone = match p.name.as_str() {
            "" | "assign" | "break" | "continue" => text.to_string(),
            n if ["if", "unless", "case", "for", "capture"].contains(&n) => {
                format!("{text}{{% end{n} %}}")
            }
            _ => continue,
        };
        if let Err(err) = parser.parse(&alone) {
            return (
                p.line,
                message(&err).trim_start_matches("Liquid: ").to_string(),
            );
        }
    }
    (1, message(e).trim_start_matches("Liquid: ").to_string())
}

/// The line a render error is about: the first piece naming the variable
/// the error names.
fn line_of_render_error(body: &str, scanned: &Scanned, msg: &str) -> usize {
    let wanted = msg
        .split("variable=")
        .nth(1)
        .map(|s| s.split([',', ')', ' ']).next().unwrap_or(s));
    scanned
        .pieces
        .iter()
        .find(|p| wanted.is_some_and(|w| !w.is_empty() && body[p.start..p.end].contains(w)))
        .or_else(|| scanned.pieces.iter().find(|p| p.name == "for"))
        .map_or(1, |p| p.line)
}

/// The rendered text, refused past [`MAX_BYTES`].
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > MAX_BYTES {
            self.over = true;
            return Err(std::io::Error::other("too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one post's rendering has spent: kept in the runtime's registers.
#[derive(Default)]
struct Budget {
    started: Option<Instant>,
    iterations: u64,
    bytes: u64,
}

/// Spend `iterations` and `bytes` of the post's budget.
fn spend(runtime: &dyn Runtime, iterations: u64, bytes: u64) -> liquid_core::Result<()> {
    let mut b = runtime.registers().get_mut::<Budget>();
    let started = *b.started.get_or_insert_with(Instant::now);
    b.iterations += iterations;
    b.bytes += bytes;
    if b.iterations > MAX_ITERATIONS {
        return Err(liquid_core::Error::with_msg(format!(
            "loops run more than {MAX_ITERATIONS} times in one post"
        )));
    }
    if b.bytes > MAX_BYTES {
        return Err(liquid_core::Error::with_msg(format!(
            "filters and loops make more than {MAX_BYTES} bytes in one post"
        )));
    }
    if started.elapsed() > MAX_TIME {
        return Err(liquid_core::Error::with_msg(format!(
            "rendering takes longer than {} s",
            MAX_TIME.as_secs()
        )));
    }
    Ok(())
}

/// Size of a value a filter made, roughly in bytes.
fn size_of(v: &dyn ValueView) -> u64 {
    if let Some(s) = v.as_scalar() {
        s.to_kstr().len() as u64
    } else if let Some(a) = v.as_array() {
        a.values().map(|x| 8 + size_of(x)).sum()
    } else if let Some(o) = v.as_object() {
        o.iter().map(|(k, x)| 8 + k.len() as u64 + size_of(x)).sum()
    } else {
        0
    }
}

/// The parser: Liquid's tags and filters that posts use, Jekyll's, and caps.
fn parser(site: &Arc<JekyllSite>) -> liquid_core::Result<liquid::Parser> {
    let filters = liquid_filters().into_iter().chain(jekyll_filters(site));
    let mut b = liquid::ParserBuilder::new()
        .tag(stdlib::AssignTag)
        .tag(stdlib::BreakTag)
        .tag(stdlib::ContinueTag)
        .tag(LinkTag {
            site: site.clone(),
            post_url: false,
        })
        .tag(LinkTag {
            site: site.clone(),
            post_url: true,
        })
        .block(stdlib::IfBlock)
        .block(stdlib::UnlessBlock)
        .block(stdlib::CaseBlock)
        .block(stdlib::CaptureBlock)
        .block(ForBlock)
        .block(HighlightBlock);
    for f in filters {
        b = b.filter(CappedParse(f));
    }
    b.build()
}

/// The filters of Liquid's standard library that posts use.
fn liquid_filters() -> Vec<Box<dyn ParseFilter>> {
    vec![
        Box::new(stdlib::Abs),
        Box::new(stdlib::Append),
        Box::new(stdlib::AtLeast),
        Box::new(stdlib::AtMost),
        Box::new(stdlib::Capitalize),
        Box::new(stdlib::Ceil),
        Box::new(stdlib::Compact),
        Box::new(stdlib::Concat),
        Box::new(stdlib::Date),
        Box::new(stdlib::Default),
        Box::new(stdlib::DividedBy),
        Box::new(stdlib::Downcase),
        Box::new(stdlib::Escape),
        Box::new(stdlib::EscapeOnce),
        Box::new(stdlib::First),
        Box::new(stdlib::Floor),
        Box::new(stdlib::Join),
        Box::new(stdlib::Last),
        Box::new(stdlib::Lstrip),
        Box::new(stdlib::Map),
        Box::new(stdlib::Minus),
        Box::new(stdlib::Modulo),
        Box::new(stdlib::NewlineToBr),
        Box::new(stdlib::Plus),
        Box::new(stdlib::Prepend),
        Box::new(stdlib::Remove),
        Box::new(stdlib::RemoveFirst),
        Box::new(stdlib::Replace),
        Box::new(stdlib::ReplaceFirst),
        Box::new(stdlib::Reverse),
        Box::new(stdlib::Round),
        Box::new(stdlib::Rstrip),
        Box::new(stdlib::Size),
        Box::new(stdlib::Slice),
        Box::new(stdlib::Sort),
        Box::new(stdlib::SortNatural),
        Box::new(stdlib::Split),
        Box::new(stdlib::Strip),
        Box::new(stdlib::StripHtml),
        Box::new(stdlib::StripNewlines),
        Box::new(stdlib::Times),
        Box::new(stdlib::Truncate),
        Box::new(stdlib::TruncateWords),
        Box::new(stdlib::Uniq),
        Box::new(stdlib::Upcase),
        Box::new(stdlib::UrlDecode),
        Box::new(stdlib::UrlEncode),
        Box::new(stdlib::Where),
    ]
}

/// Jekyll's filters: URLs by the site's, escapes, words and dates.
fn jekyll_filters(site: &Arc<JekyllSite>) -> Vec<Box<dyn ParseFilter>> {
    vec![
        Box::new(UrlFilter {
            site: site.clone(),
            absolute: false,
        }),
        Box::new(TextFilter("xml_escape", xml_escape)),
        Box::new(TextFilter("cgi_escape", cgi_escape)),
        Box::new(TextFilter("uri_escape", uri_escape)),
        Box::new(TextFilter("slugify", slugify)),
        Box::new(TextFilter("jsonify", jsonify)),
        Box::new(TextFilter("normalize_whitespace", normalize_whitespace)),
        Box::new(TextFilter("number_of_words", number_of_words)),
        Box::new(TextFilter("strip_index", strip_index)),
        Box::new(TextFilter("date_to_xmlschema", |d| {
            date_format(d, "%Y-%m-%dT%H:%M:%S%:z")
        })),
        Box::new(TextFilter("date_to_rfc822", |d| {
            date_format(d, "%a, %d %b %Y %H:%M:%S %z")
        })),
        Box::new(TextFilter("date_to_string", |d| date_format(d, "%d %b %Y"))),
        Box::new(TextFilter("date_to_long_string", |d| {
            date_format(d, "%d %B %Y")
        })),
        Box::new(UrlFilter {
            site: site.clone(),
            absolute: true,
        }),
    ]
}

/// A filter whose result is charged to the post's budget.
#[derive(Clone)]
struct CappedParse(Box<dyn ParseFilter>);

impl ParseFilter for CappedParse {
    fn parse(&self, arguments: FilterArguments) -> liquid_core::Result<Box<dyn Filter>> {
        Ok(Box::new(CappedFilter(self.0.parse(arguments)?)))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        self.0.reflection()
    }
}

#[derive(Debug)]
struct CappedFilter(Box<dyn Filter>);

impl std::fmt::Display for CappedFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Filter for CappedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> liquid_core::Result<Value> {
        let v = self.0.evaluate(input, runtime)?;
        spend(runtime, 0, size_of(&v))?;
        Ok(v)
    }
}

/// Jekyll's filters of one text and no arguments.
#[derive(Clone, Copy)]
struct TextFilter(&'static str, fn(&str) -> Result<String, String>);

impl FilterReflection for TextFilter {
    fn name(&self) -> &str {
        self.0
    }
    fn description(&self) -> &str {
        "a Jekyll filter"
    }
    fn positional_parameters(&self) -> &'static [liquid_core::parser::ParameterReflection] {
        &[]
    }
    fn keyword_parameters(&self) -> &'static [liquid_core::parser::ParameterReflection] {
        &[]
    }
}

impl ParseFilter for TextFilter {
    fn parse(&self, mut arguments: FilterArguments) -> liquid_core::Result<Box<dyn Filter>> {
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(liquid_core::Error::with_msg(format!(
                "{} takes no arguments",
                self.0
            )));
        }
        Ok(Box::new(TextFilterRun(*self)))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

struct TextFilterRun(TextFilter);

impl std::fmt::Debug for TextFilterRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0 .0)
    }
}

impl std::fmt::Display for TextFilterRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0 .0)
    }
}

impl Filter for TextFilterRun {
    fn evaluate(
        &self,
        input: &dyn ValueView,
        _runtime: &dyn Runtime,
    ) -> liquid_core::Result<Value> {
        if self.0 .0 == "jsonify" {
            let json = serde_json::to_string(&input.to_value()).unwrap_or_default();
            return Ok(Value::scalar(json));
        }
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        (self.0 .1)(&input.to_kstr())
            .map(Value::scalar)
            .map_err(|e| liquid_core::Error::with_msg(format!("{}: {e}", self.0 .0)))
    }
}

/// As Ruby's `CGI.escapeHTML`.
fn xml_escape(s: &str) -> Result<String, String> {
    Ok(s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;"))
}

fn cgi_escape(s: &str) -> Result<String, String> {
    Ok(url::form_urlencoded::byte_serialize(s.as_bytes()).collect())
}

fn uri_escape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'();/?:@&=+$,#[]%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// Jekyll's `slugify` (its default mode).
fn slugify(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    Ok(out.trim_matches('-').to_string())
}

fn jsonify(s: &str) -> Result<String, String> {
    serde_json::to_string(s).map_err(|e| e.to_string())
}

fn normalize_whitespace(s: &str) -> Result<String, String> {
    Ok(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn number_of_words(s: &str) -> Result<String, String> {
    Ok(s.split_whitespace().count().to_string())
}

fn strip_index(s: &str) -> Result<String, String> {
    Ok(s.strip_suffix("/index.html")
        .or_else(|| s.strip_suffix("/index.htm"))
        .map_or_else(|| s.to_string(), |p| format!("{p}/")))
}

/// A date as `page.date` writes it (or RFC 3339), formatted.
fn date_format(s: &str, format: &str) -> Result<String, String> {
    let d = chrono::DateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s.trim()))
        .map_err(|_| format!("{s:?} is not a date"))?;
    Ok(d.format(format).to_string())
}

/// Jekyll's `relative_url` and `absolute_url`.
#[derive(Clone)]
struct UrlFilter {
    site: Arc<JekyllSite>,
    absolute: bool,
}

impl FilterReflection for UrlFilter {
    fn name(&self) -> &str {
        if self.absolute {
            "absolute_url"
        } else {
            "relative_url"
        }
    }
    fn description(&self) -> &str {
        "Jekyll's URL filters"
    }
    fn positional_parameters(&self) -> &'static [liquid_core::parser::ParameterReflection] {
        &[]
    }
    fn keyword_parameters(&self) -> &'static [liquid_core::parser::ParameterReflection] {
        &[]
    }
}

impl ParseFilter for UrlFilter {
    fn parse(&self, mut arguments: FilterArguments) -> liquid_core::Result<Box<dyn Filter>> {
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(liquid_core::Error::with_msg(format!(
                "{} takes no arguments",
                self.name()
            )));
        }
        Ok(Box::new(UrlFilterRun {
            site: self.site.clone(),
            absolute: self.absolute,
        }))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

struct UrlFilterRun {
    site: Arc<JekyllSite>,
    absolute: bool,
}

impl std::fmt::Debug for UrlFilterRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for UrlFilterRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.absolute {
            "absolute_url"
        } else {
            "relative_url"
        })
    }
}

impl Filter for UrlFilterRun {
    fn evaluate(
        &self,
        input: &dyn ValueView,
        _runtime: &dyn Runtime,
    ) -> liquid_core::Result<Value> {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let text = input.to_kstr();
        let out = if self.absolute {
            self.site.absolute_url(&text)
        } else {
            self.site.relative_url(&text)
        };
        Ok(Value::scalar(out))
    }
}

/// Jekyll's `{% link PATH %}` and `{% post_url NAME %}` (as [`scan`]
/// rewrites them: `{% link "PATH" LINE %}`).
#[derive(Clone)]
struct LinkTag {
    site: Arc<JekyllSite>,
    post_url: bool,
}

impl TagReflection for LinkTag {
    fn tag(&self) -> &str {
        if self.post_url {
            "post_url"
        } else {
            "link"
        }
    }
    fn description(&self) -> &str {
        "Jekyll's links to the site's files and posts"
    }
}

impl ParseTag for LinkTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        _options: &Language,
    ) -> liquid_core::Result<Box<dyn Renderable>> {
        let target = match arguments.expect_next("a path expected")?.expect_literal() {
            TryMatchToken::Matches(v) => v.to_kstr().to_string(),
            TryMatchToken::Fails(t) => t.as_str().to_string(),
        };
        let line = match arguments.next() {
            Some(t) => t.as_str().parse().unwrap_or(0),
            None => 0,
        };
        arguments.expect_nothing()?;
        let name = self.tag();
        let found = if self.post_url {
            let stem = target.rsplit('/').next().unwrap_or(&target);
            self.site.posts.get(stem.trim_end_matches(".md"))
        } else {
            self.site
                .files
                .get(&target)
                .or_else(|| self.site.files.get(target.trim_start_matches('/')))
        };
        let Some(url) = found else {
            let what = if self.post_url {
                "no post has this name (YYYY-MM-DD-title, without extension)"
            } else {
                "the site has no such file (a path from the site's root, such as _posts/2024-01-01-title.md or about.md)"
            };
            return Err(liquid_core::Error::with_msg(format!(
                "{{% {name} {target} %}}: {what} (line {line})"
            )));
        };
        Ok(Box::new(Text(self.site.relative_url(url))))
    }
    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
struct Text(String);

impl Renderable for Text {
    fn render_to(&self, writer: &mut dyn Write, _runtime: &dyn Runtime) -> liquid_core::Result<()> {
        writer.write_all(self.0.as_bytes()).replace("cannot write")
    }
}

/// Jekyll's `{% highlight LANG %}`: Rouge's markup without its token spans
/// (`<figure class="highlight"><pre><code class="language-LANG"
/// data-lang="LANG">…`), the code HTML-escaped. Blank lines inside the code
/// are written `&#10;` so that Markdown keeps the figure one HTML block.
#[derive(Clone, Copy, Debug)]
struct HighlightBlock;

impl BlockReflection for HighlightBlock {
    fn start_tag(&self) -> &str {
        "highlight"
    }
    fn end_tag(&self) -> &str {
        "endhighlight"
    }
    fn description(&self) -> &str {
        "Jekyll's code highlighting"
    }
}

impl ParseBlock for HighlightBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> liquid_core::Result<Box<dyn Renderable>> {
        let lang = match arguments
            .expect_next("a language expected")?
            .expect_literal()
        {
            TryMatchToken::Matches(v) => v.to_kstr().to_string(),
            TryMatchToken::Fails(t) => t.as_str().to_string(),
        };
        arguments.expect_nothing()?;
        let inner = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Highlight { lang, inner }))
    }
    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Highlight {
    lang: String,
    inner: Template,
}

impl Renderable for Highlight {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> liquid_core::Result<()> {
        let mut code = Vec::new();
        self.inner.render_to(&mut code, runtime)?;
        let code = String::from_utf8_lossy(&code);
        let html = highlight_html(&self.lang, &code);
        spend(runtime, 0, html.len() as u64)?;
        writer.write_all(html.as_bytes()).replace("cannot write")
    }
}

/// The HTML of a highlighted block, as Jekyll writes it with Rouge (no spans).
pub fn highlight_html(lang: &str, code: &str) -> String {
    let code = code.trim_matches(['\n', '\r']);
    let mut escaped = String::with_capacity(code.len() + 16);
    for (i, line) in code.split('\n').enumerate() {
        if i > 0 {
            escaped.push_str(if line.trim().is_empty() {
                "&#10;"
            } else {
                "\n"
            });
        }
        for c in line.chars() {
            match c {
                '&' => escaped.push_str("&amp;"),
                '<' => escaped.push_str("&lt;"),
                '>' => escaped.push_str("&gt;"),
                c => escaped.push(c),
            }
        }
    }
    let attr = |s: &str| html_escape::encode_double_quoted_attribute(s).into_owned();
    format!(
        "<figure class=\"highlight\"><pre><code class=\"language-{}\" data-lang=\"{}\">{escaped}</code></pre></figure>",
        attr(&lang.replace('+', "-")),
        attr(lang)
    )
}

/// `{% for %}` as Liquid's, with every iteration and the text it makes
/// charged to the post's budget, and a range refused before it is made.
#[derive(Clone, Copy, Debug)]
struct ForBlock;

impl BlockReflection for ForBlock {
    fn start_tag(&self) -> &str {
        "for"
    }
    fn end_tag(&self) -> &str {
        "endfor"
    }
    fn description(&self) -> &str {
        "Liquid's for, bounded"
    }
}

impl ParseBlock for ForBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> liquid_core::Result<Box<dyn Renderable>> {
        let var = arguments
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?;
        arguments
            .expect_next("\"in\" expected.")?
            .expect_str("in")
            .into_result_custom_msg("\"in\" expected.")?;
        let range = arguments.expect_next("Array or range expected.")?;
        let range = match range.expect_value() {
            TryMatchToken::Matches(array) => stdlib::RangeExpression::Array(array),
            TryMatchToken::Fails(range) => match range.expect_range() {
                TryMatchToken::Matches((a, b)) => stdlib::RangeExpression::Counted(a, b),
                TryMatchToken::Fails(range) => return range.raise_error().into_err(),
            },
        };
        let mut limit = None;
        let mut offset = None;
        let mut reversed = false;
        while let Some(token) = arguments.next() {
            match token.as_str() {
                "limit" | "offset" => {
                    let which = token.as_str() == "limit";
                    arguments
                        .expect_next("\":\" expected.")?
                        .expect_str(":")
                        .into_result_custom_msg("\":\" expected.")?;
                    let v = arguments
                        .expect_next("Value expected.")?
                        .expect_value()
                        .into_result()?;
                    if which {
                        limit = Some(v);
                    } else {
                        offset = Some(v);
                    }
                }
                "reversed" => reversed = true,
                _ => {
                    return token
                        .raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                        .into_err()
                }
            }
        }
        arguments.expect_nothing()?;
        let mut body = Vec::new();
        let mut otherwise = None;
        while let Some(element) = tokens.next()? {
            match element {
                liquid_core::parser::BlockElement::Tag(mut tag) if tag.name() == "else" => {
                    tag.tokens().expect_nothing()?;
                    otherwise = Some(Template::new(tokens.parse_all(options)?));
                    break;
                }
                element => body.push(element.parse(&mut tokens, options)?),
            }
        }
        tokens.assert_empty();
        Ok(Box::new(For {
            var: KString::from_ref(var),
            range,
            body: Template::new(body),
            otherwise,
            limit,
            offset,
            reversed,
        }))
    }
    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct For {
    var: KString,
    range: stdlib::RangeExpression,
    body: Template,
    otherwise: Option<Template>,
    limit: Option<liquid_core::Expression>,
    offset: Option<liquid_core::Expression>,
    reversed: bool,
}

fn whole_number(
    e: &Option<liquid_core::Expression>,
    runtime: &dyn Runtime,
) -> liquid_core::Result<Option<usize>> {
    let Some(e) = e else { return Ok(None) };
    let v = e.evaluate(runtime)?;
    v.as_scalar()
        .and_then(|s| s.to_integer())
        .map(|n| Some(n.max(0) as usize))
        .ok_or_else(|| liquid_core::Error::with_msg("limit and offset must be whole numbers"))
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> liquid_core::Result<()> {
        let range = self.range.evaluate(runtime)?;
        let offset = whole_number(&self.offset, runtime)?.unwrap_or(0);
        let limit = whole_number(&self.limit, runtime)?;
        let mut items: Vec<liquid_core::ValueCow<'_>> = match &range {
            // A range is made only as far as it is read, and refused past the cap.
            stdlib::Range::Counted(a, b) => {
                let first = i128::from(*a) + offset as i128;
                let mut last = i128::from(*b);
                if let Some(l) = limit {
                    last = last.min(first + l as i128 - 1);
                }
                let length = (last - first + 1).max(0);
                if length > i128::from(MAX_ITERATIONS) {
                    return Err(liquid_core::Error::with_msg(format!(
                        "a loop over {length} numbers (at most {MAX_ITERATIONS} in one post)"
                    )));
                }
                (0..length)
                    .map(|i| Value::scalar(i64::try_from(first + i).unwrap_or(i64::MAX)).into())
                    .collect()
            }
            // An array exists already: each iteration is charged below.
            stdlib::Range::Array(_) => {
                let mut v = range.evaluate()?;
                v.drain(..offset.min(v.len()));
                if let Some(l) = limit {
                    v.truncate(l);
                }
                v
            }
        };
        if self.reversed {
            items.reverse();
        }
        if items.is_empty() {
            if let Some(t) = &self.otherwise {
                t.render_to(writer, runtime)?;
            }
            return Ok(());
        }
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            spend(runtime, 1, 0)?;
            let forloop = stdlib::ForloopObject::new(i, n);
            let mut root = HashMap::<liquid_core::model::KStringRef<'_>, &dyn ValueView>::new();
            root.insert("forloop".into(), &forloop);
            root.insert(self.var.as_ref(), &item);
            let scope = StackFrame::new(runtime, &root);
            let mut text = Vec::new();
            self.body.render_to(&mut text, &scope)?;
            spend(runtime, 0, text.len() as u64)?;
            writer.write_all(&text).replace("cannot write")?;
            let interrupt = scope.registers().get_mut::<InterruptRegister>().reset();
            if let Some(Interrupt::Break) = interrupt {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Arc<JekyllSite> {
        let mut s = JekyllSite {
            url: "https://example.org".into(),
            baseurl: "/blog".into(),
            ..JekyllSite::default()
        };
        s.files.insert(
            "_posts/2024-01-02-hello.md".into(),
            "/2024/01/02/hello/".into(),
        );
        s.files.insert("about.md".into(), "/about/".into());
        s.posts
            .insert("2024-01-02-hello".into(), "/2024/01/02/hello/".into());
        s.site = serde_json::json!({"title": "T", "url": "https://example.org"});
        Arc::new(s)
    }

    fn render(body: &str) -> Result<String, Diagnostic> {
        let s = site();
        let p = parser(&s).unwrap();
        let post = Post {
            path: "_posts/2024-01-03-x.md".into(),
            file_stem: "2024-01-03-x".into(),
            title: "X".into(),
            date: chrono::DateTime::parse_from_rfc3339("2024-01-03T00:00:00Z").unwrap(),
            updated: None,
            slug: "x".into(),
            tags: vec![],
            categories: vec![],
            authors: vec![],
            summary: None,
            image: None,
            permalink: None,
            id: None,
            draft: false,
            content_mode: None,
            body: body.into(),
            body_loaded: true,
            body_line: 5,
            extra: Map::new(),
            hash: 0,
            hugo: None,
        };
        render_post(&p, &s, &post)
    }

    #[test]
    fn jekyll_tags_and_filters() {
        assert_eq!(render("{{ site.title }}").unwrap(), "T");
        assert_eq!(
            render(
                "[a]({% link _posts/2024-01-02-hello.md %}) [b]({% post_url 2024-01-02-hello %})"
            )
            .unwrap(),
            "[a](/blog/2024/01/02/hello/) [b](/blog/2024/01/02/hello/)"
        );
        assert_eq!(
            render("{{ 'Hello, World & Co' | slugify }} {{ '2024-01-03 10:00:00 +0100' | date_to_xmlschema }} {{ '<a>' | xml_escape }} {{ 'a\"b' | jsonify }} {{ '/x/index.html' | strip_index }}").unwrap(),
            "hello-world-co 2024-01-03T10:00:00+01:00 &lt;a&gt; \"a\\\"b\" /x/"
        );
        assert_eq!(
            render("{{ '/x/' | relative_url }} {{ 'x' | absolute_url }}").unwrap(),
            "/blog/x/ https://example.org/blog/x"
        );
        assert_eq!(
            render("{% raw %}{{ a }} {% link x y %}{% endraw %}").unwrap(),
            "{{ a }} {% link x y %}"
        );
        assert_eq!(
            render("{% assign xs = 'a,b' | split: ',' %}{% for x in xs %}{{ x }}{% endfor %}")
                .unwrap(),
            "ab"
        );
        assert_eq!(
            render("{% for i in (1..100000000) limit: 3 offset: 2 %}{{ i }}{% endfor %}|{% for i in (5..1) %}x{% else %}none{% endfor %}").unwrap(),
            "345|none"
        );
        assert_eq!(
            render("{% for i in (1..5) reversed limit: 2 %}{{ i }}{% if forloop.last %}.{% endif %}{% endfor %}").unwrap(),
            "21."
        );
        assert_eq!(
            render("{% highlight Ruby %}\na < b\n\nc\n{% endhighlight %}").unwrap(),
            "<figure class=\"highlight\"><pre><code class=\"language-ruby\" data-lang=\"ruby\">a &lt; b&#10;\nc</code></pre></figure>"
        );
    }

    #[test]
    fn errors_name_their_line() {
        let e = render("a\n\n{% include x.html %}").unwrap_err();
        assert_eq!(e.line, Some(7), "{e:?}");
        assert!(e.message.contains("include"), "{e:?}");
        let e = render("a\n{% link nope.md %}").unwrap_err();
        assert_eq!(e.line, Some(6), "{e:?}");
        let e = render("a\n{{ x | nofilter }}").unwrap_err();
        assert_eq!(e.line, Some(6), "{e:?}");
        let e = render("{% if a %}\nb").unwrap_err();
        assert_eq!(e.line, Some(5), "{e:?}");
        let e = render("a {{ b").unwrap_err();
        assert_eq!(e.line, Some(5), "{e:?}");
    }

    #[test]
    fn variables_jekyll_does_not_have_render_as_nothing() {
        assert_eq!(
            render("[{{ page.nothing }}|{{ nothing }}|{{ site.a.b }}|{{ page.x | default: 'd' }}]")
                .unwrap(),
            "[|||d]"
        );
        assert_eq!(
            render("{% if page.nothing %}y{% else %}n{% endif %}").unwrap(),
            "n"
        );
    }

    #[test]
    fn hostile_loops_are_bounded() {
        let started = Instant::now();
        assert!(render("{% for i in (1..1000000000) %}x{% endfor %}").is_err());
        assert!(render(
            "{% for i in (1..100) %}{% for j in (1..100) %}{% for k in (1..100) %}{% endfor %}{% endfor %}{% endfor %}"
        )
        .is_err());
        assert!(render(
            "{% assign s = 'aaaaaaaaaaaaaaaa' %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}"
        )
        .is_err());
        let brackets = format!("{{{{ a{}{} }}}}", "[a".repeat(100_000), "]".repeat(100_000));
        assert!(render(&brackets).is_err());
        let deep = "{% if true %}".repeat(100) + &"{% endif %}".repeat(100);
        assert!(render(&deep).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
