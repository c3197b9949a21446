//! The optional XSLT stylesheet (`xslt: true`): a browser that opens the feed
//! URL itself renders it readably instead of showing raw XML. Browsers are
//! dropping XSLT, so the HTML page (`emit::html`) stays the main way.

/// Where the stylesheet is published, next to the feeds.
pub const FILE_NAME: &str = "feed.xsl";

/// XSLT 1.0 (all browsers ever had) for Atom 1.0 and RSS 2.0 documents.
/// Summaries are left out: they are escaped HTML, and showing them would need
/// `disable-output-escaping`, which Firefox ignores.
pub const STYLESHEET: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:variable name="title">
    <xsl:choose>
      <xsl:when test="/atom:feed"><xsl:value-of select="/atom:feed/atom:title"/></xsl:when>
      <xsl:otherwise><xsl:value-of select="/rss/channel/title"/></xsl:otherwise>
    </xsl:choose>
  </xsl:variable>

  <xsl:template match="/">
    <html>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/> (feed)</title>
        <style>
:root{color-scheme:light dark}
body{margin:0 auto;max-width:46rem;padding:1.5rem 1rem 3rem;font:1.0625rem/1.6 system-ui,-apple-system,'Segoe UI',sans-serif}
.note{border:1px solid #d8dadd;border-radius:.5rem;padding:.5rem 1rem}
article{border-top:1px solid #d8dadd;padding:1rem 0}
h2{font-size:1.15rem;margin:0 0 .25rem}
.meta{opacity:.75;font-size:.95rem}
        </style>
      </head>
      <body>
        <p class="note"><strong>This is a web feed.</strong> To follow it, copy the
          address from the address bar and paste it into your feed reader.</p>
        <h1><xsl:value-of select="$title"/></h1>
        <xsl:apply-templates select="/atom:feed | /rss/channel"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:feed">
    <xsl:if test="atom:subtitle"><p><xsl:value-of select="atom:subtitle"/></p></xsl:if>
    <xsl:variable name="home" select="atom:link[@rel='alternate' or not(@rel)][1]/@href"/>
    <xsl:if test="$home"><p><a href="{$home}">Visit the website</a></p></xsl:if>
    <xsl:apply-templates select="atom:entry"/>
    <xsl:if test="not(atom:entry)"><p>No entries yet.</p></xsl:if>
  </xsl:template>

  <xsl:template match="atom:entry">
    <xsl:variable name="date">
      <xsl:choose>
        <xsl:when test="atom:published"><xsl:value-of select="atom:published"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="atom:updated"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <article>
      <h2><a href="{atom:link[@rel='alternate' or not(@rel)][1]/@href}"><xsl:value-of select="atom:title"/></a></h2>
      <p class="meta">
        <time datetime="{$date}"><xsl:value-of select="substring($date, 1, 10)"/></time>
        <xsl:for-each select="atom:author/atom:name">
          <xsl:choose>
            <xsl:when test="position() = 1"> · by </xsl:when>
            <xsl:otherwise>, </xsl:otherwise>
          </xsl:choose>
          <xsl:value-of select="."/>
        </xsl:for-each>
      </p>
    </article>
  </xsl:template>

  <xsl:template match="channel">
    <xsl:if test="description"><p><xsl:value-of select="description"/></p></xsl:if>
    <xsl:if test="link"><p><a href="{link}">Visit the website</a></p></xsl:if>
    <xsl:apply-templates select="item"/>
    <xsl:if test="not(item)"><p>No entries yet.</p></xsl:if>
  </xsl:template>

  <xsl:template match="item">
    <article>
      <h2>
        <xsl:choose>
          <xsl:when test="link"><a href="{link}"><xsl:value-of select="title"/></a></xsl:when>
          <xsl:otherwise><xsl:value-of select="title"/></xsl:otherwise>
        </xsl:choose>
      </h2>
      <xsl:if test="pubDate"><p class="meta"><xsl:value-of select="pubDate"/></p></xsl:if>
    </article>
  </xsl:template>
</xsl:stylesheet>
"#;

/// `<?xml-stylesheet type="text/xsl" href="HREF"?>`.
pub fn processing_instruction(href: &str) -> String {
    format!(
        "<?xml-stylesheet type=\"text/xsl\" href=\"{}\"?>",
        html_escape::encode_double_quoted_attribute(href)
    )
}

/// `doc` with `pi` right after its `<?xml ...?>` declaration, or at the start
/// when there is none (a processing instruction may not precede it).
pub fn insert_after_declaration(doc: &[u8], pi: &str) -> Vec<u8> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let bom = if doc.starts_with(BOM) { BOM.len() } else { 0 };
    let body = &doc[bom..];
    // `<?xml-stylesheet` also starts with `<?xml`: the declaration is
    // `<?xml` followed by whitespace.
    let is_decl = body.starts_with(b"<?xml")
        && body
            .get(5)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let split = if is_decl {
        body.windows(2)
            .position(|w| w == b"?>")
            .map_or(bom, |i| bom + i + 2)
    } else {
        bom
    };
    let (before, after) = doc.split_at(split);
    let mut out = Vec::with_capacity(doc.len() + pi.len() + 2);
    out.extend_from_slice(before);
    if split > bom {
        out.push(b'\n');
    }
    out.extend_from_slice(pi.as_bytes());
    if !after.starts_with(b"\n") && !after.starts_with(b"\r\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(after);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Format;
    use crate::emit::{emit, FeedMeta, Paging};
    use crate::model::entry::{ContentMode, Entry};
    use chrono::DateTime;
    use quick_xml::events::Event;

    /// Every event of a document, or the first well-formedness error.
    fn events(doc: &[u8]) -> Result<Vec<Event<'static>>, String> {
        let mut r = quick_xml::Reader::from_reader(doc);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut depth = 0i32;
        loop {
            match r.read_event_into(&mut buf) {
                Ok(Event::Eof) if depth == 0 => return Ok(out),
                Ok(Event::Eof) => return Err(format!("{depth} elements left open")),
                Ok(e) => {
                    match &e {
                        Event::Start(_) => depth += 1,
                        Event::End(_) => depth -= 1,
                        _ => {}
                    }
                    out.push(e.into_owned());
                }
                Err(e) => return Err(e.to_string()),
            }
            buf.clear();
        }
    }

    #[test]
    fn stylesheet_is_well_formed_xslt() {
        let ev = events(STYLESHEET.as_bytes()).unwrap();
        let root = ev
            .iter()
            .find_map(|e| match e {
                Event::Start(s) => Some(String::from_utf8_lossy(s.name().as_ref()).into_owned()),
                _ => None,
            })
            .unwrap();
        assert_eq!(root, "xsl:stylesheet");
        assert!(STYLESHEET.contains("version=\"1.0\""));
        assert!(events(b"<a><b></a>").is_err(), "the check can fail");
    }

    #[test]
    fn processing_instruction_escapes_its_href() {
        assert_eq!(
            processing_instruction("/feed.xsl"),
            "<?xml-stylesheet type=\"text/xsl\" href=\"/feed.xsl\"?>"
        );
        let pi = processing_instruction("a?>b\"&");
        assert!(!pi[..pi.len() - 2].contains("?>"), "{pi}");
        assert!(pi.contains("href=\"a?&gt;b&quot;&amp;\""));
    }

    #[test]
    fn pi_goes_after_the_declaration() {
        let pi = processing_instruction("feed.xsl");
        let doc = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><feed/>";
        let out = insert_after_declaration(doc, &pi);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{pi}\n<feed/>")
        );
        let ev = events(&out).unwrap();
        assert!(matches!(ev[0], Event::Decl(_)));
        assert!(ev.iter().any(|e| matches!(e, Event::PI(_))));

        let doc = b"<?xml version=\"1.0\"?>\n<rss/>";
        let out = insert_after_declaration(doc, &pi);
        assert_eq!(
            out,
            format!("<?xml version=\"1.0\"?>\n{pi}\n<rss/>").into_bytes()
        );
    }

    #[test]
    fn pi_goes_first_without_a_declaration() {
        let pi = processing_instruction("feed.xsl");
        let out = insert_after_declaration(b"<?xml-stylesheet href=\"x.css\"?><rss/>", &pi);
        assert_eq!(
            out,
            format!("{pi}\n<?xml-stylesheet href=\"x.css\"?><rss/>").into_bytes()
        );
        let out = insert_after_declaration(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><rss/>", &pi);
        assert_eq!(
            out,
            format!("\u{FEFF}<?xml version=\"1.0\"?>\n{pi}\n<rss/>").into_bytes()
        );
        assert_eq!(
            insert_after_declaration(b"", &pi),
            format!("{pi}\n").into_bytes()
        );
    }

    fn documents() -> Vec<(Format, Vec<u8>)> {
        let d = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        let entry = |n: u32, title: &str, day: &str| Entry {
            id: format!("https://example.org/{n}"),
            url: format!("https://example.org/{n}"),
            title: title.into(),
            summary_html: Some("<p>Summary</p>".into()),
            published: d(day),
            updated: d(day),
            authors: vec![crate::model::entry::Person::parse("Ada")],
            ..Entry::default()
        };
        let a = entry(2, "Week Two & more", "2026-11-22T09:00:00Z");
        let b = entry(1, "Week One", "2026-11-15T09:00:00Z");
        Format::ALL[..2]
            .iter()
            .map(|&format| {
                let url = format!("https://example.org/main.{}", format.extension());
                let meta = FeedMeta {
                    id: url.clone(),
                    title: "Example Weekly".into(),
                    description: Some("Weekly notes.".into()),
                    language: Some("en".into()),
                    home_url: "https://example.org/".into(),
                    self_url: url.clone(),
                    subscription_url: url,
                    authors: vec![],
                    updated: d("2026-11-22T09:00:00Z"),
                    content: ContentMode::Both,
                    paging: Paging::Complete,
                    hub: None,
                };
                let doc = emit(format, &meta, &[&a, &b]).unwrap();
                (
                    format,
                    insert_after_declaration(&doc, &processing_instruction(FILE_NAME)),
                )
            })
            .collect()
    }

    #[test]
    fn emitted_feeds_with_the_pi_stay_well_formed() {
        for (format, doc) in documents() {
            let ev = events(&doc).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert!(matches!(ev[0], Event::Decl(_)), "{format:?}");
        }
    }

    /// The browser's job, done by libxslt (what Chromium and WebKit use):
    /// `xsltproc` without a stylesheet argument follows the PI.
    #[test]
    fn xsltproc_renders_atom_and_rss() {
        if std::process::Command::new("xsltproc")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("skipped: xsltproc is not installed (apt-get install xsltproc)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), STYLESHEET).unwrap();
        for (format, doc) in documents() {
            let path = dir.path().join(format!("main.{}", format.extension()));
            std::fs::write(&path, &doc).unwrap();
            let out = std::process::Command::new("xsltproc")
                .arg(&path)
                .output()
                .unwrap();
            let html = String::from_utf8(out.stdout).unwrap();
            assert!(
                out.status.success(),
                "{format:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(html.starts_with("<!DOCTYPE html"), "{format:?}: {html}");
            assert!(
                html.contains("<h1>Example Weekly</h1>"),
                "{format:?}: {html}"
            );
            assert!(html.contains("This is a web feed."));
            let two = html
                .find(">Week Two &amp; more</a>")
                .unwrap_or_else(|| panic!("{html}"));
            let one = html.find(">Week One</a>").unwrap();
            assert!(two < one, "entries keep the feed's order");
            assert!(html.contains("href=\"https://example.org/2\""), "{html}");
            match format {
                Format::Atom => assert!(html.contains(">2026-11-22</time>"), "{html}"),
                _ => assert!(html.contains("Sun, 22 Nov 2026 09:00:00"), "{html}"),
            }
        }
    }
}
