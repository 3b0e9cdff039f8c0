//! Running out of room: recognising it, saying so once, and noticing when
//! writes succeed again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::store::{StoreError, WriteHealth};

/// Below this much free space, an I/O error while writing is taken for a
/// full disk: SQLite reports ENOSPC as SQLITE_FULL on most writes but as a
/// plain I/O error on some (growing the WAL index, syncing).
const NEARLY_FULL_BYTES: u64 = 1024 * 1024;

/// Whether writes are failing for lack of space, shared by the store and its
/// writer thread.
pub(super) struct Space {
    data_dir: PathBuf,
    max_database_bytes: Option<u64>,
    full: AtomicBool,
}

impl Space {
    pub(super) fn new(database: &Path, max_database_bytes: Option<u64>) -> Space {
        let data_dir = match database.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Space {
            data_dir,
            max_database_bytes,
            full: AtomicBool::new(false),
        }
    }

    pub(super) fn health(&self) -> WriteHealth {
        if self.full.load(Ordering::Relaxed) {
            WriteHealth::Full
        } else {
            WriteHealth::Ok
        }
    }

    /// Turns an I/O error that a full disk caused into `Full`.
    pub(super) fn classify(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Sqlite(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure)
                    && free_bytes(&self.data_dir).is_some_and(|free| free < NEARLY_FULL_BYTES) =>
            {
                StoreError::Full(e.to_string())
            }
            other => other,
        }
    }

    /// Records the outcome of a write: the first failure for lack of space is
    /// logged with where and how much room there is, later ones are not (a
    /// full disk must not also flood the log), and the first success after
    /// them says writes work again.
    pub(super) fn observe(&self, outcome: Result<(), &StoreError>) {
        match outcome {
            Err(StoreError::Full(cause)) => {
                if !self.full.swap(true, Ordering::Relaxed) {
                    let free = free_bytes(&self.data_dir);
                    tracing::error!(
                        data_dir = %self.data_dir.display(),
                        free_bytes = free,
                        max_database_bytes = self.max_database_bytes,
                        cause = %cause,
                        "the database is full: writes are refused until space is freed on the data \
                         directory's file system (or limits.max_database_bytes is raised); reads go on"
                    );
                }
            }
            Ok(()) => {
                if self.full.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        data_dir = %self.data_dir.display(),
                        free_bytes = free_bytes(&self.data_dir),
                        "the database accepts writes again"
                    );
                }
            }
            Err(_) => {}
        }
    }
}

/// Bytes an unprivileged process may still write on the file system holding
/// `dir`, or `None` if it cannot be asked.
pub(super) fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and
    // `stat` is a plain C struct statvfs fills in; it is read only on success.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_reported_for_a_real_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).is_some());
        assert!(free_bytes(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn only_full_errors_change_the_health_and_a_success_restores_it() {
        let space = Space::new(Path::new("db.sqlite"), Some(1 << 20));
        assert_eq!(space.data_dir, PathBuf::from("."));
        space.observe(Err(&StoreError::Busy));
        assert_eq!(space.health(), WriteHealth::Ok);
        space.observe(Err(&StoreError::Full("database or disk is full".into())));
        assert_eq!(space.health(), WriteHealth::Full);
        space.observe(Err(&StoreError::Busy));
        assert_eq!(space.health(), WriteHealth::Full);
        space.observe(Ok(()));
        assert_eq!(space.health(), WriteHealth::Ok);
    }
}
