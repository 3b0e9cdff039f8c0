//! Reads a request body up to the API root's `max_content_length` (413
//! beyond it), refusing early on a declared Content-Length, and cuts a body
//! that arrives slower than the configured minimum rate (408).

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::error::{Code, TaxiiError};

/// How fast a body must arrive: after `grace`, at least `bytes_per_sec` on
/// average since the body started. A client that trickles a byte now and
/// then cannot hold a connection and its buffer for long.
#[derive(Debug, Clone, Copy)]
pub struct UploadRate {
    /// 0: no minimum.
    pub bytes_per_sec: u64,
    pub grace: Duration,
}

impl UploadRate {
    /// The latest moment by which more than `received` bytes must be in.
    fn deadline(&self, started: Instant, received: u64) -> Option<Instant> {
        if self.bytes_per_sec == 0 {
            return None;
        }
        let allowed = Duration::from_secs_f64((received + 1) as f64 / self.bytes_per_sec as f64);
        Some(started + self.grace + allowed)
    }
}

fn too_large(limit: u64) -> TaxiiError {
    TaxiiError::new(
        Code::PayloadTooLarge,
        format!(
            "the body exceeds this API root's max_content_length of {limit} bytes; split the envelope"
        ),
    )
}

pub async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: u64,
    rate: UploadRate,
) -> Result<BytesMut, TaxiiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit) as usize);
    let started = Instant::now();
    loop {
        let next = match rate.deadline(started, body.len() as u64) {
            Some(deadline) => tokio::time::timeout_at(deadline, payload.next())
                .await
                .map_err(|_| too_slow(rate, body.len()))?,
            None => payload.next().await,
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            TaxiiError::new(Code::BadRequest, format!("the body could not be read: {e}"))
        })?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_slow(rate: UploadRate, received: usize) -> TaxiiError {
    tracing::info!(
        received,
        min_rate = rate.bytes_per_sec,
        "cut a request body that arrived too slowly"
    );
    TaxiiError::new(
        Code::RequestTimeout,
        format!(
            "the body arrived slower than {} bytes per second ({received} bytes received); send it at once",
            rate.bytes_per_sec
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_grows_with_what_has_arrived() {
        let rate = UploadRate {
            bytes_per_sec: 1000,
            grace: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        assert_eq!(
            rate.deadline(t0, 0),
            Some(t0 + Duration::from_secs(10) + Duration::from_millis(1))
        );
        assert_eq!(rate.deadline(t0, 4999), Some(t0 + Duration::from_secs(15)));
        let off = UploadRate {
            bytes_per_sec: 0,
            grace: Duration::ZERO,
        };
        assert_eq!(off.deadline(t0, 10), None);
    }
}
