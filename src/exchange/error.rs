use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("the request body is not a TAXII envelope: {0}")]
    MalformedEnvelope(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The database was held by another writer for longer than we wait;
    /// nothing was changed, and the same request can simply be repeated.
    #[error("the database is busy; nothing was changed, try again in a moment")]
    Busy,
    /// There is no room to store more (a full disk, or the configured size
    /// limit); nothing was changed. Reads still work.
    #[error("the database is full; nothing was changed: {0}")]
    StorageFull(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ExchangeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ExchangeError::NotFound(what),
            StoreError::Conflict(what) => ExchangeError::Conflict(what),
            StoreError::Busy => ExchangeError::Busy,
            StoreError::Full(cause) => ExchangeError::StorageFull(cause),
            other => ExchangeError::Store(other),
        }
    }
}
