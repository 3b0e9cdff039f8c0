//! Reads a request body up to the API root's `max_content_length` (413
//! beyond it), refusing early on a declared Content-Length.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, BytesMut};
use futures_util::StreamExt;

use super::error::{Code, TaxiiError};

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
    while let Some(chunk) = payload.next().await {
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
