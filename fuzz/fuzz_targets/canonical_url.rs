//! URL canonicalization: never panics, and is idempotent.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(c) = tributary::merge::canonical_url(s) {
            assert_eq!(
                tributary::merge::canonical_url(&c).as_deref(),
                Some(c.as_str())
            );
        }
    }
});
