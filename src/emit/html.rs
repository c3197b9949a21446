//! Human pages: a feed's `NAME.html` and the index at `/`.
//!
//! Self-contained HTML5 (inline CSS, no scripts, nothing fetched but the
//! entries' own images) and deterministic: the same input gives the same
//! bytes, so a rebuild rewrites nothing. Entry HTML is already safe (local
//! Markdown, or upstream HTML sanitized on the way in); every plain-text
//! field is escaped here.

use super::{FeedMeta, Paging, GENERATOR, GENERATOR_VERSION};
use crate::config::Format;
use crate::model::entry::{ContentMode, Entry, Person};
use crate::store::health::Health;
use crate::util::date::format_rfc3339;
use crate::util::text::html_to_text;
use chrono::{DateTime, FixedOffset, Utc};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// One alternate format of a feed: what `<link rel="alternate">` and the
/// subscribe box list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternate {
    pub format: Format,
    /// Absolute URL of the feed document in this format.
    pub url: String,
}

impl Alternate {
    /// The format's name as readers know it.
    pub fn label(&self) -> &'static str {
        match self.format {
            Format::Atom => "Atom",
            Format::Rss => "RSS",
            Format::Json => "JSON Feed",
        }
    }
}

/// One feed as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLink {
    pub title: String,
    /// URL of the feed's human page (`NAME.html`).
    pub page_url: String,
    pub alternates: Vec<Alternate>,
}

/// Characters of content shown when an entry has no summary.
const EXCERPT_CHARS: usize = 600;

/// Scripts can never run, even if a sanitizer let something through; images
/// and media in entries still load from anywhere.
const CSP: &str = "default-src 'none'; img-src * data:; media-src *; \
                   style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const CSS: &str = "\
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#5f6368;--line:#d8dadd;--box:#f4f6f8;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--bg:#16181b;--muted:#a0a4a8;--line:#3a3d41;--box:#202327;--accent:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:46rem;padding:1.5rem 1rem 3rem;font:1.0625rem/1.6 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
h1{font-size:1.9rem;line-height:1.2;margin:.5rem 0}
h2{font-size:1.3rem;margin:2rem 0 .75rem}
h3{font-size:1.15rem;margin:0 0 .25rem}
.muted,.meta,.via,.related{color:var(--muted);font-size:.95rem}
.subscribe{background:var(--box);border:1px solid var(--line);border-radius:.5rem;padding:.25rem 1rem .75rem}
.subscribe ul,.feeds,.tags{list-style:none;padding:0}
.subscribe li{margin:.4rem 0}
code.url{user-select:all;word-break:break-all;background:var(--bg);border:1px solid var(--line);border-radius:.25rem;padding:.1rem .35rem}
article{border-top:1px solid var(--line);padding:1.25rem 0}
.summary img{max-width:100%;height:auto}
.summary pre{overflow-x:auto}
.tags li{display:inline-block;margin:0 .35rem .35rem 0;padding:0 .5rem;border:1px solid var(--line);border-radius:1rem;font-size:.85rem}
.feeds li{margin:.6rem 0}
nav.pages{display:flex;gap:1.5rem;border-top:1px solid var(--line);padding-top:1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td{overflow-wrap:anywhere}
td .url{color:var(--muted);font-size:.8rem}
td.num{text-align:right}
@media (max-width:40rem){table.sources,table.sources tbody,table.sources tr,table.sources td{display:block}table.sources thead{display:none}table.sources tr{border-bottom:1px solid var(--line);padding:.4rem 0}table.sources td{border:0;padding:.1rem 0;text-align:left}table.sources td[data-label]:not(:first-child)::before{content:attr(data-label) \": \";color:var(--muted)}}
.ok{color:#1e8e3e}.failing{color:#d93025}.disabled{color:var(--muted)}
footer{margin-top:3rem;color:var(--muted);font-size:.85rem}
";

/// A feed's human page: how to subscribe, then its entries as given (the
/// caller orders them newest first, as in the feed documents).
pub fn feed_page(meta: &FeedMeta, entries: &[&Entry], alternates: &[Alternate]) -> String {
    let mut out = String::with_capacity(8192 + entries.len() * 1024);
    head(&mut out, meta.language.as_deref(), &meta.title);
    for a in alternates {
        autodiscovery(&mut out, &meta.title, a);
    }
    out.push_str("</head>\n<body>\n<header>\n");
    if let Some(home) = web_url(&meta.home_url) {
        out.push_str(&format!(
            "<p class=\"muted\"><a href=\"{}\">{}</a></p>\n",
            attr(home),
            text(&host_of(home))
        ));
    }
    out.push_str(&format!("<h1>{}</h1>\n", text(&meta.title)));
    if let Some(d) = meta.description.as_deref().filter(|d| !d.trim().is_empty()) {
        out.push_str(&format!("<p>{}</p>\n", text(d)));
    }
    out.push_str("</header>\n<main>\n");
    subscribe_box(&mut out, alternates);

    out.push_str(&format!(
        "<h2>Entries</h2>\n<p class=\"muted\">Updated {}.</p>\n",
        time(&meta.updated, &human_date(&meta.updated))
    ));
    if entries.is_empty() {
        out.push_str("<p>No entries yet.</p>\n");
    }
    for e in entries {
        entry(&mut out, e, entries);
    }
    paging_nav(&mut out, &meta.paging);
    out.push_str("</main>\n");
    footer(&mut out);
    out
}

/// The index at `/`: every feed with its page and formats, and the health of
/// the upstream sources when there are any.
pub fn index_page(
    site_title: &str,
    site_description: Option<&str>,
    feeds: &[FeedLink],
    sources: &[Health],
) -> String {
    let mut out = String::with_capacity(4096 + feeds.len() * 512 + sources.len() * 512);
    head(&mut out, None, site_title);
    for f in feeds {
        for a in &f.alternates {
            autodiscovery(&mut out, &f.title, a);
        }
    }
    out.push_str("</head>\n<body>\n<header>\n");
    out.push_str(&format!("<h1>{}</h1>\n", text(site_title)));
    if let Some(d) = site_description.filter(|d| !d.trim().is_empty()) {
        out.push_str(&format!("<p>{}</p>\n", text(d)));
    }
    out.push_str("</header>\n<main>\n<h2>Feeds</h2>\n");
    if feeds.is_empty() {
        out.push_str("<p>No feeds are configured.</p>\n");
    } else {
        out.push_str(
            "<p class=\"muted\">To follow a feed, paste the address of one of its formats \
             into a feed reader.</p>\n<ul class=\"feeds\">\n",
        );
        for f in feeds {
            out.push_str(&format!(
                "<li><a href=\"{}\"><strong>{}</strong></a>",
                attr(&f.page_url),
                text(&f.title)
            ));
            let links: Vec<String> = f
                .alternates
                .iter()
                .map(|a| {
                    format!(
                        "<a href=\"{}\" type=\"{}\">{}</a>",
                        attr(&a.url),
                        a.format.media_type(),
                        a.label()
                    )
                })
                .collect();
            if !links.is_empty() {
                out.push_str(&format!(
                    "<br><span class=\"muted\">{}</span>",
                    links.join(" · ")
                ));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    if !sources.is_empty() {
        health_table(&mut out, sources);
    }
    out.push_str("</main>\n");
    footer(&mut out);
    out
}

/// Everything up to the autodiscovery links; the caller closes `<head>`.
fn head(out: &mut String, language: Option<&str>, title: &str) {
    out.push_str("<!DOCTYPE html>\n");
    match language.filter(|l| !l.trim().is_empty()) {
        Some(l) => out.push_str(&format!("<html lang=\"{}\">\n", attr(l.trim()))),
        None => out.push_str("<html>\n"),
    }
    out.push_str("<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
    ));
    out.push_str(&format!(
        "<meta name=\"generator\" content=\"{GENERATOR} {GENERATOR_VERSION}\">\n"
    ));
    out.push_str(&format!("<title>{}</title>\n", text(title)));
    out.push_str("<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n");
}

fn autodiscovery(out: &mut String, feed_title: &str, a: &Alternate) {
    out.push_str(&format!(
        "<link rel=\"alternate\" type=\"{}\" href=\"{}\" title=\"{}\">\n",
        a.format.media_type(),
        attr(&a.url),
        attr(&format!("{feed_title} ({})", a.label()))
    ));
}

fn subscribe_box(out: &mut String, alternates: &[Alternate]) {
    if alternates.is_empty() {
        return;
    }
    out.push_str(
        "<section class=\"subscribe\" aria-labelledby=\"subscribe\">\n\
         <h2 id=\"subscribe\">Subscribe</h2>\n\
         <p>To follow this feed, copy one of these addresses and paste it into \
         your feed reader: it shows new entries as they are published.</p>\n<ul>\n",
    );
    for a in alternates {
        out.push_str(&format!(
            "<li><a href=\"{}\" type=\"{}\">{}</a>: <code class=\"url\">{}</code></li>\n",
            attr(&a.url),
            a.format.media_type(),
            a.label(),
            text(&a.url)
        ));
    }
    out.push_str(
        "</ul>\n<p class=\"muted\">Any of them gives the same entries; Atom suits most readers.</p>\n\
         </section>\n",
    );
}

fn entry(out: &mut String, e: &Entry, page: &[&Entry]) {
    out.push_str("<article>\n");
    entry_heading(out, e);
    entry_summary(out, e);
    entry_tags(out, e);
    entry_via(out, e);
    entry_related(out, e, page);
    out.push_str("</article>\n");
}

/// The title (a link where the entry has a web URL), date and authors.
fn entry_heading(out: &mut String, e: &Entry) {
    out.push_str("<h3>");
    let title = if e.title.trim().is_empty() {
        "Untitled"
    } else {
        e.title.as_str()
    };
    match web_url(&e.url) {
        Some(u) => out.push_str(&format!("<a href=\"{}\">{}</a>", attr(u), text(title))),
        None => out.push_str(&text(title)),
    }
    out.push_str("</h3>\n<p class=\"meta\">");
    out.push_str(&time(&e.published, &human_date(&e.published)));
    if !e.authors.is_empty() {
        let names: Vec<String> = e.authors.iter().map(person).collect();
        out.push_str(&format!(" · by {}", names.join(", ")));
    }
    out.push_str("</p>\n");
}

/// A page lists entries, so it shows their summaries; where there is none,
/// the start of the content as text (cutting HTML could break its markup).
fn entry_summary(out: &mut String, e: &Entry) {
    let (summary, content) = e.parts(ContentMode::Summary);
    match (
        e.summary_html.as_deref().filter(|s| !s.trim().is_empty()),
        summary.or(content),
    ) {
        (Some(s), _) => out.push_str(&format!("<div class=\"summary\">{s}</div>\n")),
        (None, Some(c)) => {
            let start = excerpt(c, EXCERPT_CHARS);
            if !start.is_empty() {
                out.push_str(&format!(
                    "<div class=\"summary\"><p>{}</p></div>\n",
                    text(&start)
                ));
            }
        }
        (None, None) => {}
    }
}

fn entry_tags(out: &mut String, e: &Entry) {
    if e.tags.is_empty() {
        return;
    }
    out.push_str("<ul class=\"tags\">");
    for t in &e.tags {
        out.push_str(&format!("<li>{}</li>", text(t)));
    }
    out.push_str("</ul>\n");
}

/// The sources the entry came through, each named once, linked to the item
/// there (or else to the feed).
fn entry_via(out: &mut String, e: &Entry) {
    let mut via: Vec<String> = Vec::new();
    for s in e.published_sources() {
        let href = s
            .item_url
            .as_deref()
            .and_then(web_url)
            .or_else(|| web_url(&s.feed_url));
        let link = match href {
            Some(h) => format!("<a href=\"{}\">{}</a>", attr(h), text(&s.name)),
            None => text(&s.name).into_owned(),
        };
        if !via.contains(&link) {
            via.push(link);
        }
    }
    if !via.is_empty() {
        out.push_str(&format!("<p class=\"via\">via {}</p>\n", via.join(", ")));
    }
}

fn entry_related(out: &mut String, e: &Entry, page: &[&Entry]) {
    let related: Vec<String> = e
        .related
        .iter()
        .filter_map(|r| web_url(r))
        .map(|r| {
            // Related posts are usually on this page too: name them by title.
            let label = page
                .iter()
                .find(|p| p.url == r && !p.title.trim().is_empty())
                .map_or(r, |p| p.title.as_str());
            format!("<a href=\"{}\">{}</a>", attr(r), text(label))
        })
        .collect();
    if !related.is_empty() {
        out.push_str(&format!(
            "<p class=\"related\">related: {}</p>\n",
            related.join(", ")
        ));
    }
}

fn paging_nav(out: &mut String, paging: &Paging) {
    let mut links: Vec<String> = Vec::new();
    let mut add = |url: &Option<String>, label: &str| {
        if let Some(u) = url.as_deref().and_then(web_url) {
            links.push(format!("<a href=\"{}\">{label}</a>", attr(u)));
        }
    };
    match paging {
        Paging::Complete => {}
        Paging::Subscription { prev_archive } => add(prev_archive, "← Older entries"),
        Paging::Archive {
            prev_archive,
            next_archive,
            current,
        } => {
            add(prev_archive, "← Older entries");
            add(next_archive, "Newer entries →");
            add(&Some(current.clone()), "Latest entries");
        }
    }
    if !links.is_empty() {
        out.push_str(&format!(
            "<nav class=\"pages\" aria-label=\"Archive\">{}</nav>\n",
            links.join("")
        ));
    }
}

fn health_table(out: &mut String, sources: &[Health]) {
    out.push_str(
        "<h2>Sources</h2>\n<table class=\"sources\">\n<thead><tr><th>Source</th><th>Status</th>\
         <th>Items</th><th>Last fetch</th><th>Next due</th></tr></thead>\n<tbody>\n",
    );
    let when = |d: Option<DateTime<Utc>>| match d {
        Some(d) => format!(
            "<time datetime=\"{}\">{}</time>",
            format_rfc3339(&d),
            d.format("%Y-%m-%d %H:%M UTC")
        ),
        None => "-".to_string(),
    };
    for h in sources {
        // The same reading of the state as `tributary sources list`: a
        // short reason, the whole error only as the cell's tooltip.
        let status = crate::store::health::Status::of(h.state.as_ref());
        let (last, items, next, error) = match &h.state {
            None => ("-".to_string(), 0, "now".to_string(), None),
            Some(st) => {
                let next = if st.disabled.is_some() {
                    "-".to_string()
                } else {
                    st.next_due
                        .map_or_else(|| "now".to_string(), |d| when(Some(d)))
                };
                (
                    when(st.last_fetch),
                    st.item_count,
                    next,
                    st.last_error.as_deref(),
                )
            }
        };
        let name = match web_url(&h.url) {
            Some(u) => format!(
                "<a href=\"{}\">{}</a><div class=\"url\">{}</div>",
                attr(u),
                text(&h.name),
                text(u)
            ),
            None => format!("{}<div class=\"url\">{}</div>", text(&h.name), text(&h.url)),
        };
        let title = error.map_or_else(String::new, |e| format!(" title=\"{}\"", attr(e)));
        out.push_str(&format!(
            "<tr><td data-label=\"Source\">{name}</td>\
             <td data-label=\"Status\" class=\"{}\"{title}>{}</td>\
             <td data-label=\"Items\" class=\"num\">{items}</td>\
             <td data-label=\"Last fetch\">{last}</td><td data-label=\"Next due\">{next}</td></tr>\n",
            status.class(),
            text(&status_words(&status, h)),
        ));
    }
    out.push_str("</tbody>\n</table>\n");
}

/// A source's status as the table says it, with `pushed` when its hub
/// pushes to this site (WebSub).
fn status_words(status: &crate::store::health::Status, h: &Health) -> String {
    if h.push.as_ref().is_some_and(|p| p.is_live(Utc::now())) {
        format!("{status} · pushed")
    } else {
        status.to_string()
    }
}

fn footer(out: &mut String) {
    out.push_str(&format!(
        "<footer>Published with {GENERATOR}.</footer>\n</body>\n</html>\n"
    ));
}

fn person(p: &Person) -> String {
    match p.uri.as_deref().and_then(web_url) {
        Some(u) => format!("<a href=\"{}\">{}</a>", attr(u), text(&p.name)),
        None => text(&p.name).into_owned(),
    }
}

fn time(d: &DateTime<FixedOffset>, label: &str) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        format_rfc3339(d),
        text(label)
    )
}

/// `22 November 2026`, in the entry's own offset (its author's day).
fn human_date(d: &DateTime<FixedOffset>) -> String {
    d.format("%-d %B %Y").to_string()
}

/// Only web links become `href`s: an upstream `javascript:` or `data:` URL
/// stays text.
fn web_url(u: &str) -> Option<&str> {
    let u = u.trim();
    crate::model::urlpolicy::is_web(u).then_some(u)
}

fn host_of(u: &str) -> String {
    url::Url::parse(u)
        .ok()
        .and_then(|p| p.host_str().map(str::to_string))
        .unwrap_or_else(|| u.to_string())
}

/// The first `max` characters of an HTML body as text, cut at a word.
fn excerpt(html: &str, max: usize) -> String {
    crate::util::text::shorten(&html_to_text(html), max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::Source;
    use crate::store::SourceState;

    fn date(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn meta(paging: Paging) -> FeedMeta {
        FeedMeta {
            id: "https://example.org/main.atom".into(),
            title: "Weekly \"News\" & <Notes>".into(),
            description: Some("What happened this week.".into()),
            language: Some("en".into()),
            home_url: "https://example.org/".into(),
            self_url: "https://example.org/main.atom".into(),
            subscription_url: "https://example.org/main.atom".into(),
            authors: vec![],
            updated: date("2026-11-22T09:00:00Z"),
            content: ContentMode::Both,
            paging,
            hub: None,
        }
    }

    fn post(n: u32, title: &str, day: &str) -> Entry {
        Entry {
            id: format!("https://example.org/{n}"),
            url: format!("https://example.org/{n}"),
            title: title.into(),
            summary_html: Some(format!("<p>Summary <em>{n}</em></p>")),
            content_html: Some(format!("<p>Content {n}</p>")),
            published: date(day),
            updated: date(day),
            authors: vec![Person {
                name: "Ada".into(),
                email: None,
                uri: Some("https://ada.example/".into()),
            }],
            tags: vec!["releases".into()],
            ..Entry::default()
        }
    }

    fn alternates() -> Vec<Alternate> {
        Format::ALL
            .iter()
            .map(|&format| Alternate {
                format,
                url: format!("https://example.org/main.{}", format.extension()),
            })
            .collect()
    }

    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];

    /// HTML5 well-formedness as far as we emit it: doctype first, every
    /// non-void element closed in order, attribute quotes paired, no stray `<`.
    /// (An HTML parser would accept anything; this catches what we could break.)
    fn check_structure(html: &str) -> Result<(), String> {
        let mut rest = html.strip_prefix("<!DOCTYPE html>\n").ok_or("no doctype")?;
        let mut stack: Vec<String> = Vec::new();
        while let Some(lt) = rest.find('<') {
            rest = &rest[lt..];
            let gt = rest.find('>').ok_or("unclosed tag")?;
            let tag = &rest[1..gt];
            if tag.matches('"').count() % 2 != 0 {
                return Err(format!("unpaired quote in <{tag}>"));
            }
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("stray '<' before {:?}", &rest[..gt.min(20)]));
            }
            rest = &rest[gt + 1..];
            if closing {
                match stack.pop() {
                    Some(open) if open == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else if !VOID.contains(&name.as_str()) && !tag.ends_with('/') {
                if name == "style" {
                    let end = rest.find("</style>").ok_or("unclosed style")?;
                    rest = &rest[end..];
                }
                stack.push(name);
            }
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    fn aggregated() -> Entry {
        let mut e = post(3, "etcd v3.6.0", "2026-11-20T12:00:00+02:00");
        e.url = "https://github.com/etcd-io/etcd/releases/tag/v3.6.0".into();
        e.summary_html = None;
        e.sources = vec![
            Source {
                name: "etcd releases".into(),
                feed_url: "https://github.com/etcd-io/etcd/releases.atom".into(),
                item_url: Some(e.url.clone()),
                id: None,
            },
            Source {
                name: "Planet <K8s>".into(),
                feed_url: "https://planet.example/feed".into(),
                item_url: Some("https://planet.example/etcd-3-6".into()),
                id: None,
            },
            Source {
                name: "local notes".into(),
                feed_url: "feeds/local/notes.xml".into(),
                item_url: None,
                id: None,
            },
        ];
        e.related = vec![
            "https://example.org/1".into(),
            "https://example.org/elsewhere".into(),
        ];
        e
    }

    #[test]
    fn plain_text_is_escaped_everywhere() {
        let mut e = post(1, "<script>alert(1)</script>", "2026-11-22T09:00:00Z");
        e.tags = vec!["<b>tag</b>".into()];
        e.authors[0].name = "<i>Eve</i>".into();
        let m = meta(Paging::Complete);
        let page = feed_page(&m, &[&e], &alternates());
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<b>tag") && !page.contains("<i>Eve"));
        assert!(page.contains(">&lt;script&gt;alert(1)&lt;/script&gt;</a></h3>"));
        assert!(page.contains("<li>&lt;b&gt;tag&lt;/b&gt;</li>"));
        assert!(page.contains("<title>Weekly \"News\" &amp; &lt;Notes&gt;</title>"));
        // In attributes the quote must be escaped too.
        assert!(page.contains("title=\"Weekly &quot;News&quot; &amp; &lt;Notes&gt; (Atom)\""));
        check_structure(&page).unwrap();
    }

    #[test]
    fn script_urls_are_not_links() {
        let mut e = post(1, "Trap", "2026-11-22T09:00:00Z");
        e.url = "javascript:alert(1)".into();
        e.authors[0].uri = Some("data:text/html,x".into());
        e.related = vec!["javascript:alert(2)".into()];
        let page = feed_page(&meta(Paging::Complete), &[&e], &[]);
        assert!(!page.contains("javascript:"), "{page}");
        assert!(!page.contains("data:text"));
        assert!(page.contains("<h3>Trap</h3>"));
        assert!(page.contains("default-src 'none'"), "CSP forbids scripts");
    }

    #[test]
    fn autodiscovery_and_subscribe_box() {
        let page = feed_page(&meta(Paging::Complete), &[], &alternates());
        let head = &page[..page.find("</head>").unwrap()];
        for (kind, ext) in [
            ("application/atom+xml", "atom"),
            ("application/rss+xml", "rss"),
            ("application/feed+json", "json"),
        ] {
            let url = format!("https://example.org/main.{ext}");
            assert!(
                head.contains(&format!(
                    "<link rel=\"alternate\" type=\"{kind}\" href=\"{url}\""
                )),
                "{kind} missing: {head}"
            );
            assert!(page.contains(&format!("<code class=\"url\">{url}</code>")));
        }
        assert!(page.contains("paste it into your feed reader"));
        assert!(page.contains("<p>No entries yet.</p>"));
        assert!(page
            .starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"));
        check_structure(&page).unwrap();
    }

    #[test]
    fn entries_in_given_order_with_dates_authors_tags_summaries() {
        let a = post(2, "Second week", "2026-11-22T09:00:00Z");
        let b = post(1, "First week", "2026-11-15T23:30:00-08:00");
        let page = feed_page(&meta(Paging::Complete), &[&a, &b], &alternates());
        let first = page.find("Second week").unwrap();
        let second = page.find("First week").unwrap();
        assert!(first < second);
        assert!(page.contains("<a href=\"https://example.org/2\">Second week</a>"));
        assert!(page.contains("<time datetime=\"2026-11-22T09:00:00Z\">22 November 2026</time>"));
        // The author's own day, not UTC's (which is already the 16th).
        assert!(
            page.contains("<time datetime=\"2026-11-15T23:30:00-08:00\">15 November 2026</time>")
        );
        assert!(page.contains(" · by <a href=\"https://ada.example/\">Ada</a>"));
        assert!(page.contains("<div class=\"summary\"><p>Summary <em>2</em></p></div>"));
        assert!(!page.contains("Content 2"), "summary shown, not content");
        assert_eq!(page.matches("<article>").count(), 2);
        check_structure(&page).unwrap();
    }

    #[test]
    fn without_summary_the_content_starts_as_text() {
        let mut e = post(1, "Long", "2026-11-22T09:00:00Z");
        e.summary_html = None;
        e.content_html = Some(format!(
            "<h2>Intro</h2><p>{}</p><pre>tail</pre>",
            "word ".repeat(400)
        ));
        let page = feed_page(&meta(Paging::Complete), &[&e], &[]);
        let start = page
            .find("<div class=\"summary\"><p>Intro word word")
            .unwrap();
        let end = start + page[start..].find("</div>").unwrap();
        let shown = &page[start..end];
        assert!(shown.ends_with("word…</p>"), "{shown}");
        assert!(!shown.contains("<h2>") && !page.contains("tail"));
        assert!(shown.chars().count() < EXCERPT_CHARS + 60);
    }

    #[test]
    fn via_and_related_links() {
        let local = post(1, "Week one", "2026-11-15T09:00:00Z");
        let agg = aggregated();
        let page = feed_page(&meta(Paging::Complete), &[&agg, &local], &alternates());
        assert!(page.contains(
            "<p class=\"via\">via <a href=\"https://github.com/etcd-io/etcd/releases/tag/v3.6.0\">etcd releases</a>, \
             <a href=\"https://planet.example/etcd-3-6\">Planet &lt;K8s&gt;</a></p>"
        ), "{page}");
        assert!(!page.contains("local notes"), "unpublished source shown");
        assert!(page.contains(
            "<p class=\"related\">related: <a href=\"https://example.org/1\">Week one</a>, \
             <a href=\"https://example.org/elsewhere\">https://example.org/elsewhere</a></p>"
        ));
        // No summary: the start of the content.
        assert!(page.contains("<div class=\"summary\"><p>Content 3</p></div>"));
        check_structure(&page).unwrap();
    }

    #[test]
    fn archive_pages_link_older_and_newer() {
        let e = post(1, "Old", "2020-01-01T00:00:00Z");
        let archive = Paging::Archive {
            prev_archive: Some("https://example.org/archive/main-1.html".into()),
            next_archive: Some("https://example.org/archive/main-3.html".into()),
            current: "https://example.org/main.html".into(),
        };
        let page = feed_page(&meta(archive), &[&e], &alternates());
        assert!(page.contains(
            "<nav class=\"pages\" aria-label=\"Archive\">\
             <a href=\"https://example.org/archive/main-1.html\">← Older entries</a>\
             <a href=\"https://example.org/archive/main-3.html\">Newer entries →</a>\
             <a href=\"https://example.org/main.html\">Latest entries</a></nav>"
        ));
        check_structure(&page).unwrap();

        let sub = Paging::Subscription {
            prev_archive: Some("https://example.org/archive/main-2.html".into()),
        };
        let page = feed_page(&meta(sub), &[&e], &alternates());
        assert!(page.contains("href=\"https://example.org/archive/main-2.html\">← Older entries"));
        assert!(!page.contains("Newer entries"));
        let page = feed_page(&meta(Paging::Complete), &[&e], &alternates());
        assert!(!page.contains("<nav"));
    }

    #[test]
    fn output_is_deterministic() {
        let a = aggregated();
        let b = post(1, "Week one", "2026-11-15T09:00:00Z");
        let m = meta(Paging::Subscription {
            prev_archive: Some("https://example.org/archive/main-1.atom".into()),
        });
        let one = feed_page(&m, &[&a, &b], &alternates());
        let two = feed_page(&m.clone(), &[&a.clone(), &b.clone()], &alternates());
        assert_eq!(one, two);
    }

    #[test]
    fn structure_check_catches_breakage() {
        assert!(check_structure("<!DOCTYPE html>\n<p><b></p></b>").is_err());
        assert!(check_structure("<!DOCTYPE html>\n<p>a < b</p>").is_err());
        assert!(check_structure("<!DOCTYPE html>\n<a href=\"x>y</a>").is_err());
        assert!(check_structure("<!DOCTYPE html>\n<div><br><img src=\"x\"></div>").is_ok());
    }

    fn feeds() -> Vec<FeedLink> {
        vec![
            FeedLink {
                title: "Main".into(),
                page_url: "https://example.org/main.html".into(),
                alternates: alternates(),
            },
            FeedLink {
                title: "Stream <all>".into(),
                page_url: "https://example.org/stream.html".into(),
                alternates: vec![Alternate {
                    format: Format::Atom,
                    url: "https://example.org/stream.atom".into(),
                }],
            },
        ]
    }

    #[test]
    fn index_lists_feeds_and_their_formats() {
        let page = index_page("Example & Co", Some("A site."), &feeds(), &[]);
        let head = &page[..page.find("</head>").unwrap()];
        assert_eq!(head.matches("<link rel=\"alternate\"").count(), 4);
        assert!(head.contains(
            "<link rel=\"alternate\" type=\"application/atom+xml\" \
             href=\"https://example.org/stream.atom\" title=\"Stream &lt;all&gt; (Atom)\">"
        ));
        assert!(page.contains("<h1>Example &amp; Co</h1>"));
        assert!(page.contains(
            "<a href=\"https://example.org/stream.html\"><strong>Stream &lt;all&gt;</strong></a>"
        ));
        assert!(page.contains(
            "<a href=\"https://example.org/main.rss\" type=\"application/rss+xml\">RSS</a>"
        ));
        assert!(!page.contains("<table>"), "no sources, no table");
        check_structure(&page).unwrap();
    }

    #[test]
    fn index_shows_source_health() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut ok = SourceState::new("https://a.example/feed", "A");
        ok.last_fetch = Some(t("2026-11-22T08:00:00Z"));
        ok.last_success = ok.last_fetch;
        ok.next_due = Some(t("2026-11-22T09:00:00Z"));
        ok.item_count = 12;
        let mut bad = SourceState::new("https://b.example/feed", "B");
        bad.last_fetch = Some(t("2026-11-22T08:05:00Z"));
        bad.last_error = Some("HTTP 503 <Service Unavailable>".into());
        bad.consecutive_failures = 3;
        let mut gone = SourceState::new("https://c.example/feed", "C");
        gone.disabled = Some("410 Gone".into());
        let rows = vec![
            Health {
                name: "A".into(),
                url: ok.url.clone(),
                state: Some(ok),
                push: None,
            },
            Health {
                name: "B".into(),
                url: bad.url.clone(),
                state: Some(bad),
                push: None,
            },
            Health {
                name: "C".into(),
                url: gone.url.clone(),
                state: Some(gone),
                push: None,
            },
            Health {
                name: "D".into(),
                url: "feeds/local/d.xml".into(),
                state: None,
                push: None,
            },
        ];
        let page = index_page("Site", None, &feeds(), &rows);
        assert!(page.contains(
            "<tr><td data-label=\"Source\"><a href=\"https://a.example/feed\">A</a>\
             <div class=\"url\">https://a.example/feed</div></td>\
             <td data-label=\"Status\" class=\"ok\">ok</td>\
             <td data-label=\"Items\" class=\"num\">12</td>\
             <td data-label=\"Last fetch\"><time datetime=\"2026-11-22T08:00:00Z\">2026-11-22 08:00 UTC</time></td>\
             <td data-label=\"Next due\"><time datetime=\"2026-11-22T09:00:00Z\">2026-11-22 09:00 UTC</time></td></tr>"
        ), "{page}");
        // A short reason; the whole error is the tooltip.
        assert!(page.contains(
            "<td data-label=\"Status\" class=\"failing\" title=\"HTTP 503 &lt;Service Unavailable&gt;\">failing (3x): HTTP 503</td>"
        ), "{page}");
        assert!(
            page.contains(
                "<td data-label=\"Status\" class=\"disabled\">disabled: 410 Gone, retried weekly</td>\
             <td data-label=\"Items\" class=\"num\">0</td>"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                "<tr><td data-label=\"Source\">D<div class=\"url\">feeds/local/d.xml</div></td>\
             <td data-label=\"Status\" class=\"never\">never fetched</td>"
            ),
            "{page}"
        );
        check_structure(&page).unwrap();
    }
}
