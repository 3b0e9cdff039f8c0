//! Community CA and certificate issuance.
