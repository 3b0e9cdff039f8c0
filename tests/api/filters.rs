//! Filtering (TAXII 2.1 §3.4): `added_after`, `match[id|type|version|
//! spec_version]` on objects, object, manifest and versions, and 400 error
//! resources for malformed parameters.

use breakwater::model::{Tier, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;

fn collection_url(app: &TestApp) -> String {
    format!(
        "{}collections/{}/",
        app.api_root(),
        app.collection(Tier::Green)
    )
}

fn manifest_url(app: &TestApp) -> String {
    format!("{}manifest/", collection_url(app))
}

fn object_url(app: &TestApp, id: &str) -> String {
    format!("{}objects/{id}/", collection_url(app))
}

fn versions_url(app: &TestApp, id: &str) -> String {
    format!("{}objects/{id}/versions/", collection_url(app))
}

fn ids(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    ids_in(&r.body, "objects")
}

/// `(id, version)` pairs: `modified` for objects, `version` for manifest records.
fn id_versions(r: &Response) -> Vec<(String, String)> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    let v = o.get("version").or_else(|| o.get("modified")).unwrap();
                    (
                        o["id"].as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
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

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn malware(name: &str) -> Value {
    json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": new_id("malware"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "is_family": true
    })
}

fn ipv4(value: &str) -> Value {
    json!({"type": "ipv4-addr", "spec_version": "2.1", "id": new_id("ipv4-addr"), "value": value})
}

/// Truncates a `…ssssssZ` timestamp to `digits` fractional digits.
fn truncated(ts: &str, digits: usize) -> String {
    let (whole, fraction) = ts.trim_end_matches('Z').split_once('.').unwrap();
    if digits == 0 {
        format!("{whole}Z")
    } else {
        format!("{whole}.{}Z", &fraction[..digits])
    }
}

#[tokio::test]
async fn added_after_is_strictly_after_at_any_precision() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let mut pushed = Vec::new();
    for i in 0..6 {
        let o = indicator(&format!("Arrival {i}"));
        pushed.push(s(&o["id"]));
        app.operator.push(&url, vec![o]).await;
    }
    let manifest = app.operator.get(&manifest_url(&app)).await;
    let records: Vec<(String, String)> = manifest.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (s(&r["id"]), s(&r["date_added"])))
        .collect();
    assert_eq!(
        records.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        pushed
    );
    let micros = |t: &str| Timestamp::parse(t).unwrap().micros();

    // Exactly a stored date_added: that object is excluded, later ones kept.
    for (i, (_, added)) in records.iter().enumerate() {
        for base in [url.clone(), manifest_url(&app)] {
            let r = app
                .operator
                .get(&format!("{base}?added_after={added}"))
                .await;
            assert_eq!(ids(&r), pushed[i + 1..].to_vec(), "added_after={added}");
        }
    }

    // The same instant written with 0, 1, 3 and 6 fractional digits.
    let reference = &records[2].1;
    for digits in [0, 1, 2, 3, 5, 6] {
        let bound = truncated(reference, digits);
        let expected: Vec<String> = records
            .iter()
            .filter(|(_, added)| micros(added) > micros(&bound))
            .map(|(id, _)| id.clone())
            .collect();
        let r = app
            .operator
            .get(&format!("{url}?added_after={bound}"))
            .await;
        assert_eq!(ids(&r), expected, "added_after={bound}");
        if let Some(first) = r.header("x-taxii-date-added-first") {
            assert!(micros(first) > micros(&bound));
        }
    }

    // Before everything: all; after the last: an empty envelope.
    let r = app
        .operator
        .get(&format!("{url}?added_after=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(ids(&r), pushed);
    let r = app
        .operator
        .get(&format!("{url}?added_after={}", records[5].1))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({}), "{}", r.text);
}

#[tokio::test]
async fn match_id_selects_one_or_several_objects() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let objects: Vec<Value> = (0..5).map(|i| indicator(&format!("Id {i}"))).collect();
    let id: Vec<String> = objects.iter().map(|o| s(&o["id"])).collect();
    app.operator.push(&url, objects).await;

    for base in [url.clone(), manifest_url(&app)] {
        let r = app
            .operator
            .get(&format!("{base}?match[id]={}", id[3]))
            .await;
        assert_eq!(ids(&r), vec![id[3].clone()]);
        // Results stay in date_added order whatever the order of the list.
        let r = app
            .operator
            .get(&format!("{base}?match[id]={},{},{}", id[4], id[0], id[2]))
            .await;
        assert_eq!(ids(&r), vec![id[0].clone(), id[2].clone(), id[4].clone()]);
        let r = app
            .operator
            .get(&format!(
                "{base}?match[id]={},{}",
                id[1],
                new_id("indicator")
            ))
            .await;
        assert_eq!(ids(&r), vec![id[1].clone()]);
        let r = app
            .operator
            .get(&format!("{base}?match[id]={}", new_id("indicator")))
            .await;
        assert_eq!(r.body, json!({}), "{}", r.text);
    }
}

#[tokio::test]
async fn match_type_selects_one_or_several_types() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let ind = indicator("Typed");
    let mal = malware("TypedLocker");
    let ip = ipv4("203.0.113.77");
    let ind2 = indicator("Typed again");
    app.operator
        .push(
            &url,
            vec![ind.clone(), mal.clone(), ip.clone(), ind2.clone()],
        )
        .await;
    let id = |o: &Value| s(&o["id"]);

    for base in [url.clone(), manifest_url(&app)] {
        let r = app
            .operator
            .get(&format!("{base}?match[type]=indicator"))
            .await;
        assert_eq!(ids(&r), vec![id(&ind), id(&ind2)]);
        let r = app
            .operator
            .get(&format!("{base}?match[type]=malware"))
            .await;
        assert_eq!(ids(&r), vec![id(&mal)]);
        let r = app
            .operator
            .get(&format!("{base}?match[type]=ipv4-addr,indicator"))
            .await;
        assert_eq!(ids(&r), vec![id(&ind), id(&ip), id(&ind2)]);
        // A STIX type with nothing stored is an empty result, not an error.
        let r = app
            .operator
            .get(&format!("{base}?match[type]=grouping"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, json!({}), "{}", r.text);
        let r = app
            .operator
            .get(&format!("{base}?match[type]=grouping,malware"))
            .await;
        assert_eq!(ids(&r), vec![id(&mal)]);
        // Fields are ANDed.
        let r = app
            .operator
            .get(&format!(
                "{base}?match[type]=malware&match[id]={},{}",
                id(&ind),
                id(&mal)
            ))
            .await;
        assert_eq!(ids(&r), vec![id(&mal)]);
    }
}

const V1: &str = "2026-01-01T00:00:00.000Z";
const V2: &str = "2026-02-01T00:00:00.000Z";
const V3: &str = "2026-03-01T00:00:00.000Z";

/// Object A with three versions (posted out of order), object B with one.
async fn versioned(app: &TestApp) -> (String, String) {
    let url = app.objects_url(Tier::Green);
    let a = new_id("indicator");
    for v in [V2, V3, V1] {
        app.operator
            .push(&url, vec![indicator_version(&a, "Versioned A", v)])
            .await;
    }
    let b = indicator("Single B");
    app.operator.push(&url, vec![b.clone()]).await;
    (a, s(&b["id"]))
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[tokio::test]
async fn match_version_selects_first_last_all_and_exact_versions() {
    let app = spawn_app();
    let (a, b) = versioned(&app).await;
    let b_version = "2026-01-01T00:00:00.000Z";
    let pair = |id: &str, v: &str| (id.to_string(), v.to_string());
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("", vec![pair(&a, V3), pair(&b, b_version)]),
        ("last", vec![pair(&a, V3), pair(&b, b_version)]),
        ("first", vec![pair(&a, V1), pair(&b, b_version)]),
        (
            "all",
            vec![
                pair(&a, V1),
                pair(&a, V2),
                pair(&a, V3),
                pair(&b, b_version),
            ],
        ),
        // An object whose only version is both first and last appears once.
        (
            "first,last",
            vec![pair(&a, V1), pair(&a, V3), pair(&b, b_version)],
        ),
        (
            "last,first",
            vec![pair(&a, V1), pair(&a, V3), pair(&b, b_version)],
        ),
        (V2, vec![pair(&a, V2)]),
        // The same instant at another precision still matches.
        ("2026-02-01T00:00:00Z", vec![pair(&a, V2)]),
        ("2026-02-01T00:00:00.000000Z", vec![pair(&a, V2)]),
        (
            "2026-01-01T00:00:00.000Z,2026-03-01T00:00:00.000Z",
            vec![pair(&a, V1), pair(&a, V3), pair(&b, b_version)],
        ),
        (
            "first,2026-02-01T00:00:00.000Z",
            vec![pair(&a, V1), pair(&a, V2), pair(&b, b_version)],
        ),
        (
            "first,2026-02-01T00:00:00.000Z,last",
            vec![
                pair(&a, V1),
                pair(&a, V2),
                pair(&a, V3),
                pair(&b, b_version),
            ],
        ),
        ("2027-01-01T00:00:00.000Z", vec![]),
    ];
    let url = app.objects_url(Tier::Green);
    for (versions, expected) in &cases {
        let q = if versions.is_empty() {
            String::new()
        } else {
            format!("?match[version]={versions}")
        };
        for base in [&url, &manifest_url(&app)] {
            let r = app.operator.get(&format!("{base}{q}")).await;
            let got = id_versions(&r);
            assert_eq!(
                sorted(got.clone()),
                sorted(expected.clone()),
                "{base}{q}: {}",
                r.text
            );
            assert_eq!(got.len(), expected.len(), "no duplicates for {q}");
        }
        // The object endpoint applies the same selection to one object.
        let expected_a: Vec<(String, String)> = expected
            .iter()
            .filter(|(id, _)| *id == a)
            .cloned()
            .collect();
        let r = app
            .operator
            .get(&format!("{}{q}", object_url(&app, &a)))
            .await;
        assert_eq!(
            sorted(id_versions(&r)),
            sorted(expected_a),
            "object{q}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn match_version_all_with_anything_else_or_a_repeat_is_400() {
    let app = spawn_app();
    let (a, _) = versioned(&app).await;
    for bad in [
        "all,last",
        "first,all",
        "all,2026-01-01T00:00:00.000Z",
        "all,all",
        "last,last",
        "first,first",
        "latest",
        "first,,last",
        "2026-13-01T00:00:00Z",
    ] {
        for base in [
            app.objects_url(Tier::Green),
            manifest_url(&app),
            object_url(&app, &a),
        ] {
            let r = app
                .operator
                .get(&format!("{base}?match[version]={bad}"))
                .await;
            assert_error(&r, 400, &format!("{base}?match[version]={bad}"));
        }
    }
}

#[tokio::test]
async fn match_spec_version_filters_objects_manifest_and_versions() {
    let app = spawn_app();
    let (a, b) = versioned(&app).await;
    let url = app.objects_url(Tier::Green);
    for base in [&url, &manifest_url(&app)] {
        let r = app
            .operator
            .get(&format!("{base}?match[spec_version]=2.1"))
            .await;
        assert_eq!(ids(&r), vec![a.clone(), b.clone()], "{}", r.text);
        let r = app
            .operator
            .get(&format!("{base}?match[spec_version]=2.0,2.1"))
            .await;
        assert_eq!(ids(&r), vec![a.clone(), b.clone()], "{}", r.text);
        let r = app
            .operator
            .get(&format!("{base}?match[spec_version]=2.0"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, json!({}), "{}", r.text);
        let r = app
            .operator
            .get(&format!(
                "{base}?match[spec_version]=2.1&match[version]=all&match[type]=indicator"
            ))
            .await;
        assert_eq!(ids(&r).len(), 4, "{}", r.text);
    }
    let r = app
        .operator
        .get(&format!("{}?match[spec_version]=2.1", object_url(&app, &a)))
        .await;
    assert_eq!(id_versions(&r), vec![(a.clone(), V3.to_string())]);
    let r = app
        .operator
        .get(&format!(
            "{}?match[spec_version]=2.1",
            versions_url(&app, &a)
        ))
        .await;
    assert_eq!(r.body["versions"], json!([V1, V2, V3]), "{}", r.text);
    let r = app
        .operator
        .get(&format!(
            "{}?match[spec_version]=2.0",
            versions_url(&app, &a)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({}), "{}", r.text);
}

#[tokio::test]
async fn versions_endpoint_honours_added_after() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let a = new_id("indicator");
    for v in [V1, V2, V3] {
        app.operator
            .push(&url, vec![indicator_version(&a, "Versions", v)])
            .await;
    }
    let m = app
        .operator
        .get(&format!(
            "{}?match[id]={a}&match[version]=all",
            manifest_url(&app)
        ))
        .await;
    let added: Vec<String> = m.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["date_added"]))
        .collect();
    assert_eq!(added.len(), 3, "{}", m.text);
    let versions = versions_url(&app, &a);
    let r = app
        .operator
        .get(&format!("{versions}?added_after={}", added[0]))
        .await;
    assert_eq!(r.body["versions"], json!([V2, V3]), "{}", r.text);
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some(added[1].as_str())
    );
    assert_eq!(r.header("x-taxii-date-added-last"), Some(added[2].as_str()));
    let r = app
        .operator
        .get(&format!("{versions}?added_after={}", added[2]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({}), "{}", r.text);
    let r = app
        .operator
        .get(&format!("{versions}?added_after=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(r.body["versions"], json!([V1, V2, V3]), "{}", r.text);
    // added_after applies to the object endpoint too.
    let r = app
        .operator
        .get(&format!(
            "{}?match[version]=all&added_after={}",
            object_url(&app, &a),
            added[1]
        ))
        .await;
    assert_eq!(id_versions(&r), vec![(a.clone(), V3.to_string())]);
}

#[tokio::test]
async fn malformed_parameters_are_400_error_resources() {
    let app = spawn_app();
    let (a, _) = versioned(&app).await;
    let common = [
        "limit=0",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "added_after=yesterday",
        "added_after=2026-01-01",
        "added_after=2026-13-01T00:00:00Z",
        "added_after=",
        "added_after=2026-01-01T00:00:00Z&added_after=2026-01-02T00:00:00Z",
        "limit=5&limit=5",
        "match[spec_version]=two",
        "match[spec_version]=2.1&match[spec_version]=2.1",
    ];
    let collection_only = [
        "match[id]=not-an-id",
        "match[id]=indicator--1234",
        "match[type]=Indicator",
        "match[type]=indicator,,malware",
        "match[type]=indicator&match[type]=malware",
        "match[version]=latest",
    ];
    let endpoints = [
        (app.objects_url(Tier::Green), true),
        (manifest_url(&app), true),
        (object_url(&app, &a), false),
        (versions_url(&app, &a), false),
    ];
    for (base, collection_level) in &endpoints {
        let extra: &[&str] = if *collection_level {
            &collection_only
        } else {
            &[]
        };
        for q in common.iter().chain(extra) {
            let r = app.operator.get(&format!("{base}?{q}")).await;
            assert_error(&r, 400, &format!("{base}?{q}"));
        }
    }
    // DELETE refuses a malformed match[version] before touching anything.
    let r = app
        .operator
        .delete(&format!("{}?match[version]=all,last", object_url(&app, &a)))
        .await;
    assert_error(&r, 400, "delete");
    let r = app.operator.get(&versions_url(&app, &a)).await;
    assert_eq!(r.body["versions"], json!([V1, V2, V3]), "{}", r.text);
}
