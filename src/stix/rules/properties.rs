//! Property names, reserved names, custom type names, `spec_version` and
//! `confidence`. Spec 2.1 sections 3.1, 3.2, 11.1 and 11.2: property and custom
//! type names begin with a letter; `severity`, `action`, `username` and
//! `phone_numbers` are reserved.
//! Rules: `property-name`, `reserved-property`, `type-name`, `spec-version`,
//! `confidence-range`.

use super::Ctx;
use crate::stix::types::Kind;
use crate::stix::violation::Violation;

/// Names the specification reserves (removed from earlier drafts) and forbids on objects.
const RESERVED: &[&str] = &[
    "severity",
    "action",
    "username",
    "usernames",
    "phone_numbers",
    "addresses",
    "first_seen_precision",
    "last_seen_precision",
    "first_observed_precision",
    "last_observed_precision",
    "objective_precision",
    "published_precision",
    "valid_from_precision",
    "valid_until_precision",
];

pub use crate::stix::types::{is_long_property_name, is_property_name};

/// The message for a property name that breaks the naming rule.
pub const PROPERTY_NAME_RULE: &str =
    "property names must be 3 to 250 characters of a-z, 0-9 and _, beginning with a letter";

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    for key in ctx.obj.keys() {
        if !is_property_name(key) {
            out.push(Violation::new(
                "property-name",
                ctx.path(key).into_string(),
                PROPERTY_NAME_RULE,
            ));
        } else if RESERVED.contains(&key.as_str()) {
            out.push(Violation::new(
                "reserved-property",
                ctx.path(key).into_string(),
                "is a reserved property name and must not be used",
            ));
        }
    }
    if ctx.kind.is_custom() {
        let t = ctx.t;
        if !crate::stix::types::is_type_name(t) || !(3..=250).contains(&t.len()) {
            out.push(Violation::new(
                "type-name",
                ctx.path("type").into_string(),
                "custom type names must be 3 to 250 characters of a-z, 0-9 and single hyphens, beginning with a letter",
            ));
        } else if t == "action" {
            out.push(Violation::new(
                "type-name",
                ctx.path("type").into_string(),
                "'action' is a reserved type name",
            ));
        }
    }
    match ctx.obj.get("spec_version") {
        None if ctx.kind.requires_spec_version() => out.push(Violation::new(
            "spec-version",
            ctx.path("spec_version").into_string(),
            "required property is missing",
        )),
        Some(v) if v.as_str() != Some("2.1") && ctx.kind != Kind::Bundle => {
            out.push(Violation::new(
                "spec-version",
                ctx.path("spec_version").into_string(),
                format!("must be \"2.1\", found {v}"),
            ))
        }
        _ => {}
    }
    if let Some(c) = ctx.obj.get("confidence") {
        let in_range = c.as_i64().is_some_and(|c| (0..=100).contains(&c));
        if !in_range && c.is_number() && (c.as_i64().is_some() || c.as_u64().is_some()) {
            out.push(Violation::new(
                "confidence-range",
                ctx.path("confidence").into_string(),
                format!("must be an integer from 0 to 100, found {c}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    #[test]
    fn property_names() {
        let mut o = indicator();
        o["x_Vessel"] = "MV Example".into();
        assert_eq!(rules(&o), vec!["property-name"]);
        assert_eq!(
            messages(&o),
            vec![
                "indicator.x_Vessel: property names must be 3 to 250 characters of a-z, 0-9 and _, beginning with a letter"
            ]
        );
        let mut o = indicator();
        o["ab"] = 1.into();
        assert_eq!(rules(&o), vec!["property-name"]);
        let mut o = indicator();
        o["x_port_locode"] = "NLRTM".into();
        o["vessel_imo"] = "9811000".into();
        assert!(rules(&o).is_empty(), "custom properties are allowed");
    }

    #[test]
    fn names_begin_with_a_letter() {
        for name in ["1acme", "_acme", "9_port_call"] {
            let mut o = indicator();
            o[name] = "x".into();
            assert_eq!(rules(&o), vec!["property-name"], "{name}");
        }
        let mut f = file();
        f["_x_vessel"] = "x".into();
        assert_eq!(rules(&f), vec!["property-name"]);
        assert!(is_property_name("x_1acme"));
        assert!(is_property_name("id"));
        assert!(!is_long_property_name("id"));
    }

    #[test]
    fn reserved_names() {
        for name in ["severity", "action", "username", "phone_numbers"] {
            let mut o = indicator();
            o[name] = "x".into();
            assert_eq!(rules(&o), vec!["reserved-property"], "{name}");
            let mut r = json!({
                "type": "relationship", "spec_version": "2.1",
                "id": "relationship--3c1a9e7b-5d2f-4a86-b0c4-e1f2a3b4c5d6",
                "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                "relationship_type": "indicates",
                "source_ref": "indicator--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
                "target_ref": "malware--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13"
            });
            r[name] = "x".into();
            assert_eq!(rules(&r), vec!["reserved-property"], "{name}");
        }
        let mut o = indicator();
        o["usernames_seen"] = json!(["a"]);
        assert!(rules(&o).is_empty(), "only the exact names are reserved");
    }

    #[test]
    fn spec_version() {
        let mut o = indicator();
        o.as_object_mut().unwrap().remove("spec_version");
        assert_eq!(rules(&o), vec!["spec-version"]);
        o["spec_version"] = "2.0".into();
        assert_eq!(rules(&o), vec!["spec-version"]);
        let mut f = file();
        f.as_object_mut().unwrap().remove("spec_version");
        assert!(rules(&f).is_empty(), "optional on SCOs");
    }

    #[test]
    fn confidence() {
        let mut o = indicator();
        o["confidence"] = 101.into();
        assert_eq!(rules(&o), vec!["confidence-range"]);
        o["confidence"] = (-1).into();
        assert_eq!(rules(&o), vec!["confidence-range"]);
        o["confidence"] = 100.into();
        assert!(rules(&o).is_empty());
    }

    #[test]
    fn custom_type_names() {
        let o = json!({"type": "x-Vessel", "id": "x-Vessel--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01", "x_name": "a"});
        assert!(rules(&o).contains(&"type-name"));
        let o = json!({"type": "x-vessel", "id": "x-vessel--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01", "imo_number": "9811000"});
        assert!(rules(&o).is_empty());
        let o = json!({"type": "1-acme", "id": "1-acme--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01", "imo_number": "9811000"});
        assert_eq!(rules(&o), vec!["type-name"]);
        let o = json!({
            "type": "1-acme", "spec_version": "2.1", "id": "1-acme--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z"
        });
        assert_eq!(rules(&o), vec!["type-name"]);
    }
}
