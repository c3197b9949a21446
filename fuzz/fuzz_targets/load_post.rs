//! Front matter + Markdown: loading and rendering a post never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tributary::content::{parse_post, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        timezone: chrono_tz::UTC,
        hugo: None,
        jekyll: false,
    };
    if let Ok((post, _)) = parse_post(data, Path::new("content/2020-01-01-fuzz.md"), opts) {
        let page = url::Url::parse("https://example.org/2020/01/01/fuzz/").unwrap();
        let _ = tributary::content::markdown::markdown(&post.body, &page);
    }
});
