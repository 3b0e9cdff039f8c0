//! The one thread that writes. It owns the write connection, so SQLite never
//! has to arbitrate between our own writers, and it batches every envelope
//! queued while the previous commit was in flight into one transaction (group
//! commit): one fsync acknowledges many envelopes.

use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

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

type AuditBuffer = Arc<Mutex<Vec<AuditEvent>>>;

pub struct Writer {
    tx: mpsc::Sender<Job>,
    audits: AuditBuffer,
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
    pub fn spawn(mut conn: Connection) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let audits = AuditBuffer::default();
        let buffer = audits.clone();
        let thread = thread::Builder::new()
            .name("breakwater-writer".into())
            .spawn(move || run(&mut conn, rx, &buffer))
            .expect("spawning the database writer thread");
        Writer {
            tx,
            audits,
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

    pub fn ingest(&self, batch: IngestBatch) -> StoreResult<StatusRecord> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Job::Ingest(batch, reply))
            .map_err(|_| StoreError::WriterStopped)?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `f` in its own immediate transaction on the writer thread.
    pub fn exec<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = mpsc::sync_channel(1);
        let job = Box::new(move |conn: &mut Connection| {
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            let _ = reply.send(result);
        });
        self.tx
            .send(Job::Exec(job))
            .map_err(|_| StoreError::WriterStopped)?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

/// Queued audit events with no write to ride on are committed after at most
/// this long, or once this many are waiting: a steady stream of polls then
/// costs a few commits a second instead of one per wake-up of this thread.
const AUDIT_DELAY: Duration = Duration::from_millis(100);
const AUDIT_BATCH: usize = 4096;

fn waiting(buffer: &AuditBuffer) -> usize {
    buffer.lock().unwrap_or_else(|p| p.into_inner()).len()
}

fn run(conn: &mut Connection, rx: mpsc::Receiver<Job>, audits: &AuditBuffer) {
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
                    flush(conn, &mut Vec::new(), audits);
                    audits_due = None;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        let mut group = Vec::new();
        let mut queue = vec![first];
        while queue.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => queue.push(job),
                Err(_) => break,
            }
        }
        for job in queue {
            match job {
                Job::Ingest(batch, reply) => group.push((batch, reply)),
                Job::AuditsWaiting => {}
                Job::Exec(f) => {
                    flush(conn, &mut group, audits);
                    f(conn);
                }
            }
        }
        if !group.is_empty() || waiting(audits) >= AUDIT_BATCH {
            flush(conn, &mut group, audits);
        }
        audits_due = match (waiting(audits) == 0, audits_due) {
            (true, _) => None,
            (false, Some(due)) => Some(due),
            (false, None) => Some(Instant::now() + AUDIT_DELAY),
        };
    }
    // Every sender is gone (the store was dropped): nothing queued is lost.
    flush(conn, &mut Vec::new(), audits);
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

fn flush(
    conn: &mut Connection,
    group: &mut Vec<(IngestBatch, Reply<StatusRecord>)>,
    audits: &AuditBuffer,
) {
    let audits = std::mem::take(&mut *audits.lock().unwrap_or_else(|p| p.into_inner()));
    if group.is_empty() && audits.is_empty() {
        return;
    }
    let jobs = std::mem::take(group);
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            for (_, reply) in jobs {
                let _ = reply.send(Err(StoreError::Write(e.to_string())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(jobs.len());
    for (batch, _) in &jobs {
        // A savepoint per envelope: one envelope failing (e.g. a full disk on
        // its status row) leaves the others in the group intact.
        let outcome = (|| {
            tx.execute_batch("SAVEPOINT envelope")?;
            match apply_batch(&tx, batch, Timestamp::now()) {
                Ok(status) => {
                    tx.execute_batch("RELEASE envelope")?;
                    Ok(status)
                }
                Err(e) => {
                    tx.execute_batch("ROLLBACK TO envelope; RELEASE envelope")?;
                    Err(e)
                }
            }
        })();
        results.push(outcome);
    }
    if let Err(e) = write_audits(&tx, &audits) {
        tracing::error!(error = %e, lost = audits.len(), "could not write audit events");
    }
    match tx.commit() {
        Ok(()) => {
            // Every envelope is freed before any caller hears back, so one
            // that returns memory to the system afterwards finds it free.
            let replies: Vec<_> = jobs.into_iter().map(|(_, reply)| reply).collect();
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            for (_, reply) in jobs {
                let _ = reply.send(Err(StoreError::Write(e.to_string())));
            }
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
    let mut clock = Clock::load(tx)?;
    let collection = batch.collection.to_string();
    let mut details = StatusDetails {
        successes: Vec::with_capacity(batch.accepted.len()),
        failures: batch.refused.clone(),
        pendings: Vec::new(),
    };
    for object in &batch.accepted {
        match store_object(tx, &collection, object, &mut clock, now)? {
            Ok(version) => details.successes.push(StatusDetail {
                id: object.id.clone(),
                version,
                message: None,
            }),
            Err(failure) => details.failures.push(failure),
        }
    }
    clock.save(tx)?;
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
            super::console::index_object(tx, collection, date_added.micros(), object, is_last)?;
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
            super::console::index_object(tx, collection, date_added.micros(), object, true)?;
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
