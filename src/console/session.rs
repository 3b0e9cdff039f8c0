//! Token sessions, for people whose browser cannot present the member's
//! certificate, where API tokens are on. The login form posts the token (it
//! never travels in a URL); the answer is a cookie holding an expiry and the
//! token's SHA-256, signed with a key derived from the database's secret.
//! Nothing is stored: every request re-checks the token in the registry, so
//! revoking the token or suspending the member ends the session at once.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::html;
use ring::hmac;
use serde::Deserialize;

use super::{Console, ConsoleError, html, layout};
use crate::auth::MemberRegistry;
use crate::auth::registry::token_hash;
use crate::model::Timestamp;
use crate::store::AuditEvent;

/// `__Host-`: the browser keeps it only if Secure, host-only and for `/`.
pub const COOKIE: &str = "__Host-breakwater-console";
/// How long a session lasts.
const LIFETIME_SECONDS: i64 = 8 * 3600;
const VERSION: &str = "1";

fn tag_input(expires: i64, hash: &str) -> String {
    format!("{VERSION}.{expires}.{hash}")
}

/// The cookie value for a token's hash, valid until `expires` (seconds).
pub fn issue(key: &hmac::Key, hash: &str, expires: i64) -> String {
    let input = tag_input(expires, hash);
    let tag = hmac::sign(key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The token hash a cookie value vouches for, if its tag is ours and it has
/// not expired.
pub fn check(key: &hmac::Key, value: &str, now: Timestamp) -> Option<String> {
    let mut parts = value.splitn(4, '.');
    let (version, expires, hash, tag) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != VERSION || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    hmac::verify(key, tag_input(expires, hash).as_bytes(), &tag).ok()?;
    (now.micros() / 1_000_000 < expires).then(|| hash.to_string())
}

/// The session cookie's value among the request's cookies.
fn cookie_value(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

pub fn verify(req: &HttpRequest, key: &hmac::Key, now: Timestamp) -> Option<String> {
    check(key, cookie_value(req)?, now)
}

/// A `Set-Cookie` value; `value` is base64url, digits, hex and dots only.
fn set_cookie(value: &str, max_age: i64) -> String {
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict")
}

fn tokens_enabled(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<MemberRegistry>>()
        .is_some_and(|r| r.tokens_enabled())
}

fn form_page(message: Option<&str>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in with an API token" }
            p { "Members normally open the console with their client certificate. \
                 Where the operator has turned API tokens on, a token works too." }
            @if let Some(message) = message { p.error { (message) } }
            form.login method="post" action="/console/login" {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="off" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub async fn form(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    if !tokens_enabled(&req) {
        return Err(ConsoleError::Unauthenticated { tokens: false });
    }
    Ok(html(form_page(None)))
}

/// A form post must come from our own pages: browsers say where a request
/// comes from (`Origin`, `Sec-Fetch-Site`); a cross-site post is refused so
/// no other site can sign a visitor into its own session.
fn same_origin(req: &HttpRequest) -> bool {
    let header_value = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header_value("sec-fetch-site")
        && site != "same-origin"
    {
        return false;
    }
    match header_value("origin") {
        None => true,
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("https://{}", info.host())
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

pub async fn login(
    req: HttpRequest,
    body: web::Bytes,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    if !tokens_enabled(&req) {
        return Err(ConsoleError::Unauthenticated { tokens: false });
    }
    if !same_origin(&req) {
        return Err(ConsoleError::Forbidden(
            "sign-in is only accepted from the console's own form".into(),
        ));
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ConsoleError::BadRequest("the form needs a `token` field".into()))?;
    let registry = req
        .app_data::<web::Data<MemberRegistry>>()
        .ok_or_else(|| ConsoleError::internal(&"no member registry"))?;
    let snapshot = registry.current().map_err(|e| ConsoleError::internal(&e))?;
    let now = Timestamp::now();
    let hash = token_hash(form.token.trim());
    let member = snapshot
        .member_for_token(&hash, now)
        .ok()
        .filter(|m| !m.suspended)
        .cloned();
    let Some(member) = member else {
        console.exchange.audit_queued(AuditEvent {
            detail: Some("console sign-in with an unknown, expired or revoked token".into()),
            ..AuditEvent::now("console-login", "refused")
        });
        let page = form_page(Some("That token is unknown, expired or revoked."));
        return Ok(HttpResponse::Unauthorized()
            .content_type("text/html; charset=utf-8")
            .body(page.into_string()));
    };
    console.exchange.audit_queued(AuditEvent {
        member: Some(member.name.clone()),
        ..AuditEvent::now("console-login", "ok")
    });
    let expires = now.micros() / 1_000_000 + LIFETIME_SECONDS;
    let value = issue(&console.session_key, &hash, expires);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .insert_header((header::SET_COOKIE, set_cookie(&value, LIFETIME_SECONDS)))
        .finish())
}

pub async fn logout(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    if !same_origin(&req) {
        return Err(ConsoleError::Forbidden(
            "sign-out is only accepted from the console's own form".into(),
        ));
    }
    let location = if tokens_enabled(&req) {
        "/console/login"
    } else {
        "/console/"
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::SET_COOKIE, set_cookie("", 0)))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: &[u8]) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, seed)
    }

    const HASH: &str = "a3f1c9e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6";

    #[test]
    fn a_cookie_is_good_until_it_expires_and_only_with_our_key() {
        let k = key(b"one");
        let now = Timestamp::from_micros(1_000 * 1_000_000);
        let value = issue(&k, HASH, 2_000);
        assert_eq!(check(&k, &value, now).as_deref(), Some(HASH));
        assert_eq!(
            check(&k, &value, Timestamp::from_micros(2_000 * 1_000_000)),
            None
        );
        assert_eq!(check(&key(b"two"), &value, now), None);
    }

    #[test]
    fn tampered_or_malformed_cookies_are_refused() {
        let k = key(b"one");
        let now = Timestamp::from_micros(0);
        let value = issue(&k, HASH, 10);
        // A later expiry with the old tag.
        let longer = value.replacen(".10.", ".99999999999.", 1);
        assert_eq!(check(&k, &longer, now), None);
        // Another token's hash with the old tag.
        let other = value.replacen(HASH, &HASH.replace('a', "b"), 1);
        assert_eq!(check(&k, &other, now), None);
        for bad in [
            "",
            "1",
            "1.10",
            "1.10.abc.def",
            "2.10.x.y",
            &value[..value.len() - 2],
        ] {
            assert_eq!(check(&k, bad, now), None, "{bad}");
        }
    }
}
