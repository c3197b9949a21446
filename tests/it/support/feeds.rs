//! Upstream feed documents for tests: Atom, RSS and JSON Feed built from
//! items, for the test server to serve.

use chrono::DateTime;

/// One upstream item: id, title, link, published (RFC 3339).
pub type Item<'a> = (&'a str, &'a str, &'a str, &'a str);

fn xml(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// An Atom document with `items`.
pub fn atom(title: &str, items: &[Item]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>{}</title><id>urn:feed:{}</id><updated>2026-01-06T00:00:00Z</updated>\n",
        xml(title),
        xml(&title.replace(' ', "-"))
    );
    for (id, t, link, date) in items {
        out.push_str(&format!(
            "<entry><id>{}</id><title>{}</title><link href=\"{}\"/>\
             <published>{date}</published><updated>{date}</updated>\
             <author><name>Writer</name></author>\
             <summary>About {}.</summary></entry>\n",
            xml(id),
            xml(t),
            xml(link),
            xml(t)
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// An RSS 2.0 document with `items`; an id equal to the link is a permalink guid.
pub fn rss(title: &str, items: &[Item]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>{}</title>\
         <link>https://rss.example/</link><description>d</description>\n",
        xml(title)
    );
    for (id, t, link, date) in items {
        let date = DateTime::parse_from_rfc3339(date)
            .expect("fixture date")
            .to_rfc2822();
        let permalink = if id == link { "true" } else { "false" };
        out.push_str(&format!(
            "<item><guid isPermaLink=\"{permalink}\">{}</guid><title>{}</title><link>{}</link>\
             <pubDate>{date}</pubDate><description>About {}.</description></item>\n",
            xml(id),
            xml(t),
            xml(link),
            xml(t)
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}
