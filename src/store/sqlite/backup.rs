//! Consistent copies of the database while the server writes to it (SQLite's
//! online backup API), and the checks a copy passes before it replaces the
//! database.
//!
//! The copy reads one snapshot: the source connection holds a read
//! transaction from the first page to the last, so the copy is the database
//! as of the moment the backup began, whatever is committed meanwhile. In WAL
//! mode a reader never blocks the writer, so members keep pushing while the
//! pages are copied; without that pinned snapshot, SQLite would restart a
//! stepped backup every time another connection commits, and under steady
//! ingest it would never finish.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::migrations::LATEST;
use crate::store::{StoreError, StoreResult};

/// Pages copied per step (4 MiB at our 16 KiB page size).
const PAGES_PER_STEP: std::os::raw::c_int = 256;

#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub pages: i64,
    pub steps: u32,
    /// The slowest single step: the longest the copy held the source busy
    /// in one go.
    pub longest_step: Duration,
    pub elapsed: Duration,
    pub schema: i64,
    pub objects: i64,
}

/// What a database file holds, once it passed the checks.
#[derive(Debug, Clone)]
pub struct Verified {
    pub schema: i64,
    pub objects: i64,
    pub members: i64,
}

fn not_a_database(path: &Path) -> StoreError {
    StoreError::Corrupt(format!("{} is not a Breakwater database", path.display()))
}

/// Maps "file is not a database" and friends to one sentence.
fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_a_database(path),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(format!(
            "{} is damaged (SQLite reports it malformed)",
            path.display()
        )),
        _ => StoreError::Sqlite(e),
    }
}

/// Copies the database at `source` into a new file `dest` (refusing to
/// overwrite one), in steps, from one snapshot; the copy is a single
/// self-contained file (rollback journal, not WAL), checked with
/// `quick_check` and flushed to disk before this returns.
pub fn backup(source: &Path, dest: &Path) -> StoreResult<BackupReport> {
    backup_observed(source, dest, &mut |_| {})
}

/// [`backup`], calling `between_steps` with the number of steps done after
/// each step that leaves pages to copy.
fn backup_observed(
    source: &Path,
    dest: &Path,
    between_steps: &mut dyn FnMut(u32),
) -> StoreResult<BackupReport> {
    let started = Instant::now();
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists; choose a new file name",
            dest.display()
        )));
    }
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(source, e))?;
    src.busy_timeout(Duration::from_secs(10))?;
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        // Pin the snapshot: every step reads the same committed state.
        src.execute_batch("BEGIN")?;
        let schema: i64 = src.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mut dst = Connection::open(&partial)?;
        let mut steps = 0u32;
        let mut longest = Duration::ZERO;
        let pages;
        {
            let copy = Backup::new(&src, &mut dst)?;
            loop {
                let step = Instant::now();
                let outcome = copy.step(PAGES_PER_STEP)?;
                longest = longest.max(step.elapsed());
                steps += 1;
                match outcome {
                    StepResult::Done => break,
                    StepResult::More => between_steps(steps),
                    // The destination is ours alone; the source only reads.
                    StepResult::Busy | StepResult::Locked => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            pages = copy.progress().pagecount as i64;
        }
        src.execute_batch("COMMIT")?;
        // One file, no -wal beside it: easy to move, copy and restore.
        dst.pragma_update_and_check(None, "journal_mode", "DELETE", |_| Ok(()))?;
        let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Corrupt(format!(
                "the copy failed its check: {check}"
            )));
        }
        let objects: i64 = dst.query_row("SELECT count(*) FROM objects", [], |r| r.get(0))?;
        drop(dst);
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::Write(e.to_string()))?;
        std::fs::rename(&partial, dest).map_err(|e| StoreError::Write(e.to_string()))?;
        sync_dir(dest);
        let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport {
            path: dest.to_path_buf(),
            bytes,
            pages,
            steps,
            longest_step: longest,
            elapsed: started.elapsed(),
            schema,
            objects,
        })
    })();
    if result.is_err() {
        let _ = src.execute_batch("ROLLBACK");
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Flushes a directory entry (a rename) to disk, where the platform can.
fn sync_dir(file: &Path) {
    if let Some(dir) = file.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Checks that `path` is an intact Breakwater database this build can
/// serve: SQLite's full `integrity_check`, a schema version from 1 to the
/// latest this build knows (older ones are upgraded at the next start), and
/// the tables every version has.
pub fn verify(path: &Path) -> StoreResult<Verified> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!("the file {}", path.display())));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(path, e))?;
    let schema: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| open_error(path, e))?;
    if schema > LATEST {
        return Err(StoreError::SchemaTooNew {
            found: schema,
            supported: LATEST,
        });
    }
    let mut problems: Vec<String> = Vec::new();
    {
        let mut stmt = conn
            .prepare("PRAGMA integrity_check(5)")
            .map_err(|e| open_error(path, e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| open_error(path, e))?;
        for row in rows {
            problems.push(row.map_err(|e| open_error(path, e))?);
        }
    }
    if problems != ["ok"] {
        return Err(StoreError::Corrupt(format!(
            "{} fails SQLite's integrity check: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    let has = |table: &str| -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get::<_, i64>(0),
        )
        .is_ok_and(|n| n == 1)
    };
    if schema < 1
        || ![
            "meta",
            "clock",
            "objects",
            "members",
            "collections",
            "audit",
        ]
        .iter()
        .all(|t| has(t))
    {
        return Err(not_a_database(path));
    }
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    Ok(Verified {
        schema,
        objects: count("SELECT count(*) FROM objects")?,
        members: count("SELECT count(*) FROM members")?,
    })
}

/// Puts the database in `backup` in place of `db` (the server must be
/// stopped): checks it, copies it next to `db`, moves the current database
/// (with its WAL) aside as `db.before-restore-STAMP`, and renames the copy
/// into place. Returns what was restored and where the old file went.
pub fn restore(
    backup_file: &Path,
    db: &Path,
    stamp: &str,
) -> StoreResult<(Verified, Option<PathBuf>)> {
    let verified = verify(backup_file)?;
    let mut staged = db.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    // Through SQLite, not a file copy: a WAL beside the backup is included
    // and the result is one self-contained file.
    backup(backup_file, &staged)?;
    let move_err = |e: std::io::Error| StoreError::Write(e.to_string());
    let kept = if db.exists() {
        let mut aside = db.as_os_str().to_owned();
        aside.push(format!(".before-restore-{stamp}"));
        let aside = PathBuf::from(aside);
        std::fs::rename(db, &aside).map_err(move_err)?;
        for suffix in ["-wal", "-journal"] {
            let mut from = db.as_os_str().to_owned();
            from.push(suffix);
            let mut to = aside.as_os_str().to_owned();
            to.push(suffix);
            if Path::new(&from).exists() {
                std::fs::rename(&from, &to).map_err(move_err)?;
            }
        }
        // The shared-memory index is rebuilt from the WAL by whoever opens it.
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        let _ = std::fs::remove_file(&shm);
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staged, db).map_err(move_err)?;
    sync_dir(db);
    Ok((verified, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{NewMember, Store};

    fn fresh(dir: &Path) -> PathBuf {
        let path = dir.join("breakwater.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_member(NewMember {
                name: "evergreen-line".into(),
                sector: "shipping-line".into(),
                contact: None,
                identity_ref: None,
                clearance: crate::model::Tier::Green,
                is_operator: false,
            })
            .unwrap();
        path
    }

    #[test]
    fn a_backup_is_one_checked_file_that_restores_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh(dir.path());
        let copy = dir.path().join("copy.db");
        let report = backup(&db, &copy).unwrap();
        assert_eq!(report.schema, LATEST);
        assert!(report.pages > 0 && report.steps >= 1);
        let mut wal = copy.as_os_str().to_owned();
        wal.push("-wal");
        assert!(!Path::new(&wal).exists(), "the copy has a WAL beside it");
        // Never overwrites.
        assert!(matches!(backup(&db, &copy), Err(StoreError::Conflict(_))));
        let verified = verify(&copy).unwrap();
        assert_eq!(verified.members, 1);

        let (restored, kept) = restore(&copy, &db, "test").unwrap();
        assert_eq!(restored.members, 1);
        let kept = kept.expect("the old database is kept aside");
        assert!(kept.is_file());
        let store = SqliteStore::open(&db).unwrap();
        assert_eq!(store.members().unwrap().len(), 1);
    }

    #[test]
    fn verify_refuses_what_is_not_an_intact_breakwater_database() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"this is not SQLite at all, just some bytes ....").unwrap();
        let err = verify(&junk).unwrap_err().to_string();
        assert!(err.ends_with("is not a Breakwater database"), "{err}");

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
        let err = verify(&other).unwrap_err().to_string();
        assert!(err.ends_with("is not a Breakwater database"), "{err}");

        let newer = dir.path().join("newer.db");
        Connection::open(&newer)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA user_version = 99;")
            .unwrap();
        assert!(matches!(
            verify(&newer),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));

        // The page headers of a real database overwritten: SQLite's check finds it.
        let db = fresh(dir.path());
        let copy = dir.path().join("damaged.db");
        backup(&db, &copy).unwrap();
        let mut bytes = std::fs::read(&copy).unwrap();
        let page = super::super::migrations::PAGE_SIZE as usize;
        assert!(bytes.len() > 3 * page);
        for start in (page..bytes.len()).step_by(page) {
            bytes[start..start + 12].fill(0x5a);
        }
        std::fs::write(&copy, &bytes).unwrap();
        let err = verify(&copy).unwrap_err().to_string();
        assert!(
            err.contains("integrity check")
                || err.contains("damaged")
                || err.contains("not a Breakwater"),
            "{err}"
        );
    }

    /// The copy is the snapshot at its start, even when another connection
    /// commits between every two steps (which restarts an unpinned backup:
    /// it would never finish).
    #[test]
    fn a_backup_finishes_while_another_connection_commits_between_its_steps() {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh(dir.path());
        let writer = Connection::open(&db).unwrap();
        writer.busy_timeout(Duration::from_secs(10)).unwrap();
        writer
            .execute_batch("CREATE TABLE filler (x BLOB);")
            .unwrap();
        for _ in 0..200 {
            writer
                .execute("INSERT INTO filler VALUES (zeroblob(65536))", [])
                .unwrap();
        }
        let copy = dir.path().join("copy.db");
        let mut commits = 0;
        let report = backup_observed(&db, &copy, &mut |steps| {
            assert!(steps < 1000, "the backup keeps restarting");
            writer
                .execute("INSERT INTO filler VALUES (zeroblob(100))", [])
                .unwrap();
            commits += 1;
        })
        .unwrap();
        assert!(commits > 1, "{report:?}");
        let rows: i64 = Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM filler", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 200, "the copy is the state when the backup began");
    }
}
