//! Entry ids. An id, once published, must never change: readers use it to
//! decide what is new. The schemes here make the first id of a post.

use crate::config::{IdScheme, SiteConfig};
use crate::content::Post;

/// The id a post gets under `scheme`. `url_path` is its site-relative permalink.
pub fn post_id(scheme: IdScheme, post: &Post, url_path: &str, site: &SiteConfig) -> String {
    if let Some(id) = &post.id {
        return id.trim().to_string();
    }
    match scheme {
        IdScheme::Permalink | IdScheme::Hugo => site.url_for(url_path),
        IdScheme::Jekyll => {
            // jekyll-feed: absolute_url(post.id), post.id = File.join(dirname(url), slug).
            let dir = match url_path.trim_end_matches('/').rfind('/') {
                Some(i) => &url_path[..i],
                None => "",
            };
            site.url_for(&format!("{dir}/{}", post.slug))
        }
        IdScheme::Tag => {
            let host = site
                .base_url
                .host_str()
                .unwrap_or("localhost")
                .to_ascii_lowercase();
            let day = post.date.with_timezone(&site.timezone).format("%Y-%m-%d");
            format!("tag:{host},{day}:{}", tag_escape(&post.slug))
        }
    }
}

/// Percent-encode what RFC 4151's `specific` part does not allow.
fn tag_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let ok = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
            );
        if ok {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_specific_is_escaped() {
        assert_eq!(tag_escape("a b/ü"), "a%20b/%C3%BC");
        assert_eq!(tag_escape("2024-01-16-update"), "2024-01-16-update");
    }
}
