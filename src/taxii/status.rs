use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{State, TaxiiError, api_root, media, now, to_json};
use crate::auth::Caller;
use crate::model::Timestamp;
use crate::store::{StatusDetail, StatusRecord};

#[derive(Serialize)]
pub struct StatusResource<'a> {
    id: &'a str,
    status: &'static str,
    request_timestamp: Timestamp,
    total_count: usize,
    success_count: usize,
    successes: Option<&'a [StatusDetail]>,
    failure_count: usize,
    failures: Option<&'a [StatusDetail]>,
    pending_count: usize,
    pendings: Option<&'a [StatusDetail]>,
}

fn non_empty(list: &[StatusDetail]) -> Option<&[StatusDetail]> {
    (!list.is_empty()).then_some(list)
}

/// TAXII 2.1 §4.3.1; counts always add up and each list's length is its count.
pub fn render(status: &StatusRecord) -> Result<String, TaxiiError> {
    let d = &status.details;
    let resource = StatusResource {
        id: &status.id,
        status: if d.pendings.is_empty() {
            "complete"
        } else {
            "pending"
        },
        request_timestamp: status.request_timestamp,
        total_count: status.total(),
        success_count: d.successes.len(),
        successes: non_empty(&d.successes),
        failure_count: d.failures.len(),
        failures: non_empty(&d.failures),
        pending_count: d.pendings.len(),
        pendings: non_empty(&d.pendings),
    };
    let mut value = serde_json::to_value(&resource).map_err(|e| TaxiiError::internal(&e))?;
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    to_json(&value)
}

/// TAXII 2.1 §4.3: a member sees only the statuses of its own requests.
pub async fn status(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    media::require_accept(&req)?;
    let (root, id) = path.into_inner();
    api_root(&caller, &root)?;
    let exchange = state.exchange.clone();
    let member = caller.member.clone();
    let record = super::blocking(move || Ok(exchange.status(&member, &root, &id, now())?)).await?;
    super::budgeted_response(&state, StatusCode::OK, render(&record)?)
}
