//! The web page at `/`: one embedded HTML file (`page.html`) with its script
//! and style inline, for a Raspberry Pi owner without LuCI. It holds no data:
//! it asks the JSON API with the token the owner types in (kept in the tab's
//! `sessionStorage` only).
//!
//! The CSP allows exactly the page's own inline script and style, by their
//! SHA-256 (computed once, at the first request), and connections to the same
//! origin: no other script, no frame, no form target, no external font or
//! image can run or load, even if a record's text made it into the page.

use std::sync::OnceLock;

use base64::Engine as _;

use crate::http::Response;

/// The page, embedded in the binary.
pub const PAGE: &str = include_str!("page.html");

/// The page's Content-Security-Policy, with the hashes of its inline parts.
fn policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = |tag: &str| {
            let hashes: Vec<String> = inline_blocks(PAGE, tag)
                .map(|block| {
                    let digest = ring::digest::digest(&ring::digest::SHA256, block.as_bytes());
                    let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
                    format!("'sha256-{encoded}'")
                })
                .collect();
            hashes.join(" ")
        };
        format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash("script"),
            hash("style")
        )
    })
}

/// The contents of every `<tag>…</tag>` block (the page's own, written
/// without attributes).
fn inline_blocks<'p>(page: &'p str, tag: &str) -> impl Iterator<Item = &'p str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut rest = page;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let length = rest[start..].find(&close)?;
        let block = &rest[start..start + length];
        rest = &rest[start + length + close.len()..];
        Some(block)
    })
}

pub fn response() -> Response {
    let mut response = Response::text(200, PAGE);
    response.content_type = "text/html; charset=utf-8";
    let headers = [
        ("Content-Security-Policy", policy().to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("X-Frame-Options", "DENY".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
    ];
    response.headers.extend(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_hashes_each_inline_block() {
        let page = "<style>a</style><script>b</script><script>c</script>";
        assert_eq!(
            inline_blocks(page, "script").collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(inline_blocks(page, "style").collect::<Vec<_>>(), ["a"]);
        let policy = policy();
        assert!(policy.contains("script-src 'sha256-"), "{policy}");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }
}
