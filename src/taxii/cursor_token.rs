//! Opaque `next` tokens: a keyset position, bound to the endpoint, the
//! collection, the object, the member and the `match[...]` filters that
//! produced it, and authenticated with an HMAC keyed by a secret in the
//! database. Forged, truncated, foreign or replayed-elsewhere tokens are a
//! 400, never a 500 and never data outside the query (TAXII 2.1 App. B).
//!
//! `added_after` and `limit` are deliberately outside the binding: the keyset
//! position already supersedes `added_after` (OpenCTI's connector drops it
//! while following `next`), and taxii2-client adapts `limit` between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::error::{Code, TaxiiError};
use crate::store::{Cursor, ObjectFilter, VersionFilter};

const VERSION: u8 = 1;
const BINDING_LEN: usize = 16;
const TAG_LEN: usize = 16;
const PAYLOAD_LEN: usize = 1 + 8 + BINDING_LEN;

pub struct CursorKey(hmac::Key);

impl CursorKey {
    pub fn new(secret: &[u8]) -> CursorKey {
        CursorKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }
}

/// Everything a token is bound to.
pub struct Binding<'a> {
    pub endpoint: &'a str,
    pub collection: &'a str,
    pub object_id: Option<&'a str>,
    pub member: &'a str,
    pub filter: &'a ObjectFilter,
}

impl Binding<'_> {
    fn digest(&self) -> [u8; BINDING_LEN] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let f = self.filter;
        let versions = match &f.versions {
            VersionFilter::All => "all".to_string(),
            VersionFilter::Select { first, last, exact } => {
                let mut exact: Vec<i64> = exact.iter().map(|t| t.micros()).collect();
                exact.sort_unstable();
                format!("{first}/{last}/{exact:?}")
            }
        };
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.join(",")
        };
        for part in [
            self.endpoint.to_string(),
            self.collection.to_string(),
            self.object_id.unwrap_or("").to_string(),
            self.member.to_string(),
            sorted(&f.ids),
            sorted(&f.types),
            sorted(&f.spec_versions),
            versions,
        ] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let mut out = [0u8; BINDING_LEN];
        out.copy_from_slice(&ctx.finish().as_ref()[..BINDING_LEN]);
        out
    }
}

pub fn encode(key: &CursorKey, cursor: Cursor, binding: &Binding<'_>) -> String {
    let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&cursor.0.to_be_bytes());
    bytes.extend_from_slice(&binding.digest());
    let tag = hmac::sign(&key.0, &bytes);
    bytes.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode(key: &CursorKey, token: &str, binding: &Binding<'_>) -> Result<Cursor, TaxiiError> {
    let invalid = |why: &str| {
        TaxiiError::new(
            Code::BadCursor,
            format!("next: {why}; start again without `next`"),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| invalid("not a token issued by this server"))?;
    if bytes.len() != PAYLOAD_LEN + TAG_LEN {
        return Err(invalid("not a token issued by this server"));
    }
    let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
    let expected = hmac::sign(&key.0, payload);
    // Constant-time comparison of the truncated tag.
    let diff = expected.as_ref()[..TAG_LEN]
        .iter()
        .zip(tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 || payload[0] != VERSION {
        return Err(invalid("not a token issued by this server"));
    }
    if payload[9..] != binding.digest() {
        return Err(invalid(
            "the token belongs to another query, collection or member",
        ));
    }
    let mut position = [0u8; 8];
    position.copy_from_slice(&payload[1..9]);
    Ok(Cursor(i64::from_be_bytes(position)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding<'a>(filter: &'a ObjectFilter, member: &'a str, collection: &'a str) -> Binding<'a> {
        Binding {
            endpoint: "objects",
            collection,
            object_id: None,
            member,
            filter,
        }
    }

    #[test]
    fn round_trips() {
        let key = CursorKey::new(b"secret");
        let f = ObjectFilter::default();
        let b = binding(&f, "alice", "c1");
        let token = encode(&key, Cursor(1_234_567), &b);
        assert_eq!(decode(&key, &token, &b).unwrap(), Cursor(1_234_567));
    }

    #[test]
    fn refuses_forged_truncated_and_foreign_tokens() {
        let key = CursorKey::new(b"secret");
        let f = ObjectFilter::default();
        let b = binding(&f, "alice", "c1");
        let token = encode(&key, Cursor(42), &b);

        let truncated = &token[..token.len() - 3];
        let mut forged = token.clone().into_bytes();
        forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let other_key = encode(&CursorKey::new(b"other"), Cursor(42), &b);
        for bad in [truncated, &forged, &other_key, "", "!!!", "AAAA"] {
            assert_eq!(
                decode(&key, bad, &b).unwrap_err().code,
                Code::BadCursor,
                "{bad}"
            );
        }

        let other_member = binding(&f, "mallory", "c1");
        assert_eq!(
            decode(&key, &token, &other_member).unwrap_err().code,
            Code::BadCursor
        );
        let other_collection = binding(&f, "alice", "c2");
        assert!(decode(&key, &token, &other_collection).is_err());
        let typed = ObjectFilter {
            types: vec!["indicator".into()],
            ..Default::default()
        };
        assert!(decode(&key, &token, &binding(&typed, "alice", "c1")).is_err());
    }

    #[test]
    fn added_after_is_not_part_of_the_binding() {
        let key = CursorKey::new(b"secret");
        let f = ObjectFilter::default();
        let token = encode(&key, Cursor(7), &binding(&f, "a", "c"));
        let with_added_after = ObjectFilter {
            added_after: Some(crate::model::Timestamp::from_micros(5)),
            ..Default::default()
        };
        assert_eq!(
            decode(&key, &token, &binding(&with_added_after, "a", "c")).unwrap(),
            Cursor(7)
        );
    }

    /// Property tests (seeds and replaying as in `exchange::envelope`:
    /// failures are saved under `proptest-regressions/`;
    /// `PROPTEST_RNG_SEED=<u64> cargo test --lib taxii::cursor_token` draws a fixed set).
    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        struct Bound {
            endpoint: &'static str,
            collection: String,
            object_id: Option<String>,
            member: String,
            filter: ObjectFilter,
        }

        impl Bound {
            /// What the binding means: lists are sets, order is not meaning.
            fn meaning(&self) -> impl PartialEq + std::fmt::Debug {
                let sorted = |v: &[String]| {
                    let mut v = v.to_vec();
                    v.sort();
                    v
                };
                (
                    self.endpoint,
                    self.collection.clone(),
                    self.object_id.clone(),
                    self.member.clone(),
                    sorted(&self.filter.ids),
                    sorted(&self.filter.types),
                    self.filter.versions == VersionFilter::All,
                )
            }

            fn binding(&self) -> Binding<'_> {
                Binding {
                    endpoint: self.endpoint,
                    collection: &self.collection,
                    object_id: self.object_id.as_deref(),
                    member: &self.member,
                    filter: &self.filter,
                }
            }
        }

        /// Small alphabets, so that equal and nearly equal bindings meet.
        fn bound() -> impl Strategy<Value = Bound> {
            (
                prop_oneof![Just("objects"), Just("manifest"), Just("object")],
                "[ab]{1,2}",
                prop::option::of("[ab]{1,2}"),
                "[ab]{1,2}",
                prop::collection::vec("[ab]{1,2}", 0..2),
                prop::collection::vec("[ab]{1,2}", 0..2),
                any::<bool>(),
            )
                .prop_map(
                    |(endpoint, collection, object_id, member, ids, types, all)| Bound {
                        endpoint,
                        collection,
                        object_id,
                        member,
                        filter: ObjectFilter {
                            ids,
                            types,
                            versions: if all {
                                VersionFilter::All
                            } else {
                                VersionFilter::default()
                            },
                            ..Default::default()
                        },
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_strings_never_decode(token in "\\PC{0,80}", b in bound()) {
                let key = CursorKey::new(b"secret");
                let err = decode(&key, &token, &b.binding()).unwrap_err();
                prop_assert_eq!(err.code, Code::BadCursor);
            }

            #[test]
            fn a_token_decodes_only_under_its_own_binding(
                position in any::<i64>(),
                issued in bound(),
                presented in bound(),
            ) {
                let key = CursorKey::new(b"secret");
                let token = encode(&key, Cursor(position), &issued.binding());
                let same = issued.meaning() == presented.meaning();
                match decode(&key, &token, &presented.binding()) {
                    Ok(cursor) => {
                        prop_assert!(same, "{:?} accepted for {:?}", issued, presented);
                        prop_assert_eq!(cursor, Cursor(position));
                    }
                    Err(e) => {
                        prop_assert!(!same);
                        prop_assert_eq!(e.code, Code::BadCursor);
                    }
                }
            }

            #[test]
            fn an_altered_token_never_decodes(
                position in any::<i64>(),
                b in bound(),
                at in any::<prop::sample::Index>(),
                replacement in any::<prop::sample::Index>(),
            ) {
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                let key = CursorKey::new(b"secret");
                let token = encode(&key, Cursor(position), &b.binding());
                let i = at.index(token.len());
                // Always a different character: assuming one away would
                // reject a case in 64, too many for a long fuzzing run.
                let others: Vec<u8> = ALPHABET
                    .iter()
                    .copied()
                    .filter(|&c| c != token.as_bytes()[i])
                    .collect();
                let c = others[replacement.index(others.len())] as char;
                let mut altered = token.clone();
                altered.replace_range(i..=i, c.encode_utf8(&mut [0; 4]));
                prop_assert_ne!(&altered, &token);
                prop_assert!(decode(&key, &altered, &b.binding()).is_err());
            }
        }
    }
}
