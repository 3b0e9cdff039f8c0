use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{TaxiiError, api_root, media, taxii_response, to_json, visible_collection};
use crate::auth::Caller;
use crate::auth::policy::Rights;
use crate::store::Collection;

#[derive(Serialize)]
pub struct CollectionResource<'a> {
    id: String,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias: Option<&'a str>,
    can_read: bool,
    can_write: bool,
    media_types: [&'static str; 1],
}

fn resource(c: &Collection, rights: Rights) -> CollectionResource<'_> {
    CollectionResource {
        id: c.id.to_string(),
        title: &c.title,
        description: c.description.as_deref(),
        alias: c.alias.as_deref(),
        can_read: rights.read,
        can_write: rights.write,
        media_types: ["application/stix+json;version=2.1"],
    }
}

#[derive(Serialize)]
struct Collections<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    collections: Vec<CollectionResource<'a>>,
}

/// TAXII 2.1 §5.1: only the collections this member may read or write, in a
/// stable order; `{}` when there are none.
pub async fn list(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let root = api_root(&caller, &path)?;
    let visible: Vec<(Collection, Rights)> = caller
        .snapshot
        .collections()
        .iter()
        .filter(|c| c.api_root == root.name)
        .map(|c| (c.clone(), caller.snapshot.rights(&caller.member, c)))
        .filter(|(_, r)| r.visible())
        .collect();
    let body = Collections {
        collections: visible.iter().map(|(c, r)| resource(c, *r)).collect(),
    };
    Ok(taxii_response(StatusCode::OK, to_json(&body)?))
}

/// TAXII 2.1 §5.2.
pub async fn one(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let (root, id) = path.into_inner();
    api_root(&caller, &root)?;
    let (collection, rights) = visible_collection(&caller, &root, &id)?;
    Ok(taxii_response(
        StatusCode::OK,
        to_json(&resource(&collection, rights))?,
    ))
}
