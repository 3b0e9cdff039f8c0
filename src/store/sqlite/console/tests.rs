//! The console's read models on a file written by an older schema (the
//! behaviours both backends share are in `store/behaviour/console.rs`).

use super::super::SqliteStore;
use crate::model::CollectionId;
use crate::store::behaviour::console::assert_upgraded_activity;

/// A schema-2 file with data gains the read models on upgrade.
#[test]
fn upgrading_fills_the_read_models_from_existing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../schema/0001_init.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../schema/0002_objects_rowid.sql"))
            .unwrap();
        conn.execute_batch(
            r#"
            PRAGMA user_version = 2;
            INSERT INTO members (name, sector, clearance, created) VALUES ('m', 'rail', 'red', 0);
            INSERT INTO api_roots (name, title, max_content_length) VALUES ('crc', 't', 1000);
            INSERT INTO collections (id, api_root, title, tier, created) VALUES ('c', 'crc', 'c', 'green', 0);
            INSERT INTO objects VALUES (10, 'c', 'indicator--1', 'indicator', 1, 'v', '2.1', 1, 1,
                '{"labels":["port"],"created_by_ref":"identity--a"}');
            INSERT INTO objects VALUES (11, 'c', 'relationship--1', 'relationship', 1, 'v', '2.1', 1, 1,
                '{"source_ref":"indicator--1","target_ref":"campaign--1","relationship_type":"indicates"}');
            INSERT INTO audit (at, member, action, collection, objects, outcome, detail)
                VALUES (7200000000, 'm', 'push', 'c', 5, 'partial', 'status s: 3 stored, 2 refused');
            INSERT INTO audit (at, member, action, collection, objects, outcome)
                VALUES (7200000001, 'm', 'poll-objects', 'c', 9, 'ok');
            "#,
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let c = CollectionId::parse("c");
    // The collection id is not a UUID in this hand-made file, so read the
    // tables through SQL rather than through CollectionId-typed methods.
    assert!(c.is_none());
    let (labels, edges, counts): (i64, i64, i64) = store
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT (SELECT COUNT(*) FROM object_labels), (SELECT COUNT(*) FROM object_edges),
                        (SELECT SUM(objects) FROM object_type_counts)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    assert_eq!((labels, edges, counts), (1, 1, 2));
    assert_upgraded_activity(&store);
}
