//! Upstream feed documents for tests: one builder ([`Feed`] of [`Entry`]s)
//! that writes the same items as Atom, RSS 2.0 or JSON Feed, for the test
//! server to serve. Deliberately odd documents (hostile input) are written by
//! the tests that need them.

use chrono::DateTime;

/// `s` escaped for XML text.
pub fn xml(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// `s` escaped for a double-quoted XML attribute.
pub fn xml_attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// One upstream item. Dates are RFC 3339.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub id: String,
    pub title: String,
    pub link: String,
    /// Atom `<published>` (RSS `pubDate`, JSON `date_published`); none: the
    /// item carries only `updated`.
    pub published: Option<String>,
    pub updated: String,
    pub author: Option<String>,
    /// Plain text: Atom `<summary>`, RSS `<description>`, JSON `summary`.
    pub summary: Option<String>,
    /// HTML: Atom `<content type="html">`, RSS `<description>` (when there
    /// is no summary), JSON `content_html`.
    pub content_html: Option<String>,
    pub category: Option<String>,
}

impl Entry {
    /// An item with only `updated`.
    pub fn new(id: &str, title: &str, link: &str, updated: &str) -> Entry {
        Entry {
            id: id.to_string(),
            title: title.to_string(),
            link: link.to_string(),
            updated: updated.to_string(),
            ..Entry::default()
        }
    }

    /// Published and updated at `date`.
    pub fn published(mut self, date: &str) -> Entry {
        self.published = Some(date.to_string());
        self.updated = date.to_string();
        self
    }

    pub fn author(mut self, name: &str) -> Entry {
        self.author = Some(name.to_string());
        self
    }

    pub fn summary(mut self, text: &str) -> Entry {
        self.summary = Some(text.to_string());
        self
    }

    pub fn content_html(mut self, html: &str) -> Entry {
        self.content_html = Some(html.to_string());
        self
    }

    pub fn category(mut self, term: &str) -> Entry {
        self.category = Some(term.to_string());
        self
    }

    /// The item as an Atom `<entry>`.
    pub fn atom(&self) -> String {
        let mut out = format!(
            "<entry><id>{}</id><title>{}</title><link href=\"{}\"/>",
            xml(&self.id),
            xml(&self.title),
            xml_attr(&self.link)
        );
        if let Some(p) = &self.published {
            out.push_str(&format!("<published>{}</published>", xml(p)));
        }
        out.push_str(&format!("<updated>{}</updated>", xml(&self.updated)));
        if let Some(a) = &self.author {
            out.push_str(&format!("<author><name>{}</name></author>", xml(a)));
        }
        if let Some(c) = &self.category {
            out.push_str(&format!("<category term=\"{}\"/>", xml_attr(c)));
        }
        if let Some(s) = &self.summary {
            out.push_str(&format!("<summary>{}</summary>", xml(s)));
        }
        if let Some(h) = &self.content_html {
            out.push_str(&format!("<content type=\"html\">{}</content>", xml(h)));
        }
        out.push_str("</entry>");
        out
    }

    /// The RSS `pubDate`: published, else updated, as RFC 2822.
    fn rfc2822(&self) -> String {
        let date = self.published.as_deref().unwrap_or(&self.updated);
        DateTime::parse_from_rfc3339(date)
            .unwrap_or_else(|e| panic!("fixture date {date:?}: {e}"))
            .to_rfc2822()
    }
}

/// An upstream feed: its title, id (Atom `<id>`), home page (RSS channel
/// `<link>`, JSON `home_page_url`), `updated` and entries.
#[derive(Debug, Clone)]
pub struct Feed {
    pub title: String,
    pub id: String,
    pub home: String,
    pub updated: String,
    pub entries: Vec<Entry>,
}

impl Feed {
    /// A feed updated 2026-01-06, with home page `https://feed.example/`.
    pub fn new(title: &str, id: &str) -> Feed {
        Feed {
            title: title.to_string(),
            id: id.to_string(),
            home: "https://feed.example/".to_string(),
            updated: "2026-01-06T00:00:00Z".to_string(),
            entries: Vec::new(),
        }
    }

    pub fn home(mut self, url: &str) -> Feed {
        self.home = url.to_string();
        self
    }

    pub fn updated(mut self, date: &str) -> Feed {
        self.updated = date.to_string();
        self
    }

    pub fn entries(mut self, entries: impl IntoIterator<Item = Entry>) -> Feed {
        self.entries.extend(entries);
        self
    }

    /// The feed as an Atom document.
    pub fn atom(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <title>{}</title><id>{}</id><updated>{}</updated>\n",
            xml(&self.title),
            xml(&self.id),
            xml(&self.updated)
        );
        for e in &self.entries {
            out.push_str(&e.atom());
            out.push('\n');
        }
        out.push_str("</feed>\n");
        out
    }

    /// The feed as an RSS 2.0 document; an id equal to the link is a
    /// permalink guid. Authors are left out (RSS wants an email address).
    pub fn rss(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>{}</title>\
             <link>{}</link><description>d</description>\n",
            xml(&self.title),
            xml(&self.home)
        );
        for e in &self.entries {
            let permalink = if e.id == e.link { "true" } else { "false" };
            out.push_str(&format!(
                "<item><guid isPermaLink=\"{permalink}\">{}</guid><title>{}</title><link>{}</link>\
                 <pubDate>{}</pubDate>",
                xml(&e.id),
                xml(&e.title),
                xml(&e.link),
                e.rfc2822()
            ));
            if let Some(c) = &e.category {
                out.push_str(&format!("<category>{}</category>", xml(c)));
            }
            if let Some(d) = e.summary.as_ref().or(e.content_html.as_ref()) {
                out.push_str(&format!("<description>{}</description>", xml(d)));
            }
            out.push_str("</item>\n");
        }
        out.push_str("</channel></rss>\n");
        out
    }

    /// The feed as a JSON Feed 1.1 document.
    pub fn json(&self) -> String {
        let items: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut item = serde_json::json!({
                    "id": e.id,
                    "url": e.link,
                    "title": e.title,
                    "date_modified": e.updated,
                });
                let o = item.as_object_mut().expect("object");
                if let Some(p) = &e.published {
                    o.insert("date_published".into(), p.clone().into());
                }
                if let Some(a) = &e.author {
                    o.insert("authors".into(), serde_json::json!([{ "name": a }]));
                }
                if let Some(c) = &e.category {
                    o.insert("tags".into(), serde_json::json!([c]));
                }
                if let Some(s) = &e.summary {
                    o.insert("summary".into(), s.clone().into());
                }
                match (&e.content_html, &e.summary) {
                    (Some(h), _) => o.insert("content_html".into(), h.clone().into()),
                    (None, Some(s)) => o.insert("content_text".into(), s.clone().into()),
                    (None, None) => o.insert("content_text".into(), "".into()),
                };
                item
            })
            .collect();
        serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.title,
            "home_page_url": self.home,
            "items": items,
        })
        .to_string()
    }
}

/// One upstream item as a tuple: id, title, link, published (RFC 3339).
pub type Item<'a> = (&'a str, &'a str, &'a str, &'a str);

/// `items` as entries published at their date, by `Writer`, with the
/// summary `About TITLE.`, in a feed titled `title` (id `urn:feed:TITLE`).
pub fn feed(title: &str, items: &[Item]) -> Feed {
    Feed::new(title, &format!("urn:feed:{}", title.replace(' ', "-"))).entries(items.iter().map(
        |(id, t, link, date)| {
            Entry::new(id, t, link, date)
                .published(date)
                .author("Writer")
                .summary(&format!("About {t}."))
        },
    ))
}

/// An Atom document with `items` (see [`feed`]).
pub fn atom(title: &str, items: &[Item]) -> String {
    feed(title, items).atom()
}

/// An RSS 2.0 document with `items` (see [`feed`]), channel link
/// `https://rss.example/`.
pub fn rss(title: &str, items: &[Item]) -> String {
    feed(title, items).home("https://rss.example/").rss()
}

/// The builder itself: the three formats parse and carry the same items.
#[test]
fn the_three_formats_carry_the_same_items() {
    let feed = Feed::new("Both & more", "urn:both")
        .home("https://both.example/")
        .entries([
            Entry::new(
                "tag:both.example,2026:1",
                "One <b>",
                "https://both.example/1?a=1&b=\"2\"",
                "2026-01-02T10:00:00Z",
            )
            .summary("About one."),
            Entry::new(
                "https://both.example/2",
                "Two",
                "https://both.example/2",
                "",
            )
            .published("2026-01-03T10:00:00+02:00")
            .author("Writer")
            .category("t")
            .content_html("<p>Body \u{e9}</p>"),
        ]);
    let atom = atom_syndication::Feed::read_from(feed.atom().as_bytes()).expect("Atom");
    assert_eq!(atom.title().as_str(), "Both & more");
    assert_eq!(atom.id(), "urn:both");
    let ids: Vec<&str> = atom.entries().iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["tag:both.example,2026:1", "https://both.example/2"]);
    let one = &atom.entries()[0];
    assert_eq!(one.title().as_str(), "One <b>");
    assert_eq!(one.links()[0].href(), "https://both.example/1?a=1&b=\"2\"");
    assert!(one.published().is_none());
    assert_eq!(one.summary().map(|s| s.as_str()), Some("About one."));
    let two = &atom.entries()[1];
    assert_eq!(
        two.published().map(|d| d.to_rfc3339()),
        Some("2026-01-03T10:00:00+02:00".to_string())
    );
    assert_eq!(two.authors()[0].name(), "Writer");
    assert_eq!(two.categories()[0].term(), "t");
    assert_eq!(
        two.content().and_then(|c| c.value()),
        Some("<p>Body \u{e9}</p>")
    );

    let rss = rss::Channel::read_from(feed.rss().as_bytes()).expect("RSS");
    assert_eq!(rss.title(), "Both & more");
    assert_eq!(rss.link(), "https://both.example/");
    let guids: Vec<(&str, bool)> = rss
        .items()
        .iter()
        .map(|i| {
            let g = i.guid().expect("guid");
            (g.value(), g.is_permalink())
        })
        .collect();
    assert_eq!(
        guids,
        [
            ("tag:both.example,2026:1", false),
            ("https://both.example/2", true)
        ]
    );
    let dates: Vec<_> = rss
        .items()
        .iter()
        .map(|i| DateTime::parse_from_rfc2822(i.pub_date().expect("pubDate")).expect("date"))
        .collect();
    assert_eq!(dates[0].to_rfc3339(), "2026-01-02T10:00:00+00:00");
    assert_eq!(dates[1].to_rfc3339(), "2026-01-03T10:00:00+02:00");
    assert_eq!(rss.items()[0].description(), Some("About one."));
    assert_eq!(rss.items()[1].description(), Some("<p>Body \u{e9}</p>"));

    let json: serde_json::Value = serde_json::from_str(&feed.json()).expect("JSON");
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(json["title"], "Both & more");
    let items = json["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], "tag:both.example,2026:1");
    assert_eq!(items[0]["summary"], "About one.");
    assert_eq!(items[1]["date_published"], "2026-01-03T10:00:00+02:00");
    assert_eq!(items[1]["authors"][0]["name"], "Writer");
    assert_eq!(items[1]["content_html"], "<p>Body \u{e9}</p>");
}
