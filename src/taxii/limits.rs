//! What bounds the memory members can pin through the HTTP layer:
//!
//! - every page (objects, manifest, versions, status) is held under one
//!   server-wide budget of response bytes in flight; past it, 503 with
//!   Retry-After. A response holds its share until its body is dropped,
//!   which happens when it is sent or when the connection ends (a client that
//!   stops reading is cut by the send timeout, `transport.rs`), so stalled
//!   clients pin at most the budget, not page size times their number;
//! - those bodies are handed to actix in chunks, which it pulls only while
//!   its write buffer has room: a connection's own buffers stay small;
//! - optionally, each member may have at most N requests in progress
//!   (`auth::extract::MemberLimits`, 429 with Retry-After beyond it); a
//!   request is in progress until its response is sent (`HeldBody`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;

use crate::auth::extract::MemberPermit;

/// The size of the chunks a large body is handed to actix in: its write
/// buffer's own size, so at most one chunk waits beside it.
const CHUNK: usize = 32 * 1024;

/// Bodies at least this large give their memory back to the system when
/// they go (see `return_freed_memory`).
pub(crate) const TRIM_ABOVE: u64 = 1024 * 1024;

/// The server-wide budget of response bytes held in memory.
pub struct ResponseBudget {
    limit: u64,
    in_flight: Arc<AtomicU64>,
}

/// A share of the budget, given back on drop.
pub struct Reservation {
    bytes: u64,
    in_flight: Arc<AtomicU64>,
}

impl ResponseBudget {
    pub fn new(limit: u64) -> ResponseBudget {
        ResponseBudget {
            limit,
            in_flight: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Response bytes held right now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes `bytes` of the budget, or `None` when that would exceed it. A
    /// response larger than the whole budget is still served when nothing
    /// else is in flight, so that no page is refused forever.
    pub fn reserve(&self, bytes: u64) -> Option<Reservation> {
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current > 0 && current.saturating_add(bytes) > self.limit {
                return None;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + bytes,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Reservation {
                        bytes,
                        in_flight: self.in_flight.clone(),
                    });
                }
                Err(now) => current = now,
            }
        }
    }
}

impl ResponseBudget {
    /// Takes `bytes` whatever the budget says: for an answer that must go
    /// out (the status of an envelope already stored), still counted.
    pub fn reserve_always(&self, bytes: u64) -> Reservation {
        self.in_flight.fetch_add(bytes, Ordering::AcqRel);
        Reservation {
            bytes,
            in_flight: self.in_flight.clone(),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(self.bytes, Ordering::AcqRel);
        if self.bytes >= TRIM_ABOVE {
            return_freed_memory_soon();
        }
    }
}

/// Trims the allocator on a thread of its own (it can take milliseconds on
/// a large heap), coalescing requests that arrive while a trim runs.
pub(crate) fn return_freed_memory_soon() {
    static WANTED: AtomicBool = AtomicBool::new(false);
    static RUNNING: AtomicBool = AtomicBool::new(false);
    WANTED.store(true, Ordering::Release);
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("breakwater-trim".into())
        .spawn(|| {
            loop {
                WANTED.store(false, Ordering::Release);
                crate::exchange::ingest::return_freed_memory();
                RUNNING.store(false, Ordering::Release);
                // A request that came in during the trim, and found it
                // running, is served by another round here.
                if !WANTED.load(Ordering::Acquire) || RUNNING.swap(true, Ordering::AcqRel) {
                    break;
                }
            }
        });
    if spawned.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

/// A response body held under the budget and handed out in chunks.
pub struct ChunkedBody {
    bytes: Bytes,
    sent: usize,
    _reservation: Reservation,
}

impl ChunkedBody {
    pub fn new(bytes: Bytes, reservation: Reservation) -> ChunkedBody {
        ChunkedBody {
            bytes,
            sent: 0,
            _reservation: reservation,
        }
    }
}

impl MessageBody for ChunkedBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        let this = self.get_mut();
        if this.sent >= this.bytes.len() {
            return Poll::Ready(None);
        }
        let end = (this.sent + CHUNK).min(this.bytes.len());
        let chunk = this.bytes.slice(this.sent..end);
        this.sent = end;
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// A response body that keeps its request's permit until it is sent.
pub struct HeldBody {
    body: BoxBody,
    _permit: MemberPermit,
}

impl HeldBody {
    pub fn new(body: BoxBody, permit: MemberPermit) -> HeldBody {
        HeldBody {
            body,
            _permit: permit,
        }
    }
}

impl MessageBody for HeldBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_limit_and_returns_on_drop() {
        let budget = ResponseBudget::new(100);
        let a = budget.reserve(60).unwrap();
        assert!(budget.reserve(50).is_none());
        let b = budget.reserve(40).unwrap();
        assert_eq!(budget.in_flight(), 100);
        drop(a);
        assert_eq!(budget.in_flight(), 40);
        drop(b);
        assert_eq!(budget.in_flight(), 0);
        // Alone, a response larger than the budget is still served.
        let big = budget.reserve(500).unwrap();
        assert!(budget.reserve(1).is_none());
        drop(big);
        assert_eq!(budget.in_flight(), 0);
    }

    #[test]
    fn a_chunked_body_hands_out_the_whole_text_in_small_chunks() {
        let budget = ResponseBudget::new(1 << 30);
        let text: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let reservation = budget.reserve(text.len() as u64).unwrap();
        let mut body = ChunkedBody::new(Bytes::from(text.clone()), reservation);
        assert_eq!(body.size(), BodySize::Sized(100_000));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(Ok(chunk))) = Pin::new(&mut body).poll_next(&mut cx) {
            assert!(chunk.len() <= CHUNK);
            out.extend_from_slice(&chunk);
        }
        assert_eq!(out, text);
        assert_eq!(budget.in_flight(), 100_000, "held until the body goes");
        drop(body);
        assert_eq!(budget.in_flight(), 0);
    }
}
