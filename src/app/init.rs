//! `tributary init [--from-jekyll DIR | --from-hugo DIR]`: start a site, or
//! switch an existing Jekyll or Hugo site in place. Writes `tributary.yaml`
//! and `feeds/main.yaml` (for an existing site with what its own
//! configuration says: base URL, permalink, time zone, where the posts are,
//! its id scheme), then adopts the feed the old generator built, when there
//! is one, so that readers see nothing new.

use crate::app::adopt::{self, AdoptReport};
use crate::app::build::Options;
use crate::config::{FeedDef, SiteConfig};
use crate::model::Error;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which site `init` starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    /// An empty folder, or one with posts but no generator.
    Nothing,
    Jekyll(PathBuf),
    Hugo(PathBuf),
}

/// What `init` was asked for.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub from: From,
    /// Overrides the title read from the old site (default: the folder's name).
    pub title: Option<String>,
    /// Overrides the base URL read from the old site.
    pub base_url: Option<String>,
}

/// What `init` did.
#[derive(Debug)]
pub struct InitReport {
    /// Files written, relative to the site root.
    pub written: Vec<PathBuf>,
    /// The old site's configuration file it read.
    pub read: Option<PathBuf>,
    /// The settings written into `tributary.yaml`, in order.
    pub settings: Vec<(&'static str, String)>,
    /// Things the user should know or do (a placeholder URL, a missing feed).
    pub notes: Vec<String>,
    /// The old feed adopted, and the report of that adopt.
    pub adopted: Option<(PathBuf, AdoptReport)>,
}

/// The settings of the new `tributary.yaml`.
#[derive(Debug, Default)]
struct Settings {
    title: Option<String>,
    description: Option<String>,
    base_url: Option<String>,
    permalink: Option<String>,
    timezone: Option<String>,
    content: Option<String>,
    output: Option<String>,
    ids: Option<&'static str>,
}

/// Start a site in `root`; `Err` when it is one already.
pub fn init(root: &Path, opts: &InitOptions) -> Result<InitReport, Error> {
    if root.join(SiteConfig::FILE).exists() {
        return Err(Error::at(
            SiteConfig::FILE,
            None,
            "already exists: this folder is a tributary site (edit tributary.yaml, or remove it to start again)",
        ));
    }
    let mut report = InitReport {
        written: Vec::new(),
        read: None,
        settings: Vec::new(),
        notes: Vec::new(),
        adopted: None,
    };
    let (mut settings, old_feed) = match &opts.from {
        From::Nothing => (Settings::default(), None),
        From::Jekyll(dir) => from_jekyll(root, dir, &mut report)?,
        From::Hugo(dir) => from_hugo(root, dir, &mut report)?,
    };
    if let Some(t) = &opts.title {
        settings.title = Some(t.clone());
    }
    if let Some(u) = &opts.base_url {
        settings.base_url = Some(u.clone());
    }
    write_site(root, settings, &mut report)?;
    if let Some(feed) = old_feed.filter(|f| f.is_file()) {
        let shown = feed.display().to_string();
        let bytes = adopt::read_source(&shown)?;
        let r = adopt::adopt(root, &shown, &bytes, Some("main"), &Options::default())
            .map_err(|e| adopt_failed(e, &shown))?;
        report.adopted = Some((feed, r));
    } else if opts.from != From::Nothing {
        report.notes.push(
            "no built feed of the old site was found: build it with the old generator and run `tributary adopt` on its feed, or readers may see old posts again".to_string(),
        );
    }
    Ok(report)
}

/// An adopt that failed after the site's files were written: its problems,
/// then what is left to do once they are fixed.
fn adopt_failed(e: Error, feed: &str) -> Error {
    let next = crate::model::Diagnostic::error(
        SiteConfig::FILE,
        None,
        format!(
            "written, but the old feed was not adopted: fix the above, then run `tributary adopt {feed}`"
        ),
    );
    match e {
        Error::Invalid(mut ds) => {
            ds.push(next);
            Error::Invalid(ds)
        }
        other => Error::Invalid(vec![
            crate::model::Diagnostic::error(feed, None, other.to_string()),
            next,
        ]),
    }
}

/// Write `tributary.yaml`, `feeds/main.yaml` and the posts' folder; the
/// configuration is checked by loading it before anything is written.
fn write_site(root: &Path, mut s: Settings, report: &mut InitReport) -> Result<(), Error> {
    let title = s.title.take().unwrap_or_else(|| folder_name(root));
    let base_url = s.base_url.take().unwrap_or_else(|| {
        report.notes.push(
            "base_url is a placeholder: set it in tributary.yaml to the address the site is published at".to_string(),
        );
        "https://example.org/".to_string()
    });
    let mut lines: Vec<(&'static str, String)> = vec![("title", title.clone())];
    let optional = [
        ("description", s.description),
        ("base_url", Some(base_url)),
        ("permalink", s.permalink),
        ("timezone", s.timezone),
        ("content", s.content),
        ("output", s.output),
        ("ids", s.ids.map(str::to_string)),
    ];
    lines.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let mut text = String::from("# The site: see README, \"Configuration reference\".\n");
    for (k, v) in &lines {
        text.push_str(&format!("{k}: {}\n", yaml_str(v)));
    }
    let config = SiteConfig::parse(&text, Path::new(SiteConfig::FILE)).map_err(Error::invalid)?;
    let feed = format!(
        "# The main feed: every post, newest first (README, \"feeds/NAME.yaml\").\ntitle: {}\n",
        yaml_str(&title)
    );
    let content = root.join(&config.content);
    std::fs::create_dir_all(&content).map_err(|e| Error::io(&content, e))?;
    let feeds = root.join(FeedDef::DIR);
    std::fs::create_dir_all(&feeds).map_err(|e| Error::io(&feeds, e))?;
    let main = Path::new(FeedDef::DIR).join("main.yaml");
    for (rel, body) in [
        (Path::new(SiteConfig::FILE), &text),
        (main.as_path(), &feed),
    ] {
        let path = root.join(rel);
        if path.exists() {
            return Err(Error::at(
                rel,
                None,
                "already exists; init writes only new files",
            ));
        }
        crate::util::write::write_atomic(&path, body.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        report.written.push(rel.to_path_buf());
    }
    report.settings = lines;
    Ok(())
}

/// A YAML scalar, quoted (JSON strings are valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The name of the folder `root` is, as a default title.
fn folder_name(root: &Path) -> String {
    std::fs::canonicalize(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "My site".to_string())
}

/// `dir` as a path relative to the site root (posts must be inside it).
fn inside(root: &Path, dir: &Path) -> Result<PathBuf, Error> {
    let canon = |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::io(p, e));
    let (root_abs, dir_abs) = (canon(root)?, canon(dir)?);
    dir_abs
        .strip_prefix(&root_abs)
        .map(Path::to_path_buf)
        .map_err(|_| {
            Error::at(
                dir,
                None,
                format!(
                    "is not inside the site {}: switch the site in place with `tributary -C {} init` and the same option",
                    root.display(),
                    dir.display()
                ),
            )
        })
}

/// `rel/name` as the configuration writes a path (`_posts`, `blog/_posts`).
fn join(rel: &Path, name: &str) -> String {
    let p = rel.join(name);
    p.display().to_string()
}

/// A string value of `map` under any of `keys`.
fn text(map: &BTreeMap<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match map.get(*k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    })
}

/// A Jekyll site's `_config.yml`: `title`, `description`, `url` + `baseurl`,
/// `permalink` (Jekyll's default is the `date` style), `timezone`; posts in
/// `_posts`, ids as jekyll-feed makes them; the old feed `_site/feed.xml`.
fn from_jekyll(
    root: &Path,
    dir: &Path,
    report: &mut InitReport,
) -> Result<(Settings, Option<PathBuf>), Error> {
    let file = dir.join("_config.yml");
    let text_of = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let map: BTreeMap<String, Value> = if text_of.trim().is_empty() {
        BTreeMap::new()
    } else {
        crate::util::yaml::from_str(&text_of).map_err(|e| Error::at(&file, e.line, e.message))?
    };
    report.read = Some(file.clone());
    let rel = inside(root, dir)?;
    let base_url = text(&map, &["url"]).map(|u| {
        let base = text(&map, &["baseurl"]).unwrap_or_default();
        format!("{}/{}", u.trim_end_matches('/'), base.trim_matches('/'))
    });
    let destination = text(&map, &["destination"]).unwrap_or_else(|| "_site".to_string());
    let settings = Settings {
        title: text(&map, &["title"]),
        description: text(&map, &["description"]),
        base_url,
        permalink: Some(text(&map, &["permalink"]).unwrap_or_else(|| "date".to_string())),
        timezone: text(&map, &["timezone"]),
        content: Some(join(&rel, "_posts")),
        output: None,
        ids: Some("jekyll"),
    };
    report.notes.push(format!(
        "add tributary.yaml, tributary.ledger, feeds and public to `exclude:` in {}, so that Jekyll does not publish them",
        file.display()
    ));
    Ok((settings, Some(dir.join(destination).join("feed.xml"))))
}

/// A Hugo site's `hugo.yaml`/`hugo.toml`/`config.toml`/`config.yaml`:
/// `baseURL`, `title`, `timeZone`, `contentDir` and the section's
/// `permalinks`; posts in the section `posts` (else `post`, `blog`), ids as
/// Hugo's RSS makes them; the old feed `public/index.xml`.
fn from_hugo(
    root: &Path,
    dir: &Path,
    report: &mut InitReport,
) -> Result<(Settings, Option<PathBuf>), Error> {
    let names = [
        "hugo.yaml",
        "hugo.yml",
        "hugo.toml",
        "config.yaml",
        "config.yml",
        "config.toml",
    ];
    let Some(file) = names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
        return Err(Error::at(
            dir,
            None,
            "has no hugo.yaml, hugo.toml or config.toml: is it a Hugo site?",
        ));
    };
    let body = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let map = if file.extension().is_some_and(|e| e == "toml") {
        simple_toml(&body)
    } else {
        flatten(
            &crate::util::yaml::from_str::<Value>(&body)
                .map_err(|e| Error::at(&file, e.line, e.message))?,
        )
    };
    report.read = Some(file.clone());
    let rel = inside(root, dir)?;
    let key = |k: &str| {
        map.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let content_dir = key("contentDir").unwrap_or_else(|| "content".to_string());
    let section = ["posts", "post", "blog"]
        .into_iter()
        .find(|s| dir.join(&content_dir).join(s).is_dir())
        .unwrap_or("posts");
    let permalink = key(&format!("permalinks.{section}"))
        .or_else(|| key(&format!("permalinks.page.{section}")))
        .unwrap_or_else(|| format!("/{section}/:slug/"));
    // Hugo writes its site into public/: tributary's feeds go elsewhere, so
    // that `diff --against public` compares two different folders.
    let output = (rel.as_os_str().is_empty()).then(|| "public-feeds".to_string());
    let settings = Settings {
        title: key("title"),
        description: key("params.description"),
        base_url: key("baseURL"),
        permalink: Some(permalink),
        timezone: key("timeZone"),
        content: Some(join(&rel, &format!("{content_dir}/{section}"))),
        output,
        ids: Some("hugo"),
    };
    Ok((settings, Some(dir.join("public").join("index.xml"))))
}

/// A YAML map's scalars as `a.b` keys.
fn flatten(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            Value::Number(n) => {
                out.insert(prefix.to_string(), n.to_string());
            }
            _ => {}
        }
    }
    walk("", v, &mut out);
    out
}

/// The `key = "value"` lines of a Hugo TOML configuration as `table.key`
/// (what `init` reads: strings and numbers under plain `[tables]`; arrays,
/// inline tables and multi-line strings are passed over).
fn simple_toml(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.trim().trim_matches('"').to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        let v = v.trim();
        let value = if let Some(s) = v.strip_prefix('"') {
            s.split_once('"').map(|(s, _)| s.to_string())
        } else if let Some(s) = v.strip_prefix('\'') {
            s.split_once('\'').map(|(s, _)| s.to_string())
        } else {
            let bare = v.split('#').next().unwrap_or("").trim();
            (!bare.is_empty() && !bare.starts_with(['[', '{'])).then(|| bare.to_string())
        };
        if let Some(value) = value {
            let key = if table.is_empty() {
                k.to_string()
            } else {
                format!("{table}.{k}")
            };
            out.insert(key, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugo_toml_keys_are_read() {
        let m = simple_toml(
            "baseURL = \"https://h.example/\"\ntitle = 'H'\ntimeZone = \"Europe/Berlin\" # zone\n\
             [permalinks]\n  posts = \"/:year/:month/:slug/\"\n[params]\ntags = [\"a\"]\n",
        );
        assert_eq!(m["baseURL"], "https://h.example/");
        assert_eq!(m["title"], "H");
        assert_eq!(m["timeZone"], "Europe/Berlin");
        assert_eq!(m["permalinks.posts"], "/:year/:month/:slug/");
        assert!(!m.contains_key("params.tags"));
    }
}
