//! Who may do what: mutual TLS identifies the member, grants and clearance
//! decide its rights, and TLP markings keep objects out of laxer tiers.

use breakwater::certs::CertificateAuthority;
use breakwater::model::Tier;
use breakwater::store::MemberUpdate;
use chrono::{Duration, Utc};
use reqwest::header::ACCEPT;
use serde_json::json;

use crate::errors::{assert_taxii_error, stored_ids};
use crate::helpers::*;

const TLP2_RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const TLP1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

/// A 401 carries a challenge (TAXII 2.1 §1.6.9) and a TAXII error body.
fn assert_unauthenticated(r: &Response) {
    assert_taxii_error(r, 401);
    let challenge = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(!challenge.trim().is_empty());
}

/// The request must not succeed: either the TLS handshake is refused (the
/// request errors) or the server answers 401.
async fn assert_refused(client: &Client, url: &str) {
    match client.http.get(url).header(ACCEPT, TAXII).send().await {
        Err(_) => {}
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert_eq!(status, 401, "a refused certificate got through: {text}");
        }
    }
}

#[tokio::test]
async fn no_client_certificate_is_401_with_a_challenge_everywhere() {
    let app = spawn_app();
    let anonymous = app.anonymous();
    let green = app.collection(Tier::Green);
    let root = app.api_root();
    for url in [
        format!("{}/taxii2/", app.base()),
        root.clone(),
        format!("{root}collections/"),
        format!("{root}collections/{green}/"),
        format!("{root}collections/{green}/manifest/"),
        app.objects_url(Tier::Green),
        format!("{root}status/{}/", uuid::Uuid::new_v4()),
    ] {
        let r = anonymous.get(&url).await;
        assert_unauthenticated(&r);
    }
    let r = anonymous
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [indicator("anonymous push")] }),
        )
        .await;
    assert_unauthenticated(&r);
    let r = anonymous
        .delete(&format!(
            "{}{}/",
            app.objects_url(Tier::Green),
            new_id("indicator")
        ))
        .await;
    assert_unauthenticated(&r);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let app = spawn_app();
    let rogue_ca = CertificateAuthority::generate("Rogue CA", 30).unwrap();
    // Same member name as the operator: the name alone must not be enough.
    let issued = rogue_ca.issue_client("operator", 30).unwrap();
    let client = Client::from_pems(
        app.port,
        app.ca.cert_pem(),
        Some((&issued.cert_pem, &issued.key_pem)),
    );
    assert_refused(&client, &format!("{}collections/", app.api_root())).await;

    // Even if its fingerprint were registered, the handshake must not accept it.
    app.member("rogue", "shipping-line", Tier::Red);
    app.exchange
        .register_certificate("rogue", &issued.info)
        .unwrap();
    app.grant("rogue", Tier::Green, true, true);
    assert_refused(&client, &format!("{}collections/", app.api_root())).await;
    // The server itself is fine: the community's certificates still work.
    let r = app
        .operator
        .get(&format!("{}collections/", app.api_root()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_refused() {
    let app = spawn_app();
    app.member("carrier", "shipping-line", Tier::Green);
    app.grant("carrier", Tier::Green, true, true);
    let now = Utc::now();
    let windows = [
        (now - Duration::days(30), now - Duration::days(1)),
        (now + Duration::days(1), now + Duration::days(30)),
    ];
    for (not_before, not_after) in windows {
        let issued = app
            .ca
            .issue_client_between("carrier", not_before, not_after)
            .unwrap();
        app.exchange
            .register_certificate("carrier", &issued.info)
            .unwrap();
        let client = Client::from_pems(
            app.port,
            app.ca.cert_pem(),
            Some((&issued.cert_pem, &issued.key_pem)),
        );
        assert_refused(&client, &format!("{}collections/", app.api_root())).await;
        assert_refused(&client, &app.objects_url(Tier::Green)).await;
    }
    // The member's valid certificate still works.
    let valid = app.certificate_for("carrier");
    let r = valid.get(&app.objects_url(Tier::Green)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_unregistered_certificate_from_the_community_ca_is_401() {
    let app = spawn_app();
    let issued = app.ca.issue_client("operator", 30).unwrap();
    let client = Client::from_pems(
        app.port,
        app.ca.cert_pem(),
        Some((&issued.cert_pem, &issued.key_pem)),
    );
    let r = client.get(&format!("{}collections/", app.api_root())).await;
    assert_unauthenticated(&r);
    let r = client
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [indicator("unregistered push")] }),
        )
        .await;
    assert_unauthenticated(&r);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
}

#[tokio::test]
async fn a_green_reader_sees_only_green_and_red_does_not_exist_for_it() {
    let app = spawn_app();
    let red_object = indicator("red secret");
    app.operator
        .push(&app.objects_url(Tier::Red), vec![red_object.clone()])
        .await;
    let green_object = indicator("green news");
    app.operator
        .push(&app.objects_url(Tier::Green), vec![green_object.clone()])
        .await;

    let reader = app.member("pilot-service", "nautical-services", Tier::Green);
    app.grant("pilot-service", Tier::Green, true, false);
    let root = app.api_root();

    let r = reader.get(&format!("{root}collections/")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let collections = r.body["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 1, "{}", r.text);
    assert_eq!(collections[0]["id"], app.collection(Tier::Green));
    assert_eq!(collections[0]["can_read"], json!(true));
    assert_eq!(collections[0]["can_write"], json!(false));

    let r = reader
        .get(&format!(
            "{root}collections/{}/",
            app.collection(Tier::Green)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["can_read"], json!(true));
    assert_eq!(r.body["can_write"], json!(false));
    let r = reader.get(&app.objects_url(Tier::Green)).await;
    assert_eq!(
        ids_in::<Vec<String>>(&r.body, "objects"),
        [green_object["id"].as_str().unwrap()]
    );

    // Hidden collections answer exactly like missing ones: 404, not 403.
    for tier in [Tier::Red, Tier::Amber, Tier::Clear] {
        let c = app.collection(tier);
        let red_id = red_object["id"].as_str().unwrap();
        for url in [
            format!("{root}collections/{c}/"),
            format!("{root}collections/{c}/objects/"),
            format!("{root}collections/{c}/manifest/"),
            format!("{root}collections/{c}/objects/{red_id}/"),
            format!("{root}collections/{c}/objects/{red_id}/versions/"),
        ] {
            let r = reader.get(&url).await;
            assert_taxii_error(&r, 404);
            assert!(!r.text.contains("red secret"));
        }
    }
    // By alias too.
    let r = reader.get(&format!("{root}collections/tlp-red/")).await;
    assert_taxii_error(&r, 404);
    // And the unknown-collection answer is the same shape.
    let missing = reader
        .get(&format!("{root}collections/{}/", uuid::Uuid::new_v4()))
        .await;
    assert_taxii_error(&missing, 404);
    let hidden = reader
        .get(&format!("{root}collections/{}/", app.collection(Tier::Red)))
        .await;
    assert_eq!(hidden.body["title"], missing.body["title"]);
}

#[tokio::test]
async fn posting_without_the_write_right_is_403_and_stores_nothing() {
    let app = spawn_app();
    let reader = app.member("customs", "government", Tier::Green);
    app.grant("customs", Tier::Green, true, false);
    let r = reader
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [indicator("read-only push")] }),
        )
        .await;
    assert_taxii_error(&r, 403);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
    // Posting into a collection it cannot see at all is 404.
    let r = reader
        .post(
            &app.objects_url(Tier::Amber),
            &json!({ "objects": [indicator("hidden push")] }),
        )
        .await;
    assert_taxii_error(&r, 404);
    assert!(stored_ids(&app, Tier::Amber).await.is_empty());
}

#[tokio::test]
async fn delete_follows_the_taxii_read_write_matrix() {
    let app = spawn_app();
    let member = app.member("stevedore", "terminal", Tier::Red);
    // Clear: read only; Green: write only; Amber: neither; Red: both.
    app.grant("stevedore", Tier::Clear, true, false);
    app.grant("stevedore", Tier::Green, false, true);
    app.grant("stevedore", Tier::Red, true, true);
    let cases = [
        (Tier::Clear, 403),
        (Tier::Green, 403),
        (Tier::Amber, 404),
        (Tier::Red, 200),
    ];
    for (tier, expected) in cases {
        let object = indicator("to delete");
        let id = object["id"].as_str().unwrap().to_string();
        app.operator
            .push(&app.objects_url(tier), vec![object])
            .await;
        let url = format!("{}{id}/", app.objects_url(tier));
        let r = member.delete(&url).await;
        if expected == 200 {
            assert_eq!(r.status, 200, "{tier:?}: {}", r.text);
            let after = app.operator.get(&url).await;
            assert_taxii_error(&after, 404);
            assert!(stored_ids(&app, tier).await.is_empty());
        } else {
            assert_taxii_error(&r, expected);
            // Refused deletes leave the object in place.
            assert_eq!(stored_ids(&app, tier).await, [id.as_str()], "{tier:?}");
        }
    }
}

#[tokio::test]
async fn revocation_bites_on_an_open_keep_alive_connection() {
    let app = spawn_app();
    let client = app.member("tug-operator", "nautical-services", Tier::Green);
    app.grant("tug-operator", Tier::Green, true, true);
    let url = app.objects_url(Tier::Green);
    let r = client.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);

    app.exchange
        .revoke_certificate(client.fingerprint.as_deref().unwrap())
        .unwrap();

    // Same client, same connection pool: the pooled TLS connection carries
    // the now-revoked certificate.
    let r = client.get(&url).await;
    assert_unauthenticated(&r);
    let r = client
        .post(&url, &json!({ "objects": [indicator("after revocation")] }))
        .await;
    assert_unauthenticated(&r);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
    // A fresh certificate for the same member still works.
    let renewed = app.certificate_for("tug-operator");
    let r = renewed.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn suspension_refuses_the_next_request() {
    let app = spawn_app();
    let client = app.member("bunker-supplier", "energy", Tier::Green);
    app.grant("bunker-supplier", Tier::Green, true, true);
    let url = app.objects_url(Tier::Green);
    let r = client.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);

    app.exchange
        .store()
        .update_member(
            "bunker-supplier",
            MemberUpdate {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    let r = client.get(&url).await;
    assert_taxii_error(&r, 403);
    let r = client
        .post(&url, &json!({ "objects": [indicator("while suspended")] }))
        .await;
    assert_taxii_error(&r, 403);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());

    app.exchange
        .store()
        .update_member(
            "bunker-supplier",
            MemberUpdate {
                suspended: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    let r = client.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_status_belongs_to_the_member_that_posted() {
    let app = spawn_app();
    let writer = app.member("harbour-master", "port-authority", Tier::Green);
    let other = app.member("ferry-line", "shipping-line", Tier::Green);
    app.grant("harbour-master", Tier::Green, true, true);
    app.grant("ferry-line", Tier::Green, true, true);
    let r = writer
        .post(
            &app.objects_url(Tier::Green),
            &json!({ "objects": [indicator("mine")] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let url = format!(
        "{}status/{}/",
        app.api_root(),
        r.body["id"].as_str().unwrap()
    );

    let mine = writer.get(&url).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let theirs = other.get(&url).await;
    assert_taxii_error(&theirs, 404);
    // The operator oversees every status.
    let r = app.operator.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn red_into_amber(marking: &str) {
    let app = spawn_app();
    let mut red = indicator("red-marked");
    red["object_marking_refs"] = json!([marking]);
    let plain = indicator("unmarked");
    let url = app.objects_url(Tier::Amber);
    let r = app
        .operator
        .post(&url, &json!({ "objects": [red.clone(), plain.clone()] }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total_count"], 2, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    assert_eq!(r.body["failure_count"], 1, "{}", r.text);
    assert_eq!(
        ids_in::<Vec<String>>(&r.body, "successes"),
        [plain["id"].as_str().unwrap()]
    );
    let failure = &r.body["failures"][0];
    assert_eq!(failure["id"], red["id"]);
    assert_eq!(failure["version"], red["modified"]);
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.contains("TLP:RED") && message.contains("TLP:AMBER"),
        "{message}"
    );
    assert_eq!(
        stored_ids(&app, Tier::Amber).await,
        [plain["id"].as_str().unwrap()]
    );
    // The same object is welcome in the RED collection.
    app.operator
        .push(&app.objects_url(Tier::Red), vec![red])
        .await;
}

#[tokio::test]
async fn a_tlp2_red_object_is_kept_out_of_amber_while_the_rest_is_stored() {
    red_into_amber(TLP2_RED).await;
}

#[tokio::test]
async fn a_tlp1_red_object_is_kept_out_of_amber_while_the_rest_is_stored() {
    red_into_amber(TLP1_RED).await;
}

#[tokio::test]
async fn a_certificate_and_a_token_of_different_members_are_refused() {
    use base64::Engine;
    use reqwest::header::AUTHORIZATION;

    let app = spawn_app_with(|c| c.auth.tokens = true);
    let alice = app.member("alice-terminal", "terminal", Tier::Green);
    app.member("bob-carrier", "shipping-line", Tier::Green);
    app.grant("alice-terminal", Tier::Green, true, true);
    app.grant("bob-carrier", Tier::Green, true, true);
    let (_, bobs) = app.exchange.issue_token("bob-carrier", None).unwrap();
    let url = app.objects_url(Tier::Green);
    for authorization in [
        format!("Bearer {bobs}"),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x:{bobs}"))
        ),
    ] {
        let r = alice
            .send(
                alice
                    .http
                    .get(&url)
                    .header(ACCEPT, TAXII)
                    .header(AUTHORIZATION, authorization),
            )
            .await;
        assert_unauthenticated(&r);
    }
    let r = alice.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn rights_changes_apply_to_the_very_next_request() {
    use breakwater::model::CollectionId;
    use breakwater::store::{CollectionUpdate, Grantee};

    let app = spawn_app();
    let member = app.member("line-agent", "shipping-line", Tier::Green);
    app.grant("line-agent", Tier::Green, true, false);
    let green = CollectionId::parse(&app.collection(Tier::Green)).unwrap();
    let url = app.objects_url(Tier::Green);
    let list = format!("{}collections/", app.api_root());
    assert_eq!(member.get(&url).await.status, 200);

    // The operator raises the collection above the member's clearance.
    app.exchange
        .store()
        .update_collection(
            green,
            CollectionUpdate {
                tier: Some(Tier::Red),
                ..Default::default()
            },
        )
        .unwrap();
    assert_taxii_error(&member.get(&url).await, 404);
    let r = member.get(&list).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({}), "an empty collection list is omitted");

    app.exchange
        .store()
        .update_collection(
            green,
            CollectionUpdate {
                tier: Some(Tier::Green),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(member.get(&url).await.status, 200);

    // Write only: visible, postable, not readable (403, not 404).
    app.grant("line-agent", Tier::Green, false, true);
    let r = member.get(&list).await;
    assert_eq!(r.body["collections"][0]["can_read"], json!(false));
    assert_eq!(r.body["collections"][0]["can_write"], json!(true));
    assert_taxii_error(&member.get(&url).await, 403);
    let manifest = format!("{}collections/{green}/manifest/", app.api_root());
    assert_taxii_error(&member.get(&manifest).await, 403);
    let r = member
        .post(&url, &json!({ "objects": [indicator("write-only push")] }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);

    // Grant removed: the collection is gone for the member.
    app.exchange
        .store()
        .remove_grant(green, &Grantee::Member("line-agent".into()))
        .unwrap();
    assert_taxii_error(&member.get(&url).await, 404);
    let r = member
        .post(&url, &json!({ "objects": [indicator("after removal")] }))
        .await;
    assert_taxii_error(&r, 404);
}
