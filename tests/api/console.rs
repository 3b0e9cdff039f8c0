//! The web console over real mutual TLS: hostile STIX content renders as
//! text, every page is hardened and self-contained, a member sees exactly
//! what TAXII gives it, operator pages stay hidden from members, the audit
//! export is safe CSV, and token sessions behave.

use std::collections::BTreeSet;
use std::sync::Arc;

use breakwater::model::Tier;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use crate::helpers::{
    Client, Response, TestApp, ids_in, indicator, new_id, spawn_app, spawn_app_with,
};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

async fn page(client: &Client, app: &TestApp, path: &str) -> Response {
    client
        .send(client.http.get(format!("{}{path}", app.base())))
        .await
}

/// Every value of `attr="..."` in the HTML.
fn attribute_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// Links to the console's own object pages, as (collection, object) pairs.
fn object_links(html: &str) -> BTreeSet<(String, String)> {
    attribute_values(html, "href")
        .into_iter()
        .filter_map(|h| {
            let rest = h.strip_prefix("/console/collections/")?;
            let (collection, rest) = rest.split_once("/objects/")?;
            Some((
                collection.to_string(),
                rest.trim_end_matches('/').to_string(),
            ))
        })
        .collect()
}

fn collection_links(html: &str) -> BTreeSet<String> {
    attribute_values(html, "href")
        .into_iter()
        .filter_map(|h| {
            let rest = h.strip_prefix("/console/collections/")?;
            let (collection, tail) = rest.split_once('/')?;
            tail.is_empty().then(|| collection.to_string())
        })
        .collect()
}

fn assert_hardened(r: &Response, what: &str) {
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(
        r.header("cache-control"),
        Some("private, no-store"),
        "{what}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
}

/// The page without the one script element it may carry: the console's
/// own `live.js`, by URL, with nothing inline.
pub fn without_live_script(html: &str) -> String {
    let mut out = html.to_string();
    while let Some(start) = out.find("<script") {
        let end = start
            + out[start..]
                .find("</script>")
                .expect("a closed script element")
            + "</script>".len();
        let tag = &out[start..end];
        let src = tag
            .strip_prefix("<script src=\"/console/assets/")
            .and_then(|t| t.strip_suffix("/live.js\" defer></script>"))
            .unwrap_or_else(|| panic!("a script element that is not ours: {tag}"));
        assert!(
            src.len() == 16 && src.bytes().all(|b| b.is_ascii_hexdigit()),
            "{tag}"
        );
        out.replace_range(start..end, "");
    }
    out
}

/// Nothing outside the server: no script but the console's own file, no
/// inline script or handler, no inline style, every loaded resource from
/// the console's own versioned assets, no absolute URL at all.
fn assert_self_contained(html: &str, what: &str) {
    let html = &without_live_script(html);
    assert!(!html.contains("<script"), "{what}: a script element");
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices(" on") {
        let name: String = lower[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        assert!(
            !lower[i + 3 + name.len()..].starts_with("=\""),
            "{what}: an inline event handler on{name}"
        );
    }
    assert!(!html.contains(" style="), "{what}: an inline style");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{what}: an absolute URL"
    );
    for src in attribute_values(html, "src") {
        assert!(src.starts_with("/console/assets/"), "{what}: loads {src}");
    }
    for tag in html.split("<link ").skip(1) {
        let href = attribute_values(&format!(" {tag}"), "href");
        assert!(
            href.first()
                .is_some_and(|h| h.starts_with("/console/assets/")),
            "{what}: links {href:?}"
        );
    }
}

fn relationship(source: &str, target: &str, kind: &str) -> Value {
    json!({
        "type": "relationship", "spec_version": "2.1", "id": new_id("relationship"),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": kind, "source_ref": source, "target_ref": target
    })
}

fn campaign(name: &str) -> Value {
    json!({
        "type": "campaign", "spec_version": "2.1", "id": new_id("campaign"),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": name
    })
}

#[tokio::test]
async fn every_page_is_hardened_and_loads_nothing_from_elsewhere() {
    let app = spawn_app();
    let green = app.collection(Tier::Green);
    let ind = indicator("Gate phishing");
    let camp = campaign("Harbour wave");
    let status = app
        .operator
        .push(
            &app.objects_url(Tier::Green),
            vec![
                ind.clone(),
                camp.clone(),
                relationship(
                    ind["id"].as_str().unwrap(),
                    camp["id"].as_str().unwrap(),
                    "indicates",
                ),
            ],
        )
        .await;
    let status_id = status.body["id"].as_str().unwrap().to_string();
    let object = format!(
        "/console/collections/{green}/objects/{}/",
        ind["id"].as_str().unwrap()
    );
    let pages = [
        "/console/".to_string(),
        format!("/console/collections/{green}/"),
        format!(
            "/console/collections/{green}/?type=indicator&label=x&creator=identity--1&from=2026-01-01T00:00"
        ),
        object.clone(),
        format!("{object}?hops=2"),
        "/console/submissions/".to_string(),
        format!(
            "/console/submissions/{}/{status_id}/",
            app.report.api_root.trim_matches('/')
        ),
        "/console/members/".to_string(),
        "/console/audit/".to_string(),
        "/console/audit/?action=push&outcome=ok".to_string(),
    ];
    let mut stylesheet = None;
    for path in &pages {
        let r = page(&app.operator, &app, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_hardened(&r, path);
        assert_self_contained(&r.text, path);
        stylesheet = attribute_values(&r.text, "href")
            .into_iter()
            .find(|h| h.ends_with("/console.css"));
    }
    // The object page drew the graph: the campaign is a link.
    let r = page(&app.operator, &app, &object).await;
    assert!(
        object_links(&r.text).contains(&(green.clone(), camp["id"].as_str().unwrap().to_string())),
        "{}",
        r.text
    );
    // Errors are pages too, just as hardened.
    for (client, path, status) in [
        (&app.operator, "/console/no-such-page".to_string(), 404),
        (
            &app.operator,
            format!("/console/collections/{green}/?from=yesterday"),
            400,
        ),
        (&app.anonymous(), "/console/".to_string(), 401),
    ] {
        let r = page(client, &app, &path).await;
        assert_eq!(r.status, status, "{path}");
        assert_hardened(&r, &path);
        assert_self_contained(&r.text, &path);
    }
    // Assets are embedded, versioned and cacheable for good.
    let css = stylesheet.expect("a stylesheet link");
    let r = page(&app.anonymous(), &app, &css).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        !r.text.contains("http://") && !r.text.contains("https://") && !r.text.contains("@import")
    );
    let stale = css
        .replace("/assets/", "/assets/0")
        .replace("/console.css", "/x.css");
    assert_eq!(page(&app.anonymous(), &app, &stale).await.status, 404);
}

#[tokio::test]
async fn hostile_stix_content_renders_as_text() {
    let app = spawn_app();
    let green = app.collection(Tier::Green);
    let mut hostile = indicator("<script>alert(1)</script>");
    hostile["description"] = json!("\"><img src=x onerror=alert(2)>");
    hostile["labels"] = json!(["\" onmouseover=\"alert(3)", "<b>bold</b>"]);
    hostile["external_references"] = json!([
        {"source_name": "<i>src</i>", "url": "javascript:alert(4)"},
        {"source_name": "vendor", "url": "https://vendor.example/advisory?id=1&x='y'"}
    ]);
    let camp = campaign("'single' \"double\" <em>");
    let id = hostile["id"].as_str().unwrap().to_string();
    app.operator
        .push(
            &app.objects_url(Tier::Green),
            vec![
                hostile,
                camp.clone(),
                relationship(&id, camp["id"].as_str().unwrap(), "indicates"),
            ],
        )
        .await;
    let browse = page(
        &app.operator,
        &app,
        &format!("/console/collections/{green}/"),
    )
    .await;
    let object = page(
        &app.operator,
        &app,
        &format!("/console/collections/{green}/objects/{id}/"),
    )
    .await;
    let campaign_page = page(
        &app.operator,
        &app,
        &format!(
            "/console/collections/{green}/objects/{}/",
            camp["id"].as_str().unwrap()
        ),
    )
    .await;
    for (what, r) in [
        ("browse", &browse),
        ("object", &object),
        ("campaign", &campaign_page),
    ] {
        assert_eq!(r.status, 200, "{what}");
        let html = &r.text;
        for raw in [
            "<script>alert(1)",
            "<img src=x",
            "onmouseover=\"alert",
            "<b>bold",
            "<i>src",
            "<em>",
        ] {
            assert!(!html.contains(raw), "{what}: raw {raw:?} in the page");
        }
        assert!(
            !html.to_ascii_lowercase().contains("href=\"javascript:"),
            "{what}"
        );
        assert!(!without_live_script(html).contains("<script"), "{what}");
    }
    // The hostile name is there, as text, in the table, the heading, the
    // graph and the JSON.
    assert!(
        browse
            .text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(
        object
            .text
            .matches("&lt;script&gt;alert(1)&lt;/script&gt;")
            .count()
            >= 2
    );
    assert!(
        campaign_page
            .text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "graph label"
    );
    assert!(
        campaign_page
            .text
            .contains("'single' &quot;double&quot; &lt;em&gt;")
    );
    assert!(object.text.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(object.text.contains("&quot; onmouseover=&quot;alert(3)"));
    // A javascript: URL is shown, not linked; an https one is linked safely.
    assert!(
        object.text.contains("<code>javascript:alert(4)</code>"),
        "{}",
        object.text
    );
    assert!(object.text.contains(
        "<a href=\"https://vendor.example/advisory?id=1&amp;x='y'\" rel=\"noopener noreferrer nofollow\""
    ));
}

#[tokio::test]
async fn a_member_sees_exactly_what_taxii_gives_it() {
    let app = spawn_app();
    let member = app.member("evergreen-line", "shipping-line", Tier::Amber);
    app.grant("evergreen-line", Tier::Green, true, false);
    app.grant("evergreen-line", Tier::Clear, false, true);
    let green = app.collection(Tier::Green);
    let amber = app.collection(Tier::Amber);
    let clear = app.collection(Tier::Clear);
    let shared: Vec<Value> = (0..6).map(|i| indicator(&format!("shared {i}"))).collect();
    let secret = indicator("amber only");
    app.operator
        .push(&app.objects_url(Tier::Green), shared.clone())
        .await;
    app.operator
        .push(&app.objects_url(Tier::Amber), vec![secret.clone()])
        .await;
    app.operator
        .push(&app.objects_url(Tier::Clear), vec![indicator("write-only")])
        .await;

    // Collections: the overview links exactly the ones TAXII lists as readable.
    let taxii = member.get(&format!("{}collections/", app.api_root())).await;
    let readable: BTreeSet<String> = taxii.body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["can_read"] == true)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(readable, BTreeSet::from([green.clone()]));
    let overview = page(&member, &app, "/console/").await;
    assert_eq!(overview.status, 200);
    assert_eq!(collection_links(&overview.text), readable);
    assert!(!overview.text.contains("amber only"));
    assert!(
        !overview.text.contains(">Members<"),
        "no operator navigation"
    );

    // Objects: the browser lists exactly TAXII's objects.
    let taxii_ids: BTreeSet<String> = ids_in(
        &member.get(&app.objects_url(Tier::Green)).await.body,
        "objects",
    );
    let browse = page(&member, &app, &format!("/console/collections/{green}/")).await;
    let console_ids: BTreeSet<String> = object_links(&browse.text)
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert_eq!(console_ids, taxii_ids);

    // What TAXII hides, the console hides the same way.
    let secret_id = secret["id"].as_str().unwrap();
    let taxii_amber = member.get(&app.objects_url(Tier::Amber)).await;
    assert_eq!(taxii_amber.status, 404);
    for path in [
        format!("/console/collections/{amber}/"),
        format!("/console/collections/{amber}/objects/{secret_id}/"),
        format!("/console/collections/{green}/objects/{secret_id}/"),
        "/console/collections/not-a-collection/".to_string(),
    ] {
        let r = page(&member, &app, &path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text.contains("amber only"), "{path}");
    }
    // Write-only: TAXII answers 403 to a read, and so does the console.
    assert_eq!(member.get(&app.objects_url(Tier::Clear)).await.status, 403);
    assert_eq!(
        page(&member, &app, &format!("/console/collections/{clear}/"))
            .await
            .status,
        403
    );

    // The graph does not reach into collections the member cannot read: a
    // relationship stored in amber never shows on the green indicator's page.
    let shared_id = shared[0]["id"].as_str().unwrap();
    app.operator
        .push(
            &app.objects_url(Tier::Amber),
            vec![relationship(shared_id, secret_id, "indicates")],
        )
        .await;
    let object = page(
        &member,
        &app,
        &format!("/console/collections/{green}/objects/{shared_id}/"),
    )
    .await;
    assert_eq!(object.status, 200);
    assert!(!object.text.contains(secret_id), "{}", object.text);
    let as_operator = page(
        &app.operator,
        &app,
        &format!("/console/collections/{green}/objects/{shared_id}/"),
    )
    .await;
    assert!(as_operator.text.contains(secret_id));
}

#[tokio::test]
async fn operator_pages_are_hidden_from_members_and_submissions_are_private() {
    let app = spawn_app();
    let member = app.member("rail-ops", "rail", Tier::Green);
    app.grant("rail-ops", Tier::Green, true, true);
    for path in ["/console/members/", "/console/audit/", "/console/audit.csv"] {
        let r = page(&member, &app, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(page(&app.operator, &app, path).await.status, 200, "{path}");
    }
    let mine = member
        .push(&app.objects_url(Tier::Green), vec![indicator("mine")])
        .await;
    let mut bad = indicator("refused");
    bad["pattern"] = json!("not a pattern");
    let refused = member
        .post(&app.objects_url(Tier::Green), &json!({ "objects": [bad] }))
        .await;
    assert_eq!(refused.body["failure_count"], 1);
    let theirs = app
        .operator
        .push(&app.objects_url(Tier::Green), vec![indicator("operator's")])
        .await;
    let list = page(&member, &app, "/console/submissions/").await;
    assert_eq!(list.status, 200);
    for id in [&mine.body["id"], &refused.body["id"]] {
        assert!(
            list.text.contains(id.as_str().unwrap()),
            "own status listed"
        );
    }
    assert!(!list.text.contains(theirs.body["id"].as_str().unwrap()));
    let root = app.report.api_root.trim_matches('/').to_string();
    let detail = page(
        &member,
        &app,
        &format!(
            "/console/submissions/{root}/{}/",
            refused.body["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(detail.status, 200);
    assert!(
        detail.text.contains("indicator.pattern"),
        "the reason is shown"
    );
    let foreign = format!(
        "/console/submissions/{root}/{}/",
        theirs.body["id"].as_str().unwrap()
    );
    assert_eq!(page(&member, &app, &foreign).await.status, 404);
    assert_eq!(page(&app.operator, &app, &foreign).await.status, 200);
    // The operator sees everyone's, and the refusal in the overview by reason.
    let all = page(&app.operator, &app, "/console/submissions/").await;
    assert!(all.text.contains(theirs.body["id"].as_str().unwrap()));
    assert!(all.text.contains(mine.body["id"].as_str().unwrap()));
    let overview = page(&member, &app, "/console/").await;
    assert!(
        overview.text.contains("invalid indicator.pattern"),
        "{}",
        overview.text
    );
}

#[tokio::test]
async fn members_page_flags_expiring_certificates_and_suspensions() {
    use breakwater::store::{MemberUpdate, NewMember};
    let app = spawn_app();
    app.member("soon-expiring", "trucking", Tier::Green);
    let issued = app.ca.issue_client("soon-expiring", 10).unwrap();
    app.exchange
        .register_certificate("soon-expiring", &issued.info)
        .unwrap();
    app.exchange
        .add_member(NewMember {
            name: "dormant".into(),
            sector: "rail".into(),
            contact: None,
            identity_ref: None,
            clearance: Tier::Green,
            is_operator: false,
        })
        .unwrap();
    app.exchange
        .update_member(
            "dormant",
            MemberUpdate {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    app.grant("soon-expiring", Tier::Green, true, false);
    let r = page(&app.operator, &app, "/console/members/").await;
    assert_eq!(r.status, 200);
    let fingerprint = &issued.info.fingerprint;
    let row = r
        .text
        .split("<tr")
        .find(|row| row.contains(fingerprint.as_str()))
        .expect("the certificate is listed");
    assert!(row.contains("class=\"expiring\""), "{row}");
    let dormant = r
        .text
        .split("<tr")
        .find(|row| row.contains(">dormant<"))
        .unwrap();
    assert!(dormant.contains("class=\"suspended\""), "{dormant}");
    assert!(r.text.contains("id=\"suspended\""));
    // The matrix: read on green for the member, as the policy decides.
    let matrix_row = r
        .text
        .split("id=\"grants\"")
        .nth(1)
        .unwrap()
        .split("<tr")
        .find(|row| row.contains(">soon-expiring<"))
        .unwrap();
    assert!(matrix_row.contains(">read<"), "{matrix_row}");
}

#[tokio::test]
async fn the_audit_export_is_csv_with_formulas_defused() {
    use breakwater::store::NewMember;
    let app = spawn_app();
    for name in [
        "=HYPERLINK(\"x\",\"y\")",
        "+cmd",
        "@SUM(1,2)",
        "plain, with comma",
    ] {
        app.exchange
            .add_member(NewMember {
                name: name.into(),
                sector: "-rail".into(),
                contact: None,
                identity_ref: None,
                clearance: Tier::Green,
                is_operator: false,
            })
            .unwrap();
    }
    let r = page(&app.operator, &app, "/console/audit.csv?action=member-add").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    let lines: Vec<&str> = r.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,at,member,fingerprint,action,collection,objects,outcome,detail"
    );
    // Newest first: the four above, then the operator `init` added.
    assert_eq!(lines.len(), 6, "{}", r.text);
    // Details start with the member's name; each is defused and quoted as needed.
    let details: Vec<&str> = lines[1..5]
        .iter()
        .map(|l| l.split_once(",member-add,,,ok,").unwrap().1)
        .collect();
    assert_eq!(
        details[3],
        "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\") (-rail, clearance green)\""
    );
    assert_eq!(details[2], "\"'+cmd (-rail, clearance green)\"");
    assert_eq!(details[1], "\"'@SUM(1,2) (-rail, clearance green)\"");
    assert_eq!(details[0], "\"plain, with comma (-rail, clearance green)\"");
    for line in &lines[1..] {
        assert!(line.contains(",operator-cli,"), "{line}");
    }
    // The audit page lists them, with the export link carrying the filter.
    let page_html = page(&app.operator, &app, "/console/audit/?action=member-add").await;
    assert!(
        page_html
            .text
            .contains("href=\"/console/audit.csv?action=member-add\"")
    );
}

/// A client that does not follow redirects, optionally with an identity.
fn raw_client(app: &TestApp) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(app.ca.cert_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn token_sessions_start_from_a_form_and_end_with_the_token() {
    let app = spawn_app_with(|c| c.auth.tokens = true);
    app.member("terminal-7", "terminal", Tier::Green);
    app.grant("terminal-7", Tier::Green, true, false);
    let (record, token) = app.exchange.issue_token("terminal-7", None).unwrap();
    let http = raw_client(&app);
    let base = app.base();
    let origin = format!("https://localhost:{}", app.port);

    let r = http.get(format!("{base}/console/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/console/login");
    let form = http
        .get(format!("{base}/console/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains("method=\"post\"") && form.contains("type=\"password\""));

    let login = |token: String, origin: String| {
        http.post(format!("{base}/console/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ORIGIN, origin)
            .body(serde_urlencoded::to_string([("token", token)]).unwrap())
            .send()
    };
    let wrong = login("bw_wrong".into(), origin.clone()).await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let cross_site = login(token.clone(), "https://evil.example".into())
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(cross_site.headers().get(SET_COOKIE).is_none());

    let ok = login(token.clone(), origin.clone()).await.unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()[LOCATION], "/console/");
    let set_cookie = ok.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in [
        "__Host-breakwater-console=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains(&token),
        "the token itself is not the cookie"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let overview = http
        .get(format!("{base}/console/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    assert!(html.contains("terminal-7"));
    assert!(
        html.contains("action=\"/console/logout\""),
        "a way to sign out"
    );
    // A forged cookie is no session.
    let forged = cookie.replace("1.", "1.9");
    let r = http
        .get(format!("{base}/console/"))
        .header(COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Signing out clears the cookie.
    let out = http
        .post(format!("{base}/console/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // A live page of the session is a stream authorised the same way.
    let mut live = http
        .get(format!("{base}/console/live"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let first = live.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"retry:"));

    // Revoking the token ends every session made with it, at once, and
    // its open live pages.
    app.exchange.revoke_token(&record.id).unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match live.chunk().await {
                Ok(Some(chunk)) => assert!(chunk.starts_with(b":"), "{chunk:?}"),
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the session's live stream went on");
    let r = http
        .get(format!("{base}/console/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/console/login");
}

#[tokio::test]
async fn without_tokens_there_is_no_login_and_certificates_are_required() {
    let app = spawn_app();
    let r = page(&app.anonymous(), &app, "/console/login").await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains(".p12"));
    let http = raw_client(&app);
    let r = http
        .post(format!("{}/console/login", app.base()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("token=anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(SET_COOKIE).is_none());
    // Pages answer only GET.
    let r = http
        .post(format!("{}/console/", app.base()))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 404 || r.status() == 405, "{}", r.status());
}

#[tokio::test]
async fn a_deleted_collection_leaves_the_console() {
    let app = spawn_app();
    let member = app.member("evergreen-line", "shipping-line", Tier::Amber);
    app.grant("evergreen-line", Tier::Green, true, true);
    let green = app.collection(Tier::Green);
    let ind = indicator("Gone with its collection");
    let status = member
        .push(&app.objects_url(Tier::Green), vec![ind.clone()])
        .await;
    assert_eq!(status.body["success_count"], 1, "{}", status.text);
    let object = format!(
        "/console/collections/{green}/objects/{}/",
        ind["id"].as_str().unwrap()
    );
    assert_eq!(page(&app.operator, &app, &object).await.status, 200);
    let before = page(&app.operator, &app, "/console/").await;
    assert!(collection_links(&before.text).contains(&green));

    app.exchange
        .delete_collection(breakwater::model::CollectionId::parse(&green).unwrap())
        .unwrap();

    for client in [&app.operator, &member] {
        let overview = page(client, &app, "/console/").await;
        assert_eq!(overview.status, 200);
        assert!(!overview.text.contains(&green), "{}", overview.text);
        for path in [
            format!("/console/collections/{green}/"),
            object.clone(),
            format!("/console/live?collection={green}"),
        ] {
            assert_eq!(page(client, &app, &path).await.status, 404, "{path}");
        }
    }
    // The member's submission is still its record, of a collection now gone.
    let submissions = page(&member, &app, "/console/submissions/").await;
    assert!(
        submissions.text.contains(&format!("{green} (deleted)")),
        "{}",
        submissions.text
    );
    assert!(!collection_links(&submissions.text).contains(&green));
}
