//! The page shell and the small pieces every page uses. maud escapes every
//! interpolated value; nothing here builds HTML from strings.

use maud::{DOCTYPE, Markup, html};

use super::{Viewer, assets};
use crate::model::{CollectionId, Tier, Timestamp};

/// Which navigation entry is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Submissions,
    Members,
    Audit,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · Breakwater" }
            link rel="stylesheet" href=(assets::url("console.css"));
            link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
        }
    }
}

/// A page for a signed-in viewer.
pub fn page(viewer: &Viewer, nav: Nav, title: &str, content: Markup) -> Markup {
    page_with(viewer, nav, title, None, content)
}

/// A page that refreshes its content whenever the live stream at `live`
/// (`/console/live...`) says one of its collections changed. Without
/// JavaScript it is the same page, refreshed by reloading.
pub fn live_page(viewer: &Viewer, nav: Nav, title: &str, live: &str, content: Markup) -> Markup {
    page_with(viewer, nav, title, Some(live), content)
}

fn page_with(
    viewer: &Viewer,
    nav: Nav,
    title: &str,
    live: Option<&str>,
    content: Markup,
) -> Markup {
    let member = viewer.member();
    let operator = viewer.operator().is_some();
    let item = |target: Nav, href: &str, text: &str| {
        html! { a href=(href) class=[(nav == target).then_some("active")] { (text) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/console/" {
                        img src=(assets::url("icon.svg")) alt="";
                        "Breakwater"
                    }
                    nav {
                        (item(Nav::Overview, "/console/", "Overview"))
                        (item(Nav::Submissions, "/console/submissions/", if operator { "Submissions" } else { "My submissions" }))
                        @if operator {
                            (item(Nav::Members, "/console/members/", "Members"))
                            (item(Nav::Audit, "/console/audit/", "Audit"))
                        }
                    }
                    span.who {
                        (member.name) " · " (member.sector)
                        @if operator { " · operator" }
                    }
                    @if viewer.session {
                        form method="post" action="/console/logout" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main data-live=[live] { (content) }
                footer {
                    "Read-only console. Times are UTC. "
                    @if live.is_some() {
                        span #live-state { "This page updates as objects arrive." }
                        script src=(assets::url("live.js")) defer {}
                    } @else {
                        "Reload to refresh."
                    }
                }
            }
        }
    }
}

/// A page with no viewer (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/console/" {
                        img src=(assets::url("icon.svg")) alt="";
                        "Breakwater"
                    }
                }
                main { (content) }
            }
        }
    }
}

pub fn tier_badge(tier: Tier) -> Markup {
    html! { span class={ "badge tier-" (tier.slug()) } { (tier.label()) } }
}

pub fn type_badge(object_type: &str) -> Markup {
    html! { span.badge.type { (object_type) } }
}

/// `2026-03-02 08:15:00Z`: seconds are enough for people.
pub fn when(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%d %H:%M:%SZ").to_string()
}

pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Percent-encodes one path segment (STIX ids from content are untrusted).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn collection_url(collection: CollectionId) -> String {
    format!("/console/collections/{collection}/")
}

pub fn object_url(collection: CollectionId, object_id: &str) -> String {
    format!(
        "/console/collections/{collection}/objects/{}/",
        segment(object_id)
    )
}

/// A link to a URL found in content, only for http and https; anything
/// else (`javascript:`, `data:`, relative paths) is shown as text.
pub fn external_link(url: &str) -> Markup {
    let lower = url.trim_start().to_ascii_lowercase();
    let safe = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    html! {
        @if safe {
            a href=(url) rel="noopener noreferrer nofollow" target="_blank" { (url) }
        } @else {
            code { (url) }
        }
    }
}

/// Truncates to `max` characters, with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Parses a time typed into a filter: RFC 3339, a `datetime-local` value
/// (`2026-03-02T08:15`, taken as UTC) or a date.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Some(t);
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(Timestamp::from_datetime(dt.and_utc()));
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Timestamp::from_datetime(dt.and_utc()))
}

/// The value for a `datetime-local` input.
pub fn time_input(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_datetime().format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_become_links() {
        for url in ["https://example.org/a?b=c", "HTTP://example.org"] {
            assert!(
                external_link(url).into_string().starts_with("<a href="),
                "{url}"
            );
        }
        for url in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/x",
            "https://exa mple.org",
        ] {
            let html = external_link(url).into_string();
            assert!(html.starts_with("<code>"), "{url} -> {html}");
            assert!(!html.contains("<script"), "{html}");
        }
        // Quotes cannot break out of the attribute.
        let html = external_link("https://example.org/\"onmouseover=\"alert(1)").into_string();
        assert!(html.contains("href=\"https://example.org/&quot;onmouseover=&quot;alert(1)\""));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("indicator--1a2b"), "indicator--1a2b");
        assert_eq!(segment("../x?y=<z>"), "..%2Fx%3Fy%3D%3Cz%3E");
    }

    #[test]
    fn filter_times_accept_what_browsers_send() {
        let expected = Timestamp::parse("2026-03-02T08:15:00Z").unwrap();
        assert_eq!(parse_time("2026-03-02T08:15"), Some(expected));
        assert_eq!(parse_time("2026-03-02T08:15:00.000Z"), Some(expected));
        assert_eq!(
            parse_time("2026-03-02"),
            Some(Timestamp::parse("2026-03-02T00:00:00Z").unwrap())
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(time_input(Some(expected)), "2026-03-02T08:15");
    }

    #[test]
    fn numbers_and_clips() {
        assert_eq!(number(0), "0");
        assert_eq!(number(1234567), "1,234,567");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
