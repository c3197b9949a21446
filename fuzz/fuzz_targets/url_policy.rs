//! The URL policy: whatever the sanitizer publishes passes the policy
//! unchanged (no URL it resolves can be refused), the policy is idempotent,
//! and a URL it calls web is an http(s) URL with a host.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tributary::parse::sanitize::sanitize_html;
use tributary::model::urlpolicy::{self, Use};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is a base, the rest HTML (the seeds are whole feeds and
    // posts, so most bases are not URLs at all: no base).
    let (base, html) = s.split_once('\n').unwrap_or(("", s));
    let base = url::Url::parse(base.trim()).ok();
    let clean = sanitize_html(html, base.as_ref());
    assert_eq!(urlpolicy::html(&clean), clean.as_str(), "the sanitizer published a refused URL");
    let once = urlpolicy::html(html).into_owned();
    assert_eq!(urlpolicy::html(&once), once.as_str());
    if urlpolicy::is_web(base.as_ref().map_or("", |b| b.as_str())) {
        let b = base.as_ref().unwrap();
        assert!(matches!(b.scheme(), "http" | "https") && b.host_str().is_some());
    }
    let _ = urlpolicy::allowed(html, Use::Person);
});
