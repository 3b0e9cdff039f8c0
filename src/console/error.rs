//! Console errors, answered as small HTML pages. Internal failures are
//! logged with an id; the page shows only the id.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use super::layout;
use crate::exchange::ExchangeError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No certificate and no session: the login form where tokens are on.
    #[error("sign-in required")]
    Unauthenticated { tokens: bool },
    /// Credentials were presented and refused (revoked, suspended, ...).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Over the member's limit of requests in progress (429), or the
    /// database is busy (503): the same page works a moment later.
    #[error("{message}")]
    Unavailable {
        status: StatusCode,
        retry_after: u32,
        message: String,
    },
    #[error("the console could not complete the request (error id {0})")]
    Internal(uuid::Uuid),
}

impl ConsoleError {
    pub fn internal(error: &dyn std::fmt::Display) -> ConsoleError {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, error = %error, "console: internal error");
        ConsoleError::Internal(id)
    }
}

impl From<ExchangeError> for ConsoleError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::NotFound(what) => ConsoleError::NotFound(what),
            ExchangeError::Invalid(why) => ConsoleError::BadRequest(why),
            ExchangeError::Busy => ConsoleError::Unavailable {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after: 5,
                message: ExchangeError::Busy.to_string(),
            },
            other => ConsoleError::internal(&other),
        }
    }
}

impl From<actix_web::error::BlockingError> for ConsoleError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ConsoleError::internal(&e)
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::Unauthenticated { tokens: true } => StatusCode::SEE_OTHER,
            ConsoleError::Unauthenticated { tokens: false } => StatusCode::UNAUTHORIZED,
            ConsoleError::Refused(_) | ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Unavailable { status, .. } => *status,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::Unauthenticated { tokens: true } = self {
            return super::see_other("/console/login");
        }
        let status = self.status_code();
        let (title, advice) = match self {
            ConsoleError::Unauthenticated { .. } => (
                "Certificate required",
                "Import your organisation's .p12 file into the browser (see the README's \
                 \"Web console\" section), then reload this page.",
            ),
            ConsoleError::Refused(_) => (
                "Access refused",
                "Ask the exchange's operator about your certificate or membership.",
            ),
            ConsoleError::Forbidden(_) => ("Forbidden", ""),
            ConsoleError::NotFound(_) => ("Not found", ""),
            ConsoleError::BadRequest(_) => ("Bad request", ""),
            ConsoleError::Unavailable { .. } => ("Try again in a moment", ""),
            ConsoleError::Internal(_) => ("Something went wrong", ""),
        };
        let markup = layout::bare(
            title,
            html! {
                h1 { (title) }
                p { (self.to_string()) }
                @if !advice.is_empty() { p { (advice) } }
                p { a href="/console/" { "Back to the overview" } }
            },
        );
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
        if let ConsoleError::Unavailable { retry_after, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        response.body(markup.into_string())
    }
}
