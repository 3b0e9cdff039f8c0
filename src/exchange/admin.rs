//! Administration shared by the CLI and `init`: collections, members,
//! certificates, grants and tokens. Every change is audited.

use super::{Exchange, ExchangeError};
use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::{
    ApiRoot, AuditEvent, CertificateRecord, Collection, Grant, Grantee, Member, NewCollection,
    NewMember, PurgeReport,
};

/// The actor recorded for changes made from the command line.
pub const OPERATOR_ACTOR: &str = "operator-cli";

impl Exchange {
    fn audit_admin(&self, action: &str, collection: Option<String>, detail: String) {
        self.audit(AuditEvent {
            member: Some(OPERATOR_ACTOR.to_string()),
            collection,
            detail: Some(detail),
            ..AuditEvent::now(action, "ok")
        });
    }

    pub fn ensure_api_root(&self, root: ApiRoot) -> Result<(), ExchangeError> {
        self.store.upsert_api_root(root)?;
        Ok(())
    }

    pub fn create_collection(&self, new: NewCollection) -> Result<Collection, ExchangeError> {
        if !self
            .store
            .api_roots()?
            .iter()
            .any(|r| r.name == new.api_root)
        {
            return Err(ExchangeError::NotFound(format!(
                "API root '{}'",
                new.api_root
            )));
        }
        if let Some(alias) = &new.alias
            && CollectionId::parse(alias).is_some()
        {
            return Err(ExchangeError::Invalid(
                "an alias may not look like a collection id".into(),
            ));
        }
        let c = self.store.create_collection(new)?;
        self.audit_admin(
            "collection-create",
            Some(c.id.to_string()),
            format!("{} ({})", c.title, c.tier),
        );
        Ok(c)
    }

    /// Deletes a collection. Members stop seeing it at once (its grants go
    /// with it); its objects are then removed in short transactions, so the
    /// server keeps storing other collections' envelopes meanwhile. If this
    /// process stops half-way, the collection stays deleted and the rest of
    /// its objects are removed by the next `housekeeping` or deletion.
    pub fn delete_collection(&self, id: CollectionId) -> Result<PurgeReport, ExchangeError> {
        let c = self
            .store
            .collection(id)?
            .ok_or_else(|| ExchangeError::NotFound(format!("collection {id}")))?;
        self.store.delete_collection(id)?;
        self.audit_admin(
            "collection-delete",
            Some(id.to_string()),
            format!("{} ({})", c.title, c.tier),
        );
        Ok(self.store.purge_deleted_collections()?)
    }

    /// The server's periodic upkeep (at start, then every few minutes):
    /// finishes deleting collections whose deletion was interrupted, and
    /// drops statuses past their retention.
    pub fn housekeeping(&self, now: Timestamp) -> Result<(), ExchangeError> {
        let purged = self.store.purge_deleted_collections().inspect_err(|e| {
            tracing::warn!(error = %e, "deleting collections stopped; the next run goes on");
        })?;
        if purged.collections > 0 {
            tracing::info!(
                collections = purged.collections,
                objects = purged.objects,
                "finished deleting collections"
            );
        }
        self.purge_statuses(now).inspect_err(|e| {
            tracing::warn!(error = %e, "purging expired statuses stopped; the next run goes on");
        })?;
        Ok(())
    }

    pub fn find_collection(&self, id_or_alias: &str) -> Result<Collection, ExchangeError> {
        let all = self.store.collections()?;
        let parsed = CollectionId::parse(id_or_alias);
        all.into_iter()
            .find(|c| Some(c.id) == parsed || c.alias.as_deref() == Some(id_or_alias))
            .ok_or_else(|| ExchangeError::NotFound(format!("collection '{id_or_alias}'")))
    }

    pub fn add_member(&self, new: NewMember) -> Result<Member, ExchangeError> {
        if new.name.trim().is_empty() || new.name.chars().any(|c| c.is_control() || c == '/') {
            return Err(ExchangeError::Invalid(format!(
                "'{}' is not a usable member name",
                new.name
            )));
        }
        let m = self.store.create_member(new)?;
        self.audit_admin(
            "member-add",
            None,
            format!("{} ({}, clearance {})", m.name, m.sector, m.clearance),
        );
        Ok(m)
    }

    pub fn member(&self, name: &str) -> Result<Member, ExchangeError> {
        self.store
            .members()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ExchangeError::NotFound(format!("member '{name}'")))
    }

    pub fn register_certificate(
        &self,
        member: &str,
        info: &crate::certs::CertInfo,
    ) -> Result<CertificateRecord, ExchangeError> {
        let record = CertificateRecord {
            member: member.to_string(),
            fingerprint: info.fingerprint.clone(),
            serial: info.serial_hex.clone(),
            subject: info.subject_cn.clone(),
            not_before: Timestamp::from_datetime(info.not_before),
            not_after: Timestamp::from_datetime(info.not_after),
            revoked_at: None,
            added: Timestamp::now(),
        };
        self.store.add_certificate(record.clone())?;
        self.audit_admin(
            "certificate-add",
            None,
            format!("{member}: {}", info.fingerprint),
        );
        Ok(record)
    }

    pub fn revoke_certificate(
        &self,
        fingerprint: &str,
    ) -> Result<CertificateRecord, ExchangeError> {
        let record = self
            .store
            .revoke_certificate(fingerprint, Timestamp::now())?;
        self.audit_admin(
            "certificate-revoke",
            None,
            format!("{}: {}", record.member, record.fingerprint),
        );
        Ok(record)
    }

    /// Grants rights on a collection. A grant above the member's clearance is
    /// refused: clearance is the highest tier a member may ever read.
    pub fn grant(&self, grant: Grant) -> Result<(), ExchangeError> {
        let collection = self
            .store
            .collection(grant.collection)?
            .ok_or_else(|| ExchangeError::NotFound(format!("collection {}", grant.collection)))?;
        if let Grantee::Member(name) = &grant.grantee {
            let member = self.member(name)?;
            if collection.tier > member.clearance {
                return Err(ExchangeError::Invalid(format!(
                    "member '{}' is cleared up to {} but collection '{}' is {}; raise the clearance first",
                    member.name,
                    member.clearance.label(),
                    collection.title,
                    collection.tier.label()
                )));
            }
        }
        let access = match (grant.read, grant.write) {
            (true, true) => "read and write",
            (true, false) => "read",
            (false, true) => "write",
            (false, false) => "nothing",
        };
        let detail = format!("{}: {access}", grant.grantee);
        self.store.set_grant(grant.clone())?;
        self.audit_admin("grant-set", Some(grant.collection.to_string()), detail);
        Ok(())
    }

    pub fn default_collections(&self, api_root: &str) -> Result<Vec<Collection>, ExchangeError> {
        let existing = self.store.collections()?;
        let mut out = Vec::new();
        for tier in Tier::ALL {
            let alias = format!("tlp-{}", tier.slug());
            if let Some(c) = existing
                .iter()
                .find(|c| c.api_root == api_root && c.alias.as_deref() == Some(&alias))
            {
                out.push(c.clone());
                continue;
            }
            out.push(self.create_collection(NewCollection {
                api_root: api_root.to_string(),
                alias: Some(alias),
                title: format!("{} sharing", tier.label()),
                description: Some(format!("Objects shared at {}.", tier.label())),
                tier,
            })?);
        }
        Ok(out)
    }
}

/// A member update in words for the audit log ("clearance amber, suspended").
fn describe_update(u: &crate::store::MemberUpdate) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &u.sector {
        parts.push(format!("sector {s}"));
    }
    if let Some(c) = u.clearance {
        parts.push(format!("clearance {c}"));
    }
    if let Some(c) = &u.contact {
        parts.push(format!("contact {}", c.as_deref().unwrap_or("removed")));
    }
    if let Some(i) = &u.identity_ref {
        parts.push(format!("identity {}", i.as_deref().unwrap_or("removed")));
    }
    match u.suspended {
        Some(true) => parts.push("suspended".into()),
        Some(false) => parts.push("resumed".into()),
        None => {}
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join(", ")
    }
}

impl Exchange {
    pub fn update_member(
        &self,
        name: &str,
        update: crate::store::MemberUpdate,
    ) -> Result<Member, ExchangeError> {
        let detail = describe_update(&update);
        let m = self.store.update_member(name, update)?;
        self.audit_admin("member-update", None, format!("{name}: {detail}"));
        Ok(m)
    }

    /// Removes a member, its certificates, tokens and grants. Its audit
    /// history stays: the log names members, it does not reference them.
    pub fn remove_member(&self, name: &str) -> Result<(), ExchangeError> {
        let m = self.member(name)?;
        if m.is_operator
            && self
                .store
                .members()?
                .iter()
                .filter(|x| x.is_operator)
                .count()
                == 1
        {
            return Err(ExchangeError::Invalid(
                "the last operator cannot be removed".into(),
            ));
        }
        self.store.delete_member(name)?;
        self.audit_admin("member-remove", None, name.to_string());
        Ok(())
    }

    pub fn remove_grant(
        &self,
        collection: CollectionId,
        grantee: &Grantee,
    ) -> Result<(), ExchangeError> {
        self.store.remove_grant(collection, grantee)?;
        self.audit_admin(
            "grant-remove",
            Some(collection.to_string()),
            grantee.to_string(),
        );
        Ok(())
    }

    /// Issues an API token for a member: returns the secret, shown once; only
    /// its SHA-256 is stored.
    pub fn issue_token(
        &self,
        member: &str,
        expires: Option<Timestamp>,
    ) -> Result<(crate::store::TokenRecord, String), ExchangeError> {
        use base64::Engine;
        use ring::rand::SecureRandom;
        self.member(member)?;
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| ExchangeError::Invalid("no system randomness available".into()))?;
        let secret = format!(
            "bw_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let record = crate::store::TokenRecord {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            member: member.to_string(),
            hash: crate::auth::registry::token_hash(&secret),
            created: Timestamp::now(),
            expires,
            revoked_at: None,
        };
        self.store.add_token(record.clone())?;
        self.audit_admin(
            "token-issue",
            None,
            format!("{member}: token {}", record.id),
        );
        Ok((record, secret))
    }

    pub fn revoke_token(&self, id: &str) -> Result<(), ExchangeError> {
        self.store.revoke_token(id, Timestamp::now())?;
        self.audit_admin("token-revoke", None, id.to_string());
        Ok(())
    }
}
