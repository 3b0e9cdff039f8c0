//! The request shapes real TAXII clients send (SPEC-NOTES §5): taxii2-client,
//! python-stix2, OpenCTI and MISP must all be served as they are.

use breakwater::model::Tier;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::json;

use crate::errors::assert_taxii_error;
use crate::helpers::*;

/// taxii2-client's check: every `;`-token of the Accept it sent (spaces
/// stripped) appears in the response Content-Type, whose first token is
/// `application/taxii+json`.
fn taxii2_client_accepts(accept: &str, content_type: &str) -> bool {
    let tokens: Vec<String> = content_type
        .split(';')
        .map(|t| t.replace(' ', ""))
        .collect();
    tokens.first().map(String::as_str) == Some("application/taxii+json")
        && accept
            .split(';')
            .map(|t| t.replace(' ', ""))
            .all(|t| tokens.contains(&t))
}

async fn get_with(client: &Client, url: &str, accept: &str) -> Response {
    client
        .send(client.http.get(url).header(ACCEPT, accept))
        .await
}

#[tokio::test]
async fn lenient_accept_headers_are_served_as_taxii_21() {
    let app = spawn_app();
    let green = app.collection(Tier::Green);
    let objects = app.objects_url(Tier::Green);
    app.operator
        .push(&objects, vec![indicator("accept variants")])
        .await;
    let urls = [
        format!("{}/taxii2/", app.base()),
        app.api_root(),
        format!("{}collections/", app.api_root()),
        format!("{}collections/{green}/", app.api_root()),
        format!("{}collections/{green}/manifest/", app.api_root()),
        objects.clone(),
    ];
    for accept in [
        "application/taxii+json;version=2.1",
        "application/taxii+json; version=2.1",
        "application/json, application/taxii+json;version=2.1",
        "application/json , application/taxii+json; version=2.1",
        "application/taxii+json;version=2.1;q=0.9, application/json;q=0.1",
        "text/html;q=0.9, application/taxii+json;q=0.5",
        "*/*",
        "application/*",
        "application/taxii+json",
        "application/taxii+json;version=2.1,application/stix+json;version=2.1",
    ] {
        for url in &urls {
            let r = get_with(&app.operator, url, accept).await;
            assert_eq!(r.status, 200, "Accept {accept} on {url}: {}", r.text);
            assert_eq!(r.header("content-type"), Some(TAXII), "Accept {accept}");
        }
    }
    // No Accept header at all is treated as `*/*`.
    let r = app.operator.send(app.operator.http.get(&objects)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
}

#[tokio::test]
async fn responses_pass_taxii2_clients_content_type_check() {
    let app = spawn_app();
    let green = app.collection(Tier::Green);
    app.operator
        .push(&app.objects_url(Tier::Green), vec![indicator("checked")])
        .await;
    let taxii2_client = "application/taxii+json;version=2.1";
    let manifest_form = "application/taxii+json;version=2.1,application/stix+json;version=2.1";
    for url in [
        format!("{}/taxii2/", app.base()),
        app.api_root(),
        format!("{}collections/", app.api_root()),
        format!("{}collections/{green}/", app.api_root()),
        app.objects_url(Tier::Green),
    ] {
        let r = get_with(&app.operator, &url, taxii2_client).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ct = r.header("content-type").expect("content-type");
        assert!(taxii2_client_accepts(taxii2_client, ct), "{ct}");
    }
    // The manifest endpoint's documented Accept (TAXII 2.1 §5.3), as the
    // arango test suite sends it.
    let r = get_with(
        &app.operator,
        &format!("{}collections/{green}/manifest/", app.api_root()),
        manifest_form,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 1, "{}", r.text);
}

#[tokio::test]
async fn misp_content_type_on_a_get_is_harmless() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let object = indicator("misp browse");
    app.operator.push(&url, vec![object.clone()]).await;
    for target in [
        format!("{}collections/", app.api_root()),
        format!("{url}?limit=50"),
        format!("{url}{}/", object["id"].as_str().unwrap()),
    ] {
        let r = app
            .operator
            .send(
                app.operator
                    .http
                    .get(&target)
                    .header(ACCEPT, TAXII)
                    .header(CONTENT_TYPE, TAXII),
            )
            .await;
        assert_eq!(r.status, 200, "{target}: {}", r.text);
        assert_eq!(r.header("content-type"), Some(TAXII));
    }
}

#[tokio::test]
async fn paths_without_the_trailing_slash_work() {
    let app = spawn_app();
    let green = app.collection(Tier::Green);
    let root = app.api_root();
    let root_no_slash = root.trim_end_matches('/').to_string();
    let objects = format!("{root}collections/{green}/objects");

    // POST without the trailing slash (OpenCTI-style base URL joins).
    let object = indicator("no trailing slash");
    let id = object["id"].as_str().unwrap().to_string();
    let r = app
        .operator
        .post(&objects, &json!({ "objects": [object.clone()] }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    let status_id = r.body["id"].as_str().unwrap().to_string();

    let r = app.operator.get(&format!("{}/taxii2", app.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["default"], app.api_root());

    let r = app.operator.get(&root_no_slash).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["max_content_length"].as_u64().is_some());

    let r = app
        .operator
        .get(&format!("{root_no_slash}/collections"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["collections"].as_array().unwrap().len(), 5);

    let r = app
        .operator
        .get(&format!("{root_no_slash}/collections/{green}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], green);

    let r = app.operator.get(&objects).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"], json!([object]));

    let r = app.operator.get(&format!("{objects}/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"][0]["id"], id);

    let r = app.operator.get(&format!("{objects}/{id}/versions")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["versions"], json!([object["modified"]]));

    let r = app
        .operator
        .get(&format!("{root}collections/{green}/manifest"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"][0]["id"], id);

    let r = app
        .operator
        .get(&format!("{root_no_slash}/status/{status_id}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], status_id);

    // DELETE without the slash too.
    let r = app.operator.delete(&format!("{objects}/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.operator.get(&format!("{objects}/{id}")).await;
    assert_taxii_error(&r, 404);
}

#[tokio::test]
async fn stix2_sink_posts_a_bundle_and_it_is_stored() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let a = indicator("bundle member a");
    let b = indicator("bundle member b");
    // python-stix2 `TAXIICollectionSink.add()` serialises a Bundle.
    let bundle = json!({
        "type": "bundle",
        "id": new_id("bundle"),
        "spec_version": "2.1",
        "objects": [a.clone(), b.clone()],
    });
    let r = app.operator.post(&url, &bundle).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "complete", "{}", r.text);
    assert_eq!(r.body["success_count"], 2, "{}", r.text);
    assert_eq!(r.body["failure_count"], 0, "{}", r.text);

    let r = app.operator.get(&url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["objects"], json!([a, b]));
    // The bundle itself is not stored as an object.
    let r = app
        .operator
        .get(&format!("{url}{}/", bundle["id"].as_str().unwrap()))
        .await;
    assert_taxii_error(&r, 404);
}

#[tokio::test]
async fn status_is_where_taxii2_client_looks_for_it() {
    let app = spawn_app();
    let green = app.collection(Tier::Green);
    let collection_url = format!("{}collections/{green}/", app.api_root());
    let r = app
        .operator
        .post(
            &format!("{collection_url}objects/"),
            &json!({ "objects": [indicator("status lookup")] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();

    // taxii2-client: urljoin(collection_url, "../../status/<id>") + "/".
    let joined = reqwest::Url::parse(&collection_url)
        .unwrap()
        .join(&format!("../../status/{id}"))
        .unwrap()
        .to_string();
    assert_eq!(joined, format!("{}status/{id}", app.api_root()));
    for url in [format!("{joined}/"), joined] {
        let r = app.operator.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        assert_eq!(r.header("content-type"), Some(TAXII));
        assert_eq!(r.body["id"], id);
        assert_eq!(r.body["status"], "complete");
        for key in [
            "total_count",
            "success_count",
            "failure_count",
            "pending_count",
        ] {
            assert!(r.body[key].is_u64(), "{key}: {}", r.text);
        }
    }
}

#[tokio::test]
async fn collection_resources_satisfy_taxii2_client_and_stix2() {
    let app = spawn_app();
    let reader = app.member("terminal-reader", "terminal", Tier::Amber);
    app.grant("terminal-reader", Tier::Green, true, false);
    app.grant("terminal-reader", Tier::Amber, true, true);

    for client in [&app.operator, &reader] {
        let r = client.get(&format!("{}collections/", app.api_root())).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for c in r.body["collections"].as_array().unwrap() {
            for key in ["id", "title"] {
                assert!(c[key].is_string(), "{key} in {c}");
            }
            // stix2 checks `can_read`/`can_write` as booleans, not strings.
            assert!(c["can_read"].is_boolean(), "{c}");
            assert!(c["can_write"].is_boolean(), "{c}");
            let id = c["id"].as_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

            // taxii2-client requires the collection id to appear in its URL.
            let url = format!("{}collections/{id}/", app.api_root());
            let one = client.get(&url).await;
            assert_eq!(one.status, 200, "{}", one.text);
            assert!(url.contains(one.body["id"].as_str().unwrap()));
            assert_eq!(&one.body, c);
        }
    }

    // Reachable by alias too, as the same collection.
    let green = app.collection(Tier::Green);
    let alias = app
        .report
        .collections
        .iter()
        .find(|c| c.tier == Tier::Green)
        .and_then(|c| c.alias.clone())
        .expect("tier collections have an alias");
    let by_alias = reader
        .get(&format!("{}collections/{alias}/", app.api_root()))
        .await;
    assert_eq!(by_alias.status, 200, "{}", by_alias.text);
    assert_eq!(by_alias.body["id"], green);
    assert_eq!(by_alias.body["alias"], alias);
    assert_eq!(by_alias.body["can_read"], true);
    assert_eq!(by_alias.body["can_write"], false);
    let object = indicator("by alias");
    app.operator
        .push(&app.objects_url(Tier::Green), vec![object.clone()])
        .await;
    let r = reader
        .get(&format!("{}collections/{alias}/objects/", app.api_root()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"], json!([object]));
}

#[tokio::test]
async fn added_after_with_any_fraction_precision_is_accepted() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let object = indicator("fractional seconds");
    app.operator.push(&url, vec![object.clone()]).await;
    // taxii2-client strips trailing zeros; OpenCTI sends microseconds.
    for stamp in [
        "2020-01-01T00:00:01Z",
        "2020-01-01T00:00:01.1Z",
        "2020-01-01T00:00:01.123Z",
        "2020-01-01T00:00:01.123456Z",
    ] {
        let r = app
            .operator
            .get(&format!("{url}?added_after={stamp}"))
            .await;
        assert_eq!(r.status, 200, "{stamp}: {}", r.text);
        assert_eq!(r.body["objects"], json!([object]), "{stamp}");
    }
}

#[tokio::test]
async fn error_resources_are_what_clients_parse() {
    let app = spawn_app();
    // taxii2-client surfaces `http_status` as a string and needs a
    // Content-Type on every response, errors included.
    let r = app
        .operator
        .get(&format!(
            "{}collections/{}/",
            app.api_root(),
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_taxii_error(&r, 404);
    assert!(r.body["http_status"].is_string());
    let r = get_with(&app.operator, &app.api_root(), "application/json").await;
    assert_taxii_error(&r, 406);
    assert!(r.body["http_status"].is_string());
}

#[tokio::test]
async fn api_tokens_work_with_the_schemes_misp_and_opencti_send() {
    use base64::Engine;
    use reqwest::header::AUTHORIZATION;

    let app = spawn_app_with(|c| c.auth.tokens = true);
    app.member("misp-instance", "csirt", Tier::Green);
    app.grant("misp-instance", Tier::Green, true, true);
    let (_, secret) = app.exchange.issue_token("misp-instance", None).unwrap();
    let url = app.objects_url(Tier::Green);
    let object = indicator("token push");
    app.operator.push(&url, vec![object.clone()]).await;
    // No client certificate at all: the token alone identifies the member.
    let tool = app.anonymous();
    let basic =
        |user: &str| base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    for authorization in [
        format!("Basic {}", basic("misp")),
        // MISP sends the scheme in lower case.
        format!("basic {}", basic("misp")),
        format!("Bearer {secret}"),
        format!("bearer {secret}"),
    ] {
        let r = tool
            .send(
                tool.http
                    .get(&url)
                    .header(ACCEPT, TAXII)
                    .header(CONTENT_TYPE, TAXII)
                    .header(AUTHORIZATION, &authorization),
            )
            .await;
        assert_eq!(r.status, 200, "{authorization}: {}", r.text);
        assert_eq!(r.body["objects"], json!([object]));
    }
    // taxii2-client add_objects with Basic auth.
    let pushed = indicator("pushed with a token");
    let r = tool
        .send(
            tool.http
                .post(&url)
                .header(ACCEPT, TAXII)
                .header(CONTENT_TYPE, TAXII)
                .header(AUTHORIZATION, format!("Basic {}", basic("misp")))
                .body(json!({ "objects": [pushed] }).to_string()),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);

    // A wrong token is a 401 with a challenge, never a silent anonymous read.
    let r = tool
        .send(
            tool.http
                .get(&url)
                .header(ACCEPT, TAXII)
                .header(AUTHORIZATION, "Bearer bw_not-a-real-token"),
        )
        .await;
    assert_taxii_error(&r, 401);
    assert!(r.header("www-authenticate").is_some());
}
