//! Values of cyber-observable objects whose form the specification fixes by
//! reference to another standard (spec 2.1 section 6): IPv4 and IPv6 addresses
//! (RFC 791 / RFC 4291, or CIDR blocks), domain names (RFC 1034 / RFC 5890),
//! e-mail addresses (RFC 5322 addr-spec), URLs (RFC 3986), CPE 2.3 names,
//! IANA character-set names, and Windows registry values that say something.
//! `external_references[].url` (section 2.5) is a URL on every object.
//! Rules: `observable-value`, `url-format`, `cpe-format`, `character-set`.

use serde_json::Value;

use super::Ctx;
use super::addresses::{is_addr_spec, is_domain_name, is_ipv4_value, is_ipv6_value};
use super::charsets::is_character_set;
use super::cpe::check_cpe23;
use super::uri::is_uri;
use crate::stix::violation::{Path, Violation};

fn value_rule(
    ctx: &Ctx<'_>,
    key: &str,
    valid: fn(&str) -> bool,
    form: &str,
    out: &mut Vec<Violation>,
) {
    if let Some(v) = ctx.str(key)
        && !valid(v)
    {
        out.push(Violation::new(
            "observable-value",
            ctx.path(key).into_string(),
            format!("'{v}' is not {form}"),
        ));
    }
}

fn url_rule(value: Option<&Value>, path: impl FnOnce() -> Path, out: &mut Vec<Violation>) {
    if let Some(v) = value.and_then(Value::as_str)
        && !is_uri(v)
    {
        out.push(Violation::new(
            "url-format",
            path().into_string(),
            format!("'{v}' is not a URL (RFC 3986: a scheme, then characters a URI allows, others percent-encoded)"),
        ));
    }
}

fn charset_rule(ctx: &Ctx<'_>, key: &str, out: &mut Vec<Violation>) {
    if let Some(v) = ctx.str(key)
        && !is_character_set(v)
    {
        out.push(Violation::new(
            "character-set",
            ctx.path(key).into_string(),
            format!(
                "'{v}' is not a character set name from the IANA registry (e.g. UTF-8, ISO-8859-1)"
            ),
        ));
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    if let Some(refs) = ctx.obj.get("external_references").and_then(Value::as_array) {
        for (i, r) in refs.iter().enumerate() {
            url_rule(
                r.get("url"),
                || ctx.path("external_references").index(i).key("url"),
                out,
            );
        }
    }
    match ctx.t {
        "ipv4-addr" => value_rule(
            ctx,
            "value",
            is_ipv4_value,
            "an IPv4 address or CIDR block (four octets 0-255, prefix 0-32)",
            out,
        ),
        "ipv6-addr" => value_rule(
            ctx,
            "value",
            is_ipv6_value,
            "an IPv6 address or CIDR block (RFC 4291, prefix 0-128)",
            out,
        ),
        "domain-name" => value_rule(
            ctx,
            "value",
            is_domain_name,
            "a domain name (letters, digits and hyphens in non-empty labels of at most 63 characters, no spaces)",
            out,
        ),
        "email-addr" => value_rule(
            ctx,
            "value",
            is_addr_spec,
            "an e-mail address (RFC 5322 addr-spec: local-part@domain)",
            out,
        ),
        "url" => url_rule(ctx.obj.get("value"), || ctx.path("value"), out),
        "artifact" => url_rule(ctx.obj.get("url"), || ctx.path("url"), out),
        "software" => {
            if let Some(cpe) = ctx.str("cpe")
                && let Err(why) = check_cpe23(cpe)
            {
                out.push(Violation::new(
                    "cpe-format",
                    ctx.path("cpe").into_string(),
                    format!("is not a CPE 2.3 formatted string: {why}"),
                ));
            }
        }
        "file" => charset_rule(ctx, "name_enc", out),
        "directory" => charset_rule(ctx, "path_enc", out),
        "windows-registry-key" => {
            if let Some(values) = ctx.obj.get("values").and_then(Value::as_array) {
                for (i, v) in values.iter().enumerate() {
                    if v.as_object().is_some_and(|m| m.is_empty()) {
                        out.push(Violation::new(
                            "observable-value",
                            ctx.path("values").index(i).into_string(),
                            "a registry value must have at least one of name, data and data_type",
                        ));
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;
    use serde_json::{Value, json};

    fn sco(t: &str, props: Value) -> Value {
        let mut o = json!({"type": t, "id": format!("{t}--6f8e2a4c-1b3d-5e7f-9a0b-2c4d6e8f0a1b")});
        for (k, v) in props.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    }

    #[test]
    fn address_values() {
        for (t, ok, bad) in [
            ("ipv4-addr", "198.51.100.0/24", "999.1.1.1"),
            ("ipv4-addr", "198.51.100.7", "not-an-ip"),
            ("ipv4-addr", "198.51.100.7", "2001:db8::1"),
            ("ipv4-addr", "198.51.100.7", ""),
            ("ipv6-addr", "2001:db8::/32", "2001:db8:::1"),
            ("ipv6-addr", "2001:db8::1", "198.51.100.7"),
            (
                "domain-name",
                "portcall-notices.example",
                "portcall notices.example",
            ),
            ("domain-name", "münchen.example", "a..example"),
            (
                "email-addr",
                "soc@harbour-crc.example",
                "soc.harbour-crc.example",
            ),
        ] {
            assert!(rules(&sco(t, json!({"value": ok}))).is_empty(), "{t} {ok}");
            assert_eq!(
                rules(&sco(t, json!({"value": bad}))),
                vec!["observable-value"],
                "{t} {bad}"
            );
        }
        assert_eq!(
            messages(&sco("ipv4-addr", json!({"value": "999.1.1.1"}))),
            vec![
                "ipv4-addr.value: '999.1.1.1' is not an IPv4 address or CIDR block (four octets 0-255, prefix 0-32)"
            ]
        );
    }

    #[test]
    fn urls() {
        let ok = sco(
            "url",
            json!({"value": "https://portcall-notices.example/login?x=1"}),
        );
        assert!(rules(&ok).is_empty());
        for bad in ["not a url", "", "portcall-notices.example/login"] {
            assert_eq!(
                rules(&sco("url", json!({"value": bad}))),
                vec!["url-format"],
                "{bad}"
            );
        }
        let mut o = indicator();
        o["external_references"] = json!([
            {"source_name": "port-crc", "url": "https://crc.example/advisories/7"},
            {"source_name": "vendor", "url": "see the vendor site"}
        ]);
        assert_eq!(
            messages(&o),
            vec![
                "indicator.external_references[1].url: 'see the vendor site' is not a URL (RFC 3986: a scheme, then characters a URI allows, others percent-encoded)"
            ]
        );
        let a = sco(
            "artifact",
            json!({"url": "files/a.bin", "hashes": {"MD5": "5d41402abc4b2a76b9719d911017c592"}}),
        );
        assert_eq!(rules(&a), vec!["url-format"]);
    }

    #[test]
    fn cpe() {
        let mut s = sco(
            "software",
            json!({"name": "Fedora", "cpe": "cpe:2.3:o:fedoraproject:fedora:29:*:*:*:*:*:*:*"}),
        );
        assert!(rules(&s).is_empty());
        s["cpe"] = "cpe:/o:fedoraproject:fedora:29".into();
        assert_eq!(rules(&s), vec!["cpe-format"]);
        s["cpe"] = "cpe:2.3:o:fedoraproject:fedora:29".into();
        assert_eq!(
            messages(&s),
            vec![
                "software.cpe: is not a CPE 2.3 formatted string: must have 13 colon-separated components: cpe, 2.3, part, vendor, product, version, update, edition, language, sw_edition, target_sw, target_hw, other"
            ]
        );
    }

    #[test]
    fn character_sets() {
        let mut f = file();
        f["name_enc"] = "windows-1252".into();
        assert!(rules(&f).is_empty());
        f["name_enc"] = "klingon-8".into();
        assert_eq!(rules(&f), vec!["character-set"]);
        let mut d = sco(
            "directory",
            json!({"path": "C:\\Terminal\\EDI", "path_enc": "UTF-16LE"}),
        );
        assert!(rules(&d).is_empty());
        d["path_enc"] = "utf 16".into();
        assert_eq!(
            messages(&d),
            vec![
                "directory.path_enc: 'utf 16' is not a character set name from the IANA registry (e.g. UTF-8, ISO-8859-1)"
            ]
        );
    }

    #[test]
    fn registry_values_say_something() {
        let mut k = sco(
            "windows-registry-key",
            json!({"key": "HKEY_LOCAL_MACHINE\\Software\\BerthPlanner", "values": [{"name": "Server"}]}),
        );
        assert!(rules(&k).is_empty(), "{:?}", messages(&k));
        k["values"] = json!([{"name": "Server"}, {}]);
        assert_eq!(
            messages(&k),
            vec![
                "windows-registry-key.values[1]: a registry value must have at least one of name, data and data_type"
            ]
        );
    }
}
