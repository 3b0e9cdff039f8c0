use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{State, TaxiiError, api_root as find_root, media, taxii_response, to_json};
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

/// TAXII 2.1 §4.1. API root URLs are relative (`/name/`), as §4.1.1 allows,
/// so they stay right behind any proxy or port.
pub async fn discovery(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let store = state.exchange.store().clone();
    let roots =
        super::blocking(move || store.api_roots().map_err(|e| TaxiiError::internal(&e))).await?;
    let body = Discovery {
        title: &state.discovery.title,
        description: state.discovery.description.as_deref(),
        contact: state.discovery.contact.as_deref(),
        default: roots
            .iter()
            .find(|r| r.is_default)
            .map(|r| format!("/{}/", r.name)),
        api_roots: roots.iter().map(|r| format!("/{}/", r.name)).collect(),
    };
    Ok(taxii_response(StatusCode::OK, to_json(&body)?))
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
