//! The embedded JSON Schemas (`schemas/`, draft 2020-12), registered under their
//! `$id`s so `$ref`s resolve without network or file access, and compiled once per
//! type. Schema failures are turned into precise [`Violation`]s.

use std::collections::HashMap;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, Resource, ValidationError};
use serde_json::Value;

use super::types::Kind;
use super::violation::Violation;

/// The `$id` base of every schema in `schemas/`.
pub const SCHEMA_BASE: &str = "https://breakwater.invalid/schemas/";

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        /// Every schema file, by its path under `schemas/`.
        pub const EMBEDDED: &[(&str, &str)] = &[
            $(($path, include_str!(concat!("../../schemas/", $path)))),*
        ];
    };
}

embedded!(
    "common/core.json",
    "common/custom-object.json",
    "common/custom-observable.json",
    "common/extension.json",
    "common/external-reference.json",
    "common/granular-marking.json",
    "common/hashes.json",
    "common/identifier.json",
    "common/kill-chain-phase.json",
    "common/property-names.json",
    "common/sco-core.json",
    "common/timestamp-millis.json",
    "common/timestamp.json",
    "meta/bundle.json",
    "meta/extension-definition.json",
    "meta/language-content.json",
    "meta/marking-definition.json",
    "sco/artifact.json",
    "sco/autonomous-system.json",
    "sco/directory.json",
    "sco/domain-name.json",
    "sco/email-addr.json",
    "sco/email-message.json",
    "sco/extensions/archive-ext.json",
    "sco/extensions/http-request-ext.json",
    "sco/extensions/icmp-ext.json",
    "sco/extensions/ntfs-ext.json",
    "sco/extensions/pdf-ext.json",
    "sco/extensions/raster-image-ext.json",
    "sco/extensions/socket-ext.json",
    "sco/extensions/tcp-ext.json",
    "sco/extensions/unix-account-ext.json",
    "sco/extensions/windows-pebinary-ext.json",
    "sco/extensions/windows-process-ext.json",
    "sco/extensions/windows-service-ext.json",
    "sco/file.json",
    "sco/ipv4-addr.json",
    "sco/ipv6-addr.json",
    "sco/mac-addr.json",
    "sco/mutex.json",
    "sco/network-traffic.json",
    "sco/process.json",
    "sco/software.json",
    "sco/url.json",
    "sco/user-account.json",
    "sco/windows-registry-key.json",
    "sco/x509-certificate.json",
    "sdo/attack-pattern.json",
    "sdo/campaign.json",
    "sdo/course-of-action.json",
    "sdo/grouping.json",
    "sdo/identity.json",
    "sdo/incident.json",
    "sdo/indicator.json",
    "sdo/infrastructure.json",
    "sdo/intrusion-set.json",
    "sdo/location.json",
    "sdo/malware-analysis.json",
    "sdo/malware.json",
    "sdo/note.json",
    "sdo/observed-data.json",
    "sdo/opinion.json",
    "sdo/report.json",
    "sdo/threat-actor.json",
    "sdo/tool.json",
    "sdo/vulnerability.json",
    "sro/relationship.json",
    "sro/sighting.json",
);

/// The compiled validators, one per defined type plus the two custom-object fallbacks.
pub struct SchemaSet {
    by_type: HashMap<&'static str, jsonschema::Validator>,
    custom_object: jsonschema::Validator,
    custom_observable: jsonschema::Validator,
}

/// Schema path under `schemas/` for a defined type.
fn schema_path(t: &str, kind: Kind) -> String {
    match kind {
        Kind::Sdo => format!("sdo/{t}.json"),
        Kind::Sro => format!("sro/{t}.json"),
        Kind::Sco => format!("sco/{t}.json"),
        Kind::MarkingDefinition
        | Kind::LanguageContent
        | Kind::ExtensionDefinition
        | Kind::Bundle => format!("meta/{t}.json"),
        Kind::CustomObject => "common/custom-object.json".to_owned(),
        Kind::CustomObservable => "common/custom-observable.json".to_owned(),
    }
}

impl SchemaSet {
    /// Parses, registers and compiles every embedded schema.
    ///
    /// # Panics
    /// When an embedded schema is broken: that is a bug in this crate, caught by the
    /// unit test that builds the set.
    pub fn new() -> SchemaSet {
        Self::try_new().unwrap_or_else(|e| panic!("embedded STIX schemas are broken: {e}"))
    }

    pub(crate) fn try_new() -> Result<SchemaSet, String> {
        let mut docs: HashMap<&'static str, Value> = HashMap::new();
        for (path, text) in EMBEDDED {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("{path}: {e}"))?;
            docs.insert(path, v);
        }
        let registry = jsonschema::Registry::new()
            .extend(docs.iter().map(|(path, v)| {
                (
                    format!("{SCHEMA_BASE}{path}"),
                    Resource::from_contents(v.clone()),
                )
            }))
            .map_err(|e| e.to_string())?
            .prepare()
            .map_err(|e| e.to_string())?;
        let compile = |path: &str| -> Result<jsonschema::Validator, String> {
            let doc = docs
                .get(path)
                .ok_or_else(|| format!("no embedded schema {path}"))?;
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .build(doc)
                .map_err(|e| format!("{path}: {e}"))
        };
        let mut by_type = HashMap::new();
        let defined = super::types::SDO_TYPES
            .iter()
            .chain(super::types::SRO_TYPES)
            .chain(super::types::SCO_TYPES)
            .chain(super::types::META_TYPES)
            .chain(&["bundle"]);
        for t in defined {
            let kind = Kind::of_defined(t).ok_or_else(|| format!("{t} is not a defined type"))?;
            by_type.insert(*t, compile(&schema_path(t, kind))?);
        }
        Ok(SchemaSet {
            by_type,
            custom_object: compile("common/custom-object.json")?,
            custom_observable: compile("common/custom-observable.json")?,
        })
    }

    fn validator(&self, t: &str, kind: Kind) -> &jsonschema::Validator {
        match kind {
            Kind::CustomObject => &self.custom_object,
            Kind::CustomObservable => &self.custom_observable,
            _ => self.by_type.get(t).unwrap_or(&self.custom_observable),
        }
    }

    /// Validates `object` against the schema of its type; only walks the errors when
    /// the fast `is_valid` check fails.
    pub(crate) fn check(
        &self,
        object: &Value,
        t: &str,
        kind: Kind,
        root: &str,
        out: &mut Vec<Violation>,
    ) {
        let validator = self.validator(t, kind);
        if validator.is_valid(object) {
            return;
        }
        for error in validator.iter_errors(object) {
            out.push(describe(&error, root));
        }
    }
}

impl Default for SchemaSet {
    fn default() -> Self {
        Self::new()
    }
}

fn json_type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => article(&t.to_string()),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| article(&t.to_string()))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn article(t: &str) -> String {
    match t {
        "array" => "a list".to_owned(),
        "object" => "an object".to_owned(),
        "integer" => "an integer".to_owned(),
        "null" => "null".to_owned(),
        other => format!("a {other}"),
    }
}

fn instance_path(error: &ValidationError<'_>, root: &str) -> String {
    let mut s = root.to_owned();
    for seg in error.instance_path().iter() {
        match seg {
            LocationSegment::Property(p) => {
                s.push('.');
                s.push_str(&p);
            }
            LocationSegment::Index(i) => {
                s.push_str(&format!("[{i}]"));
            }
        }
    }
    s
}

fn required_names(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// For an `anyOf`/`oneOf` whose alternatives each failed only because properties were
/// missing, the sets of properties that would satisfy each alternative.
fn missing_alternatives(context: &[Vec<ValidationError<'static>>]) -> Option<Vec<String>> {
    let mut alts = Vec::new();
    for branch in context {
        let mut names = Vec::new();
        for e in branch {
            match e.kind() {
                ValidationErrorKind::Required { property } => {
                    names.push(property.as_str().unwrap_or_default().to_owned())
                }
                _ => return None,
            }
        }
        if names.is_empty() {
            return None;
        }
        alts.push(names.join(" and "));
    }
    Some(alts)
}

fn limit(v: &Value) -> String {
    v.to_string()
}

/// Turns one jsonschema error into a violation with our rule id, path and wording.
fn describe(error: &ValidationError<'_>, root: &str) -> Violation {
    let mut path = instance_path(error, root);
    let location = error
        .absolute_keyword_location()
        .map(|u| u.as_str().to_owned())
        .unwrap_or_default();
    let last = error.instance_path().iter().last().and_then(|s| match s {
        LocationSegment::Property(p) => Some(p.into_owned()),
        LocationSegment::Index(_) => None,
    });
    let mut rule = if location.contains("/common/identifier.json") {
        "id-format"
    } else if location.contains("/common/timestamp") {
        "timestamp-format"
    } else if location.contains("/common/hashes.json") {
        "hash-format"
    } else if location.contains("/common/extension.json") {
        "extension"
    } else {
        "schema"
    };
    let message = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            path.push('.');
            path.push_str(name);
            if name == "spec_version" {
                rule = "spec-version";
            }
            "required property is missing".to_owned()
        }
        ValidationErrorKind::Type { kind } => format!("must be {}", json_type_name(kind)),
        ValidationErrorKind::Constant { expected_value } => {
            if last.as_deref() == Some("spec_version") {
                rule = "spec-version";
            }
            format!("must be {expected_value}")
        }
        ValidationErrorKind::Enum { options } => {
            rule = if rule == "extension" {
                "extension"
            } else {
                "closed-vocabulary"
            };
            let opts = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!("must be one of: {opts}")
        }
        ValidationErrorKind::Pattern { .. } => match rule {
            "id-format" => "must be an identifier of the form <type>--<UUID>".to_owned(),
            "timestamp-format" if location.contains("timestamp-millis") => {
                "must be an RFC 3339 UTC timestamp with at least millisecond precision".to_owned()
            }
            "timestamp-format" => {
                "must be an RFC 3339 timestamp in UTC, e.g. 2024-05-01T12:00:00.000Z".to_owned()
            }
            "hash-format" => "is not a valid value for this hash algorithm".to_owned(),
            _ => "is not in the required format".to_owned(),
        },
        ValidationErrorKind::Minimum { limit: l } => {
            if last.as_deref() == Some("confidence") {
                rule = "confidence-range";
            }
            format!("must be at least {}", limit(l))
        }
        ValidationErrorKind::Maximum { limit: l } => {
            if last.as_deref() == Some("confidence") {
                rule = "confidence-range";
            }
            format!("must be at most {}", limit(l))
        }
        ValidationErrorKind::ExclusiveMinimum { limit: l } => {
            format!("must be greater than {}", limit(l))
        }
        ValidationErrorKind::ExclusiveMaximum { limit: l } => {
            format!("must be less than {}", limit(l))
        }
        ValidationErrorKind::MinItems { .. } => "must not be an empty list".to_owned(),
        ValidationErrorKind::MaxItems { limit: l } => format!("must have at most {l} items"),
        ValidationErrorKind::MinLength { limit: l } => {
            format!("must be at least {l} characters long")
        }
        ValidationErrorKind::MaxLength { limit: l } => {
            format!("must be at most {l} characters long")
        }
        ValidationErrorKind::MinProperties { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinProperties { .. } => {
            "must have at least one property besides type and id".to_owned()
        }
        ValidationErrorKind::MaxProperties { limit: l } => {
            format!("must have at most {l} properties")
        }
        ValidationErrorKind::PropertyNames { error } => {
            let name = error.instance().as_str().unwrap_or_default().to_owned();
            path.push('.');
            path.push_str(&name);
            if rule == "hash-format" {
                "hash algorithm names must be 1 to 250 characters of A-Z, a-z, 0-9, - and _"
                    .to_owned()
            } else {
                rule = "property-name";
                crate::stix::rules::properties::PROPERTY_NAME_RULE.to_owned()
            }
        }
        ValidationErrorKind::AnyOf { context } => match missing_alternatives(context) {
            Some(alts) => format!("must have at least one of: {}", alts.join(", ")),
            None => "does not match any of the allowed forms".to_owned(),
        },
        ValidationErrorKind::OneOfNotValid { context } => match missing_alternatives(context) {
            Some(alts) => format!("must have exactly one of: {}", alts.join(", ")),
            None => "must match exactly one of the allowed forms (mutually exclusive properties?)"
                .to_owned(),
        },
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "matches more than one of the mutually exclusive forms".to_owned()
        }
        ValidationErrorKind::Not { schema } => {
            let names = required_names(schema);
            match names.len() {
                0 => "has a combination of properties that is not allowed".to_owned(),
                1 => {
                    // Reported at the property, where a rule about it reports too.
                    path.push('.');
                    path.push_str(&names[0]);
                    format!("property '{}' is not allowed here", names[0])
                }
                _ => format!("must not contain both {}", names.join(" and ")),
            }
        }
        ValidationErrorKind::FalseSchema => "is not allowed".to_owned(),
        ValidationErrorKind::UniqueItems => "must not contain duplicate items".to_owned(),
        other => format!("does not satisfy the schema ({})", other.keyword()),
    };
    Violation {
        rule,
        path,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_embedded_schema_compiles() {
        let set = SchemaSet::try_new().expect("schemas compile");
        assert!(set.by_type.len() >= 19 + 2 + 18 + 4);
        // Every file in schemas/ is embedded and parses; every type schema is registered.
        for (path, text) in EMBEDDED {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["$id"], format!("{SCHEMA_BASE}{path}"), "{path}");
            assert_eq!(
                v["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{path}"
            );
        }
    }

    fn errors(object: Value) -> Vec<Violation> {
        let set = SchemaSet::new();
        let t = object["type"].as_str().unwrap().to_owned();
        let kind = Kind::of_defined(&t).unwrap();
        let mut out = Vec::new();
        set.check(&object, &t, kind, &t, &mut out);
        out
    }

    #[test]
    fn schema_errors_are_precise() {
        let v = errors(json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", "name": 5
        }));
        let got: Vec<String> = v.iter().map(|v| format!("{} {}", v.rule, v)).collect();
        assert!(
            got.contains(&"schema indicator.pattern: required property is missing".to_owned()),
            "{got:?}"
        );
        assert!(
            got.contains(&"schema indicator.name: must be a string".to_owned()),
            "{got:?}"
        );
    }

    #[test]
    fn schema_errors_are_classified() {
        let v = errors(json!({
            "type": "opinion", "spec_version": "2.0",
            "id": "opinion--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00.000Z",
            "opinion": "maybe", "object_refs": ["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"],
            "confidence": 101
        }));
        let rules: Vec<&str> = v.iter().map(|v| v.rule).collect();
        for r in [
            "spec-version",
            "timestamp-format",
            "closed-vocabulary",
            "confidence-range",
        ] {
            assert!(rules.contains(&r), "{r} missing from {v:?}");
        }
    }

    #[test]
    fn alternatives_are_named() {
        let v = errors(json!({
            "type": "location", "spec_version": "2.1",
            "id": "location--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "name": "Berth 7"
        }));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            v[0].to_string(),
            "location: must have at least one of: region, country, latitude and longitude"
        );
    }
}
