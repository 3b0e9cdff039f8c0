//! Bulk removals (a deleted collection's objects, expired statuses) run as a
//! series of short transactions instead of one long one, on both backends.
//!
//! Each transaction removes a number of rows sized to take about `TARGET`:
//! the time a row takes varies with its size, the indexes, the disk and the
//! page cache, so a fixed row count would be either slow on a fast machine
//! or too long on a slow one. The count adapts after every transaction
//! (from a small first guess, at most doubling or halving each time) and
//! never exceeds the configured maximum, which bounds the work even when the
//! clock misleads.

use std::time::Duration;

/// What one maintenance transaction aims to take.
const TARGET: Duration = Duration::from_millis(100);
/// The first transaction's row count, before anything is measured.
const FIRST_ROWS: usize = 1_000;
const MIN_ROWS: usize = 16;
/// The default ceiling on rows per maintenance transaction.
pub const DEFAULT_MAX_ROWS: usize = 50_000;

/// Sizes successive transactions of one job.
pub(crate) struct Chunker {
    rows: usize,
    min: usize,
    max: usize,
}

impl Chunker {
    pub(crate) fn new(max: usize) -> Chunker {
        let max = max.max(1);
        Chunker {
            rows: FIRST_ROWS.min(max),
            min: MIN_ROWS.min(max),
            max,
        }
    }

    /// The rows the next transaction removes at most.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Learns from a transaction that removed `rows` rows in `took`.
    pub(crate) fn observe(&mut self, rows: usize, took: Duration) {
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
