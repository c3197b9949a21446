//! The upstream parser held to feedparser's own well-formed suite (issue 22),
//! and what it makes of titles whatever markup they carry.

use crate::support::feedparser_suite;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::path::Path;
use tributary::parse::parse_upstream;

/// The suite's pass rate (titles compared as text) may not fall below this.
const MIN_PASS_RATE: f64 = 0.95;
/// Share of the suite's 1,749 tests that must be applicable, once the runner
/// reads the fields `parse --jsonl` prints besides the first six.
const MIN_APPLICABLE: f64 = 0.60;
/// Applicable tests when the runner maps only title, link, id and the two
/// dates (its `PROVIDED` set): the floor until it reads more.
const MIN_APPLICABLE_SIX_FIELDS: u64 = 323;

#[test]
fn feedparser_suite_passes() {
    let run = match feedparser_suite::runner() {
        Ok(r) => r,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let binary = Path::new(env!("CARGO_BIN_EXE_tributary"));
    let (code, summary, stderr) = feedparser_suite::run(&run, binary, MIN_PASS_RATE);
    let total = &summary["total"];
    assert!(
        total.is_object(),
        "no JSON summary (exit {code:?}): {stderr}"
    );
    let rate = total["pass_rate_title_as_text"].as_f64().unwrap_or(0.0);
    let applicable = total["applicable"].as_u64().unwrap_or(0);
    let tests = total["tests"].as_u64().unwrap_or(0);
    println!(
        "feedparser suite: {applicable} of {tests} applicable, pass rate (titles as text) {:.1}%",
        rate * 100.0
    );
    assert_eq!(
        code,
        Some(0),
        "run.py --min-pass-rate {MIN_PASS_RATE}: {stderr}"
    );
    assert!(
        rate >= MIN_PASS_RATE,
        "pass rate {rate:.3} < {MIN_PASS_RATE}"
    );
    let six_fields = feedparser_suite::runner_source(&run)
        .contains(r#"PROVIDED = {"title", "title_detail", "link", "id", "updated_parsed", "published_parsed"}"#);
    if six_fields {
        println!(
            "note: run.py maps only six --jsonl fields, so at most ~{MIN_APPLICABLE_SIX_FIELDS} tests \
             are applicable whatever else tributary prints; the {:.0}% floor applies once it reads more",
            MIN_APPLICABLE * 100.0
        );
        assert!(
            applicable >= MIN_APPLICABLE_SIX_FIELDS,
            "{applicable} applicable"
        );
    } else {
        assert!(
            applicable as f64 >= MIN_APPLICABLE * tests as f64,
            "{applicable} of {tests} applicable"
        );
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/it/proptest-regressions.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Standard base64, for the Atom `mode="base64"` shape.
fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every way a feed carries a title as HTML: one document per way, with the
/// same markup `html` as the feed's and the item's title. (A title escaped
/// as text — Atom `type="text"`, or HTML escaped once more — is text, and
/// shows its `<script>` as characters: not script.)
fn documents(html: &str) -> Vec<String> {
    let esc = xml_escape(html);
    let cdata = html.replace("]]>", "]]&gt;");
    let b64 = base64(html.as_bytes());
    vec![
        format!("<rss version=\"2.0\"><channel><title>{esc}</title><item><title>{esc}</title></item></channel></rss>"),
        format!("<rss><channel><title><![CDATA[{cdata}]]></title><item><title><![CDATA[{cdata}]]></title></item></channel></rss>"),
        format!("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">{esc}</title><entry><id>x</id><title type=\"html\">{esc}</title></entry></feed>"),
        format!("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">{html}</div></title><entry><id>x</id><title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">{html}</div></title></entry></feed>"),
        format!("<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><title mode=\"escaped\" type=\"text/html\">{esc}</title><entry><title mode=\"base64\">{b64}</title></entry></feed>"),
        format!("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\"><channel><title>{esc}</title></channel><item rdf:about=\"x\"><title>{html}</title></item></rdf:RDF>"),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// No title the parser outputs — feed or item, in any format — holds any
    /// of the text inside a `<script>` or `<style>` element of its markup.
    #[test]
    fn no_title_holds_script_or_style_text(
        before in "[A-Za-z ]{0,8}",
        after in "[A-Za-z ]{0,8}",
        tag in "script|style|SCRIPT|sTyLe",
        attrs in "( (type|src|title|media)=(\"[^\"<&]{0,6}\"|'[a-z>/ ]{0,6}'|[a-z]{1,4}))*",
        body in "[a-z(){};=+'\" ]{0,12}",
        wrap in proptest::sample::select(vec!["", "p", "div", "b"]),
    ) {
        let inner = format!("<{tag}{attrs}>QQSECRET{body}</{tag}>");
        let inner = if wrap.is_empty() { inner } else { format!("<{wrap}>{inner}</{wrap}>") };
        let html = format!("{before}{inner}{after}");
        for doc in documents(&html) {
            let f = parse_upstream(doc.as_bytes(), None)
                .map_err(|e| TestCaseError::fail(format!("{doc}: {e}")))?;
            let titles = f.title.iter().chain(f.items.iter().filter_map(|i| i.title.as_ref()));
            for t in titles {
                prop_assert!(!t.contains("QQSECRET"), "{doc}\n-> title {t:?}");
            }
        }
    }
}

/// `tributary parse --jsonl` prints what the store keeps in feedparser's
/// names and shapes, beside the keys the runner reads (issue 22).
#[test]
fn parse_jsonl_prints_every_stored_field_in_feedparser_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rss = dir.path().join("pod.rss");
    std::fs::write(
        &rss,
        r#"<rss version="2.0"><channel><title>Pod</title><link>https://pod.example/</link>
<description>About</description><copyright>CC-BY</copyright><language>en</language>
<generator>Gen</generator><image><url>https://pod.example/logo.png</url><title>Pod</title>
<link>https://pod.example/</link></image>
<item><title>Ep</title><link>https://pod.example/1</link><pubDate>Fri, 02 Jan 2026 10:00:00 GMT</pubDate>
<category domain="https://pod.example/t">sci</category>
<enclosure url="https://pod.example/1.mp3" length="42" type="audio/mpeg"/>
<source url="https://up.example/feed">Up</source></item></channel></rss>"#,
    )
    .expect("write");
    let atom = dir.path().join("a.atom");
    std::fs::write(
        &atom,
        r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr"><title>A</title><id>urn:a</id>
<entry><id>urn:a:1</id><title>Un</title><link href="https://a.example/1"/>
<link rel="enclosure" href="https://a.example/1.pdf" type="application/pdf" length="9"/>
<category term="x" scheme="https://a.example/s" label="Ex"/>
<contributor><name>Bo</name></contributor><updated>2026-01-02T03:04:05+01:00</updated>
<content type="html">&lt;p&gt;c&lt;/p&gt;</content>
<source><id>urn:src</id><title>Src</title></source></entry></feed>"#,
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("parse")
        .arg("--jsonl")
        .arg(&rss)
        .arg(&atom)
        .output()
        .expect("run tributary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");

    let (feed, e) = (&lines[0]["feed"], &lines[0]["entries"][0]);
    assert_eq!(feed["subtitle"], "About");
    assert_eq!(feed["rights"], "CC-BY");
    assert_eq!(feed["language"], "en");
    assert_eq!(feed["generator"], "Gen");
    assert_eq!(feed["image"]["href"], "https://pod.example/logo.png");
    assert_eq!(feed["image"]["link"], "https://pod.example/");
    assert_eq!(e["published"], "2026-01-02T10:00:00Z");
    assert_eq!(e["published_raw"], "Fri, 02 Jan 2026 10:00:00 GMT");
    assert_eq!(
        e["enclosures"],
        serde_json::json!([{"href": "https://pod.example/1.mp3", "type": "audio/mpeg", "length": "42"}])
    );
    assert_eq!(e["links"][0]["rel"], "alternate");
    assert_eq!(e["links"][0]["href"], "https://pod.example/1");
    assert_eq!(e["links"][1]["rel"], "enclosure");
    assert_eq!(e["tags"][0]["scheme"], "https://pod.example/t");
    assert!(e["tags"][0]["label"].is_null());
    assert_eq!(e["source"]["title"], "Up");
    assert_eq!(e["source"]["href"], "https://up.example/feed");

    let (feed, e) = (&lines[1]["feed"], &lines[1]["entries"][0]);
    assert_eq!(feed["language"], "fr");
    assert_eq!(e["updated"], "2026-01-02T02:04:05Z");
    assert_eq!(e["updated_raw"], "2026-01-02T03:04:05+01:00");
    assert_eq!(e["enclosures"][0]["length"], "9");
    assert_eq!(e["links"][1]["type"], "application/pdf");
    assert_eq!(e["tags"][0]["label"], "Ex");
    assert_eq!(e["contributors"][0]["name"], "Bo");
    assert_eq!(e["content"][0]["language"], "fr");
    assert_eq!(e["source"]["id"], "urn:src");
    // The keys the runner reads are where they were.
    for k in [
        "title",
        "link",
        "id",
        "id_generated",
        "updated",
        "published",
    ] {
        assert!(e.get(k).is_some(), "{k} in {e}");
    }
}
