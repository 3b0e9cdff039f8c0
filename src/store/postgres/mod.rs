//! PostgreSQL backend: several Breakwater nodes on one database.
//!
//! # Exactly-once polling across nodes
//!
//! A member polls with `added_after` = the last `date_added` it saw (or a
//! `next` token holding it) and must receive every object exactly once. On
//! one node SQLite gets this from its single writer. With several nodes
//! writing at once, a timestamp or sequence taken *before* commit is not
//! enough: transaction T1 takes `date_added` 100, T2 takes 101, T2 commits
//! first, a poller sees 101 and moves its cursor past 100, then T1 commits
//! and 100 is never delivered.
//!
//! So every write to a collection's objects (ingest, delete) first takes
//! that collection's lock, a transaction-level advisory lock keyed by the
//! collection's id, on whichever node it runs. Under the lock it takes its
//! `date_added` values from the clock (`breakwater_take_added`, a sequence
//! advanced to the wall clock of the *database* server, strictly increasing
//! across all collections and nodes), inserts, and commits while still
//! holding the lock. PostgreSQL marks a transaction committed (visible to
//! new snapshots) before it releases its locks, so the next writer of that
//! collection can only take the lock, and values, after the previous commit
//! is visible. Commits into one collection therefore become visible in
//! `date_added` order: every snapshot sees a prefix of the collection's
//! `date_added` sequence, and a poller resuming after the last key it saw
//! can never be overtaken by a smaller key that becomes visible later.
//! Pages are plain keyset reads on `(collection_id, date_added)`: READ
//! COMMITTED, one statement, one snapshot.
//!
//! Collections do not wait for each other: the clock's own lock is held for
//! the instant it reads and advances the sequence, not until commit. Within
//! a node, envelopes queued for the same collection while a commit is in
//! flight are folded into the next transaction (`committer.rs`), so they
//! share one lock wait and one fsync; see `benches/README.md` for what this
//! costs under load on one and two nodes.
//!
//! The other design considered: commit freely and let polls read only below
//! a visibility horizon (keys of transactions older than the snapshot's
//! `pg_snapshot_xmin`). It needs the transaction id stored per row, and any
//! long transaction anywhere in the database (a large envelope, a
//! collection deletion, a backup) holds back the tail of every poll until
//! it ends: the lock above costs only writers of the same collection, and
//! only for their commit.
//!
//! `date_added` is unique across the database, not only per collection, so
//! `store copy` can move a database into SQLite (where it is the row id)
//! unchanged, and a member's cursor stays valid after the move.
//!
//! # Everything else a node shares
//!
//! - **Live revocation.** Every change to members, certificates, grants,
//!   tokens, collections or API roots bumps one revision and `NOTIFY`s
//!   `breakwater_auth` (triggers in the schema). Each node keeps a LISTEN
//!   connection (`listener.rs`) and the last revision in memory, so the
//!   per-request check costs nothing and sees a change within milliseconds
//!   (a 250 ms heartbeat catches anything missed).
//! - **New objects.** The ingest transaction `NOTIFY`s `breakwater_objects`
//!   with the collection id; [`Store::watch_objects`] hands these to
//!   whoever waits for new objects, from every node (the server's live-push
//!   hub). The wake-up is not the data: a stream reads the keyset page after
//!   its cursor, and "from now" is [`Store::last_key`], the largest visible
//!   key, which by the commit order above no later object can precede.
//! - **Deleted collections** are marked (hidden at once, under the
//!   collection's lock) and emptied later in short transactions, each
//!   under the same lock, so nodes purging at once take turns.
//! - **Locks and space.** A statement waits at most `Options::busy_wait`
//!   for a lock (`lock_timeout`); lock timeouts, serialization failures and
//!   deadlocks are [`StoreError::Busy`], the server's `disk_full` is
//!   [`StoreError::Full`]: members get 503 or 507, and may retry.
//! - **Pending envelopes** (stored in the background, status `pending`)
//!   are finished by whichever transaction locks their status row first;
//!   the others find it completed. Every node sweeps for envelopes whose
//!   writer died (`kill -9`) and finishes them, as does a restart.
//! - **The console's read models** (counts, labels, edges, activity and
//!   refusal rollups; `console.rs`, schema 3) are written in the transaction
//!   of the rows they summarise, by the writer for new object versions and
//!   by triggers for the rest, so every node's console shows the same
//!   figures. Object counts change under the collection's lock; a batch of
//!   audit events upserts its rollup rows in key order, so nodes flushing
//!   at once queue for a row rather than deadlock.
//! - **Statuses, audit, `next` tokens** live in the database: any node reads
//!   any status, the audit log is one table read in time order, and the
//!   token key is one row.
//!
//! # Connections and failure
//!
//! The `Store` trait is synchronous; this backend runs tokio-postgres on a
//! runtime of its own and parks the caller until its query completes
//! (`pool.rs`), so it can be called from any thread. When the database is
//! unreachable, calls fail with [`StoreError::Unavailable`] (members get
//! 503 with Retry-After, never 500) and the node recovers by itself when
//! the database returns: the listener reconnects, and a pooled connection
//! found dead on its first statement is replaced and the call retried.

mod audit;
mod committer;
pub mod connect;
mod console;
mod copy;
mod listener;
mod members;
mod migrations;
mod objects;
mod pool;
mod sql;
mod statuses;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use self::committer::Committer;
use self::connect::Connector;
use self::listener::{Revision, Watch};
use self::pool::{Db, Io};
use crate::model::{CollectionId, Timestamp};
use crate::store::*;

pub use migrations::LATEST as SCHEMA_VERSION;

/// How often a node looks for pending envelopes another node left behind.
const CHORES_EVERY: Duration = Duration::from_secs(5);
/// A pending envelope untouched this long is taken to be abandoned (its
/// node died before finishing it); one still being stored is locked and
/// skipped whatever its age.
const ABANDONED_AFTER: Duration = Duration::from_secs(5);
/// Queued audit events wait at most this long for their commit.
const AUDIT_DELAY: Duration = Duration::from_millis(100);
const AUDIT_BATCH: usize = 4096;

/// Auth changes committed by any store of this process: a store whose
/// listener has not yet heard of one reads the revision instead of trusting
/// its memory, so a change made in this process applies to the very next
/// request. (Changes by other processes arrive by NOTIFY, within
/// milliseconds.)
static LOCAL_AUTH_WRITES: AtomicU64 = AtomicU64::new(0);

pub struct PgStore {
    inner: Arc<Inner>,
    /// `LOCAL_AUTH_WRITES` as of this store's last revision read.
    local_writes_seen: AtomicU64,
}

struct Inner {
    io: Io,
    pool: Pool,
    connector: Connector,
    committer: Committer,
    watch: Arc<Watch>,
    audits: Mutex<Vec<AuditEvent>>,
    audits_waiting: Condvar,
    audit_thread: AtomicBool,
    /// The last write failed for lack of space and none stored objects since.
    full: AtomicBool,
    max_rows: usize,
}

impl Drop for PgStore {
    /// Commits the queued audit events before the store goes.
    fn drop(&mut self) {
        if let Err(e) = self.inner.flush_audits() {
            tracing::error!(error = %e, "could not write queued audit events");
        }
        self.inner.audits_waiting.notify_all();
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let code = e.code();
        if code.is_some_and(|c| {
            // A lock held elsewhere longer than `lock_timeout`, or a
            // transaction PostgreSQL chose to abort so another could go on:
            // nothing was committed, the same write can be tried again.
            [
                SqlState::LOCK_NOT_AVAILABLE,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
            ]
            .contains(c)
        }) {
            StoreError::Busy
        } else if code == Some(&SqlState::DISK_FULL) {
            // What PostgreSQL says when it cannot extend a file or write WAL
            // for lack of space (ENOSPC). A server that runs out of room for
            // its WAL stops altogether, which shows as unavailable.
            StoreError::Full(describe(&e))
        } else if is_unavailable(&e) {
            StoreError::Unavailable(describe(&e))
        } else {
            StoreError::Postgres(e)
        }
    }
}

/// Failures that mean "the database is not there right now": retry later.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code);
    }
    // No server message at all: the socket, TLS or a timeout.
    true
}

/// An error in words, with the server's message or the I/O cause when
/// there is one (tokio-postgres' own text is often just "db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A unique or foreign-key violation as a `Conflict` with the caller's words.
fn conflict(e: StoreError, what: impl FnOnce() -> String) -> StoreError {
    use tokio_postgres::error::SqlState;
    match &e {
        StoreError::Postgres(pg)
            if pg.code().is_some_and(|c| {
                *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::FOREIGN_KEY_VIOLATION
            }) =>
        {
            StoreError::Conflict(what())
        }
        _ => e,
    }
}

fn status_details(text: &str) -> StoreResult<StatusDetails> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("status details: {e}")))
}

/// One error for each envelope of a group that failed together.
fn each(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound(what) => StoreError::NotFound(what.clone()),
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        StoreError::Busy => StoreError::Busy,
        StoreError::Full(why) => StoreError::Full(why.clone()),
        other => StoreError::Write(other.to_string()),
    }
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most connections this store opens.
    pub pool_size: u32,
    /// How long a statement waits for a lock held by another transaction
    /// (a collection's write lock, a status row) before the operation fails
    /// with `StoreError::Busy` (PostgreSQL's `lock_timeout`).
    pub busy_wait: Duration,
    /// Most rows one maintenance transaction (purging a deleted collection
    /// or expired statuses) removes; each also aims at about 0.1 s.
    pub max_rows_per_transaction: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pool_size: 16,
            busy_wait: BUSY_WAIT,
            max_rows_per_transaction: crate::store::chunker::DEFAULT_MAX_ROWS,
        }
    }
}

/// The default lock wait: the same as SQLite's. Every transaction a node
/// runs is short (bulk work is chunked), so this is reached only when
/// something else holds a lock (a long manual transaction, a stuck node).
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// The gap left between two maintenance transactions, so writers waiting
/// for the same collection's lock get it in between.
const MAINTENANCE_PAUSE: Duration = Duration::from_millis(10);

impl PgStore {
    /// Connects, migrates (once, whichever node gets there first) and
    /// returns the store; `pool_size` bounds its connections.
    pub fn open(url: &str, pool_size: u32) -> StoreResult<PgStore> {
        Self::open_with(
            url,
            &Options {
                pool_size,
                ..Options::default()
            },
        )
    }

    pub fn open_with(url: &str, options: &Options) -> StoreResult<PgStore> {
        let connector = Connector::from_url(url)?;
        let io = Io::new()?;
        io.block_on(async {
            let (mut client, connection) = connector.open().await?;
            let driver = tokio::spawn(connection);
            let result = migrations::migrate(&mut client).await;
            drop(client);
            let _ = driver.await;
            result
        })?;
        let pool = pool::build(&io, connector.clone(), options.pool_size, options.busy_wait)?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                io,
                pool,
                connector,
                committer: Committer::default(),
                watch: Arc::default(),
                audits: Mutex::default(),
                audits_waiting: Condvar::new(),
                audit_thread: AtomicBool::new(false),
                full: AtomicBool::new(false),
                max_rows: options.max_rows_per_transaction,
            }),
            local_writes_seen: AtomicU64::new(LOCAL_AUTH_WRITES.load(Ordering::Acquire)),
        })
    }

    /// The URL, without its password.
    pub fn shown(&self) -> &str {
        &self.inner.connector.shown
    }

    /// The secret that authenticates pagination tokens.
    pub fn cursor_key(&self) -> StoreResult<Vec<u8>> {
        self.inner
            .read(async |db| Ok(db.query_one(sql::CURSOR_KEY, &[]).await?.get(0)))
    }

    /// A write to what authentication reads. Stores of this process see it
    /// on their next revision check (the listener tells other processes).
    fn auth_write<T>(
        &self,
        f: impl AsyncFn(&Db<'_, deadpool_postgres::Transaction<'_>>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let result = self.inner.write(f);
        LOCAL_AUTH_WRITES.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Starts the listener (once), and the sweep for pending envelopes
    /// other nodes left behind.
    fn start_watching(&self) {
        let inner = &self.inner;
        if inner
            .watch
            .start(inner.io.handle(), inner.connector.clone())
        {
            let weak = Arc::downgrade(inner);
            inner
                .watch
                .add_chore(Box::new(move || finish_abandoned(&weak)));
        }
    }
}

/// Finishes pending envelopes nobody is storing (their node died).
fn finish_abandoned(inner: &Weak<Inner>) {
    let Some(inner) = inner.upgrade() else { return };
    let before = Timestamp::now().plus_micros(-(ABANDONED_AFTER.as_micros() as i64));
    let batches = match inner.read(async |db| statuses::pending(db, before).await) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for abandoned pending envelopes");
            return;
        }
    };
    for batch in batches {
        let status = batch.status_id.clone();
        tracing::info!(%status, objects = batch.accepted.len(), "finishing a pending envelope another node left");
        if let Err(e) = inner.ingest(batch) {
            tracing::error!(error = %e, %status, "could not finish a pending envelope");
        }
    }
}

impl Inner {
    /// Runs `f` on a pooled connection; a connection found dead (the
    /// database restarted since it was last used) is replaced and `f`
    /// retried once.
    fn read<T>(
        &self,
        f: impl AsyncFn(&Db<'_, deadpool_postgres::Client>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.io.block_on(async {
            let mut retried = false;
            loop {
                let conn = self.pool.get().await.map_err(pool::checkout_error)?;
                let result = f(&Db { client: &conn }).await;
                match result {
                    Err(_) if !retried && conn.is_closed() => retried = true,
                    other => return other,
                }
            }
        })
    }

    /// Runs `f` in a transaction and commits it. If the transaction cannot
    /// begin because the pooled connection died, it begins on a fresh one.
    fn write<T>(
        &self,
        f: impl AsyncFn(&Db<'_, deadpool_postgres::Transaction<'_>>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.io
            .block_on(async {
                let mut retried = false;
                loop {
                    let mut conn = self.pool.get().await.map_err(pool::checkout_error)?;
                    let tx = match conn.transaction().await {
                        Ok(tx) => tx,
                        Err(e) if !retried && e.is_closed() => {
                            retried = true;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let value = f(&Db { client: &tx }).await?;
                    tx.commit().await?;
                    return Ok(value);
                }
            })
            .inspect_err(|e| self.observe_failure(e))
    }

    /// The first write refused for lack of space is logged; later ones are
    /// not, until a write stores objects again.
    fn observe_failure(&self, e: &StoreError) {
        if let StoreError::Full(cause) = e
            && !self.full.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                database = %self.connector.shown,
                cause = %cause,
                "the database is full: writes are refused until space is freed on the \
                 PostgreSQL server; reads go on"
            );
        }
    }

    fn observe_stored(&self) {
        if self.full.swap(false, Ordering::Relaxed) {
            tracing::info!(database = %self.connector.shown, "the database accepts writes again");
        }
    }

    /// Runs one maintenance transaction (timed from its start to the end of
    /// its commit), retried a few times while a lock is busy.
    fn maintenance_step<T>(
        &self,
        f: impl AsyncFn(&Db<'_, deadpool_postgres::Transaction<'_>>) -> StoreResult<T>,
    ) -> StoreResult<(T, Duration)> {
        let mut attempt = 0;
        loop {
            let started = std::time::Instant::now();
            match self.write(&f) {
                Ok(value) => return Ok((value, started.elapsed())),
                Err(StoreError::Busy) if attempt < 5 => {
                    attempt += 1;
                    std::thread::sleep(MAINTENANCE_PAUSE * 10);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn ingest(&self, batch: IngestBatch) -> StoreResult<StatusRecord> {
        self.committer
            .ingest(batch, &|group| self.commit_group(group))
    }

    fn commit_group(&self, batches: &[IngestBatch]) -> Vec<StoreResult<StatusRecord>> {
        let Some(first) = batches.first() else {
            return Vec::new();
        };
        let collection = first.collection;
        let result = self.write(async |db| {
            let live = objects::lock_collection(db, collection).await?;
            objects::apply_group(db, collection, live, batches, Timestamp::now()).await
        });
        match result {
            Ok(outcomes) => {
                self.observe_stored();
                outcomes
                    .into_iter()
                    .map(|o| match o {
                        objects::Outcome::Done(r) | objects::Outcome::AlreadyDone(r) => Ok(r),
                    })
                    .collect()
            }
            Err(e) => {
                let mut errors: Vec<_> = batches.iter().skip(1).map(|_| Err(each(&e))).collect();
                errors.insert(0, Err(e));
                errors
            }
        }
    }

    fn flush_audits(&self) -> StoreResult<()> {
        let events = std::mem::take(&mut *self.audits.lock().unwrap_or_else(|p| p.into_inner()));
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len();
        self.write(async |db| audit::insert(db, &events).await)
            .inspect_err(|e| tracing::error!(error = %e, lost = n, "could not write audit events"))
    }
}

/// Commits queued audit events every [`AUDIT_DELAY`] (or as soon as
/// [`AUDIT_BATCH`] wait), until the store is dropped.
fn audit_flusher(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        {
            let queued = strong.audits.lock().unwrap_or_else(|p| p.into_inner());
            let (queued, _) = strong
                .audits_waiting
                .wait_timeout_while(queued, AUDIT_DELAY, |q| q.len() < AUDIT_BATCH)
                .unwrap_or_else(|p| p.into_inner());
            drop(queued);
        }
        let _ = strong.flush_audits();
        drop(strong);
    }
}

impl Store for PgStore {
    fn api_roots(&self) -> StoreResult<Vec<ApiRoot>> {
        self.inner.read(async |db| members::api_roots(db).await)
    }

    fn upsert_api_root(&self, root: ApiRoot) -> StoreResult<()> {
        self.auth_write(async |db| members::upsert_api_root(db, &root).await)
    }

    fn delete_api_root(&self, name: &str) -> StoreResult<()> {
        self.auth_write(async |db| members::delete_api_root(db, name).await)
    }

    fn collections(&self) -> StoreResult<Vec<Collection>> {
        self.inner.read(async |db| members::collections(db).await)
    }

    fn collection(&self, id: CollectionId) -> StoreResult<Option<Collection>> {
        self.inner
            .read(async |db| members::collection(db, id).await)
    }

    fn create_collection(&self, new: NewCollection) -> StoreResult<Collection> {
        let collection = Collection {
            id: CollectionId::new_random(),
            api_root: new.api_root,
            alias: new.alias,
            title: new.title,
            description: new.description,
            tier: new.tier,
            created: Timestamp::now(),
        };
        self.auth_write(async |db| members::insert_collection(db, &collection).await)?;
        Ok(collection)
    }

    fn update_collection(
        &self,
        id: CollectionId,
        update: CollectionUpdate,
    ) -> StoreResult<Collection> {
        self.auth_write(async |db| members::update_collection(db, id, &update).await)
    }

    fn delete_collection(&self, id: CollectionId) -> StoreResult<()> {
        self.auth_write(async |db| members::delete_collection(db, id).await)
    }

    /// Each transaction holds the collection's lock (so two nodes purging
    /// at once take turns, and the second sees what the first removed) and
    /// removes the oldest objects; the row goes with the last of them.
    fn purge_deleted_collections(&self) -> StoreResult<PurgeReport> {
        let deleted: Vec<CollectionId> = self.inner.read(async |db| {
            Ok(db
                .query(sql::COLLECTIONS_DELETED, &[])
                .await?
                .iter()
                .map(|r| CollectionId(r.get(0)))
                .collect())
        })?;
        let mut report = PurgeReport::default();
        let mut chunker = crate::store::chunker::Chunker::new(self.inner.max_rows);
        for id in deleted {
            loop {
                let limit = chunker.rows();
                let ((removed, finished), took) = self.inner.maintenance_step(async |db| {
                    objects::lock_collection(db, id).await?;
                    let removed = db
                        .execute(
                            sql::COLLECTION_OBJECTS_DELETE_SOME,
                            &[&id.0, &(limit as i64)],
                        )
                        .await? as usize;
                    let finished = removed < limit;
                    if finished {
                        db.execute(sql::COLLECTION_DELETE, &[&id.0]).await?;
                    }
                    Ok((removed, finished))
                })?;
                report.objects += removed as u64;
                report.record(took);
                chunker.observe(removed, took);
                if finished {
                    report.collections += 1;
                    break;
                }
                std::thread::sleep(MAINTENANCE_PAUSE);
            }
        }
        if report.collections > 0 {
            LOCAL_AUTH_WRITES.fetch_add(1, Ordering::AcqRel);
        }
        Ok(report)
    }

    fn members(&self) -> StoreResult<Vec<Member>> {
        self.inner.read(async |db| members::members(db).await)
    }

    fn create_member(&self, new: NewMember) -> StoreResult<Member> {
        self.auth_write(async |db| members::create_member(db, &new).await)
    }

    fn update_member(&self, name: &str, update: MemberUpdate) -> StoreResult<Member> {
        self.auth_write(async |db| members::update_member(db, name, &update).await)
    }

    fn delete_member(&self, name: &str) -> StoreResult<()> {
        self.auth_write(async |db| members::delete_member(db, name).await)
    }

    fn add_certificate(&self, cert: CertificateRecord) -> StoreResult<()> {
        self.auth_write(async |db| members::add_certificate(db, &cert).await)
    }

    fn certificates(&self) -> StoreResult<Vec<CertificateRecord>> {
        self.inner.read(async |db| members::certificates(db).await)
    }

    fn revoke_certificate(
        &self,
        fingerprint: &str,
        at: Timestamp,
    ) -> StoreResult<CertificateRecord> {
        self.auth_write(async |db| members::revoke_certificate(db, fingerprint, at).await)
    }

    fn set_grant(&self, grant: Grant) -> StoreResult<()> {
        self.auth_write(async |db| members::set_grant(db, &grant).await)
    }

    fn remove_grant(&self, collection: CollectionId, grantee: &Grantee) -> StoreResult<()> {
        self.auth_write(async |db| members::remove_grant(db, collection, grantee).await)
    }

    fn grants(&self) -> StoreResult<Vec<Grant>> {
        self.inner.read(async |db| members::grants(db).await)
    }

    fn add_token(&self, token: TokenRecord) -> StoreResult<()> {
        self.auth_write(async |db| members::add_token(db, &token).await)
    }

    fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        self.auth_write(async |db| members::revoke_token(db, id, at).await)
    }

    fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.inner.read(async |db| members::tokens(db).await)
    }

    /// From memory while the listener is connected; when it has lost the
    /// database, "unavailable" at once rather than a wait on the pool.
    fn auth_revision(&self) -> StoreResult<i64> {
        self.start_watching();
        let local = LOCAL_AUTH_WRITES.load(Ordering::Acquire);
        let fresh = self.local_writes_seen.load(Ordering::Acquire) == local;
        match self.inner.watch.revision() {
            Revision::Known(r) if fresh => Ok(r),
            Revision::Down => Err(StoreError::Unavailable(
                "the connection that watches the database is down".into(),
            )),
            Revision::Known(_) | Revision::NotYet => {
                let r = self
                    .inner
                    .read(async |db| Ok(db.query_one(sql::AUTH_REVISION, &[]).await?.get(0)))?;
                self.inner.watch.saw_revision(r);
                self.local_writes_seen.store(local, Ordering::Release);
                Ok(r)
            }
        }
    }

    fn auth_data(&self) -> StoreResult<AuthData> {
        let data = self.inner.io.block_on(async {
            let mut retried = false;
            loop {
                let mut conn = self.inner.pool.get().await.map_err(pool::checkout_error)?;
                // One snapshot, consistent with its revision.
                let tx = match conn
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await
                {
                    Ok(tx) => tx,
                    Err(e) if !retried && e.is_closed() => {
                        retried = true;
                        continue;
                    }
                    Err(e) => return Err(StoreError::from(e)),
                };
                let data = members::auth_data(&Db { client: &tx }).await?;
                tx.commit().await?;
                return Ok(data);
            }
        })?;
        self.inner.watch.saw_revision(data.revision);
        Ok(data)
    }

    fn ingest(&self, batch: IngestBatch) -> StoreResult<StatusRecord> {
        self.inner.ingest(batch)
    }

    fn begin_pending(&self, batch: &IngestBatch) -> StoreResult<StatusRecord> {
        let record = batch.status(None, payload::pending_details(batch));
        let text = payload::serialize(&batch.accepted)?;
        self.inner.write(async |db| {
            statuses::upsert(db, std::slice::from_ref(&record), Some(&text)).await
        })?;
        Ok(record)
    }

    fn pending_batches(&self) -> StoreResult<Vec<IngestBatch>> {
        self.inner
            .read(async |db| statuses::pending(db, Timestamp::from_micros(i64::MAX)).await)
    }

    fn status(&self, id: &str) -> StoreResult<Option<StatusRecord>> {
        self.inner.read(async |db| statuses::get(db, id).await)
    }

    fn purge_statuses(&self, before: Timestamp) -> StoreResult<usize> {
        let mut chunker = crate::store::chunker::Chunker::new(self.inner.max_rows);
        let mut total = 0;
        loop {
            let limit = chunker.rows();
            let (removed, took) = self.inner.maintenance_step(async |db| {
                Ok(db
                    .execute(
                        sql::STATUSES_PURGE_SOME,
                        &[&before.micros(), &(limit as i64)],
                    )
                    .await? as usize)
            })?;
            total += removed;
            chunker.observe(removed, took);
            if removed < limit {
                return Ok(total);
            }
            std::thread::sleep(MAINTENANCE_PAUSE);
        }
    }

    fn list_objects(
        &self,
        collection: CollectionId,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
        with_body: bool,
    ) -> StoreResult<Page<StoredObject>> {
        self.inner
            .read(async |db| objects::page(db, collection, filter, after, limit, with_body).await)
    }

    fn list_versions(
        &self,
        collection: CollectionId,
        object_id: &str,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<Page<StoredObject>> {
        self.inner.read(async |db| {
            objects::versions(db, collection, object_id, filter, after, limit).await
        })
    }

    fn object_exists(&self, collection: CollectionId, object_id: &str) -> StoreResult<bool> {
        self.inner.read(async |db| {
            Ok(db
                .query_one(sql::OBJECT_EXISTS, &[&collection.0, &object_id])
                .await?
                .get(0))
        })
    }

    fn delete_object(
        &self,
        collection: CollectionId,
        object_id: &str,
        filter: &ObjectFilter,
    ) -> StoreResult<usize> {
        self.inner
            .write(async |db| objects::delete(db, collection, object_id, filter).await)
    }

    fn object_count(&self, collection: CollectionId) -> StoreResult<u64> {
        self.inner.read(async |db| {
            Ok(db
                .query_one(sql::OBJECT_COUNT, &[&collection.0])
                .await?
                .get::<_, i64>(0) as u64)
        })
    }

    /// Commits into one collection become visible in key order (see the
    /// module comment), so the largest visible key is a true "now".
    fn last_key(&self, collection: CollectionId) -> StoreResult<Option<Cursor>> {
        self.inner.read(async |db| {
            Ok(db
                .query_one(sql::OBJECT_LAST_KEY, &[&collection.0])
                .await?
                .get::<_, Option<i64>>(0)
                .map(Cursor))
        })
    }

    fn size_bytes(&self) -> StoreResult<u64> {
        self.inner.read(async |db| {
            Ok(db
                .query_one(sql::DATABASE_SIZE, &[])
                .await?
                .get::<_, i64>(0) as u64)
        })
    }

    fn write_health(&self) -> WriteHealth {
        if self.inner.full.load(Ordering::Relaxed) {
            WriteHealth::Full
        } else {
            WriteHealth::Ok
        }
    }

    fn append_audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.inner
            .write(async |db| audit::insert(db, std::slice::from_ref(&event)).await)
    }

    fn queue_audit(&self, event: AuditEvent) -> StoreResult<()> {
        let waiting = {
            let mut queued = self.inner.audits.lock().unwrap_or_else(|p| p.into_inner());
            queued.push(event);
            queued.len()
        };
        if !self.inner.audit_thread.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(&self.inner);
            std::thread::Builder::new()
                .name("breakwater-audit".into())
                .spawn(move || audit_flusher(weak))
                .map_err(|e| StoreError::Write(format!("cannot start the audit writer: {e}")))?;
        }
        if waiting >= AUDIT_BATCH {
            self.inner.audits_waiting.notify_one();
        }
        Ok(())
    }

    fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        // What this node queued is part of the log it shows.
        self.inner.flush_audits()?;
        self.inner.read(async |db| audit::query(db, query).await)
    }

    fn type_counts(&self, collections: &[CollectionId]) -> StoreResult<Vec<TypeCount>> {
        self.console_type_counts(collections)
    }

    fn activity(&self, query: &ActivityQuery) -> StoreResult<Vec<ActivityBucket>> {
        self.console_activity(query)
    }

    fn refusals(&self, query: &RefusalQuery) -> StoreResult<Vec<RefusalCount>> {
        self.console_refusals(query)
    }

    fn browse_objects(
        &self,
        collection: CollectionId,
        filter: &BrowseFilter,
        before: Option<Cursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<ObjectSummary, Cursor>> {
        self.console_browse(collection, filter, before, limit, budget)
    }

    fn locate_objects(
        &self,
        collections: &[CollectionId],
        ids: &[String],
    ) -> StoreResult<Vec<ObjectSummary>> {
        self.console_locate(collections, ids)
    }

    fn edges(
        &self,
        collections: &[CollectionId],
        object_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<Edge>> {
        self.console_edges(collections, object_id, limit)
    }

    fn statuses_page(
        &self,
        member: Option<&str>,
        before: Option<&StatusCursor>,
        limit: usize,
    ) -> StoreResult<ScanPage<StatusSummary, StatusCursor>> {
        self.console_statuses(member, before, limit)
    }

    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<AuditCursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<AuditRecord, AuditCursor>> {
        self.console_audit(filter, before, limit, budget)
    }

    fn watch_objects(&self, wake: ObjectsWake) -> StoreResult<bool> {
        self.start_watching();
        self.inner.watch.subscribe(wake);
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
