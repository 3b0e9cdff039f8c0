//! The first thing a SOC tool does: discovery, API root, collections, one
//! push and one poll.

use breakwater::model::Tier;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn discovery_api_root_and_collections() {
    let app = spawn_app();
    let r = app.operator.get(&format!("{}/taxii2/", app.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(r.body["default"], app.api_root());
    assert_eq!(r.body["api_roots"], json!([app.api_root()]));

    let r = app.operator.get(&app.api_root()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["versions"], json!([TAXII]));
    assert!(r.body["max_content_length"].as_u64().unwrap() > 0);

    let r = app
        .operator
        .get(&format!("{}collections/", app.api_root()))
        .await;
    assert_eq!(r.status, 200);
    let collections = r.body["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 5);
    for c in collections {
        assert_eq!(c["can_read"], true);
        assert_eq!(c["can_write"], true);
    }
}

#[tokio::test]
async fn push_then_poll_round_trips_every_property() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let mut object = indicator("AIS spoofing beacon");
    object["x_port_terminal"] = json!({"berth": 7, "cranes": ["STS-1", "STS-2"]});
    let status = app.operator.push(&url, vec![object.clone()]).await;
    assert_eq!(status.body["status"], "complete");
    assert_eq!(status.body["total_count"], 1);
    assert_eq!(status.body["successes"][0]["id"], object["id"]);
    assert_eq!(status.body["successes"][0]["version"], object["modified"]);

    let r = app.operator.get(&url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["objects"], json!([object]));
    assert!(r.header("x-taxii-date-added-first").is_some());
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        r.header("x-taxii-date-added-last")
    );
}
