//! Every failure a client can provoke is answered with a TAXII error
//! resource (TAXII 2.1 §3.6.1) carrying the TAXII media type, and a refused
//! POST never stores anything.

use breakwater::model::Tier;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::helpers::*;

/// The contract of an error response: the status, the TAXII media type and a
/// TAXII error resource whose `http_status` is that status as a string.
pub fn assert_taxii_error(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII), "{}", r.text);
    let title = r.body["title"].as_str();
    assert!(title.is_some_and(|t| !t.is_empty()), "no title: {}", r.text);
    assert!(
        r.body["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "no description: {}",
        r.text
    );
    assert_eq!(
        r.body["http_status"],
        json!(status.to_string()),
        "{}",
        r.text
    );
}

/// The ids currently readable in a collection (operator's view).
pub async fn stored_ids(app: &TestApp, tier: Tier) -> Vec<String> {
    let r = app.operator.get(&app.objects_url(tier)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["objects"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn post_raw(app: &TestApp, url: &str, content_type: &str, body: String) -> Response {
    app.operator
        .send(
            app.operator
                .http
                .post(url)
                .header(ACCEPT, TAXII)
                .header(CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
}

#[tokio::test]
async fn accept_without_a_taxii_21_range_is_406_on_every_endpoint() {
    let app = spawn_app();
    let green = app.objects_url(Tier::Green);
    let urls = [
        format!("{}/taxii2/", app.base()),
        app.api_root(),
        format!("{}collections/", app.api_root()),
        format!(
            "{}collections/{}/manifest/",
            app.api_root(),
            app.collection(Tier::Green)
        ),
        green.clone(),
    ];
    for accept in [
        "application/json",
        "application/taxii+json;version=2.0",
        "application/stix+json;version=2.1",
        "text/html",
    ] {
        for url in &urls {
            let r = app
                .operator
                .send(app.operator.http.get(url).header(ACCEPT, accept))
                .await;
            assert_taxii_error(&r, 406);
        }
        // A POST with a well-formed envelope but an unacceptable Accept is
        // refused before anything is stored.
        let object = indicator("refused by Accept");
        let r = app
            .operator
            .send(
                app.operator
                    .http
                    .post(&green)
                    .header(ACCEPT, accept)
                    .header(CONTENT_TYPE, TAXII)
                    .body(json!({ "objects": [object] }).to_string()),
            )
            .await;
        assert_taxii_error(&r, 406);
    }
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
}

#[tokio::test]
async fn post_with_a_non_taxii_content_type_is_415_and_stores_nothing() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let body = json!({ "objects": [indicator("wrong content type")] }).to_string();
    for content_type in [
        "application/json",
        "application/taxii+json;version=2.0",
        "text/plain",
    ] {
        let r = post_raw(&app, &url, content_type, body.clone()).await;
        assert_taxii_error(&r, 415);
    }
    // No Content-Type at all.
    let r = app
        .operator
        .send(
            app.operator
                .http
                .post(&url)
                .header(ACCEPT, TAXII)
                .body(body),
        )
        .await;
    assert_taxii_error(&r, 415);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
}

/// An envelope of one indicator whose serialised size is exactly `size` bytes.
fn envelope_of_size(size: usize) -> (String, Value) {
    let mut object = indicator("sized");
    object["description"] = json!("");
    let base = json!({ "objects": [object.clone()] }).to_string().len();
    assert!(size >= base, "cannot make an envelope of {size} bytes");
    object["description"] = json!("x".repeat(size - base));
    let text = json!({ "objects": [object.clone()] }).to_string();
    assert_eq!(text.len(), size);
    (text, object)
}

#[tokio::test]
async fn body_over_max_content_length_is_413_and_stores_nothing() {
    let app = spawn_app_with(|c| c.limits.max_content_length = 2048);
    let root = app.operator.get(&app.api_root()).await;
    assert_eq!(root.status, 200, "{}", root.text);
    // What the API root advertises is what clients (MISP) size their
    // envelopes by, so that is the limit under test.
    let limit = root.body["max_content_length"].as_u64().unwrap() as usize;
    assert_eq!(
        limit, 2048,
        "the API root should advertise the configured limit"
    );
    let url = app.objects_url(Tier::Green);

    let (over, _) = envelope_of_size(limit + 1);
    let r = post_raw(&app, &url, TAXII, over).await;
    assert_taxii_error(&r, 413);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());

    // Far over the limit as well: the whole body is refused with a 413
    // the client can read, not a reset connection.
    let (far_over, _) = envelope_of_size(limit * 2048);
    let r = post_raw(&app, &url, TAXII, far_over).await;
    assert_taxii_error(&r, 413);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());

    // TAXII 2.1 §4.2.1: a body no larger than max_content_length must not get 413.
    let (exact, object) = envelope_of_size(limit);
    let r = post_raw(&app, &url, TAXII, exact).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    assert_eq!(
        stored_ids(&app, Tier::Green).await,
        [object["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn malformed_envelopes_are_400_and_store_nothing() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let object = indicator("inside a broken envelope");
    let with_object = json!({ "objects": [object] }).to_string();
    let bodies = [
        // Truncated JSON.
        with_object[..with_object.len() - 2].to_string(),
        "not json at all".to_string(),
        String::new(),
        // `objects` is not a list.
        json!({ "objects": object }).to_string(),
        json!({ "objects": "indicator" }).to_string(),
        // Not an object at all.
        json!([object]).to_string(),
    ];
    for body in bodies {
        let r = post_raw(&app, &url, TAXII, body.clone()).await;
        assert_taxii_error(&r, 400);
        assert!(
            stored_ids(&app, Tier::Green).await.is_empty(),
            "stored after {body}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_resources_are_404_taxii_errors() {
    let app = spawn_app();
    let root = app.api_root();
    let random = uuid::Uuid::new_v4();
    let green = app.collection(Tier::Green);
    for url in [
        format!("{}/nothing-here/", app.base()),
        format!("{}/taxii2/extra/deeper/still/more/and/more/", app.base()),
        format!("{}/no-such-root/", app.base()),
        format!("{}/no-such-root/collections/", app.base()),
        format!("{root}collections/{random}/"),
        format!("{root}collections/{random}/objects/"),
        format!("{root}collections/not-an-alias/manifest/"),
        format!("{root}collections/{green}/objects/{}/", new_id("indicator")),
        format!(
            "{root}collections/{green}/objects/{}/versions/",
            new_id("indicator")
        ),
        format!("{root}status/{random}/"),
    ] {
        let r = app.operator.get(&url).await;
        assert_taxii_error(&r, 404);
    }
}

#[tokio::test]
async fn unsupported_methods_are_405_taxii_errors() {
    let app = spawn_app();
    let objects = app.objects_url(Tier::Green);
    let object_url = format!("{objects}{}/", new_id("indicator"));
    let body = json!({ "objects": [indicator("put is not TAXII")] }).to_string();
    let http = &app.operator.http;
    let requests = [
        http.put(&objects).body(body.clone()),
        http.patch(&objects).body(body.clone()),
        http.delete(&objects),
        http.put(&object_url).body(body.clone()),
        http.post(&object_url).body(body.clone()),
        http.post(format!("{}/taxii2/", app.base()))
            .body(body.clone()),
        http.delete(format!("{}collections/", app.api_root())),
        http.put(format!(
            "{}collections/{}/",
            app.api_root(),
            app.collection(Tier::Green)
        ))
        .body(body.clone()),
    ];
    for request in requests {
        let r = app
            .operator
            .send(request.header(ACCEPT, TAXII).header(CONTENT_TYPE, TAXII))
            .await;
        assert_taxii_error(&r, 405);
    }
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
}

#[tokio::test]
async fn malformed_query_parameters_are_400_taxii_errors() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    for query in [
        "limit=0",
        "limit=many",
        "added_after=yesterday",
        "next=not-a-token",
    ] {
        let r = app.operator.get(&format!("{url}?{query}")).await;
        assert_taxii_error(&r, 400);
    }
}
