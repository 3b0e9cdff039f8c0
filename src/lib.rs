//! Breakwater: a STIX/TAXII 2.1 threat-exchange server.

pub mod app;
pub mod auth;
pub mod certs;
pub mod cli;
pub mod config;
pub mod console;
pub mod exchange;
pub mod model;
pub mod setup;
pub mod stix;
pub mod store;
pub mod taxii;
pub mod telemetry;
