//! Bulk removals (a deleted collection's objects, expired statuses) as a
//! series of short transactions instead of one long one.
//!
//! Each transaction removes a number of rows sized to take about `TARGET`:
//! the time a row takes varies with its size, the indexes, the disk and the
//! page cache, so a fixed row count would be either slow on a fast machine
//! or too long on a slow one. The count adapts after every transaction
//! (from a small first guess, at most doubling or halving each time) and
//! never exceeds the configured maximum, which bounds the work even when the
//! clock misleads. Between two transactions the loop pauses briefly, so a
//! writer in another process (the server, while an operator's command runs)
//! takes the lock in the gap instead of waiting for the whole job.

use std::time::Duration;

use rusqlite::params;

use super::sql;
use super::writer::Writer;
use crate::model::{CollectionId, Timestamp};
use crate::store::{PurgeReport, StoreError, StoreResult};

/// What one maintenance transaction aims to take.
const TARGET: Duration = Duration::from_millis(100);
/// The first transaction's row count, before anything is measured.
const FIRST_ROWS: usize = 1_000;
const MIN_ROWS: usize = 16;
/// The default ceiling on rows per maintenance transaction.
pub const DEFAULT_MAX_ROWS: usize = 50_000;
/// The gap left between two maintenance transactions.
const PAUSE: Duration = Duration::from_millis(10);
/// A maintenance transaction that found the database busy is retried this
/// many times (after a pause each) before the job gives up; a later run
/// resumes it.
const BUSY_RETRIES: u32 = 5;

/// Sizes successive transactions of one job.
struct Chunker {
    rows: usize,
    min: usize,
    max: usize,
}

impl Chunker {
    fn new(max: usize) -> Chunker {
        let max = max.max(1);
        Chunker {
            rows: FIRST_ROWS.min(max),
            min: MIN_ROWS.min(max),
            max,
        }
    }

    /// Learns from a transaction that removed `rows` rows in `took`.
    fn observe(&mut self, rows: usize, took: Duration) {
        if rows < self.rows {
            // The last, partial transaction of a job says little.
            return;
        }
        let rate = rows as f64 / took.as_secs_f64().max(1e-6);
        let ideal = (rate * TARGET.as_secs_f64()) as usize;
        self.rows = ideal
            .clamp(self.rows / 2, self.rows.saturating_mul(2))
            .clamp(self.min, self.max);
    }
}

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
            let limit = chunker.rows;
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
        let limit = chunker.rows;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_count_follows_the_target_within_its_bounds() {
        let mut c = Chunker::new(50_000);
        assert_eq!(c.rows, FIRST_ROWS);
        // Fast: grows, but at most doubles per step.
        c.observe(1_000, Duration::from_millis(1));
        assert_eq!(c.rows, 2_000);
        for _ in 0..20 {
            c.observe(c.rows, Duration::from_millis(1));
        }
        assert_eq!(c.rows, 50_000, "never above the ceiling");
        // Slow: shrinks, at most halving per step.
        c.observe(50_000, Duration::from_secs(10));
        assert_eq!(c.rows, 25_000);
        // On target: stays.
        c.observe(25_000, TARGET);
        assert_eq!(c.rows, 25_000);
        for _ in 0..40 {
            c.observe(c.rows, Duration::from_secs(10));
        }
        assert_eq!(c.rows, MIN_ROWS, "never below the floor");
        // A partial last step teaches nothing.
        c.observe(3, Duration::from_secs(10));
        assert_eq!(c.rows, MIN_ROWS);
    }

    #[test]
    fn a_small_ceiling_wins_over_the_defaults() {
        let mut c = Chunker::new(5);
        assert_eq!(c.rows, 5);
        c.observe(5, Duration::from_secs(10));
        assert_eq!(c.rows, 5);
        assert_eq!(Chunker::new(0).rows, 1);
    }
}
