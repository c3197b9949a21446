//! Hugo shortcodes (`{{< name args >}}`, `{{% name args %}}`), rendered
//! before Markdown as Hugo renders them, when posts are read as Hugo reads
//! them (`ids: hugo`).
//!
//! Rendered: Hugo's built-in `ref`, `relref`, `figure`, `highlight`,
//! `youtube`, `vimeo`, `gist`, `tweet`/`twitter`/`x` (a link to the post:
//! Hugo fetches those from the network, tributary does not), `comment`, and a
//! site's own shortcodes whose template (`layouts/shortcodes/NAME.html`) is
//! plain HTML with `{{ .Get 0 }}`, `{{ .Get "name" }}`, `{{ .Inner }}` (or
//! `.Inner | markdownify`) only. Anything else is an error at the
//! shortcode's `file:line`: a shortcode is never published as text.
//! `{{</* x */>}}` is Hugo's way to write a shortcode as text, and stays text.

use super::hugo::{self, HugoOptions};
use super::{LoadOptions, MAX_POST_BYTES};
use crate::model::diag::Diagnostic;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Shortcodes nested deeper than this are refused.
const MAX_DEPTH: usize = 16;
/// `ref`/`relref` shortcodes one post may have (each reads a file).
const MAX_REFS: usize = 256;
/// A site shortcode template larger than this is not "simple".
const MAX_TEMPLATE_BYTES: u64 = 64 * 1024;
/// Shortcode tags read for one post (closing tags are searched ahead).
const MAX_TAG_READS: usize = 200_000;
/// Rendered bodies larger than this are refused (nested `.Inner` multiplies).
const MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;

/// Where a post's shortcodes are rendered.
pub struct Context<'a> {
    /// The post, relative to the site root (for messages and relative refs).
    pub shown: &'a Path,
    /// The file's line where the body starts.
    pub body_line: usize,
    /// The site root; `None` when unknown (then `ref` and site shortcodes are errors).
    pub root: Option<&'a Path>,
    pub hugo: HugoOptions,
    pub opts: LoadOptions,
}

/// A body with its shortcodes rendered.
pub struct Output {
    pub text: String,
    /// It had a `ref`/`relref`.
    pub refs: bool,
}

/// Render every shortcode of `body`.
pub fn render(body: &str, ctx: &Context) -> Result<Output, Diagnostic> {
    if !body.contains("{{<") && !body.contains("{{%") {
        return Ok(Output {
            text: body.to_string(),
            refs: false,
        });
    }
    let r = Renderer {
        ctx,
        body,
        refs: Cell::new(0),
        resolved: RefCell::new(HashMap::new()),
        names: RefCell::new(None),
        templates: RefCell::new(HashMap::new()),
        parsed: Cell::new(0),
    };
    let text = r.render_range(0, body.len(), 0)?;
    Ok(Output {
        text,
        refs: r.refs.get() > 0,
    })
}

/// One parsed shortcode tag.
#[derive(Debug)]
struct Tag {
    /// `{{%` rather than `{{<`.
    markdown: bool,
    closing: bool,
    self_closing: bool,
    name: String,
    positional: Vec<String>,
    named: Vec<(String, String)>,
    /// Byte range of the whole tag in the body.
    start: usize,
    end: usize,
}

impl Tag {
    fn get(&self, key: &str) -> Option<&str> {
        self.named
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// `.Get N` or `.Get "name"` for the shortcodes that take either.
    fn arg(&self, n: usize, key: &str) -> Option<&str> {
        self.get(key)
            .or_else(|| self.positional.get(n).map(String::as_str))
    }
}

struct Renderer<'a> {
    ctx: &'a Context<'a>,
    body: &'a str,
    refs: Cell<usize>,
    /// `ref` targets already resolved: (argument, page dir) → site path.
    resolved: RefCell<HashMap<String, String>>,
    /// Pages by file name and bundle name, for `ref "name"`; built on first need.
    names: RefCell<Option<HashMap<String, Vec<PathBuf>>>>,
    /// Site templates read so far, by shortcode name.
    templates: RefCell<HashMap<String, Option<String>>>,
    /// Tags parsed so far (closing tags are looked for ahead): bounded.
    parsed: Cell<usize>,
}

impl Renderer<'_> {
    fn error(&self, at: usize, msg: impl Into<String>) -> Diagnostic {
        let line = self.ctx.body_line + self.body[..at.min(self.body.len())].matches('\n').count();
        Diagnostic::error(self.ctx.shown, Some(line), msg.into())
    }

    /// Render `body[from..to]`.
    fn render_range(&self, from: usize, to: usize, depth: usize) -> Result<String, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(self.error(from, "shortcodes nested more than 16 deep"));
        }
        let mut out = String::with_capacity(to - from);
        let mut pos = from;
        while let Some(open) = find_open(&self.body[pos..to]).map(|i| pos + i) {
            out.push_str(&self.body[pos..open]);
            if let Some(end) = self.escaped(open, to) {
                // `{{</* x */>}}` is the shortcode written as text.
                let inner = &self.body[open + 5..end - 5];
                let (o, c) = if self.body[open..].starts_with("{{%") {
                    ("{{%", "%}}")
                } else {
                    ("{{<", ">}}")
                };
                out.push_str(&format!("{o}{inner}{c}"));
                pos = end;
                continue;
            }
            let tag = self.parse_tag(open, to)?;
            if tag.closing {
                return Err(self.error(
                    open,
                    format!(
                        "closing shortcode {{{{< /{} >}}}} without an opening one",
                        tag.name
                    ),
                ));
            }
            let (inner, next) = if self.takes_inner(&tag)? && !tag.self_closing {
                let close = self.find_close(&tag, to)?;
                (Some((tag.end, close.start)), close.end)
            } else {
                (None, tag.end)
            };
            let rendered = self.render_tag(&tag, inner, depth)?;
            out.push_str(&rendered);
            if out.len() > MAX_OUTPUT_BYTES {
                return Err(self.error(open, "shortcodes expand to more than 32 MiB"));
            }
            pos = next;
        }
        out.push_str(&self.body[pos..to]);
        Ok(out)
    }

    /// The end of an escaped tag `{{</* ... */>}}` starting at `open`.
    fn escaped(&self, open: usize, to: usize) -> Option<usize> {
        let rest = &self.body[open..to];
        let (start, end) = if rest.starts_with("{{</*") {
            ("{{</*", "*/>}}")
        } else if rest.starts_with("{{%/*") {
            ("{{%/*", "*/%}}")
        } else {
            return None;
        };
        rest[start.len()..]
            .find(end)
            .map(|i| open + start.len() + i + end.len())
    }

    fn parse_tag(&self, open: usize, to: usize) -> Result<Tag, Diagnostic> {
        self.parsed.set(self.parsed.get() + 1);
        if self.parsed.get() > MAX_TAG_READS {
            return Err(self.error(open, "too many shortcodes in one post"));
        }
        let markdown = self.body[open..].starts_with("{{%");
        let close = if markdown { "%}}" } else { ">}}" };
        let mut lexer = Lexer {
            s: &self.body[..to],
            pos: open + 3,
        };
        lexer.skip_space();
        let closing = lexer.eat('/');
        lexer.skip_space();
        let name = lexer.word();
        if name.is_empty() {
            return Err(self.error(open, "a shortcode without a name"));
        }
        let mut tag = Tag {
            markdown,
            closing,
            self_closing: false,
            name,
            positional: Vec::new(),
            named: Vec::new(),
            start: open,
            end: open,
        };
        self.parse_args(&mut tag, &mut lexer, close)?;
        Ok(tag)
    }

    /// The arguments of `tag` up to its `close` (`>}}` or `%}}`).
    fn parse_args(&self, tag: &mut Tag, lexer: &mut Lexer, close: &str) -> Result<(), Diagnostic> {
        let open = tag.start;
        loop {
            lexer.skip_space();
            let rest = &lexer.s[lexer.pos..];
            if rest.starts_with(close) {
                tag.end = lexer.pos + 3;
                return Ok(());
            }
            if rest.starts_with('/') && rest[1..].starts_with(close) {
                tag.self_closing = true;
                tag.end = lexer.pos + 4;
                return Ok(());
            }
            if rest.is_empty() || rest.starts_with("\n\n") {
                return Err(self.error(
                    open,
                    format!("shortcode {} is not closed with {close}", tag.name),
                ));
            }
            let before = lexer.pos;
            let arg = lexer.value().ok_or_else(|| {
                self.error(
                    open,
                    format!("shortcode {}: a quoted argument is not closed", tag.name),
                )
            })?;
            if lexer.eat('=') {
                let v = lexer.value().ok_or_else(|| {
                    self.error(
                        open,
                        format!(
                            "shortcode {}: the quoted value of {arg} is not closed",
                            tag.name
                        ),
                    )
                })?;
                tag.named.push((arg, v));
            } else if lexer.pos == before {
                return Err(self.error(
                    open,
                    format!(
                        "shortcode {}: unexpected {:?}",
                        tag.name,
                        rest.chars().next().unwrap_or(' ')
                    ),
                ));
            } else {
                tag.positional.push(arg);
            }
        }
    }

    /// The matching closing tag of `tag` before `to` (same names nest).
    fn find_close(&self, tag: &Tag, to: usize) -> Result<Tag, Diagnostic> {
        let mut depth = 0usize;
        let mut pos = tag.end;
        while let Some(open) = find_open(&self.body[pos..to]).map(|i| pos + i) {
            if let Some(end) = self.escaped(open, to) {
                pos = end;
                continue;
            }
            let t = self.parse_tag(open, to)?;
            if t.name == tag.name && !t.self_closing {
                if t.closing && depth == 0 {
                    return Ok(t);
                }
                if t.closing {
                    depth -= 1;
                } else if self.takes_inner(&t)? {
                    depth += 1;
                }
            }
            pos = t.end;
        }
        Err(self.error(
            tag.start,
            format!(
                "shortcode {} has no closing {{{{< /{} >}}}}",
                tag.name, tag.name
            ),
        ))
    }

    /// Whether the shortcode has content up to a closing tag.
    fn takes_inner(&self, tag: &Tag) -> Result<bool, Diagnostic> {
        Ok(match tag.name.as_str() {
            "highlight" | "comment" | "details" => true,
            n if BUILTIN.contains(&n) => false,
            _ => match self.site_template(tag)? {
                Some(t) => t.contains(".Inner"),
                None => false,
            },
        })
    }

    fn render_tag(
        &self,
        tag: &Tag,
        inner: Option<(usize, usize)>,
        depth: usize,
    ) -> Result<String, Diagnostic> {
        let raw_inner = inner.map_or("", |(a, b)| &self.body[a..b]);
        let html = match tag.name.as_str() {
            "ref" | "relref" => self.reference(tag)?,
            "figure" => figure(tag),
            "highlight" => highlight(tag, raw_inner),
            "comment" => String::new(),
            "youtube" | "vimeo" | "gist" | "tweet" | "twitter" | "x" => self.embed(tag)?,
            _ => match self.site_template(tag)? {
                Some(t) => {
                    let inner = match inner {
                        Some((a, b)) => self.render_range(a, b, depth + 1)?,
                        None => String::new(),
                    };
                    self.apply_template(tag, &t, &inner)?
                }
                None => {
                    return Err(self.error(
                        tag.start,
                        format!(
                            "shortcode {:?} cannot be rendered: it is not one of Hugo's built-in shortcodes that tributary renders ({}) and there is no layouts/shortcodes/{}.html; remove it or write what it would show",
                            tag.name,
                            BUILTIN.join(", "),
                            tag.name
                        ),
                    ))
                }
            },
        };
        // HTML from `{{< >}}` must stay one HTML block: no blank lines in it.
        Ok(
            if tag.markdown || tag.name == "ref" || tag.name == "relref" {
                html
            } else {
                collapse_blank_lines(&html)
            },
        )
    }

    /// Hugo's embeds, as links: feed readers drop players and scripts.
    fn embed(&self, tag: &Tag) -> Result<String, Diagnostic> {
        Ok(match tag.name.as_str() {
            "youtube" => {
                let id = self.required(tag, 0, "id")?;
                let title = tag.get("title").unwrap_or("YouTube video");
                let url = format!("https://www.youtube.com/watch?v={}", url_part(id));
                format!("<p><a href=\"{}\">{}</a></p>", esc(&url), esc(title))
            }
            "vimeo" => {
                let id = self.required(tag, 0, "id")?;
                let title = tag.get("title").unwrap_or("Vimeo video");
                let url = format!("https://vimeo.com/{}", url_part(id));
                format!("<p><a href=\"{}\">{}</a></p>", esc(&url), esc(title))
            }
            "gist" => {
                let user = self.required(tag, 0, "user")?;
                let id = self.required(tag, 1, "id")?;
                let url = format!(
                    "https://gist.github.com/{}/{}",
                    url_part(user),
                    url_part(id)
                );
                format!("<p><a href=\"{}\">{}</a></p>", esc(&url), esc(&url))
            }
            "tweet" | "twitter" | "x" => {
                let (user, id) = match (tag.get("user"), tag.get("id")) {
                    (Some(u), Some(i)) => (u, i),
                    _ => match tag.positional.as_slice() {
                        [u, i] => (u.as_str(), i.as_str()),
                        _ => {
                            return Err(self.error(
                                tag.start,
                                format!("shortcode {}: give user=\"NAME\" id=\"ID\"", tag.name),
                            ))
                        }
                    },
                };
                let url = format!("https://x.com/{}/status/{}", url_part(user), url_part(id));
                format!(
                    "<blockquote><p><a href=\"{}\">{}</a></p></blockquote>",
                    esc(&url),
                    esc(&url)
                )
            }
            _ => String::new(),
        })
    }

    fn required<'t>(&self, tag: &'t Tag, n: usize, key: &str) -> Result<&'t str, Diagnostic> {
        tag.arg(n, key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.error(tag.start, format!("shortcode {} needs its {key}", tag.name)))
    }

    /// `ref` (absolute URL) and `relref` (site path) of another page.
    fn reference(&self, tag: &Tag) -> Result<String, Diagnostic> {
        let arg = tag.arg(0, "path").unwrap_or("").trim().to_string();
        let n = self.refs.get() + 1;
        self.refs.set(n);
        if n > MAX_REFS {
            return Err(self.error(
                tag.start,
                format!("more than {MAX_REFS} ref shortcodes in one post"),
            ));
        }
        let (target, anchor) = match arg.split_once('#') {
            Some((t, a)) => (t.to_string(), format!("#{a}")),
            None => (arg.clone(), String::new()),
        };
        let path = if target.is_empty() {
            None // the page itself: its path is not known while it is read
        } else {
            self.resolve(&target)
        };
        let Some(path) = path else {
            return Err(self.error(
                tag.start,
                format!(
                    "{} {arg:?}: no such page under {} (Hugo fails with REF_NOT_FOUND too)",
                    tag.name, self.ctx.hugo.content_root
                ),
            ));
        };
        let path = format!("{path}{anchor}");
        Ok(if tag.name == "ref" {
            let base = self.ctx.hugo.base_url.trim_end_matches('/');
            format!("{base}{path}")
        } else {
            let base_path = url::Url::parse(self.ctx.hugo.base_url)
                .map(|u| u.path().trim_end_matches('/').to_string())
                .unwrap_or_default();
            format!("{base_path}{path}")
        })
    }

    /// The site path of the page `target` names, as Hugo looks it up:
    /// relative to this page's directory, then from the content directory,
    /// then by its file or bundle name if only one page has it.
    fn resolve(&self, target: &str) -> Option<String> {
        if let Some(hit) = self.resolved.borrow().get(target) {
            return Some(hit.clone());
        }
        let root = self.ctx.root?;
        let content_root = Path::new(self.ctx.hugo.content_root);
        let here = self.ctx.shown.parent().unwrap_or(Path::new(""));
        let mut tries: Vec<PathBuf> = Vec::new();
        if !target.starts_with('/') {
            tries.push(here.join(target));
        }
        tries.push(content_root.join(target.trim_start_matches('/')));
        let file = tries
            .iter()
            .filter_map(|t| normalize(t, content_root))
            .find_map(|t| page_file(root, &t))
            .or_else(|| self.by_name(root, target))?;
        let path = self.page_path(root, &file)?;
        self.resolved
            .borrow_mut()
            .insert(target.to_string(), path.clone());
        Some(path)
    }

    /// The one page named `target` (`plain`, `plain.md`, a bundle's name).
    fn by_name(&self, root: &Path, target: &str) -> Option<PathBuf> {
        let mut names = self.names.borrow_mut();
        let names = names.get_or_insert_with(|| {
            let dir = root.join(self.ctx.hugo.content_root);
            let mut map: HashMap<String, Vec<PathBuf>> = HashMap::new();
            if let Ok(found) = super::post_files_for(&dir, Some(self.ctx.hugo)) {
                for f in found.files {
                    let shown = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
                    let (name, _) = hugo::file_parts(&shown, self.ctx.hugo.content_root);
                    if let Some(file_name) = f.file_name().and_then(|n| n.to_str()) {
                        if !hugo::is_bundle_index(&f) {
                            map.entry(file_name.to_string())
                                .or_default()
                                .push(shown.clone());
                        }
                    }
                    map.entry(name).or_default().push(shown);
                }
            }
            map
        });
        match names.get(target.trim_matches('/')).map(Vec::as_slice) {
            Some([one]) => Some(one.clone()),
            _ => None,
        }
    }

    /// The site path Hugo gives the page in `file` (site-relative).
    fn page_path(&self, root: &Path, file: &Path) -> Option<String> {
        if file.file_stem().is_some_and(|s| s == "_index") {
            let (_, mut dirs) = hugo::file_parts(file, self.ctx.hugo.content_root);
            dirs.retain(|d| !d.is_empty());
            let p = format!("/{}/", dirs.join("/"));
            return Some(hugo::urlize(&p.replace("//", "/")));
        }
        let full = root.join(file);
        let meta = std::fs::symlink_metadata(&full).ok()?;
        if !meta.is_file() || meta.len() > MAX_POST_BYTES {
            return None;
        }
        // Not through a linked directory to a file outside the content.
        let content = std::fs::canonicalize(root.join(self.ctx.hugo.content_root)).ok()?;
        if !std::fs::canonicalize(&full).ok()?.starts_with(content) {
            return None;
        }
        let bytes = std::fs::read(&full).ok()?;
        super::hugo_path_of(&bytes, file, root, self.ctx.opts, self.ctx.hugo).ok()
    }

    /// `layouts/shortcodes/NAME.html` of the site, if it has one (read once).
    fn site_template(&self, tag: &Tag) -> Result<Option<String>, Diagnostic> {
        if let Some(t) = self.templates.borrow().get(&tag.name) {
            return Ok(t.clone());
        }
        let t = self.read_template(tag)?;
        self.templates
            .borrow_mut()
            .insert(tag.name.clone(), t.clone());
        Ok(t)
    }

    fn read_template(&self, tag: &Tag) -> Result<Option<String>, Diagnostic> {
        let Some(root) = self.ctx.root else {
            return Ok(None);
        };
        let ok_name = tag
            .name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_'));
        if !ok_name {
            return Ok(None);
        }
        for dir in ["layouts/shortcodes", "layouts/_shortcodes"] {
            let path = root.join(dir).join(format!("{}.html", tag.name));
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > MAX_TEMPLATE_BYTES {
                return Err(self.error(
                    tag.start,
                    format!(
                        "shortcode {}: {dir}/{}.html is not a small regular file",
                        tag.name, tag.name
                    ),
                ));
            }
            return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                self.error(
                    tag.start,
                    format!(
                        "shortcode {}: cannot read {dir}/{}.html: {e}",
                        tag.name, tag.name
                    ),
                )
            });
        }
        Ok(None)
    }

    /// A site template that is HTML with `.Get` and `.Inner` actions only.
    fn apply_template(&self, tag: &Tag, template: &str, inner: &str) -> Result<String, Diagnostic> {
        let mut out = String::with_capacity(template.len() + inner.len());
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let (text, after) = rest.split_at(open);
            let close = after.find("}}").ok_or_else(|| {
                self.error(
                    tag.start,
                    format!("shortcode {}: its template has an unclosed {{{{", tag.name),
                )
            })?;
            let mut action = &after[2..close];
            let mut text = text;
            if let Some(a) = action.strip_prefix('-') {
                text = text.trim_end();
                action = a;
            }
            let trim_after = action.ends_with('-');
            let action = action.strip_suffix('-').unwrap_or(action).trim();
            out.push_str(text);
            out.push_str(&self.action(tag, action, inner)?);
            rest = &after[close + 2..];
            if trim_after {
                rest = rest.trim_start();
            }
        }
        out.push_str(rest);
        Ok(out.trim().to_string())
    }

    fn action(&self, tag: &Tag, action: &str, inner: &str) -> Result<String, Diagnostic> {
        if action.starts_with("/*") && action.ends_with("*/") {
            return Ok(String::new());
        }
        let words: Vec<&str> = action.split_whitespace().collect();
        match words.as_slice() {
            [".Inner"] | [".Inner", "|", "safeHTML"] => Ok(inner.trim_matches('\n').to_string()),
            [".Inner", "|", "markdownify"] => Ok(markdownify(inner)),
            [".Get", arg] => {
                let v = match arg.parse::<usize>() {
                    Ok(n) => tag.positional.get(n).map(String::as_str),
                    Err(_) => tag.get(arg.trim_matches('"')),
                };
                Ok(esc(v.unwrap_or("")))
            }
            _ => Err(self.error(
                tag.start,
                format!(
                    "shortcode {}: its template uses {{{{ {action} }}}}, and tributary renders only templates of HTML with {{{{ .Get N }}}}, {{{{ .Get \"name\" }}}} and {{{{ .Inner }}}}; write what it would show instead",
                    tag.name
                ),
            )),
        }
    }
}

const BUILTIN: [&str; 11] = [
    "ref",
    "relref",
    "figure",
    "highlight",
    "youtube",
    "vimeo",
    "gist",
    "tweet",
    "twitter",
    "x",
    "comment",
];

/// The next `{{<` or `{{%` in `s`.
fn find_open(s: &str) -> Option<usize> {
    let a = s.find("{{<");
    let b = s.find("{{%");
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `t` lexically cleaned (no `.`, `..` resolved), if it stays inside `within`.
fn normalize(t: &Path, within: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in t.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    out.starts_with(within).then_some(out)
}

/// The page file `t` names: itself, with `.md`, or a bundle or section in it.
fn page_file(root: &Path, t: &Path) -> Option<PathBuf> {
    let mut candidates = vec![t.to_path_buf()];
    for ext in ["md", "markdown"] {
        let mut with = t.as_os_str().to_owned();
        with.push(format!(".{ext}"));
        candidates.push(PathBuf::from(with));
        candidates.push(t.join(format!("index.{ext}")));
        candidates.push(t.join(format!("_index.{ext}")));
    }
    candidates.into_iter().find(|c| {
        super::is_markdown(c) && std::fs::symlink_metadata(root.join(c)).is_ok_and(|m| m.is_file())
    })
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn skip_space(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }
    fn eat(&mut self, c: char) -> bool {
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    /// A name: up to a space, `=`, quote, or the end of the tag.
    fn word(&mut self) -> String {
        let rest = &self.s[self.pos..];
        let end = rest
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '=' | '"' | '`' | '>' | '%')
                    || rest.starts_with("/>")
            })
            .unwrap_or(rest.len());
        let end = match rest[..end].find("/>").or_else(|| rest[..end].find("/%")) {
            Some(i) => i,
            None => end,
        };
        self.pos += end;
        rest[..end].to_string()
    }
    /// A quoted string, a raw string in backquotes, or a bare word; `None`
    /// for an unclosed quote.
    fn value(&mut self) -> Option<String> {
        let rest = &self.s[self.pos..];
        if let Some(r) = rest.strip_prefix('`') {
            let end = r.find('`')?;
            self.pos += end + 2;
            return Some(r[..end].to_string());
        }
        if let Some(r) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = r.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.pos += i + 2;
                        return Some(out);
                    }
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    c => out.push(c),
                }
            }
            return None;
        }
        Some(self.word())
    }
}

/// HTML-escaped text (as Go's html/template escapes `.Get` values).
fn esc(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// Text for a URL's path or query: anything but letters, digits and `-_.~` escaped.
fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn collapse_blank_lines(s: &str) -> String {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn markdownify(md: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(md.trim()));
    let html = html.trim();
    // Hugo's markdownify drops the paragraph around a single line.
    match html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
    {
        Some(one) if !one.contains("<p>") => one.to_string(),
        _ => html.to_string(),
    }
}

/// Hugo's `figure`: an image with an optional link and caption.
fn figure(tag: &Tag) -> String {
    let get = |k: &str| tag.get(k).filter(|v| !v.is_empty());
    let mut out = String::from("<figure");
    if let Some(c) = get("class") {
        out.push_str(&format!(" class=\"{}\"", esc(c)));
    }
    out.push('>');
    if let Some(link) = get("link") {
        out.push_str(&format!("<a href=\"{}\"", esc(link)));
        for k in ["target", "rel"] {
            if let Some(v) = get(k) {
                out.push_str(&format!(" {k}=\"{}\"", esc(v)));
            }
        }
        out.push('>');
    }
    out.push_str(&format!("<img src=\"{}\"", esc(get("src").unwrap_or(""))));
    if let Some(alt) = get("alt").or(get("caption")) {
        out.push_str(&format!(" alt=\"{}\"", esc(alt)));
    }
    for k in ["width", "height"] {
        if let Some(v) = get(k) {
            out.push_str(&format!(" {k}=\"{}\"", esc(v)));
        }
    }
    out.push_str(" />");
    if get("link").is_some() {
        out.push_str("</a>");
    }
    if get("title").is_some() || get("caption").is_some() || get("attr").is_some() {
        out.push_str("<figcaption>");
        if let Some(t) = get("title") {
            out.push_str(&format!("<h4>{}</h4>", esc(t)));
        }
        if get("caption").is_some() || get("attr").is_some() {
            out.push_str("<p>");
            out.push_str(&esc(get("caption").unwrap_or("")));
            match (get("attr"), get("attrlink")) {
                (Some(a), Some(l)) => {
                    out.push_str(&format!("<a href=\"{}\">{}</a>", esc(l), esc(a)))
                }
                (Some(a), None) => out.push_str(&esc(a)),
                _ => {}
            }
            out.push_str("</p>");
        }
        out.push_str("</figcaption>");
    }
    out.push_str("</figure>");
    out
}

/// Hugo's `highlight`: the code in a `<pre><code>` (without Chroma's colours).
fn highlight(tag: &Tag, code: &str) -> String {
    let lang = tag.positional.first().map(String::as_str).unwrap_or("");
    let code = code.strip_prefix('\n').unwrap_or(code);
    let code = code.strip_suffix('\n').unwrap_or(code);
    let class = if lang.is_empty() {
        String::new()
    } else {
        format!(" class=\"language-{}\"", esc(lang))
    };
    // Newlines inside <pre> are kept as character references, so that no
    // blank line ends the HTML block early.
    let body = html_escape::encode_text(code).replace('\n', "&#10;");
    format!("<pre><code{class}>{body}</code></pre>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(shown: &'a Path, root: Option<&'a Path>) -> Context<'a> {
        let hugo = HugoOptions::new(
            "/blog/:year/:month/:slug/",
            Path::new("content/blog"),
            "https://example.org/",
        );
        Context {
            shown,
            body_line: 5,
            root,
            hugo,
            opts: LoadOptions {
                timezone: chrono_tz::UTC,
                hugo: Some(hugo),
                jekyll: false,
            },
        }
    }

    fn run(body: &str) -> Result<String, Diagnostic> {
        let shown = Path::new("content/blog/x.md");
        render(body, &ctx(shown, None)).map(|o| o.text)
    }

    #[test]
    fn builtins_render() {
        let out = run("A {{< figure src=\"a.png\" title=\"T\" >}} b").unwrap();
        assert_eq!(
            out,
            "A <figure><img src=\"a.png\" /><figcaption><h4>T</h4></figcaption></figure> b"
        );
        let out = run(
            "{{< highlight go \"linenos=table\" >}}\nfmt.Println(\"<x>\")\n\nx\n{{< /highlight >}}",
        )
        .unwrap();
        assert_eq!(
            out,
            "<pre><code class=\"language-go\">fmt.Println(\"&lt;x&gt;\")&#10;&#10;x</code></pre>"
        );
        let out = run("{{< youtube abc123 >}}").unwrap();
        assert!(
            out.contains("https://www.youtube.com/watch?v=abc123"),
            "{out}"
        );
        let out = run("{{< tweet user=\"jack\" id=\"20\" >}}").unwrap();
        assert!(out.contains("https://x.com/jack/status/20"), "{out}");
        assert_eq!(
            run("a {{< comment >}}no{{< /comment >}} b").unwrap(),
            "a  b"
        );
        assert_eq!(
            run("`{{</* figure src=\"x\" */>}}`").unwrap(),
            "`{{< figure src=\"x\" >}}`"
        );
    }

    #[test]
    fn unknown_and_broken_shortcodes_are_errors_at_their_line() {
        let e = run("one\ntwo {{< instagram abc >}}\n").unwrap_err();
        assert_eq!(e.line, Some(6), "{e:?}");
        assert!(
            e.message.contains("\"instagram\" cannot be rendered"),
            "{e:?}"
        );
        let e = run("{{% notice %}}x").unwrap_err();
        assert!(e.message.contains("cannot be rendered"), "{e:?}");
        let e = run("{{< highlight go >}}x").unwrap_err();
        assert!(e.message.contains("no closing"), "{e:?}");
        let e = run("{{< figure src=\"x >}}").unwrap_err();
        assert!(e.message.contains("not closed"), "{e:?}");
        let e = run("{{< /highlight >}}").unwrap_err();
        assert!(e.message.contains("without an opening"), "{e:?}");
        // ref needs the site: without it, an error, never the text.
        assert!(run("{{< ref \"x\" >}}").is_err());
    }

    #[test]
    fn hostile_input_is_bounded() {
        let deep = "{{< x >}}".repeat(10_000);
        assert!(run(&deep).is_err());
        let junk = "{{<".repeat(10_000);
        assert!(run(&junk).is_err());
        assert!(run("{{< \"").is_err());
        assert!(run("{{<").is_err());
        assert!(run("{{< é").is_err());
    }

    #[test]
    fn refs_are_found_as_hugo_finds_them_and_stay_inside_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w(
            "content/blog/plain.md",
            "+++\ntitle = \"Plain\"\ndate = 2021-03-04\nslug = \"My Slug\"\n+++\n",
        );
        w(
            "content/blog/trip/index.md",
            "---\ntitle: Trip\ndate: 2022-05-10\n---\n",
        );
        w(
            "content/blog/b2/index.md",
            "---\ntitle: B2\ndate: 2021-03-01\nurl: /custom/Path\n---\n",
        );
        w(
            "content/blog/one/same.md",
            "---\ntitle: S1\ndate: 2021-03-01\n---\n",
        );
        w(
            "content/blog/two/same.md",
            "---\ntitle: S2\ndate: 2021-03-01\n---\n",
        );
        w("content/blog/_index.md", "---\ntitle: Blog\n---\n");
        w("secret.md", "---\ntitle: Secret\ndate: 2021-03-01\n---\n");
        let shown = Path::new("content/blog/trip/index.md");
        let c = ctx(shown, Some(dir.path()));
        let r = |body: &str| render(body, &c).map(|o| o.text);
        assert_eq!(
            r("{{< ref \"plain.md\" >}}").unwrap(),
            "https://example.org/blog/2021/03/my-slug/"
        );
        assert_eq!(r("{{< relref \"/blog/b2\" >}}").unwrap(), "/custom/Path/");
        assert_eq!(
            r("{{< relref \"../plain#top\" >}}").unwrap(),
            "/blog/2021/03/my-slug/#top"
        );
        assert_eq!(r("{{< relref \"/blog/\" >}}").unwrap(), "/blog/");
        assert!(render("{{< ref \"plain\" >}}", &c).unwrap().refs);
        for bad in ["nothing", "same.md", "../../../secret.md", "/../secret"] {
            let e = r(&format!("{{{{< ref \"{bad}\" >}}}}")).unwrap_err();
            assert!(e.message.contains("no such page"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn site_templates_with_get_and_inner() {
        let dir = tempfile::tempdir().unwrap();
        let sc = dir.path().join("layouts/shortcodes");
        std::fs::create_dir_all(&sc).unwrap();
        std::fs::write(
            sc.join("note.html"),
            "<div class=\"note {{ .Get 0 }}\">\n  {{- .Inner | markdownify -}}\n</div>\n",
        )
        .unwrap();
        std::fs::write(sc.join("fancy.html"), "{{ range .Params }}x{{ end }}").unwrap();
        let shown = Path::new("content/blog/x.md");
        let c = ctx(shown, Some(dir.path()));
        let out = render("{{< note \"warn<\" >}}**hi**{{< /note >}}", &c)
            .unwrap()
            .text;
        assert_eq!(
            out,
            "<div class=\"note warn&lt;\"><strong>hi</strong></div>"
        );
        let e = render("x\n{{< fancy >}}", &c).err().unwrap();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("range .Params"), "{e:?}");
    }
}
