//! Query parameters (TAXII 2.1 §3.4): parsed into a store `ObjectFilter`,
//! a limit and an optional `next` token. Any malformed value is a 400 that
//! names the parameter.

use super::error::{Code, TaxiiError};
use crate::model::{ObjectId, Timestamp};
use crate::store::{ObjectFilter, VersionFilter};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub filter: ObjectFilter,
    pub limit: Option<usize>,
    pub next: Option<String>,
    /// Whether `match[version]` was given (DELETE's default differs, §5.7).
    pub versions_given: bool,
}

fn bad(param: &str, reason: impl std::fmt::Display) -> TaxiiError {
    TaxiiError::new(Code::BadQuery, format!("{param}: {reason}"))
}

/// A comma-separated list (no spaces, TAXII §3.4.1); empty items are refused.
fn list<'a>(param: &str, value: &'a str) -> Result<Vec<&'a str>, TaxiiError> {
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|i| i.trim().is_empty()) {
        return Err(bad(param, "empty value in the comma-separated list"));
    }
    Ok(items.into_iter().map(str::trim).collect())
}

fn is_type_name(t: &str) -> bool {
    (1..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub fn parse_versions(value: &str) -> Result<VersionFilter, TaxiiError> {
    const P: &str = "match[version]";
    let items = list(P, value)?;
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = items.iter().find(|i| !seen.insert(**i)) {
        return Err(bad(P, format!("'{dup}' is repeated")));
    }
    if items.contains(&"all") {
        if items.len() > 1 {
            return Err(bad(P, "'all' cannot be combined with other values"));
        }
        return Ok(VersionFilter::All);
    }
    let (mut first, mut last, mut exact) = (false, false, Vec::new());
    for item in items {
        match item {
            "first" => first = true,
            "last" => last = true,
            ts => exact.push(Timestamp::parse(ts).map_err(|e| bad(P, e))?),
        }
    }
    Ok(VersionFilter::Select { first, last, exact })
}

/// Parses a raw query string. `allowed` lists the `match[...]` fields the
/// endpoint supports; others are ignored as §3.4.1 allows.
pub fn parse(query_string: &str, allowed: &[&str]) -> Result<Query, TaxiiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).map_err(|e| {
        TaxiiError::new(
            Code::BadQuery,
            format!("the query string is malformed: {e}"),
        )
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut q = Query::default();
    for (key, value) in &pairs {
        if !seen.insert(key.as_str()) {
            return Err(bad(key, "may appear only once"));
        }
        match key.as_str() {
            "added_after" => {
                q.filter.added_after = Some(Timestamp::parse(value).map_err(|e| bad(key, e))?);
            }
            "limit" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(key, format!("'{value}' is not a positive integer")))?;
                if n == 0 {
                    return Err(bad(key, "must be greater than zero"));
                }
                q.limit = Some(n);
            }
            "next" if !value.is_empty() => {
                q.next = Some(value.clone());
            }
            field if field.starts_with("match[") && field.ends_with(']') => {
                let name = &field[6..field.len() - 1];
                if !allowed.contains(&name) {
                    continue;
                }
                match name {
                    "id" => {
                        for id in list(key, value)? {
                            if ObjectId::parse(id).is_none() {
                                return Err(bad(key, format!("'{id}' is not a STIX identifier")));
                            }
                            q.filter.ids.push(id.to_string());
                        }
                    }
                    "type" => {
                        for t in list(key, value)? {
                            if !is_type_name(t) {
                                return Err(bad(key, format!("'{t}' is not a STIX type name")));
                            }
                            q.filter.types.push(t.to_string());
                        }
                    }
                    "version" => {
                        q.filter.versions = parse_versions(value)?;
                        q.versions_given = true;
                    }
                    "spec_version" => {
                        for v in list(key, value)? {
                            let ok = v.split_once('.').is_some_and(|(a, b)| {
                                !a.is_empty()
                                    && !b.is_empty()
                                    && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                            });
                            if !ok {
                                return Err(bad(
                                    key,
                                    format!("'{v}' is not a spec version such as 2.1"),
                                ));
                            }
                            q.filter.spec_versions.push(v.to_string());
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Which `match[...]` fields each endpoint supports (TAXII 2.1 §3.4.2).
pub const OBJECTS_FIELDS: &[&str] = &["id", "type", "version", "spec_version"];
pub const OBJECT_FIELDS: &[&str] = &["version", "spec_version"];
pub const VERSIONS_FIELDS: &[&str] = &["spec_version"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_filter() {
        let q = parse(
            "added_after=2026-01-01T00:00:00.5Z&limit=10&next=abc&match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f&match%5Btype%5D=indicator,malware&match[version]=first,2026-01-01T00:00:00.000Z,last&match[spec_version]=2.1",
            OBJECTS_FIELDS,
        )
        .unwrap();
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.next.as_deref(), Some("abc"));
        assert_eq!(q.filter.types, ["indicator", "malware"]);
        assert_eq!(q.filter.ids.len(), 1);
        assert_eq!(q.filter.spec_versions, ["2.1"]);
        assert!(
            matches!(q.filter.versions, VersionFilter::Select { first: true, last: true, ref exact } if exact.len() == 1)
        );
        assert_eq!(
            q.filter.added_after.unwrap().to_string(),
            "2026-01-01T00:00:00.500000Z"
        );
    }

    #[test]
    fn defaults_to_the_last_version() {
        let q = parse("", OBJECTS_FIELDS).unwrap();
        assert_eq!(q.filter.versions, VersionFilter::default());
        assert_eq!(q.limit, None);
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            "limit=0",
            "limit=-1",
            "limit=ten",
            "added_after=yesterday",
            "added_after=2026-01-01T00:00:00Z&added_after=2026-01-02T00:00:00Z",
            "match[version]=all,last",
            "match[version]=last,last",
            "match[version]=latest",
            "match[id]=not-an-id",
            "match[type]=Indicator",
            "match[type]=indicator,,malware",
            "match[spec_version]=two",
        ] {
            let err = parse(bad, OBJECTS_FIELDS).unwrap_err();
            assert_eq!(err.code, Code::BadQuery, "{bad}");
        }
    }

    #[test]
    fn ignores_fields_the_endpoint_does_not_support() {
        let q = parse("match[type]=indicator&match[foo]=bar", VERSIONS_FIELDS).unwrap();
        assert!(q.filter.types.is_empty());
    }

    #[test]
    fn an_empty_next_is_no_next() {
        assert_eq!(parse("next=", OBJECTS_FIELDS).unwrap().next, None);
    }

    /// Property tests (seeds and replaying as in `exchange::envelope`:
    /// failures are saved under `proptest-regressions/`;
    /// `PROPTEST_RNG_SEED=<u64> cargo test --lib taxii::query` draws a fixed set).
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn field_set() -> impl Strategy<Value = &'static [&'static str]> {
            prop_oneof![
                Just(OBJECTS_FIELDS),
                Just(OBJECT_FIELDS),
                Just(VERSIONS_FIELDS)
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_query_string_is_parsed_or_refused_as_a_bad_query(
                query in "\\PC{0,80}",
                fields in field_set(),
            ) {
                if let Err(e) = parse(&query, fields) {
                    prop_assert_eq!(e.code, Code::BadQuery);
                }
            }

            #[test]
            fn any_parameter_values_are_parsed_or_refused(
                pairs in prop::collection::vec(
                    (
                        prop_oneof![
                            Just("added_after"), Just("limit"), Just("next"),
                            Just("match[id]"), Just("match[type]"),
                            Just("match[version]"), Just("match[spec_version]"),
                            Just("match[other]"),
                        ],
                        "\\PC{0,40}",
                    ),
                    0..6,
                ),
            ) {
                let query = serde_urlencoded::to_string(&pairs).unwrap();
                if let Err(e) = parse(&query, OBJECTS_FIELDS) {
                    prop_assert_eq!(e.code, Code::BadQuery);
                }
            }

            #[test]
            fn well_formed_filters_are_read_back(
                types in prop::collection::vec("[a-z][a-z0-9-]{0,30}", 1..5),
                limit in 1usize..1_000_000_000,
                micros in 0i64..4_102_444_800_000_000,
                spec in prop::collection::vec((1u8..10, 0u8..10), 1..3),
            ) {
                let added_after = crate::model::Timestamp::from_micros(micros);
                let spec: Vec<String> = spec.iter().map(|(a, b)| format!("{a}.{b}")).collect();
                let query = serde_urlencoded::to_string([
                    ("match[type]", types.join(",")),
                    ("limit", limit.to_string()),
                    ("added_after", added_after.to_string()),
                    ("match[spec_version]", spec.join(",")),
                ])
                .unwrap();
                let q = parse(&query, OBJECTS_FIELDS).unwrap();
                prop_assert_eq!(q.filter.types, types);
                prop_assert_eq!(q.limit, Some(limit));
                prop_assert_eq!(q.filter.added_after, Some(added_after));
                prop_assert_eq!(q.filter.spec_versions, spec);
            }
        }
    }
}
