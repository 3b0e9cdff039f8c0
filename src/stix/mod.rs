//! STIX 2.1 validation. Pure: no I/O, no clock, nothing from elsewhere in the crate.
//!
//! # API used by the server
//!
//! ```
//! use breakwater::stix::Validator;
//!
//! let validator = Validator::new(); // compiles every embedded schema once; Send + Sync
//! let object = serde_json::json!({"type": "indicator"});
//! match validator.validate(&object) {
//!     Ok(()) => {}
//!     Err(violations) => {
//!         // Display joins the violations with "; ", each as "{path}: {message}".
//!         for v in &violations.0 {
//!             let _stable_id: &'static str = v.rule;
//!         }
//!     }
//! }
//! ```
//!
//! `validate` never panics, whatever the JSON value: a non-object or an object
//! without a usable `type` becomes a violation.
//!
//! # What is checked
//!
//! 1. The object's own JSON Schema (`schemas/`), chosen by `type`. Types the
//!    specification does not define are checked against the common core: the
//!    SDO-like core when the object has `created` or `modified`, the SCO core
//!    otherwise. A bundle is checked against the bundle schema only; its objects are
//!    validated one by one by the caller.
//! 2. The semantic MUST rules of [`rules`], one module per family.
//!
//! Rule ids are listed in [`RULE_IDS`].

pub mod pattern;
pub mod rules;
pub mod schema;
pub mod types;
pub mod violation;

use serde_json::Value;

pub use violation::{Violation, Violations};

use rules::Ctx;
use types::Kind;
use violation::Path;

/// Every rule id a [`Violation`] can carry.
pub const RULE_IDS: &[&str] = &[
    "not-an-object",
    "schema",
    "id-format",
    "id-type-mismatch",
    "type-name",
    "timestamp-format",
    "modified-before-created",
    "time-order",
    "spec-version",
    "ref-type",
    "marking-selector",
    "marking-circular-ref",
    "tlp-marking",
    "property-name",
    "reserved-property",
    "confidence-range",
    "hash-format",
    "closed-vocabulary",
    "extension",
    "pattern-syntax",
    "external-id",
    "language-tag",
];

/// The STIX 2.1 validator: compiled schemas plus the rule families. Build it once.
pub struct Validator {
    schemas: schema::SchemaSet,
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    /// Compiles every embedded schema. A broken embedded schema is a bug (a unit test
    /// builds the set), so this panics rather than returning an error.
    pub fn new() -> Validator {
        Validator {
            schemas: schema::SchemaSet::new(),
        }
    }

    /// Validates one STIX object.
    pub fn validate(&self, object: &Value) -> Result<(), Violations> {
        let Some(map) = object.as_object() else {
            return Err(Violations(vec![Violation::new(
                "not-an-object",
                "object",
                format!(
                    "a STIX object must be a JSON object, found {}",
                    json_kind(object)
                ),
            )]));
        };
        let t = match map.get("type") {
            Some(Value::String(t)) if !t.is_empty() => t.as_str(),
            Some(other) => {
                return Err(Violations(vec![Violation::new(
                    "schema",
                    "object.type",
                    format!("must be a non-empty string, found {}", json_kind(other)),
                )]));
            }
            None => {
                return Err(Violations(vec![Violation::new(
                    "schema",
                    "object.type",
                    "required property is missing",
                )]));
            }
        };
        let kind = Kind::of_defined(t).unwrap_or_else(|| {
            if map.contains_key("created") || map.contains_key("modified") {
                Kind::CustomObject
            } else {
                Kind::CustomObservable
            }
        });
        let ctx = Ctx {
            obj: map,
            t,
            kind,
            root: Path::root(t),
        };
        let mut out = Vec::new();
        if kind != Kind::Bundle {
            rules::check_all(&ctx, &mut out);
        }
        let before = out.len();
        self.schemas
            .check(object, t, kind, ctx.root.as_str(), &mut out);
        // A defect found by both a rule and the schema is reported once, with the rule's wording.
        if out.len() > before {
            let schema_found = out.split_off(before);
            let bad_type_name = out.iter().any(|o| o.rule == "type-name");
            let id_path = ctx.path("id");
            for v in schema_found {
                let duplicate = out.iter().any(|o| o.rule == v.rule && o.path == v.path)
                    || (v.rule == "schema" && out.iter().any(|o| o.path == v.path))
                    // An id that repeats an invalid type name is not a second defect.
                    || (bad_type_name && v.path == id_path.as_str());
                if !duplicate {
                    out.push(v);
                }
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(Violations(out))
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validator_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Validator>();
    }

    #[test]
    fn never_panics_on_odd_values() {
        let v = Validator::new();
        for value in [
            json!(null),
            json!(1),
            json!("indicator"),
            json!([]),
            json!({}),
            json!({"type": 5}),
            json!({"type": ""}),
            json!({"type": "indicator"}),
            json!({"type": "indicator", "id": 3, "created": [], "pattern": {}, "pattern_type": "stix"}),
            json!({"type": "bundle"}),
            json!({"type": "x", "id": "x--", "granular_markings": [{"selectors": [1, null]}]}),
            json!({"type": "file", "extensions": {"ntfs-ext": []}, "hashes": []}),
        ] {
            assert!(v.validate(&value).is_err(), "{value}");
        }
    }

    #[test]
    fn not_an_object() {
        let v = Validator::new();
        assert_eq!(
            v.validate(&json!([1])).unwrap_err().to_string(),
            "object: a STIX object must be a JSON object, found an array"
        );
        assert_eq!(
            v.validate(&json!({"id": "x"})).unwrap_err().to_string(),
            "object.type: required property is missing"
        );
    }

    #[test]
    fn custom_objects_use_the_core() {
        let v = Validator::new();
        let sdo_like = json!({
            "type": "x-vessel-call", "spec_version": "2.1",
            "id": "x-vessel-call--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "imo_number": "9811000"
        });
        assert_eq!(v.validate(&sdo_like), Ok(()));
        let mut missing = sdo_like.clone();
        missing.as_object_mut().unwrap().remove("modified");
        let err = v.validate(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x-vessel-call.modified: required property is missing"
        );
    }

    #[test]
    fn every_reported_rule_is_listed() {
        let v = Validator::new();
        let messy = json!({
            "type": "indicator", "spec_version": "2.0", "id": "malware--1",
            "created": "2024-01-01T00:00:00Z", "modified": "2023-01-01T00:00:00.000Z",
            "pattern": "[", "pattern_type": "stix", "valid_from": "x", "confidence": 500,
            "Bad": 1, "severity": "x"
        });
        for violation in v.validate(&messy).unwrap_err().0 {
            assert!(RULE_IDS.contains(&violation.rule), "{}", violation.rule);
        }
    }
}
