//! The one thread that writes. It owns the write connection, so SQLite never
//! has to arbitrate between our own writers, and it batches every envelope
//! queued while the previous commit was in flight into one transaction (group
//! commit): one fsync acknowledges many envelopes.
//!
//! Every transaction it runs is bounded (by objects and bytes here, by a
//! time target for maintenance in `maintenance.rs`), so another process
//! writing the same file, such as an operator's command, never waits long
//! for the lock, and neither does this one.

use std::ops::Range;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::space::Space;
use super::sql;
use crate::model::Timestamp;
use crate::store::{
    AuditEvent, IngestBatch, NewObject, StatusDetail, StatusDetails, StatusRecord, StoreError,
    StoreResult,
};

type Reply<T> = mpsc::SyncSender<StoreResult<T>>;

enum Job {
    Ingest(IngestBatch, Reply<StatusRecord>),
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Audit events of reads and refusals wait in a shared buffer and are
    /// written with the next group commit, so auditing a poll costs no fsync
    /// of its own; this wakes the writer when the buffer starts filling.
    AuditsWaiting,
}

/// Most envelopes folded into one transaction; bounds commit latency.
const MAX_GROUP: usize = 64;

/// Most objects, and most bytes of objects, stored in one transaction (one
/// group of envelopes, or one part of a larger envelope). Storing an object
/// dirties a random page of the id index (ids are random), so a
/// transaction's cost grows with its objects once the index outgrows the
/// cache: into a collection of 1,200,000 objects, 10,000 took 2.0 s, 2,000
/// took 0.5 s and 1,000 0.14-0.43 s on a 2-core machine that was also
/// running a dozen other jobs (load average 12). An envelope within both limits is
/// stored atomically (all or nothing); a larger one (a big envelope, a
/// background one, an import batch) is stored in several transactions, and
/// should one fail, sending it again is harmless because an identical
/// object is never stored twice.
pub(super) const MAX_TRANSACTION_OBJECTS: usize = 2_000;
pub(super) const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

type AuditBuffer = Arc<Mutex<Vec<AuditEvent>>>;

pub struct Writer {
    tx: mpsc::Sender<Job>,
    audits: AuditBuffer,
    space: Arc<Space>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread to commit what is left (the
    /// queued audit events) and close the database, so a server that stops,
    /// or a caller that reopens the file, finds every write in it.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Writer {
    pub(super) fn spawn(mut conn: Connection, space: Arc<Space>, busy_wait: Duration) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let audits = AuditBuffer::default();
        let buffer = audits.clone();
        let thread_space = space.clone();
        let thread = thread::Builder::new()
            .name("breakwater-writer".into())
            .spawn(move || {
                super::migrations::set_busy_wait_for_this_thread(busy_wait);
                run(&mut conn, rx, buffer, &thread_space)
            })
            .expect("spawning the database writer thread");
        Writer {
            tx,
            audits,
            space,
            thread: Some(thread),
        }
    }

    /// Queues an audit event; it is committed with the next transaction. Only
    /// the first event of a batch (and a full batch) wakes the writer.
    pub fn audit(&self, event: AuditEvent) -> StoreResult<()> {
        let waiting = {
            let mut buffer = self.audits.lock().unwrap_or_else(|p| p.into_inner());
            buffer.push(event);
            buffer.len()
        };
        if waiting == 1 || waiting == AUDIT_BATCH {
            self.tx
                .send(Job::AuditsWaiting)
                .map_err(|_| StoreError::WriterStopped)?;
        }
        Ok(())
    }

    /// Stores a batch: in one transaction (shared with other envelopes)
    /// when it is within the per-transaction limits, else part by part.
    pub fn ingest(&self, batch: IngestBatch) -> StoreResult<StatusRecord> {
        if part_end(&batch.accepted, 0) < batch.accepted.len() {
            return self.ingest_in_parts(batch);
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Job::Ingest(batch, reply))
            .map_err(|_| StoreError::WriterStopped)?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// A batch too large for one transaction: each part is its own
    /// transaction, queued behind whatever else is waiting, and the status
    /// is written with the last. If a part fails, the parts before stay
    /// stored; a background batch then stays pending and is resumed whole.
    fn ingest_in_parts(&self, batch: IngestBatch) -> StoreResult<StatusRecord> {
        let batch = Arc::new(batch);
        let mut details = StatusDetails {
            successes: Vec::with_capacity(batch.accepted.len()),
            failures: batch.refused.clone(),
            pendings: Vec::new(),
        };
        let mut start = 0;
        while start < batch.accepted.len() {
            let end = part_end(&batch.accepted, start);
            let part = batch.clone();
            let outcomes = self.write(true, move |tx| {
                store_objects(tx, &part, start..end, Timestamp::now())
            })?;
            for (object, outcome) in batch.accepted[start..end].iter().zip(outcomes) {
                match outcome {
                    Ok(version) => details.successes.push(StatusDetail {
                        id: object.id.clone(),
                        version,
                        message: None,
                    }),
                    Err(failure) => details.failures.push(failure),
                }
            }
            start = end;
        }
        self.write(true, move |tx| {
            finish_batch(tx, &batch, details, Timestamp::now())
        })
    }

    /// Runs `f` in its own immediate transaction on the writer thread.
    pub fn exec<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write(false, f)
    }

    /// Like `exec`, and also says how long the transaction held the write
    /// lock (from BEGIN to the end of COMMIT).
    pub fn exec_timed<T, F>(&self, f: F) -> StoreResult<(T, Duration)>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write_timed(false, f)
    }

    fn write<T, F>(&self, stores_objects: bool, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write_timed(stores_objects, f).map(|(value, _)| value)
    }

    /// A transaction that stores objects and commits proves there is room
    /// again; an administrative one (which may need no new page) does not.
    fn write_timed<T, F>(&self, stores_objects: bool, f: F) -> StoreResult<(T, Duration)>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = mpsc::sync_channel(1);
        let space = self.space.clone();
        let job = Box::new(move |conn: &mut Connection| {
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // The lock is held from here: waiting for it is not counted.
                let started = Instant::now();
                let value = f(&tx)?;
                tx.commit()?;
                Ok((value, started.elapsed()))
            })()
            .map_err(|e| space.classify(e));
            match &result {
                Ok(_) if stores_objects => space.observe(Ok(())),
                Ok(_) => {}
                Err(e) => space.observe(Err(e)),
            }
            let _ = reply.send(result);
        });
        self.tx
            .send(Job::Exec(job))
            .map_err(|_| StoreError::WriterStopped)?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

/// How much of a batch one transaction takes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Weight {
    pub(super) objects: usize,
    pub(super) bytes: usize,
}

impl Weight {
    pub(super) fn of(objects: &[NewObject]) -> Weight {
        Weight {
            objects: objects.len(),
            bytes: objects.iter().map(|o| o.body.len()).sum(),
        }
    }

    fn add(self, other: Weight) -> Weight {
        Weight {
            objects: self.objects + other.objects,
            bytes: self.bytes + other.bytes,
        }
    }

    fn within_limits(self) -> bool {
        self.objects <= MAX_TRANSACTION_OBJECTS && self.bytes <= MAX_TRANSACTION_BYTES
    }
}

/// The end of the part of `objects` starting at `start` that fits one
/// transaction; at least one object, however large.
fn part_end(objects: &[NewObject], start: usize) -> usize {
    let mut weight = Weight::default();
    let mut end = start;
    while end < objects.len() {
        let next = weight.add(Weight::of(&objects[end..=end]));
        if end > start && !next.within_limits() {
            break;
        }
        weight = next;
        end += 1;
    }
    end
}

/// Queued audit events with no write to ride on are committed after at most
/// this long, or once this many are waiting: a steady stream of polls then
/// costs a few commits a second instead of one per wake-up of this thread.
const AUDIT_DELAY: Duration = Duration::from_millis(100);
const AUDIT_BATCH: usize = 4096;

/// Audit events kept for a later commit while writes fail (a full disk);
/// beyond this many the oldest are dropped, so a long outage cannot exhaust
/// memory.
const AUDIT_KEEP: usize = 64 * AUDIT_BATCH;

fn run(conn: &mut Connection, rx: mpsc::Receiver<Job>, buffer: AuditBuffer, space: &Space) {
    let audits = &mut Audits {
        buffer,
        loss_logged: false,
    };
    let mut audits_due: Option<Instant> = None;
    loop {
        let first = match audits_due {
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
            Some(due) => match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    flush(conn, &mut Vec::new(), audits, space);
                    audits_due = None;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        let mut group = Vec::new();
        let mut weight = Weight::default();
        let mut queue = vec![first];
        while queue.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => queue.push(job),
                Err(_) => break,
            }
        }
        for job in queue {
            match job {
                Job::Ingest(batch, reply) => {
                    let this = Weight::of(&batch.accepted);
                    if !group.is_empty() && !weight.add(this).within_limits() {
                        flush(conn, &mut group, audits, space);
                        weight = Weight::default();
                    }
                    weight = weight.add(this);
                    group.push((batch, reply));
                }
                Job::AuditsWaiting => {}
                Job::Exec(f) => {
                    flush(conn, &mut group, audits, space);
                    weight = Weight::default();
                    f(conn);
                }
            }
        }
        if !group.is_empty() || audits.waiting() >= AUDIT_BATCH {
            flush(conn, &mut group, audits, space);
        }
        audits_due = match (audits.waiting() == 0, audits_due) {
            (true, _) => None,
            (false, Some(due)) => Some(due),
            (false, None) => Some(Instant::now() + AUDIT_DELAY),
        };
    }
    // Every sender is gone (the store was dropped): nothing queued is lost.
    flush(conn, &mut Vec::new(), audits, space);
}

pub(super) fn write_audits(tx: &Transaction<'_>, audits: &[AuditEvent]) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(sql::AUDIT_INSERT)?;
    for e in audits {
        stmt.execute(params![
            e.at.micros(),
            e.member,
            e.fingerprint,
            e.action,
            e.collection,
            e.objects.map(|n| n as i64),
            e.outcome,
            e.detail
        ])?;
    }
    Ok(())
}

/// The queue of audit events waiting for a commit.
struct Audits {
    buffer: AuditBuffer,
    /// Whether dropping events has been logged since the last commit that
    /// wrote them: said once per outage, not once per attempt.
    loss_logged: bool,
}

impl Audits {
    fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn waiting(&self) -> usize {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Puts events that could not be committed back at the front of the
    /// queue, keeping at most `AUDIT_KEEP`.
    fn requeue(&mut self, mut events: Vec<AuditEvent>) {
        if events.is_empty() {
            return;
        }
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        events.append(&mut buffer);
        let excess = events.len().saturating_sub(AUDIT_KEEP);
        if excess > 0 {
            if !self.loss_logged {
                tracing::error!(
                    kept = AUDIT_KEEP,
                    "audit events cannot be committed (see the database error above); \
                     the oldest beyond those kept are being dropped"
                );
                self.loss_logged = true;
            }
            events.drain(..excess);
        }
        *buffer = events;
    }
}

/// The same error for every caller of a group that failed as a whole.
fn shared(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        StoreError::Full(cause) => StoreError::Full(cause.clone()),
        StoreError::WriterStopped => StoreError::WriterStopped,
        other => StoreError::Write(other.to_string()),
    }
}

fn flush(
    conn: &mut Connection,
    group: &mut Vec<(IngestBatch, Reply<StatusRecord>)>,
    audits: &mut Audits,
    space: &Space,
) {
    let events = audits.take();
    if group.is_empty() && events.is_empty() {
        return;
    }
    let jobs = std::mem::take(group);
    match write_group(conn, &jobs, &events) {
        Ok((results, audits_written)) => {
            let results: Vec<_> = results
                .into_iter()
                .map(|r| r.map_err(|e| space.classify(e)))
                .collect();
            if audits_written {
                audits.loss_logged = false;
            } else {
                audits.requeue(events);
            }
            let mut stored = false;
            for result in &results {
                match result {
                    Ok(_) => stored = true,
                    Err(e) => space.observe(Err(e)),
                }
            }
            if stored {
                space.observe(Ok(()));
            }
            // Every envelope is freed before any caller hears back, so one
            // that returns memory to the system afterwards finds it free.
            let replies: Vec<_> = jobs.into_iter().map(|(_, reply)| reply).collect();
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            // Nothing of the group was committed: every caller hears so.
            let e = space.classify(e);
            space.observe(Err(&e));
            audits.requeue(events);
            for (_, reply) in jobs {
                let _ = reply.send(Err(shared(&e)));
            }
        }
    }
}

type GroupResults = (Vec<StoreResult<StatusRecord>>, bool);

/// One transaction for a group of envelopes and the queued audit events.
/// `Ok` holds each envelope's outcome (all committed unless failed) and
/// whether the audit events were written; `Err` means nothing was committed.
fn write_group(
    conn: &mut Connection,
    jobs: &[(IngestBatch, Reply<StatusRecord>)],
    audits: &[AuditEvent],
) -> StoreResult<GroupResults> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(jobs.len());
    for (batch, _) in jobs {
        // A savepoint per envelope: one envelope failing (e.g. a full disk on
        // its status row) leaves the others in the group intact.
        results.push(in_savepoint(&tx, |tx| {
            apply_batch(tx, batch, Timestamp::now())
        })?);
    }
    // Audit events that cannot be written now (a full disk) are kept for a
    // later commit; the full disk itself is logged once, by `Space`.
    let audits_written =
        audits.is_empty() || in_savepoint(&tx, |tx| write_audits(tx, audits))?.is_ok();
    tx.commit()?;
    Ok((results, audits_written))
}

/// Runs `f` inside a savepoint, undoing only its own changes if it fails:
/// the inner result is `f`'s. The outer error means the transaction as a
/// whole is lost and nothing of it may be committed: SQLite rolled it back
/// (it may, on a full disk or an I/O error), or the savepoint could not be
/// undone.
fn in_savepoint<T>(
    tx: &Transaction<'_>,
    f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<StoreResult<T>> {
    tx.execute_batch("SAVEPOINT part")?;
    match f(tx) {
        Ok(value) => {
            tx.execute_batch("RELEASE part")?;
            Ok(Ok(value))
        }
        Err(e) if tx.is_autocommit() => Err(e),
        Err(e) => {
            tx.execute_batch("ROLLBACK TO part; RELEASE part")?;
            Ok(Err(e))
        }
    }
}

/// The strictly increasing `date_added` clock, shared by every process that
/// writes the file: read and advanced under the write lock.
pub(super) struct Clock {
    last: i64,
}

impl Clock {
    pub(super) fn load(tx: &Transaction<'_>) -> StoreResult<Clock> {
        let last = tx.query_row(sql::CLOCK_LAST, [], |r| r.get(0))?;
        Ok(Clock { last })
    }

    /// Wall-clock time, bumped by a microsecond when it would not advance.
    pub(super) fn next(&mut self, now: Timestamp) -> Timestamp {
        self.last = now.micros().max(self.last + 1);
        Timestamp::from_micros(self.last)
    }

    pub(super) fn save(&self, tx: &Transaction<'_>) -> StoreResult<()> {
        tx.execute(sql::CLOCK_SAVE, [self.last])?;
        Ok(())
    }
}

/// Stores one envelope's accepted objects, writes its completed status, and
/// returns it. Runs inside the caller's transaction.
pub(super) fn apply_batch(
    tx: &Transaction<'_>,
    batch: &IngestBatch,
    now: Timestamp,
) -> StoreResult<StatusRecord> {
    let outcomes = store_objects(tx, batch, 0..batch.accepted.len(), now)?;
    let mut details = StatusDetails {
        successes: Vec::with_capacity(batch.accepted.len()),
        failures: batch.refused.clone(),
        pendings: Vec::new(),
    };
    for (object, outcome) in batch.accepted.iter().zip(outcomes) {
        match outcome {
            Ok(version) => details.successes.push(StatusDetail {
                id: object.id.clone(),
                version,
                message: None,
            }),
            Err(failure) => details.failures.push(failure),
        }
    }
    finish_batch(tx, batch, details, now)
}

/// Stores `batch.accepted[range]`, each object's outcome in order. Into a
/// collection that is gone (deleted while the envelope was on its way, or
/// before a pending one was resumed) nothing is stored: every object is
/// refused, so no object can outlive its collection.
fn store_objects(
    tx: &Transaction<'_>,
    batch: &IngestBatch,
    range: Range<usize>,
    now: Timestamp,
) -> StoreResult<Vec<Result<String, StatusDetail>>> {
    let collection = batch.collection.to_string();
    let objects = &batch.accepted[range];
    let live: bool = tx
        .prepare_cached(sql::COLLECTION_LIVE)?
        .query_row([&collection], |r| r.get(0))?;
    if !live {
        return Ok(objects
            .iter()
            .map(|o| {
                Err(crate::store::payload::refused_by_deleted_collection(
                    batch.collection,
                    o,
                ))
            })
            .collect());
    }
    let mut clock = Clock::load(tx)?;
    let outcomes = objects
        .iter()
        .map(|object| store_object(tx, &collection, object, &mut clock, now))
        .collect::<StoreResult<Vec<_>>>()?;
    clock.save(tx)?;
    Ok(outcomes)
}

/// Writes the completed status of a batch whose objects are stored, and its
/// audit event.
fn finish_batch(
    tx: &Transaction<'_>,
    batch: &IngestBatch,
    details: StatusDetails,
    now: Timestamp,
) -> StoreResult<StatusRecord> {
    let collection = batch.collection.to_string();
    let completed = now;
    let details_json =
        serde_json::to_string(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let record = batch.status(Some(completed), details);
    tx.execute(
        sql::STATUS_UPSERT,
        params![
            record.id,
            record.api_root,
            collection,
            record.member,
            record.request_timestamp.micros(),
            completed.micros(),
            record.total() as i64,
            record.details.successes.len() as i64,
            record.details.failures.len() as i64,
            0i64,
            details_json,
            Option::<String>::None,
        ],
    )?;
    let outcome = if record.details.failures.is_empty() {
        "ok"
    } else if record.details.successes.is_empty() {
        "refused"
    } else {
        "partial"
    };
    tx.execute(
        sql::AUDIT_INSERT,
        params![
            now.micros(),
            batch.member,
            batch.fingerprint,
            "push",
            collection,
            record.total() as i64,
            outcome,
            format!(
                "status {}: {} stored, {} refused",
                record.id,
                record.details.successes.len(),
                record.details.failures.len()
            ),
        ],
    )?;
    Ok(record)
}

/// `Ok(Ok(version))` stored or already present; `Ok(Err(detail))` refused.
fn store_object(
    tx: &Transaction<'_>,
    collection: &str,
    object: &NewObject,
    clock: &mut Clock,
    now: Timestamp,
) -> StoreResult<Result<String, StatusDetail>> {
    match &object.version {
        Some((version, version_text)) => {
            let existing: Option<String> = tx
                .prepare_cached(sql::OBJECT_BODY_AT_VERSION)?
                .query_row(params![collection, object.id, version.micros()], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(existing) = existing {
                if same_json(&existing, &object.body) {
                    return Ok(Ok(version_text.clone()));
                }
                return Ok(Err(StatusDetail {
                    id: object.id.clone(),
                    version: version_text.clone(),
                    message: Some(
                        "a different object with this id and version is already stored; \
                         a new version needs a later `modified`"
                            .into(),
                    ),
                }));
            }
            let (min, max): (Option<i64>, Option<i64>) = tx
                .prepare_cached(sql::OBJECT_VERSION_RANGE)?
                .query_row(params![collection, object.id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let v = version.micros();
            let is_first = min.is_none_or(|m| v < m);
            let is_last = max.is_none_or(|m| v > m);
            if is_first && min.is_some() {
                tx.prepare_cached(sql::OBJECT_CLEAR_FIRST)?
                    .execute(params![collection, object.id])?;
            }
            if is_last && max.is_some() {
                tx.prepare_cached(sql::OBJECT_CLEAR_LAST)?
                    .execute(params![collection, object.id])?;
            }
            let date_added = clock.next(now);
            super::console::index_object(
                tx,
                collection,
                date_added.micros(),
                (&object.id, &object.object_type, &object.body),
                is_last,
            )?;
            tx.prepare_cached(sql::OBJECT_INSERT)?.execute(params![
                collection,
                date_added.micros(),
                object.id,
                object.object_type,
                v,
                version_text,
                object.spec_version,
                is_first,
                is_last,
                object.body,
            ])?;
            Ok(Ok(version_text.clone()))
        }
        None => {
            // Unversioned (most SCOs): their id is derived from their content,
            // so the same id again is the same object.
            let existing: Option<String> = tx
                .prepare_cached(sql::OBJECT_ANY_VERSION_TEXT)?
                .query_row(params![collection, object.id], |r| r.get(0))
                .optional()?;
            if let Some(version_text) = existing {
                return Ok(Ok(version_text));
            }
            let date_added = clock.next(now);
            let version_text = date_added.to_string();
            super::console::index_object(
                tx,
                collection,
                date_added.micros(),
                (&object.id, &object.object_type, &object.body),
                true,
            )?;
            tx.prepare_cached(sql::OBJECT_INSERT)?.execute(params![
                collection,
                date_added.micros(),
                object.id,
                object.object_type,
                date_added.micros(),
                version_text,
                object.spec_version,
                true,
                true,
                object.body,
            ])?;
            Ok(Ok(version_text))
        }
    }
}

fn same_json(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
