//! STIX 2.1 validation (pure: no I/O).
