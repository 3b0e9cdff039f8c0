//! The node's ear on the database: one connection, driven by a task on the
//! store's runtime, LISTENing on `breakwater_auth` (the auth revision moved:
//! a certificate revoked, a member suspended, a grant removed, on any node or
//! by the CLI) and `breakwater_objects` (a collection got new objects, on any
//! node).
//!
//! It keeps the last auth revision in memory, so the per-request revision
//! check costs no round trip: a change is known here milliseconds after its
//! commit, and a heartbeat re-reads the revision every [`HEARTBEAT`] in case
//! a notification was ever missed. While this connection is down the
//! database counts as unreachable: the revision check fails (members get 503
//! with Retry-After) until it is back, without waiting on the pool.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio_postgres::AsyncMessage;

use super::connect::Connector;
use super::sql;
use crate::model::CollectionId;
use crate::store::ObjectsChanged;

pub const HEARTBEAT: Duration = Duration::from_millis(250);
/// Wait between attempts to reconnect while the database is unreachable.
const RECONNECT: Duration = Duration::from_millis(250);
/// A heartbeat that takes longer means the database is gone.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);

pub type Subscriber = Arc<dyn Fn(ObjectsChanged) + Send + Sync>;
pub type Chore = Box<dyn Fn() + Send + Sync>;

/// What the listener knows about the auth revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// Connected: the latest revision.
    Known(i64),
    /// The listener has been connected before and is not now.
    Down,
    /// Not connected yet since the store opened.
    NotYet,
}

#[derive(Default)]
pub struct Watch {
    started: AtomicBool,
    ever_connected: AtomicBool,
    healthy: AtomicBool,
    revision: AtomicI64,
    subscribers: Mutex<Vec<Subscriber>>,
    /// Run every [`super::CHORES_EVERY`] while connected, each on a thread
    /// of its own, never two at once.
    chores: Mutex<Vec<Chore>>,
    chores_running: Arc<AtomicBool>,
}

impl Watch {
    pub fn revision(&self) -> Revision {
        if self.healthy.load(Ordering::Acquire) {
            Revision::Known(self.revision.load(Ordering::Acquire))
        } else if self.ever_connected.load(Ordering::Acquire) {
            Revision::Down
        } else {
            Revision::NotYet
        }
    }

    /// Records a revision read elsewhere (a snapshot loaded with its
    /// revision), never moving backwards.
    pub fn saw_revision(&self, revision: i64) {
        self.revision.fetch_max(revision, Ordering::AcqRel);
    }

    pub fn subscribe(&self, subscriber: Subscriber) {
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(subscriber);
    }

    pub fn add_chore(&self, chore: Chore) {
        self.chores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(chore);
    }

    fn publish(&self, change: ObjectsChanged) {
        let subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for s in subscribers {
            s(change);
        }
    }

    fn run_chores(self: &Arc<Self>) {
        if self.chores_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let watch = Arc::downgrade(self);
        let running = self.chores_running.clone();
        let spawned = std::thread::Builder::new()
            .name("breakwater-chores".into())
            .spawn(move || {
                if let Some(w) = watch.upgrade() {
                    let chores = w.chores.lock().unwrap_or_else(|p| p.into_inner());
                    for chore in chores.iter() {
                        chore();
                    }
                }
                running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.chores_running.store(false, Ordering::Release);
        }
    }

    /// Starts the listener once; it stops when the store is dropped.
    /// Returns true if this call started it.
    pub fn start(self: &Arc<Self>, runtime: &tokio::runtime::Handle, connector: Connector) -> bool {
        if self.started.swap(true, Ordering::AcqRel) {
            return false;
        }
        runtime.spawn(run(Arc::downgrade(self), connector));
        true
    }
}

async fn run(watch: Weak<Watch>, connector: Connector) {
    let mut was_down = false;
    let mut last_chores = Instant::now();
    loop {
        let Some(w) = watch.upgrade() else { return };
        let (client, mut connection) = match connector.open().await {
            Ok(c) => c,
            Err(e) => {
                if w.healthy.swap(false, Ordering::AcqRel) || !was_down {
                    tracing::warn!(database = %connector.shown, error = %super::describe(&e), "the database is unreachable; retrying");
                }
                was_down = true;
                drop(w);
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Drives the connection: queries go out, answers and notifications
        // come in.
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx.send(n).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        let ready = async {
            client
                .batch_execute("LISTEN breakwater_auth; LISTEN breakwater_objects")
                .await?;
            client.query_one(sql::AUTH_REVISION, &[]).await
        };
        let error = match tokio::time::timeout(HEARTBEAT_TIMEOUT, ready).await {
            Ok(Ok(row)) => {
                w.saw_revision(row.get(0));
                if was_down {
                    tracing::info!(database = %connector.shown, "the database is reachable again");
                }
                w.ever_connected.store(true, Ordering::Release);
                w.healthy.store(true, Ordering::Release);
                // Notifications sent while nobody listened are lost:
                // anything may have changed.
                w.publish(ObjectsChanged::Anything);
                drop(w);
                listen(&watch, &client, &mut rx, &mut last_chores).await
            }
            Ok(Err(e)) => super::describe(&e),
            Err(_) => "no answer to LISTEN".into(),
        };
        driver.abort();
        let Some(w) = watch.upgrade() else { return };
        w.healthy.store(false, Ordering::Release);
        tracing::warn!(database = %connector.shown, error = %error, "lost the database connection; reconnecting");
        was_down = true;
        drop(w);
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Handles notifications and heartbeats until the connection fails (the
/// returned reason) or the store is dropped.
async fn listen(
    watch: &Weak<Watch>,
    client: &tokio_postgres::Client,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>,
    last_chores: &mut Instant,
) -> String {
    loop {
        let heartbeat = tokio::time::sleep(HEARTBEAT);
        tokio::select! {
            n = rx.recv() => {
                let Some(n) = n else { return "the connection closed".into() };
                let Some(w) = watch.upgrade() else { return "the store closed".into() };
                match n.channel() {
                    "breakwater_auth" => {
                        if let Ok(rev) = n.payload().parse::<i64>() {
                            w.saw_revision(rev);
                        }
                    }
                    "breakwater_objects" => match CollectionId::parse(n.payload()) {
                        Some(id) => w.publish(ObjectsChanged::Collection(id)),
                        None => w.publish(ObjectsChanged::Anything),
                    },
                    _ => {}
                }
            }
            _ = heartbeat => {
                let Some(w) = watch.upgrade() else { return "the store closed".into() };
                // Proves the connection alive, and catches up on the
                // revision if a notification was ever missed.
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, client.query_one(sql::AUTH_REVISION, &[])).await {
                    Ok(Ok(row)) => w.saw_revision(row.get(0)),
                    Ok(Err(e)) => return super::describe(&e),
                    Err(_) => return "the heartbeat got no answer".into(),
                }
                if last_chores.elapsed() >= super::CHORES_EVERY {
                    *last_chores = Instant::now();
                    w.run_chores();
                }
            }
        }
    }
}
