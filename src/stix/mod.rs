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
//! # Bounds
//!
//! Some checks walk the JSON value recursively (the JSON Schema validator, the
//! hashes rule over `extensions` and `external_references`). Values nested more
//! than [`MAX_JSON_NESTING`] levels are refused before any of them runs, so the
//! stack they use is bounded for any value, however it was built. (`serde_json`
//! refuses to parse more than 127 levels, so parsed input never reaches the
//! bound.) Indicator patterns have their own bound, [`pattern::MAX_NESTING`].
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
];

/// How deeply JSON objects and lists may nest in one STIX object (the object
/// itself is level 1).
pub const MAX_JSON_NESTING: usize = 128;

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
        if nests_deeper_than(object, MAX_JSON_NESTING) {
            return Err(Violations(vec![Violation::new(
                "schema",
                t,
                format!("objects and lists nest deeper than {MAX_JSON_NESTING} levels"),
            )]));
        }
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

/// Whether objects and lists nest more than `max` levels in `value` (itself at
/// level 1). Iterative, so it is safe on any value.
fn nests_deeper_than(value: &Value, max: usize) -> bool {
    let mut pending = vec![(value, 1)];
    while let Some((v, level)) = pending.pop() {
        if level > max {
            return true;
        }
        let nested = |c: &&Value| c.is_array() || c.is_object();
        match v {
            Value::Array(items) => {
                pending.extend(items.iter().filter(nested).map(|c| (c, level + 1)))
            }
            Value::Object(m) => pending.extend(m.values().filter(nested).map(|c| (c, level + 1))),
            _ => {}
        }
    }
    false
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

    #[test]
    fn deeply_nested_pattern_is_refused_not_fatal() {
        // 50,000 nested parentheses used to overflow the validating thread's
        // stack and abort the server; now the object is refused with a reason,
        // even on a small stack.
        let v = Validator::new();
        let pattern = format!(
            "{}[file:name = 'a']{}",
            "(".repeat(50_000),
            ")".repeat(50_000)
        );
        let indicator = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--5dfdc0d9-fd93-47bd-b2c3-c7a1f17f2f13",
            "created": "2024-03-04T08:15:00.000Z", "modified": "2024-03-04T08:15:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-03-04T08:15:00Z"
        });
        let outcome = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, || v.validate(&indicator))
                .expect("spawn")
                .join()
                .expect("validation panicked")
        });
        let violations = outcome.unwrap_err();
        assert_eq!(
            violations.to_string(),
            format!(
                "indicator.pattern: pattern nests deeper than {} levels at column {}",
                pattern::MAX_NESTING,
                pattern::MAX_NESTING + 1
            )
        );
        assert_eq!(violations.0[0].rule, "pattern-syntax");
    }

    #[test]
    fn json_nesting_is_bounded() {
        let v = Validator::new();
        // As deep as serde_json parses: not refused for its depth.
        let text = format!(
            "{{\"type\": \"x-acme\", \"x_deep\": {}{}}}",
            "[".repeat(126),
            "]".repeat(126)
        );
        let parsed: Value = serde_json::from_str(&text).expect("127 levels parse");
        let err = v.validate(&parsed).unwrap_err();
        assert!(!err.to_string().contains("nest deeper"), "{err}");
        // Built by hand, far deeper: refused before any recursive check, on a
        // small stack (the hashes rule walks extensions recursively).
        let mut deep = json!("leaf");
        for _ in 0..100_000 {
            // Not json!(), which would copy `deep` recursively.
            let mut level = serde_json::Map::new();
            level.insert("x_more".to_owned(), deep);
            deep = Value::Object(level);
        }
        let mut object = json!({
            "type": "file", "id": "file--1d266876-22d5-58fd-9b00-48bca60ae9f3",
            "extensions": {}
        });
        object["extensions"]["x-acme-ext"] = deep;
        let outcome = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, || v.validate(&object))
                .expect("spawn")
                .join()
                .expect("validation panicked")
        });
        assert_eq!(
            outcome.unwrap_err().to_string(),
            format!("file: objects and lists nest deeper than {MAX_JSON_NESTING} levels")
        );
        // Dropping a value this deep recurses too (serde_json's drop glue):
        // take it apart level by level.
        let mut rest = object;
        while let Some(inner) = rest
            .as_object_mut()
            .and_then(|m| m.values_mut().find(|v| v.is_object()))
            .map(Value::take)
        {
            rest = inner;
        }
    }
}
