//! Semantic MUST rules of STIX 2.1 that JSON Schema cannot express, one file per
//! family. Every check is a pure function of the object.

use serde_json::{Map, Value};

use super::types::Kind;
use super::violation::{Path, Violation};

pub mod addresses;
pub mod charsets;
pub mod cpe;
pub mod extensions;
pub mod external_refs;
pub mod hashes;
pub mod ids;
pub mod language;
pub mod markings;
pub mod observables;
pub mod patterns;
pub mod properties;
pub mod refs;
pub mod timestamps;
pub mod uri;
pub mod vocab;

/// What every rule gets: the object, its type and kind, and the path root.
pub(crate) struct Ctx<'a> {
    pub obj: &'a Map<String, Value>,
    pub t: &'a str,
    pub kind: Kind,
    pub root: Path,
    /// For an object inside observed-data's deprecated `objects` dictionary: that
    /// dictionary, whose keys its references name.
    pub embedded_in: Option<&'a Map<String, Value>>,
}

impl Ctx<'_> {
    pub(crate) fn path(&self, key: &str) -> Path {
        self.root.key(key)
    }
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.obj.get(key).and_then(Value::as_str)
    }
}

/// Runs every rule family in a fixed order.
pub(crate) fn check_all(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    ids::check(ctx, out);
    properties::check(ctx, out);
    timestamps::check(ctx, out);
    refs::check(ctx, out);
    markings::check(ctx, out);
    hashes::check(ctx, out);
    vocab::check(ctx, out);
    language::check(ctx, out);
    observables::check(ctx, out);
    extensions::check(ctx, out);
    external_refs::check(ctx, out);
    patterns::check(ctx, out);
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::Value;

    use crate::stix::Validator;

    thread_local! {
        static VALIDATOR: Validator = Validator::new();
    }

    /// Rule ids reported for `object` by the full validator.
    pub fn rules(object: &Value) -> Vec<&'static str> {
        VALIDATOR.with(|v| match v.validate(object) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|v| v.rule).collect(),
        })
    }

    /// Rendered violations for `object`.
    pub fn messages(object: &Value) -> Vec<String> {
        VALIDATOR.with(|v| match v.validate(object) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|v| v.to_string()).collect(),
        })
    }

    /// A valid indicator to mutate in tests.
    pub fn indicator() -> Value {
        serde_json::json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created_by_ref": "identity--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
            "created": "2024-03-04T08:15:00.000Z",
            "modified": "2024-03-04T08:15:00.000Z",
            "name": "Phishing sender domain",
            "pattern": "[domain-name:value = 'portcall-notices.example']",
            "pattern_type": "stix",
            "valid_from": "2024-03-04T08:15:00Z"
        })
    }

    /// A valid file SCO to mutate in tests.
    pub fn file() -> Value {
        serde_json::json!({
            "type": "file",
            "spec_version": "2.1",
            "id": "file--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b",
            "name": "manifest.xlsm",
            "hashes": {"SHA-256": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"}
        })
    }
}
