//! Date parsing (upstream and front matter): never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = tributary::parse::date::parse_date(s);
        let _ = tributary::content::date::parse_date(s, chrono_tz::UTC);
        let _ = tributary::content::date::parse_date_lenient(s, chrono_tz::Europe::Berlin);
    }
});
