//! The accepted objects of a pending envelope, as kept in its status row
//! until it is stored: bodies embedded as JSON (not as escaped strings).
//! Both backends write this same text, so `store copy` moves it unchanged.

use serde_json::value::RawValue;

use crate::model::{CollectionId, Timestamp};
use crate::store::{IngestBatch, NewObject, StatusDetail, StatusDetails, StoreError, StoreResult};

#[derive(serde::Serialize)]
struct ObjectOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    object_type: &'a str,
    spec_version: &'a str,
    version: Option<(i64, &'a str)>,
    body: &'a RawValue,
}

#[derive(serde::Deserialize)]
struct ObjectIn {
    id: String,
    #[serde(rename = "type")]
    object_type: String,
    spec_version: String,
    version: Option<(i64, String)>,
    body: Box<RawValue>,
}

pub fn serialize(objects: &[NewObject]) -> StoreResult<String> {
    let out = objects
        .iter()
        .map(|o| {
            Ok(ObjectOut {
                id: &o.id,
                object_type: &o.object_type,
                spec_version: &o.spec_version,
                version: o.version.as_ref().map(|(t, s)| (t.micros(), s.as_str())),
                body: serde_json::from_str(&o.body)
                    .map_err(|e| StoreError::Corrupt(format!("object body: {e}")))?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    serde_json::to_string(&out).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn parse(text: &str) -> StoreResult<Vec<NewObject>> {
    let objects: Vec<ObjectIn> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("pending payload: {e}")))?;
    Ok(objects
        .into_iter()
        .map(|o| NewObject {
            id: o.id,
            object_type: o.object_type,
            spec_version: o.spec_version,
            version: o.version.map(|(t, s)| (Timestamp::from_micros(t), s)),
            body: o.body.get().to_string(),
        })
        .collect())
}

/// A pending envelope's status details: its refusals, and every accepted
/// object pending.
pub fn pending_details(batch: &IngestBatch) -> StatusDetails {
    StatusDetails {
        successes: Vec::new(),
        failures: batch.refused.clone(),
        pendings: batch.accepted.iter().map(|o| detail(o, None)).collect(),
    }
}

/// An object's line in a status: its id and version, and why it was refused
/// (`None` while pending or once stored).
pub fn detail(object: &NewObject, message: Option<String>) -> StatusDetail {
    StatusDetail {
        id: object.id.clone(),
        version: object
            .version
            .as_ref()
            .map(|(_, text)| text.clone())
            .unwrap_or_default(),
        message,
    }
}

/// The refusal of an object whose collection was deleted while its envelope
/// was on the way.
pub fn refused_by_deleted_collection(collection: CollectionId, object: &NewObject) -> StatusDetail {
    detail(
        object,
        Some(format!(
            "collection {collection} has been deleted; the object was not stored"
        )),
    )
}
