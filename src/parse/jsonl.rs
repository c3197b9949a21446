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
        },
        entries: feed
            .items
            .iter()
            .map(|it| EntryLine {
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
            })
            .collect(),
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

/// Parse each file (no document URL, as the references) and write one line
/// per readable file to `out`; returns the files that could not be read.
pub fn write_lines(
    files: &[PathBuf],
    jsonl: bool,
    out: &mut dyn Write,
) -> std::io::Result<Vec<(PathBuf, std::io::Error)>> {
    let mut unreadable = Vec::new();
    for path in files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                unreadable.push((path.clone(), e));
                continue;
            }
        };
        let name = path.to_string_lossy();
        let parsed = parse_upstream(&bytes, None);
        let line = match (&parsed, jsonl) {
            (Ok(feed), true) => feed_line(&name, feed),
            (Err(e), true) => error_line(&name, &e.to_string()),
            (Ok(feed), false) => summary(path, feed),
            (Err(e), false) => format!("{}: refused: {e}", path.display()),
        };
        writeln!(out, "{line}")?;
    }
    Ok(unreadable)
}

fn summary(path: &Path, feed: &UpstreamFeed) -> String {
    format!(
        "{}: {} ({}), {} items: {}",
        path.display(),
        feed.detail,
        feed.kind.family(),
        feed.items.len(),
        feed.title.as_deref().unwrap_or("(no title)")
    )
}

/// The `parse` command: exit 1 only when a file cannot be read (refused
/// documents get their own error lines).
pub fn run(files: &[PathBuf], jsonl: bool) -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = write_lines(files, jsonl, &mut out).and_then(|u| out.flush().map(|_| u));
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
