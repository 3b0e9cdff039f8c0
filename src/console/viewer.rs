//! `Viewer`: who is looking, by the same client certificate TAXII checks
//! (or a token session where tokens are on), and what the policy lets them see.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::{Console, ConsoleError, session};
use crate::auth::extract::{Credentials, LoggedMember, admit};
use crate::auth::policy::{self, Denied, OperatorAccess, ReadAccess};
use crate::auth::registry::Snapshot;
use crate::auth::{AuthError, Caller, MemberRegistry};
use crate::exchange::console::Scope;
use crate::model::{CollectionId, Timestamp};
use crate::store::{AuditEvent, Member};

pub struct Viewer {
    pub caller: Caller,
    /// Signed in with an API token (so the page offers to sign out).
    pub session: bool,
}

impl FromRequest for Viewer {
    type Error = ConsoleError;
    type Future = Ready<Result<Viewer, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(resolve(req))
    }
}

fn resolve(req: &HttpRequest) -> Result<Viewer, ConsoleError> {
    match Caller::extract(req).into_inner() {
        Ok(caller) => Ok(Viewer {
            caller,
            session: false,
        }),
        Err(AuthError::NoCredentials) => from_session(req),
        Err(AuthError::Store(e)) => Err(ConsoleError::internal(&e)),
        Err(busy @ AuthError::TooManyRequests { .. }) => Err(too_many(&busy)),
        Err(refused) => Err(ConsoleError::Refused(refused.to_string())),
    }
}

/// The member behind a session cookie, checked against the registry on
/// every request: a revoked or expired token, or a suspension, ends it.
fn from_session(req: &HttpRequest) -> Result<Viewer, ConsoleError> {
    let registry = req
        .app_data::<web::Data<MemberRegistry>>()
        .ok_or_else(|| ConsoleError::internal(&"no member registry"))?;
    let tokens = registry.tokens_enabled();
    let unauthenticated = ConsoleError::Unauthenticated { tokens };
    let console = req
        .app_data::<web::Data<Console>>()
        .ok_or_else(|| ConsoleError::internal(&"no console state"))?;
    if !tokens {
        return Err(unauthenticated);
    }
    let now = Timestamp::now();
    let Some(token_hash) = session::verify(req, &console.session_key, now) else {
        return Err(unauthenticated);
    };
    let snapshot = registry.current().map_err(|e| ConsoleError::internal(&e))?;
    let member = match snapshot.member_for_token(&token_hash, now) {
        Ok(m) => m.clone(),
        Err(_) => return Err(unauthenticated),
    };
    if member.suspended {
        return Err(ConsoleError::Refused(
            AuthError::Suspended(member.name).to_string(),
        ));
    }
    req.extensions_mut()
        .insert(LoggedMember(member.name.clone()));
    // A session counts against the member's limit of requests in progress,
    // as its certificate would.
    let caller = admit(
        req,
        Caller {
            member,
            fingerprint: None,
            snapshot,
        },
    )
    .map_err(|e| too_many(&e))?;
    Ok(Viewer {
        caller,
        session: true,
    })
}

fn too_many(e: &AuthError) -> ConsoleError {
    ConsoleError::Unavailable {
        status: actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        retry_after: 1,
        message: e.to_string(),
    }
}

impl Viewer {
    pub fn member(&self) -> &Member {
        &self.caller.member
    }

    pub fn operator(&self) -> Option<OperatorAccess> {
        policy::operator_access(&self.caller.member).ok()
    }

    /// Operator pages do not exist for anyone else.
    pub fn require_operator(&self) -> Result<OperatorAccess, ConsoleError> {
        policy::operator_access(&self.caller.member)
            .map_err(|_| ConsoleError::NotFound("no such page".into()))
    }

    /// A read token for every collection the policy lets this member read,
    /// by tier then title.
    pub fn reads(&self) -> Vec<ReadAccess> {
        reads(&self.caller.snapshot, &self.caller.member)
    }

    /// The read token for one collection, or what TAXII would answer: 404
    /// for a collection this member may not know, 403 for one it may only
    /// write. Refusals are audited.
    pub fn read(&self, console: &Console, id: &str) -> Result<ReadAccess, ConsoleError> {
        let not_found = || ConsoleError::NotFound(format!("collection '{id}'"));
        let parsed = CollectionId::parse(id).ok_or_else(not_found)?;
        let collection = self
            .caller
            .snapshot
            .collection(parsed)
            .ok_or_else(not_found)?;
        let rights = self.caller.snapshot.rights(&self.caller.member, collection);
        policy::read_access(&self.caller.member, collection, rights).map_err(|denied| {
            console.exchange.audit_queued(AuditEvent {
                member: Some(self.caller.member.name.clone()),
                fingerprint: self.caller.fingerprint.clone(),
                collection: Some(collection.id.to_string()),
                detail: Some(format!("console: {denied:?}")),
                ..AuditEvent::now("read", "refused")
            });
            match denied {
                Denied::Hidden => not_found(),
                Denied::Forbidden => ConsoleError::Forbidden(
                    "you may write to this collection but not read it".into(),
                ),
            }
        })
    }

    pub fn scope<'a>(
        &'a self,
        operator: Option<&'a OperatorAccess>,
        reads: &'a [ReadAccess],
    ) -> Scope<'a> {
        match operator {
            Some(op) => Scope::Operator(op),
            None => Scope::Member {
                member: &self.caller.member,
                reads,
            },
        }
    }

    /// Records what the console showed from a collection (queued, like polls).
    pub fn audit_view(&self, console: &Console, access: &ReadAccess, objects: usize, what: &str) {
        console.exchange.audit_queued(AuditEvent {
            member: Some(self.caller.member.name.clone()),
            fingerprint: self.caller.fingerprint.clone(),
            collection: Some(access.collection().id.to_string()),
            objects: Some(objects as u64),
            detail: Some(what.to_string()),
            ..AuditEvent::now("console-view", "ok")
        });
    }
}

/// A read token for every collection the policy lets `member` read in
/// `snapshot`, by tier then title.
pub fn reads(snapshot: &Snapshot, member: &Member) -> Vec<ReadAccess> {
    let mut collections: Vec<_> = snapshot.collections().to_vec();
    collections.sort_by(|a, b| (a.tier, &a.title).cmp(&(b.tier, &b.title)));
    collections
        .iter()
        .filter_map(|c| policy::read_access(member, c, snapshot.rights(member, c)).ok())
        .collect()
}

/// The viewer of a long-lived response (the live page stream), judged again
/// against `snapshot` exactly as a new page request would be: a revoked
/// certificate or token, an expired session or a suspension refuses it.
/// Counts nothing against the member's request limit.
pub fn judge_again(
    req: &HttpRequest,
    console: &Console,
    snapshot: Arc<Snapshot>,
) -> Option<Member> {
    match Credentials::of(req).judge(snapshot.clone()) {
        Ok(caller) => Some(caller.member),
        Err(AuthError::NoCredentials) => {
            let now = Timestamp::now();
            let token_hash = session::verify(req, &console.session_key, now)?;
            let member = snapshot.member_for_token(&token_hash, now).ok()?;
            (!member.suspended).then(|| member.clone())
        }
        Err(_) => None,
    }
}
