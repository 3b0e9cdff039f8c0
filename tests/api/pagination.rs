//! Pagination (TAXII 2.1 §3.4, §3.5, App. B): `limit`, `more` and `next`
//! walk a collection exactly once in date_added order; `next` tokens are
//! opaque, authenticated and bound to the query, collection and member.

use std::collections::HashSet;

use breakwater::model::{Tier, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;

fn collection_url(app: &TestApp, tier: Tier) -> String {
    format!("{}collections/{}/", app.api_root(), app.collection(tier))
}

fn manifest_url(app: &TestApp, tier: Tier) -> String {
    format!("{}manifest/", collection_url(app, tier))
}

fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII), "{what}");
    assert!(
        r.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {}",
        r.text
    );
    assert_eq!(
        r.body["http_status"],
        json!(status.to_string()),
        "{what}: {}",
        r.text
    );
}

fn list<'a>(r: &'a Response, key: &str) -> Vec<&'a Value> {
    r.body[key]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn more(r: &Response) -> bool {
    match r.body.get("more") {
        None => false,
        Some(v) => v.as_bool().expect("`more` is a boolean"),
    }
}

/// Follows `next` from `first_query` until `more` is false, checking every
/// page's contract. Each later page is requested with `later_query` plus
/// `next`. Returns every item of `key` (`objects` or `versions`) in order.
async fn walk(
    client: &Client,
    base: &str,
    first_query: &str,
    later_query: &str,
    key: &str,
    page_cap: usize,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut url = format!("{base}?{first_query}");
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 10_000, "pagination never ends");
        let r = client.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        let page = list(&r, key);
        assert!(
            page.len() <= page_cap,
            "{} items, cap {page_cap}",
            page.len()
        );
        items.extend(page.into_iter().cloned());
        if more(&r) {
            let next = r.body["next"]
                .as_str()
                .unwrap_or_else(|| panic!("more:true without next: {}", r.text));
            assert!(!next.is_empty(), "{}", r.text);
            url = if later_query.is_empty() {
                format!("{base}?next={next}")
            } else {
                format!("{base}?{later_query}&next={next}")
            };
        } else {
            assert!(r.body.get("next").is_none(), "{}", r.text);
            break;
        }
    }
    (items, pages)
}

fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

/// Pushes `n` indicators in envelopes of 50; returns their ids in push order.
async fn fill(app: &TestApp, tier: Tier, n: usize, prefix: &str) -> Vec<String> {
    let url = app.objects_url(tier);
    let objects: Vec<Value> = (0..n)
        .map(|i| indicator(&format!("{prefix} {i}")))
        .collect();
    for chunk in objects.chunks(50) {
        app.operator.push(&url, chunk.to_vec()).await;
    }
    ids_of(&objects)
}

#[tokio::test]
async fn limit_and_next_walk_every_object_once_in_date_added_order() {
    let app = spawn_app();
    let pushed = fill(&app, Tier::Green, 300, "Walk").await;
    let url = app.objects_url(Tier::Green);

    for limit in [1000, 300, 299, 37, 1] {
        if limit == 1 {
            // A one-by-one walk of 300 objects is slow; walk 40 of them.
            let q = format!("limit=1&match[id]={}", pushed[..40].join(","));
            let (items, pages) = walk(&app.operator, &url, &q, &q, "objects", 1).await;
            assert_eq!(ids_of(&items), pushed[..40].to_vec());
            assert_eq!(pages, 40);
            continue;
        }
        let q = format!("limit={limit}");
        let (items, pages) = walk(&app.operator, &url, &q, &q, "objects", limit).await;
        let ids = ids_of(&items);
        assert_eq!(ids.len(), 300, "limit {limit}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 300);
        assert_eq!(ids, pushed, "limit {limit}");
        assert_eq!(pages, 300usize.div_ceil(limit), "limit {limit}");
    }

    // The manifest walk agrees, with date_added strictly increasing.
    let (records, _) = walk(
        &app.operator,
        &manifest_url(&app, Tier::Green),
        "limit=64",
        "limit=64",
        "objects",
        64,
    )
    .await;
    assert_eq!(ids_of(&records), pushed);
    let added: Vec<i64> = records
        .iter()
        .map(|r| {
            Timestamp::parse(r["date_added"].as_str().unwrap())
                .unwrap()
                .micros()
        })
        .collect();
    assert!(added.windows(2).all(|w| w[0] < w[1]));

    // Everything fits in one page: all of it, no `more`, no `next`.
    let r = app.operator.get(&format!("{url}?limit=300")).await;
    assert_eq!(list(&r, "objects").len(), 300);
    assert!(!more(&r));
    assert!(r.body.get("next").is_none());
}

#[tokio::test]
async fn the_server_page_size_caps_limit_and_still_sets_more_and_next() {
    let app = spawn_app_with(|c| c.limits.max_page_size = 7);
    let pushed = fill(&app, Tier::Green, 20, "Capped").await;
    let url = app.objects_url(Tier::Green);

    for q in ["", "limit=100", "limit=7"] {
        let r = app.operator.get(&format!("{url}?{q}")).await;
        assert_eq!(list(&r, "objects").len(), 7, "{q}");
        assert!(more(&r), "{q}: {}", r.text);
        assert!(r.body["next"].as_str().is_some_and(|n| !n.is_empty()));
        let (items, pages) = walk(&app.operator, &url, q, q, "objects", 7).await;
        assert_eq!(ids_of(&items), pushed, "{q}");
        assert_eq!(pages, 3, "{q}");
    }
    // A smaller client limit is honoured.
    let (items, pages) = walk(&app.operator, &url, "limit=3", "limit=3", "objects", 3).await;
    assert_eq!(ids_of(&items), pushed);
    assert_eq!(pages, 7);
    // The client may change its limit between pages (taxii2-client does).
    let (items, _) = walk(&app.operator, &url, "limit=2", "limit=50", "objects", 7).await;
    assert_eq!(ids_of(&items), pushed);
    // The manifest is capped the same way.
    let (records, pages) = walk(
        &app.operator,
        &manifest_url(&app, Tier::Green),
        "limit=1000",
        "limit=1000",
        "objects",
        7,
    )
    .await;
    assert_eq!(ids_of(&records), pushed);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn added_after_with_next_and_limit_walks_the_rest_once() {
    let app = spawn_app();
    let pushed = fill(&app, Tier::Green, 60, "Incremental").await;
    let url = app.objects_url(Tier::Green);
    let m = app
        .operator
        .get(&format!("{}?limit=60", manifest_url(&app, Tier::Green)))
        .await;
    let since = list(&m, "objects")[9]["date_added"]
        .as_str()
        .unwrap()
        .to_string();
    let q = format!("added_after={since}&limit=7");

    // OpenCTI keeps added_after on every page.
    let (items, _) = walk(&app.operator, &url, &q, &q, "objects", 7).await;
    assert_eq!(ids_of(&items), pushed[10..].to_vec());
    // Others drop it once they have a `next`.
    let (items, _) = walk(&app.operator, &url, &q, "limit=7", "objects", 7).await;
    assert_eq!(ids_of(&items), pushed[10..].to_vec());
    // And the same with match[type] in the binding.
    let q = format!("added_after={since}&limit=9&match[type]=indicator");
    let (items, _) = walk(
        &app.operator,
        &url,
        &q,
        "limit=9&match[type]=indicator",
        "objects",
        9,
    )
    .await;
    assert_eq!(ids_of(&items), pushed[10..].to_vec());
}

#[tokio::test]
async fn forged_truncated_or_garbage_next_is_a_400_error_resource() {
    let app = spawn_app();
    fill(&app, Tier::Green, 12, "Tokens").await;
    let url = app.objects_url(Tier::Green);
    let r = app.operator.get(&format!("{url}?limit=5")).await;
    let next = r.body["next"].as_str().expect("next").to_string();
    // The genuine token works.
    let ok = app
        .operator
        .get(&format!("{url}?limit=5&next={next}"))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    let mut flipped = next.clone().into_bytes();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let mut tail = next.clone().into_bytes();
    let end = tail.len() - 1;
    tail[end] = if tail[end] == b'A' { b'Q' } else { b'A' };
    let tail = String::from_utf8(tail).unwrap();
    let long = "A".repeat(5000);
    let candidates = [
        next[..next.len() - 1].to_string(),
        next[..next.len() / 2].to_string(),
        format!("{next}A"),
        format!("{next}{next}"),
        flipped,
        tail,
        "garbage".to_string(),
        "%21%21%21".to_string(),
        "AAAA".to_string(),
        "A".repeat(next.len()),
        long,
        "0".to_string(),
        "-1".to_string(),
        "%00".to_string(),
        "%FF%FE".to_string(),
        "2026-01-01T00:00:00.000000Z".to_string(),
    ];
    for base in [url.clone(), manifest_url(&app, Tier::Green)] {
        for bad in &candidates {
            let r = app
                .operator
                .get(&format!("{base}?limit=5&next={bad}"))
                .await;
            assert_error(&r, 400, &format!("next={bad}"));
        }
    }
}

#[tokio::test]
async fn next_replayed_under_another_query_collection_endpoint_or_member_is_400() {
    let app = spawn_app();
    let green = app.objects_url(Tier::Green);
    let amber = app.objects_url(Tier::Amber);
    let mut objects: Vec<Value> = (0..12).map(|i| indicator(&format!("Bound {i}"))).collect();
    objects.extend((0..6).map(|i| {
        json!({
            "type": "malware", "spec_version": "2.1", "id": new_id("malware"),
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": format!("Bound malware {i}"), "is_family": false
        })
    }));
    app.operator.push(&green, objects.clone()).await;
    app.operator.push(&amber, objects.clone()).await;

    let r = app
        .operator
        .get(&format!("{green}?limit=4&match[type]=indicator"))
        .await;
    let next = r.body["next"].as_str().expect("next").to_string();
    let ok = app
        .operator
        .get(&format!(
            "{green}?limit=4&match[type]=indicator&next={next}"
        ))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    let member = app.member("maersk-line", "shipping-line", Tier::Red);
    app.grant("maersk-line", Tier::Green, true, false);
    app.grant("maersk-line", Tier::Amber, true, false);
    // The member can page on its own.
    let (items, _) = walk(
        &member,
        &green,
        "limit=4&match[type]=indicator",
        "limit=4&match[type]=indicator",
        "objects",
        4,
    )
    .await;
    assert_eq!(items.len(), 12);

    let manifest = manifest_url(&app, Tier::Green);
    let replays = [
        (
            &app.operator,
            format!("{green}?limit=4&match[type]=malware&next={next}"),
        ),
        (&app.operator, format!("{green}?limit=4&next={next}")),
        (
            &app.operator,
            format!("{green}?limit=4&match[type]=indicator,malware&next={next}"),
        ),
        (
            &app.operator,
            format!("{green}?limit=4&match[type]=indicator&match[version]=all&next={next}"),
        ),
        (
            &app.operator,
            format!("{green}?limit=4&match[type]=indicator&match[spec_version]=2.1&next={next}"),
        ),
        (
            &app.operator,
            format!(
                "{green}?limit=4&match[type]=indicator&match[id]={}&next={next}",
                objects[0]["id"].as_str().unwrap()
            ),
        ),
        (
            &app.operator,
            format!("{amber}?limit=4&match[type]=indicator&next={next}"),
        ),
        (
            &app.operator,
            format!("{manifest}?limit=4&match[type]=indicator&next={next}"),
        ),
        (
            &member,
            format!("{green}?limit=4&match[type]=indicator&next={next}"),
        ),
    ];
    for (client, url) in &replays {
        let r = client.get(url).await;
        assert_error(&r, 400, url);
    }
}

#[tokio::test]
async fn manifest_object_and_versions_endpoints_paginate_with_next() {
    let app = spawn_app();
    let pushed = fill(&app, Tier::Green, 15, "Manifest").await;
    let url = app.objects_url(Tier::Green);
    let (records, pages) = walk(
        &app.operator,
        &manifest_url(&app, Tier::Green),
        "limit=4",
        "limit=4",
        "objects",
        4,
    )
    .await;
    assert_eq!(ids_of(&records), pushed);
    assert_eq!(pages, 4);

    // One object with seven versions.
    let id = new_id("indicator");
    let versions: Vec<String> = (1..=7)
        .map(|d| format!("2026-01-{d:02}T00:00:00.000Z"))
        .collect();
    for v in versions.iter().rev() {
        app.operator
            .push(&url, vec![indicator_version(&id, "Many versions", v)])
            .await;
    }
    let versions_url = format!(
        "{}objects/{id}/versions/",
        collection_url(&app, Tier::Green)
    );
    let (listed, pages) = walk(
        &app.operator,
        &versions_url,
        "limit=2",
        "limit=2",
        "versions",
        2,
    )
    .await;
    assert_eq!(
        listed,
        versions.iter().map(|v| json!(v)).collect::<Vec<_>>()
    );
    assert_eq!(pages, 4);

    let object_url = format!("{}objects/{id}/", collection_url(&app, Tier::Green));
    let q = "limit=3&match[version]=all";
    let (objects, pages) = walk(&app.operator, &object_url, q, q, "objects", 3).await;
    assert_eq!(objects.len(), 7);
    assert_eq!(pages, 3);
    let mut seen: Vec<&str> = objects
        .iter()
        .map(|o| o["modified"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 7);

    // A versions token is not a token for another object or endpoint.
    let r = app.operator.get(&format!("{versions_url}?limit=2")).await;
    let next = r.body["next"].as_str().expect("next").to_string();
    let other = &pushed[0];
    let other_versions = format!(
        "{}objects/{other}/versions/",
        collection_url(&app, Tier::Green)
    );
    for bad in [
        format!("{other_versions}?limit=2&next={next}"),
        format!("{object_url}?limit=2&next={next}"),
        format!("{url}?limit=2&next={next}"),
    ] {
        let r = app.operator.get(&bad).await;
        assert_error(&r, 400, &bad);
    }
}
