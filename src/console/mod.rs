//! The read-only web console under `/console/`: server-rendered pages for
//! people (the operator, a member's analysts) beside the TAXII API on the
//! same listener. A page is a guest of `exchange`: it asks `auth::policy`
//! for the same tokens TAXII handlers get and reads only through them.
//!
//! Hardening: templates escape every value (maud); one small script of our
//! own (`live.js`, live updates) and nothing inline, a strict
//! Content-Security-Policy, styles, script and icon embedded in the binary
//! and served from versioned URLs, pages marked `private, no-store`.

mod assets;
mod csv;
mod error;
mod json;
mod layout;
mod live;
mod pages;
mod session;
mod svg;
mod viewer;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use ring::hmac;

pub use error::ConsoleError;
pub use viewer::Viewer;

use crate::exchange::Exchange;

/// Everything `default-src 'none'` forbids stays forbidden except our own
/// stylesheet, images and script (same origin, from the binary; no inline
/// script or handler), connections back to ourselves (the live stream and
/// the page it refreshes), and forms that post to ourselves.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's shared state.
pub struct Console {
    exchange: Exchange,
    session_key: hmac::Key,
}

impl Console {
    /// `secret` is the database's token secret; the session key is derived
    /// from it, so sessions survive restarts and differ from `next` tokens.
    pub fn new(exchange: Exchange, secret: &[u8]) -> Console {
        let parent = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derived = hmac::sign(&parent, b"breakwater console session v1");
        Console {
            exchange,
            session_key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }
}

/// The console's routes, under `/console/`. Pages answer GET only; the two
/// POSTs start and end a token session (a signed cookie; nothing is stored).
pub fn configure(console: web::Data<Console>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let headers = DefaultHeaders::new()
            .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .add((header::REFERRER_POLICY, "no-referrer"))
            .add((header::X_FRAME_OPTIONS, "DENY"))
            .add(("Cross-Origin-Opener-Policy", "same-origin"))
            .add(("Cross-Origin-Resource-Policy", "same-origin"))
            .add((header::CACHE_CONTROL, "private, no-store"));
        cfg.service(
            web::scope("/console")
                .app_data(console)
                // Only the login form posts; its body is one token.
                .app_data(web::PayloadConfig::new(4096))
                .wrap(headers)
                .route("", web::get().to(to_overview))
                .route("/", web::get().to(pages::overview::page))
                .route("/login", web::get().to(session::form))
                .route("/login", web::post().to(session::login))
                .route("/logout", web::post().to(session::logout))
                .route(
                    "/collections/{collection}/",
                    web::get().to(pages::browse::page),
                )
                .route(
                    "/collections/{collection}/objects/{object}/",
                    web::get().to(pages::object::page),
                )
                .route("/submissions/", web::get().to(pages::submissions::list))
                .route(
                    "/submissions/{root}/{status}/",
                    web::get().to(pages::submissions::one),
                )
                .route("/members/", web::get().to(pages::members::page))
                .route("/audit/", web::get().to(pages::audit::page))
                .route("/audit.csv", web::get().to(pages::audit::csv))
                .route("/live", web::get().to(live::stream))
                .route("/assets/{version}/{name}", web::get().to(assets::serve))
                .default_service(web::to(not_found)),
        );
    }
}

async fn to_overview() -> HttpResponse {
    see_other("/console/")
}

async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound("no such page".into()))
}

/// A 303 to another console page.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A rendered page.
pub(crate) fn html(markup: maud::Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// Runs blocking reads (SQLite) off the reactor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ConsoleError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ConsoleError> + Send + 'static,
{
    web::block(f).await?
}
