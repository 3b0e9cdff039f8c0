//! Breakwater: a STIX/TAXII 2.1 threat-exchange server.

pub mod certs;
pub mod cli;
pub mod stix;
