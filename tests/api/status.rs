//! Status resources (TAXII 2.1 §4.3): counts that add up, retrieval after the
//! POST, background ingest finishing, and retention.

use std::collections::BTreeSet;

use breakwater::model::Tier;
use serde_json::{Value, json};

use crate::errors::{assert_taxii_error, stored_ids};
use crate::helpers::*;

/// taxii2-client's status validation, plus TAXII's "no empty lists" rule.
fn assert_consistent(status: &Value) {
    let count = |key: &str| {
        status[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} missing: {status}"))
    };
    assert!(status["id"].is_string(), "{status}");
    assert!(
        status["status"] == "complete" || status["status"] == "pending",
        "{status}"
    );
    let total = count("total_count");
    let (success, failure, pending) = (
        count("success_count"),
        count("failure_count"),
        count("pending_count"),
    );
    assert_eq!(success + failure + pending, total, "{status}");
    for (list, n) in [
        ("successes", success),
        ("failures", failure),
        ("pendings", pending),
    ] {
        if n == 0 {
            assert!(
                status.get(list).is_none(),
                "empty `{list}` must be omitted: {status}"
            );
        } else {
            let items = status[list].as_array().expect(list);
            assert_eq!(items.len() as u64, n, "{list}: {status}");
            for item in items {
                assert!(item["id"].is_string(), "{item}");
                assert!(item["version"].is_string(), "{item}");
            }
        }
    }
    assert_eq!(status["status"] == "pending", pending > 0, "{status}");
}

fn status_url(app: &TestApp, id: &str) -> String {
    format!("{}status/{id}/", app.api_root())
}

/// An indicator every object check refuses: its `id` is not `type--UUID`.
fn invalid_indicator() -> Value {
    indicator_version(
        &format!("indicator--not-a-uuid-{}", uuid::Uuid::new_v4().simple()),
        "malformed id",
        "2026-01-01T00:00:00.000Z",
    )
}

#[tokio::test]
async fn status_counts_add_up_and_empty_lists_are_omitted() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let a = indicator("good a");
    let b = indicator("good b");
    let bad = invalid_indicator();
    let r = app
        .operator
        .post(
            &url,
            &json!({ "objects": [a.clone(), bad.clone(), b.clone()] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_consistent(&r.body);
    assert_eq!(r.body["status"], "complete");
    assert_eq!(r.body["total_count"], 3);
    assert_eq!(r.body["success_count"], 2);
    assert_eq!(r.body["failure_count"], 1);
    assert_eq!(r.body["pending_count"], 0);
    assert_eq!(
        ids_in::<BTreeSet<String>>(&r.body, "successes"),
        [&a, &b]
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    );
    assert_eq!(r.body["failures"][0]["id"], bad["id"]);
    assert_eq!(r.body["failures"][0]["version"], bad["modified"]);
    assert!(r.body["failures"][0]["message"].is_string());

    // All good: no `failures` list at all.
    let r = app
        .operator
        .post(&url, &json!({ "objects": [indicator("alone")] }))
        .await;
    assert_consistent(&r.body);
    assert!(r.body.get("failures").is_none(), "{}", r.text);

    // An exact duplicate is not an error (TAXII 2.1 §5.5).
    let r = app
        .operator
        .post(&url, &json!({ "objects": [a.clone()] }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_consistent(&r.body);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    assert_eq!(r.body["failure_count"], 0, "{}", r.text);

    // All bad: no `successes`, and nothing stored.
    let r = app
        .operator
        .post(
            &app.objects_url(Tier::Clear),
            &json!({ "objects": [invalid_indicator(), "not an object", {"type": "indicator"}] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_consistent(&r.body);
    assert_eq!(r.body["failure_count"], 3, "{}", r.text);
    assert!(r.body.get("successes").is_none(), "{}", r.text);
    assert!(stored_ids(&app, Tier::Clear).await.is_empty());
}

#[tokio::test]
async fn the_status_is_retrievable_after_the_post() {
    let app = spawn_app();
    let r = app
        .operator
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [indicator("kept"), invalid_indicator()] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let posted = r.body;
    let id = posted["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let r = app.operator.get(&status_url(&app, id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_consistent(&r.body);
    // The same resource the POST answered with.
    assert_eq!(r.body, posted);
}

#[tokio::test]
async fn unknown_status_ids_are_404() {
    let app = spawn_app();
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-status".to_string()] {
        let r = app.operator.get(&status_url(&app, &id)).await;
        assert_taxii_error(&r, 404);
    }
    // A real status under an API root that does not exist.
    let r = app
        .operator
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [indicator("rooted")] }),
        )
        .await;
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .operator
        .get(&format!("{}/elsewhere/status/{id}/", app.base()))
        .await;
    assert_taxii_error(&r, 404);
}

#[tokio::test]
async fn large_envelopes_are_stored_in_the_background_and_complete() {
    let app = spawn_app_with(|c| c.limits.background_threshold = 5);
    let url = app.objects_url(Tier::Green);
    let objects: Vec<Value> = (0..50).map(|i| indicator(&format!("bulk {i}"))).collect();
    let expected: BTreeSet<String> = objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let mut envelope = objects.clone();
    let bad = invalid_indicator();
    envelope.push(bad.clone());
    let r = app
        .operator
        .post(&url, &json!({ "objects": envelope }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_consistent(&r.body);
    assert_eq!(r.body["total_count"], 51, "{}", r.text);
    assert_eq!(r.body["failure_count"], 1, "{}", r.text);
    assert!(
        r.body["status"] == "pending" || r.body["status"] == "complete",
        "{}",
        r.text
    );
    if r.body["status"] == "pending" {
        assert_eq!(r.body["pending_count"], 50, "{}", r.text);
        assert_eq!(ids_in::<BTreeSet<String>>(&r.body, "pendings"), expected);
    }
    let id = r.body["id"].as_str().unwrap().to_string();

    // Poll as taxii2-client's wait_for_completion does, with a bounded
    // number of tries.
    let mut status = Value::Null;
    for _ in 0..600 {
        let r = app.operator.get(&status_url(&app, &id)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_consistent(&r.body);
        assert_eq!(r.body["total_count"], 51, "{}", r.text);
        if r.body["status"] == "complete" {
            status = r.body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status["status"], "complete", "the ingest never completed");
    assert_eq!(status["success_count"], 50, "{status}");
    assert_eq!(status["failure_count"], 1, "{status}");
    assert_eq!(status["pending_count"], 0, "{status}");
    assert_eq!(ids_in::<BTreeSet<String>>(&status, "successes"), expected);
    assert_eq!(status["failures"][0]["id"], bad["id"]);

    let stored: BTreeSet<String> = stored_ids(&app, Tier::Green).await.into_iter().collect();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn statuses_past_their_retention_are_404() {
    let app = spawn_app_with(|c| c.limits.status_retention_hours = 0);
    let object = indicator("stored, status forgotten");
    let r = app
        .operator
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [object.clone()] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "complete", "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let r = app.operator.get(&status_url(&app, id)).await;
    assert_taxii_error(&r, 404);
    // Only the status expired; the objects stay.
    assert_eq!(
        stored_ids(&app, Tier::Green).await,
        [object["id"].as_str().unwrap()]
    );
}
