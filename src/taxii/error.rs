//! The one table of error codes, rendered as TAXII error message resources
//! (TAXII 2.1 §3.6.1) at the edge. Internal errors never reach the body: the
//! description is fixed and the `error_id` correlates with the log line.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::media::TAXII_MEDIA_TYPE;
use crate::auth::AuthError;
use crate::exchange::ExchangeError;
use crate::store::StoreError;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $title:expr $(, retry after $retry:expr)?)),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];
            pub fn status(self) -> u16 { match self { $(Code::$variant => $status),* } }
            pub fn title(self) -> &'static str { match self { $(Code::$variant => $title),* } }
            /// Seconds a client should wait before repeating the request
            /// (the `Retry-After` header), for conditions that pass.
            pub fn retry_after(self) -> Option<u32> {
                match self { $(Code::$variant => error_codes!(@retry $($retry)?)),* }
            }
        }
    };
    (@retry $retry:expr) => { Some($retry) };
    (@retry) => { None };
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
    RequestTimeout => (408, "Request timeout"),
    PayloadTooLarge => (413, "Payload too large"),
    UnsupportedMediaType => (415, "Unsupported media type"),
    Unprocessable => (422, "Unprocessable content"),
    // A member has `limits.max_requests_per_member` requests in progress;
    // one of them finishes soon.
    TooManyRequests => (429, "Too many requests", retry after 1),
    Internal => (500, "Internal server error"),
    // The database is held by another writer: nothing was changed, and the
    // same request succeeds once it is free again.
    Unavailable => (503, "Service unavailable", retry after 5),
    // Out of disk space (or the configured database size limit): nothing was
    // stored, reads still work. An operator has to free space, so clients
    // are asked to wait longer than for a busy database.
    InsufficientStorage => (507, "Insufficient storage", retry after 60),
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

    /// The database was busy for longer than the server waits (503).
    pub fn busy() -> TaxiiError {
        TaxiiError::new(
            Code::Unavailable,
            "the exchange's database is busy; nothing was stored or changed, repeat the request after the Retry-After delay",
        )
    }

    /// No room to store anything more (507). Said once in the log, where
    /// the store found it, not once per request.
    pub fn storage_full() -> TaxiiError {
        TaxiiError::new(
            Code::InsufficientStorage,
            "the exchange is out of storage space; nothing of this request was stored (objects acknowledged earlier are safe and can be read), repeat it later",
        )
    }

    /// A store failure: busy, full and unreachable are answered as such
    /// (503, 507, 503: the member retries), anything else is internal.
    pub fn store(e: &StoreError) -> TaxiiError {
        match e {
            StoreError::Busy => TaxiiError::busy(),
            StoreError::Full(_) => TaxiiError::storage_full(),
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "answered 503: the database cannot be reached");
                TaxiiError::new(
                    Code::Unavailable,
                    "the server cannot reach its database right now; nothing was stored or changed, repeat the request after the Retry-After delay",
                )
            }
            other => TaxiiError::internal(other),
        }
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
        if let Some(seconds) = self.code.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
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
        TaxiiError::from(&e)
    }
}

impl From<&AuthError> for TaxiiError {
    fn from(e: &AuthError) -> Self {
        match e {
            AuthError::Store(inner) => TaxiiError::store(inner),
            AuthError::Suspended(_) => TaxiiError::new(Code::Forbidden, e.to_string()),
            AuthError::TooManyRequests { .. } => {
                TaxiiError::new(Code::TooManyRequests, e.to_string())
            }
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
        // Not through `From`: that logs internal errors, and this is only a query.
        match self {
            AuthError::Store(StoreError::Busy | StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AuthError::Store(StoreError::Full(_)) => StatusCode::INSUFFICIENT_STORAGE,
            AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Suspended(_) => StatusCode::FORBIDDEN,
            AuthError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        TaxiiError::from(self).error_response()
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
            ExchangeError::Busy => TaxiiError::busy(),
            ExchangeError::StorageFull(_) => TaxiiError::storage_full(),
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
                "408 request-timeout Request timeout",
                "413 payload-too-large Payload too large",
                "415 unsupported-media-type Unsupported media type",
                "422 unprocessable Unprocessable content",
                "429 too-many-requests Too many requests",
                "500 internal Internal server error",
                "503 unavailable Service unavailable",
                "507 insufficient-storage Insufficient storage",
            ]
        );
        let retrying: Vec<(String, u32)> = Code::ALL
            .iter()
            .filter_map(|c| Some((c.name(), c.retry_after()?)))
            .collect();
        assert_eq!(
            retrying,
            [
                ("too-many-requests".to_string(), 1),
                ("unavailable".to_string(), 5),
                ("insufficient-storage".to_string(), 60)
            ]
        );
    }

    #[test]
    fn a_busy_or_full_store_is_answered_as_such_with_retry_after() {
        use actix_web::body::MessageBody;
        let cases = [
            (ExchangeError::from(StoreError::Busy), 503, "5"),
            (
                ExchangeError::from(StoreError::Full("database or disk is full".into())),
                507,
                "60",
            ),
            (
                ExchangeError::Store(StoreError::Full("from a nested call".into())),
                507,
                "60",
            ),
            (ExchangeError::Store(StoreError::Busy), 503, "5"),
        ];
        for (error, status, retry) in cases {
            let response = TaxiiError::from(error).error_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), retry);
            let body = response.into_body().try_into_bytes().unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["http_status"], status.to_string());
            assert!(
                !body["description"]
                    .as_str()
                    .unwrap()
                    .contains("disk is full"),
                "the cause stays in the log: {body}"
            );
        }
        let auth = AuthError::Store(StoreError::Busy);
        assert_eq!(auth.status_code().as_u16(), 503);
        assert_eq!(auth.error_response().status().as_u16(), 503);
        // Anything else is still internal, and says nothing of its cause.
        let other = TaxiiError::from(ExchangeError::Store(StoreError::Corrupt("x".into())));
        assert_eq!(other.code, Code::Internal);
        assert!(
            TaxiiError::from(ExchangeError::Store(StoreError::Corrupt("x".into())))
                .error_response()
                .headers()
                .get(header::RETRY_AFTER)
                .is_none()
        );
    }

    #[test]
    fn internal_errors_do_not_echo_their_cause() {
        let e = TaxiiError::internal(&"disk I/O error at /secret/path");
        assert!(!e.description.contains("secret"));
        assert_eq!(e.code.status(), 500);
    }
}
