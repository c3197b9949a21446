//! `tributary parse [--jsonl] FILE...`: what the upstream parser extracts,
//! one JSON line per file in the shape of the corpus references
//! (`../shared/corpus/upstream/README.md`), so `compare_refs.py` can score it.

use super::upstream::{parse_upstream, UpstreamFeed};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct FeedLine<'a> {
    file: &'a str,
    format: &'static str,
    format_detail: &'a str,
    bozo: bool,
    bozo_exception: Option<String>,
    feed: HeadLine<'a>,
    entries: Vec<EntryLine<'a>>,
}

#[derive(Serialize)]
struct HeadLine<'a> {
    title: Option<&'a str>,
    link: Option<&'a str>,
    id: Option<&'a str>,
    id_generated: bool,
    updated: Option<String>,
    published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtitle: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rights: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generator: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<FeedImageLine<'a>>,
}

#[derive(Serialize)]
struct FeedImageLine<'a> {
    href: Option<&'a str>,
    title: Option<&'a str>,
    link: Option<&'a str>,
}

#[derive(Serialize)]
struct EntryLine<'a> {
    /// Null when generated: a derived id is not the feed's.
    id: Option<&'a str>,
    id_generated: bool,
    title: Option<&'a str>,
    link: Option<&'a str>,
    published: Option<String>,
    updated: Option<String>,
    /// The date strings as written: feedparser's `published`/`updated`,
    /// which name the normalized dates here (the keys `run.py` reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    published_raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_raw: Option<&'a str>,
    /// What the store keeps besides, in feedparser's names and shapes: the
    /// summary and content as sanitized HTML (what is stored and published).
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    content: Vec<ContentLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author_detail: Option<PersonLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<PersonLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contributors: Vec<PersonLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<TagLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    enclosures: Vec<EnclosureLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<LinkLine<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<SourceLine<'a>>,
    /// The entry's representative image (`media:thumbnail`, an image
    /// enclosure, `itunes:image`, JSON Feed `image`).
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<ImageLine<'a>>,
}

#[derive(Serialize)]
struct ContentLine {
    #[serde(rename = "type")]
    kind: &'static str,
    language: Option<String>,
    base: Option<String>,
    value: String,
}

#[derive(Serialize)]
struct PersonLine<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    href: Option<&'a str>,
}

#[derive(Serialize)]
struct TagLine<'a> {
    term: &'a str,
    scheme: Option<&'a str>,
    label: Option<&'a str>,
}

#[derive(Serialize)]
struct ImageLine<'a> {
    href: &'a str,
}

/// feedparser's shape: `length` is the attribute's text.
#[derive(Serialize)]
struct EnclosureLine<'a> {
    href: &'a str,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    length: Option<String>,
}

#[derive(Serialize)]
struct LinkLine<'a> {
    href: &'a str,
    rel: &'a str,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    length: Option<&'a str>,
}

#[derive(Serialize)]
struct SourceLine<'a> {
    title: Option<&'a str>,
    link: Option<&'a str>,
    href: Option<&'a str>,
    id: Option<&'a str>,
}

fn person(p: &crate::model::entry::Person) -> PersonLine<'_> {
    PersonLine {
        name: &p.name,
        email: p.email.as_deref(),
        href: p.uri.as_deref(),
    }
}

fn entry_line(it: &super::upstream::UpstreamItem) -> EntryLine<'_> {
    let content = it
        .content_html
        .as_ref()
        .and_then(|h| {
            Some(ContentLine {
                kind: "text/html",
                language: it.content_language.clone(),
                base: h.base().map(|b| b.to_string()),
                value: h.sanitized()?,
            })
        })
        .into_iter()
        .collect();
    EntryLine {
        id: if it.id_generated {
            None
        } else {
            it.id.as_deref()
        },
        id_generated: it.id_generated,
        title: it.title.as_deref(),
        link: it.link.as_deref(),
        published: utc(&it.published),
        updated: utc(&it.updated),
        published_raw: it.published_raw.as_deref(),
        updated_raw: it.updated_raw.as_deref(),
        summary: it.summary(),
        content,
        author: it.authors.first().map(|p| p.name.as_str()),
        author_detail: it.authors.first().map(person),
        authors: it.authors.iter().map(person).collect(),
        contributors: it.contributors.iter().map(person).collect(),
        tags: it
            .categories
            .iter()
            .map(|t| TagLine {
                term: &t.term,
                scheme: t.scheme.as_deref(),
                label: t.label.as_deref(),
            })
            .collect(),
        enclosures: it
            .enclosures
            .iter()
            .map(|e| EnclosureLine {
                href: &e.url,
                kind: e.mime_type.as_deref(),
                length: e.length.map(|l| l.to_string()),
            })
            .collect(),
        links: it
            .links
            .iter()
            .map(|l| LinkLine {
                href: &l.href,
                rel: &l.rel,
                kind: l.mime_type.as_deref(),
                title: l.title.as_deref(),
                length: l.length.as_deref(),
            })
            .collect(),
        source: it.source.as_ref().map(|s| SourceLine {
            title: s.title.as_deref(),
            link: s.link.as_deref(),
            href: s.href.as_deref(),
            id: s.id.as_deref(),
        }),
        image: it.image.as_deref().map(|href| ImageLine { href }),
    }
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    file: &'a str,
    error: String,
}

fn utc(d: &Option<DateTime<FixedOffset>>) -> Option<String> {
    d.map(|d| {
        d.with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    })
}

/// The reference-shaped JSON line for one parsed document.
pub fn feed_line(file: &str, feed: &UpstreamFeed) -> String {
    let line = FeedLine {
        file,
        format: feed.kind.family(),
        format_detail: &feed.detail,
        bozo: false,
        bozo_exception: None,
        feed: HeadLine {
            title: feed.title.as_deref(),
            link: feed.link.as_deref(),
            id: feed.id.as_deref(),
            id_generated: false,
            updated: utc(&feed.updated),
            published: utc(&feed.published),
            subtitle: feed.subtitle.as_deref(),
            rights: feed.rights.as_deref(),
            language: feed.language.as_deref(),
            generator: feed.generator.as_deref(),
            image: feed.image.as_ref().map(|i| FeedImageLine {
                href: i.href.as_deref(),
                title: i.title.as_deref(),
                link: i.link.as_deref(),
            }),
        },
        entries: feed.items.iter().map(entry_line).collect(),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The line for a file the parser refused.
pub fn error_line(file: &str, error: &str) -> String {
    serde_json::to_string(&ErrorLine {
        file,
        error: error.to_string(),
    })
    .unwrap_or_default()
}

/// One input of `parse`: the file to read and the name its line carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub name: String,
}

/// Expand the command line's paths: a file stands for itself (named as
/// given); a directory for every file under it, recursively, in byte order
/// of their paths relative to it and named by that relative path with `/`
/// separators, as the corpus references name theirs. A crawl kept as a
/// directory of `.dat` files can be scored without listing its files.
pub fn inputs(paths: &[PathBuf]) -> Vec<Input> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<Input>) {
        let Ok(read) = std::fs::read_dir(dir) else {
            // Unreadable: it gets its own error line from `write_lines`.
            out.push(Input {
                path: dir.to_path_buf(),
                name: relative_name(base, dir),
            });
            return;
        };
        // Symbolic links to directories are not followed (no loops); they
        // get an error line like any unreadable file.
        let mut entries: Vec<(PathBuf, bool)> = read
            .filter_map(|e| e.ok())
            .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
            .collect();
        entries.sort();
        for (p, is_dir) in entries {
            if is_dir {
                walk(base, &p, out);
            } else {
                out.push(Input {
                    name: relative_name(base, &p),
                    path: p,
                });
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, p, &mut found);
            found.sort_by(|a, b| a.name.cmp(&b.name));
            out.extend(found);
        } else {
            out.push(Input {
                path: p.clone(),
                name: p.to_string_lossy().into_owned(),
            });
        }
    }
    out
}

fn relative_name(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Parse each input (no document URL, as the references) and write exactly
/// one line per input to `out`: the feed, or an error line for a document
/// the parser refused, a file that cannot be read, and (never expected, but
/// one bad file must not cost the lines of every other) a parser panic.
/// Returns the inputs that could not be read.
pub fn write_lines(
    files: &[Input],
    jsonl: bool,
    out: &mut dyn Write,
) -> std::io::Result<Vec<(PathBuf, std::io::Error)>> {
    let mut unreadable = Vec::new();
    for input in files {
        let name = input.name.as_str();
        let bytes = match std::fs::read(&input.path) {
            Ok(b) => b,
            Err(e) => {
                let why = format!("cannot read: {e}");
                let line = if jsonl {
                    error_line(name, &why)
                } else {
                    format!("{name}: {why}")
                };
                writeln!(out, "{line}")?;
                unreadable.push((input.path.clone(), e));
                continue;
            }
        };
        let parsed = std::panic::catch_unwind(|| parse_upstream(&bytes, None));
        let line = match (&parsed, jsonl) {
            (Ok(Ok(feed)), true) => feed_line(name, feed),
            (Ok(Err(e)), true) => error_line(name, &e.to_string()),
            (Ok(Ok(feed)), false) => summary(name, feed),
            (Ok(Err(e)), false) => format!("{name}: refused: {e}"),
            (Err(_), true) => error_line(name, "panic inside tributary's parser"),
            (Err(_), false) => format!("{name}: panic inside tributary's parser"),
        };
        writeln!(out, "{line}")?;
    }
    Ok(unreadable)
}

fn summary(name: &str, feed: &UpstreamFeed) -> String {
    format!(
        "{name}: {} ({}), {} items: {}",
        feed.detail,
        feed.kind.family(),
        feed.items.len(),
        feed.title.as_deref().unwrap_or("(no title)")
    )
}

/// The `parse` command: one line per file (directories expanded); exit 1
/// when a file cannot be read (it still gets its error line), 0 otherwise
/// (refused documents are results, not failures).
pub fn run(files: &[PathBuf], jsonl: bool) -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let inputs = inputs(files);
    let result = write_lines(&inputs, jsonl, &mut out).and_then(|u| out.flush().map(|_| u));
    match result {
        Ok(unreadable) if unreadable.is_empty() => std::process::ExitCode::SUCCESS,
        Ok(unreadable) => {
            for (p, e) in unreadable {
                eprintln!("{}: cannot read: {e}", p.display());
            }
            std::process::ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("parse: cannot write output: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_every_stored_field() {
        let f = parse_upstream(
            br#"<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><item>
            <title>t</title><link>https://e.org/1</link><description>&lt;p&gt;s&lt;script&gt;x&lt;/script&gt;&lt;/p&gt;</description>
            <content:encoded>&lt;p&gt;c&lt;/p&gt;</content:encoded><author>Ann &lt;ann@e.org&gt;</author>
            <category>x</category><enclosure url="https://e.org/i.png" type="image/png"/></item></channel></rss>"#,
            None,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&feed_line("f", &f)).unwrap();
        let e = &v["entries"][0];
        assert_eq!(e["summary"], "<p>s</p>");
        assert_eq!(e["content"][0]["type"], "text/html");
        assert_eq!(e["content"][0]["value"], "<p>c</p>");
        assert_eq!(e["tags"][0]["term"], "x");
        assert_eq!(e["author_detail"]["email"], "ann@e.org");
        assert_eq!(e["authors"].as_array().map(Vec::len), Some(1));
        assert_eq!(e["image"]["href"], "https://e.org/i.png");
    }

    #[test]
    fn a_line_carries_enclosures_links_sources_and_head_fields() {
        let f = parse_upstream(
            br#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>T</title>
            <subtitle>S</subtitle><rights>R</rights><generator>G</generator><logo>https://e.org/l.png</logo>
            <entry><id>tag:1</id><title>t</title><link href="https://e.org/1"/>
            <link rel="enclosure" href="https://e.org/1.mp3" type="audio/mpeg" length="7"/>
            <category term="x" scheme="https://e.org/s" label="X"/>
            <contributor><name>Bo</name></contributor>
            <published>2020-01-02T03:04:05+01:00</published>
            <content type="html" xml:lang="fr">&lt;p&gt;c&lt;/p&gt;</content>
            <source><title>Src</title><id>tag:s</id></source></entry></feed>"#,
            None,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&feed_line("f", &f)).unwrap();
        let h = &v["feed"];
        assert_eq!(h["subtitle"], "S");
        assert_eq!(h["rights"], "R");
        assert_eq!(h["language"], "en");
        assert_eq!(h["generator"], "G");
        assert_eq!(h["image"]["href"], "https://e.org/l.png");
        let e = &v["entries"][0];
        assert_eq!(e["published"], "2020-01-02T02:04:05Z");
        assert_eq!(e["published_raw"], "2020-01-02T03:04:05+01:00");
        assert_eq!(e["enclosures"][0]["href"], "https://e.org/1.mp3");
        assert_eq!(e["enclosures"][0]["type"], "audio/mpeg");
        assert_eq!(e["enclosures"][0]["length"], "7");
        assert_eq!(e["links"][0]["rel"], "alternate");
        assert_eq!(e["links"][1]["rel"], "enclosure");
        assert_eq!(e["tags"][0]["scheme"], "https://e.org/s");
        assert_eq!(e["tags"][0]["label"], "X");
        assert_eq!(e["contributors"][0]["name"], "Bo");
        assert_eq!(e["content"][0]["language"], "fr");
        assert_eq!(e["source"]["title"], "Src");
        assert_eq!(e["source"]["id"], "tag:s");
    }
}
