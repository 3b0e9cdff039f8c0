//! The community features an operator runs from the command line while the
//! server keeps serving: onboarding members, certificates and their
//! revocation (CRL included), grants capped by clearance, sector grants,
//! provenance of published identities, API tokens and the audit log.
//!
//! Every administrative step goes through the real `breakwater` executable
//! against the data directory the running server uses; every effect is
//! observed over TAXII.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use base64::Engine;
use breakwater::model::Tier;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::{Value, json};

use crate::binary::{
    Server, assert_success, assert_user_error, breakwater, config_of, green_id, init, run,
    stderr_of, stdout_of,
};
use crate::errors::{assert_taxii_error, stored_ids};
use crate::helpers::*;

/// `breakwater --config CONFIG ARGS...`, whatever its outcome.
fn cli(config: &Path, args: &[&str]) -> Output {
    run(breakwater().arg("--config").arg(config).args(args))
}

/// Runs a command that must succeed; returns its standard output.
fn cli_ok(config: &Path, args: &[&str]) -> String {
    let out = cli(config, args);
    assert_success(&out);
    stdout_of(&out)
}

/// Runs a `--json` command that must succeed; returns what it printed.
fn cli_json(config: &Path, args: &[&str]) -> Value {
    let text = cli_ok(config, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
}

/// The `certs list --json` rows of one member.
fn certificates_of(config: &Path, member: &str) -> Vec<Value> {
    cli_json(config, &["certs", "list", "--json"])
        .as_array()
        .expect("an array")
        .iter()
        .filter(|c| c["member"] == member)
        .cloned()
        .collect()
}

/// A client presenting the files `certs issue` wrote for `member` into `out`.
fn client_from_handover(port: u16, ca: &Path, out: &Path, member: &str) -> Client {
    Client::from_files(
        port,
        ca,
        Some((
            &out.join(format!("{member}.pem")),
            &out.join(format!("{member}-key.pem")),
        )),
    )
}

/// `certs issue --member NAME --out DIR --json`, checking the three files.
fn issue_through_cli(config: &Path, member: &str, out: &Path) -> Value {
    let issued = cli_json(
        config,
        &[
            "certs",
            "issue",
            "--member",
            member,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    for file in [
        format!("{member}.pem"),
        format!("{member}-key.pem"),
        format!("{member}.p12"),
    ] {
        assert!(out.join(&file).is_file(), "{file} not written: {issued}");
    }
    issued
}

fn with_creator(mut object: Value, identity: &str) -> Value {
    object["created_by_ref"] = json!(identity);
    object
}

#[tokio::test]
async fn the_readme_onboarding_walk_through_works_while_serve_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let green = green_id(&report);
    let config = config_of(&dir);
    let ca = dir.join("ca/ca.pem");
    let server = Server::start(&dir, &[]);
    let member = "evergreen-rail";

    // 1. add the organisation.
    let out = cli_ok(
        &config,
        &[
            "members",
            "add",
            member,
            "--sector",
            "rail",
            "--clearance",
            "amber",
        ],
    );
    assert!(out.contains(member), "{out}");
    // 2. issue its certificate.
    let handover = tmp.path().join("handover");
    let issued = issue_through_cli(&config, member, &handover);
    // 3. grant it the green collection.
    cli_ok(
        &config,
        &[
            "grants",
            "add",
            "--member",
            member,
            "--collection",
            &green,
            "--read",
            "--write",
        ],
    );
    // 4. its first poll: exactly the granted collection.
    let client = client_from_handover(server.port, &ca, &handover, member);
    let collections_url = format!("{}/crc/collections/", server.base());
    let r = client.get(&collections_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        ids_in::<BTreeSet<String>>(&r.body, "collections"),
        BTreeSet::from([green.clone()])
    );
    let objects_url = format!("{collections_url}{green}/objects/");
    client
        .push(&objects_url, vec![indicator("rail yard phishing")])
        .await;
    let r = client.get(&objects_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 1, "{}", r.text);

    // `certs list --json` names the certificate with its state.
    let listed = certificates_of(&config, member);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let cert = &listed[0];
    for field in ["member", "fingerprint", "not_after", "revoked"] {
        assert!(!cert[field].is_null(), "{field} missing: {cert}");
    }
    assert_eq!(cert["fingerprint"], issued["fingerprint"]);
    assert_eq!(cert["revoked"], false, "{cert}");
    let fingerprint = cert["fingerprint"].as_str().unwrap().to_string();

    // Revoking bites on the next request of the same client (its pooled,
    // already authenticated keep-alive connection), without a restart.
    cli_ok(&config, &["certs", "revoke", "--fingerprint", &fingerprint]);
    let r = client.get(&collections_url).await;
    assert_taxii_error(&r, 401);
    let r = client
        .post(
            &objects_url,
            &json!({ "objects": [indicator("after revocation")] }),
        )
        .await;
    assert_taxii_error(&r, 401);
    assert_eq!(certificates_of(&config, member)[0]["revoked"], true);

    // A second certificate: suspension refuses it, resuming lets it back in.
    let handover2 = tmp.path().join("handover-2");
    issue_through_cli(&config, member, &handover2);
    let second = client_from_handover(server.port, &ca, &handover2, member);
    let r = second.get(&objects_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    cli_ok(&config, &["members", "suspend", member]);
    let r = second.get(&objects_url).await;
    assert_taxii_error(&r, 403);
    let r = second
        .post(
            &objects_url,
            &json!({ "objects": [indicator("while suspended")] }),
        )
        .await;
    assert_taxii_error(&r, 403);
    cli_ok(&config, &["members", "resume", member]);
    let r = second.get(&objects_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 1, "{}", r.text);
    // Resuming the member does not bring the revoked certificate back.
    let r = client.get(&collections_url).await;
    assert_taxii_error(&r, 401);
    drop(server);
}

#[tokio::test]
async fn a_grant_above_the_clearance_is_refused_with_one_error_line_and_grants_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let config = config_of(&dir);
    let tier_id = |tier: &str| {
        report["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["tier"] == tier)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    cli_ok(
        &config,
        &[
            "members",
            "add",
            "pilot-station",
            "--sector",
            "nautical-services",
            "--clearance",
            "amber",
        ],
    );
    let before = cli_json(&config, &["grants", "list", "--json"]);

    let out = run(breakwater()
        .env("RUST_BACKTRACE", "1")
        .arg("--config")
        .arg(&config)
        .args([
            "grants",
            "add",
            "--member",
            "pilot-station",
            "--collection",
            &tier_id("red"),
            "--read",
        ]));
    assert_user_error(&out);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("TLP:AMBER") && stderr.contains("TLP:RED"),
        "the error names both tiers: {stderr}"
    );
    assert_eq!(cli_json(&config, &["grants", "list", "--json"]), before);

    // At the clearance itself the grant is fine.
    cli_ok(
        &config,
        &[
            "grants",
            "add",
            "--member",
            "pilot-station",
            "--collection",
            &tier_id("amber"),
            "--read",
        ],
    );
    let after = cli_json(&config, &["grants", "list", "--json"]);
    let granted: Vec<&Value> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["member"] == "pilot-station")
        .collect();
    assert_eq!(
        granted,
        vec![&json!({
            "collection": tier_id("amber"),
            "member": "pilot-station",
            "sector": null,
            "read": true,
            "write": false,
        })]
    );
}

#[tokio::test]
async fn a_sector_grant_reaches_members_who_join_later_and_nobody_else() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let x = cli_ok(
        &config,
        &[
            "collections",
            "create",
            "--title",
            "Road haulage incidents",
            "--tier",
            "amber",
            "--alias",
            "haulage",
        ],
    )
    .trim()
    .to_string();
    let objects_url = format!("{}collections/{x}/objects/", app.api_root());
    let collection_url = format!("{}collections/{x}/", app.api_root());
    let shared = indicator("cargo theft ring");
    app.operator.push(&objects_url, vec![shared.clone()]).await;

    cli_ok(
        &config,
        &[
            "grants",
            "add",
            "--sector",
            "trucking",
            "--collection",
            "haulage",
            "--read",
        ],
    );
    // Joins after the grant was made.
    cli_ok(
        &config,
        &[
            "members",
            "add",
            "nordic-haulage",
            "--sector",
            "trucking",
            "--clearance",
            "amber",
        ],
    );
    let haulier = app.certificate_for("nordic-haulage");
    let r = haulier.get(&objects_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        ids_in::<BTreeSet<String>>(&r.body, "objects"),
        BTreeSet::from([shared["id"].as_str().unwrap().to_string()])
    );
    let r = haulier
        .get(&format!("{}collections/", app.api_root()))
        .await;
    assert!(
        ids_in::<BTreeSet<String>>(&r.body, "collections").contains(&x),
        "{}",
        r.text
    );
    // The grant is read-only: writing is forbidden, not hidden.
    let r = haulier
        .post(
            &objects_url,
            &json!({ "objects": [indicator("haulier push")] }),
        )
        .await;
    assert_taxii_error(&r, 403);

    // Another sector does not even see the collection.
    let rail = app.member("rail-freight", "rail", Tier::Amber);
    for url in [&collection_url, &objects_url] {
        let r = rail.get(url).await;
        assert_taxii_error(&r, 404);
    }
    let r = rail.get(&format!("{}collections/", app.api_root())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !ids_in::<BTreeSet<String>>(&r.body, "collections").contains(&x),
        "{}",
        r.text
    );

    // Clearance still caps a sector grant: a trucking member cleared only
    // for GREEN does not see the AMBER collection.
    let small = app.member("small-haulier", "trucking", Tier::Green);
    let r = small.get(&objects_url).await;
    assert_taxii_error(&r, 404);
}

#[tokio::test]
async fn a_certificate_the_member_already_holds_can_be_registered_and_rotated() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let member = "harbour-pilots";
    let held = app.ca.issue_client(member, 30).unwrap();
    let cert_file = app.dir.path().join("held.pem");
    std::fs::write(&cert_file, &held.cert_pem).unwrap();

    let added = cli_json(
        &config,
        &[
            "members",
            "add",
            member,
            "--sector",
            "nautical-services",
            "--clearance",
            "green",
            "--cert",
            cert_file.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(added["member"]["name"], member, "{added}");
    assert_eq!(
        added["certificate"]["fingerprint"], held.info.fingerprint,
        "{added}"
    );
    cli_ok(
        &config,
        &[
            "grants",
            "add",
            "--member",
            member,
            "--collection",
            "tlp-green",
            "--read",
            "--write",
        ],
    );
    let old = Client::from_pems(
        app.port,
        app.ca.cert_pem(),
        Some((&held.cert_pem, &held.key_pem)),
    );
    let url = app.objects_url(Tier::Green);
    old.push(&url, vec![indicator("pilot boarding spoof")])
        .await;

    // Rotation: a second certificate while the first is still in use.
    let out = app.dir.path().join("rotation");
    let issued = issue_through_cli(&config, member, &out);
    let new = client_from_handover(app.port, &app.report.ca_certificate, &out, member);
    for client in [&old, &new] {
        let r = client.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["objects"].as_array().unwrap().len(), 1, "{}", r.text);
    }
    let listed = certificates_of(&config, member);
    assert_eq!(listed.len(), 2, "{listed:?}");

    // Retiring the old one (colon-separated upper-case hex, as tools print
    // fingerprints) leaves the new one working.
    let colons = held
        .info
        .fingerprint
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    cli_ok(&config, &["certs", "revoke", "--fingerprint", &colons]);
    let r = old.get(&url).await;
    assert_taxii_error(&r, 401);
    let r = new.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for c in certificates_of(&config, member) {
        let expect_revoked = c["fingerprint"] == held.info.fingerprint;
        assert_eq!(c["revoked"], expect_revoked, "{c}");
        if !expect_revoked {
            assert_eq!(c["fingerprint"], issued["fingerprint"], "{c}");
        }
    }
}

fn member_names(config: &Path) -> BTreeSet<String> {
    cli_json(config, &["members", "list", "--json"])
        .as_array()
        .expect("an array")
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_member_add_whose_certificate_cannot_be_registered_adds_no_member() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let add = |name: &str, cert: &Path| {
        cli(
            &config,
            &[
                "members",
                "add",
                name,
                "--sector",
                "shipping-line",
                "--cert",
                cert.to_str().unwrap(),
            ],
        )
    };
    // A file that is not there.
    let out = add("late-carrier", &app.dir.path().join("no-such.pem"));
    assert_user_error(&out);
    assert!(
        !member_names(&config).contains("late-carrier"),
        "a failed add left a member behind"
    );
    // A certificate another member already holds.
    let held = app.ca.issue_client("late-carrier", 30).unwrap();
    let cert_file = app.dir.path().join("late-carrier.pem");
    std::fs::write(&cert_file, &held.cert_pem).unwrap();
    let out = add("late-carrier", &cert_file);
    assert_success(&out);
    let out = add("copycat-carrier", &cert_file);
    assert_user_error(&out);
    assert!(
        !member_names(&config).contains("copycat-carrier"),
        "a failed add left a member behind"
    );
    assert!(certificates_of(&config, "copycat-carrier").is_empty());
    // The corrected command simply runs again, and the certificate stays
    // with its holder.
    let other = app.ca.issue_client("copycat-carrier", 30).unwrap();
    let other_file = app.dir.path().join("copycat-carrier.pem");
    std::fs::write(&other_file, &other.cert_pem).unwrap();
    assert_success(&add("copycat-carrier", &other_file));
    assert_eq!(certificates_of(&config, "copycat-carrier").len(), 1);
    let late = certificates_of(&config, "late-carrier");
    assert_eq!(late.len(), 1);
    assert_eq!(late[0]["fingerprint"], held.info.fingerprint);
}

/// Lower-case hex of a serial without the DER sign byte (as `certs list`).
fn serial_hex(raw: &[u8]) -> String {
    let mut raw = raw;
    while raw.len() > 1 && raw[0] == 0 {
        raw = &raw[1..];
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_crl_lists_exactly_the_revoked_serials_signed_by_the_community_ca() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let kept = app.member("container-terminal", "terminal-operator", Tier::Green);
    let revoked = app.certificate_for("container-terminal");
    let fingerprint = revoked.fingerprint.clone().unwrap();
    cli_ok(&config, &["certs", "revoke", "--fingerprint", &fingerprint]);

    let listed = certificates_of(&config, "container-terminal");
    let serial_of = |fp: &str| {
        listed
            .iter()
            .find(|c| c["fingerprint"] == fp)
            .unwrap_or_else(|| panic!("{fp} not listed: {listed:?}"))["serial"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
    };
    let revoked_serial = serial_of(&fingerprint);
    let kept_serial = serial_of(kept.fingerprint.as_deref().unwrap());

    let pem = cli_ok(&config, &["certs", "crl"]);
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("a PEM block");
    assert_eq!(block.label, "X509 CRL");
    let (_, crl) = x509_parser::parse_x509_crl(&block.contents).expect("a DER CRL");
    let serials: BTreeSet<String> = crl
        .iter_revoked_certificates()
        .map(|r| serial_hex(r.raw_serial()))
        .collect();
    assert_eq!(serials, BTreeSet::from([revoked_serial]));
    assert!(!serials.contains(&kept_serial));

    // Issued and signed by the community CA.
    let (_, ca_block) = x509_parser::pem::parse_x509_pem(app.ca.cert_pem().as_bytes()).unwrap();
    let ca = ca_block.parse_x509().unwrap();
    assert_eq!(crl.issuer(), ca.subject());
    crl.verify_signature(ca.public_key())
        .expect("the CRL is signed by the community CA");

    // `--out` writes the same list to a file.
    let file = app.dir.path().join("crl.pem");
    cli_ok(&config, &["certs", "crl", "--out", file.to_str().unwrap()]);
    let written = std::fs::read(&file).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&written).unwrap();
    let (_, crl) = x509_parser::parse_x509_crl(&block.contents).unwrap();
    assert_eq!(crl.iter_revoked_certificates().count(), 1);
}

fn events(log: &Value) -> &Vec<Value> {
    log.as_array().expect("audit --json prints an array")
}

/// The one event with this action (and member, when given).
fn event<'a>(log: &'a Value, action: &str, member: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = events(log)
        .iter()
        .filter(|e| e["action"] == action && member.is_none_or(|m| e["member"] == m))
        .collect();
    assert_eq!(found.len(), 1, "{action} {member:?}: {log:#}");
    found[0]
}

fn at(event: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {event}"))
        .to_utc()
}

#[tokio::test]
async fn the_audit_log_records_what_members_did_and_outlives_the_member() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let member = "audited-terminal";
    let green = app.collection(Tier::Green);
    let url = app.objects_url(Tier::Green);
    cli_ok(
        &config,
        &[
            "members",
            "add",
            member,
            "--sector",
            "terminal-operator",
            "--clearance",
            "green",
        ],
    );
    cli_ok(
        &config,
        &[
            "grants",
            "add",
            "--member",
            member,
            "--collection",
            &green,
            "--read",
            "--write",
        ],
    );
    let client = app.certificate_for(member);

    let pushed = indicator("crane controller beacon");
    let other = indicator("gate OCR spoofing");
    client.push(&url, vec![pushed.clone(), other.clone()]).await;
    let r = client.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = client
        .delete(&format!("{url}{}/", pushed["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stranger = app.ca.issue_client("stranger", 30).unwrap();
    let unregistered = Client::from_pems(
        app.port,
        app.ca.cert_pem(),
        Some((&stranger.cert_pem, &stranger.key_pem)),
    );
    let r = unregistered.get(&url).await;
    assert_taxii_error(&r, 401);
    cli_ok(
        &config,
        &[
            "members",
            "update",
            member,
            "--contact",
            "soc@terminal.example",
        ],
    );
    // Polls and refusals are queued and committed with the server's next
    // write, so one more push makes them durable before the log is read.
    client.push(&url, vec![indicator("flush")]).await;

    let log = cli_json(&config, &["audit", "--json"]);
    for e in events(&log) {
        for field in ["at", "member", "action", "collection", "objects", "outcome"] {
            assert!(
                e.as_object().unwrap().contains_key(field),
                "{field} missing: {e}"
            );
        }
    }
    let first_push = events(&log)
        .iter()
        .find(|e| e["action"] == "push" && e["member"] == member)
        .expect("a push");
    assert_eq!(first_push["collection"], green, "{first_push}");
    assert_eq!(first_push["objects"], 2, "{first_push}");
    assert_eq!(first_push["outcome"], "ok", "{first_push}");
    let poll = event(&log, "poll-objects", Some(member));
    assert_eq!(poll["collection"], green, "{poll}");
    assert_eq!(poll["objects"], 2, "{poll}");
    assert_eq!(poll["outcome"], "ok", "{poll}");
    let delete = event(&log, "delete", Some(member));
    assert_eq!(delete["collection"], green, "{delete}");
    assert_eq!(delete["objects"], 1, "{delete}");
    assert_eq!(delete["outcome"], "ok", "{delete}");
    let refused = events(&log)
        .iter()
        .find(|e| e["action"] == "authenticate" && e["fingerprint"] == stranger.info.fingerprint)
        .unwrap_or_else(|| panic!("the refusal is not logged: {log:#}"));
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert!(refused["member"].is_null(), "{refused}");
    // Administrative changes: by the operator, naming what changed.
    let add = events(&log)
        .iter()
        .find(|e| e["action"] == "member-add" && e["detail"].as_str().unwrap().contains(member))
        .unwrap_or_else(|| panic!("member-add not logged: {log:#}"));
    assert_eq!(add["outcome"], "ok", "{add}");
    assert!(add["member"].is_string(), "the actor is recorded: {add}");
    let grant = events(&log)
        .iter()
        .find(|e| e["action"] == "grant-set" && e["collection"] == green)
        .unwrap_or_else(|| panic!("grant-set not logged: {log:#}"));
    assert!(
        grant["detail"].as_str().unwrap().contains(member),
        "{grant}"
    );
    assert!(
        events(&log)
            .iter()
            .any(|e| e["action"] == "member-update"
                && e["detail"].as_str().unwrap().contains(member)),
        "member-update not logged: {log:#}"
    );

    // --member: only that member's own actions.
    let mine = cli_json(&config, &["audit", "--member", member, "--json"]);
    let expected: Vec<&Value> = events(&log)
        .iter()
        .filter(|e| e["member"] == member)
        .collect();
    assert_eq!(events(&mine).iter().collect::<Vec<_>>(), expected);
    let actions: BTreeSet<&str> = events(&mine)
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from(["push", "poll-objects", "delete"]),
        "{mine:#}"
    );

    // --since: exactly the events at or after the given instant (taken from
    // the log itself, so no clock is involved).
    let since = delete["at"].as_str().unwrap();
    let later = cli_json(&config, &["audit", "--since", since, "--json"]);
    let expected: Vec<&Value> = events(&log)
        .iter()
        .filter(|e| at(e) >= at(delete))
        .collect();
    assert_eq!(events(&later).iter().collect::<Vec<_>>(), expected);
    assert!(events(&later).contains(delete));
    assert!(!events(&later).contains(first_push), "{later:#}");

    // Removing the member keeps its history.
    cli_ok(&config, &["members", "remove", member, "--yes"]);
    let r = client.get(&url).await;
    assert_taxii_error(&r, 401);
    let kept = cli_json(&config, &["audit", "--member", member, "--json"]);
    assert_eq!(kept, mine);
    let log = cli_json(&config, &["audit", "--json"]);
    assert!(
        events(&log)
            .iter()
            .any(|e| e["action"] == "member-remove" && e["detail"] == member),
        "member-remove not logged: {log:#}"
    );
}

#[tokio::test]
async fn only_the_owner_of_an_identity_or_the_operator_publishes_under_it() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let identity = new_id("identity");
    cli_ok(
        &config,
        &[
            "members",
            "add",
            "owner-line",
            "--sector",
            "shipping-line",
            "--clearance",
            "green",
            "--identity",
            &identity,
        ],
    );
    let owner = app.certificate_for("owner-line");
    let other = app.member("other-line", "shipping-line", Tier::Green);
    app.grant("owner-line", Tier::Green, true, true);
    app.grant("other-line", Tier::Green, true, true);
    let url = app.objects_url(Tier::Green);

    let forged = with_creator(indicator("forged advisory"), &identity);
    let honest = indicator("honest report");
    let r = other
        .post(
            &url,
            &json!({ "objects": [forged.clone(), honest.clone()] }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    assert_eq!(r.body["failure_count"], 1, "{}", r.text);
    let failure = &r.body["failures"][0];
    assert_eq!(failure["id"], forged["id"], "{}", r.text);
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("owner-line") && message.contains(&identity),
        "{message}"
    );
    let stored = stored_ids(&app, Tier::Green).await;
    assert!(stored.contains(&honest["id"].as_str().unwrap().to_string()));
    assert!(!stored.contains(&forged["id"].as_str().unwrap().to_string()));

    // The owner publishes under its own identity; so may the operator.
    let own = with_creator(indicator("owner's advisory"), &identity);
    owner.push(&url, vec![own.clone()]).await;
    let relayed = with_creator(indicator("relayed by the operator"), &identity);
    app.operator.push(&url, vec![relayed.clone()]).await;
    let stored = stored_ids(&app, Tier::Green).await;
    for o in [&honest, &own, &relayed] {
        assert!(stored.contains(&o["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(stored.len(), 3, "{stored:?}");
}

fn basic(token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("misp-sync:{token}"))
    )
}

async fn get_with(client: &Client, url: &str, authorization: &str) -> Response {
    client
        .send(
            client
                .http
                .get(url)
                .header(ACCEPT, TAXII)
                .header(AUTHORIZATION, authorization),
        )
        .await
}

#[tokio::test]
async fn an_api_token_is_shown_once_works_as_a_password_and_dies_when_revoked() {
    let app = spawn_app_with(|c| c.auth.tokens = true);
    let config = app.report.config.clone();
    let member = "misp-feed";
    app.member(member, "port-authority", Tier::Green);
    app.grant(member, Tier::Green, true, false);
    let shared = indicator("token-read object");
    app.operator
        .push(&app.objects_url(Tier::Green), vec![shared.clone()])
        .await;

    let issued = cli_json(&config, &["tokens", "issue", "--member", member, "--json"]);
    let secret = issued["token"].as_str().expect("the token").to_string();
    let id = issued["id"].as_str().expect("the token id").to_string();
    assert_eq!(issued["member"], member, "{issued}");
    assert!(secret.len() >= 32, "{secret}");

    // A tool without a client certificate.
    let tool = app.anonymous();
    let url = app.objects_url(Tier::Green);
    let r = get_with(&tool, &url, &basic(&secret)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        ids_in::<BTreeSet<String>>(&r.body, "objects"),
        BTreeSet::from([shared["id"].as_str().unwrap().to_string()])
    );
    let r = get_with(&tool, &url, &format!("Bearer {secret}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // No certificate and no token is still refused.
    let r = tool.get(&url).await;
    assert_taxii_error(&r, 401);

    // Listing never shows the secret again.
    let listed = cli_json(&config, &["tokens", "list", "--json"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {listed}"));
    assert_eq!(row["member"], member, "{row}");
    assert_eq!(row["revoked"], false, "{row}");
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert!(!cli_ok(&config, &["tokens", "list"]).contains(&secret));

    cli_ok(&config, &["tokens", "revoke", &id]);
    let r = get_with(&tool, &url, &basic(&secret)).await;
    assert_taxii_error(&r, 401);
    let r = get_with(&tool, &url, &format!("Bearer {secret}")).await;
    assert_taxii_error(&r, 401);
    let listed = cli_json(&config, &["tokens", "list", "--json"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["revoked"], true, "{row}");
}

#[tokio::test]
async fn with_tokens_disabled_a_valid_token_is_ignored() {
    let app = spawn_app();
    let config = app.report.config.clone();
    let member = "opencti-sync";
    app.member(member, "port-authority", Tier::Green);
    app.grant(member, Tier::Green, true, false);
    let out = cli_ok(&config, &["tokens", "issue", "--member", member]);
    assert!(out.contains("disabled"), "the operator is told: {out}");
    let issued = cli_json(&config, &["tokens", "issue", "--member", member, "--json"]);
    let secret = issued["token"].as_str().unwrap();

    let tool = app.anonymous();
    let url = app.objects_url(Tier::Green);
    for authorization in [basic(secret), format!("Bearer {secret}")] {
        let r = get_with(&tool, &url, &authorization).await;
        assert_taxii_error(&r, 401);
    }
}
