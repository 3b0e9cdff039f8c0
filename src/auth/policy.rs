//! The one place that decides what a member may do. Pure: no I/O.
//!
//! Read/write rights come from grants (to the member, or to its sector),
//! capped by the member's clearance against the collection's tier. Marking
//! enforcement keeps an object's TLP marking from landing in a laxer tier.

use serde_json::Value;

use crate::model::Tier;
use crate::store::{Collection, Grant, Grantee, Member};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights {
    pub read: bool,
    pub write: bool,
}

impl Rights {
    /// Whether the collection exists at all for this member: anything it may
    /// neither read nor write is answered 404, never 403.
    pub fn visible(self) -> bool {
        self.read || self.write
    }
}

/// A member's rights on a collection.
pub fn rights(member: &Member, collection: &Collection, grants: &[Grant]) -> Rights {
    if member.suspended {
        return Rights::default();
    }
    if member.is_operator {
        return Rights {
            read: true,
            write: true,
        };
    }
    // A grant to the member itself overrides its sector's grant.
    let own = grants.iter().find(|g| {
        g.collection == collection.id
            && matches!(&g.grantee, Grantee::Member(m) if *m == member.name)
    });
    let sector = grants.iter().find(|g| {
        g.collection == collection.id
            && matches!(&g.grantee, Grantee::Sector(s) if s.eq_ignore_ascii_case(&member.sector))
    });
    let Some(grant) = own.or(sector) else {
        return Rights::default();
    };
    let cleared = collection.tier <= member.clearance;
    Rights {
        read: grant.read && cleared,
        write: grant.write && cleared,
    }
}

/// Proof that the holder may read this collection; only `policy` makes one.
#[derive(Debug, Clone)]
pub struct ReadAccess {
    collection: Collection,
    member: String,
}

/// Proof that the holder may write this collection; only `policy` makes one.
#[derive(Debug, Clone)]
pub struct WriteAccess {
    collection: Collection,
    member: String,
}

macro_rules! access_getters {
    ($t:ty) => {
        impl $t {
            pub fn collection(&self) -> &Collection {
                &self.collection
            }
            pub fn member(&self) -> &str {
                &self.member
            }
        }
    };
}
access_getters!(ReadAccess);
access_getters!(WriteAccess);

/// Proof that the holder is the exchange's operator, who sees every member,
/// certificate, submission and audit event; only `policy` makes one.
#[derive(Debug, Clone)]
pub struct OperatorAccess {
    member: String,
}

impl OperatorAccess {
    pub fn member(&self) -> &str {
        &self.member
    }
}

/// Operator-only views: anyone else may not know they exist.
pub fn operator_access(member: &Member) -> Result<OperatorAccess, Denied> {
    if member.is_operator && !member.suspended {
        Ok(OperatorAccess {
            member: member.name.clone(),
        })
    } else {
        Err(Denied::Hidden)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The member may not know the collection exists.
    Hidden,
    /// The collection is visible but this operation is not allowed.
    Forbidden,
}

pub fn read_access(
    member: &Member,
    collection: &Collection,
    rights: Rights,
) -> Result<ReadAccess, Denied> {
    match (rights.visible(), rights.read) {
        (false, _) => Err(Denied::Hidden),
        (true, false) => Err(Denied::Forbidden),
        (true, true) => Ok(ReadAccess {
            collection: collection.clone(),
            member: member.name.clone(),
        }),
    }
}

pub fn write_access(
    member: &Member,
    collection: &Collection,
    rights: Rights,
) -> Result<WriteAccess, Denied> {
    match (rights.visible(), rights.write) {
        (false, _) => Err(Denied::Hidden),
        (true, false) => Err(Denied::Forbidden),
        (true, true) => Ok(WriteAccess {
            collection: collection.clone(),
            member: member.name.clone(),
        }),
    }
}

/// TAXII 2.1 §5.7: DELETE needs both rights; exactly one gives 403, none 404.
pub fn delete_access(
    member: &Member,
    collection: &Collection,
    rights: Rights,
) -> Result<WriteAccess, Denied> {
    match (rights.read, rights.write) {
        (true, true) => write_access(member, collection, rights),
        (false, false) => Err(Denied::Hidden),
        _ => Err(Denied::Forbidden),
    }
}

/// The fixed TLP marking-definition ids: TLP 1.0 (STIX 2.1 §7.2.1.4) and the
/// TLP 2.0 extension's. WHITE ranks as CLEAR.
const TLP_MARKINGS: &[(&str, Tier)] = &[
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tier::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tier::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tier::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tier::Red,
    ),
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tier::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tier::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tier::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tier::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tier::Red,
    ),
];

pub fn tlp_tier(marking_id: &str) -> Option<Tier> {
    TLP_MARKINGS
        .iter()
        .find(|(id, _)| *id == marking_id)
        .map(|(_, tier)| *tier)
}

/// The strictest TLP marking an object carries, through
/// `object_marking_refs` or granular markings; `None` when unmarked.
pub fn strictest_marking(object: &Value) -> Option<Tier> {
    let object_refs = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let granular_refs = object
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref"));
    object_refs
        .chain(granular_refs)
        .filter_map(Value::as_str)
        .filter_map(tlp_tier)
        .max()
}

/// Refuses an object whose TLP marking is stricter than the collection's tier;
/// the message says why, for the status resource.
pub fn check_marking(object: &Value, collection_tier: Tier) -> Result<(), String> {
    match strictest_marking(object) {
        Some(marked) if marked > collection_tier => Err(format!(
            "object is marked {} but collection is {}: a marking may not be shared into a laxer tier",
            marked.label(),
            collection_tier.label()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CollectionId, Timestamp};

    fn member(clearance: Tier) -> Member {
        Member {
            name: "maersk-line".into(),
            sector: "shipping-line".into(),
            contact: None,
            identity_ref: None,
            clearance,
            suspended: false,
            is_operator: false,
            created: Timestamp::from_micros(0),
        }
    }

    fn collection(tier: Tier) -> Collection {
        Collection {
            id: CollectionId::new_random(),
            api_root: "crc".into(),
            alias: None,
            title: "t".into(),
            description: None,
            tier,
            created: Timestamp::from_micros(0),
        }
    }

    fn grant(c: &Collection, grantee: Grantee, read: bool, write: bool) -> Grant {
        Grant {
            collection: c.id,
            grantee,
            read,
            write,
        }
    }

    #[test]
    fn no_grant_means_hidden() {
        let m = member(Tier::Red);
        let c = collection(Tier::Green);
        let r = rights(&m, &c, &[]);
        assert!(!r.visible());
        assert_eq!(read_access(&m, &c, r).unwrap_err(), Denied::Hidden);
    }

    #[test]
    fn clearance_caps_grants() {
        let m = member(Tier::Green);
        let c = collection(Tier::Red);
        let g = [grant(&c, Grantee::Member(m.name.clone()), true, true)];
        assert_eq!(rights(&m, &c, &g), Rights::default());
        let ok = collection(Tier::Green);
        let g = [grant(&ok, Grantee::Member(m.name.clone()), true, false)];
        assert_eq!(
            rights(&m, &ok, &g),
            Rights {
                read: true,
                write: false
            }
        );
    }

    #[test]
    fn sector_grants_apply_and_member_grants_override() {
        let m = member(Tier::Amber);
        let c = collection(Tier::Amber);
        let sector = grant(&c, Grantee::Sector("shipping-line".into()), true, true);
        assert_eq!(
            rights(&m, &c, std::slice::from_ref(&sector)),
            Rights {
                read: true,
                write: true
            }
        );
        let own = grant(&c, Grantee::Member(m.name.clone()), true, false);
        assert_eq!(
            rights(&m, &c, &[sector, own]),
            Rights {
                read: true,
                write: false
            }
        );
    }

    #[test]
    fn only_an_active_operator_gets_operator_access() {
        let mut m = member(Tier::Red);
        assert_eq!(operator_access(&m).unwrap_err(), Denied::Hidden);
        m.is_operator = true;
        assert_eq!(operator_access(&m).unwrap().member(), "maersk-line");
        m.suspended = true;
        assert_eq!(operator_access(&m).unwrap_err(), Denied::Hidden);
    }

    #[test]
    fn suspended_members_have_no_rights() {
        let mut m = member(Tier::Red);
        m.suspended = true;
        let c = collection(Tier::Clear);
        let g = [grant(&c, Grantee::Member(m.name.clone()), true, true)];
        assert_eq!(rights(&m, &c, &g), Rights::default());
    }

    #[test]
    fn delete_follows_the_taxii_matrix() {
        let m = member(Tier::Red);
        let c = collection(Tier::Clear);
        let both = Rights {
            read: true,
            write: true,
        };
        assert!(delete_access(&m, &c, both).is_ok());
        for one in [
            Rights {
                read: true,
                write: false,
            },
            Rights {
                read: false,
                write: true,
            },
        ] {
            assert_eq!(delete_access(&m, &c, one).unwrap_err(), Denied::Forbidden);
        }
        assert_eq!(
            delete_access(&m, &c, Rights::default()).unwrap_err(),
            Denied::Hidden
        );
    }

    #[test]
    fn markings_stricter_than_the_tier_are_refused() {
        let red = serde_json::json!({"object_marking_refs": ["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]});
        let err = check_marking(&red, Tier::Amber).unwrap_err();
        assert!(
            err.contains("TLP:RED") && err.contains("TLP:AMBER"),
            "{err}"
        );
        assert!(check_marking(&red, Tier::Red).is_ok());
        let granular_amber_v1 = serde_json::json!({"granular_markings": [
            {"marking_ref": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "selectors": ["description"]}
        ]});
        assert!(check_marking(&granular_amber_v1, Tier::Green).is_err());
        assert!(check_marking(&granular_amber_v1, Tier::Amber).is_ok());
        let white = serde_json::json!({"object_marking_refs": ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"]});
        assert!(check_marking(&white, Tier::Clear).is_ok());
        let strict = serde_json::json!({"object_marking_refs": ["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]});
        assert!(check_marking(&strict, Tier::Amber).is_err());
        assert!(check_marking(&serde_json::json!({}), Tier::Clear).is_ok());
    }
}
