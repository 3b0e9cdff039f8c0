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
}
