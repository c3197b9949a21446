//! The `/` page of a site: every subscription document with its human
//! page, and the health of the upstream sources. `serve` serves it at `/`;
//! `build` writes it as `index.html`, so that a static host serves the same.

use crate::app::build::OutputFile;
use crate::site::Site;

/// The `/` page: every subscription document (archives left out), grouped
/// by feed, with its human page, and the health of every upstream source.
pub fn index_html(site: &Site, files: &[OutputFile]) -> String {
    use crate::config::Format;
    use crate::emit::html::{Alternate, FeedLink};
    let mut feeds: std::collections::BTreeMap<String, FeedLink> = Default::default();
    for f in files {
        if f.path.starts_with("archive/") || f.path.contains("/archive/") {
            continue;
        }
        let Some((stem, ext)) = f.path.rsplit_once('.') else {
            continue;
        };
        let format = match ext {
            "atom" => Format::Atom,
            "rss" => Format::Rss,
            "json" => Format::Json,
            _ => continue,
        };
        let title = feed_title(site, &f.path).unwrap_or_else(|| stem.to_string());
        let page = format!("{stem}.html");
        let link = feeds.entry(stem.to_string()).or_insert_with(|| FeedLink {
            title,
            page_url: if files.iter().any(|g| g.path == page) {
                site.config.url_for(&page)
            } else {
                site.config.url_for(&f.path)
            },
            alternates: Vec::new(),
        });
        link.alternates.push(Alternate {
            format,
            url: site.config.url_for(&f.path),
        });
    }
    let feeds: Vec<FeedLink> = feeds.into_values().collect();
    let health = crate::app::sources::health(site).unwrap_or_default();
    crate::emit::html::index_page(
        &site.config.title,
        site.config.description.as_deref(),
        &feeds,
        &health,
    )
}

/// The title of the feed that writes `path` (a per-tag feed's with its tag).
fn feed_title(site: &Site, path: &str) -> Option<String> {
    for d in &site.feeds {
        for &fm in &d.formats {
            let pattern = d.output_path(fm);
            if !d.per_tag {
                if pattern == path {
                    return Some(d.title.clone().unwrap_or_else(|| site.config.title.clone()));
                }
                continue;
            }
            let Some((pre, post)) = pattern.split_once("{tag}") else {
                continue;
            };
            if let Some(tag) = path.strip_prefix(pre).and_then(|r| r.strip_suffix(post)) {
                return Some(match &d.title {
                    Some(t) if t.contains("{tag}") => t.replace("{tag}", tag),
                    Some(t) => format!("{t}: {tag}"),
                    None => format!("{}: {tag}", site.config.title),
                });
            }
        }
    }
    None
}
