//! Objects, object-by-id, manifest, DELETE and POST semantics (TAXII 2.1
//! §3.2, §3.7, §4.3, §5.3–§5.8): what a SOC tool relies on when it pushes
//! and polls.

use breakwater::model::{Tier, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;

fn collection_url(app: &TestApp, tier: Tier) -> String {
    format!("{}collections/{}/", app.api_root(), app.collection(tier))
}

fn manifest_url(app: &TestApp, tier: Tier) -> String {
    format!("{}manifest/", collection_url(app, tier))
}

fn object_url(app: &TestApp, tier: Tier, id: &str) -> String {
    format!("{}objects/{id}/", collection_url(app, tier))
}

fn versions_url(app: &TestApp, tier: Tier, id: &str) -> String {
    format!("{}objects/{id}/versions/", collection_url(app, tier))
}

fn ids(r: &Response) -> Vec<String> {
    ids_in(&r.body, "objects")
}

/// `(id, modified)` of every object in an envelope, in order.
fn id_versions(r: &Response) -> Vec<(String, String)> {
    r.body["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["id"].as_str().unwrap().to_string(),
                        o["modified"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn date_added(record: &Value) -> String {
    record["date_added"].as_str().unwrap().to_string()
}

/// A TAXII timestamp: `YYYY-MM-DDTHH:MM:SS.ssssssZ` (TAXII 2.1 §2).
fn is_taxii_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

fn assert_more_false(r: &Response) {
    assert!(
        r.body.get("more").is_none() || r.body["more"] == false,
        "{}",
        r.text
    );
    assert!(r.body.get("next").is_none(), "{}", r.text);
}

fn assert_error(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII), "{}", r.text);
    assert!(
        r.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{}",
        r.text
    );
    assert_eq!(r.body["http_status"], status.to_string(), "{}", r.text);
}

/// An SCO with neither `created` nor `modified`.
fn ipv4(value: &str) -> Value {
    json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": new_id("ipv4-addr"),
        "value": value
    })
}

fn malware(name: &str) -> Value {
    json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": new_id("malware"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "is_family": false
    })
}

#[tokio::test]
async fn an_empty_collection_is_an_empty_envelope() {
    let app = spawn_app();
    for url in [
        app.objects_url(Tier::Green),
        manifest_url(&app, Tier::Green),
    ] {
        let r = app.operator.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some(TAXII));
        assert_eq!(r.body, json!({}), "{url}: {}", r.text);
    }
}

#[tokio::test]
async fn objects_are_returned_byte_for_byte_as_posted() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    // Hand-written JSON: key order, a trailing-zero float and an escaped
    // character would all change if the server re-serialised the object.
    let id = new_id("indicator");
    let raw = format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern_type":"stix","pattern":"[ipv4-addr:value = '203.0.113.9']","valid_from":"2026-01-01T00:00:00Z","name":"Crane PLC C2 \u00e9cho","x_port_score":7.50,"x_port_terminal":{{"berths":[1,2,{{"crane":"STS-4","tags":["ot","modbus"]}}],"active":true,"note":null}}}}"#
    );
    let body = format!(r#"{{"objects":[{raw}]}}"#);
    let r = app
        .operator
        .send(
            app.operator
                .http
                .post(&url)
                .header("accept", TAXII)
                .header("content-type", TAXII)
                .body(body),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);

    let mut custom = indicator("Vessel tracking anomaly");
    custom["x_harbour"] = json!({"zones": [{"name": "A", "depth_m": 14}], "pilots": []});
    custom["x_flag"] = json!(false);
    app.operator.push(&url, vec![custom.clone()]).await;

    let r = app.operator.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert!(
        r.text.contains(&raw),
        "the object was not spliced unchanged:\n{raw}\n{}",
        r.text
    );
    let objects = r.body["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2, "{}", r.text);
    assert_eq!(objects[0], serde_json::from_str::<Value>(&raw).unwrap());
    assert_eq!(objects[1], custom);
    assert_more_false(&r);

    // The same bytes come back from the object endpoint.
    let r = app.operator.get(&object_url(&app, Tier::Green, &id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains(&raw), "{}", r.text);
    assert_more_false(&r);
}

#[tokio::test]
async fn get_object_returns_the_latest_version_and_404_for_unknown_ids() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let id = new_id("indicator");
    // Posted out of order: "latest" is by `modified`, not by arrival.
    for modified in [
        "2026-02-01T00:00:00.000Z",
        "2026-03-01T00:00:00.000Z",
        "2026-01-15T00:00:00.000Z",
    ] {
        app.operator
            .push(&url, vec![indicator_version(&id, "Berth scan", modified)])
            .await;
    }
    let other = indicator("Unrelated");
    app.operator.push(&url, vec![other.clone()]).await;

    let r = app.operator.get(&object_url(&app, Tier::Green, &id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(
        id_versions(&r),
        vec![(id.clone(), "2026-03-01T00:00:00.000Z".to_string())]
    );
    assert!(r.header("x-taxii-date-added-first").is_some());
    assert!(r.header("x-taxii-date-added-last").is_some());

    // The objects endpoint, too, shows only the latest version by default.
    let r = app.operator.get(&url).await;
    assert_eq!(
        id_versions(&r),
        vec![
            (id.clone(), "2026-03-01T00:00:00.000Z".to_string()),
            (
                other["id"].as_str().unwrap().to_string(),
                "2026-01-01T00:00:00.000Z".to_string()
            ),
        ],
        "{}",
        r.text
    );

    let unknown = new_id("indicator");
    let r = app
        .operator
        .get(&object_url(&app, Tier::Green, &unknown))
        .await;
    assert_error(&r, 404);
    // An object stored in another collection is unknown here.
    let r = app.operator.get(&object_url(&app, Tier::Amber, &id)).await;
    assert_error(&r, 404);
}

#[tokio::test]
async fn reposting_an_identical_object_is_a_counted_success_without_duplicates() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let object = indicator("Fake customs broker");
    let id = object["id"].as_str().unwrap().to_string();

    let first = app.operator.push(&url, vec![object.clone()]).await;
    assert_eq!(first.body["failure_count"], 0);
    // Again alone, then twice in the same envelope.
    let second = app.operator.push(&url, vec![object.clone()]).await;
    assert_eq!(second.body["total_count"], 1);
    assert_eq!(second.body["failure_count"], 0);
    assert_eq!(second.body["successes"][0]["id"], id);
    assert_eq!(second.body["successes"][0]["version"], object["modified"]);
    let third = app
        .operator
        .push(&url, vec![object.clone(), object.clone()])
        .await;
    assert_eq!(third.body["total_count"], 2);
    assert_eq!(third.body["failure_count"], 0);
    assert_eq!(third.body["successes"].as_array().unwrap().len(), 2);

    // The same object with its keys in another order is the same object.
    let mut reordered = serde_json::Map::new();
    let map = object.as_object().unwrap();
    for key in map.keys().rev() {
        reordered.insert(key.clone(), map[key].clone());
    }
    app.operator
        .push(&url, vec![Value::Object(reordered)])
        .await;

    let r = app.operator.get(&url).await;
    assert_eq!(ids(&r), vec![id.clone()], "{}", r.text);
    let r = app
        .operator
        .get(&format!("{}?match[version]=all", url))
        .await;
    assert_eq!(ids(&r), vec![id.clone()], "{}", r.text);
    let r = app.operator.get(&manifest_url(&app, Tier::Green)).await;
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(
        r.body["versions"],
        json!([object["modified"]]),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_different_body_under_an_existing_id_and_version_is_a_failure() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let original = indicator("Original name");
    app.operator.push(&url, vec![original.clone()]).await;

    let mut changed = original.clone();
    changed["name"] = json!("Silently rewritten");
    let fresh = indicator("Unrelated and new");
    let r = app
        .operator
        .post(&url, &json!({ "objects": [changed, fresh.clone()] }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total_count"], 2, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    assert_eq!(r.body["failure_count"], 1, "{}", r.text);
    assert_eq!(r.body["pending_count"], 0, "{}", r.text);
    let failure = &r.body["failures"][0];
    assert_eq!(failure["id"], original["id"]);
    assert_eq!(failure["version"], original["modified"]);
    assert!(
        failure["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text
    );
    assert_eq!(r.body["successes"][0]["id"], fresh["id"]);

    // The stored object is still the original.
    let r = app
        .operator
        .get(&object_url(
            &app,
            Tier::Green,
            original["id"].as_str().unwrap(),
        ))
        .await;
    assert_eq!(r.body["objects"], json!([original]), "{}", r.text);
}

#[tokio::test]
async fn scos_without_timestamps_are_versioned_by_date_added_and_repost_idempotently() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let sco = ipv4("198.51.100.7");
    let id = sco["id"].as_str().unwrap().to_string();
    let first = app.operator.push(&url, vec![sco.clone()]).await;
    let version = first.body["successes"][0]["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_taxii_timestamp(&version), "{version}");

    let r = app.operator.get(&manifest_url(&app, Tier::Green)).await;
    let records = r.body["objects"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{}", r.text);
    assert_eq!(records[0]["id"], id);
    assert_eq!(records[0]["version"], version);
    assert_eq!(date_added(&records[0]), version);

    // Reposting is the same object: same version reported, nothing new stored.
    let again = app.operator.push(&url, vec![sco.clone()]).await;
    assert_eq!(again.body["failure_count"], 0);
    assert_eq!(again.body["successes"][0]["version"], version);
    let r = app.operator.get(&manifest_url(&app, Tier::Green)).await;
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(r.body["versions"], json!([version]), "{}", r.text);
    let r = app.operator.get(&object_url(&app, Tier::Green, &id)).await;
    assert_eq!(r.body["objects"], json!([sco]), "{}", r.text);
    // The version can be selected explicitly.
    let r = app
        .operator
        .get(&format!(
            "{}?match[version]={version}",
            object_url(&app, Tier::Green, &id)
        ))
        .await;
    assert_eq!(r.body["objects"], json!([sco]), "{}", r.text);
}

#[tokio::test]
async fn manifest_records_carry_id_date_added_version_and_media_type() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let ind = indicator_version(
        &new_id("indicator"),
        "Manifest check",
        "2026-04-05T06:07:08.123Z",
    );
    let mal = malware("PortLocker");
    let sco = ipv4("192.0.2.44");
    app.operator
        .push(&url, vec![ind.clone(), mal.clone(), sco.clone()])
        .await;

    let r = app.operator.get(&manifest_url(&app, Tier::Green)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_more_false(&r);
    let records = r.body["objects"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{}", r.text);
    for (record, object) in records.iter().zip([&ind, &mal, &sco]) {
        assert_eq!(record["id"], object["id"]);
        assert!(is_taxii_timestamp(&date_added(record)), "{record}");
        assert_eq!(record["media_type"], "application/stix+json;version=2.1");
        if object.get("modified").is_some() {
            assert_eq!(record["version"], object["modified"]);
        } else {
            assert_eq!(record["version"], record["date_added"]);
        }
    }
    // Oldest first, each date_added distinct.
    let added: Vec<i64> = records
        .iter()
        .map(|r| Timestamp::parse(&date_added(r)).unwrap().micros())
        .collect();
    assert!(added.windows(2).all(|w| w[0] < w[1]), "{added:?}");
    assert_eq!(
        r.header("x-taxii-date-added-first"),
        Some(date_added(&records[0]).as_str())
    );
    assert_eq!(
        r.header("x-taxii-date-added-last"),
        Some(date_added(&records[2]).as_str())
    );
}

#[tokio::test]
async fn delete_removes_every_version_from_objects_manifest_and_versions() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let id = new_id("indicator");
    for modified in [
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
    ] {
        app.operator
            .push(
                &url,
                vec![indicator_version(&id, "To be withdrawn", modified)],
            )
            .await;
    }
    let keep = indicator("Stays");
    app.operator.push(&url, vec![keep.clone()]).await;

    let r = app
        .operator
        .delete(&object_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = app.operator.get(&object_url(&app, Tier::Green, &id)).await;
    assert_error(&r, 404);
    let r = app
        .operator
        .get(&format!(
            "{}?match[version]=all",
            object_url(&app, Tier::Green, &id)
        ))
        .await;
    assert_error(&r, 404);
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &id))
        .await;
    assert_error(&r, 404);
    for version in ["all", "first", "last"] {
        let r = app
            .operator
            .get(&format!("{url}?match[version]={version}"))
            .await;
        assert_eq!(ids(&r), vec![keep["id"].as_str().unwrap()], "{}", r.text);
        let r = app
            .operator
            .get(&format!(
                "{}?match[version]={version}",
                manifest_url(&app, Tier::Green)
            ))
            .await;
        assert_eq!(ids(&r), vec![keep["id"].as_str().unwrap()], "{}", r.text);
    }
    // Deleting again: the object is gone.
    let r = app
        .operator
        .delete(&object_url(&app, Tier::Green, &id))
        .await;
    assert_error(&r, 404);
}

#[tokio::test]
async fn delete_with_match_version_removes_only_that_version() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let id = new_id("indicator");
    let [v1, v2, v3] = [
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
    ];
    for modified in [v1, v2, v3] {
        app.operator
            .push(&url, vec![indicator_version(&id, "Versioned", modified)])
            .await;
    }
    let object = object_url(&app, Tier::Green, &id);
    let versions = versions_url(&app, Tier::Green, &id);

    let r = app
        .operator
        .delete(&format!("{object}?match[version]={v2}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.operator.get(&versions).await;
    assert_eq!(r.body["versions"], json!([v1, v3]), "{}", r.text);
    let r = app
        .operator
        .get(&format!("{object}?match[version]=all"))
        .await;
    let got: Vec<String> = id_versions(&r).into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, vec![v1, v3], "{}", r.text);
    let r = app
        .operator
        .get(&format!("{object}?match[version]={v2}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(ids(&r).is_empty(), "{}", r.text);

    // Deleting the latest makes the remaining one the latest.
    let r = app
        .operator
        .delete(&format!("{object}?match[version]=last"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.operator.get(&versions).await;
    assert_eq!(r.body["versions"], json!([v1]), "{}", r.text);
    let r = app.operator.get(&object).await;
    assert_eq!(
        id_versions(&r),
        vec![(id.clone(), v1.to_string())],
        "{}",
        r.text
    );
    let r = app.operator.get(&url).await;
    assert_eq!(
        id_versions(&r),
        vec![(id.clone(), v1.to_string())],
        "{}",
        r.text
    );

    // A version that does not exist (any more): nothing to delete.
    let r = app
        .operator
        .delete(&format!("{object}?match[version]={v2}"))
        .await;
    assert_error(&r, 404);
    let r = app.operator.get(&versions).await;
    assert_eq!(r.body["versions"], json!([v1]), "{}", r.text);
}

#[tokio::test]
async fn date_added_headers_describe_exactly_the_page_returned() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let id = new_id("indicator");
    // One object with three versions, then four others, one envelope each.
    for modified in [
        "2026-01-01T00:00:00.000Z",
        "2026-01-02T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
    ] {
        app.operator
            .push(&url, vec![indicator_version(&id, "Paged", modified)])
            .await;
    }
    for i in 0..4 {
        app.operator
            .push(&url, vec![indicator(&format!("Filler {i}"))])
            .await;
    }
    let manifest = manifest_url(&app, Tier::Green);

    // Every stored version with its date_added, oldest first.
    let all = app
        .operator
        .get(&format!("{manifest}?match[version]=all"))
        .await;
    let records = all.body["objects"].as_array().unwrap().clone();
    assert_eq!(records.len(), 7, "{}", all.text);

    let expect = |r: &Response, first: &Value, last: &Value, what: &str| {
        assert_eq!(
            r.header("x-taxii-date-added-first"),
            Some(date_added(first).as_str()),
            "{what}"
        );
        assert_eq!(
            r.header("x-taxii-date-added-last"),
            Some(date_added(last).as_str()),
            "{what}"
        );
    };

    // Objects and manifest, page by page (limit 3 over all versions).
    for (endpoint, base) in [("objects", &url), ("manifest", &manifest)] {
        let mut query = format!("{base}?match[version]=all&limit=3");
        let mut offset = 0;
        loop {
            let r = app.operator.get(&query).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let n = r.body["objects"].as_array().unwrap().len();
            assert!(n > 0 && n <= 3, "{}", r.text);
            assert_eq!(
                ids(&r),
                records[offset..offset + n]
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            );
            expect(
                &r,
                &records[offset],
                &records[offset + n - 1],
                &format!("{endpoint} page at {offset}"),
            );
            offset += n;
            match r.body["next"].as_str() {
                Some(next) => {
                    query = format!("{base}?match[version]=all&limit=3&next={next}");
                }
                None => break,
            }
        }
        assert_eq!(offset, 7, "{endpoint}");
    }

    // Object by id: all three versions, then one page of two.
    let object = object_url(&app, Tier::Green, &id);
    let r = app
        .operator
        .get(&format!("{object}?match[version]=all"))
        .await;
    assert_eq!(ids(&r).len(), 3, "{}", r.text);
    expect(&r, &records[0], &records[2], "object, all versions");
    let r = app
        .operator
        .get(&format!("{object}?match[version]=all&limit=2"))
        .await;
    expect(&r, &records[0], &records[1], "object, limit 2");
    let r = app.operator.get(&object).await;
    expect(&r, &records[2], &records[2], "object, latest");

    // Versions, whole list and one page.
    let versions = versions_url(&app, Tier::Green, &id);
    let r = app.operator.get(&versions).await;
    expect(&r, &records[0], &records[2], "versions");
    let r = app.operator.get(&format!("{versions}?limit=1")).await;
    expect(&r, &records[0], &records[0], "versions, limit 1");
    let next = r.body["next"].as_str().expect("next").to_string();
    let r = app
        .operator
        .get(&format!("{versions}?limit=1&next={next}"))
        .await;
    expect(&r, &records[1], &records[1], "versions, second page");
}

#[tokio::test]
async fn bad_objects_fail_alone_while_the_rest_of_the_envelope_is_stored() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let good1 = indicator("Good one");
    let good2 = malware("Good two");
    let no_id = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '203.0.113.1']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z"
    });
    let mut bad_id = indicator("Bad id");
    bad_id["id"] = json!("indicator--not-a-uuid");
    let mut invalid = indicator("Missing type");
    invalid.as_object_mut().unwrap().remove("type");
    let invalid_id = invalid["id"].clone();
    let envelope = json!({
        "objects": [good1.clone(), 42, no_id, bad_id, "a string", invalid, good2.clone()]
    });
    let r = app.operator.post(&url, &envelope).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    assert_eq!(r.body["status"], "complete", "{}", r.text);
    assert_eq!(r.body["total_count"], 7, "{}", r.text);
    assert_eq!(r.body["success_count"], 2, "{}", r.text);
    assert_eq!(r.body["failure_count"], 5, "{}", r.text);
    assert_eq!(r.body["pending_count"], 0, "{}", r.text);
    assert_eq!(r.body["successes"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["failures"].as_array().unwrap().len(), 5);
    assert!(r.body.get("pendings").is_none(), "{}", r.text);
    for failure in r.body["failures"].as_array().unwrap() {
        assert!(failure["id"].is_string(), "{failure}");
        assert!(failure["version"].is_string(), "{failure}");
        assert!(
            failure["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{failure}"
        );
    }
    let failed_ids: Vec<&Value> = r.body["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["id"])
        .collect();
    assert!(
        failed_ids.contains(&&json!("indicator--not-a-uuid")),
        "{}",
        r.text
    );
    assert!(failed_ids.contains(&&invalid_id), "{}", r.text);
    let succeeded: Vec<&Value> = r.body["successes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(succeeded, vec![&good1["id"], &good2["id"]]);

    // The status endpoint reports the same.
    let status_url = format!(
        "{}status/{}/",
        app.api_root(),
        r.body["id"].as_str().unwrap()
    );
    let s = app.operator.get(&status_url).await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["success_count"], 2);
    assert_eq!(s.body["failure_count"], 5);

    let r = app.operator.get(&url).await;
    assert_eq!(r.body["objects"], json!([good1, good2]), "{}", r.text);
    let r = app
        .operator
        .get(&object_url(&app, Tier::Green, invalid_id.as_str().unwrap()))
        .await;
    assert_error(&r, 404);
}

#[tokio::test]
async fn a_stix_bundle_is_accepted_as_a_post_body() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let a = indicator("From a bundle");
    let b = malware("BundledRAT");
    let bundle = json!({
        "type": "bundle",
        "id": new_id("bundle"),
        "objects": [a.clone(), b.clone()]
    });
    let r = app.operator.post(&url, &bundle).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total_count"], 2, "{}", r.text);
    assert_eq!(r.body["success_count"], 2, "{}", r.text);
    let r = app.operator.get(&url).await;
    assert_eq!(r.body["objects"], json!([a, b]), "{}", r.text);
}

#[tokio::test]
async fn an_empty_objects_list_is_an_empty_complete_status() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let r = app.operator.post(&url, &json!({ "objects": [] })).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total_count"], 0, "{}", r.text);
    assert_eq!(r.body["success_count"], 0, "{}", r.text);
    assert_eq!(r.body["failure_count"], 0, "{}", r.text);
    assert_eq!(r.body["pending_count"], 0, "{}", r.text);
    // Not an envelope at all (no `objects` list): a 400 error resource.
    for body in [
        json!({}),
        json!([]),
        json!({"objects": 5}),
        json!("objects"),
    ] {
        let r = app.operator.post(&url, &body).await;
        assert_error(&r, 400);
    }
}

#[tokio::test]
async fn large_envelopes_complete_in_the_background_and_the_status_says_so() {
    let app = spawn_app_with(|c| c.limits.background_threshold = 5);
    let url = app.objects_url(Tier::Green);
    let objects: Vec<Value> = (0..40).map(|i| indicator(&format!("Bulk {i}"))).collect();
    let r = app
        .operator
        .post(&url, &json!({ "objects": objects.clone() }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total_count"], 40, "{}", r.text);
    let counts = |b: &Value| {
        b["success_count"].as_u64().unwrap()
            + b["failure_count"].as_u64().unwrap()
            + b["pending_count"].as_u64().unwrap()
    };
    assert_eq!(counts(&r.body), 40, "{}", r.text);
    let status_url = format!(
        "{}status/{}/",
        app.api_root(),
        r.body["id"].as_str().unwrap()
    );
    // Poll the status until it completes (bounded; no sleeping).
    let mut done = None;
    for _ in 0..10_000 {
        let s = app.operator.get(&status_url).await;
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(counts(&s.body), 40, "{}", s.text);
        if s.body["status"] == "complete" {
            done = Some(s);
            break;
        }
        assert_eq!(s.body["status"], "pending", "{}", s.text);
        assert_eq!(
            s.body["pendings"].as_array().map_or(0, Vec::len) as u64,
            s.body["pending_count"].as_u64().unwrap()
        );
        tokio::task::yield_now().await;
    }
    let done = done.expect("the background ingest never completed");
    assert_eq!(done.body["success_count"], 40, "{}", done.text);
    assert_eq!(done.body["pending_count"], 0, "{}", done.text);
    let r = app.operator.get(&url).await;
    assert_eq!(r.body["objects"], json!(objects));
}

#[tokio::test]
async fn a_deleted_object_can_be_posted_again_and_is_delivered_as_new() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let object = indicator("Withdrawn then republished");
    let id = object["id"].as_str().unwrap().to_string();
    app.operator.push(&url, vec![object.clone()]).await;
    let before = app.operator.get(&manifest_url(&app, Tier::Green)).await;
    let first_added = date_added(&before.body["objects"][0]);

    let r = app
        .operator
        .delete(&object_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = app.operator.push(&url, vec![object.clone()]).await;
    assert_eq!(again.body["failure_count"], 0, "{}", again.text);

    // A poller that had seen it before the delete sees it again, once.
    let r = app
        .operator
        .get(&format!("{url}?added_after={first_added}"))
        .await;
    assert_eq!(r.body["objects"], json!([object]), "{}", r.text);
    let r = app
        .operator
        .get(&versions_url(&app, Tier::Green, &id))
        .await;
    assert_eq!(
        r.body["versions"],
        json!([object["modified"]]),
        "{}",
        r.text
    );
}
