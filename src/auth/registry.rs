//! An in-memory snapshot of members, certificates, grants and tokens,
//! reloaded whenever the database's auth revision moves. The revision is
//! checked on every request, so a revocation or suspension made by the CLI
//! (another process) bites on the next request, keep-alive connections
//! included, without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::auth::AuthError;
use crate::auth::policy::{self, Rights};
use crate::model::{CollectionId, Timestamp};
use crate::store::{AuthData, Collection, Member, Store};

pub struct Snapshot {
    pub revision: i64,
    data: AuthData,
    certs: HashMap<String, usize>,
    tokens: HashMap<String, usize>,
    members: HashMap<String, usize>,
}

impl Snapshot {
    fn new(data: AuthData) -> Snapshot {
        let certs = data
            .certificates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.fingerprint.clone(), i))
            .collect();
        let tokens = data
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.hash.clone(), i))
            .collect();
        let members = data
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        Snapshot {
            revision: data.revision,
            data,
            certs,
            tokens,
            members,
        }
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name).map(|&i| &self.data.members[i])
    }

    /// Identities bound to members other than `member` (identity -> owner).
    pub fn foreign_identities(&self, member: &str) -> HashMap<String, String> {
        self.data
            .members
            .iter()
            .filter(|m| m.name != member)
            .filter_map(|m| Some((m.identity_ref.clone()?, m.name.clone())))
            .collect()
    }

    pub fn api_roots(&self) -> &[crate::store::ApiRoot] {
        &self.data.api_roots
    }

    pub fn collections(&self) -> &[Collection] {
        &self.data.collections
    }

    pub fn collection(&self, id: CollectionId) -> Option<&Collection> {
        self.data.collections.iter().find(|c| c.id == id)
    }

    pub fn rights(&self, member: &Member, collection: &Collection) -> Rights {
        policy::rights(member, collection, &self.data.grants)
    }

    /// The member a certificate belongs to, if it is registered, unrevoked and
    /// within its validity period at `now`.
    pub fn member_for_certificate(
        &self,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<&Member, AuthError> {
        let cert = self
            .certs
            .get(fingerprint)
            .map(|&i| &self.data.certificates[i])
            .ok_or_else(|| AuthError::UnknownCertificate {
                fingerprint: fingerprint.to_string(),
            })?;
        if cert.revoked_at.is_some() {
            return Err(AuthError::Revoked {
                fingerprint: fingerprint.to_string(),
            });
        }
        if now < cert.not_before || now > cert.not_after {
            return Err(AuthError::Expired {
                fingerprint: fingerprint.to_string(),
            });
        }
        self.member(&cert.member)
            .ok_or_else(|| AuthError::UnknownCertificate {
                fingerprint: fingerprint.to_string(),
            })
    }

    /// The member a certificate is (or was) registered to, revoked or not.
    pub fn certificate_owner(&self, fingerprint: &str) -> Option<&str> {
        self.certs
            .get(fingerprint)
            .map(|&i| self.data.certificates[i].member.as_str())
    }

    pub fn member_for_token(&self, token_hash: &str, now: Timestamp) -> Result<&Member, AuthError> {
        let token = self
            .tokens
            .get(token_hash)
            .map(|&i| &self.data.tokens[i])
            .ok_or(AuthError::BadToken)?;
        if token.revoked_at.is_some() || token.expires.is_some_and(|e| now > e) {
            return Err(AuthError::BadToken);
        }
        self.member(&token.member).ok_or(AuthError::BadToken)
    }
}

pub struct MemberRegistry {
    store: Arc<dyn Store>,
    snapshot: RwLock<Arc<Snapshot>>,
    tokens_enabled: bool,
}

impl MemberRegistry {
    pub fn new(store: Arc<dyn Store>, tokens_enabled: bool) -> Result<MemberRegistry, AuthError> {
        let snapshot = Snapshot::new(store.auth_data()?);
        Ok(MemberRegistry {
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
            tokens_enabled,
        })
    }

    /// Records a refused request in the audit log (queued), under the member
    /// the certificate was registered to when there is one (a revoked or
    /// expired certificate still names its owner), so `audit --member`
    /// shows it.
    pub fn record_refusal(&self, fingerprint: Option<&str>, reason: &str) {
        let owner = fingerprint.and_then(|fp| {
            let snapshot = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
            snapshot.certificate_owner(fp).map(str::to_string)
        });
        let event = crate::store::AuditEvent {
            member: owner,
            fingerprint: fingerprint.map(str::to_string),
            detail: Some(reason.to_string()),
            ..crate::store::AuditEvent::now("authenticate", "refused")
        };
        if let Err(e) = self.store.queue_audit(event) {
            tracing::error!(error = %e, "could not queue an audit event");
        }
    }

    pub fn tokens_enabled(&self) -> bool {
        self.tokens_enabled
    }

    /// The current snapshot, reloaded first if anything changed in the database.
    pub fn current(&self) -> Result<Arc<Snapshot>, AuthError> {
        let revision = self.store.auth_revision()?;
        {
            let snap = self.snapshot.read().unwrap_or_else(|p| p.into_inner());
            if snap.revision == revision {
                return Ok(snap.clone());
            }
        }
        let fresh = Arc::new(Snapshot::new(self.store.auth_data()?));
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

/// API tokens are stored only as their SHA-256.
pub fn token_hash(secret: &str) -> String {
    crate::auth::identity::fingerprint(secret.as_bytes())
}
