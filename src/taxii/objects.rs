//! Objects, object, manifest and versions (TAXII 2.1 §5.3–§5.8).

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::cursor_token::{self, Binding};
use super::query::{self, Query};
use super::{PageSlot, State, TaxiiError, api_root, body, denied, media, now, visible_collection};
use crate::auth::Caller;
use crate::auth::extract::LoggedObjects;
use crate::auth::policy;
use crate::exchange::ingest::{Admission, IngestRequest};
use crate::store::{Cursor, Page, StoredObject, VersionFilter};

const DATE_ADDED_FIRST: &str = "x-taxii-date-added-first";
const DATE_ADDED_LAST: &str = "x-taxii-date-added-last";

/// The parts every read endpoint shares: parsed query, resolved `next`, limit.
struct ReadRequest {
    access: policy::ReadAccess,
    query: Query,
    after: Option<Cursor>,
    limit: usize,
}

/// Which read endpoint: its name (for `next` binding), the object it is
/// about, and the `match[...]` fields it supports.
struct Endpoint<'a> {
    name: &'a str,
    object_id: Option<&'a str>,
    fields: &'a [&'a str],
}

fn read_request(
    caller: &Caller,
    req: &HttpRequest,
    state: &State,
    (root, collection): (&str, &str),
    endpoint: Endpoint<'_>,
) -> Result<ReadRequest, TaxiiError> {
    let Endpoint {
        name: endpoint,
        object_id,
        fields,
    } = endpoint;
    media::require_accept(req)?;
    api_root(caller, root)?;
    let (collection, rights) = visible_collection(caller, root, collection)?;
    let access = policy::read_access(&caller.member, &collection, rights)
        .map_err(|d| denied(state, caller, &collection, d, "read"))?;
    let query = query::parse(req.query_string(), fields)?;
    let binding = Binding {
        endpoint,
        collection: &collection.id.to_string(),
        object_id,
        member: &caller.member.name,
        filter: &query.filter,
    };
    let after = query
        .next
        .as_deref()
        .map(|t| cursor_token::decode(&state.cursor_key, t, &binding))
        .transpose()?;
    let limit = query
        .limit
        .unwrap_or(state.max_page_size)
        .min(state.max_page_size);
    Ok(ReadRequest {
        access,
        query,
        after,
        limit,
    })
}

fn next_token(
    state: &State,
    r: &ReadRequest,
    endpoint: &str,
    object_id: Option<&str>,
    page: &Page<StoredObject>,
) -> Option<String> {
    if !page.more {
        return None;
    }
    let key = page.last_key?;
    let binding = Binding {
        endpoint,
        collection: &r.access.collection().id.to_string(),
        object_id,
        member: r.access.member(),
        filter: &r.query.filter,
    };
    Some(cursor_token::encode(&state.cursor_key, key, &binding))
}

/// Every poll goes to the audit log (queued: no commit of its own).
fn audit_read(
    state: &State,
    caller: &Caller,
    req: &HttpRequest,
    r: &ReadRequest,
    endpoint: &str,
    n: usize,
) {
    req.extensions_mut().insert(LoggedObjects(n));
    state.exchange.audit_queued(crate::store::AuditEvent {
        member: Some(caller.member.name.clone()),
        fingerprint: caller.fingerprint.clone(),
        collection: Some(r.access.collection().id.to_string()),
        objects: Some(n as u64),
        ..crate::store::AuditEvent::now(format!("poll-{endpoint}"), "ok")
    });
}

/// 200 with the page's `X-TAXII-Date-Added-First/-Last` (TAXII 2.1 §3.2).
fn page_response(
    state: &State,
    items: &[StoredObject],
    body: String,
) -> Result<HttpResponse, TaxiiError> {
    let mut response = super::budgeted_response(state, StatusCode::OK, body)?;
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        let headers = response.headers_mut();
        for (name, ts) in [
            (DATE_ADDED_FIRST, first.date_added),
            (DATE_ADDED_LAST, last.date_added),
        ] {
            if let Ok(value) = ts.to_string().parse() {
                headers.insert(
                    actix_web::http::header::HeaderName::from_static(name),
                    value,
                );
            }
        }
    }
    Ok(response)
}

/// An envelope (§3.7) spliced from the stored JSON text, never re-serialised.
fn envelope(page: &Page<StoredObject>, next: Option<&str>) -> String {
    if page.items.is_empty() && !page.more {
        return "{}".to_string();
    }
    let size: usize = page.items.iter().map(|o| o.body.len() + 1).sum();
    let mut out = String::with_capacity(size + 128);
    out.push_str("{\"more\":");
    out.push_str(if page.more { "true" } else { "false" });
    if let Some(next) = next {
        out.push_str(",\"next\":");
        out.push_str(&serde_json::to_string(next).unwrap_or_default());
    }
    if !page.items.is_empty() {
        out.push_str(",\"objects\":[");
        for (i, o) in page.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&o.body);
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// One page of a whole collection, as objects or as manifest records: the
/// path the two collection-wide read endpoints share.
async fn collection_page(
    caller: &Caller,
    req: &HttpRequest,
    state: &State,
    (root, collection): (String, String),
    name: &'static str,
    with_bodies: bool,
) -> Result<(Page<StoredObject>, Option<String>, PageSlot), TaxiiError> {
    let r = read_request(
        caller,
        req,
        state,
        (&root, &collection),
        Endpoint {
            name,
            object_id: None,
            fields: query::OBJECTS_FIELDS,
        },
    )?;
    let slot = super::page_slot(state).await?;
    let exchange = state.exchange.clone();
    let (r, page) = super::blocking(move || {
        let page = if with_bodies {
            exchange.list_objects(&r.access, &r.query.filter, r.after, r.limit)?
        } else {
            exchange.manifest(&r.access, &r.query.filter, r.after, r.limit)?
        };
        Ok((r, page))
    })
    .await?;
    let next = next_token(state, &r, name, None, &page);
    audit_read(state, caller, req, &r, name, page.items.len());
    Ok((page, next, slot))
}

pub async fn list(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    let (page, next, _slot) =
        collection_page(&caller, &req, &state, path.into_inner(), "objects", true).await?;
    page_response(&state, &page.items, envelope(&page, next.as_deref()))
}

pub async fn get(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    let (root, collection, object_id) = path.into_inner();
    let r = read_request(
        &caller,
        &req,
        &state,
        (&root, &collection),
        Endpoint {
            name: "object",
            object_id: Some(&object_id),
            fields: query::OBJECT_FIELDS,
        },
    )?;
    // One object's versions: an indexed read of a few rows, done here rather
    // than paying two thread hand-offs to the blocking pool.
    let page =
        state
            .exchange
            .get_object(&r.access, &object_id, &r.query.filter, r.after, r.limit)?;
    let next = next_token(&state, &r, "object", Some(&object_id), &page);
    audit_read(&state, &caller, &req, &r, "object", page.items.len());
    page_response(&state, &page.items, envelope(&page, next.as_deref()))
}

#[derive(Serialize)]
struct ManifestRecord<'a> {
    id: &'a str,
    date_added: crate::model::Timestamp,
    version: &'a str,
    media_type: String,
}

#[derive(Serialize)]
struct Manifest<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    objects: Vec<ManifestRecord<'a>>,
}

pub async fn manifest(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    let (page, next, _slot) =
        collection_page(&caller, &req, &state, path.into_inner(), "manifest", false).await?;
    let body = Manifest {
        more: page.more,
        next,
        objects: page
            .items
            .iter()
            .map(|o| ManifestRecord {
                id: &o.id,
                date_added: o.date_added,
                version: &o.version,
                media_type: format!("application/stix+json;version={}", o.spec_version),
            })
            .collect(),
    };
    page_response(&state, &page.items, super::to_json(&body)?)
}

#[derive(Serialize)]
struct Versions<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<&'a str>,
}

pub async fn versions(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    let (root, collection, object_id) = path.into_inner();
    let r = read_request(
        &caller,
        &req,
        &state,
        (&root, &collection),
        Endpoint {
            name: "versions",
            object_id: Some(&object_id),
            fields: query::VERSIONS_FIELDS,
        },
    )?;
    let _slot = super::page_slot(&state).await?;
    let exchange = state.exchange.clone();
    let id = object_id.clone();
    let (r, page) = super::blocking(move || {
        let page = exchange.versions(&r.access, &id, &r.query.filter, r.after, r.limit)?;
        Ok((r, page))
    })
    .await?;
    let next = next_token(&state, &r, "versions", Some(&object_id), &page);
    audit_read(&state, &caller, &req, &r, "versions", page.items.len());
    let body = Versions {
        more: page.more,
        next,
        versions: page.items.iter().map(|o| o.version.as_str()).collect(),
    };
    page_response(&state, &page.items, super::to_json(&body)?)
}

/// TAXII 2.1 §5.7: 404 / 403 / 200 by the read/write matrix.
pub async fn delete(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let (root, collection, object_id) = path.into_inner();
    api_root(&caller, &root)?;
    let (collection, rights) = visible_collection(&caller, &root, &collection)?;
    let access = policy::delete_access(&caller.member, &collection, rights)
        .map_err(|d| denied(&state, &caller, &collection, d, "delete from"))?;
    let mut q = query::parse(req.query_string(), query::OBJECT_FIELDS)?;
    if !q.versions_given {
        // §5.7: without `match[version]` every version goes, or the object
        // would still be retrievable.
        q.filter.versions = VersionFilter::All;
    }
    let exchange = state.exchange.clone();
    let fingerprint = caller.fingerprint.clone();
    super::blocking(move || {
        exchange.delete_object(&access, fingerprint.as_deref(), &object_id, &q.filter)?;
        Ok(())
    })
    .await?;
    // §5.7: every success response carries the TAXII media type, this one too.
    Ok(super::taxii_response(StatusCode::OK, String::new()))
}

/// TAXII 2.1 §5.5: 202 with a status resource once the write is durable (or
/// `pending` for envelopes stored in the background).
pub async fn add(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let (root, collection) = path.into_inner();
    let api_root = api_root(&caller, &root)?;
    let (collection, rights) = visible_collection(&caller, &root, &collection)?;
    let access = policy::write_access(&caller.member, &collection, rights)
        .map_err(|d| denied(&state, &caller, &collection, d, "write to"))?;
    media::require_taxii_content_type(&req)?;
    let bytes = body::read_limited(
        &req,
        payload,
        api_root.max_content_length,
        state.upload_rate,
    )
    .await?;
    let admission = Admission {
        foreign_identities: if caller.member.is_operator || state.allow_foreign_identities {
            Default::default()
        } else {
            caller.snapshot.foreign_identities(&caller.member.name)
        },
    };
    let exchange = state.exchange.clone();
    let fingerprint = caller.fingerprint.clone();
    let requested = now();
    let status = super::blocking(move || {
        Ok(exchange.ingest(IngestRequest {
            access: &access,
            admission: &admission,
            fingerprint: fingerprint.as_deref(),
            api_root: &root,
            body: bytes.into(),
            request_timestamp: requested,
        })?)
    })
    .await?;
    req.extensions_mut().insert(LoggedObjects(status.total()));
    state.metrics.objects_ingested.fetch_add(
        status.details.successes.len() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    state.metrics.objects_refused.fetch_add(
        status.details.failures.len() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    // Stored already: the status goes out whatever the response budget says.
    Ok(super::committed_response(
        &state,
        StatusCode::ACCEPTED,
        super::status::render(&status)?,
    ))
}
