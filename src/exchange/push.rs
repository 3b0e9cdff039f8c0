//! Live push fan-out: who is waiting on which collection, and the wake-up.
//!
//! The truth is the store's keyset page ("objects after cursor C", the very
//! query `GET objects` runs); this module only decides *when* a subscriber
//! asks it again. Three sources wake a collection's subscribers:
//!
//! - [`Hub::committed`], called by the ingest paths right after a durable
//!   write (synchronous, background and resumed envelopes);
//! - [`Hub::probe`], run about once a second by the server, which finds
//!   writes made by other processes (`breakwater import`) with one cheap
//!   keyset query per collection that has subscribers;
//! - on PostgreSQL, the database's notification of a commit by any node
//!   (`LISTEN/NOTIFY`, see [`Store::watch_objects`]): the store's listener
//!   calls [`Hub::notified`] for the collection named in the payload, or
//!   [`Hub::wake_all`] after it reconnected (notifications may have been
//!   missed). A node hears its own commits too, which costs its subscribers
//!   one more shared page read; the probe stays as the safety net.
//!
//! A notification is only a wake-up: what a subscriber receives is always
//! the keyset page after its own cursor, so a lost or late notification
//! delays an object (until the probe), never loses or repeats one.
//!
//! Subscribers waiting at the same position with the same filter share one
//! query per commit ([`Subscription::page`]), so a thousand subscribers on a
//! collection cost one read per commit, not a thousand.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OnceCell, watch};

use super::{Exchange, ExchangeError};
use crate::auth::policy::ReadAccess;
use crate::model::CollectionId;
use crate::store::{Cursor, ObjectFilter, Page, Store, StoreError, StoredObject, VersionFilter};

/// Pages remembered per collection for subscribers that ask the same question.
const SHARED_PAGES: usize = 64;
/// Rows the probe reads per collection and round.
const PROBE_ROWS: usize = 1000;

/// The latest wake-up of a collection: a counter and when it happened.
#[derive(Debug, Clone, Copy)]
pub struct Commit {
    pub generation: u64,
    /// When the write was noticed (right after its commit, for writes made
    /// by this process), for the delivery latency metric.
    pub at: Instant,
}

type SharedPage = Arc<OnceCell<Arc<Page<StoredObject>>>>;

/// What identifies one shared page: the filter, the position, the page size
/// and the generation it was asked at (a page is never reused across a wake-up).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PageKey {
    filter: String,
    after: i64,
    limit: usize,
    generation: u64,
}

struct Channel {
    collection: CollectionId,
    tx: watch::Sender<Commit>,
    subscribers: usize,
    /// The probe's position: every key up to here has woken the subscribers.
    probed: Option<Cursor>,
    pages: VecDeque<(PageKey, SharedPage)>,
}

#[derive(Default)]
struct Inner {
    channels: Mutex<HashMap<CollectionId, Channel>>,
    closing: watch::Sender<bool>,
    /// Database notifications that woke a collection's subscribers.
    database_wakeups: AtomicU64,
}

/// The per-collection wake-up. Cheap to clone; one per server process.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// A durable write to `collection` just committed: wake its subscribers.
    /// Costs one map look-up when nobody is subscribed.
    pub fn committed(&self, collection: CollectionId) {
        let channels = self.lock();
        if let Some(channel) = channels.get(&collection) {
            bump(channel, Instant::now());
        }
    }

    /// The database announced a commit into `collection` (by any node):
    /// wake its subscribers, counting it (`/metrics`) when there are any.
    pub fn notified(&self, collection: CollectionId) {
        let channels = self.lock();
        if let Some(channel) = channels.get(&collection) {
            self.inner.database_wakeups.fetch_add(1, Ordering::Relaxed);
            bump(channel, Instant::now());
        }
    }

    /// How many database notifications woke subscribers so far.
    pub fn database_wakeups(&self) -> u64 {
        self.inner.database_wakeups.load(Ordering::Relaxed)
    }

    /// Anything may have been written to any collection (the database's
    /// notifications may have been missed): wake every subscriber.
    pub fn wake_all(&self) {
        let now = Instant::now();
        for channel in self.lock().values() {
            bump(channel, now);
        }
    }

    /// Ends every stream (the server is shutting down).
    pub fn close_all(&self) {
        self.inner.closing.send_replace(true);
    }

    /// How many collections have subscribers.
    pub fn watched(&self) -> usize {
        self.lock().len()
    }

    /// Finds writes this process was not told about (other processes, other
    /// nodes): one keyset query per collection with subscribers, from where
    /// the previous round stopped; anything new wakes that collection.
    /// Blocking (store reads): run it off the reactor.
    pub fn probe(&self, store: &dyn Store) {
        let watched: Vec<(CollectionId, Option<Cursor>)> = self
            .lock()
            .values()
            .map(|c| (c.collection, c.probed))
            .collect();
        let every_row = ObjectFilter {
            versions: VersionFilter::All,
            ..Default::default()
        };
        for (collection, probed) in watched {
            let Some(after) = probed else { continue };
            let page =
                match store.list_objects(collection, &every_row, Some(after), PROBE_ROWS, false) {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, %collection, "push probe failed");
                        continue;
                    }
                };
            let Some(last) = page.last_key else { continue };
            let mut channels = self.lock();
            if let Some(channel) = channels.get_mut(&collection) {
                channel.probed = Some(channel.probed.map_or(last, |p| Cursor(p.0.max(last.0))));
                bump(channel, Instant::now());
            }
        }
    }

    /// Registers a subscriber of `collection` starting at `position`. The
    /// caller subscribes *before* it reads anything, so no commit can fall
    /// between its first read and its first wait.
    fn subscribe(&self, collection: CollectionId) -> Subscription {
        let mut channels = self.lock();
        let channel = channels.entry(collection).or_insert_with(|| Channel {
            collection,
            tx: watch::Sender::new(Commit {
                generation: 0,
                at: Instant::now(),
            }),
            subscribers: 0,
            probed: None,
            pages: VecDeque::new(),
        });
        channel.subscribers += 1;
        Subscription {
            hub: self.clone(),
            collection,
            rx: channel.tx.subscribe(),
            closing: self.inner.closing.subscribe(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CollectionId, Channel>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

fn bump(channel: &Channel, at: Instant) {
    channel.tx.send_modify(|c| {
        c.generation += 1;
        c.at = at;
    });
}

/// One subscriber's membership of a collection's wake-up; leaving is dropping it.
pub struct Subscription {
    hub: Hub,
    collection: CollectionId,
    rx: watch::Receiver<Commit>,
    closing: watch::Receiver<bool>,
}

/// Why [`Subscription::changed`] returned.
#[derive(Debug, Clone, Copy)]
pub enum Wake {
    /// Something was written to the collection.
    Commit(Commit),
    /// The server is shutting down.
    Closing,
}

impl Subscription {
    /// The wake-up generation now, marked as seen: a read started after this
    /// call sees every write that generation stands for.
    pub fn current(&mut self) -> Commit {
        *self.rx.borrow_and_update()
    }

    /// Waits for the next wake-up after the one last seen.
    pub async fn changed(&mut self) -> Wake {
        if *self.closing.borrow() {
            return Wake::Closing;
        }
        tokio::select! {
            changed = self.rx.changed() => match changed {
                Ok(()) => Wake::Commit(*self.rx.borrow_and_update()),
                Err(_) => Wake::Closing,
            },
            _ = self.closing.wait_for(|closing| *closing) => Wake::Closing,
        }
    }

    /// Starts the probe for this collection at `position` if it has not
    /// started yet: from then on, writes of other processes after it wake
    /// the subscribers.
    pub fn start_probe_at(&self, position: Cursor) {
        if let Some(channel) = self.hub.lock().get_mut(&self.collection) {
            channel.probed.get_or_insert(position);
        }
    }

    /// Objects after `ask.after` matching `ask.filter`: the store's keyset
    /// page, shared with every subscriber asking the same question at the
    /// same wake-up generation (one query for all of them).
    pub async fn page(
        &self,
        exchange: &Exchange,
        ask: &PageAsk<'_>,
    ) -> Result<Arc<Page<StoredObject>>, ExchangeError> {
        let key = PageKey {
            filter: ask.filter_key.to_string(),
            after: ask.after.0,
            limit: ask.limit,
            generation: ask.generation,
        };
        let cell = {
            let mut channels = self.hub.lock();
            match channels.get_mut(&self.collection) {
                Some(channel) => shared_cell(&mut channel.pages, key),
                None => Arc::new(OnceCell::new()),
            }
        };
        let page = cell
            .get_or_try_init(|| {
                let exchange = exchange.clone();
                let access = ask.access.clone();
                let filter = ask.filter.clone();
                let (after, limit) = (ask.after, ask.limit);
                async move {
                    let page = tokio::task::spawn_blocking(move || {
                        exchange.list_objects(&access, &filter, Some(after), limit)
                    })
                    .await
                    .map_err(|e| ExchangeError::Store(StoreError::Corrupt(e.to_string())))??;
                    Ok::<_, ExchangeError>(Arc::new(page))
                }
            })
            .await?;
        Ok(page.clone())
    }
}

/// One subscriber's question to the store.
pub struct PageAsk<'a> {
    pub access: &'a ReadAccess,
    pub filter: &'a ObjectFilter,
    /// Identifies `filter` among the subscribers of the collection.
    pub filter_key: &'a str,
    pub after: Cursor,
    pub limit: usize,
    /// The wake-up generation seen (from [`Subscription::current`]) before asking.
    pub generation: u64,
}

/// The cell for `key`, reused if another subscriber asked the same question
/// at the same or a later wake-up generation (a page read after a later
/// wake-up holds everything an earlier one stands for).
fn shared_cell(pages: &mut VecDeque<(PageKey, SharedPage)>, key: PageKey) -> SharedPage {
    let reusable = pages
        .iter()
        .filter(|(k, _)| {
            k.filter == key.filter
                && k.after == key.after
                && k.limit == key.limit
                && k.generation >= key.generation
        })
        .max_by_key(|(k, _)| k.generation);
    if let Some((_, cell)) = reusable {
        return cell.clone();
    }
    // Pages of older wake-ups are never asked for again.
    let generation = key.generation;
    pages.retain(|(k, _)| k.generation >= generation);
    if pages.len() >= SHARED_PAGES {
        pages.pop_front();
    }
    let cell: SharedPage = Arc::new(OnceCell::new());
    pages.push_back((key, cell.clone()));
    cell
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.hub.lock();
        if let Some(channel) = channels.get_mut(&self.collection) {
            channel.subscribers -= 1;
            if channel.subscribers == 0 {
                channels.remove(&self.collection);
            }
        }
    }
}

impl Exchange {
    /// The fan-out of live push.
    pub fn push(&self) -> &Hub {
        &self.push
    }

    /// Joins the wake-up of the collection `access` reads.
    pub fn subscribe(&self, access: &ReadAccess) -> Subscription {
        self.push.subscribe(access.collection().id)
    }

    /// The collection's last key now ("from now" for a new stream): every
    /// object stored before this call is at or before it, every later one
    /// after. Read from the store, not from this node's clock or memory:
    /// with several nodes, keys come from the database's clock and commits
    /// from other nodes. Blocking.
    pub fn stream_head(&self, access: &ReadAccess) -> Result<Cursor, ExchangeError> {
        Ok(self
            .store
            .last_key(access.collection().id)?
            .unwrap_or(Cursor(i64::MIN)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(after: i64, generation: u64) -> PageKey {
        PageKey {
            filter: String::new(),
            after,
            limit: 10,
            generation,
        }
    }

    #[test]
    fn subscribers_asking_the_same_question_share_one_page() {
        let mut pages = VecDeque::new();
        let a = shared_cell(&mut pages, key(5, 1));
        let b = shared_cell(&mut pages, key(5, 1));
        assert!(Arc::ptr_eq(&a, &b));
        let c = shared_cell(&mut pages, key(6, 1));
        assert!(!Arc::ptr_eq(&a, &c));
        // A newer wake-up forgets the older pages.
        let d = shared_cell(&mut pages, key(5, 2));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(pages.len(), 1);
        // A subscriber that saw an older wake-up reuses the newer page.
        let e = shared_cell(&mut pages, key(5, 1));
        assert!(Arc::ptr_eq(&d, &e));
        assert_eq!(pages.len(), 1);
        for i in 0..(SHARED_PAGES as i64 * 2) {
            shared_cell(&mut pages, key(i, 2));
        }
        assert_eq!(pages.len(), SHARED_PAGES);
    }

    #[tokio::test]
    async fn a_commit_wakes_only_its_collection_and_the_last_subscriber_leaves_no_trace() {
        let hub = Hub::default();
        let green = CollectionId::parse("3f1e2a8c-1111-4a0b-9c0d-000000000001").unwrap();
        let amber = CollectionId::parse("3f1e2a8c-1111-4a0b-9c0d-000000000002").unwrap();
        let mut a = hub.subscribe(green);
        let b = hub.subscribe(amber);
        let seen = a.current().generation;
        hub.committed(green);
        match a.changed().await {
            Wake::Commit(c) => assert_eq!(c.generation, seen + 1),
            Wake::Closing => panic!("not closing"),
        }
        assert!(!b.rx.has_changed().unwrap());
        assert_eq!(hub.watched(), 2);
        drop(a);
        drop(b);
        assert_eq!(hub.watched(), 0);
        // Nobody listening: a commit is a no-op.
        hub.committed(green);
        assert_eq!(hub.watched(), 0);
    }

    #[tokio::test]
    async fn database_notifications_wake_and_are_counted_only_where_someone_listens() {
        let hub = Hub::default();
        let green = CollectionId::parse("3f1e2a8c-1111-4a0b-9c0d-000000000004").unwrap();
        let amber = CollectionId::parse("3f1e2a8c-1111-4a0b-9c0d-000000000005").unwrap();
        hub.notified(green);
        assert_eq!(hub.database_wakeups(), 0, "nobody subscribed");
        let mut a = hub.subscribe(green);
        let mut b = hub.subscribe(amber);
        let (seen_a, seen_b) = (a.current().generation, b.current().generation);
        hub.notified(green);
        assert_eq!(hub.database_wakeups(), 1);
        match a.changed().await {
            Wake::Commit(c) => assert_eq!(c.generation, seen_a + 1),
            Wake::Closing => panic!("not closing"),
        }
        assert!(!b.rx.has_changed().unwrap());
        // After a reconnect anything may have changed: everyone looks.
        hub.wake_all();
        match b.changed().await {
            Wake::Commit(c) => assert_eq!(c.generation, seen_b + 1),
            Wake::Closing => panic!("not closing"),
        }
        assert!(a.rx.has_changed().unwrap());
    }

    #[tokio::test]
    async fn closing_wakes_every_subscriber() {
        let hub = Hub::default();
        let c = CollectionId::parse("3f1e2a8c-1111-4a0b-9c0d-000000000003").unwrap();
        let mut s = hub.subscribe(c);
        hub.close_all();
        assert!(matches!(s.changed().await, Wake::Closing));
    }
}
