#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", crate::store::postgres::describe(.0))]
    Postgres(tokio_postgres::Error),
    /// The database cannot be reached right now (PostgreSQL down, the
    /// network, no free connection): worth retrying later.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The database location or its settings cannot be used.
    #[error("{0}")]
    Config(String),
    #[error(
        "the database was written by a newer Breakwater (schema {found}, this build knows up to {supported}); upgrade Breakwater"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("the write could not be committed: {0}")]
    Write(String),
    #[error("the database writer has stopped")]
    WriterStopped,
}
