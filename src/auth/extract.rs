//! `Caller`: the authenticated member behind a request. Synchronous, so it
//! resolves before any body is read.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
use base64::Engine;

use crate::auth::AuthError;
use crate::auth::identity::PeerCertificate;
use crate::auth::registry::{MemberRegistry, Snapshot, token_hash};
use crate::model::Timestamp;
use crate::store::Member;

/// The member behind a request, for the access log.
#[derive(Clone)]
pub struct LoggedMember(pub String);

/// How many objects a request carried or returned, for the access log.
#[derive(Clone, Copy)]
pub struct LoggedObjects(pub usize);

#[derive(Clone)]
pub struct Caller {
    pub member: Member,
    pub fingerprint: Option<String>,
    /// The registry snapshot this request was authorised against, so every
    /// decision within one request agrees.
    pub snapshot: Arc<Snapshot>,
}

impl FromRequest for Caller {
    type Error = AuthError;
    type Future = Ready<Result<Caller, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, AuthError> {
    let registry = req
        .app_data::<web::Data<MemberRegistry>>()
        .expect("MemberRegistry is registered as app data");
    let fingerprint = req
        .conn_data::<PeerCertificate>()
        .map(|p| p.fingerprint.clone());
    let token = if registry.tokens_enabled() {
        bearer_or_basic(req)
    } else {
        None
    };
    let result = resolve(registry, fingerprint.as_deref(), token.as_deref())
        .and_then(|caller| admit(req, caller));
    match &result {
        Ok(caller) => {
            req.extensions_mut()
                .insert(LoggedMember(caller.member.name.clone()));
        }
        Err(AuthError::TooManyRequests { member, limit }) => {
            req.extensions_mut().insert(LoggedMember(member.clone()));
            tracing::debug!(member = %member, limit, "refused a request over the member's limit");
        }
        Err(AuthError::NoCredentials) => {}
        Err(e) => {
            tracing::warn!(
                fingerprint = fingerprint.as_deref().unwrap_or("-"),
                reason = %e,
                "refused a request"
            );
            registry.record_refusal(fingerprint.as_deref(), &e.to_string());
        }
    }
    result
}

/// Counts the request against its member's limit of requests in progress
/// (when one is configured); the permit waits in the request's extensions
/// for the response body to carry it (see `taxii::limits::HeldBody`).
/// Also used by the console for a member signed in with a session.
pub fn admit(req: &HttpRequest, caller: Caller) -> Result<Caller, AuthError> {
    let Some(limits) = req.app_data::<web::Data<MemberLimits>>() else {
        return Ok(caller);
    };
    match limits.enter(&caller.member.name) {
        Ok(Some(permit)) => {
            req.extensions_mut().insert(permit);
            Ok(caller)
        }
        Ok(None) => Ok(caller),
        Err(limit) => Err(AuthError::TooManyRequests {
            member: caller.member.name,
            limit,
        }),
    }
}

fn resolve(
    registry: &MemberRegistry,
    fingerprint: Option<&str>,
    token: Option<&str>,
) -> Result<Caller, AuthError> {
    if fingerprint.is_none() && token.is_none() {
        return Err(AuthError::NoCredentials);
    }
    judge(registry.current()?, fingerprint, token)
}

/// Who the credentials stand for in `snapshot`: the one decision every
/// request makes, also re-made by long-lived responses while they run.
fn judge(
    snapshot: Arc<Snapshot>,
    fingerprint: Option<&str>,
    token: Option<&str>,
) -> Result<Caller, AuthError> {
    let now = Timestamp::now();
    let by_cert = fingerprint
        .map(|fp| snapshot.member_for_certificate(fp, now))
        .transpose()?;
    let by_token = token
        .map(|t| snapshot.member_for_token(&token_hash(t), now))
        .transpose()?;
    let member = match (by_cert, by_token) {
        (Some(a), Some(b)) if a.name != b.name => return Err(AuthError::IdentityMismatch),
        (Some(m), _) | (None, Some(m)) => m.clone(),
        (None, None) => return Err(AuthError::NoCredentials),
    };
    if member.suspended {
        return Err(AuthError::Suspended(member.name));
    }
    Ok(Caller {
        member,
        fingerprint: fingerprint.map(str::to_string),
        snapshot,
    })
}

/// The credentials a request presented, kept by a long-lived response (the
/// push stream) to judge its caller again, against newer snapshots, while it
/// runs: a revoked certificate or token, a suspension, ends it.
#[derive(Clone)]
pub struct Credentials {
    fingerprint: Option<String>,
    token: Option<String>,
}

impl Credentials {
    /// What the request presented, read as the `Caller` extractor reads it.
    pub fn of(req: &HttpRequest) -> Credentials {
        let tokens = req
            .app_data::<web::Data<MemberRegistry>>()
            .is_some_and(|r| r.tokens_enabled());
        Credentials {
            fingerprint: req
                .conn_data::<PeerCertificate>()
                .map(|p| p.fingerprint.clone()),
            token: if tokens { bearer_or_basic(req) } else { None },
        }
    }

    /// The caller now, judged exactly as a new request would be.
    pub fn judge(&self, snapshot: Arc<Snapshot>) -> Result<Caller, AuthError> {
        if self.fingerprint.is_none() && self.token.is_none() {
            return Err(AuthError::NoCredentials);
        }
        judge(snapshot, self.fingerprint.as_deref(), self.token.as_deref())
    }
}

/// The API token from `Authorization: Bearer <t>` or `Basic` (any user name,
/// the token as password). Scheme names are case-insensitive (RFC 7235):
/// MISP sends `basic`.
fn bearer_or_basic(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

/// Requests in progress per member, when limited.
pub struct MemberLimits {
    max: usize,
    active: Arc<Mutex<HashMap<String, usize>>>,
}

/// One request in progress; ends on drop.
pub struct MemberPermit {
    member: String,
    active: Arc<Mutex<HashMap<String, usize>>>,
}

impl MemberLimits {
    /// `max` requests in progress per member; 0 means no limit.
    pub fn new(max: usize) -> MemberLimits {
        MemberLimits {
            max,
            active: Default::default(),
        }
    }

    /// A permit for one more request of `member`, `Ok(None)` when there is
    /// no limit, or `Err(limit)` when the member is at its limit.
    pub fn enter(&self, member: &str) -> Result<Option<MemberPermit>, usize> {
        if self.max == 0 {
            return Ok(None);
        }
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let n = active.entry(member.to_string()).or_default();
        if *n >= self.max {
            return Err(self.max);
        }
        *n += 1;
        Ok(Some(MemberPermit {
            member: member.to_string(),
            active: self.active.clone(),
        }))
    }
}

impl Drop for MemberPermit {
    fn drop(&mut self) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = active.get_mut(&self.member) {
            *n -= 1;
            if *n == 0 {
                active.remove(&self.member);
            }
        }
    }
}
