//! Live pages: `GET /console/live` is a Server-Sent Events stream that says
//! "collection C changed" whenever the push hub (`exchange::push`) wakes one
//! of the collections the viewer may read; the page's script (`live.js`)
//! then fetches the page again and swaps its content. The stream carries no
//! STIX content, only collection ids the viewer may read: what a page shows
//! is always rendered by the page itself, through the same authorisation.
//!
//! - `?collection=ID` watches one collection (the collection browser);
//!   without it, every collection the viewer may read (the overview).
//! - The viewer is judged again every second and on every wake-up, as a new
//!   page request would be. A revoked certificate or token, an expired
//!   session, a suspension, or any change in the collections it may read
//!   ends the stream; the browser reconnects (`retry:`), the page refreshes
//!   and the new stream watches what the viewer may read now.
//! - Writes of this process wake it at once (`Hub::committed`), those of
//!   other processes (`breakwater import`) within about a second (the
//!   hub's probe).
//! - A live page takes one of its member's push stream slots
//!   (`push.max_streams_per_member`, `push.max_streams`), not a request in
//!   progress; a reader that stops reading is cut by the connection's send
//!   timeout, and a closed connection is noticed within a second.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::{Console, ConsoleError, Viewer, viewer};
use crate::auth::MemberRegistry;
use crate::auth::extract::MemberPermit;
use crate::exchange::push::{Subscription, Wake};
use crate::model::CollectionId;
use crate::taxii::State;
use crate::taxii::stream::{own_socket, peer_closed};

/// How often the viewer is judged again and the connection checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// What the browser is told to wait before reconnecting.
const RETRY_MILLIS: u32 = 2000;

#[derive(serde::Deserialize)]
pub struct LiveQuery {
    collection: Option<String>,
}

/// `GET /console/live[?collection=ID]`.
pub async fn stream(
    viewer: Viewer,
    req: HttpRequest,
    query: web::Query<LiveQuery>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let state = req
        .app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| ConsoleError::internal(&"no server state"))?;
    let registry = req
        .app_data::<web::Data<MemberRegistry>>()
        .cloned()
        .ok_or_else(|| ConsoleError::internal(&"no member registry"))?;
    let reads = match &query.collection {
        Some(id) => vec![viewer.read(&console, id)?],
        None => viewer.reads(),
    };
    if reads.is_empty() {
        // Nothing to watch: 204 tells the browser not to reconnect.
        return Ok(HttpResponse::NoContent().finish());
    }
    let member = viewer.member().name.clone();
    if let Err(why) = state.streams.acquire(&member) {
        return Err(ConsoleError::Unavailable {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: 30,
            message: why.to_string(),
        });
    }
    let watched: Vec<CollectionId> = reads.iter().map(|a| a.collection().id).collect();
    // Subscribed before the heads are read: nothing written from now on is
    // missed. From each head on, the server's probe also finds writes of
    // other processes (`breakwater import`).
    let subscriptions: Vec<Subscription> = reads
        .iter()
        .map(|a| console.exchange.subscribe(a))
        .collect();
    let exchange = console.exchange.clone();
    let heads = super::blocking(move || {
        reads
            .iter()
            .map(|a| exchange.stream_head(a).map_err(ConsoleError::from))
            .collect::<Result<Vec<_>, _>>()
    });
    let heads = match heads.await {
        Ok(heads) => heads,
        Err(e) => {
            state.streams.release(&member);
            return Err(e);
        }
    };
    for (subscription, head) in subscriptions.iter().zip(heads) {
        subscription.start_probe_at(head);
    }
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let live = Live {
        heartbeat: Box::pin(tokio::time::sleep(state.streams.heartbeat())),
        socket: own_socket(&req),
        every: query.collection.is_none(),
        state,
        registry,
        console: console.clone(),
        req: req.clone(),
        member,
        watched,
        subscriptions,
        tick,
        started: false,
    };
    // An open page is a stream, not a request in progress (as with TAXII's
    // push stream): it never finishes by itself.
    drop(req.extensions_mut().remove::<MemberPermit>());
    let body = futures_util::stream::unfold(live, Live::next);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// One open live page.
struct Live {
    state: web::Data<State>,
    registry: web::Data<MemberRegistry>,
    console: web::Data<Console>,
    req: HttpRequest,
    member: String,
    /// Every readable collection (the overview), rather than one.
    every: bool,
    watched: Vec<CollectionId>,
    subscriptions: Vec<Subscription>,
    tick: tokio::time::Interval,
    heartbeat: Pin<Box<tokio::time::Sleep>>,
    socket: Option<std::net::TcpStream>,
    started: bool,
}

/// What woke a live page.
enum Woken {
    Commit(usize),
    Closing,
    Tick,
    Heartbeat,
}

impl Live {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Live)> {
        if !self.started {
            self.started = true;
            return self.send(format!("retry: {RETRY_MILLIS}\n\n"));
        }
        loop {
            let woken = {
                let changes: LocalBoxFuture<'_, Woken> = if self.subscriptions.is_empty() {
                    futures_util::future::pending().boxed_local()
                } else {
                    let waits: Vec<BoxFuture<'_, (usize, Wake)>> = self
                        .subscriptions
                        .iter_mut()
                        .enumerate()
                        .map(|(i, s)| async move { (i, s.changed().await) }.boxed())
                        .collect();
                    futures_util::future::select_all(waits)
                        .map(|((i, wake), _, _)| match wake {
                            Wake::Commit(_) => Woken::Commit(i),
                            Wake::Closing => Woken::Closing,
                        })
                        .boxed_local()
                };
                tokio::select! {
                    woken = changes => woken,
                    _ = self.tick.tick() => Woken::Tick,
                    _ = &mut self.heartbeat => Woken::Heartbeat,
                }
            };
            match woken {
                Woken::Closing => return None,
                Woken::Heartbeat => return self.send(": heartbeat\n\n".to_string()),
                Woken::Tick => {
                    if self.socket.as_ref().is_some_and(peer_closed) || !self.allowed() {
                        return None;
                    }
                }
                Woken::Commit(i) => {
                    if !self.allowed() {
                        return None;
                    }
                    let id = self.watched[i];
                    return self.send(format!(
                        "event: change\ndata: {{\"collection\":\"{id}\"}}\n\n"
                    ));
                }
            }
        }
    }

    fn send(mut self, chunk: String) -> Option<(Result<Bytes, Infallible>, Live)> {
        let next = tokio::time::Instant::now() + self.state.streams.heartbeat();
        self.heartbeat.as_mut().reset(next);
        Some((Ok(Bytes::from(chunk)), self))
    }

    /// Whether the viewer, judged now, is the same member and may read
    /// exactly what this stream watches (every readable collection, or the
    /// one it asked for).
    fn allowed(&self) -> bool {
        let Ok(snapshot) = self.state.streams.snapshot(&self.registry, false) else {
            return false;
        };
        let Some(member) = viewer::judge_again(&self.req, &self.console, snapshot.clone()) else {
            return false;
        };
        if member.name != self.member {
            return false;
        }
        let readable: Vec<CollectionId> = viewer::reads(&snapshot, &member)
            .iter()
            .map(|a| a.collection().id)
            .collect();
        if self.every {
            readable == self.watched
        } else {
            self.watched.iter().all(|c| readable.contains(c))
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.state.streams.release(&self.member);
    }
}
