//! The console's stylesheet, script and icon, compiled into the binary (no CDN: the
//! console works on an air-gapped network). They are served under a
//! versioned path that changes whenever their bytes do, so browsers may
//! cache them for a year; pages themselves are never cached.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::ConsoleError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/console.css"),
    },
    Asset {
        name: "live.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/live.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("assets/icon.svg"),
    },
];

/// The first 16 hex digits of the SHA-256 of every asset.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for asset in ASSETS {
        ctx.update(asset.name.as_bytes());
        ctx.update(asset.bytes);
    }
    ctx.finish().as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// The URL of an embedded asset.
pub fn url(name: &str) -> String {
    format!("/console/assets/{}/{name}", *VERSION)
}

pub async fn serve(path: web::Path<(String, String)>) -> Result<HttpResponse, ConsoleError> {
    let (version, name) = path.into_inner();
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name && version == *VERSION)
        .ok_or_else(|| ConsoleError::NotFound(format!("asset {name}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.bytes))
}
