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
//! 3. For observed-data with the deprecated `objects` dictionary, 1 and 2 for each
//!    object in it (paths `observed-data.objects.<key>...`), whose references name
//!    keys of that dictionary.
//!
//! Rule ids are listed in [`RULE_IDS`].

pub mod pattern;
pub mod rules;
pub mod schema;
pub mod types;
pub mod violation;

use serde_json::{Map, Value};

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
    "observable-value",
    "url-format",
    "cpe-format",
    "character-set",
    "embedded-ref",
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
        let mut out = Vec::new();
        let ctx = Ctx {
            obj: map,
            t,
            kind,
            root: Path::root(t),
            embedded_in: None,
        };
        let embedded = map
            .get("objects")
            .and_then(Value::as_object)
            .filter(|_| kind == Kind::Sdo && t == "observed-data");
        let objects_path = embedded.map(|_| ctx.path("objects"));
        self.check_object(object, ctx, &mut out);
        if let (Some(objects), Some(base)) = (embedded, objects_path) {
            self.check_embedded(objects, &base, &mut out);
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(Violations(out))
        }
    }

    /// Runs the rules and the schema on one object and appends what they find.
    fn check_object(&self, object: &Value, ctx: Ctx<'_>, out: &mut Vec<Violation>) {
        let start = out.len();
        if ctx.kind != Kind::Bundle {
            rules::check_all(&ctx, out);
        }
        let before = out.len();
        self.schemas
            .check(object, ctx.t, ctx.kind, ctx.root.as_str(), out);
        // A defect found by both a rule and the schema is reported once, with the rule's wording.
        if out.len() > before {
            let schema_found = out.split_off(before);
            let bad_type_name = out[start..].iter().any(|o| o.rule == "type-name");
            let id_path = ctx.path("id");
            for v in schema_found {
                // Inside observed-data's `objects`, references name dictionary keys,
                // which the identifier format of the schemas does not describe.
                if ctx.embedded_in.is_some()
                    && v.rule == "id-format"
                    && v.path
                        .strip_prefix(ctx.root.as_str())
                        .is_some_and(names_a_key)
                {
                    continue;
                }
                let ours = &out[start..];
                let duplicate = ours.iter().any(|o| o.rule == v.rule && o.path == v.path)
                    || (v.rule == "schema" && ours.iter().any(|o| o.path == v.path))
                    // An id that repeats an invalid type name is not a second defect.
                    || (bad_type_name && v.path == id_path.as_str());
                if !duplicate {
                    out.push(v);
                }
            }
        }
    }

    /// Spec 2.1 section 4.14: the deprecated `objects` dictionary of observed-data
    /// holds cyber-observable objects, each validated like any other, whose
    /// references name keys of the dictionary. Nothing inside is descended further.
    fn check_embedded(&self, objects: &Map<String, Value>, base: &Path, out: &mut Vec<Violation>) {
        for (key, value) in objects {
            let root = base.key(key);
            let Some(map) = value.as_object() else {
                out.push(Violation::new(
                    "not-an-object",
                    root.into_string(),
                    format!(
                        "a cyber-observable object must be a JSON object, found {}",
                        json_kind(value)
                    ),
                ));
                continue;
            };
            let t = match map.get("type") {
                Some(Value::String(t)) if !t.is_empty() => t.as_str(),
                Some(other) => {
                    out.push(Violation::new(
                        "schema",
                        root.key("type").into_string(),
                        format!("must be a non-empty string, found {}", json_kind(other)),
                    ));
                    continue;
                }
                None => {
                    out.push(Violation::new(
                        "schema",
                        root.key("type").into_string(),
                        "required property is missing",
                    ));
                    continue;
                }
            };
            let kind = match Kind::of_defined(t) {
                Some(Kind::Sco) => Kind::Sco,
                Some(_) => {
                    out.push(Violation::new(
                        "schema",
                        root.key("type").into_string(),
                        format!("observed-data objects must be cyber-observable objects, not {t}"),
                    ));
                    continue;
                }
                None => Kind::CustomObservable,
            };
            let ctx = Ctx {
                obj: map,
                t,
                kind,
                root,
                embedded_in: Some(objects),
            };
            self.check_object(value, ctx, out);
        }
    }
}

/// True when `rest` (a path below an embedded object) is a reference property other
/// than the marking and creator references, which always hold identifiers.
fn names_a_key(rest: &str) -> bool {
    let mut property = rest.trim_end_matches(|c: char| c == ']' || c.is_ascii_digit());
    property = property.strip_suffix('[').unwrap_or(property);
    let last = property.rsplit('.').next().unwrap_or(property);
    (last.ends_with("_ref") || last.ends_with("_refs"))
        && !matches!(
            last,
            "created_by_ref" | "object_marking_refs" | "marking_ref"
        )
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

    fn observed(objects: serde_json::Value) -> serde_json::Value {
        json!({
            "type": "observed-data", "spec_version": "2.1",
            "id": "observed-data--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:00Z",
            "number_observed": 1, "objects": objects
        })
    }

    fn report(v: &Validator, o: &serde_json::Value) -> Vec<String> {
        match v.validate(o) {
            Ok(()) => vec![],
            Err(e) => e.0.iter().map(|x| format!("{} {x}", x.rule)).collect(),
        }
    }

    #[test]
    fn embedded_observables_are_validated() {
        let v = Validator::new();
        let ok = observed(json!({
            "0": {"type": "ipv4-addr", "id": "ipv4-addr--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b",
                  "value": "198.51.100.7", "resolves_to_refs": ["1"]},
            "1": {"type": "mac-addr", "id": "mac-addr--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1c",
                  "value": "00:1b:63:84:45:e6"}
        }));
        assert_eq!(report(&v, &ok), Vec::<String>::new());
        let bad_value = observed(json!({
            "0": {"type": "ipv4-addr", "id": "ipv4-addr--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b",
                  "value": "999.1.1.1"}
        }));
        assert_eq!(
            report(&v, &bad_value),
            vec![
                "observable-value observed-data.objects.0.value: '999.1.1.1' is not an IPv4 address or CIDR block (four octets 0-255, prefix 0-32)"
            ]
        );
        let bad_schema = observed(json!({
            "s": {"type": "software", "id": "software--94d01687-f552-4896-b363-e25dbbeb08a4",
                  "name": "Berth planner", "version": 3}
        }));
        assert_eq!(
            report(&v, &bad_schema),
            vec!["schema observed-data.objects.s.version: must be a string"]
        );
        let no_id = observed(json!({"0": {"type": "mutex", "name": "Global\\berth"}}));
        assert_eq!(
            report(&v, &no_id),
            vec!["schema observed-data.objects.0.id: required property is missing"]
        );
    }

    #[test]
    fn embedded_references_name_keys() {
        let v = Validator::new();
        let dangling = observed(json!({
            "0": {"type": "ipv4-addr", "id": "ipv4-addr--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b",
                  "value": "198.51.100.7", "resolves_to_refs": ["7"]}
        }));
        assert_eq!(
            report(&v, &dangling),
            vec![
                "embedded-ref observed-data.objects.0.resolves_to_refs[0]: '7' is not a key of the observed-data's objects"
            ]
        );
        let wrong_type = observed(json!({
            "0": {"type": "network-traffic", "id": "network-traffic--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b",
                  "src_ref": "1", "protocols": ["tcp"]},
            "1": {"type": "url", "id": "url--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1c",
                  "value": "https://ais-relay.example/feed"}
        }));
        assert_eq!(
            report(&v, &wrong_type),
            vec![
                "ref-type observed-data.objects.0.src_ref: must reference ipv4-addr or ipv6-addr or mac-addr or domain-name, not url (object '1')"
            ]
        );
        let marked = observed(json!({
            "0": {"type": "mutex", "id": "mutex--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b", "name": "berth",
                  "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}
        }));
        assert_eq!(
            report(&v, &marked),
            Vec::<String>::new(),
            "markings stay identifiers"
        );
    }

    #[test]
    fn embedded_objects_must_be_observables() {
        let v = Validator::new();
        let o = observed(json!({"0": "198.51.100.7", "1": {"value": "x"},
            "2": {"type": "indicator", "id": "indicator--6f8e2a4c-1b3d-4e7f-9a0b-2c4d6e8f0a1b"}}));
        assert_eq!(
            report(&v, &o),
            vec![
                "not-an-object observed-data.objects.0: a cyber-observable object must be a JSON object, found a string",
                "schema observed-data.objects.1.type: required property is missing",
                "schema observed-data.objects.2.type: observed-data objects must be cyber-observable objects, not indicator",
            ]
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
