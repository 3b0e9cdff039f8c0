//! Versioned schema migrations through `PRAGMA user_version`: pragmas outside
//! the transaction, every upgrade inside one, and a file from a newer build
//! refused untouched.

use std::cell::Cell;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// Each entry upgrades from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/0001_init.sql"),
    include_str!("schema/0002_objects_rowid.sql"),
    include_str!("schema/0003_collection_deletion.sql"),
    include_str!("schema/0004_console.sql"),
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// The page size of databases we create, in bytes.
pub const PAGE_SIZE: i64 = 16 * 1024;

pub fn setup_pragmas(conn: &Connection) -> StoreResult<()> {
    // Takes effect only in a new, empty file (an existing WAL database keeps
    // its page size). An object is ~1 KiB, so a 4 KiB page holds three and a
    // 100-object page read cost ~34 page reads; at 16 KiB it is ~8, and a
    // page at 1,000,000 objects costs 1.3-1.4x one at 10,000 instead of 1.7x.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // WAL lets readers run beside the writer; FULL makes a commit durable
    // before we acknowledge it (a 202 survives kill -9 and power loss).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    wait_for_locks(conn)?;
    stable_plans(conn)?;
    Ok(())
}

/// How long a connection waits for another connection's lock before the
/// operation fails with `StoreError::Busy`. Every transaction Breakwater
/// itself runs is kept well under a second (bulk work is chunked), so this
/// is only reached when something else holds the file (a `sqlite3` shell in
/// a transaction, a backup tool); waiting long lets the envelopes queued
/// meanwhile commit instead of failing, and 10 s is still well below the
/// timeouts of TAXII clients.
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// How often a waiting connection retries the lock.
const BUSY_POLL: Duration = Duration::from_millis(2);

thread_local! {
    /// The wait of connections used on this thread (the writer thread sets
    /// its own from the store's options).
    static WAIT: Cell<Duration> = const { Cell::new(BUSY_WAIT) };
}

/// Sets how long connections used on the calling thread wait for a lock.
pub fn set_busy_wait_for_this_thread(wait: Duration) {
    WAIT.with(|w| w.set(wait));
}

/// Replaces SQLite's own busy handler, which backs off to 100 ms sleeps: a
/// writer sleeping that long misses the gap between another process's short
/// transactions and can be starved by a stream of them. Retrying every 2 ms
/// takes the lock in that gap.
pub fn wait_for_locks(conn: &Connection) -> StoreResult<()> {
    fn retry(attempts: i32) -> bool {
        let waited = BUSY_POLL.saturating_mul(attempts.max(0) as u32);
        if waited >= WAIT.with(Cell::get) {
            return false;
        }
        std::thread::sleep(BUSY_POLL);
        true
    }
    conn.busy_handler(Some(retry))?;
    Ok(())
}

/// The bundled SQLite (3.50) recompiles a statement whose plan looked at a
/// bound value (every `LIMIT ?`) each time that parameter is bound again, which
/// made every page and object read parse its SQL anew. Our plans are forced
/// with `INDEXED BY` and never depend on bound values, so the query planner
/// stability guarantee costs nothing and keeps prepared statements prepared.
pub fn stable_plans(conn: &Connection) -> StoreResult<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: LATEST,
        });
    }
    if found == LATEST {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    // Re-read inside the lock: another process may have migrated meanwhile.
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for script in MIGRATIONS.iter().skip(found.max(0) as usize) {
        tx.execute_batch(script)?;
    }
    if found < LATEST {
        ensure_secret(&tx)?;
        tx.pragma_update(None, "user_version", LATEST)?;
    }
    tx.commit()?;
    Ok(())
}

/// The key that authenticates `next` tokens lives in the database, so tokens
/// survive restarts and are valid for every process sharing the file.
fn ensure_secret(conn: &Connection) -> StoreResult<()> {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| StoreError::Corrupt("no system randomness for the token key".into()))?;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('cursor_key', ?1)",
        [&key[..]],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_fresh_file_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        setup_pragmas(&conn).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST);
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, PAGE_SIZE);
        let key: Vec<u8> = conn
            .query_row("SELECT value FROM meta WHERE key='cursor_key'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(key.len(), 32);
    }

    /// A file written by schema 1, with data, upgrades in place and keeps it.
    #[test]
    fn a_version_1_file_with_objects_upgrades_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO objects (collection_id, date_added, object_id, object_type, version,
                    version_text, spec_version, is_first, is_last, body)
                 VALUES ('c', 42, 'indicator--x', 'indicator', 7, 'v', '2.1', 1, 1, '{\"a\":1}')",
                [],
            )
            .unwrap();
        }
        let mut conn = Connection::open(&path).unwrap();
        setup_pragmas(&conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST);
        let (rowid, body): (i64, String) = conn
            .query_row(
                "SELECT rowid, body FROM objects WHERE object_id = 'indicator--x'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rowid, body.as_str()), (42, "{\"a\":1}"));
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let mut conn = Connection::open(&path).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        drop(conn);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
