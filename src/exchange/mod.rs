//! Domain services shared by the HTTP layer and the CLI: ingest, query and
//! administration. Knows STIX, policy and the store trait; nothing of HTTP.

pub mod admin;
pub mod console;
pub mod envelope;
mod error;
pub mod ingest;
pub mod push;

use std::sync::Arc;

pub use error::ExchangeError;

use crate::auth::policy::{ReadAccess, WriteAccess};
use crate::model::Timestamp;
use crate::stix::Validator;
use crate::store::{AuditEvent, Cursor, ObjectFilter, Page, StatusRecord, Store, StoredObject};

#[derive(Debug, Clone)]
pub struct Settings {
    /// Envelopes with more objects than this are stored in the background;
    /// the POST answers at once with a `pending` status.
    pub background_threshold: usize,
    /// How long a completed status stays retrievable.
    pub status_retention: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            background_threshold: 10_000,
            status_retention: chrono::Duration::hours(24),
        }
    }
}

#[derive(Clone)]
pub struct Exchange {
    store: Arc<dyn Store>,
    validator: Arc<Validator>,
    settings: Settings,
    push: push::Hub,
}

impl Exchange {
    pub fn new(store: Arc<dyn Store>, validator: Arc<Validator>, settings: Settings) -> Exchange {
        Exchange {
            store,
            validator,
            settings,
            push: push::Hub::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn list_objects(
        &self,
        access: &ReadAccess,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<StoredObject>, ExchangeError> {
        Ok(self
            .store
            .list_objects(access.collection().id, filter, after, limit, true)?)
    }

    pub fn manifest(
        &self,
        access: &ReadAccess,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<StoredObject>, ExchangeError> {
        Ok(self
            .store
            .list_objects(access.collection().id, filter, after, limit, false)?)
    }

    /// One object's versions matching `filter`; `NotFound` if the object is
    /// not in the collection at all.
    pub fn get_object(
        &self,
        access: &ReadAccess,
        object_id: &str,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<StoredObject>, ExchangeError> {
        let mut filter = filter.clone();
        filter.ids = vec![object_id.to_string()];
        let page = self
            .store
            .list_objects(access.collection().id, &filter, after, limit, true)?;
        if page.items.is_empty()
            && after.is_none()
            && !self
                .store
                .object_exists(access.collection().id, object_id)?
        {
            return Err(ExchangeError::NotFound(format!("object {object_id}")));
        }
        Ok(page)
    }

    pub fn versions(
        &self,
        access: &ReadAccess,
        object_id: &str,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<StoredObject>, ExchangeError> {
        if !self
            .store
            .object_exists(access.collection().id, object_id)?
        {
            return Err(ExchangeError::NotFound(format!("object {object_id}")));
        }
        Ok(self
            .store
            .list_versions(access.collection().id, object_id, filter, after, limit)?)
    }

    pub fn delete_object(
        &self,
        access: &WriteAccess,
        fingerprint: Option<&str>,
        object_id: &str,
        filter: &ObjectFilter,
    ) -> Result<usize, ExchangeError> {
        let removed = self
            .store
            .delete_object(access.collection().id, object_id, filter)?;
        self.audit(AuditEvent {
            member: Some(access.member().to_string()),
            fingerprint: fingerprint.map(str::to_string),
            collection: Some(access.collection().id.to_string()),
            objects: Some(removed as u64),
            detail: Some(object_id.to_string()),
            ..AuditEvent::now("delete", if removed > 0 { "ok" } else { "not-found" })
        });
        if removed == 0 {
            return Err(ExchangeError::NotFound(format!("object {object_id}")));
        }
        Ok(removed)
    }

    /// A status, if it exists, is not expired, and belongs to this member's
    /// request (statuses are not shared between members).
    pub fn status(
        &self,
        member: &crate::store::Member,
        api_root: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<StatusRecord, ExchangeError> {
        let not_found = || ExchangeError::NotFound(format!("status {id}"));
        let status = self.store.status(id)?.ok_or_else(not_found)?;
        let expired = status.completed.is_some_and(|done| {
            now.to_datetime() - done.to_datetime() > self.settings.status_retention
        });
        let owner_ok = member.is_operator || status.member.as_deref() == Some(member.name.as_str());
        if expired || status.api_root != api_root || !owner_ok {
            return Err(not_found());
        }
        Ok(status)
    }

    /// Drops statuses past their retention; run periodically by the server.
    pub fn purge_statuses(&self, now: Timestamp) -> Result<usize, ExchangeError> {
        let cutoff = Timestamp::from_datetime(now.to_datetime() - self.settings.status_retention);
        Ok(self.store.purge_statuses(cutoff)?)
    }

    /// Queues an audit event for reads and refusals; it is committed with
    /// the next write transaction instead of costing a commit of its own.
    pub fn audit_queued(&self, event: AuditEvent) {
        if let Err(e) = self.store.queue_audit(event) {
            tracing::error!(error = %e, "could not queue an audit event");
        }
    }

    /// Records an event in the audit log durably. Failing to audit is logged,
    /// never turned into a failed request the caller could retry into duplicates.
    pub fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.store.append_audit(event) {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
}
