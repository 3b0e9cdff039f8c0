use std::net::SocketAddr;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{
    DiscoveryInfo, State, TaxiiError, api_root as find_root, media, taxii_response, to_json,
};
use crate::auth::Caller;

#[derive(Serialize)]
struct Discovery<'a> {
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    api_roots: Vec<String>,
}

/// TAXII 2.1 §4.1. `default` and `api_roots` are absolute URLs, as clients that
/// do not resolve relative URLs need: built from the configured `public_url`
/// when there is one (behind a TCP load balancer or NAT), otherwise from the
/// request's `Host` (scheme https). A `Host` that is not a well-formed
/// `host[:port]` is ignored in favour of the listen address.
pub async fn discovery(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let store = state.exchange.store().clone();
    let roots =
        super::blocking(move || store.api_roots().map_err(|e| TaxiiError::store(&e))).await?;
    let base = base_url(&req, &state.discovery);
    let url = |name: &str| format!("{base}/{name}/");
    let body = Discovery {
        title: &state.discovery.title,
        description: state.discovery.description.as_deref(),
        contact: state.discovery.contact.as_deref(),
        default: roots.iter().find(|r| r.is_default).map(|r| url(&r.name)),
        api_roots: roots.iter().map(|r| url(&r.name)).collect(),
    };
    Ok(taxii_response(StatusCode::OK, to_json(&body)?))
}

/// `scheme://authority` without a trailing slash.
fn base_url(req: &HttpRequest, discovery: &DiscoveryInfo) -> String {
    if let Some(public) = &discovery.public_url {
        return public.trim_end_matches('/').to_owned();
    }
    let requested = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match requested {
        Some(authority) if is_host_and_port(authority) => format!("https://{authority}"),
        _ => match discovery.listen {
            SocketAddr::V4(a) => format!("https://{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("https://[{}]:{}", a.ip(), a.port()),
        },
    }
}

/// `host[:port]` as a URL authority may carry it, without user information: a DNS
/// name (letters, digits, hyphens, dots; labels of 1 to 63), an IPv4 address or a
/// bracketed IPv6 address, and a port from 1 to 65535.
pub(crate) fn is_host_and_port(s: &str) -> bool {
    if s.is_empty() || s.len() > 260 {
        return false;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, p),
            None => (s, ""),
        }
    };
    let host_ok = host.is_empty() && s.starts_with('[')
        || (host.len() <= 253
            && host.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }));
    let port_ok = port.is_empty() && !s.ends_with(':')
        || (port.len() <= 5
            && port.bytes().all(|c| c.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)));
    host_ok && port_ok
}

#[derive(Serialize)]
struct ApiRootResource<'a> {
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    versions: [&'static str; 1],
    max_content_length: u64,
}

/// TAXII 2.1 §4.2.
pub async fn api_root(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let root = find_root(&caller, &path)?;
    let body = ApiRootResource {
        title: &root.title,
        description: root.description.as_deref(),
        versions: [media::TAXII_MEDIA_TYPE],
        max_content_length: root.max_content_length,
    };
    Ok(taxii_response(StatusCode::OK, to_json(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_make_a_url() {
        for ok in [
            "localhost",
            "localhost:8443",
            "exchange.port.example",
            "exchange.port.example:443",
            "127.0.0.1:8443",
            "[::1]:8443",
            "[2001:db8::7]",
            "EXCHANGE.Port.example",
        ] {
            assert!(is_host_and_port(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example/phish?",
            "evil.example:8443/x",
            "user@evil.example",
            "evil example",
            "evil.example:",
            "evil.example:0",
            "evil.example:65536",
            "evil.example:84x3",
            "evil.example:8443:1",
            "[::1",
            "[not-v6]:8443",
            "[::1]x",
            "a..b",
            ".evil.example",
            "-evil.example",
            "evil.example\r\nX-Injected: 1",
            "<script>",
            "%2e%2e",
        ] {
            assert!(!is_host_and_port(bad), "{bad}");
        }
        assert!(!is_host_and_port(&"a".repeat(300)));
    }
}
