//! The one integration-test binary: every module starts the real server on
//! port 0 over real mutual TLS and speaks only HTTP and TAXII to it.

mod access;
mod binary;
mod certificates;
mod clients;
mod community;
mod concurrency;
mod conformance;
mod console;
mod console_live;
mod errors;
mod filters;
mod helpers;
mod hostile;
mod multinode;
mod objects;
mod operations;
mod operator;
mod pagination;
mod smoke;
mod status;
mod stix_fixtures;
mod storage;
mod stream;
#[path = "../support/postgres.rs"]
mod test_postgres;
mod versions;
