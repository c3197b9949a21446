//! Any bytes as an upstream feed: parsed or refused, never a panic; every
//! item becomes an entry with an id.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = url::Url::parse("https://example.org/feed.xml").unwrap();
    if let Ok(feed) = tributary::parse::parse_upstream(data, Some(&base)) {
        for item in feed.items {
            let e = item.into_entry(
                tributary::Source::default(),
                chrono::DateTime::UNIX_EPOCH.fixed_offset(),
            );
            assert!(!e.id.is_empty());
        }
    }
});
