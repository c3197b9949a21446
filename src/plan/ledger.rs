//! The id ledger: once an entry id has been published it never changes,
//! whatever later happens to the post's slug, permalink, date, title, file
//! name or the site's `base_url`.
//!
//! A static site's CI has no database, so the ledger is a small text file at
//! the site root, committed with the site: `tributary.ledger`, sorted,
//! tab-separated, one line per post (and one per feed), written atomically so
//! that it diffs cleanly.

use crate::model::diag::Diagnostic;
use crate::model::Error;
use crate::store::{SharedStore, Store};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub const FILE: &str = "tributary.ledger";

const HEADER: &str = "\
# tributary id ledger: entry ids that readers have seen. Commit this file.
# Once published an id never changes; tributary adds lines and never rewrites an id.
# post:KEY <TAB> id <TAB> first published <TAB> slug <TAB> permalink path <TAB> title
# feed:NAME <TAB> id <TAB> format <TAB> self URL
";

/// What the ledger remembers of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostLine {
    pub id: String,
    pub first_published: DateTime<FixedOffset>,
    pub slug: String,
    /// Site-relative permalink path when the id was recorded or last seen.
    pub path: String,
    pub title: String,
}

/// What the ledger remembers of a feed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedLine {
    pub id: String,
    /// The format whose subscription URL was adopted (`atom`, `rss`, `json`), if any.
    pub format: Option<String>,
    /// The URL readers subscribe to, when adopted from an older generator.
    pub self_url: Option<String>,
}

/// The whole ledger. Keys of `posts` are paths relative to `content/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub posts: BTreeMap<String, PostLine>,
    pub feeds: BTreeMap<String, FeedLine>,
}

fn clean(field: &str) -> String {
    field.replace(['\t', '\n', '\r'], " ")
}

impl Ledger {
    /// Read `tributary.ledger` from the site root; a missing file is an empty ledger.
    pub fn load(root: &Path) -> Result<Ledger, Vec<Diagnostic>> {
        match std::fs::read_to_string(root.join(FILE)) {
            Ok(text) => Ledger::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(e) => Err(vec![Diagnostic::error(
                FILE,
                None,
                format!("cannot read: {e}"),
            )]),
        }
    }

    /// Add the lines `other` has and this ledger lacks. A line both have is
    /// kept as this ledger has it: a recorded id is never rewritten.
    /// Returns whether anything was added.
    pub fn add_missing(&mut self, other: &Ledger) -> bool {
        let before = (self.posts.len(), self.feeds.len());
        for (k, v) in &other.posts {
            self.posts.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &other.feeds {
            self.feeds.entry(k.clone()).or_insert_with(|| v.clone());
        }
        before != (self.posts.len(), self.feeds.len())
    }

    pub fn parse(text: &str) -> Result<Ledger, Vec<Diagnostic>> {
        let mut ledger = Ledger::default();
        let mut problems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line_no = Some(n + 1);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let bad = |m: &str| Diagnostic::error(FILE, line_no, m.to_string());
            if let Some(key) = f[0].strip_prefix("post:") {
                if f.len() < 3 || f[1].is_empty() {
                    problems.push(bad(
                        "a post line needs at least: post:KEY, id, first published",
                    ));
                    continue;
                }
                let Ok(first) = DateTime::parse_from_rfc3339(f[2]) else {
                    problems.push(bad(&format!("{:?} is not an RFC 3339 date", f[2])));
                    continue;
                };
                let get = |i: usize| f.get(i).map(|s| s.to_string()).unwrap_or_default();
                let line = PostLine {
                    id: f[1].to_string(),
                    first_published: first,
                    slug: get(3),
                    path: get(4),
                    title: get(5),
                };
                if ledger.posts.insert(key.to_string(), line).is_some() {
                    problems.push(bad(&format!("post:{key} appears twice")));
                }
            } else if let Some(name) = f[0].strip_prefix("feed:") {
                if f.len() < 2 || f[1].is_empty() {
                    problems.push(bad("a feed line needs at least: feed:NAME, id"));
                    continue;
                }
                let opt = |i: usize| {
                    f.get(i)
                        .filter(|s| !s.is_empty() && **s != "-")
                        .map(|s| s.to_string())
                };
                ledger.feeds.insert(
                    name.to_string(),
                    FeedLine {
                        id: f[1].to_string(),
                        format: opt(2),
                        self_url: opt(3),
                    },
                );
            } else {
                problems.push(bad("a line starts with post: or feed:"));
            }
        }
        if problems.is_empty() {
            Ok(ledger)
        } else {
            Err(problems)
        }
    }

    /// The file's text: header, then feeds and posts sorted by key.
    pub fn to_text(&self) -> String {
        let mut out = String::from(HEADER);
        for (name, f) in &self.feeds {
            let _ = writeln!(
                out,
                "feed:{}\t{}\t{}\t{}",
                clean(name),
                clean(&f.id),
                f.format.as_deref().unwrap_or("-"),
                f.self_url
                    .as_deref()
                    .map(clean)
                    .unwrap_or_else(|| "-".into())
            );
        }
        for (key, p) in &self.posts {
            let _ = writeln!(
                out,
                "post:{}\t{}\t{}\t{}\t{}\t{}",
                clean(key),
                clean(&p.id),
                crate::util::date::format_rfc3339(&p.first_published),
                clean(&p.slug),
                clean(&p.path),
                clean(&p.title)
            );
        }
        out
    }

    /// Write atomically, only if the text changed. Returns whether it wrote.
    pub fn save(&self, root: &Path) -> std::io::Result<bool> {
        let path = root.join(FILE);
        let text = self.to_text();
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        crate::util::write::write_atomic(&path, text.as_bytes())?;
        Ok(true)
    }
}

/// Where a ledger is kept: the site's `tributary.ledger`, or a store that
/// replicas share (they cannot commit the file back to the site). Syncing
/// one side from the other is written once, here: lines are added, never
/// rewritten.
pub enum Side<'a> {
    File(&'a Path),
    Store(&'a mut dyn SharedStore),
}

impl<'a> Side<'a> {
    /// The side a store keeps its ledger on: itself when it is shared, else
    /// the file at the site root `root`.
    pub fn of(store: &'a mut dyn Store, root: &'a Path) -> Side<'a> {
        match store.shared() {
            Some(shared) => Side::Store(shared),
            None => Side::File(root),
        }
    }

    /// The ledger kept here (empty when there is none yet).
    pub fn read(&mut self) -> Result<Ledger, Error> {
        Ok(self.read_text()?.0)
    }

    /// The ledger kept here and its text as stored (`None`: none yet).
    pub fn read_text(&mut self) -> Result<(Ledger, Option<String>), Error> {
        let text = match self {
            Side::File(root) => match std::fs::read_to_string(root.join(FILE)) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(root.join(FILE), e)),
            },
            Side::Store(shared) => shared.ledger()?,
        };
        let ledger = match &text {
            Some(t) => Ledger::parse(t).map_err(Error::Invalid)?,
            None => Ledger::default(),
        };
        Ok((ledger, text))
    }

    /// Add the lines of `other` that the ledger kept here lacks (a line
    /// both have stays as it is here); saved only when one was added.
    /// Returns whether one was.
    pub fn add_missing(&mut self, other: &Ledger) -> Result<bool, Error> {
        let mut merged = self.read()?;
        if !merged.add_missing(other) {
            return Ok(false);
        }
        self.write(&merged)?;
        Ok(true)
    }

    /// Keep `ledger` here with the lines only this side holds now added to
    /// it: on a line both have, `ledger`'s wins (another process may have
    /// added lines since this one read them; none is written over).
    pub fn put(&mut self, mut ledger: Ledger) -> Result<(), Error> {
        ledger.add_missing(&self.read()?);
        self.write(&ledger)
    }

    fn write(&mut self, ledger: &Ledger) -> Result<(), Error> {
        match self {
            Side::File(root) => {
                ledger
                    .save(root)
                    .map_err(|e| Error::io(root.join(FILE), e))?;
            }
            Side::Store(shared) => shared.save_ledger(&ledger.to_text())?,
        }
        Ok(())
    }
}

/// What a post looks like to the ledger right now.
#[derive(Debug, Clone)]
pub struct Current<'a> {
    pub key: &'a str,
    /// The id the configured scheme (or front-matter `id:`) gives today.
    pub computed_id: &'a str,
    pub explicit_id: bool,
    pub published: DateTime<FixedOffset>,
    pub slug: &'a str,
    pub path: &'a str,
    pub title: &'a str,
}

/// How a post's id was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// First seen: the computed id was recorded.
    New,
    /// The ledger's id for this key.
    Kept,
    /// A renamed file, recognised by slug, permalink or title and date, under its old key.
    Renamed { old_key: String },
    /// Front-matter `id:` replaced what the ledger had.
    Overridden { old_id: String },
}

fn norm_title(t: &str) -> String {
    t.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Ledger {
    /// Decide the id of every current post, updating the ledger. Returns, per
    /// post, the id to publish and how it was decided.
    pub fn assign(&mut self, current: &[Current]) -> Vec<(String, Resolution)> {
        let present: std::collections::HashSet<&str> = current.iter().map(|c| c.key).collect();
        let mut orphans: Vec<String> = self
            .posts
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(current.len());
        for c in current {
            let refresh = |line: &mut PostLine| {
                line.slug = c.slug.to_string();
                line.path = c.path.to_string();
                line.title = c.title.to_string();
            };
            if let Some(line) = self.posts.get_mut(c.key) {
                refresh(line);
                if c.explicit_id && line.id != c.computed_id {
                    let old_id = std::mem::replace(&mut line.id, c.computed_id.to_string());
                    out.push((line.id.clone(), Resolution::Overridden { old_id }));
                } else {
                    out.push((line.id.clone(), Resolution::Kept));
                }
                continue;
            }
            // A renamed file: an orphaned line with the same slug, or permalink,
            // or title and day.
            let found = [
                |l: &PostLine, c: &Current| !l.slug.is_empty() && l.slug == c.slug,
                |l: &PostLine, c: &Current| !l.path.is_empty() && l.path == c.path,
                |l: &PostLine, c: &Current| {
                    !l.title.is_empty()
                        && norm_title(&l.title) == norm_title(c.title)
                        && l.first_published.date_naive() == c.published.date_naive()
                },
            ]
            .iter()
            .find_map(|rule| {
                orphans
                    .iter()
                    .position(|k| self.posts.get(k).is_some_and(|l| rule(l, c)))
            });
            if let Some(i) = found {
                let old_key = orphans.remove(i);
                if let Some(mut line) = self.posts.remove(&old_key) {
                    refresh(&mut line);
                    if c.explicit_id {
                        line.id = c.computed_id.to_string();
                    }
                    let id = line.id.clone();
                    self.posts.insert(c.key.to_string(), line);
                    out.push((id, Resolution::Renamed { old_key }));
                    continue;
                }
            }
            self.posts.insert(
                c.key.to_string(),
                PostLine {
                    id: c.computed_id.to_string(),
                    first_published: c.published,
                    slug: c.slug.to_string(),
                    path: c.path.to_string(),
                    title: c.title.to_string(),
                },
            );
            out.push((c.computed_id.to_string(), Resolution::New));
        }
        out
    }

    /// Ledger keys whose post no longer exists among `present`.
    pub fn gone<'a>(&'a self, present: &[&str]) -> Vec<&'a str> {
        let set: std::collections::HashSet<&str> = present.iter().copied().collect();
        self.posts
            .keys()
            .map(String::as_str)
            .filter(|k| !set.contains(k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn cur<'a>(
        key: &'a str,
        id: &'a str,
        slug: &'a str,
        path: &'a str,
        title: &'a str,
    ) -> Current<'a> {
        Current {
            key,
            computed_id: id,
            explicit_id: false,
            published: d("2024-01-02T10:00:00Z"),
            slug,
            path,
            title,
        }
    }

    #[test]
    fn ids_survive_renames_and_slug_changes() {
        let mut l = Ledger::default();
        let r = l.assign(&[cur("a.md", "id-1", "a", "/2024/a", "Week One")]);
        assert_eq!(r[0], ("id-1".into(), Resolution::New));
        // Same file, new slug and URL: the id is kept.
        let r = l.assign(&[cur("a.md", "id-2", "b", "/2024/b", "Week One")]);
        assert_eq!(r[0], ("id-1".into(), Resolution::Kept));
        // File renamed, slug unchanged: recognised.
        let r = l.assign(&[cur("c.md", "id-3", "b", "/2024/x", "Other")]);
        assert_eq!(r[0].0, "id-1");
        // Renamed again, only the title and day match.
        let r = l.assign(&[cur("d.md", "id-4", "z", "/2024/z", "week one!")]);
        assert_eq!(r[0].0, "id-4", "title differs (Other vs week one)");
        let text = l.to_text();
        let back = Ledger::parse(&text).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn add_missing_adds_lines_and_never_rewrites_an_id() {
        let mut mine = Ledger::default();
        mine.assign(&[cur("a.md", "id-a", "a", "/a", "A")]);
        let mut theirs = Ledger::default();
        theirs.assign(&[
            cur("a.md", "other-a", "a", "/a", "A"),
            cur("b.md", "id-b", "b", "/b", "B"),
        ]);
        assert!(mine.add_missing(&theirs));
        assert_eq!(mine.posts["a.md"].id, "id-a", "a recorded id stays");
        assert_eq!(mine.posts["b.md"].id, "id-b", "a missing line is added");
        assert!(!mine.add_missing(&theirs), "nothing more to add");
    }

    #[test]
    fn text_is_sorted_and_round_trips() {
        let mut l = Ledger::default();
        l.assign(&[
            cur("z.md", "tag:x,2024-01-02:z", "z", "/z", "Zed"),
            cur("a.md", "tag:x,2024-01-02:a", "a", "/a", "A\ttab"),
        ]);
        l.feeds.insert(
            "main".into(),
            FeedLine {
                id: "https://x/feed.xml".into(),
                format: Some("atom".into()),
                self_url: Some("https://x/feed.xml".into()),
            },
        );
        let text = l.to_text();
        let a = text.find("post:a.md").unwrap();
        let z = text.find("post:z.md").unwrap();
        assert!(a < z);
        assert!(text.contains("A tab"));
        assert_eq!(
            Ledger::parse(&text).unwrap().feeds["main"]
                .self_url
                .as_deref(),
            Some("https://x/feed.xml")
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_line() {
        let e = Ledger::parse("# c\npost:a.md\tid\tnot-a-date\nbogus\n").unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].line, Some(2));
        assert_eq!(e[1].line, Some(3));
    }
}
