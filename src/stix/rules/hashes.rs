//! Hash dictionaries: the algorithms of the hash-algorithm vocabulary carry values of a
//! fixed form (spec 2.1 sections 2.7 and 10.10). Other keys are custom algorithms,
//! named with 1 to 250 ASCII letters, digits, hyphens and underscores.
//! Rule: `hash-format`.

use serde_json::{Map, Value};

use super::Ctx;
use crate::stix::violation::{Path, Violation};

fn hex_of(len: usize) -> impl Fn(&str) -> bool {
    move |v: &str| v.len() == len && v.bytes().all(|c| c.is_ascii_hexdigit())
}

fn is_ssdeep(v: &str) -> bool {
    let v = v.split_once(",\"").map_or(v, |(h, _)| h);
    let mut parts = v.split(':');
    let (Some(block), Some(a), Some(b), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
    };
    !block.is_empty() && block.bytes().all(|c| c.is_ascii_digit()) && b64(a) && b64(b)
}

fn is_tlsh(v: &str) -> bool {
    hex_of(70)(v.strip_prefix("T1").unwrap_or(v))
}

/// A check of a hash value's form, and its description for messages.
type ValueForm = (Box<dyn Fn(&str) -> bool>, &'static str);

/// Expected form of a vocabulary algorithm's value, or `None` for a custom algorithm.
fn expectation(algorithm: &str) -> Option<ValueForm> {
    Some(match algorithm {
        "MD5" => (Box::new(hex_of(32)), "32 hexadecimal digits"),
        "SHA-1" => (Box::new(hex_of(40)), "40 hexadecimal digits"),
        "SHA-256" | "SHA3-256" => (Box::new(hex_of(64)), "64 hexadecimal digits"),
        "SHA-512" | "SHA3-512" => (Box::new(hex_of(128)), "128 hexadecimal digits"),
        "SSDEEP" => (
            Box::new(is_ssdeep),
            "an ssdeep digest (blocksize:hash:hash)",
        ),
        "TLSH" => (
            Box::new(is_tlsh),
            "70 hexadecimal digits, optionally prefixed with T1",
        ),
        _ => return None,
    })
}

/// A custom hash algorithm name (spec 2.1 section 2.7): 1 to 250 characters of
/// ASCII letters, digits, hyphen and underscore.
fn is_custom_algorithm_name(name: &str) -> bool {
    (1..=250).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn check_dict(hashes: &Map<String, Value>, path: &Path, out: &mut Vec<Violation>) {
    for (algorithm, value) in hashes {
        let Some(value) = value.as_str() else {
            continue;
        };
        if let Some((ok, form)) = expectation(algorithm) {
            if !ok(value) {
                out.push(Violation::new(
                    "hash-format",
                    path.key(algorithm).into_string(),
                    format!("{algorithm} values must be {form}"),
                ));
            }
        } else if !is_custom_algorithm_name(algorithm) {
            out.push(Violation::new(
                "hash-format",
                path.key(algorithm).into_string(),
                "hash algorithm names must be 1 to 250 characters of A-Z, a-z, 0-9, - and _",
            ));
        }
    }
}

fn visit(value: &Value, key: &str, path: &Path, out: &mut Vec<Violation>) {
    match value {
        Value::Object(m) if matches!(key, "hashes" | "file_header_hashes") => {
            check_dict(m, path, out)
        }
        Value::Object(m) => {
            for (k, v) in m {
                visit(v, k, &path.key(k), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                visit(v, key, &path.index(i), out);
            }
        }
        _ => {}
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    // Hashes live at the top level, in external references and inside extensions.
    for key in ["hashes", "external_references", "extensions"] {
        if let Some(v) = ctx.obj.get(key) {
            visit(v, key, &ctx.path(key), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    #[test]
    fn hash_forms() {
        let mut f = file();
        f["hashes"] = json!({"MD5": "0123456789abcdef0123456789abcdeg"});
        assert_eq!(
            messages(&f),
            vec!["file.hashes.MD5: MD5 values must be 32 hexadecimal digits"]
        );
        f["hashes"] = json!({"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "x_vendor_hash": "anything"});
        assert!(rules(&f).is_empty());
        f["hashes"] = json!({"SHA-512": "00"});
        assert_eq!(rules(&f), vec!["hash-format"]);
    }

    #[test]
    fn custom_algorithm_names() {
        let mut f = file();
        f["hashes"] = json!({"my hash": "abc"});
        assert_eq!(
            messages(&f),
            vec![
                "file.hashes.my hash: hash algorithm names must be 1 to 250 characters of A-Z, a-z, 0-9, - and _"
            ]
        );
        f["hashes"] = json!({"x_Vendor-Hash_2": "abc"});
        assert!(rules(&f).is_empty());
        f["hashes"] = json!({"a".repeat(251): "abc"});
        assert_eq!(rules(&f), vec!["hash-format"]);
        f["hashes"] = json!({"a".repeat(250): "abc"});
        assert!(rules(&f).is_empty());
        f["hashes"] = json!({"": "abc"});
        assert_eq!(rules(&f), vec!["hash-format"]);
        let mut o = indicator();
        o["external_references"] = json!([{"source_name": "port-crc", "url": "https://crc.example/r/1", "hashes": {"sha256!": "x"}}]);
        assert_eq!(rules(&o), vec!["hash-format"]);
    }

    #[test]
    fn nested_hashes() {
        let mut f = file();
        f["extensions"] = json!({"ntfs-ext": {"alternate_data_streams": [{"name": "Zone.Identifier", "hashes": {"SHA-256": "abc"}}]}});
        assert_eq!(
            messages(&f),
            vec![
                "file.extensions.ntfs-ext.alternate_data_streams[0].hashes.SHA-256: SHA-256 values must be 64 hexadecimal digits"
            ]
        );
    }

    #[test]
    fn fuzzy_hashes() {
        assert!(is_ssdeep(
            "96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrJzrhuyZvHYm8tKp/RWO"
        ));
        assert!(!is_ssdeep("not-ssdeep"));
        assert!(is_tlsh(
            "T1A6B1F37AD9A5C1B2D3E4F50617283940A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3"
        ));
    }
}
