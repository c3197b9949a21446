//! Edits to the site (`content/`, `feeds/`, `tributary.yaml`) trigger a
//! rebuild. What the build itself writes (the output dir, `.tributary/`, the
//! ledger) is ignored, or every build would trigger the next.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};

/// Watch `root`; `changed` is called (from the watcher's thread) for every
/// relevant event. Dropping the returned watcher stops it.
pub fn start(
    root: &Path,
    output: PathBuf,
    content: PathBuf,
    changed: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let output = std::fs::canonicalize(&output).unwrap_or(output);
    let site = root.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| relevant(&site, &output, &content, p))
        {
            changed();
        }
    })?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Whether a change at `path` can change the feeds: under the content
/// directory (`content`, relative to `root`) or `feeds/`, or `tributary.yaml`.
fn relevant(root: &Path, output: &Path, content: &Path, path: &Path) -> bool {
    if path.starts_with(output) {
        return false;
    }
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let hidden = rel
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    if rel.starts_with(content) || rel.starts_with("feeds") {
        return !hidden;
    }
    rel == Path::new("tributary.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_site_sources_count() {
        let root = Path::new("/site");
        let out = Path::new("/site/public");
        let relevant = |r: &Path, o: &Path, p: &Path| relevant(r, o, Path::new("content"), p);
        assert!(relevant(
            root,
            out,
            Path::new("/site/content/2026-01-01-a.md")
        ));
        assert!(relevant(root, out, Path::new("/site/feeds/main.yaml")));
        assert!(relevant(root, out, Path::new("/site/tributary.yaml")));
        assert!(!relevant(root, out, Path::new("/site/public/main.atom")));
        assert!(!relevant(root, out, Path::new("/site/.tributary/store.db")));
        assert!(!relevant(root, out, Path::new("/site/tributary.ledger")));
        assert!(!relevant(root, out, Path::new("/site/content/.a.md.swp")));
        // A Jekyll site switched in place: its posts are in `_posts/`.
        let posts = Path::new("_posts");
        assert!(super::relevant(
            root,
            out,
            posts,
            Path::new("/site/_posts/2026-01-01-a.markdown")
        ));
        assert!(!super::relevant(
            root,
            out,
            posts,
            Path::new("/site/content/2026-01-01-a.md")
        ));
    }
}
