//! TAXII media types: Accept negotiation (406) and Content-Type checks (415).

use actix_web::HttpRequest;
use actix_web::http::header;

use super::error::{Code, TaxiiError};

pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// One media range of an Accept header, or a Content-Type.
struct MediaRange<'a> {
    essence: String,
    version: Option<&'a str>,
    q: f32,
}

fn parse_range(text: &str) -> Option<MediaRange<'_>> {
    let mut parts = text.split(';');
    let essence = parts.next()?.trim().to_ascii_lowercase();
    if essence.is_empty() {
        return None;
    }
    let mut version = None;
    let mut q = 1.0;
    for param in parts {
        let (k, v) = param.split_once('=')?;
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(v),
            "q" => q = v.parse().ok()?,
            _ => {}
        }
    }
    Some(MediaRange {
        essence,
        version,
        q,
    })
}

fn is_taxii(range: &MediaRange<'_>) -> bool {
    range.essence == "application/taxii+json" && range.version.is_none_or(|v| v == "2.1")
}

/// TAXII 2.1 §3.1: the response is always the TAXII media type, so any Accept
/// that admits it passes — lists with spaces, `q=` weights, `*/*`, and the bare
/// type (which means the latest version). No Accept header is treated as `*/*`.
pub fn require_accept(req: &HttpRequest) -> Result<(), TaxiiError> {
    let values: Vec<&str> = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return Ok(());
    }
    let acceptable = values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(parse_range)
        .any(|r| r.q > 0.0 && (is_taxii(&r) || r.essence == "*/*" || r.essence == "application/*"));
    if acceptable {
        Ok(())
    } else {
        Err(TaxiiError::new(
            Code::NotAcceptable,
            format!(
                "this server answers only with {TAXII_MEDIA_TYPE}; include it in the Accept header"
            ),
        ))
    }
}

/// A POST body must be declared as the TAXII media type.
pub fn require_taxii_content_type(req: &HttpRequest) -> Result<(), TaxiiError> {
    let ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range)
        .is_some_and(|r| is_taxii(&r));
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            Code::UnsupportedMediaType,
            format!("send the envelope with Content-Type: {TAXII_MEDIA_TYPE}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn accept(value: &str) -> Result<(), TaxiiError> {
        require_accept(
            &TestRequest::default()
                .insert_header((header::ACCEPT, value))
                .to_http_request(),
        )
    }

    #[test]
    fn accept_variants_real_clients_send() {
        for ok in [
            "application/taxii+json;version=2.1",
            "application/taxii+json; version=2.1",
            "application/taxii+json",
            "application/json, application/taxii+json;version=2.1;q=0.9",
            "*/*",
            "application/taxii+json;version=2.1,application/stix+json;version=2.1",
            "APPLICATION/TAXII+JSON;VERSION=2.1",
        ] {
            assert!(accept(ok).is_ok(), "{ok}");
        }
        for bad in [
            "application/json",
            "application/taxii+json;version=2.0",
            "application/stix+json;version=2.1",
            "application/taxii+json;q=0",
            "text/html",
        ] {
            assert_eq!(accept(bad).unwrap_err().code, Code::NotAcceptable, "{bad}");
        }
    }

    #[test]
    fn content_type_must_be_taxii() {
        let ct = |v: &str| {
            require_taxii_content_type(
                &TestRequest::default()
                    .insert_header((header::CONTENT_TYPE, v))
                    .to_http_request(),
            )
        };
        assert!(ct("application/taxii+json;version=2.1").is_ok());
        assert!(ct("application/taxii+json").is_ok());
        assert!(ct("application/json").is_err());
        assert!(ct("application/taxii+json;version=2.0").is_err());
        assert!(require_taxii_content_type(&TestRequest::default().to_http_request()).is_err());
    }
}
