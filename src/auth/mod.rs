//! Who the caller is and what they may do: TLS identity captured per
//! connection, checked against the member registry on every request.

mod error;
pub mod extract;
pub mod identity;
pub mod policy;
pub mod registry;
pub mod tls;

pub use error::AuthError;
pub use extract::Caller;
pub use registry::MemberRegistry;
