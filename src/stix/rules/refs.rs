//! Reference properties (`*_ref`, `*_refs`): each value is an identifier, of a type
//! the property allows. Spec 2.1 sections 3.2, 4-7 (property tables). Inside
//! observed-data's deprecated `objects` dictionary, references name keys of that
//! dictionary instead (section 4.14).
//! Rules: `id-format`, `ref-type`, `embedded-ref`.

use serde_json::{Map, Value};

use super::Ctx;
use crate::stix::types::{META_TYPES, SCO_TYPES, SDO_TYPES, SRO_TYPES, parse_id};
use crate::stix::violation::{Path, Violation};

/// Which target types a reference property accepts.
#[derive(Clone, Copy)]
enum Allowed {
    Only(&'static [&'static str]),
    /// Any SDO or SCO (defined or custom), never an SRO, meta object or bundle.
    SdoOrSco,
    /// An SDO (defined or custom with created/modified; custom types are accepted).
    Sdo,
    /// An SCO or an SRO (observed-data object_refs).
    ScoOrSro,
    /// An SDO or an SRO, defined or custom (language-content object_ref).
    SdoOrSro,
    /// Any SCO (defined or custom).
    Sco,
    /// Anything with a well-formed identifier.
    Any,
}

const SOFTWARE: &[&str] = &["software"];
const FILE: &[&str] = &["file"];
const ARTIFACT: &[&str] = &["artifact"];
const EMAIL_ADDR: &[&str] = &["email-addr"];
const USER_ACCOUNT: &[&str] = &["user-account"];
const NETWORK_TRAFFIC: &[&str] = &["network-traffic"];
const PROCESS: &[&str] = &["process"];

fn allowed(t: &str, prop: &str) -> Allowed {
    use Allowed::*;
    match (t, prop) {
        (_, "created_by_ref") => Only(&["identity"]),
        (_, "object_marking_refs") | (_, "marking_ref") => Only(&["marking-definition"]),
        ("relationship", "source_ref" | "target_ref") => SdoOrSco,
        ("sighting", "sighting_of_ref") => Sdo,
        ("sighting", "observed_data_refs") => Only(&["observed-data"]),
        ("sighting", "where_sighted_refs") => Only(&["identity", "location"]),
        ("observed-data", "object_refs") => ScoOrSro,
        ("language-content", "object_ref") => SdoOrSro,
        ("malware", "sample_refs") => Only(&["file", "artifact"]),
        ("malware", "operating_system_refs") => Only(SOFTWARE),
        (
            "malware-analysis",
            "host_vm_ref" | "operating_system_ref" | "installed_software_refs",
        ) => Only(SOFTWARE),
        ("malware-analysis", "analysis_sco_refs") => Sco,
        ("malware-analysis", "sample_ref") => Only(&["file", "artifact", "network-traffic"]),
        ("directory", "contains_refs") | ("archive-ext", "contains_refs") => {
            Only(&["file", "directory"])
        }
        ("domain-name", "resolves_to_refs") => Only(&["ipv4-addr", "ipv6-addr", "domain-name"]),
        ("email-addr", "belongs_to_ref") => Only(USER_ACCOUNT),
        ("email-message", "from_ref" | "sender_ref" | "to_refs" | "cc_refs" | "bcc_refs") => {
            Only(EMAIL_ADDR)
        }
        ("email-message", "raw_email_ref") => Only(ARTIFACT),
        ("mime-part", "body_raw_ref") => Only(&["artifact", "file"]),
        ("file", "parent_directory_ref") => Only(&["directory"]),
        ("file", "content_ref") => Only(ARTIFACT),
        ("file", "contains_refs") => Sco,
        ("ipv4-addr" | "ipv6-addr", "resolves_to_refs") => Only(&["mac-addr"]),
        ("ipv4-addr" | "ipv6-addr", "belongs_to_refs") => Only(&["autonomous-system"]),
        ("network-traffic", "src_ref" | "dst_ref") => {
            Only(&["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"])
        }
        ("network-traffic", "src_payload_ref" | "dst_payload_ref") => Only(ARTIFACT),
        ("network-traffic", "encapsulates_refs" | "encapsulated_by_ref") => Only(NETWORK_TRAFFIC),
        ("http-request-ext", "message_body_data_ref") => Only(ARTIFACT),
        ("process", "opened_connection_refs") => Only(NETWORK_TRAFFIC),
        ("process" | "windows-registry-key", "creator_user_ref") => Only(USER_ACCOUNT),
        ("process", "image_ref") => Only(FILE),
        ("process", "parent_ref" | "child_refs") => Only(PROCESS),
        ("windows-service-ext", "service_dll_refs") => Only(FILE),
        _ => Any,
    }
}

fn describe(a: Allowed) -> String {
    match a {
        Allowed::Only(types) => types.join(" or "),
        Allowed::SdoOrSco => "a domain or cyber-observable object".to_owned(),
        Allowed::Sdo => "a domain object (SDO)".to_owned(),
        Allowed::ScoOrSro => "a cyber-observable object or a relationship".to_owned(),
        Allowed::SdoOrSro => "a domain object or a relationship object".to_owned(),
        Allowed::Sco => "a cyber-observable object".to_owned(),
        Allowed::Any => "any object".to_owned(),
    }
}

fn accepts(a: Allowed, target: &str) -> bool {
    let defined_non_sdo =
        |t: &str| SRO_TYPES.contains(&t) || META_TYPES.contains(&t) || t == "bundle";
    match a {
        Allowed::Only(types) => types.contains(&target),
        Allowed::SdoOrSco => !defined_non_sdo(target),
        Allowed::Sdo => !defined_non_sdo(target) && !SCO_TYPES.contains(&target),
        Allowed::ScoOrSro => {
            !SDO_TYPES.contains(&target)
                && !META_TYPES.contains(&target)
                && target != "sighting"
                && target != "bundle"
        }
        Allowed::SdoOrSro => {
            !SCO_TYPES.contains(&target) && !META_TYPES.contains(&target) && target != "bundle"
        }
        Allowed::Sco => !SDO_TYPES.contains(&target) && !defined_non_sdo(target),
        Allowed::Any => true,
    }
}

/// References that always hold identifiers, even inside observed-data's embedded
/// objects: markings and the creator live outside the `objects` dictionary.
fn names_an_identifier(prop: &str) -> bool {
    matches!(
        prop,
        "created_by_ref" | "object_marking_refs" | "marking_ref"
    )
}

fn check_one(
    owner: &str,
    prop: &str,
    value: &Value,
    path: Path,
    embedded_in: Option<&Map<String, Value>>,
    out: &mut Vec<Violation>,
) {
    let Some(id) = value.as_str() else { return };
    if let Some(dict) = embedded_in
        && !names_an_identifier(prop)
    {
        // Spec 2.1 section 4.14 (deprecated `objects`): references between the
        // embedded objects name keys of the dictionary.
        let Some(target) = dict.get(id) else {
            out.push(Violation::new(
                "embedded-ref",
                path.into_string(),
                format!("'{id}' is not a key of the observed-data's objects"),
            ));
            return;
        };
        let a = allowed(owner, prop);
        if let Some(t) = target.get("type").and_then(Value::as_str)
            && !accepts(a, t)
        {
            out.push(Violation::new(
                "ref-type",
                path.into_string(),
                format!("must reference {}, not {t} (object '{id}')", describe(a)),
            ));
        }
        return;
    }
    match parse_id(id) {
        Err(why) => out.push(Violation::new(
            "id-format",
            path.into_string(),
            format!("reference {why}"),
        )),
        Ok(p) => {
            let a = allowed(owner, prop);
            if !accepts(a, p.object_type) {
                out.push(Violation::new(
                    "ref-type",
                    path.into_string(),
                    format!("must reference {}, not {}", describe(a), p.object_type),
                ));
            }
        }
    }
}

/// Checks every `*_ref`/`*_refs` property of `map`, an object of type `owner`.
fn check_map(
    owner: &str,
    map: &Map<String, Value>,
    base: &Path,
    embedded_in: Option<&Map<String, Value>>,
    out: &mut Vec<Violation>,
) {
    for (key, value) in map {
        if key.ends_with("_ref") {
            check_one(owner, key, value, base.key(key), embedded_in, out);
        } else if key.ends_with("_refs")
            && let Some(items) = value.as_array()
        {
            let p = base.key(key);
            for (i, item) in items.iter().enumerate() {
                check_one(owner, key, item, p.index(i), embedded_in, out);
            }
        }
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    let embedded_in = ctx.embedded_in;
    check_map(ctx.t, ctx.obj, &ctx.root, embedded_in, out);
    if let Some(gms) = ctx.obj.get("granular_markings").and_then(Value::as_array) {
        let p = ctx.path("granular_markings");
        for (i, gm) in gms.iter().enumerate() {
            if let Some(m) = gm.as_object() {
                check_map("granular-marking", m, &p.index(i), embedded_in, out);
            }
        }
    }
    if ctx.t == "email-message"
        && let Some(parts) = ctx.obj.get("body_multipart").and_then(Value::as_array)
    {
        let p = ctx.path("body_multipart");
        for (i, part) in parts.iter().enumerate() {
            if let Some(m) = part.as_object() {
                check_map("mime-part", m, &p.index(i), embedded_in, out);
            }
        }
    }
    if let Some(exts) = ctx.obj.get("extensions").and_then(Value::as_object) {
        let p = ctx.path("extensions");
        for (name, ext) in exts {
            if let Some(m) = ext.as_object() {
                check_map(name, m, &p.key(name), embedded_in, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    fn relationship(source: &str, target: &str) -> serde_json::Value {
        json!({
            "type": "relationship", "spec_version": "2.1",
            "id": "relationship--3c1a9e7b-5d2f-4a86-b0c4-e1f2a3b4c5d6",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "relationship_type": "indicates", "source_ref": source, "target_ref": target
        })
    }

    #[test]
    fn created_by_ref_is_identity() {
        let mut o = indicator();
        o["created_by_ref"] = "malware--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13".into();
        assert_eq!(
            messages(&o),
            vec!["indicator.created_by_ref: must reference identity, not malware"]
        );
    }

    #[test]
    fn marking_refs() {
        let mut o = indicator();
        o["object_marking_refs"] = json!(["identity--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13"]);
        assert_eq!(rules(&o), vec!["ref-type"]);
        o["object_marking_refs"] =
            json!(["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]);
        assert!(rules(&o).is_empty());
    }

    #[test]
    fn relationship_endpoints() {
        let ok = relationship(
            "indicator--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "malware--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
        );
        assert!(rules(&ok).is_empty());
        let bad = relationship(
            "indicator--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "relationship--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
        );
        assert_eq!(rules(&bad), vec!["ref-type"]);
        let custom = relationship(
            "x-vessel--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "marking-definition--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
        );
        assert_eq!(
            messages(&custom),
            vec![
                "relationship.target_ref: must reference a domain or cyber-observable object, not marking-definition"
            ]
        );
    }

    #[test]
    fn sco_refs() {
        let o = json!({
            "type": "process", "id": "process--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "pid": 4242, "image_ref": "directory--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13"
        });
        assert_eq!(
            messages(&o),
            vec!["process.image_ref: must reference file, not directory"]
        );
        let o = json!({
            "type": "email-message", "id": "email-message--0b3f6d0e-4a1c-5c55-9b2e-6c3d2f1a8e01",
            "is_multipart": false, "subject": "Berth 7", "to_refs": ["email-addr--5a7c1e2d-9f3b-5d6a-8c1e-2b4d6f8a0c13", "url--5a7c1e2d-9f3b-5d6a-8c1e-2b4d6f8a0c13"]
        });
        assert_eq!(
            messages(&o),
            vec!["email-message.to_refs[1]: must reference email-addr, not url"]
        );
    }

    #[test]
    fn language_content_translates_domain_and_relationship_objects() {
        let mut lc = json!({
            "type": "language-content", "spec_version": "2.1",
            "id": "language-content--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "object_ref": "relationship--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
            "contents": {"nl": {"description": "gebruikt"}}
        });
        assert!(rules(&lc).is_empty(), "{:?}", messages(&lc));
        for target in ["bundle", "file", "language-content", "marking-definition"] {
            lc["object_ref"] = format!("{target}--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13").into();
            assert_eq!(rules(&lc), vec!["ref-type"], "{target}");
        }
        lc["object_ref"] = "bundle--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13".into();
        assert_eq!(
            messages(&lc),
            vec![
                "language-content.object_ref: must reference a domain object or a relationship object, not bundle"
            ]
        );
    }

    #[test]
    fn malformed_reference() {
        let mut o = indicator();
        o["created_by_ref"] = "identity--xyz".into();
        assert_eq!(rules(&o), vec!["id-format"]);
    }
}
