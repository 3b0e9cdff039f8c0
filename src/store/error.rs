#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
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
    /// Another writer held the database longer than this one would wait.
    /// Nothing of the failed operation was committed; retrying is safe.
    #[error("the database is busy (another process holds its write lock); nothing was changed")]
    Busy,
    /// The database may not grow: the disk is full, or the file reached the
    /// configured size limit. Nothing of the failed operation was committed.
    #[error("the database is full ({0}); nothing was changed")]
    Full(String),
    #[error("the database writer has stopped")]
    WriterStopped,
}

impl StoreError {
    /// A failure that passes on its own (a lock held elsewhere, a disk that
    /// fills and is freed again, a database server that comes back): the
    /// same write can simply be tried later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Busy | StoreError::Full(_) | StoreError::Unavailable(_)
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            Some(ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}
