//! `/health`: answers without a client certificate and reveals nothing but
//! that the server is up and its database answers.

use actix_web::{HttpResponse, web};

use super::State;

pub async fn health(state: web::Data<State>) -> HttpResponse {
    let store = state.exchange.store().clone();
    let ok = web::block(move || store.auth_revision().is_ok())
        .await
        .unwrap_or(false);
    if ok {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok"}"#)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(r#"{"status":"unavailable"}"#)
    }
}
