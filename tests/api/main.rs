//! The one integration-test binary: every module starts the real server on
//! port 0 over real mutual TLS and speaks only HTTP and TAXII to it.

mod helpers;
mod smoke;
mod errors;
mod objects;
