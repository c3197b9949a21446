//! Properties of the parsers on arbitrary input.

use chrono::{FixedOffset, NaiveDate, TimeZone};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::path::Path;
use tributary::content::markdown::absolutize;
use tributary::content::{date::parse_date, parse_post, LoadOptions};
use url::Url;

/// 256 cases; failures are saved beside this file (tests/it/), not in tests/.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/it/proptest-regressions.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn opts() -> LoadOptions {
    LoadOptions {
        timezone: chrono_tz::UTC,
        hugo: None,
        jekyll: false,
    }
}

/// Text that looks like a post: a front-matter block of YAML-ish lines, then a body.
fn post_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "title: [ -~]{0,20}",
        "date: [0-9: +TZ-]{0,30}",
        "(tags|categories|author|image|slug|permalink|id|draft|published|feed_content|updated): [ -~]{0,20}",
        "[ -~]{0,30}",
        "  - [a-z]{0,5}",
    ];
    (
        proptest::collection::vec(line, 0..8),
        "[ -~\n\u{80}-\u{10ffff}]{0,80}",
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(lines, body, noise)| {
            let mut b = format!("---\n{}\n---\n{body}", lines.join("\n")).into_bytes();
            b.extend(noise);
            b
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_post_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let shown = Path::new("content/x.md");
        match parse_post(&bytes, shown, opts()) {
            Ok((post, warnings)) => {
                prop_assert!(!post.title.trim().is_empty());
                for w in warnings {
                    prop_assert_eq!(w.path.as_path(), shown);
                }
            }
            Err(d) => {
                prop_assert!(d.is_error());
                prop_assert_eq!(d.path.as_path(), shown);
            }
        }
    }

    #[test]
    fn parse_post_never_panics_on_post_like_text(bytes in post_like()) {
        let shown = Path::new("content/2020-01-01-x.md");
        match parse_post(&bytes, shown, opts()) {
            // A dated file name always gives a usable date, so an error is never about the date alone.
            Ok((post, _)) => prop_assert!(!post.title.is_empty()),
            Err(d) => {
                prop_assert!(!d.message.starts_with("no usable date"), "{}", d);
                prop_assert_eq!(d.path.as_path(), shown);
            }
        }
    }

    #[test]
    fn parse_date_never_panics(s in any::<String>()) {
        let _ = parse_date(&s, chrono_tz::UTC);
        let _ = parse_date(&s, chrono_tz::Europe::Berlin);
    }

    #[test]
    fn parse_date_never_panics_on_date_like_text(s in "[0-9]{0,5}(-[0-9]{0,3}){0,3}([ T][0-9:.,]{0,12})?( ?[-+Zz][0-9:]{0,6}| UTC)?") {
        let _ = parse_date(&s, chrono_tz::UTC);
        let _ = parse_date(&s, chrono_tz::America::New_York);
    }

    #[test]
    fn parse_date_round_trips_formatted_dates(
        y in 1000i32..=9999,
        ordinal in 1u32..=365,
        secs in 0u32..86_400,
        offset_min in -(23 * 60 + 59)..=(23 * 60 + 59),
    ) {
        let date = NaiveDate::from_yo_opt(y, ordinal).unwrap();
        let naive = date.and_hms_opt(secs / 3600, secs / 60 % 60, secs % 60).unwrap();
        let offset = FixedOffset::east_opt(offset_min * 60).unwrap();
        let dt = offset.from_local_datetime(&naive).single().unwrap();
        let text = dt.format("%Y-%m-%d %H:%M:%S %z").to_string();
        let back = parse_date(&text, chrono_tz::UTC);
        prop_assert_eq!(back.clone(), Ok(dt), "{}", text);
        prop_assert_eq!(*back.unwrap().offset(), *dt.offset());
        // The RFC 3339 form too.
        prop_assert_eq!(parse_date(&dt.to_rfc3339(), chrono_tz::UTC), Ok(dt));
    }

    #[test]
    fn absolutize_gives_an_absolute_https_url(href in relative_ref()) {
        let page = Url::parse("https://example.org/a/b").unwrap();
        let out = absolutize(&href, &page);
        if href.trim().is_empty() {
            prop_assert_eq!(out.as_ref(), href.as_str());
        } else {
            let u = Url::parse(&out);
            prop_assert!(u.is_ok(), "{:?} -> {:?}", href, out);
            let u = u.unwrap();
            prop_assert!(matches!(u.scheme(), "http" | "https"), "{:?} -> {}", href, u);
            prop_assert!(u.host_str().is_some(), "{:?} -> {}", href, u);
        }
    }
}

/// Relative references: path-absolute, relative, dot segments, query,
/// fragment, protocol-relative, odd characters.
fn relative_ref() -> impl Strategy<Value = String> {
    let seg = "[a-zA-Z0-9._~!$&'()*+,;=@%\\- äö日本]{0,10}";
    (
        prop_oneof![
            Just(""),
            Just("/"),
            Just("./"),
            Just("../"),
            Just("../../"),
            Just("//cdn.example.net/"),
            Just(" "),
        ],
        proptest::collection::vec(seg, 0..4),
        proptest::option::of("[a-z0-9=&%]{0,10}"),
        proptest::option::of("[a-z0-9 ]{0,10}"),
    )
        .prop_map(|(prefix, segs, q, f)| {
            let mut s = format!("{prefix}{}", segs.join("/"));
            if let Some(q) = q {
                s.push('?');
                s.push_str(&q);
            }
            if let Some(f) = f {
                s.push('#');
                s.push_str(&f);
            }
            // Keep network-path references (`//host/...`) to the one with a
            // valid host: the property is about paths, not about random hosts.
            let lead = s.len() - s.trim_start().len();
            while s[lead..].starts_with("//") && !s[lead..].starts_with("//cdn.example.net/") {
                s.remove(lead);
            }
            s
        })
}
