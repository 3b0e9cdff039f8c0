//! The versions endpoint (TAXII 2.1 §5.8): every version of one object,
//! oldest first, with `X-TAXII-Date-Added-*` headers and pagination.

use std::collections::HashMap;

use breakwater::model::Tier;
use serde_json::{Value, json};

use crate::helpers::*;

fn collection_url(app: &TestApp, tier: Tier) -> String {
    format!("{}collections/{}/", app.api_root(), app.collection(tier))
}

fn versions_url(app: &TestApp, tier: Tier, id: &str) -> String {
    format!("{}objects/{id}/versions/", collection_url(app, tier))
}

fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII), "{what}");
    assert!(
        r.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {}",
        r.text
    );
    assert_eq!(r.body["http_status"], json!(status.to_string()), "{what}");
}

/// Modified timestamps, deliberately pushed out of order.
const PUSH_ORDER: [&str; 5] = [
    "2026-03-01T00:00:00.000Z",
    "2026-01-01T00:00:00.000Z",
    "2026-05-01T00:00:00.000Z",
    "2026-02-01T00:00:00.000Z",
    "2026-04-01T00:00:00.000Z",
];

fn oldest_first() -> Vec<&'static str> {
    let mut v = PUSH_ORDER.to_vec();
    v.sort_unstable();
    v
}

/// Pushes the five versions of one indicator; returns its id and a map from
/// each version to its date_added (read from the manifest).
async fn five_versions(app: &TestApp) -> (String, HashMap<String, String>) {
    let url = app.objects_url(Tier::Green);
    let id = new_id("indicator");
    for v in PUSH_ORDER {
        app.operator
            .push(&url, vec![indicator_version(&id, "Many versions", v)])
            .await;
    }
    let m = app
        .operator
        .get(&format!(
            "{}manifest/?match[id]={id}&match[version]=all",
            collection_url(app, Tier::Green)
        ))
        .await;
    let added = m.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap().to_string(),
                r["date_added"].as_str().unwrap().to_string(),
            )
        })
        .collect::<HashMap<_, _>>();
    assert_eq!(added.len(), 5, "{}", m.text);
    (id, added)
}

#[tokio::test]
async fn versions_are_listed_oldest_first() {
    let app = spawn_app();
    let (id, _) = five_versions(&app).await;
    let other = indicator("Another object");
    app.operator
        .push(&app.objects_url(Tier::Green), vec![other])
        .await;
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(r.body["versions"], json!(oldest_first()), "{}", r.text);
    assert!(
        r.body.get("more").is_none() || r.body["more"] == false,
        "{}",
        r.text
    );
    assert!(r.body.get("next").is_none(), "{}", r.text);
    // Nothing but the versions resource's properties.
    for key in r.body.as_object().unwrap().keys() {
        assert!(
            ["more", "next", "versions"].contains(&key.as_str()),
            "{key}"
        );
    }
}

#[tokio::test]
async fn versions_carry_the_date_added_of_the_first_and_last_entry() {
    let app = spawn_app();
    let (id, added) = five_versions(&app).await;
    let order = oldest_first();
    let url = versions_url(&app, Tier::Green, &id);

    let r = app.operator.get(&url).await;
    // Oldest version (pushed second) and newest version (pushed third): the
    // headers follow the listed entries, not the smallest/largest date_added.
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some(added[order[0]].as_str())
    );
    assert_eq!(
        r.header("x-taxii-date-added-last"),
        Some(added[order[4]].as_str())
    );

    let r = app.operator.get(&format!("{url}?limit=2")).await;
    assert_eq!(r.body["versions"], json!(order[..2]));
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some(added[order[0]].as_str())
    );
    assert_eq!(
        r.header("x-taxii-date-added-last"),
        Some(added[order[1]].as_str())
    );
}

#[tokio::test]
async fn versions_paginate_with_limit_and_next() {
    let app = spawn_app();
    let (id, added) = five_versions(&app).await;
    let order = oldest_first();
    let url = versions_url(&app, Tier::Green, &id);
    for limit in [1usize, 2, 3, 5, 10] {
        let mut seen: Vec<Value> = Vec::new();
        let mut query = format!("{url}?limit={limit}");
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 10, "limit {limit}: pagination never ends");
            let r = app.operator.get(&query).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let page = r.body["versions"].as_array().unwrap().clone();
            assert!(!page.is_empty() && page.len() <= limit, "{}", r.text);
            let first = page[0].as_str().unwrap();
            let last = page[page.len() - 1].as_str().unwrap();
            assert_eq!(
                r.header("x-taxii-date-added-first"),
                Some(added[first].as_str())
            );
            assert_eq!(
                r.header("x-taxii-date-added-last"),
                Some(added[last].as_str())
            );
            seen.extend(page);
            if r.body["more"] == true {
                let next = r.body["next"].as_str().expect("more:true needs next");
                assert!(!next.is_empty());
                query = format!("{url}?limit={limit}&next={next}");
            } else {
                assert!(r.body.get("next").is_none(), "{}", r.text);
                break;
            }
        }
        assert_eq!(seen, order.iter().map(|v| json!(v)).collect::<Vec<_>>());
        assert_eq!(pages, 5usize.div_ceil(limit), "limit {limit}");
    }
}

#[tokio::test]
async fn versions_of_an_unknown_object_are_404() {
    let app = spawn_app();
    let (id, _) = five_versions(&app).await;
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &new_id("indicator")))
        .await;
    assert_error(&r, 404, "unknown id");
    // Known, but in another collection.
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Amber, &id))
        .await;
    assert_error(&r, 404, "other collection");
    // Not even an identifier.
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, "not-an-identifier"))
        .await;
    assert!(r.status == 404 || r.status == 400, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
}

#[tokio::test]
async fn an_unversioned_object_has_its_date_added_as_its_only_version() {
    let app = spawn_app();
    let sco = json!({
        "type": "domain-name",
        "spec_version": "2.1",
        "id": new_id("domain-name"),
        "value": "harbour-invoices.example"
    });
    let id = sco["id"].as_str().unwrap().to_string();
    let status = app
        .operator
        .push(&app.objects_url(Tier::Green), vec![sco])
        .await;
    let version = status.body["successes"][0]["version"].clone();
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(r.body["versions"], json!([version]), "{}", r.text);
    assert_eq!(r.header("x-taxii-date-added-first"), version.as_str());
    assert_eq!(r.header("x-taxii-date-added-last"), version.as_str());
}
