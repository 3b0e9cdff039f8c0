//! Closed enumerations (spec 2.1 section 10: the `-enum` vocabularies). Open
//! vocabularies (`-ov`, e.g. identity_class, indicator_types, hash algorithms) accept
//! any string and are not checked. Rule: `closed-vocabulary`.

use serde_json::Value;

use super::Ctx;
use crate::stix::violation::{Path, Violation};

pub const OPINION: &[&str] = &[
    "strongly-disagree",
    "disagree",
    "neutral",
    "agree",
    "strongly-agree",
];
pub const ENCRYPTION_ALGORITHM: &[&str] =
    &["AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"];
pub const EXTENSION_TYPE: &[&str] = &[
    "new-sdo",
    "new-sco",
    "new-sro",
    "property-extension",
    "toplevel-property-extension",
];
pub const WINDOWS_INTEGRITY_LEVEL: &[&str] = &["low", "medium", "high", "system"];
pub const WINDOWS_SERVICE_START_TYPE: &[&str] = &[
    "SERVICE_AUTO_START",
    "SERVICE_BOOT_START",
    "SERVICE_DEMAND_START",
    "SERVICE_DISABLED",
    "SERVICE_SYSTEM_ALERT",
];
pub const WINDOWS_SERVICE_TYPE: &[&str] = &[
    "SERVICE_KERNEL_DRIVER",
    "SERVICE_FILE_SYSTEM_DRIVER",
    "SERVICE_WIN32_OWN_PROCESS",
    "SERVICE_WIN32_SHARE_PROCESS",
];
pub const WINDOWS_SERVICE_STATUS: &[&str] = &[
    "SERVICE_CONTINUE_PENDING",
    "SERVICE_PAUSE_PENDING",
    "SERVICE_PAUSED",
    "SERVICE_RUNNING",
    "SERVICE_START_PENDING",
    "SERVICE_STOP_PENDING",
    "SERVICE_STOPPED",
];
pub const WINDOWS_REGISTRY_DATATYPE: &[&str] = &[
    "REG_NONE",
    "REG_SZ",
    "REG_EXPAND_SZ",
    "REG_BINARY",
    "REG_DWORD",
    "REG_DWORD_BIG_ENDIAN",
    "REG_DWORD_LITTLE_ENDIAN",
    "REG_LINK",
    "REG_MULTI_SZ",
    "REG_RESOURCE_LIST",
    "REG_FULL_RESOURCE_DESCRIPTION",
    "REG_RESOURCE_REQUIREMENTS_LIST",
    "REG_QWORD",
    "REG_INVALID_TYPE",
];
pub const NETWORK_SOCKET_ADDRESS_FAMILY: &[&str] = &[
    "AF_UNSPEC",
    "AF_INET",
    "AF_IPX",
    "AF_APPLETALK",
    "AF_NETBIOS",
    "AF_INET6",
    "AF_IRDA",
    "AF_BTH",
];
pub const NETWORK_SOCKET_TYPE: &[&str] = &[
    "SOCK_STREAM",
    "SOCK_DGRAM",
    "SOCK_RAW",
    "SOCK_RDM",
    "SOCK_SEQPACKET",
];

fn one(value: Option<&Value>, allowed: &[&str], path: Path, out: &mut Vec<Violation>) {
    let Some(s) = value.and_then(Value::as_str) else {
        return;
    };
    if !allowed.contains(&s) {
        out.push(Violation::new(
            "closed-vocabulary",
            path.into_string(),
            format!("'{s}' is not one of: {}", allowed.join(", ")),
        ));
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    match ctx.t {
        "opinion" => one(ctx.obj.get("opinion"), OPINION, ctx.path("opinion"), out),
        "artifact" => one(
            ctx.obj.get("encryption_algorithm"),
            ENCRYPTION_ALGORITHM,
            ctx.path("encryption_algorithm"),
            out,
        ),
        "extension-definition" => {
            if let Some(list) = ctx.obj.get("extension_types").and_then(Value::as_array) {
                for (i, v) in list.iter().enumerate() {
                    one(
                        Some(v),
                        EXTENSION_TYPE,
                        ctx.path("extension_types").index(i),
                        out,
                    );
                }
            }
        }
        "windows-registry-key" => {
            if let Some(values) = ctx.obj.get("values").and_then(Value::as_array) {
                for (i, v) in values.iter().enumerate() {
                    let p = ctx.path("values").index(i).key("data_type");
                    one(v.get("data_type"), WINDOWS_REGISTRY_DATATYPE, p, out);
                }
            }
        }
        _ => {}
    }
    let Some(exts) = ctx.obj.get("extensions").and_then(Value::as_object) else {
        return;
    };
    let ext_path = ctx.path("extensions");
    let fields: &[(&str, &str, &[&str])] = match ctx.t {
        "process" => &[
            (
                "windows-process-ext",
                "integrity_level",
                WINDOWS_INTEGRITY_LEVEL,
            ),
            (
                "windows-service-ext",
                "start_type",
                WINDOWS_SERVICE_START_TYPE,
            ),
            ("windows-service-ext", "service_type", WINDOWS_SERVICE_TYPE),
            (
                "windows-service-ext",
                "service_status",
                WINDOWS_SERVICE_STATUS,
            ),
        ],
        "network-traffic" => &[
            (
                "socket-ext",
                "address_family",
                NETWORK_SOCKET_ADDRESS_FAMILY,
            ),
            ("socket-ext", "socket_type", NETWORK_SOCKET_TYPE),
        ],
        _ => &[],
    };
    for (ext, field, allowed) in fields {
        if let Some(e) = exts.get(*ext) {
            one(e.get(*field), allowed, ext_path.key(ext).key(field), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    #[test]
    fn opinion_is_closed() {
        let mut o = json!({
            "type": "opinion", "spec_version": "2.1",
            "id": "opinion--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "opinion": "agree", "object_refs": ["indicator--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01"]
        });
        assert!(rules(&o).is_empty());
        o["opinion"] = "mostly-agree".into();
        assert_eq!(rules(&o), vec!["closed-vocabulary"]);
        assert_eq!(
            messages(&o),
            vec![
                "opinion.opinion: 'mostly-agree' is not one of: strongly-disagree, disagree, neutral, agree, strongly-agree"
            ]
        );
    }

    #[test]
    fn socket_ext_enums() {
        let o = json!({
            "type": "network-traffic", "id": "network-traffic--0b3f6d0e-4a1c-5c55-9b2e-6c3d2f1a8e01",
            "src_ref": "ipv4-addr--5a7c1e2d-9f3b-5d6a-8c1e-2b4d6f8a0c13", "protocols": ["tcp"],
            "extensions": {"socket-ext": {"address_family": "AF_INET", "socket_type": "SOCK_WHATEVER"}}
        });
        assert_eq!(rules(&o), vec!["closed-vocabulary"]);
    }

    #[test]
    fn open_vocabularies_are_not_enforced() {
        let mut o = indicator();
        o["indicator_types"] = json!(["vessel-tracking-anomaly"]);
        assert!(rules(&o).is_empty());
    }
}
