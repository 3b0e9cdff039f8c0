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
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ExchangeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ExchangeError::NotFound(what),
            StoreError::Conflict(what) => ExchangeError::Conflict(what),
            other => ExchangeError::Store(other),
        }
    }
}
