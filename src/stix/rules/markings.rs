//! Data markings: granular-marking selectors must resolve in the object; a
//! marking-definition must not mark itself; TLP 1.0 definitions must be the
//! predefined objects, and an object that uses one of their ids must be exactly
//! that object. Spec 2.1 sections 7.2.1.4, 7.2.2, 7.2.3 and 7.2.5.
//! Rules: `marking-selector`, `marking-circular-ref`, `tlp-marking`.

use serde_json::Value;

use super::Ctx;
use crate::stix::types::Kind;
use crate::stix::violation::Violation;

/// The four TLP 1.0 marking-definition ids the specification predefines.
pub const TLP1: &[(&str, &str)] = &[
    (
        "white",
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    ),
    (
        "green",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    ),
    (
        "amber",
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    ),
    (
        "red",
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    ),
];

/// Follows a selector such as `external_references.[0].source_name`.
fn resolves(object: &serde_json::Map<String, Value>, selector: &str) -> bool {
    let mut segments = selector.split('.');
    let Some(mut cur) = segments.next().and_then(|first| object.get(first)) else {
        return false;
    };
    for seg in segments {
        let next = if let Some(inner) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            inner
                .parse::<usize>()
                .ok()
                .and_then(|i| cur.as_array().and_then(|a| a.get(i)))
        } else {
            cur.as_object().and_then(|m| m.get(seg))
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    true
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    if let Some(gms) = ctx.obj.get("granular_markings").and_then(Value::as_array) {
        for (i, gm) in gms.iter().enumerate() {
            let Some(selectors) = gm.get("selectors").and_then(Value::as_array) else {
                continue;
            };
            for (j, sel) in selectors.iter().enumerate() {
                let Some(sel) = sel.as_str() else { continue };
                if !resolves(ctx.obj, sel) {
                    out.push(Violation::new(
                        "marking-selector",
                        ctx.path("granular_markings")
                            .index(i)
                            .key("selectors")
                            .index(j)
                            .into_string(),
                        format!("selector '{sel}' does not resolve to a property of this object"),
                    ));
                }
            }
        }
    }
    if ctx.kind != Kind::MarkingDefinition {
        return;
    }
    let id = ctx.str("id");
    if let (Some(id), Some(refs)) = (
        id,
        ctx.obj.get("object_marking_refs").and_then(Value::as_array),
    ) && let Some(i) = refs.iter().position(|r| r.as_str() == Some(id))
    {
        out.push(Violation::new(
            "marking-circular-ref",
            ctx.path("object_marking_refs").index(i).into_string(),
            "a marking definition must not mark itself",
        ));
    }
    if let (Some(id), Some(gms)) = (
        id,
        ctx.obj.get("granular_markings").and_then(Value::as_array),
    ) {
        for (i, gm) in gms.iter().enumerate() {
            if gm.get("marking_ref").and_then(Value::as_str) == Some(id) {
                out.push(Violation::new(
                    "marking-circular-ref",
                    ctx.path("granular_markings")
                        .index(i)
                        .key("marking_ref")
                        .into_string(),
                    "a marking definition must not mark itself",
                ));
            }
        }
    }
    if let Some((level, _)) = id.and_then(|id| TLP1.iter().find(|(_, tlp)| *tlp == id)) {
        check_predefined_tlp(ctx, level, out);
    } else if ctx.str("definition_type") == Some("tlp") {
        let level = ctx
            .obj
            .get("definition")
            .and_then(|d| d.get("tlp"))
            .and_then(Value::as_str);
        if let (Some(level), Some(id)) = (level, id) {
            match TLP1.iter().find(|(l, _)| *l == level) {
                Some((_, expected)) if *expected != id => out.push(Violation::new(
                    "tlp-marking",
                    ctx.path("id").into_string(),
                    format!(
                        "a TLP:{} marking must be the predefined {expected}",
                        level.to_uppercase()
                    ),
                )),
                _ => {}
            }
        }
    }
}

/// A marking-definition that carries a TLP 1.0 id must be exactly the object section
/// 7.2.1.4 defines for it: these seven properties with these values, nothing else.
fn check_predefined_tlp(ctx: &Ctx<'_>, level: &str, out: &mut Vec<Violation>) {
    let label = level.to_ascii_uppercase();
    let expect_str = |key: &str, expected: &str, out: &mut Vec<Violation>| {
        if ctx.str(key) != Some(expected) {
            out.push(Violation::new(
                "tlp-marking",
                ctx.path(key).into_string(),
                format!("must be \"{expected}\" in the predefined TLP:{label} marking"),
            ));
        }
    };
    expect_str("spec_version", "2.1", out);
    expect_str("created", "2017-01-20T00:00:00.000Z", out);
    expect_str("definition_type", "tlp", out);
    expect_str("name", &format!("TLP:{label}"), out);
    let definition_ok = ctx
        .obj
        .get("definition")
        .and_then(Value::as_object)
        .is_some_and(|d| d.len() == 1 && d.get("tlp").and_then(Value::as_str) == Some(level));
    if !definition_ok {
        out.push(Violation::new(
            "tlp-marking",
            ctx.path("definition").into_string(),
            format!("must be {{\"tlp\": \"{level}\"}} in the predefined TLP:{label} marking"),
        ));
    }
    for key in ctx.obj.keys() {
        if !matches!(
            key.as_str(),
            "type" | "spec_version" | "id" | "created" | "definition_type" | "name" | "definition"
        ) {
            out.push(Violation::new(
                "tlp-marking",
                ctx.path(key).into_string(),
                format!(
                    "is not part of the predefined TLP:{label} marking, which must not be changed"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    #[test]
    fn selectors_resolve() {
        let mut o = indicator();
        o["external_references"] = json!([{"source_name": "port-crc", "external_id": "PCRC-1"}]);
        o["granular_markings"] = json!([{
            "marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "selectors": ["name", "external_references.[0].source_name"]
        }]);
        assert!(rules(&o).is_empty(), "{:?}", messages(&o));
        o["granular_markings"][0]["selectors"] =
            json!(["name", "description", "external_references.[1]"]);
        assert_eq!(
            messages(&o),
            vec![
                "indicator.granular_markings[0].selectors[1]: selector 'description' does not resolve to a property of this object",
                "indicator.granular_markings[0].selectors[2]: selector 'external_references.[1]' does not resolve to a property of this object",
            ]
        );
    }

    #[test]
    fn tlp_ids_are_fixed() {
        let mut m = json!({
            "type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp", "name": "TLP:GREEN", "definition": {"tlp": "green"}
        });
        assert!(rules(&m).is_empty(), "{:?}", messages(&m));
        m["id"] = "marking-definition--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01".into();
        assert_eq!(rules(&m), vec!["tlp-marking"]);
    }

    #[test]
    fn tlp_definitions_are_exact() {
        let exact = json!({
            "type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp", "name": "TLP:WHITE", "definition": {"tlp": "white"}
        });
        assert!(rules(&exact).is_empty(), "{:?}", messages(&exact));
        let mut m = exact.clone();
        m["modified"] = "2017-01-20T00:00:00.000Z".into();
        assert_eq!(
            messages(&m),
            vec![
                "marking-definition.modified: is not part of the predefined TLP:WHITE marking, which must not be changed"
            ]
        );
        let mut m = exact.clone();
        m["definition"] = json!({"tlp": "white", "note": "internal"});
        assert_eq!(rules(&m), vec!["tlp-marking"]);
        let mut m = exact.clone();
        m["name"] = "TLP:CLEAR".into();
        assert_eq!(
            messages(&m),
            vec![
                "marking-definition.name: must be \"TLP:WHITE\" in the predefined TLP:WHITE marking"
            ]
        );
        let mut m = exact.clone();
        m["created"] = "2020-01-01T00:00:00.000Z".into();
        assert_eq!(rules(&m), vec!["tlp-marking"]);
        let mut m = exact.clone();
        m.as_object_mut().unwrap().remove("name");
        assert_eq!(rules(&m), vec!["tlp-marking"]);
    }

    #[test]
    fn no_self_marking() {
        let m = json!({
            "type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z",
            "definition_type": "statement", "definition": {"statement": "Copyright Port CRC"},
            "object_marking_refs": ["marking-definition--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01"]
        });
        assert_eq!(rules(&m), vec!["marking-circular-ref"]);
    }
}
