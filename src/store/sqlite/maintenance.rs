//! Bulk removals (a deleted collection's objects, expired statuses) as a
//! series of short transactions instead of one long one, each sized by
//! `store::chunker`. Between two transactions the loop pauses briefly, so a
//! writer in another process (the server, while an operator's command runs)
//! takes the lock in the gap instead of waiting for the whole job.

use std::time::Duration;

use rusqlite::params;

use super::sql;
use super::writer::Writer;
use crate::model::{CollectionId, Timestamp};
use crate::store::chunker::Chunker;
use crate::store::{PurgeReport, StoreError, StoreResult};

/// The gap left between two maintenance transactions.
const PAUSE: Duration = Duration::from_millis(10);
/// A maintenance transaction that found the database busy is retried this
/// many times (after a pause each) before the job gives up; a later run
/// resumes it.
const BUSY_RETRIES: u32 = 5;

/// Runs one maintenance transaction, retrying it while the database is busy.
fn step<T, F>(writer: &Writer, f: F) -> StoreResult<(T, Duration)>
where
    T: Send + 'static,
    F: Fn(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + Sync + Clone + 'static,
{
    let mut attempt = 0;
    loop {
        match writer.exec_timed(f.clone()) {
            Err(StoreError::Busy) if attempt < BUSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(PAUSE * 10);
            }
            other => return other,
        }
    }
}

/// Empties each collection marked deleted, oldest first, and removes it.
pub(super) fn purge_collections(
    writer: &Writer,
    deleted: Vec<CollectionId>,
    max_rows: usize,
) -> StoreResult<PurgeReport> {
    let mut report = PurgeReport::default();
    let mut chunker = Chunker::new(max_rows);
    for id in deleted {
        let id = id.to_string();
        loop {
            let limit = chunker.rows();
            let collection = id.clone();
            let ((removed, finished), took) = step(writer, move |tx| {
                let removed = tx.execute(
                    sql::COLLECTION_OBJECTS_DELETE_SOME,
                    params![collection, limit as i64],
                )?;
                // The row goes with the last objects, in the same transaction.
                let finished = removed < limit;
                if finished {
                    tx.execute(sql::COLLECTION_DELETE, [&collection])?;
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
            std::thread::sleep(PAUSE);
        }
    }
    Ok(report)
}

/// Removes the statuses completed before `before`.
pub(super) fn purge_statuses(
    writer: &Writer,
    before: Timestamp,
    max_rows: usize,
) -> StoreResult<usize> {
    let mut chunker = Chunker::new(max_rows);
    let mut total = 0;
    loop {
        let limit = chunker.rows();
        let (removed, took) = step(writer, move |tx| {
            Ok(tx.execute(
                sql::STATUSES_PURGE_SOME,
                params![before.micros(), limit as i64],
            )?)
        })?;
        total += removed;
        chunker.observe(removed, took);
        if removed < limit {
            return Ok(total);
        }
        std::thread::sleep(PAUSE);
    }
}
