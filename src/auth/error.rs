#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no client certificate or API token was presented")]
    NoCredentials,
    #[error("the client certificate {fingerprint} is not registered to any member")]
    UnknownCertificate { fingerprint: String },
    #[error("the client certificate {fingerprint} has been revoked")]
    Revoked { fingerprint: String },
    #[error("the client certificate {fingerprint} is outside its validity period")]
    Expired { fingerprint: String },
    #[error("the API token is unknown, expired or revoked")]
    BadToken,
    #[error("the client certificate and the API token name different members")]
    IdentityMismatch,
    #[error("member '{0}' is suspended")]
    Suspended(String),
    #[error(
        "member '{member}' already has {limit} requests in progress; retry when one has finished"
    )]
    TooManyRequests { member: String, limit: usize },
    #[error("the member registry could not be read: {0}")]
    Store(#[from] crate::store::StoreError),
}
