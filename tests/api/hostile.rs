//! Hostile members and hostile networks, against the real server: bodies
//! that mean one thing to us and another to other parsers, bodies that are
//! not envelopes, clients that stop reading or trickle their uploads,
//! members that open too many requests, and malformed HTTP. Nothing may
//! crash the server, store a hostile object, or keep other members waiting.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use breakwater::model::Tier;
use breakwater::store::NewMember;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::errors::{assert_taxii_error, stored_ids};
use crate::helpers::*;

/// A member's PEM certificate and key, for raw connections.
pub(crate) struct Identity {
    cert: String,
    key: String,
}

pub(crate) fn raw_member(app: &TestApp, name: &str, clearance: Tier) -> Identity {
    app.exchange
        .add_member(NewMember {
            name: name.into(),
            sector: "shipping-line".into(),
            contact: None,
            identity_ref: None,
            clearance,
            is_operator: false,
        })
        .expect("add member");
    let issued = app.ca.issue_client(name, 30).expect("issue");
    app.exchange
        .register_certificate(name, &issued.info)
        .expect("register");
    Identity {
        cert: issued.cert_pem,
        key: issued.key_pem,
    }
}

/// One TLS connection on which the test writes and reads bytes as it likes.
pub(crate) struct Raw {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl Raw {
    pub(crate) fn connect(app: &TestApp, identity: &Identity) -> Raw {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(app.ca.cert_pem().as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.cert.as_bytes())
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap();
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
        // A guard against hanging forever, not a measurement.
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        Raw {
            stream: StreamOwned::new(conn, tcp),
        }
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    /// Sends what the server may refuse before it has read it all: a write
    /// that meets the server's close (broken pipe, reset) is not an error.
    fn send_refusable(&mut self, bytes: &[u8]) {
        let sent = self
            .stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush());
        if let Err(e) = sent {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            assert!(
                matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted),
                "sending failed: {e}"
            );
        }
    }

    /// What the server has answered so far, waiting at most `wait`.
    pub(crate) fn answered_within(&mut self, wait: Duration) -> String {
        self.stream.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => format!("(nothing: {e})"),
        }
    }

    /// Everything until the server closes (or resets) the connection.
    fn read_until_closed(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    panic!("the server kept the connection open: {e}")
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    panic!("the server kept the connection open: {e}")
                }
                // Reset, or closed without TLS close_notify.
                Err(_) => return out,
            }
        }
    }
}

/// Status line and body of the one response in `bytes`.
fn parse_response(bytes: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn get_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nConnection: close\r\n\r\n"
    )
}

/// A gauge or counter from `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app
        .operator
        .http
        .get(format!("{}/metrics/", app.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Polls `/metrics` until `done` holds for the metric; fails after a bound
/// that only guards against hanging.
async fn wait_for_metric(app: &TestApp, name: &str, done: impl Fn(u64) -> bool) -> u64 {
    for _ in 0..3000 {
        let value = metric(app, name).await;
        if done(value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} never reached the expected value");
}

async fn post_text(app: &TestApp, url: &str, body: String) -> Response {
    app.operator
        .send(
            app.operator
                .http
                .post(url)
                .header(ACCEPT, TAXII)
                .header(CONTENT_TYPE, TAXII)
                .body(body),
        )
        .await
}

// ---------------------------------------------------------------------------
// Bodies

#[tokio::test]
async fn duplicate_keys_refuse_that_object_and_keep_the_others() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Clear);
    let good = indicator("kept beside hostile objects");
    let red = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
    let clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
    let object_text = |id: &str, extra: &str| {
        let mut o = indicator("hostile");
        o["id"] = json!(id);
        let text = o.to_string();
        format!("{}{extra}}}", &text[..text.len() - 1])
    };
    // RED first, CLEAR last: a first-wins parser would see RED in a CLEAR feed.
    let markings = object_text(
        &new_id("indicator"),
        &format!(r#","object_marking_refs":["{red}"],"object_marking_refs":["{clear}"]"#),
    );
    // The same key written with an escape is the same key.
    let escaped_id = object_text(
        &new_id("indicator"),
        &format!(r#","i\u0064":"{}""#, new_id("indicator")),
    );
    let nested = object_text(
        &new_id("indicator"),
        r#","external_references":[{"source_name":"a","url":"https://a.example","source_name":"b"}]"#,
    );
    // serde_json's own Value reads this key as "parse the string inside".
    let smuggled = format!(
        r#"{{"$serde_json::private::RawValue":{}}}"#,
        serde_json::to_string(&indicator("inside a string").to_string()).unwrap()
    );
    let body = format!(r#"{{"objects":[{good},{markings},{escaped_id},{nested},{smuggled}]}}"#);
    let r = post_text(&app, &url, body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 1, "{}", r.text);
    assert_eq!(r.body["failure_count"], 4, "{}", r.text);
    let messages: Vec<&str> = r.body["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    for expected in [
        r#"duplicate key "object_marking_refs""#,
        r#"duplicate key "id""#,
        r#"duplicate key "source_name""#,
    ] {
        assert!(
            messages.iter().any(|m| m.starts_with(expected)),
            "{expected}: {messages:?}"
        );
    }
    // The refused objects are named in the status where they can be.
    assert!(
        r.body["failures"][0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("indicator--")),
        "{}",
        r.text
    );
    assert_eq!(
        stored_ids(&app, Tier::Clear).await,
        [good["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn repeated_top_level_keys_are_a_400() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let a = indicator("first list");
    let b = indicator("second list");
    for body in [
        format!(r#"{{"objects":[{a}],"objects":[{b}]}}"#),
        format!(r#"{{"more":false,"objects":[{a}],"more":true}}"#),
        format!(r#"{{"type":"bundle","id":"bundle--1","objects":[{a}],"type":"x"}}"#),
    ] {
        let r = post_text(&app, &url, body).await;
        assert_taxii_error(&r, 400);
        assert!(
            r.body["description"]
                .as_str()
                .unwrap()
                .contains("repeats a top-level key")
        );
    }
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
}

#[tokio::test]
async fn bodies_that_are_not_envelopes_are_400_even_five_million_levels_deep() {
    let app = spawn_app();
    let url = app.objects_url(Tier::Green);
    let depth = 5_000_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for body in [
        "{}".to_string(),
        r#"{"more":false}"#.to_string(),
        r#"{"objects":5}"#.to_string(),
        r#"{"objects":{"type":"indicator"}}"#.to_string(),
        r#"{"objects":null}"#.to_string(),
        format!(r#"{{"junk":{deep}}}"#),
        deep.clone(),
    ] {
        let r = post_text(&app, &url, body).await;
        assert_taxii_error(&r, 400);
    }
    // An item that deep is refused on its own.
    let r = post_text(&app, &url, format!(r#"{{"objects":[{deep}]}}"#)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["failure_count"], 1, "{}", r.text);
    // An empty list stays an (empty) envelope: 202, nothing to do.
    let r = app.operator.post(&url, &json!({ "objects": [] })).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "complete", "{}", r.text);
    assert_eq!(r.body["total_count"], 0, "{}", r.text);
    assert!(stored_ids(&app, Tier::Green).await.is_empty());
    // The server is still answering.
    app.operator
        .push(&url, vec![indicator("after the junk")])
        .await;
}

// ---------------------------------------------------------------------------
// Connections

/// Pushes objects until one page of them is about `bytes` large.
async fn push_large_page(app: &TestApp, tier: Tier, bytes: usize) -> usize {
    let per_object = 200 * 1024;
    let n = bytes.div_ceil(per_object);
    let objects: Vec<Value> = (0..n)
        .map(|i| {
            let mut o = indicator(&format!("large {i}"));
            o["description"] = json!("x".repeat(per_object));
            o
        })
        .collect();
    for chunk in objects.chunks(20) {
        app.operator
            .push(&app.objects_url(tier), chunk.to_vec())
            .await;
    }
    n
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_and_its_memory_returned() {
    let app = spawn_app_with(|c| {
        c.limits.send_timeout_secs = 1;
        // Below one page: a second page waits for the stalled one to go.
        c.limits.response_bytes_in_flight = 1024 * 1024;
    });
    let n = push_large_page(&app, Tier::Green, 8 * 1024 * 1024).await;
    let stalled = raw_member(&app, "stalled-reader", Tier::Green);
    app.grant("stalled-reader", Tier::Green, true, false);
    let other = app.member("other-line", "rail", Tier::Green);
    app.grant("other-line", Tier::Green, true, false);
    assert_eq!(metric(&app, "breakwater_response_bytes_in_flight").await, 0);

    // Asks for the whole 8 MiB page and never reads a byte of it.
    let mut raw = Raw::connect(&app, &stalled);
    let path = format!(
        "{}collections/{}/objects/?limit={n}",
        app.report.api_root,
        app.collection(Tier::Green)
    );
    raw.send(get_request(&path).as_bytes());
    let held = wait_for_metric(&app, "breakwater_response_bytes_in_flight", |v| v > 0).await;
    assert!(held >= 8 * 1024 * 1024, "{held}");

    // Meanwhile another member is served; a page would overdraw the budget
    // the stalled client holds, so it is a 503 to retry, not a wait.
    let r = other.get(&format!("{}collections/", app.api_root())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = other.get(&app.objects_url(Tier::Green)).await;
    assert_taxii_error(&r, 503);
    assert_eq!(r.header("retry-after"), Some("5"));

    // The stalled connection is closed after the (shortened) send timeout
    // and everything it held is given back.
    wait_for_metric(&app, "breakwater_stalled_connections_closed_total", |v| {
        v == 1
    })
    .await;
    wait_for_metric(&app, "breakwater_response_bytes_in_flight", |v| v == 0).await;
    let received = raw.read_until_closed();
    assert!(
        received.len() < held as usize,
        "the stalled client got its whole page: {} bytes",
        received.len()
    );
    let r = other
        .get(&format!("{}?limit=2", app.objects_url(Tier::Green)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_slow_upload_is_cut_with_a_408_taxii_error() {
    let app = spawn_app_with(|c| {
        c.limits.min_upload_rate = 1_000_000;
        c.limits.upload_grace_secs = 1;
    });
    let trickler = raw_member(&app, "trickler", Tier::Green);
    app.grant("trickler", Tier::Green, true, true);
    let mut raw = Raw::connect(&app, &trickler);
    let path = format!(
        "{}collections/{}/objects/",
        app.report.api_root,
        app.collection(Tier::Green)
    );
    // Declares 100 kB and sends a few bytes, then nothing.
    raw.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\nContent-Length: 100000\r\n\r\n{{\"objects\":["
        )
        .as_bytes(),
    );
    let (status, head, body) = parse_response(&raw.read_until_closed());
    assert_eq!(status, 408, "{head}\n{body}");
    assert!(head.contains(&format!("content-type: {TAXII}")), "{head}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["http_status"], "408", "{body}");
    // A body that arrives at once is unaffected by the same limit.
    app.operator
        .push(&app.objects_url(Tier::Green), vec![indicator("on time")])
        .await;
}

#[tokio::test]
async fn a_member_over_its_request_limit_gets_429_and_others_are_served() {
    let app = spawn_app_with(|c| {
        c.limits.max_requests_per_member = 1;
        c.limits.min_upload_rate = 0;
    });
    let busy = raw_member(&app, "busy-line", Tier::Green);
    app.grant("busy-line", Tier::Green, true, true);
    let busy_client = app.certificate_for("busy-line");
    let other = app.member("other-line", "rail", Tier::Green);
    app.grant("other-line", Tier::Green, true, true);

    // One request in progress: a POST whose body has not all arrived.
    let mut raw = Raw::connect(&app, &busy);
    let path = format!(
        "{}collections/{}/objects/",
        app.report.api_root,
        app.collection(Tier::Green)
    );
    raw.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\nContent-Length: 1000\r\n\r\n{{"
        )
        .as_bytes(),
    );
    let collections = format!("{}collections/", app.api_root());
    let mut refused = None;
    for _ in 0..3000 {
        let r = busy_client.get(&collections).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = refused.expect("the second request of the member was never refused");
    assert_taxii_error(&r, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    // Another member is not affected.
    let r = other.get(&collections).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Once the first request ends, the member is served again.
    drop(raw);
    let mut served = false;
    for _ in 0..3000 {
        if busy_client.get(&collections).await.status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the member stayed locked out");
}

// ---------------------------------------------------------------------------
// Malformed HTTP

#[tokio::test]
async fn a_64_kib_header_name_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app();
    let member = raw_member(&app, "long-header", Tier::Green);
    for _ in 0..3 {
        let mut raw = Raw::connect(&app, &member);
        let name = "X".repeat(70_000);
        raw.send(
            format!("GET /taxii2/ HTTP/1.1\r\nHost: localhost\r\n{name}: v\r\n\r\n").as_bytes(),
        );
        let (status, _, _) = parse_response(&raw.read_until_closed());
        assert!(!(200..300).contains(&status), "{status}");
    }
    // actix-http would panic on such a name: the connection fails before
    // its parser sees it, so nothing panics at all.
    assert_eq!(metric(&app, "breakwater_panics_caught_total").await, 0);
    let r = app.operator.get(&format!("{}/taxii2/", app.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn malformed_http_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app();
    let member = raw_member(&app, "malformed", Tier::Green);
    app.grant("malformed", Tier::Green, true, true);
    let objects = format!(
        "{}collections/{}/objects/",
        app.report.api_root,
        app.collection(Tier::Green)
    );
    // Where the request reaches the application, the answer is a TAXII error.
    for (request, expected) in [
        // An unknown method on a known endpoint.
        (
            format!(
                "BREW /taxii2/ HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nConnection: close\r\n\r\n"
            ),
            405,
        ),
        // A path with broken percent-encoding.
        (get_request("/%zz%/collections/"), 404),
        // A header value that is not text.
        (
            format!(
                "POST {objects} HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nContent-Type: \u{00ff}\u{00fe}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            ),
            415,
        ),
        // A 60 kB header value: within actix's head limit, then ours.
        (
            format!(
                "GET /taxii2/ HTTP/1.1\r\nHost: localhost\r\nAccept: {}\r\nConnection: close\r\n\r\n",
                "a".repeat(60_000)
            ),
            406,
        ),
        // A chunked body whose chunk size is not hexadecimal.
        (
            format!(
                "POST {objects} HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
            ),
            400,
        ),
    ] {
        let mut raw = Raw::connect(&app, &member);
        raw.send(request.as_bytes());
        let (status, head, body) = parse_response(&raw.read_until_closed());
        assert_eq!(status, expected, "{request:.80}\n{head}\n{body}");
        assert!(head.contains(&format!("content-type: {TAXII}")), "{head}");
        let error: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(error["http_status"], expected.to_string(), "{body}");
    }
    // Where actix-http's parser refuses the request itself, it answers before
    // any application code runs, with an empty body, and closes (see the
    // comment on `taxii::configure`).
    for (request, expected) in [
        ("GARBAGE\r\n\r\n".to_string(), 400),
        (
            "GET /taxii2/ HTTP/1.1\r\nHost localhost\r\n\r\n".to_string(),
            400,
        ),
        (
            format!(
                "GET /taxii2/ HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "a".repeat(200_000)
            ),
            431,
        ),
    ] {
        // The server may answer and close while the rest of an oversized
        // head is still being sent; the reset that our late bytes provoke
        // can then discard its answer before we read it. Such a try proves
        // nothing either way and is repeated.
        let mut answered = None;
        for _ in 0..5 {
            let mut raw = Raw::connect(&app, &member);
            raw.send_refusable(request.as_bytes());
            let response = raw.read_until_closed();
            if !response.is_empty() {
                answered = Some(parse_response(&response).0);
                break;
            }
        }
        assert_eq!(answered, Some(expected), "{request:.80}");
    }
    let r = app.operator.get(&format!("{}/taxii2/", app.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
