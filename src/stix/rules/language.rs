//! Language tags (RFC 5646): every `lang` property, every key of
//! `language-content.contents` and every entry of `software.languages`. The keys
//! inside each `contents` entry name properties of the translated object.
//! Spec 2.1 sections 3.2 (`lang`), 6.14 (software) and 7.1 (language content).
//! Rules: `language-tag`, `property-name`.

use serde_json::Value;

use super::Ctx;
use super::properties::{PROPERTY_NAME_RULE, is_long_property_name};
use crate::stix::violation::Violation;

/// Tags RFC 5646 section 2.2.8 keeps for compatibility with RFC 3066 although they do
/// not follow the grammar; `en-GB-oed` and the `sgn-*` tags do, but are listed too.
const GRANDFATHERED: &[&str] = &[
    "en-gb-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-be-fr",
    "sgn-be-nl",
    "sgn-ch-de",
    "art-lojban",
    "cel-gaulish",
    "no-bok",
    "no-nyn",
    "zh-guoyu",
    "zh-hakka",
    "zh-min",
    "zh-min-nan",
    "zh-xiang",
];

/// Where the parser stands in the `langtag` production; each subtag may only move it
/// forward.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Language,
    Extlang,
    Script,
    Region,
    Variant,
}

fn is_alpha(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_alphabetic)
}

fn is_digit(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

fn is_alnum(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_alphanumeric)
}

/// True when `tag` is a well-formed RFC 5646 language tag (section 2.1, case
/// insensitive) whose primary language subtag could be valid: two or three letters
/// (ISO 639), since no four- to eight-letter language subtag is registered. A tag
/// also must not repeat a variant or an extension singleton (section 2.2.9).
pub fn is_language_tag(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > 255 || !tag.is_ascii() {
        return false;
    }
    if GRANDFATHERED.iter().any(|g| g.eq_ignore_ascii_case(tag)) {
        return true;
    }
    let mut subtags = tag.split('-').map(str::as_bytes);
    let Some(first) = subtags.next() else {
        return false;
    };
    if first.eq_ignore_ascii_case(b"x") {
        return private_use(subtags);
    }
    if !(2..=3).contains(&first.len()) || !is_alpha(first) {
        return false;
    }
    let mut stage = Stage::Language;
    let mut extlangs = 0;
    // Variants and singletons seen so far, for the no-repetition rule; a tag has few.
    let mut variants: Vec<&[u8]> = Vec::new();
    let mut singletons: Vec<u8> = Vec::new();
    while let Some(s) = subtags.next() {
        let len = s.len();
        if len == 0 || len > 8 || !is_alnum(s) {
            return false;
        }
        if len == 3 && is_alpha(s) && stage <= Stage::Extlang && extlangs < 3 {
            // extlang: up to three, only right after a two- or three-letter language.
            stage = Stage::Extlang;
            extlangs += 1;
        } else if len == 4 && is_alpha(s) && stage < Stage::Script {
            stage = Stage::Script;
        } else if ((len == 2 && is_alpha(s)) || (len == 3 && is_digit(s))) && stage < Stage::Region
        {
            stage = Stage::Region;
        } else if (len >= 5 || (len == 4 && s[0].is_ascii_digit())) && stage <= Stage::Variant {
            if variants.iter().any(|v| v.eq_ignore_ascii_case(s)) {
                return false;
            }
            variants.push(s);
            stage = Stage::Variant;
        } else if len == 1 {
            let singleton = s[0].to_ascii_lowercase();
            if singleton == b'x' {
                return private_use(subtags);
            }
            if singletons.contains(&singleton) {
                return false;
            }
            singletons.push(singleton);
            // An extension: one or more subtags of two to eight alphanumerics.
            let mut any = false;
            loop {
                let mut peek = subtags.clone();
                match peek.next() {
                    Some(e) if (2..=8).contains(&e.len()) && is_alnum(e) => {
                        any = true;
                        subtags = peek;
                    }
                    _ => break,
                }
            }
            if !any {
                return false;
            }
            // After an extension only further extensions or private use may follow:
            // every remaining subtag must start a new one.
            stage = Stage::Variant;
            if let Some(next) = subtags.clone().next()
                && next.len() != 1
            {
                return false;
            }
        } else {
            return false;
        }
    }
    true
}

/// `x` followed by one or more subtags of one to eight alphanumerics, to the end.
fn private_use<'a>(rest: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut any = false;
    for s in rest {
        if s.is_empty() || s.len() > 8 || !is_alnum(s) {
            return false;
        }
        any = true;
    }
    any
}

fn check_tag(value: &Value, path: impl FnOnce() -> String, out: &mut Vec<Violation>) {
    if let Some(tag) = value.as_str()
        && !is_language_tag(tag)
    {
        out.push(Violation::new(
            "language-tag",
            path(),
            format!("'{tag}' is not an RFC 5646 language tag (e.g. en, nl-BE, zh-Hant)"),
        ));
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    if let Some(lang) = ctx.obj.get("lang") {
        check_tag(lang, || ctx.path("lang").into_string(), out);
    }
    match ctx.t {
        "software" => {
            if let Some(langs) = ctx.obj.get("languages").and_then(Value::as_array) {
                for (i, l) in langs.iter().enumerate() {
                    check_tag(l, || ctx.path("languages").index(i).into_string(), out);
                }
            }
        }
        "language-content" => {
            let Some(contents) = ctx.obj.get("contents").and_then(Value::as_object) else {
                return;
            };
            let base = ctx.path("contents");
            for (tag, translation) in contents {
                if !is_language_tag(tag) {
                    out.push(Violation::new(
                        "language-tag",
                        base.key(tag).into_string(),
                        format!(
                            "'{tag}' is not an RFC 5646 language tag (e.g. en, nl-BE, zh-Hant)"
                        ),
                    ));
                }
                let Some(fields) = translation.as_object() else {
                    continue;
                };
                for name in fields.keys() {
                    if !is_long_property_name(name) {
                        out.push(Violation::new(
                            "property-name",
                            base.key(tag).key(name).into_string(),
                            PROPERTY_NAME_RULE,
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
    use super::*;
    use crate::stix::rules::test_support::*;
    use serde_json::json;

    #[test]
    fn well_formed_tags() {
        for tag in [
            "en",
            "EN",
            "nl-BE",
            "de-CH-1996",
            "zh-Hant",
            "zh-Hant-TW",
            "sr-Latn-RS",
            "es-419",
            "zh-yue-HK",
            "ar-afb",
            "sl-rozaj-biske",
            "sl-IT-nedis",
            "hy-Latn-IT-arevela",
            "de-DE-u-co-phonebk",
            "en-US-u-islamcal",
            "en-a-myext-b-another",
            "zh-CN-a-myext-x-private",
            "en-x-port-crc",
            "x-whatever",
            "qaa-Qaaa-QM-x-southern",
            "i-klingon",
            "art-lojban",
            "en-GB-oed",
            "sgn-BE-FR",
            "eng",
            "fra",
            "de-1901",
        ] {
            assert!(is_language_tag(tag), "{tag} should be well-formed");
        }
    }

    #[test]
    fn malformed_tags() {
        for tag in [
            "",
            "english",
            "klingon",
            "xx-INVALID-tag-",
            "xx-INVALID-tag",
            "e",
            "en-",
            "-en",
            "en--US",
            "en_US",
            "en US",
            "abcd",
            "en-US-US",
            "en-Latn-Latn",
            "de-DE-1901-1901",
            "en-a-bbb-a-ccc",
            "en-a",
            "en-a-b",
            "x",
            "x-",
            "x-abcdefghi",
            "en-abcdefghi",
            "ar-aao-aao-aao-aao",
            "en-US-Latn",
            "français",
            "1en",
        ] {
            assert!(!is_language_tag(tag), "{tag} should be malformed");
        }
        assert!(!is_language_tag(&"a".repeat(300)));
    }

    #[test]
    fn lang_property() {
        let mut o = indicator();
        o["lang"] = "nl".into();
        assert!(rules(&o).is_empty());
        for bad in ["english", "klingon", "", "xx-INVALID-tag-"] {
            o["lang"] = bad.into();
            assert_eq!(rules(&o), vec!["language-tag"], "{bad}");
        }
        o["lang"] = "english".into();
        assert_eq!(
            messages(&o),
            vec![
                "indicator.lang: 'english' is not an RFC 5646 language tag (e.g. en, nl-BE, zh-Hant)"
            ]
        );
    }

    fn language_content(contents: Value) -> Value {
        json!({
            "type": "language-content", "spec_version": "2.1",
            "id": "language-content--0b3f6d0e-4a1c-4c55-9b2e-6c3d2f1a8e01",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "object_ref": "indicator--5a7c1e2d-9f3b-4d6a-8c1e-2b4d6f8a0c13",
            "contents": contents
        })
    }

    #[test]
    fn language_content_keys() {
        let ok = language_content(json!({"nl": {"name": "Baken"}, "de-CH": {"name": "Bake"}}));
        assert!(rules(&ok).is_empty(), "{:?}", messages(&ok));
        let bad = language_content(json!({"dutch": {"name": "Baken"}}));
        assert_eq!(
            messages(&bad),
            vec![
                "language-content.contents.dutch: 'dutch' is not an RFC 5646 language tag (e.g. en, nl-BE, zh-Hant)"
            ]
        );
        for field in ["Name", "nm", "1name", "_name", "na-me"] {
            let bad = language_content(json!({"nl": {field: "Baken"}}));
            assert_eq!(rules(&bad), vec!["property-name"], "{field}");
        }
    }

    #[test]
    fn software_languages() {
        let mut s = json!({
            "type": "software", "id": "software--0b3f6d0e-4a1c-5c55-9b2e-6c3d2f1a8e01",
            "name": "Berth planner", "languages": ["en", "nld", "zh-Hans"]
        });
        assert!(rules(&s).is_empty(), "{:?}", messages(&s));
        s["languages"] = json!(["en", "Dutch"]);
        assert_eq!(
            messages(&s),
            vec![
                "software.languages[1]: 'Dutch' is not an RFC 5646 language tag (e.g. en, nl-BE, zh-Hant)"
            ]
        );
    }
}
