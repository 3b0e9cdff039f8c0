//! External references (spec 2.1 section 2.5): a reference whose `source_name` is
//! `cve` carries the CVE id in `external_id` (`CVE-YYYY-NNNN...`), one whose
//! `source_name` is `capec` carries the CAPEC id (`CAPEC-N...`).
//! Rule: `external-id`.

use serde_json::Value;

use super::Ctx;
use crate::stix::violation::Violation;

/// `CVE-` four-digit year `-` a sequence number of four digits, or of more digits
/// without a leading zero (the CVE id syntax since 2014).
pub fn is_cve_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    year.len() == 4
        && all_digits(year)
        && all_digits(number)
        && (number.len() == 4 || (number.len() > 4 && !number.starts_with('0')))
}

/// `CAPEC-` and one or more digits.
pub fn is_capec_id(s: &str) -> bool {
    s.strip_prefix("CAPEC-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    let Some(refs) = ctx.obj.get("external_references").and_then(Value::as_array) else {
        return;
    };
    let base = ctx.path("external_references");
    for (i, r) in refs.iter().enumerate() {
        let Some(r) = r.as_object() else { continue };
        let (valid, form): (fn(&str) -> bool, &str) =
            match r.get("source_name").and_then(Value::as_str) {
                Some("cve") => (is_cve_id, "a CVE id such as CVE-2024-12345"),
                Some("capec") => (is_capec_id, "a CAPEC id such as CAPEC-163"),
                _ => continue,
            };
        match r.get("external_id") {
            Some(Value::String(id)) if valid(id) => {}
            Some(Value::String(id)) => out.push(Violation::new(
                "external-id",
                base.index(i).key("external_id").into_string(),
                format!("'{id}' is not {form}"),
            )),
            Some(_) => {} // not a string: the schema says so
            None => out.push(Violation::new(
                "external-id",
                base.index(i).key("external_id").into_string(),
                format!("is required for this source_name and must be {form}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    fn vulnerability(refs: Value) -> Value {
        json!({
            "type": "vulnerability", "spec_version": "2.1",
            "id": "vulnerability--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "name": "Terminal OS flaw", "external_references": refs
        })
    }

    #[test]
    fn id_forms() {
        for ok in ["CVE-2021-44228", "CVE-1999-0001", "CVE-2024-123456"] {
            assert!(is_cve_id(ok), "{ok}");
        }
        for bad in [
            "CVE-2021-123",
            "CVE-21-1234",
            "CVE-2021-01234",
            "cve-2021-44228",
            "CVE-2021-4422a",
            "CVE-2021",
            "",
        ] {
            assert!(!is_cve_id(bad), "{bad}");
        }
        assert!(is_capec_id("CAPEC-163"));
        assert!(!is_capec_id("CAPEC-"));
        assert!(!is_capec_id("CAPEC163"));
        assert!(!is_capec_id("capec-163"));
    }

    #[test]
    fn cve_and_capec_references() {
        let ok = vulnerability(json!([
            {"source_name": "cve", "external_id": "CVE-2021-44228"},
            {"source_name": "capec", "external_id": "CAPEC-163"},
            {"source_name": "nvd", "external_id": "anything", "url": "https://nvd.example/x"}
        ]));
        assert!(rules(&ok).is_empty(), "{:?}", messages(&ok));
        let bad = vulnerability(json!([{"source_name": "cve", "external_id": "CVE-21-1"}]));
        assert_eq!(
            messages(&bad),
            vec![
                "vulnerability.external_references[0].external_id: 'CVE-21-1' is not a CVE id such as CVE-2024-12345"
            ]
        );
        let missing = vulnerability(json!([
            {"source_name": "capec", "url": "https://capec.example/163"}
        ]));
        assert_eq!(rules(&missing), vec!["external-id"]);
        let mut o = indicator();
        o["external_references"] = json!([{"source_name": "capec", "external_id": "163"}]);
        assert_eq!(rules(&o), vec!["external-id"]);
    }
}
