//! Live push, a TAXII-adjacent extension: `GET {root}/collections/{id}/stream/`
//! with `Accept: text/event-stream` answers a Server-Sent Events stream of the
//! objects `GET objects` would return, as they are added.
//!
//! - Each event is `id:` (an opaque cursor, HMAC-bound like `next` to the
//!   collection, the member and the filters), `event: objects` and one
//!   `data:` line holding a TAXII envelope. Objects come in `date_added`
//!   order and an object is never split across events.
//! - Start: `Last-Event-ID` (what `EventSource` sends on reconnect) or
//!   `?after=ID` resume exactly after that event; `added_after=T` starts
//!   after T; otherwise after the collection's last object at connect time.
//! - The truth is the store's keyset page (the query polling runs, through
//!   the same read access); `exchange::push` only says when to ask again.
//! - Each page of new objects is rendered into events once and the bytes are
//!   shared by every stream of the same member and filters at the same
//!   position ([`Streams::render_cell`]): a thousand subscribers cost one
//!   read and one rendering per commit, and a stream holds no copy of its own.
//! - Events are produced only when the connection asks for more (the socket
//!   has room), so a stream holds at most one rendered page (shared with the
//!   streams at its position) beyond what the connection buffers. A reader
//!   that takes nothing for `push.slow_subscriber_seconds` while events
//!   wait, or that was following live and has not been handed a write
//!   `push.max_lag_seconds` after its commit, is disconnected; it resumes
//!   from its last event id. Catching up from an older position is never
//!   cut for being behind.
//! - The caller is judged again, as a new request would be, on every wake-up
//!   and every quarter second: a revoked certificate or token, a suspended
//!   member or a withdrawn grant ends the stream within a second.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Extensions;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use tokio::sync::{Notify, OnceCell, oneshot};

use super::cursor_token::{self, Binding};
use super::error::{Code, TaxiiError};
use super::{State, api_root, denied, query, visible_collection};
use crate::auth::extract::{Credentials, MemberPermit};
use crate::auth::policy::{self, ReadAccess};
use crate::auth::registry::Snapshot;
use crate::auth::{AuthError, Caller, MemberRegistry};
use crate::exchange::ExchangeError;
use crate::exchange::push::{PageAsk, Subscription, Wake};
use crate::model::CollectionId;
use crate::store::{Cursor, ObjectFilter, Page, StoredObject};

pub const EVENT_STREAM: &str = "text/event-stream";
/// The `match[...]` fields the stream honours (as `GET objects` does).
const FIELDS: &[&str] = &["id", "type", "spec_version"];
/// Objects read from the store per question. A stream that lags or catches
/// up holds one such page, rendered, that no other stream may share: small
/// enough that a thousand of them stay small, large enough that catching up
/// costs few reads.
const PAGE_OBJECTS: usize = 32;
/// An event carries at most this many objects and, unless one object alone
/// is larger, at most this many bytes.
const EVENT_OBJECTS: usize = 100;
const EVENT_BYTES: usize = 256 * 1024;
/// How often a stream's caller is judged again, and its reader checked.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long one registry snapshot serves every stream's re-check.
const SNAPSHOT_FRESH: Duration = Duration::from_millis(100);
/// What a client is told to wait before reconnecting.
const RETRY_MILLIS: u32 = 2000;
const HEARTBEAT: &[u8] = b": heartbeat\n\n";
/// Rendered pages kept for streams that ask the same question, in all
/// collections together, and the bytes they may hold (the newest is kept
/// whatever its size).
const SHARED_RENDERS: usize = 256;
const SHARED_RENDER_BYTES: usize = 8 << 20;

/// Push settings, from the `[push]` configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub heartbeat: Duration,
    pub max_streams: usize,
    pub max_streams_per_member: usize,
    pub slow_after: Duration,
    pub max_lag: Duration,
}

impl From<&crate::config::Push> for Settings {
    fn from(c: &crate::config::Push) -> Settings {
        Settings {
            heartbeat: Duration::from_secs(c.heartbeat_seconds.max(1)),
            max_streams: c.max_streams,
            max_streams_per_member: c.max_streams_per_member,
            slow_after: Duration::from_secs(c.slow_subscriber_seconds.max(1)),
            max_lag: Duration::from_secs(c.max_lag_seconds.max(1)),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from(&crate::config::Push::default())
    }
}

/// The server's open streams: limits, counts and the registry snapshot
/// their re-checks share.
#[derive(Default)]
pub struct Streams {
    settings: Settings,
    open: Mutex<Counts>,
    snapshot: Mutex<Option<(Instant, Arc<Snapshot>)>>,
    renders: Mutex<VecDeque<(RenderKey, u64, RenderCell)>>,
}

/// Who a rendered page is for (event ids are bound to the collection, the
/// member and the filters) and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RenderKey {
    collection: CollectionId,
    member: String,
    filter: String,
    after: i64,
}

type RenderCell = Arc<OnceCell<Arc<Rendered>>>;

/// A page of objects as the events that carry it, rendered once.
#[derive(Debug)]
struct Rendered {
    events: Vec<RenderedEvent>,
    /// Whether the store had more after this page.
    more: bool,
}

#[derive(Debug)]
struct RenderedEvent {
    bytes: Bytes,
    /// The key of the event's last object (what its id stands for).
    position: Cursor,
    objects: usize,
}

impl Rendered {
    fn bytes(&self) -> usize {
        self.events.iter().map(|e| e.bytes.len()).sum()
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_member: HashMap<String, usize>,
}

impl Streams {
    pub fn new(settings: Settings) -> Streams {
        Streams {
            settings,
            ..Default::default()
        }
    }

    /// How often an idle stream sends a comment line.
    pub fn heartbeat(&self) -> Duration {
        self.settings.heartbeat
    }

    /// Takes a stream slot for `member` (the console's live pages share them).
    pub fn acquire(&self, member: &str) -> Result<(), &'static str> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.settings.max_streams {
            return Err("the server has as many open streams as it allows");
        }
        let mine = open.by_member.entry(member.to_string()).or_default();
        if *mine >= self.settings.max_streams_per_member {
            return Err("your organisation has as many open streams as it may");
        }
        *mine += 1;
        open.total += 1;
        Ok(())
    }

    pub fn release(&self, member: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_member.get_mut(member) {
            *n -= 1;
            if *n == 0 {
                open.by_member.remove(member);
            }
        }
    }

    /// A registry snapshot at most `SNAPSHOT_FRESH` old: a thousand streams
    /// re-checking every quarter second cost a few revision reads, not thousands.
    /// `fresh` skips the shared one (to confirm a refusal: a snapshot a few
    /// milliseconds old may predate the member's own certificate).
    pub fn snapshot(
        &self,
        registry: &MemberRegistry,
        fresh: bool,
    ) -> Result<Arc<Snapshot>, AuthError> {
        let mut cached = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, snapshot)) = cached.as_ref()
            && at.elapsed() < SNAPSHOT_FRESH
            && !fresh
        {
            return Ok(snapshot.clone());
        }
        let snapshot = registry.current()?;
        *cached = Some((Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }

    /// The rendered page for `key`, shared with every stream that asks it
    /// at the same or a later wake-up `generation` of the collection (one
    /// rendered after a later wake-up holds everything an earlier one
    /// stands for). Empty until the first asker fills it.
    fn render_cell(&self, key: RenderKey, generation: u64) -> RenderCell {
        let mut renders = self.renders.lock().unwrap_or_else(|p| p.into_inner());
        shared_render(&mut renders, key, generation)
    }
}

fn shared_render(
    renders: &mut VecDeque<(RenderKey, u64, RenderCell)>,
    key: RenderKey,
    generation: u64,
) -> RenderCell {
    let reusable = renders
        .iter()
        .filter(|(k, g, _)| *k == key && *g >= generation)
        .max_by_key(|(_, g, _)| *g);
    if let Some((_, _, cell)) = reusable {
        return cell.clone();
    }
    // Renders of the collection's older wake-ups are not asked for again.
    renders.retain(|(k, g, _)| k.collection != key.collection || *g >= generation);
    let cell = RenderCell::default();
    renders.push_back((key, generation, cell.clone()));
    let mut bytes: usize = renders
        .iter()
        .filter_map(|(_, _, c)| c.get())
        .map(|r| r.bytes())
        .sum();
    while renders.len() > 1 && (renders.len() > SHARED_RENDERS || bytes > SHARED_RENDER_BYTES) {
        if let Some((_, _, old)) = renders.pop_front() {
            bytes -= old.get().map_or(0, |r| r.bytes());
        }
    }
    cell
}

/// The connection's socket, captured once per connection (`on_connect`),
/// so a stream whose reader stopped reading can be cut: its response
/// writer is blocked on that socket and would never notice otherwise.
#[derive(Clone, Copy)]
pub struct ConnectionSocket(#[cfg(unix)] std::os::fd::RawFd);

/// The connection hook's part for push, beside `auth::identity::capture`:
/// `socket` is the TCP socket under TLS (and under the send timeout of
/// `taxii::transport`), which the connection owns for as long as it lives.
pub fn capture_socket(socket: &actix_rt::net::TcpStream, data: &mut Extensions) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        data.insert(ConnectionSocket(socket.as_raw_fd()));
    }
    #[cfg(not(unix))]
    {
        let _ = (socket, data);
    }
}

/// A handle on this request's connection that outlives nothing but itself.
pub fn own_socket(req: &HttpRequest) -> Option<std::net::TcpStream> {
    #[cfg(unix)]
    {
        use std::os::fd::BorrowedFd;
        let fd = req.conn_data::<ConnectionSocket>()?.0;
        // SAFETY: the descriptor was captured when this request's connection
        // was accepted, and the connection (which owns it) is serving this
        // request right now, so it is open and is this connection's socket.
        // It is duplicated at once; the duplicate is ours to close.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed
            .try_clone_to_owned()
            .ok()
            .map(std::net::TcpStream::from)
    }
    #[cfg(not(unix))]
    {
        let _ = req;
        None
    }
}

/// `Accept` must admit `text/event-stream`; anything else is a 406.
fn require_event_stream(req: &HttpRequest) -> Result<(), TaxiiError> {
    let acceptable = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>() == Ok(0.0)
                })
            });
            essence.eq_ignore_ascii_case(EVENT_STREAM) && !refused
        });
    if acceptable {
        Ok(())
    } else {
        Err(TaxiiError::new(
            Code::NotAcceptable,
            format!("the stream is served only as {EVENT_STREAM}; send Accept: {EVENT_STREAM}"),
        ))
    }
}

/// The event id to resume after: `Last-Event-ID` first (a reconnecting
/// `EventSource` sends it with the original URL), else `?after=`.
fn resume_token(req: &HttpRequest) -> Result<Option<String>, TaxiiError> {
    if let Some(value) = req.headers().get("last-event-id") {
        let text = value.to_str().map_err(|_| bad_event_id())?.trim();
        if !text.is_empty() {
            return Ok(Some(text.to_string()));
        }
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    Ok(pairs
        .into_iter()
        .find(|(k, v)| k == "after" && !v.is_empty())
        .map(|(_, v)| v))
}

fn bad_event_id() -> TaxiiError {
    TaxiiError::new(
        Code::BadCursor,
        "Last-Event-ID / after: not an event id this server issued for this stream (collection, member and filters); reconnect without it",
    )
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The caller may no longer read the collection (revoked, suspended, grant removed).
    Access,
    /// The reader did not keep up.
    Slow,
    /// The server is shutting down.
    Closing,
    /// The reader closed its connection.
    Gone,
    /// Reading the store failed.
    Failed,
}

/// What the stream body and its watchdog share (one worker thread).
#[derive(Default)]
struct Shared {
    end: Cell<Option<End>>,
    /// Since when an event has waited in the connection without the reader
    /// taking enough of it for the connection to ask for more.
    owed_since: Cell<Option<Instant>>,
    /// When the oldest wake-up not yet answered happened, for a stream that
    /// was following live (caught up) when it came: the delivery latency,
    /// and how far behind the stream is.
    woken_at: Cell<Option<Instant>>,
    wake: Notify,
}

impl Shared {
    fn finish(&self, end: End) {
        if self.end.get().is_none() {
            self.end.set(Some(end));
        }
        self.wake.notify_one();
    }

    fn owed_for(&self) -> Duration {
        self.owed_since
            .get()
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    fn behind_for(&self) -> Duration {
        self.woken_at
            .get()
            .map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// Judges the caller again, as a new request would be judged.
struct Gate {
    state: web::Data<State>,
    registry: web::Data<MemberRegistry>,
    credentials: Credentials,
    collection: CollectionId,
}

impl Gate {
    /// Judged against the shared snapshot; a refusal is confirmed against a
    /// fresh one before the stream ends.
    fn check(&self) -> Result<(), End> {
        self.check_with(false).or_else(|_| self.check_with(true))
    }

    fn check_with(&self, fresh: bool) -> Result<(), End> {
        let snapshot = self
            .state
            .streams
            .snapshot(&self.registry, fresh)
            .map_err(|_| End::Failed)?;
        let caller = self.credentials.judge(snapshot.clone()).map_err(|e| {
            tracing::info!(reason = %e, "a push stream's caller is refused now");
            End::Access
        })?;
        let Some(collection) = snapshot.collection(self.collection) else {
            tracing::info!(member = %caller.member.name, "a push stream's collection is gone");
            return Err(End::Access);
        };
        policy::read_access(
            &caller.member,
            collection,
            snapshot.rights(&caller.member, collection),
        )
        .map(|_| ())
        .map_err(|d| {
            tracing::info!(member = %caller.member.name, denied = ?d, "a push stream's read access is withdrawn");
            End::Access
        })
    }
}

/// One open stream's body: produces an event each time the connection asks
/// for more and one is due.
struct Feed {
    state: web::Data<State>,
    gate: Rc<Gate>,
    shared: Rc<Shared>,
    subscription: Subscription,
    access: ReadAccess,
    filter: ObjectFilter,
    filter_key: String,
    /// The key of the last object sent (or the starting point).
    position: Cursor,
    /// A rendered page being sent, and the index of its next event.
    page: Option<(Arc<Rendered>, usize)>,
    /// Whether the store must be asked again before waiting.
    ask: bool,
    heartbeat: Pin<Box<tokio::time::Sleep>>,
    started: bool,
    objects_sent: u64,
    _alive: oneshot::Sender<()>,
}

impl Feed {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Feed)> {
        // Being asked for more is the reader's progress.
        self.shared.owed_since.set(None);
        if !self.started {
            self.started = true;
            return self.hand_over(Bytes::from(format!("retry: {RETRY_MILLIS}\n\n")));
        }
        loop {
            if let Some(end) = self.shared.end.get() {
                self.log_end(end);
                return None;
            }
            if let Some(event) = self.take_event() {
                return self.hand_over(event);
            }
            if self.ask {
                if let Err(end) = self.gate.check() {
                    self.shared.finish(end);
                    continue;
                }
                let generation = self.subscription.current().generation;
                match self.rendered(generation).await {
                    Ok(page) => {
                        self.ask = page.more;
                        if page.events.is_empty() {
                            self.shared.woken_at.set(None);
                        } else {
                            self.page = Some((page, 0));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a push stream could not read the store");
                        self.shared.finish(End::Failed);
                    }
                }
                continue;
            }
            tokio::select! {
                wake = self.subscription.changed() => match wake {
                    Wake::Commit(commit) => {
                        // Only a stream that is idle here was caught up.
                        if self.shared.woken_at.get().is_none() {
                            self.shared.woken_at.set(Some(commit.at));
                        }
                        self.ask = true;
                    }
                    Wake::Closing => self.shared.finish(End::Closing),
                },
                _ = &mut self.heartbeat => {
                    return self.hand_over(Bytes::from_static(HEARTBEAT));
                }
                _ = self.shared.wake.notified() => {}
            }
        }
    }

    /// Gives a chunk to the connection; until it asks for the next one, the
    /// reader owes us progress.
    fn hand_over(mut self, chunk: Bytes) -> Option<(Result<Bytes, Infallible>, Feed)> {
        let next = tokio::time::Instant::now() + self.state.streams.settings.heartbeat;
        self.heartbeat.as_mut().reset(next);
        self.shared.owed_since.set(Some(Instant::now()));
        Some((Ok(chunk), self))
    }

    /// The page after this stream's position as events: rendered by the
    /// first stream to ask, shared by the others at the same position.
    async fn rendered(&self, generation: u64) -> Result<Arc<Rendered>, ExchangeError> {
        let key = RenderKey {
            collection: self.access.collection().id,
            member: self.access.member().to_string(),
            filter: self.filter_key.clone(),
            after: self.position.0,
        };
        let cell = self.state.streams.render_cell(key, generation);
        let rendered = cell
            .get_or_try_init(|| async {
                let ask = PageAsk {
                    access: &self.access,
                    filter: &self.filter,
                    filter_key: &self.filter_key,
                    after: self.position,
                    limit: PAGE_OBJECTS,
                    generation,
                };
                let page = self.subscription.page(&self.state.exchange, &ask).await?;
                let rendered = render_page(&page, |position| self.event_id(position));
                self.state.metrics.stream_events_rendered.fetch_add(
                    rendered.events.len() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                Ok::<_, ExchangeError>(Arc::new(rendered))
            })
            .await?;
        Ok(rendered.clone())
    }

    /// The next event of the page being sent, if any.
    fn take_event(&mut self) -> Option<Bytes> {
        let (page, i) = self.page.take()?;
        let event = page.events.get(i)?;
        self.position = event.position;
        self.objects_sent += event.objects as u64;
        let bytes = event.bytes.clone();
        let metrics = &self.state.metrics;
        metrics
            .stream_events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(at) = self.shared.woken_at.get() {
            metrics.observe_delivery(at.elapsed().as_secs_f64());
        }
        if i + 1 < page.events.len() {
            self.page = Some((page, i + 1));
        } else if !page.more {
            self.shared.woken_at.set(None);
        }
        Some(bytes)
    }

    fn event_id(&self, position: Cursor) -> String {
        cursor_token::encode(
            &self.state.cursor_key,
            position,
            &Binding {
                endpoint: "stream",
                collection: &self.access.collection().id.to_string(),
                object_id: None,
                member: self.access.member(),
                filter: &self.filter,
            },
        )
    }

    fn log_end(&self, end: End) {
        tracing::info!(
            member = %self.access.member(),
            collection = %self.access.collection().id,
            objects = self.objects_sent,
            reason = ?end,
            "push stream ended"
        );
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let member = self.access.member().to_string();
        self.state.streams.release(&member);
        self.state
            .metrics
            .streams_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.state.exchange.audit_queued(crate::store::AuditEvent {
            member: Some(member),
            fingerprint: None,
            collection: Some(self.access.collection().id.to_string()),
            objects: Some(self.objects_sent),
            detail: self.shared.end.get().map(|e| format!("{e:?}")),
            ..crate::store::AuditEvent::now("poll-stream", "ok")
        });
    }
}

/// A page as events of at most `EVENT_OBJECTS` objects and, unless one
/// object alone is larger, `EVENT_BYTES`; `id` names the position after an
/// event's last object.
fn render_page(page: &Page<StoredObject>, id: impl Fn(Cursor) -> String) -> Rendered {
    let mut events = Vec::new();
    let mut start = 0;
    while start < page.items.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < page.items.len() && end - start < EVENT_OBJECTS {
            let size = page.items[end].body.len() + 1;
            if end > start && bytes + size > EVENT_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        let objects = &page.items[start..end];
        let Some(last) = objects.last() else { break };
        let position = Cursor(last.date_added.micros());
        let more = end < page.items.len() || page.more;
        events.push(RenderedEvent {
            bytes: render_event(&id(position), objects, more, bytes),
            position,
            objects: objects.len(),
        });
        start = end;
    }
    Rendered {
        events,
        more: page.more,
    }
}

/// One event: `id:`, `event: objects`, one `data:` line with the envelope.
fn render_event(id: &str, objects: &[StoredObject], more: bool, bytes: usize) -> Bytes {
    let mut out = String::with_capacity(bytes + id.len() + 64);
    out.push_str("id: ");
    out.push_str(id);
    out.push_str("\nevent: objects\ndata: {\"more\":");
    out.push_str(if more { "true" } else { "false" });
    out.push_str(",\"objects\":[");
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_one_line(&mut out, &o.body);
    }
    out.push_str("]}\n\n");
    Bytes::from(out)
}

/// The stored JSON on one line. A line break in valid JSON can only be
/// whitespace between tokens (inside strings it must be escaped), so
/// replacing it with a space keeps the object identical as JSON.
fn push_one_line(out: &mut String, json: &str) {
    if json.contains(['\n', '\r']) {
        out.extend(
            json.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
    } else {
        out.push_str(json);
    }
}

/// Checks the stream's caller and reader four times a second, and cuts the
/// connection of a stream that cannot end by itself (its writer is blocked
/// on a reader that stopped reading).
fn watch(
    gate: Rc<Gate>,
    shared: Rc<Shared>,
    socket: Option<std::net::TcpStream>,
    mut alive: oneshot::Receiver<()>,
) {
    actix_rt::spawn(async move {
        let slow_after = gate.state.streams.settings.slow_after;
        let max_lag = gate.state.streams.settings.max_lag;
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = &mut alive => break,
                _ = tick.tick() => {}
            }
            if shared.end.get().is_none() {
                if socket.as_ref().is_some_and(peer_closed) {
                    // actix keeps a half-closed connection's response going;
                    // a stream to nobody would hold its slot until a write failed.
                    shared.finish(End::Gone);
                } else if let Err(end) = gate.check() {
                    shared.finish(end);
                } else if shared.owed_for() >= slow_after || shared.behind_for() >= max_lag {
                    gate.state
                        .metrics
                        .streams_slow
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    shared.finish(End::Slow);
                }
            }
            if let Some(end) = shared.end.get()
                && (end == End::Slow || shared.owed_for() >= CHECK_EVERY)
            {
                tracing::info!(reason = ?end, "cutting a push stream's connection");
                if let Some(socket) = &socket {
                    let _ = socket.shutdown(std::net::Shutdown::Both);
                }
                break;
            }
        }
    });
}

/// Whether the reader has closed its side (or reset) the connection.
pub fn peer_closed(socket: &std::net::TcpStream) -> bool {
    // The socket is non-blocking (the server's own flag, shared by the
    // duplicate): an open, quiet connection answers WouldBlock.
    let mut byte = [0u8; 1];
    match socket.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// `GET {root}/collections/{id}/stream/`.
pub async fn stream(
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, TaxiiError> {
    require_event_stream(&req)?;
    let (root, collection) = path.into_inner();
    api_root(&caller, &root)?;
    let (collection, rights) = visible_collection(&caller, &root, &collection)?;
    let access = policy::read_access(&caller.member, &collection, rights)
        .map_err(|d| denied(&state, &caller, &collection, d, "read"))?;
    let mut query = query::parse(req.query_string(), FIELDS)?;
    // The position supersedes `added_after` (as with `next`), so the event
    // ids stay valid whatever `added_after` the reconnecting URL carries.
    let added_after = query.filter.added_after.take();
    let filter = query.filter;
    let resume = match resume_token(&req)? {
        Some(token) => Some(
            cursor_token::decode(
                &state.cursor_key,
                &token,
                &Binding {
                    endpoint: "stream",
                    collection: &collection.id.to_string(),
                    object_id: None,
                    member: &caller.member.name,
                    filter: &filter,
                },
            )
            .map_err(|_| bad_event_id())?,
        ),
        None => None,
    };
    if let Err(why) = state.streams.acquire(&caller.member.name) {
        let mut response = TaxiiError::new(Code::Unavailable, why).error_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return Ok(response);
    }
    state
        .metrics
        .streams_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (alive, alive_rx) = oneshot::channel();
    let shared = Rc::new(Shared::default());
    // From here on the stream's slot is released by the feed's Drop.
    let mut feed = Feed {
        state: state.clone(),
        gate: Rc::new(Gate {
            state: state.clone(),
            registry: req
                .app_data::<web::Data<MemberRegistry>>()
                .cloned()
                .ok_or_else(|| TaxiiError::internal(&"no member registry"))?,
            credentials: Credentials::of(&req),
            collection: collection.id,
        }),
        shared: shared.clone(),
        // Subscribed before the starting point is read: nothing written from
        // now on can fall between the first read and the first wait.
        subscription: state.exchange.subscribe(&access),
        filter_key: format!("{filter:?}"),
        filter,
        access,
        position: Cursor(i64::MIN),
        page: None,
        ask: true,
        heartbeat: Box::pin(tokio::time::sleep(state.streams.settings.heartbeat)),
        started: false,
        objects_sent: 0,
        _alive: alive,
    };
    feed.position = match (resume, added_after) {
        (Some(cursor), _) => cursor,
        (None, Some(t)) => Cursor(t.micros()),
        (None, None) => {
            let exchange = state.exchange.clone();
            let access = feed.access.clone();
            super::blocking(move || Ok(exchange.stream_head(&access)?)).await?
        }
    };
    feed.subscription.start_probe_at(feed.position);
    watch(feed.gate.clone(), shared, own_socket(&req), alive_rx);
    // An open stream counts against the `push.*` stream limits, not as a
    // request in progress (`limits.max_requests_per_member`): it never
    // finishes by itself, and a member following as many collections as it
    // may have requests in progress could otherwise ask nothing else.
    drop(req.extensions_mut().remove::<MemberPermit>());
    let body = futures_util::stream::unfold(feed, Feed::next);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, EVENT_STREAM))
        .insert_header((header::CACHE_CONTROL, "no-cache, no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn object(body: &str) -> StoredObject {
        StoredObject {
            id: "indicator--x".into(),
            date_added: crate::model::Timestamp::from_micros(1),
            version: String::new(),
            spec_version: "2.1".into(),
            body: body.into(),
        }
    }

    #[test]
    fn an_event_is_one_envelope_on_one_data_line() {
        let objects = [object("{\"a\":1}"), object("{\n  \"b\": \"x\\ny\"\r\n}")];
        let event = render_event("ID", &objects, true, 0);
        let text = std::str::from_utf8(&event).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "id: ID");
        assert_eq!(lines[1], "event: objects");
        let data = lines[2].strip_prefix("data: ").unwrap();
        assert_eq!(&lines[3..], ["", ""]);
        let envelope: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(envelope["more"], true);
        assert_eq!(envelope["objects"][0]["a"], 1);
        // The escaped line break inside the string is untouched.
        assert_eq!(envelope["objects"][1]["b"], "x\ny");
    }

    fn stored(micros: i64, body: String) -> StoredObject {
        StoredObject {
            date_added: crate::model::Timestamp::from_micros(micros),
            ..object(&body)
        }
    }

    #[test]
    fn a_page_is_rendered_into_events_that_never_split_an_object() {
        // 150 small objects: two events, 100 then 50; the page says more.
        let items: Vec<StoredObject> = (1..=150)
            .map(|i| stored(i, format!("{{\"n\":{i}}}")))
            .collect();
        let page = Page {
            items,
            more: true,
            last_key: Some(Cursor(150)),
        };
        let rendered = render_page(&page, |p| format!("at{}", p.0));
        assert!(rendered.more);
        let counts: Vec<usize> = rendered.events.iter().map(|e| e.objects).collect();
        assert_eq!(counts, [100, 50]);
        assert_eq!(rendered.events[0].position, Cursor(100));
        assert_eq!(rendered.events[1].position, Cursor(150));
        assert!(rendered.events[0].bytes.starts_with(b"id: at100\n"));
        // Large objects: one event stays under EVENT_BYTES unless one object alone is larger.
        let big = "x".repeat(EVENT_BYTES / 2);
        let items = vec![
            stored(1, format!("{{\"d\":\"{big}\"}}")),
            stored(2, format!("{{\"d\":\"{big}\"}}")),
            stored(3, format!("{{\"d\":\"{}\"}}", "y".repeat(EVENT_BYTES * 2))),
        ];
        let page = Page {
            items,
            more: false,
            last_key: Some(Cursor(3)),
        };
        let rendered = render_page(&page, |p| p.0.to_string());
        let counts: Vec<usize> = rendered.events.iter().map(|e| e.objects).collect();
        assert_eq!(counts, [1, 1, 1]);
        assert!(!rendered.more);
        let last = std::str::from_utf8(&rendered.events[2].bytes).unwrap();
        assert!(last.contains("\"more\":false"));
        let first = std::str::from_utf8(&rendered.events[0].bytes).unwrap();
        assert!(first.contains("\"more\":true"));
    }

    fn render_key(member: &str, after: i64) -> RenderKey {
        RenderKey {
            collection: CollectionId::parse("3f1e2a8c-1111-4a0b-9c0d-000000000001").unwrap(),
            member: member.into(),
            filter: String::new(),
            after,
        }
    }

    #[test]
    fn streams_at_the_same_position_share_one_render_and_the_cache_is_bounded() {
        let mut renders = VecDeque::new();
        let a = shared_render(&mut renders, render_key("m", 5), 1);
        assert!(Arc::ptr_eq(
            &a,
            &shared_render(&mut renders, render_key("m", 5), 1)
        ));
        // Another position or another member (event ids are bound to it): another render.
        assert!(!Arc::ptr_eq(
            &a,
            &shared_render(&mut renders, render_key("m", 6), 1)
        ));
        assert!(!Arc::ptr_eq(
            &a,
            &shared_render(&mut renders, render_key("n", 5), 1)
        ));
        // A later wake-up renders again and forgets the older renders ...
        let b = shared_render(&mut renders, render_key("m", 5), 2);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(renders.len(), 1);
        // ... which a stream that saw the older wake-up reuses.
        assert!(Arc::ptr_eq(
            &b,
            &shared_render(&mut renders, render_key("m", 5), 1)
        ));
        // Bounded in count ...
        for i in 0..(SHARED_RENDERS as i64 * 2) {
            shared_render(&mut renders, render_key("m", i), 2);
        }
        assert_eq!(renders.len(), SHARED_RENDERS);
        // ... and in bytes (the newest is kept whatever its size).
        let mut huge = |after| {
            let cell = shared_render(&mut renders, render_key("m", after), 2);
            cell.set(Arc::new(Rendered {
                events: vec![RenderedEvent {
                    bytes: Bytes::from(vec![b'x'; SHARED_RENDER_BYTES / 2 + 1]),
                    position: Cursor(after),
                    objects: 1,
                }],
                more: false,
            }))
            .unwrap();
        };
        huge(-1);
        huge(-2);
        huge(-3);
        let held: usize = renders
            .iter()
            .filter_map(|(_, _, c)| c.get())
            .map(|r| r.bytes())
            .sum();
        assert!(
            held <= SHARED_RENDER_BYTES + SHARED_RENDER_BYTES / 2 + 1,
            "{held}"
        );
    }

    #[test]
    fn accept_must_admit_the_event_stream() {
        let check = |accept: Option<&str>| {
            let mut req = TestRequest::default();
            if let Some(a) = accept {
                req = req.insert_header((header::ACCEPT, a));
            }
            require_event_stream(&req.to_http_request())
        };
        assert!(check(Some("text/event-stream")).is_ok());
        assert!(check(Some("application/json, Text/Event-Stream; q=0.5")).is_ok());
        for bad in [
            None,
            Some("application/taxii+json;version=2.1"),
            Some("text/event-stream;q=0"),
        ] {
            assert_eq!(check(bad).unwrap_err().code, Code::NotAcceptable, "{bad:?}");
        }
    }

    #[test]
    fn stream_limits_count_per_member_and_in_total() {
        let streams = Streams::new(Settings {
            max_streams: 3,
            max_streams_per_member: 2,
            ..Settings::default()
        });
        assert!(streams.acquire("a").is_ok());
        assert!(streams.acquire("a").is_ok());
        assert!(streams.acquire("a").is_err());
        assert!(streams.acquire("b").is_ok());
        assert!(streams.acquire("c").is_err());
        streams.release("a");
        assert!(streams.acquire("c").is_ok());
        assert!(streams.acquire("c").is_err());
    }
}
