//! `/health`: answers without a client certificate and reveals nothing but
//! whether the server is up, its database answers, and writes succeed.
//!
//! - `200 {"status":"ok"}`: serving reads and writes.
//! - `200 {"status":"degraded"}`: out of storage space; reads are served,
//!   writes answer 507 until space is freed, then this turns `ok` by itself.
//!   Still 200, so a load balancer keeps sending the polls this server can
//!   answer; monitoring alerts on the body.
//! - `503 {"status":"unavailable"}`: the database cannot be read.

use actix_web::{HttpResponse, web};

use super::State;
use crate::store::WriteHealth;

pub async fn health(state: web::Data<State>) -> HttpResponse {
    let store = state.exchange.store().clone();
    let health = web::block(move || store.auth_revision().map(|_| store.write_health()))
        .await
        .ok()
        .and_then(Result::ok);
    let (mut response, status) = match health {
        Some(WriteHealth::Ok) => (HttpResponse::Ok(), "ok"),
        Some(WriteHealth::Full) => (HttpResponse::Ok(), "degraded"),
        None => (HttpResponse::ServiceUnavailable(), "unavailable"),
    };
    response
        .content_type("application/json")
        .body(format!(r#"{{"status":"{status}"}}"#))
}
