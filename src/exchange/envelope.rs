//! Reading a POSTed body without trusting it. The envelope is split into the
//! raw text of each object in one pass that never recurses, whatever the
//! nesting (serde_json skips values with an explicit stack); each object is
//! then read into a `Value` by a visitor that refuses duplicate keys at any
//! depth, so what is validated is exactly what every other JSON parser will
//! read from the stored bytes.
//!
//! Depth of one object is bounded by serde_json's recursion limit (128
//! levels): deeper objects are refused with a per-object reason, never a
//! stack overflow.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// The raw text of every item of the body's `objects` list.
///
/// Refused (the message says why): anything but a JSON object, a repeated
/// top-level key, no `objects` key, or an `objects` that is not a list. Other
/// top-level keys (a bundle's `type` and `id`, an envelope's `more`) are
/// skipped without being materialised.
pub fn objects(text: &str) -> Result<Vec<&RawValue>, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let objects = de
        .deserialize_map(TopLevel)
        .and_then(|objects| de.end().map(|()| objects))
        .map_err(|e| e.to_string())?;
    objects.ok_or_else(|| "the body has no `objects` list: nothing to add".to_string())
}

/// Why one object could not be read.
#[derive(Debug)]
pub enum ObjectError {
    /// The same key twice in one JSON object, at any depth.
    Duplicate(String),
    /// Anything else serde_json refused (recursion limit, bad numbers, ...).
    Json(serde_json::Error),
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectError::Duplicate(message) => f.write_str(message),
            ObjectError::Json(e) => write!(f, "not valid JSON: {e}"),
        }
    }
}

/// One object's text as a `Value`; a key repeated in any JSON object inside
/// it refuses the whole object.
pub fn object(raw: &RawValue) -> Result<Value, ObjectError> {
    serde_json::Deserializer::from_str(raw.get())
        .deserialize_any(ValueVisitor { strict: true })
        .map_err(|e| {
            // The only data errors a `Value` can meet are our own duplicates.
            if e.is_data() {
                ObjectError::Duplicate(e.to_string())
            } else {
                ObjectError::Json(e)
            }
        })
}

/// A best-effort reading of an object that `object` refused, to name it in
/// the status (its `id`, `created`, `modified`); the first of repeated keys wins.
pub fn object_for_naming(raw: &RawValue) -> Value {
    serde_json::Deserializer::from_str(raw.get())
        .deserialize_any(ValueVisitor { strict: false })
        .unwrap_or(Value::Null)
}

struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with an `objects` list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        let mut objects = None;
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "the envelope repeats a top-level key {key:?}"
                )));
            }
            if key == "objects" {
                objects = Some(map.next_value_seed(ObjectList)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(objects)
    }
}

struct ObjectList;

impl<'de> DeserializeSeed<'de> for ObjectList {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ObjectList {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`objects` to be a list of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            items.push(raw);
        }
        Ok(items)
    }
}

/// Builds a `Value` like serde_json's own, except that a repeated key is an
/// error (`strict`) or keeps its first value, and that no key is special
/// (serde_json's `Value` reads an object keyed by its private raw-value token
/// as the JSON text inside it: an object whose stored bytes and validated
/// meaning differ).
#[derive(Clone, Copy)]
struct ValueVisitor {
    strict: bool,
}

impl<'de> DeserializeSeed<'de> for ValueVisitor {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match object.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(self)?);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    if self.strict {
                        return Err(de::Error::custom(format!("duplicate key {:?}", slot.key())));
                    }
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn splits_an_envelope_and_a_bundle() {
        let got = objects(r#"{"more":false,"objects":[{"a":1}, [2], "x"]}"#).unwrap();
        let texts: Vec<&str> = got.iter().map(|r| r.get()).collect();
        assert_eq!(texts, [r#"{"a":1}"#, "[2]", r#""x""#]);
        let bundle = objects(r#"{"type":"bundle","id":"bundle--x","objects":[{}]}"#).unwrap();
        assert_eq!(bundle.len(), 1);
        assert!(objects(r#"{"objects":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        for (body, why) in [
            ("{}", "no `objects` list"),
            (r#"{"more":true}"#, "no `objects` list"),
            (r#"{"objects":5}"#, "a list of STIX objects"),
            (r#"{"objects":{"a":1}}"#, "a list of STIX objects"),
            (
                r#"[{"objects":[]}]"#,
                "a JSON object with an `objects` list",
            ),
            (r#""objects""#, "a JSON object with an `objects` list"),
            ("", "EOF"),
            (r#"{"objects":[]} trailing"#, "trailing"),
            (
                r#"{"objects":[],"objects":[{}]}"#,
                r#"repeats a top-level key "objects""#,
            ),
            (
                r#"{"id":"a","objects":[],"id":"b"}"#,
                r#"repeats a top-level key "id""#,
            ),
        ] {
            let err = objects(body).unwrap_err();
            assert!(err.contains(why), "{body}: {err}");
        }
    }

    #[test]
    fn deep_junk_is_skipped_without_recursion() {
        // Far deeper than any stack could recurse: the envelope pass is iterative.
        let depth = 1_000_000;
        let junk = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let err = objects(&format!(r#"{{"junk":{junk}}}"#)).unwrap_err();
        assert!(err.contains("no `objects` list"), "{err}");
        let body = format!(r#"{{"objects":[{junk}]}}"#);
        let items = objects(&body).unwrap();
        assert_eq!(items.len(), 1);
        // One object that deep is refused on its own, as JSON too deep to read.
        let err = object(items[0]).unwrap_err();
        assert!(matches!(err, ObjectError::Json(_)), "{err}");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }

    #[test]
    fn duplicate_keys_at_any_depth_refuse_the_object() {
        for (text, key) in [
            (r#"{"id":"a","id":"b"}"#, "id"),
            (
                r#"{"object_marking_refs":["red"],"x":1,"object_marking_refs":["clear"]}"#,
                "object_marking_refs",
            ),
            (r#"{"a":{"b":[{"c":1,"c":2}]}}"#, "c"),
            // Escapes name the same key: compared after unescaping.
            (r#"{"id":"a","i\u0064":"b"}"#, "id"),
        ] {
            match object(&raw(text)) {
                Err(ObjectError::Duplicate(message)) => {
                    assert!(
                        message.starts_with(&format!("duplicate key {key:?}")),
                        "{message}"
                    )
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        // The same key in sibling objects is not a duplicate.
        let v = object(&raw(r#"{"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}]}"#)).unwrap();
        assert_eq!(v["c"][1]["k"], 4);
    }

    #[test]
    fn reads_values_as_serde_json_does_but_without_special_keys() {
        let text = r#"{"s":"\u00e9\n","n":-1,"u":18446744073709551615,"f":1.5,"b":true,"z":null,"l":[1,{"x":[]}]}"#;
        assert_eq!(
            object(&raw(text)).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        // serde_json's Value would read this as the indicator inside the string.
        let smuggled = r#"{"$serde_json::private::RawValue":"{\"type\":\"indicator\"}"}"#;
        let v = object(&raw(smuggled)).unwrap();
        assert!(v.get("type").is_none());
        assert!(v.get("$serde_json::private::RawValue").is_some());
    }

    #[test]
    fn a_refused_object_can_still_be_named() {
        let v = object_for_naming(&raw(r#"{"id":"indicator--1","id":"indicator--2"}"#));
        assert_eq!(v["id"], "indicator--1");
        let too_deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(object_for_naming(&raw(&too_deep)), Value::Null);
    }

    /// Property tests: a fixed number of cases, so the set runs in seconds.
    /// A failing case's seed is saved under `proptest-regressions/` (commit
    /// the file) and replayed first on every later run, so a failure seen
    /// once reproduces. Cases are drawn afresh each run; to draw the same
    /// ones again, fix the seed: `PROPTEST_RNG_SEED=<u64> cargo test --lib
    /// exchange::envelope`.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// JSON as written, duplicates and escapes included.
        #[derive(Debug, Clone)]
        enum Json {
            Null,
            Bool(bool),
            Num(i64),
            Str(String),
            Arr(Vec<Json>),
            /// Keys, each perhaps written with `\u` escapes only.
            Obj(Vec<(String, bool, Json)>),
        }

        impl Json {
            fn text(&self) -> String {
                match self {
                    Json::Null => "null".into(),
                    Json::Bool(b) => b.to_string(),
                    Json::Num(n) => n.to_string(),
                    Json::Str(s) => serde_json::to_string(s).unwrap(),
                    Json::Arr(items) => format!(
                        "[{}]",
                        items.iter().map(Json::text).collect::<Vec<_>>().join(",")
                    ),
                    Json::Obj(entries) => format!(
                        "{{{}}}",
                        entries
                            .iter()
                            .map(|(k, escaped, v)| {
                                let key = if *escaped {
                                    let units: String =
                                        k.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
                                    format!("\"{units}\"")
                                } else {
                                    serde_json::to_string(k).unwrap()
                                };
                                format!("{key}: {}", v.text())
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }

            fn has_duplicate(&self) -> bool {
                match self {
                    Json::Arr(items) => items.iter().any(Json::has_duplicate),
                    Json::Obj(entries) => {
                        let mut keys = HashSet::new();
                        entries.iter().any(|(k, _, _)| !keys.insert(k))
                            || entries.iter().any(|(_, _, v)| v.has_duplicate())
                    }
                    _ => false,
                }
            }

            fn value(&self) -> Value {
                match self {
                    Json::Null => Value::Null,
                    Json::Bool(b) => Value::Bool(*b),
                    Json::Num(n) => Value::from(*n),
                    Json::Str(s) => Value::from(s.clone()),
                    Json::Arr(items) => Value::Array(items.iter().map(Json::value).collect()),
                    Json::Obj(entries) => Value::Object(
                        entries
                            .iter()
                            .map(|(k, _, v)| (k.clone(), v.value()))
                            .collect(),
                    ),
                }
            }
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("id".to_string()),
                Just("type".to_string()),
                Just("object_marking_refs".to_string()),
                "[a-c]{1,2}",
                "\\PC{0,6}",
            ]
        }

        fn json() -> impl Strategy<Value = Json> {
            let leaf = prop_oneof![
                Just(Json::Null),
                any::<bool>().prop_map(Json::Bool),
                any::<i64>().prop_map(Json::Num),
                "\\PC{0,8}".prop_map(Json::Str),
            ];
            leaf.prop_recursive(6, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Arr),
                    prop::collection::vec((key(), any::<bool>(), inner), 0..6).prop_map(Json::Obj),
                ]
            })
        }

        /// An object with distinct keys at every level.
        fn distinct(json: Json) -> Json {
            match json {
                Json::Arr(items) => Json::Arr(items.into_iter().map(distinct).collect()),
                Json::Obj(entries) => {
                    let mut seen = HashSet::new();
                    Json::Obj(
                        entries
                            .into_iter()
                            .filter(|(k, _, _)| seen.insert(k.clone()))
                            .map(|(k, e, v)| (k, e, distinct(v)))
                            .collect(),
                    )
                }
                other => other,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(text) = std::str::from_utf8(&bytes)
                    && let Ok(items) = objects(text)
                {
                    for raw in items {
                        let _ = object(raw);
                        let _ = object_for_naming(raw);
                    }
                }
            }

            #[test]
            fn arbitrary_text_around_objects_never_panics(
                prefix in "\\PC{0,16}",
                middle in "[\\[\\]{}\",:a-z0-9 ]{0,64}",
                suffix in "\\PC{0,16}",
            ) {
                for text in [
                    format!("{prefix}{middle}{suffix}"),
                    format!("{{\"objects\":[{middle}]}}"),
                    format!("{{\"objects\":[{{{middle}}}]}}"),
                ] {
                    if let Ok(items) = objects(&text) {
                        for raw in items {
                            let _ = object(raw);
                        }
                    }
                }
            }

            #[test]
            fn duplicates_are_found_exactly(tree in json()) {
                let text = tree.text();
                let raw = RawValue::from_string(text.clone()).unwrap();
                match object(&raw) {
                    Ok(value) => {
                        prop_assert!(!tree.has_duplicate(), "missed a duplicate in {}", text);
                        prop_assert_eq!(value, tree.value());
                    }
                    Err(ObjectError::Duplicate(_)) => prop_assert!(tree.has_duplicate(), "{}", text),
                    Err(e) => prop_assert!(false, "{}: {}", text, e),
                }
            }

            #[test]
            fn well_formed_envelopes_round_trip(
                items in prop::collection::vec(json().prop_map(distinct), 0..8),
                bundle in any::<bool>(),
            ) {
                let texts: Vec<String> = items.iter().map(Json::text).collect();
                let head = if bundle { "\"type\":\"bundle\",\"id\":\"bundle--1\"," } else { "" };
                let body = format!("{{{head}\"objects\":[{}]}}", texts.join(","));
                let raws = objects(&body).unwrap();
                prop_assert_eq!(raws.len(), items.len());
                for ((raw, text), item) in raws.iter().zip(&texts).zip(&items) {
                    // Byte for byte what was posted, and read as it was meant.
                    prop_assert_eq!(raw.get(), text.as_str());
                    prop_assert_eq!(object(raw).unwrap(), item.value());
                }
            }

            #[test]
            fn deep_nesting_is_refused_per_object_never_overflowing(
                depth in 1usize..3000,
                objects_first in any::<bool>(),
            ) {
                let open: String = (0..depth).map(|i| if (i % 2 == 0) == objects_first { "{\"a\":" } else { "[" }).collect();
                let close: String = (0..depth).rev().map(|i| if (i % 2 == 0) == objects_first { "}" } else { "]" }).collect();
                let nested = format!("{open}1{close}");
                let body = format!("{{\"objects\":[{nested}]}}");
                let items = objects(&body).unwrap();
                prop_assert_eq!(items.len(), 1);
                match object(items[0]) {
                    Ok(_) => prop_assert!(depth < 128, "{} levels read", depth),
                    Err(ObjectError::Json(e)) => prop_assert!(
                        depth >= 128 && e.to_string().contains("recursion limit"),
                        "{}: {}", depth, e
                    ),
                    Err(e) => prop_assert!(false, "{}", e),
                }
                // As junk beside the objects it is skipped, at any depth.
                let beside = format!("{{\"junk\":{nested},\"objects\":[]}}");
                prop_assert!(objects(&beside).unwrap().is_empty());
            }
        }
    }
}
