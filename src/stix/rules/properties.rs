//! Property names, reserved names, custom type names, `spec_version` and
//! `confidence`. Spec 2.1 sections 3.1, 3.2, 11.1 and 11.2.
//! Rules: `property-name`, `reserved-property`, `type-name`, `spec-version`,
//! `confidence-range`.

use super::Ctx;
use crate::stix::types::Kind;
use crate::stix::violation::Violation;

/// Names the specification reserves (removed from earlier drafts) and forbids on objects.
const RESERVED: &[&str] = &[
    "severity",
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

/// Property names: ASCII a-z, 0-9 and `_`, 3 to 250 characters (`id` is the one shorter predefined name).
pub fn is_property_name(name: &str) -> bool {
    name == "id"
        || ((3..=250).contains(&name.len())
            && name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'))
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    for key in ctx.obj.keys() {
        if !is_property_name(key) {
            out.push(Violation::new(
                "property-name",
                ctx.path(key).into_string(),
                "property names must be 3 to 250 characters of a-z, 0-9 and _",
            ));
        } else if RESERVED.contains(&key.as_str())
            || (key == "action" && ctx.t == "course-of-action")
        {
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
                "custom type names must be 3 to 250 characters of a-z, 0-9 and single hyphens",
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
                "indicator.x_Vessel: property names must be 3 to 250 characters of a-z, 0-9 and _"
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
    fn reserved_names() {
        let mut o = indicator();
        o["severity"] = "high".into();
        assert_eq!(rules(&o), vec!["reserved-property"]);
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
    }
}
