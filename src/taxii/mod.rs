//! HTTP only: routes, media types, filters, `next` tokens and TAXII error and
//! status resources. Calls `exchange`; never touches SQL.

pub mod body;
mod collections;
pub mod cursor_token;
mod discovery;
pub mod error;
mod health;
pub mod limits;
pub mod media;
pub mod metrics;
mod objects;
pub mod query;
mod status;
pub mod stream;
pub mod transport;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub use error::{Code, TaxiiError};

use crate::auth::Caller;
use crate::auth::policy::Rights;
use crate::exchange::Exchange;
use crate::model::{CollectionId, Timestamp};
use crate::store::{ApiRoot, Collection};
use cursor_token::CursorKey;

/// Server-wide settings the handlers need.
pub struct State {
    pub exchange: Exchange,
    pub cursor_key: CursorKey,
    pub discovery: DiscoveryInfo,
    /// Largest page served, whatever `limit` asks for.
    pub max_page_size: usize,
    /// Let members publish objects whose `created_by_ref` is another member's identity.
    pub allow_foreign_identities: bool,
    pub metrics: metrics::Metrics,
    /// Response bytes held at once, across all connections.
    pub responses: limits::ResponseBudget,
    /// Pages being read and rendered at once (each may be as large as a
    /// page can be, twice: rows and text); more wait their turn.
    pub page_reads: std::sync::Arc<tokio::sync::Semaphore>,
    /// How fast a request body must arrive.
    pub upload_rate: body::UploadRate,
    /// Open live push streams and their limits.
    pub streams: stream::Streams,
}

#[derive(Debug, Clone)]
pub struct DiscoveryInfo {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    /// `scheme://host[:port]` clients reach the server at, when that is not what
    /// they send as `Host` (TCP load balancer, NAT); discovery's URLs start with it.
    pub public_url: Option<String>,
    /// The address the server listens on, for discovery's URLs when the
    /// request's `Host` will not do.
    pub listen: std::net::SocketAddr,
}

/// The whole route table. Every endpoint also answers without its trailing
/// slash, so `/taxii2` and `/taxii2/` are the same endpoint. A known
/// endpoint asked with a method it does not support answers 405, never 404.
///
/// Every request that reaches this table, however odd (an unknown method,
/// broken percent-encoding, a header value that is not text, a malformed
/// chunked body), is answered with a TAXII error. Some malformed HTTP never
/// gets here: actix-http's HTTP/1 dispatcher answers it itself, before any
/// service of ours is called, and closes the connection. A request line or
/// header it cannot parse (a header line without a colon, more than 96
/// headers, an unparsable URI) gets `400` with an empty body, a request head
/// over 128 KiB gets `431`, and a head that does not arrive within
/// `client_request_timeout` gets `408`. Those responses are built inside the
/// dispatcher (`h1::dispatcher::poll_request` and `poll_head_timer`, as
/// `Response::with_body(status, ())`) and written straight to the codec;
/// actix-http 3 offers no hook to replace them, so they cannot carry a TAXII
/// body. A header *name* over 65,535 bytes is worse: actix-http's decoder
/// unwraps `HeaderName::from_bytes`, which refuses names that long after
/// httparse accepted them, and panics; `transport::HeaderNameGuard` fails
/// such a connection before the parser reads it (no answer possible).
pub fn configure(cfg: &mut web::ServiceConfig) {
    fn endpoint(path: &str) -> actix_web::Resource {
        // Each endpoint answers with and without its trailing slash: two
        // patterns are cheaper per request than rewriting every path.
        web::resource([path.to_string(), path.trim_end_matches('/').to_string()])
            .default_service(web::to(method_not_allowed))
    }
    cfg.service(endpoint("/health/").route(web::get().to(health::health)))
        .service(endpoint("/metrics/").route(web::get().to(metrics::metrics)))
        .service(endpoint("/taxii2/").route(web::get().to(discovery::discovery)))
        .service(endpoint("/{root}/").route(web::get().to(discovery::api_root)))
        .service(endpoint("/{root}/status/{status}/").route(web::get().to(status::status)))
        .service(endpoint("/{root}/collections/").route(web::get().to(collections::list)))
        .service(
            endpoint("/{root}/collections/{collection}/").route(web::get().to(collections::one)),
        )
        .service(
            endpoint("/{root}/collections/{collection}/manifest/")
                .route(web::get().to(objects::manifest)),
        )
        .service(
            endpoint("/{root}/collections/{collection}/objects/")
                .route(web::get().to(objects::list))
                .route(web::post().to(objects::add)),
        )
        .service(
            endpoint("/{root}/collections/{collection}/stream/")
                .route(web::get().to(stream::stream)),
        )
        .service(
            endpoint("/{root}/collections/{collection}/objects/{object}/")
                .route(web::get().to(objects::get))
                .route(web::delete().to(objects::delete)),
        )
        .service(
            endpoint("/{root}/collections/{collection}/objects/{object}/versions/")
                .route(web::get().to(objects::versions)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, TaxiiError> {
    Err(TaxiiError::new(Code::NotFound, "no such TAXII endpoint"))
}

async fn method_not_allowed() -> Result<HttpResponse, TaxiiError> {
    Err(TaxiiError::new(
        Code::MethodNotAllowed,
        "this endpoint does not support that method",
    ))
}

/// A TAXII resource response.
pub(crate) fn taxii_response(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media::TAXII_MEDIA_TYPE))
        .body(body)
}

/// A TAXII resource whose size the request decides (pages, statuses): held
/// under the server's response budget and handed out in chunks. 503 with
/// Retry-After when the budget is spent.
pub(crate) fn budgeted_response(
    state: &State,
    status: actix_web::http::StatusCode,
    body: String,
) -> Result<HttpResponse, TaxiiError> {
    let Some(reservation) = state.responses.reserve(body.len() as u64) else {
        if body.len() as u64 >= limits::TRIM_ABOVE {
            drop(body);
            limits::return_freed_memory_soon();
        }
        return Err(budget_spent(state));
    };
    Ok(chunked_response(status, body, reservation))
}

fn budget_spent(state: &State) -> TaxiiError {
    state
        .metrics
        .responses_refused
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    TaxiiError::new(
        Code::Unavailable,
        format!(
            "the server holds its limit of {} bytes of responses for other clients; retry shortly or ask for a smaller page (`limit`)",
            state.responses.limit()
        ),
    )
}

/// A turn to read and render one page.
pub(crate) type PageSlot = tokio::sync::OwnedSemaphorePermit;

/// Waits for a turn to read a page, so that the pages being built at once
/// (not yet under the response budget) stay few; when the budget is
/// already spent, answers 503 at once instead of building a page to refuse.
pub(crate) async fn page_slot(state: &State) -> Result<PageSlot, TaxiiError> {
    if state.responses.in_flight() >= state.responses.limit() {
        return Err(budget_spent(state));
    }
    state
        .page_reads
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| TaxiiError::internal(&e))
}

fn chunked_response(
    status: actix_web::http::StatusCode,
    body: String,
    reservation: limits::Reservation,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media::TAXII_MEDIA_TYPE))
        .body(limits::ChunkedBody::new(body.into(), reservation))
}

/// Like `budgeted_response`, for an answer that must go out whatever the
/// budget (the status of objects already stored): counted, never refused.
pub(crate) fn committed_response(
    state: &State,
    status: actix_web::http::StatusCode,
    body: String,
) -> HttpResponse {
    let reservation = state.responses.reserve_always(body.len() as u64);
    chunked_response(status, body, reservation)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, TaxiiError> {
    serde_json::to_string(value).map_err(|e| TaxiiError::internal(&e))
}

/// Runs blocking domain work (SQLite, validation) off the reactor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, TaxiiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, TaxiiError> + Send + 'static,
{
    web::block(f).await?
}

/// The API root, or 404. Every member sees every API root; collections
/// inside are filtered by rights. Served from the request's registry snapshot.
pub(crate) fn api_root(caller: &Caller, name: &str) -> Result<ApiRoot, TaxiiError> {
    caller
        .snapshot
        .api_roots()
        .iter()
        .find(|r| r.name == name)
        .cloned()
        .ok_or_else(|| TaxiiError::new(Code::NotFound, format!("API root '{name}' not found")))
}

/// The collection (by id or alias) with the caller's rights; collections the
/// caller may not see are answered exactly like ones that do not exist.
pub(crate) fn visible_collection(
    caller: &Caller,
    root: &str,
    id_or_alias: &str,
) -> Result<(Collection, Rights), TaxiiError> {
    let parsed = CollectionId::parse(id_or_alias);
    let not_found = || {
        TaxiiError::new(
            Code::NotFound,
            format!("collection '{id_or_alias}' not found"),
        )
    };
    let collection = caller
        .snapshot
        .collections()
        .iter()
        .find(|c| {
            c.api_root == root && (Some(c.id) == parsed || c.alias.as_deref() == Some(id_or_alias))
        })
        .ok_or_else(not_found)?;
    let rights = caller.snapshot.rights(&caller.member, collection);
    if !rights.visible() {
        return Err(not_found());
    }
    Ok((collection.clone(), rights))
}

/// A refused operation: audited, then answered 404 (hidden) or 403.
pub(crate) fn denied(
    state: &State,
    caller: &Caller,
    collection: &Collection,
    d: crate::auth::policy::Denied,
    what: &str,
) -> TaxiiError {
    state.exchange.audit_queued(crate::store::AuditEvent {
        member: Some(caller.member.name.clone()),
        fingerprint: caller.fingerprint.clone(),
        collection: Some(collection.id.to_string()),
        detail: Some(
            match d {
                crate::auth::policy::Denied::Hidden => "no grant: answered as not found",
                crate::auth::policy::Denied::Forbidden => "not granted",
            }
            .to_string(),
        ),
        ..crate::store::AuditEvent::now(what, "refused")
    });
    match d {
        crate::auth::policy::Denied::Hidden => {
            TaxiiError::new(Code::NotFound, "collection not found")
        }
        crate::auth::policy::Denied::Forbidden => TaxiiError::new(
            Code::Forbidden,
            format!("you may not {what} this collection"),
        ),
    }
}

pub(crate) fn now() -> Timestamp {
    Timestamp::now()
}
