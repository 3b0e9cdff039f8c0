//! Adding objects: parse the envelope, validate each object, apply the tier's
//! marking rule, then one durable write. One bad object never fails the rest.

use serde_json::Value;
use serde_json::value::RawValue;

use super::{Exchange, ExchangeError, envelope};
use crate::auth::policy::{self, WriteAccess};
use crate::model::{ObjectId, Timestamp};
use crate::store::{IngestBatch, NewObject, StatusDetail, StatusRecord};

/// What validation decided for one posted object.
pub enum Verdict {
    Accepted(NewObject),
    Refused(StatusDetail),
}

/// What decides an object's admission besides STIX validity.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// STIX identities bound to *other* members (identity id -> member):
    /// an object naming one as `created_by_ref` is refused, since a member may
    /// not publish as someone else. Empty where the operator allows it.
    pub foreign_identities: std::collections::HashMap<String, String>,
}

pub struct IngestRequest<'a> {
    pub access: &'a WriteAccess,
    pub admission: &'a Admission,
    pub fingerprint: Option<&'a str>,
    pub api_root: &'a str,
    /// The request body; owned so it can be freed as soon as the objects are
    /// extracted (a large envelope is not held twice while it is stored).
    pub body: Vec<u8>,
    pub request_timestamp: Timestamp,
}

/// How long a background ingest that met a busy or full database waits
/// before trying again, doubling up to the maximum.
const BACKGROUND_RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(2);
const BACKGROUND_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(60);

impl Exchange {
    pub fn ingest(&self, req: IngestRequest<'_>) -> Result<StatusRecord, ExchangeError> {
        let batch = self.admit(&req)?;
        drop(req.body);
        if batch.accepted.len() > self.settings.background_threshold {
            // Durable before the 202: a crash from here on resumes at start-up.
            let pending = self.store.begin_pending(&batch)?;
            let store = self.store.clone();
            let push = self.push.clone();
            std::thread::spawn(move || {
                let status = batch.status_id.clone();
                let mut wait = BACKGROUND_RETRY_FIRST;
                let mut next = Some(batch);
                while let Some(batch) = next.take() {
                    match store.ingest(batch) {
                        Ok(done) => push.committed(done.collection),
                        // A busy or full database passes: try again, less and
                        // less often, so the envelope completes without a
                        // restart. The payload is read back from the database
                        // rather than kept twice in memory.
                        Err(e) if e.is_transient() => {
                            tracing::warn!(error = %e, %status, retry_in_s = wait.as_secs(), "background ingest waits for the database");
                            std::thread::sleep(wait);
                            wait = (wait * 2).min(BACKGROUND_RETRY_MAX);
                            next = match store.pending_batches() {
                                Ok(pending) => pending.into_iter().find(|b| b.status_id == status),
                                Err(e) => {
                                    tracing::error!(error = %e, %status, "background ingest stopped; the next start resumes it");
                                    None
                                }
                            };
                        }
                        // The payload stays in the database; the next start resumes it.
                        Err(e) => tracing::error!(error = %e, %status, "background ingest failed"),
                    }
                }
                return_freed_memory();
            });
            return Ok(pending);
        }
        let status = self.store.ingest(batch)?;
        self.push.committed(status.collection);
        Ok(status)
    }

    /// Parses the envelope and judges every object into a batch for storage.
    fn admit(&self, req: &IngestRequest<'_>) -> Result<IngestBatch, ExchangeError> {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| ExchangeError::MalformedEnvelope("the body is not UTF-8".into()))?;
        // A TAXII envelope, or a STIX bundle (stix2's `TAXIICollectionSink`
        // sends one) whose other keys are ignored.
        let raws = envelope::objects(text).map_err(ExchangeError::MalformedEnvelope)?;
        let tier = req.access.collection().tier;
        let verdicts = self.judge_all(&raws, tier, req.admission);
        let mut batch = IngestBatch {
            status_id: uuid::Uuid::new_v4().to_string(),
            api_root: req.api_root.to_string(),
            collection: req.access.collection().id,
            member: Some(req.access.member().to_string()),
            fingerprint: req.fingerprint.map(str::to_string),
            request_timestamp: req.request_timestamp,
            accepted: Vec::new(),
            refused: Vec::new(),
        };
        for verdict in verdicts {
            match verdict {
                Verdict::Accepted(o) => batch.accepted.push(o),
                Verdict::Refused(d) => batch.refused.push(d),
            }
        }
        Ok(batch)
    }

    /// Finishes envelopes accepted before a crash or restart.
    pub fn resume_pending(&self) -> Result<usize, ExchangeError> {
        let batches = self.store.pending_batches()?;
        let n = batches.len();
        for batch in batches {
            tracing::info!(status = %batch.status_id, objects = batch.accepted.len(), "resuming a pending ingest");
            let status = self.store.ingest(batch)?;
            self.push.committed(status.collection);
        }
        if n > 0 {
            return_freed_memory();
        }
        Ok(n)
    }

    /// Validates every object; large envelopes are split across cores.
    fn judge_all(
        &self,
        raws: &[&RawValue],
        tier: crate::model::Tier,
        admission: &Admission,
    ) -> Vec<Verdict> {
        const PARALLEL_ABOVE: usize = 2_000;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let judge = |raw: &&RawValue| self.judge_caught(raw, tier, admission);
        if raws.len() <= PARALLEL_ABOVE || threads == 1 {
            return raws.iter().map(judge).collect();
        }
        let chunk = raws.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = raws
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(judge).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                // `judge_caught` does not unwind, so every part comes back.
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    /// `judge`, with a panic in validation refusing only that object (one
    /// log line with an error id the status message repeats).
    fn judge_caught(
        &self,
        raw: &RawValue,
        tier: crate::model::Tier,
        admission: &Admission,
    ) -> Verdict {
        crate::telemetry::catch(|| self.judge(raw, tier, admission)).unwrap_or_else(|panic| {
            let id = uuid::Uuid::new_v4();
            tracing::error!(error_id = %id, %panic, "validating an object panicked");
            refuse(
                &envelope::object_for_naming(raw),
                format!("the server could not validate this object (error id {id})"),
            )
        })
    }

    /// Decides one object: STIX validity, then the collection tier's marking rule.
    pub fn judge(
        &self,
        raw: &RawValue,
        tier: crate::model::Tier,
        admission: &Admission,
    ) -> Verdict {
        let value = match envelope::object(raw) {
            Ok(v) => v,
            Err(e) => return refuse(&envelope::object_for_naming(raw), e.to_string()),
        };
        let Some(object) = value.as_object() else {
            return refuse(&value, "an envelope item must be a JSON object".into());
        };
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            return refuse(&value, "the object has no string `id`".into());
        };
        let Some(object_type) = object.get("type").and_then(Value::as_str) else {
            return refuse(&value, "the object has no string `type`".into());
        };
        if ObjectId::parse(id).is_none() {
            return refuse(&value, format!("`id` '{id}' is not of the form type--UUID"));
        }
        if let Err(violations) = self.validator.validate(&value) {
            return refuse(&value, violations.to_string());
        }
        if let Err(why) = policy::check_marking(&value, tier) {
            return refuse(&value, why);
        }
        if let Some(creator) = object.get("created_by_ref").and_then(Value::as_str)
            && let Some(owner) = admission.foreign_identities.get(creator)
        {
            return refuse(
                &value,
                format!(
                    "created_by_ref {creator} is the identity of member '{owner}'; a member may publish only under its own identity"
                ),
            );
        }
        let version = ["modified", "created"].iter().find_map(|key| {
            let text = object.get(*key)?.as_str()?;
            Some((Timestamp::parse(text).ok()?, text.to_string()))
        });
        let spec_version = object
            .get("spec_version")
            .and_then(Value::as_str)
            .unwrap_or("2.1")
            .to_string();
        Verdict::Accepted(NewObject {
            id: id.to_string(),
            object_type: object_type.to_string(),
            spec_version,
            version,
            body: raw.get().to_string(),
        })
    }
}

/// A status-detail for a refused object, naming it as precisely as it allows.
fn refuse(value: &Value, message: String) -> Verdict {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let version = {
        let modified = text("modified");
        if modified.is_empty() {
            text("created")
        } else {
            modified
        }
    };
    Verdict::Refused(StatusDetail {
        id: text("id"),
        version,
        message: Some(message),
    })
}

/// A large envelope leaves hundreds of MiB of freed small allocations spread
/// over glibc's per-thread arenas, which it keeps rather than returning:
/// after one 100 MiB envelope the server stayed at ~400 MiB RSS. Trimming
/// once the envelope is stored hands that memory back to the system.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is
    // thread-safe and may be called at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
