//! The `extensions` property (spec 2.1 sections 3.2, 6.1 and 7.3): keys are the
//! predefined extension names of the object's type, `extension-definition--<UUID>`
//! identifiers, or (deprecated) custom names ending in `-ext`; values are non-empty
//! objects; an extension-definition entry carries `extension_type`, from
//! extension-type-enum; a
//! toplevel-property-extension carries nothing but `extension_type`.
//! Extension-definition objects must name a schema and at least one type.
//! Rule: `extension`.

use serde_json::Value;

use super::Ctx;
use super::vocab::EXTENSION_TYPE;
use crate::stix::types::{Kind, parse_id};
use crate::stix::violation::Violation;

/// Predefined extensions, by the type they extend.
pub const PREDEFINED: &[(&str, &str)] = &[
    ("archive-ext", "file"),
    ("ntfs-ext", "file"),
    ("pdf-ext", "file"),
    ("raster-image-ext", "file"),
    ("windows-pebinary-ext", "file"),
    ("http-request-ext", "network-traffic"),
    ("icmp-ext", "network-traffic"),
    ("socket-ext", "network-traffic"),
    ("tcp-ext", "network-traffic"),
    ("windows-process-ext", "process"),
    ("windows-service-ext", "process"),
    ("unix-account-ext", "user-account"),
];

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    if ctx.kind == Kind::ExtensionDefinition {
        check_definition(ctx, out);
    }
    let Some(exts) = ctx.obj.get("extensions").and_then(Value::as_object) else {
        return;
    };
    let base = ctx.path("extensions");
    for (name, value) in exts {
        let path = base.key(name);
        if name.starts_with("extension-definition--") {
            match parse_id(name) {
                Ok(p) if p.object_type == "extension-definition" => {}
                _ => {
                    out.push(Violation::new(
                        "extension",
                        path.into_string(),
                        "extension-definition keys must be extension-definition identifiers",
                    ));
                    continue;
                }
            }
            let Some(m) = value.as_object() else { continue };
            match m.get("extension_type") {
                None => out.push(Violation::new(
                    "extension",
                    path.key("extension_type").into_string(),
                    "an extension keyed by an extension-definition identifier must say its extension_type",
                )),
                Some(Value::String(t)) if EXTENSION_TYPE.contains(&t.as_str()) => {
                    if t == "toplevel-property-extension" && m.len() > 1 {
                        out.push(Violation::new(
                            "extension",
                            path.into_string(),
                            "a toplevel-property-extension puts its properties at the top level of the object; only extension_type may appear here",
                        ));
                    } else if t == "property-extension" && m.len() == 1 {
                        out.push(Violation::new(
                            "extension",
                            path.into_string(),
                            "a property-extension must carry at least one property",
                        ));
                    }
                }
                Some(other) => out.push(Violation::new(
                    "extension",
                    path.key("extension_type").into_string(),
                    format!("{other} is not one of: {}", EXTENSION_TYPE.join(", ")),
                )),
            }
            continue;
        }
        match PREDEFINED.iter().find(|(n, _)| n == name) {
            Some((_, owner)) if *owner == ctx.t => {
                if value.as_object().is_some_and(|m| m.is_empty()) {
                    out.push(Violation::new("extension", path.into_string(), "must not be empty"));
                }
            }
            Some((_, owner)) => out.push(Violation::new(
                "extension",
                path.into_string(),
                format!("{name} is a predefined extension of {owner}, not of {}", ctx.t),
            )),
            None if name.ends_with("-ext") && crate::stix::types::is_type_name(name) => {
                // Deprecated STIX 2.1 custom extension: allowed, but it must say something.
                if value.as_object().is_some_and(|m| m.is_empty()) {
                    out.push(Violation::new("extension", path.into_string(), "must not be empty"));
                }
            }
            None => out.push(Violation::new(
                "extension",
                path.into_string(),
                "keys must be a predefined extension name, an extension-definition identifier, or a custom name ending in -ext",
            )),
        }
    }
}

fn check_definition(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    if ctx
        .obj
        .get("schema")
        .and_then(Value::as_str)
        .is_some_and(|s| s.trim().is_empty())
    {
        out.push(Violation::new(
            "extension",
            ctx.path("schema").into_string(),
            "must not be empty",
        ));
    }
    let types: Vec<&str> = ctx
        .obj
        .get("extension_types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ctx.obj.contains_key("extension_properties")
        && !types.contains(&"toplevel-property-extension")
    {
        out.push(Violation::new(
            "extension",
            ctx.path("extension_properties").into_string(),
            "is only allowed when extension_types includes toplevel-property-extension",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    const EXT: &str = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e";

    #[test]
    fn property_extension() {
        let mut o = indicator();
        o["extensions"] =
            json!({EXT: {"extension_type": "property-extension", "vessel_imo": "9811000"}});
        assert!(rules(&o).is_empty(), "{:?}", messages(&o));
        o["extensions"] = json!({EXT: {"extension_type": "property-ext"}});
        assert_eq!(rules(&o), vec!["extension"]);
        o["extensions"] =
            json!({EXT: {"extension_type": "toplevel-property-extension", "vessel_imo": "1"}});
        assert_eq!(rules(&o), vec!["extension"]);
    }

    #[test]
    fn extension_type_is_required() {
        let mut o = indicator();
        o["extensions"] = json!({EXT: {"vessel_imo": "9811000"}});
        assert_eq!(
            messages(&o),
            vec![format!(
                "indicator.extensions.{EXT}.extension_type: an extension keyed by an extension-definition identifier must say its extension_type"
            )]
        );
        let mut f = file();
        f["extensions"] = json!({"ntfs-ext": {"sid": "S-1-5-21"}});
        assert!(
            rules(&f).is_empty(),
            "predefined extensions have no extension_type"
        );
    }

    #[test]
    fn predefined_names_by_type() {
        let mut f = file();
        f["extensions"] = json!({"pdf-ext": {"version": "1.7"}});
        assert!(rules(&f).is_empty());
        f["extensions"] = json!({"socket-ext": {"address_family": "AF_INET"}});
        assert_eq!(
            messages(&f),
            vec![
                "file.extensions.socket-ext: socket-ext is a predefined extension of network-traffic, not of file"
            ]
        );
        f["extensions"] = json!({"Acme Ext": {"a": 1}});
        assert_eq!(rules(&f), vec!["extension"]);
    }

    #[test]
    fn extension_definition_object() {
        let mut d = json!({
            "type": "extension-definition", "spec_version": "2.1",
            "id": EXT,
            "created_by_ref": "identity--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "name": "Vessel context", "schema": "https://example.org/vessel-context.json",
            "version": "1.0.0", "extension_types": ["property-extension"]
        });
        assert!(rules(&d).is_empty(), "{:?}", messages(&d));
        d["extension_types"] = json!(["new-thing"]);
        assert_eq!(rules(&d), vec!["closed-vocabulary"]);
    }
}
