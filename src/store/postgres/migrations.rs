//! Versioned schema migrations, the PostgreSQL way: every upgrade inside one
//! transaction, under an advisory lock, so nodes starting together migrate
//! once (the others wait, then find the schema current); a database written
//! by a newer build is refused untouched.

use crate::store::{StoreError, StoreResult};

/// Each entry upgrades from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/0001_init.sql"),
    include_str!("schema/0002_collection_deletion.sql"),
    include_str!("schema/0003_console.sql"),
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Serialises migrations across nodes (the clock uses 0x42570002).
const MIGRATION_LOCK: i64 = 0x4257_0001;

async fn found(client: &impl tokio_postgres::GenericClient) -> StoreResult<i64> {
    let exists: bool = client
        .query_one("SELECT to_regclass('breakwater_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one("SELECT version FROM breakwater_schema WHERE id = 1", &[])
        .await?
        .get(0))
}

pub async fn migrate(client: &mut tokio_postgres::Client) -> StoreResult<()> {
    let check = |found: i64| {
        if found > LATEST {
            Err(StoreError::SchemaTooNew {
                found,
                supported: LATEST,
            })
        } else {
            Ok(found)
        }
    };
    if check(found(client).await?)? == LATEST {
        return Ok(());
    }
    // A session lock, taken before the transaction begins: the transaction
    // then starts after any other node's migration committed, and sees its
    // tables (an advisory lock taken inside a transaction would not refresh
    // what the session has already looked up).
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = upgrade(client, &check).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

async fn upgrade(
    client: &mut tokio_postgres::Client,
    check: &dyn Fn(i64) -> StoreResult<i64>,
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    // Re-read under the lock: another node may have migrated meanwhile.
    let from = check(found(&tx).await?)?;
    if from == LATEST {
        return Ok(());
    }
    if from == 0 {
        tx.batch_execute(
            "CREATE TABLE breakwater_schema (
                 id integer PRIMARY KEY CHECK (id = 1),
                 version bigint NOT NULL
             );
             INSERT INTO breakwater_schema (id, version) VALUES (1, 0);",
        )
        .await?;
    }
    for script in MIGRATIONS.iter().skip(from.max(0) as usize) {
        tx.batch_execute(script).await?;
    }
    ensure_secret(&tx).await?;
    tx.execute(
        "UPDATE breakwater_schema SET version = $1 WHERE id = 1",
        &[&LATEST],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The key that authenticates `next` tokens lives in the database, so every
/// node accepts the tokens any node minted.
async fn ensure_secret(tx: &tokio_postgres::Transaction<'_>) -> StoreResult<()> {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| StoreError::Corrupt("no system randomness for the token key".into()))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('cursor_key', $1) ON CONFLICT (key) DO NOTHING",
        &[&&key[..]],
    )
    .await?;
    Ok(())
}
