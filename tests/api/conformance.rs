//! Details other TAXII servers get right and clients rely on: discovery's URLs
//! are absolute (clients that do not resolve relative URLs call them as they
//! are), and every success response carries the TAXII media type.

use breakwater::model::Tier;
use reqwest::header::{ACCEPT, HOST};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn discovery_urls_are_absolute_and_follow_the_host() {
    let app = spawn_app();
    let r = app.operator.get(&format!("{}/taxii2/", app.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let expected = format!("https://localhost:{}/crc/", app.port);
    assert_eq!(r.body["default"], expected);
    assert_eq!(r.body["api_roots"], json!([expected]));
    // The URL it names is one a client can call as it is.
    let root = app.operator.get(&expected).await;
    assert_eq!(root.status, 200, "{}", root.text);
    assert_eq!(root.body["versions"], json!([TAXII]));

    // The name the client used to reach the server is the one it gets back.
    let r = app
        .operator
        .send(
            app.operator
                .http
                .get(format!("{}/taxii2/", app.base()))
                .header(ACCEPT, TAXII)
                .header(HOST, "exchange.port.example:8443"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["default"], "https://exchange.port.example:8443/crc/");
}

#[tokio::test]
async fn a_hostile_host_header_yields_the_listen_address() {
    let app = spawn_app();
    for hostile in [
        "evil.example/phish?x=",
        "user@evil.example",
        "evil.example:99999",
        "<script>alert(1)</script>",
        "[::1",
    ] {
        let r = app
            .operator
            .send(
                app.operator
                    .http
                    .get(format!("{}/taxii2/", app.base()))
                    .header(ACCEPT, TAXII)
                    .header(HOST, hostile),
            )
            .await;
        assert_eq!(r.status, 200, "{hostile}: {}", r.text);
        let expected = format!("https://127.0.0.1:{}/crc/", app.port);
        assert_eq!(r.body["default"], expected, "{hostile}");
        assert_eq!(r.body["api_roots"], json!([expected]), "{hostile}");
    }
}

#[tokio::test]
async fn a_configured_public_url_wins_over_the_host() {
    let app = spawn_app_with(|c| {
        c.public_url = Some("https://exchange.port.example:8443/".into());
    });
    let r = app.operator.get(&format!("{}/taxii2/", app.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["default"], "https://exchange.port.example:8443/crc/");
    assert_eq!(
        r.body["api_roots"],
        json!(["https://exchange.port.example:8443/crc/"])
    );
}

#[tokio::test]
async fn delete_answers_with_the_taxii_media_type() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let object = indicator("to be deleted");
    app.operator.push(&url, vec![object.clone()]).await;
    let r = app
        .operator
        .delete(&format!("{url}{}/", object["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
}
