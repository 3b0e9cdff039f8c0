//! Identifiers: `type--UUID`, prefix equal to `type`, UUID version by kind.
//! Spec 2.1 section 2.9 (identifier). Rules: `id-format`, `id-type-mismatch`.

use super::Ctx;
use crate::stix::types::{Kind, parse_id};
use crate::stix::violation::Violation;

/// SCO types whose ID-contributing properties are all optional (spec 2.1 section 6).
fn has_contributing_property(ctx: &Ctx<'_>) -> bool {
    let props: &[&str] = match ctx.t {
        "artifact" => &["hashes", "payload_bin"],
        "email-message" => &["from_ref", "subject", "body"],
        "user-account" => &["account_type", "user_id", "account_login"],
        "windows-registry-key" => &["key", "values"],
        "x509-certificate" => &["hashes", "serial_number"],
        _ => return true,
    };
    props.iter().any(|p| ctx.obj.contains_key(*p))
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    let Some(id) = ctx.str("id") else { return };
    let path = ctx.path("id");
    // An invalid type name is reported once, by `type-name`; an id that repeats it is
    // not a second defect.
    if !crate::stix::types::is_type_name(ctx.t)
        && id
            .strip_prefix(ctx.t)
            .is_some_and(|rest| rest.starts_with("--"))
    {
        return;
    }
    match parse_id(id) {
        Err(why) => out.push(Violation::new("id-format", path.into_string(), why)),
        Ok(parsed) => {
            if parsed.object_type != ctx.t {
                out.push(Violation::new(
                    "id-type-mismatch",
                    path.into_string(),
                    format!(
                        "prefix '{}' must equal the object's type '{}'",
                        parsed.object_type, ctx.t
                    ),
                ));
                return;
            }
            let allowed: &[u8] = match ctx.kind {
                // Process has no ID-contributing properties, and these types have only
                // optional ones: without any of them the UUID must be random (v4).
                Kind::Sco if ctx.t == "process" => &[4],
                Kind::Sco if !has_contributing_property(ctx) => &[4],
                Kind::Sco | Kind::CustomObservable => &[4, 5],
                _ => &[4],
            };
            if !allowed.contains(&parsed.uuid_version) {
                let expected = if allowed.len() == 2 {
                    "UUIDv4 or UUIDv5"
                } else {
                    "UUIDv4"
                };
                out.push(Violation::new(
                    "id-format",
                    path.into_string(),
                    format!(
                        "must use a {expected}, found a UUIDv{}",
                        parsed.uuid_version
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;

    #[test]
    fn valid_ids_pass() {
        assert!(rules(&indicator()).is_empty());
        assert!(rules(&file()).is_empty());
    }

    #[test]
    fn malformed_id() {
        let mut o = indicator();
        o["id"] = "indicator--not-a-uuid".into();
        assert_eq!(rules(&o), vec!["id-format"]);
        assert_eq!(
            messages(&o),
            vec!["indicator.id: has a malformed UUID (expected 8-4-4-4-12 hexadecimal digits)"]
        );
    }

    #[test]
    fn prefix_must_match_type() {
        let mut o = indicator();
        o["id"] = "malware--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01".into();
        assert_eq!(rules(&o), vec!["id-type-mismatch"]);
    }

    #[test]
    fn uuid_versions_by_kind() {
        let mut o = indicator();
        o["id"] = "indicator--0b3f6d0e-4a1c-1c55-9b2e-6c3d2f1a8e01".into();
        assert_eq!(rules(&o), vec!["id-format"]);
        o["id"] = "indicator--0b3f6d0e-4a1c-5c55-9b2e-6c3d2f1a8e01".into();
        assert_eq!(
            messages(&o),
            vec!["indicator.id: must use a UUIDv4, found a UUIDv5"]
        );
        let mut f = file();
        f["id"] = "file--6f8e2a4c-1b3d-4e7f-9a0b-2c4d6e8f0a1b".into();
        assert!(rules(&f).is_empty());
        f["id"] = "file--6f8e2a4c-1b3d-3e7f-9a0b-2c4d6e8f0a1b".into();
        assert_eq!(rules(&f), vec!["id-format"]);
        let mut a = serde_json::json!({
            "type": "artifact", "id": "artifact--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b",
            "url": "https://files.example/a.bin", "hashes": {"MD5": "5d41402abc4b2a76b9719d911017c592"}
        });
        assert!(rules(&a).is_empty());
        a.as_object_mut().unwrap().remove("hashes");
        a.as_object_mut().unwrap().remove("url");
        a["mime_type"] = "application/zip".into();
        assert_eq!(
            messages(&a),
            vec!["artifact.id: must use a UUIDv4, found a UUIDv5"]
        );
    }
}
