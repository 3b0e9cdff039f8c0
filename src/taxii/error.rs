//! The one table of error codes, rendered as TAXII error message resources
//! (TAXII 2.1 §3.6.1) at the edge. Internal errors never reach the body: the
//! description is fixed and the `error_id` correlates with the log line.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::media::TAXII_MEDIA_TYPE;
use crate::auth::AuthError;
use crate::exchange::ExchangeError;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $title:expr)),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];
            pub fn status(self) -> u16 { match self { $(Code::$variant => $status),* } }
            pub fn title(self) -> &'static str { match self { $(Code::$variant => $title),* } }
        }
    };
}

error_codes! {
    BadQuery => (400, "Invalid query parameter"),
    BadCursor => (400, "Invalid pagination token"),
    MalformedEnvelope => (400, "Malformed envelope"),
    BadRequest => (400, "Bad request"),
    Unauthenticated => (401, "Authentication required"),
    Forbidden => (403, "Forbidden"),
    NotFound => (404, "Not found"),
    MethodNotAllowed => (405, "Method not allowed"),
    NotAcceptable => (406, "Not acceptable"),
    PayloadTooLarge => (413, "Payload too large"),
    UnsupportedMediaType => (415, "Unsupported media type"),
    Unprocessable => (422, "Unprocessable content"),
    Internal => (500, "Internal server error"),
    Unavailable => (503, "Service unavailable"),
}

impl Code {
    /// The stable machine name (`error_code`), e.g. `bad-query`.
    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, ch) in debug.chars().enumerate() {
            if ch.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
        }
        out
    }
}

/// What a 503 asks the client to wait before retrying.
pub const RETRY_AFTER_SECONDS: u32 = 2;

#[derive(Debug)]
pub struct TaxiiError {
    pub code: Code,
    pub description: String,
}

impl TaxiiError {
    pub fn new(code: Code, description: impl Into<String>) -> TaxiiError {
        TaxiiError {
            code,
            description: description.into(),
        }
    }

    /// A storage failure: 503 with Retry-After when the database cannot be
    /// reached right now (the member retries), otherwise internal.
    pub fn store(error: &crate::store::StoreError) -> TaxiiError {
        if let crate::store::StoreError::Unavailable(why) = error {
            tracing::warn!(error = %why, "answered 503: the database cannot be reached");
            return TaxiiError::new(
                Code::Unavailable,
                "the server cannot reach its database right now; retry shortly",
            );
        }
        TaxiiError::internal(error)
    }

    /// An internal failure: logged in full with an id, answered generically.
    pub fn internal(error: &dyn std::fmt::Display) -> TaxiiError {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, error = %error, "internal error");
        TaxiiError {
            code: Code::Internal,
            description: format!("the server could not complete the request (error id {id})"),
        }
    }
}

impl std::fmt::Display for TaxiiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.title(), self.description)
    }
}

#[derive(Serialize)]
struct ErrorResource<'a> {
    title: &'a str,
    description: &'a str,
    error_id: String,
    error_code: String,
    http_status: String,
}

impl ResponseError for TaxiiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorResource {
            title: self.code.title(),
            description: &self.description,
            error_id: uuid::Uuid::new_v4().to_string(),
            error_code: self.code.name(),
            http_status: self.code.status().to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, TAXII_MEDIA_TYPE));
        if self.code == Code::Unavailable {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
        }
        if self.code == Code::Unauthenticated {
            // RFC 7235 / TAXII §1.6.9: a 401 carries the challenges we accept.
            response.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"breakwater\", Bearer realm=\"breakwater\"",
            ));
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<AuthError> for TaxiiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(inner) => TaxiiError::store(&inner),
            AuthError::Suspended(_) => TaxiiError::new(Code::Forbidden, e.to_string()),
            AuthError::NoCredentials => TaxiiError::new(
                Code::Unauthenticated,
                "present a client certificate issued by the community CA (or an API token where enabled)",
            ),
            other => TaxiiError::new(Code::Unauthenticated, other.to_string()),
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Store(crate::store::StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Suspended(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let e: TaxiiError = match self {
            AuthError::Store(inner) => TaxiiError::store(inner),
            AuthError::Suspended(name) => {
                TaxiiError::new(Code::Forbidden, format!("member '{name}' is suspended"))
            }
            AuthError::NoCredentials => TaxiiError::new(
                Code::Unauthenticated,
                "present a client certificate issued by the community CA (or an API token where enabled)",
            ),
            other => TaxiiError::new(Code::Unauthenticated, other.to_string()),
        };
        e.error_response()
    }
}

impl From<ExchangeError> for TaxiiError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::NotFound(what) => {
                TaxiiError::new(Code::NotFound, format!("{what} not found"))
            }
            ExchangeError::MalformedEnvelope(why) => TaxiiError::new(Code::MalformedEnvelope, why),
            ExchangeError::Invalid(why) => TaxiiError::new(Code::Unprocessable, why),
            ExchangeError::Conflict(why) => TaxiiError::new(Code::Unprocessable, why),
            ExchangeError::Store(inner) => TaxiiError::store(&inner),
        }
    }
}

impl From<actix_web::error::BlockingError> for TaxiiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        TaxiiError::internal(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table operators and clients rely on; a change here is a change of contract.
    #[test]
    fn error_code_table() {
        let table: Vec<String> = Code::ALL
            .iter()
            .map(|c| format!("{} {} {}", c.status(), c.name(), c.title()))
            .collect();
        assert_eq!(
            table,
            [
                "400 bad-query Invalid query parameter",
                "400 bad-cursor Invalid pagination token",
                "400 malformed-envelope Malformed envelope",
                "400 bad-request Bad request",
                "401 unauthenticated Authentication required",
                "403 forbidden Forbidden",
                "404 not-found Not found",
                "405 method-not-allowed Method not allowed",
                "406 not-acceptable Not acceptable",
                "413 payload-too-large Payload too large",
                "415 unsupported-media-type Unsupported media type",
                "422 unprocessable Unprocessable content",
                "500 internal Internal server error",
                "503 unavailable Service unavailable",
            ]
        );
    }

    #[test]
    fn internal_errors_do_not_echo_their_cause() {
        let e = TaxiiError::internal(&"disk I/O error at /secret/path");
        assert!(!e.description.contains("secret"));
        assert_eq!(e.code.status(), 500);
    }
}
