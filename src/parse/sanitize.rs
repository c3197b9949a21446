//! Upstream HTML is hostile: ammonia's allow-list keeps the markup readers
//! render and drops scripts, event handlers, `style`, iframes, forms and any
//! URL scheme outside http(s)/mailto and friends (so no `javascript:` or
//! `data:`). Relative URLs are made absolute against the element's base.

use ammonia::{Builder, UrlRelative};
use url::Url;

thread_local! {
    /// Building the allow-lists costs more than cleaning a typical item, so
    /// each thread keeps one cleaner. Relative URLs pass through it and are
    /// resolved afterwards, since the base differs from element to element.
    static CLEANER: Builder<'static> = {
        let mut b = Builder::default();
        b.url_relative(UrlRelative::PassThrough);
        b
    };
}

/// Sanitized HTML; relative URLs resolved against `base` when there is one
/// (left relative otherwise, as ammonia's default does).
pub fn sanitize_html(html: &str, base: Option<&Url>) -> String {
    let clean = CLEANER.with(|b| b.clean(html).to_string());
    let clean = match base {
        Some(base) => crate::render::absolutize_html(clean, base),
        None => clean,
    };
    crate::render::xml_clean_owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_markup_is_removed() {
        let base = Url::parse("https://example.org/blog/post").unwrap();
        let html = r#"<p onclick="x()">Hi <a href="javascript:alert(1)">j</a>
            <a href="/about">rel</a><img src="data:image/png;base64,AA" onerror="y()">
            <script>alert(2)</script><iframe src="https://evil/"></iframe>
            <form action="/f"><input name="q"></form><span style="color:red">s</span></p>"#;
        let out = sanitize_html(html, Some(&base));
        for bad in [
            "onclick",
            "javascript:",
            "data:",
            "onerror",
            "<script",
            "alert(2)",
            "<iframe",
            "<form",
            "<input",
            "style=",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(out.contains(r#"href="https://example.org/about""#), "{out}");
        assert!(out.contains("Hi"));
    }

    #[test]
    fn no_base_never_keeps_javascript() {
        let out = sanitize_html(
            r#"<a href="JavaScript:evil()">x</a><a href="rel">y</a>"#,
            None,
        );
        assert!(!out.to_ascii_lowercase().contains("javascript"), "{out}");
    }
}
