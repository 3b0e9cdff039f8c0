//! The console's live pages (`GET /console/live`) over real mutual TLS: a
//! page open in one member's browser hears of what another member pushes
//! into a collection it may read, and of nothing else; the stream obeys the
//! same authorisation as the pages, and ends when that authorisation does.

use std::time::Duration;

use breakwater::auth::policy::{self, Rights};
use breakwater::exchange::ingest::{Admission, IngestRequest};
use breakwater::model::{CollectionId, Tier, Timestamp};
use breakwater::store::{Grantee, MemberUpdate};
use serde_json::Value;

use crate::helpers::*;
use crate::hostile::{Raw, raw_member};

/// A bound on waiting for something the server must do; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

struct Live {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Live {
    async fn open(client: &Client, app: &TestApp, query: &str) -> Live {
        let response = client
            .http
            .get(format!("{}/console/live{query}", app.base()))
            .send()
            .await
            .expect("open the live stream");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut live = Live {
            response,
            buffer: Vec::new(),
        };
        assert_eq!(live.block().await.as_deref(), Some("retry: 2000"));
        live
    }

    /// The next block, or `None` once the stream has ended.
    async fn block(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(String::from_utf8(block).unwrap().trim_end().to_string());
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("the live stream went silent");
            match chunk {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The collection named by the next `change` event, skipping heartbeats.
    async fn change(&mut self) -> Option<String> {
        let next = async {
            loop {
                let block = self.block().await?;
                if block.starts_with(':') {
                    continue;
                }
                let data = block
                    .strip_prefix("event: change\ndata: ")
                    .unwrap_or_else(|| panic!("not a change event: {block:?}"));
                let data: Value = serde_json::from_str(data).unwrap();
                return Some(data["collection"].as_str().unwrap().to_string());
            }
        };
        tokio::time::timeout(PATIENCE, next)
            .await
            .expect("no change event and no end")
    }
}

#[tokio::test]
async fn an_open_page_hears_of_what_another_member_pushes_and_of_nothing_it_may_not_read() {
    let app = spawn_app();
    let reader = app.member("harbour-terminal", "terminal-operator", Tier::Amber);
    app.grant("harbour-terminal", Tier::Green, true, false);
    let writer = app.member("blue-line", "shipping-line", Tier::Red);
    app.grant("blue-line", Tier::Green, false, true);
    app.grant("blue-line", Tier::Red, false, true);
    let green = app.collection(Tier::Green);

    let mut overview = Live::open(&reader, &app, "").await;
    let mut browser = Live::open(&reader, &app, &format!("?collection={green}")).await;

    // First into a collection the reader may not read, then into one it
    // may: the first event names the second.
    let secret = indicator("Red-only lead");
    let status = writer
        .push(&app.objects_url(Tier::Red), vec![secret.clone()])
        .await;
    assert_eq!(status.body["success_count"], 1, "{}", status.text);
    let shared = indicator("Phishing wave against gate staff");
    let status = writer
        .push(&app.objects_url(Tier::Green), vec![shared.clone()])
        .await;
    assert_eq!(status.body["success_count"], 1, "{}", status.text);
    assert_eq!(overview.change().await.as_deref(), Some(green.as_str()));
    assert_eq!(browser.change().await.as_deref(), Some(green.as_str()));

    // What the page fetches on that event shows the new object, and only
    // what the reader may see.
    let page = reader
        .send(
            reader
                .http
                .get(format!("{}/console/collections/{green}/", app.base())),
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Phishing wave against gate staff"));
    assert!(page.text.contains("data-live=\"/console/live?collection="));
    let overview_page = reader
        .send(reader.http.get(format!("{}/console/", app.base())))
        .await;
    assert!(!overview_page.text.contains(&app.collection(Tier::Red)));
}

#[tokio::test]
async fn the_live_stream_obeys_the_pages_authorisation() {
    let app = spawn_app();
    let member = app.member("rail-yard", "railroad", Tier::Amber);
    app.grant("rail-yard", Tier::Green, true, false);
    let red = app.collection(Tier::Red);
    let url = |query: &str| format!("{}/console/live{query}", app.base());

    // No certificate: the same 401 page as any console page.
    let anonymous = app.anonymous();
    let r = anonymous.send(anonymous.http.get(url(""))).await;
    assert_eq!(r.status, 401);
    // A collection the member may not know: 404, as its page answers.
    let r = member
        .send(member.http.get(url(&format!("?collection={red}"))))
        .await;
    assert_eq!(r.status, 404);

    // Losing the grant ends the stream of that collection and the
    // overview's (which watched it); suspension ends the rest.
    let green = CollectionId::parse(&app.collection(Tier::Green)).unwrap();
    let mut one = Live::open(&member, &app, &format!("?collection={green}")).await;
    let mut every = Live::open(&member, &app, "").await;
    app.exchange
        .store()
        .remove_grant(green, &Grantee::Member("rail-yard".into()))
        .unwrap();
    assert_eq!(one.change().await, None, "the collection's stream went on");
    assert_eq!(every.change().await, None, "the overview's stream went on");

    // With nothing left to read there is nothing to watch: 204, which
    // tells a browser not to reconnect.
    let r = member.send(member.http.get(url(""))).await;
    assert_eq!(r.status, 204);

    app.grant("rail-yard", Tier::Green, true, false);
    let mut again = Live::open(&member, &app, "").await;
    app.exchange
        .store()
        .update_member(
            "rail-yard",
            MemberUpdate {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        again.change().await,
        None,
        "a suspended member's stream went on"
    );
    let r = member.send(member.http.get(url(""))).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn live_pages_share_the_members_stream_slots() {
    let app = spawn_app_with(|c| {
        c.push.max_streams_per_member = 1;
        // A hang-up is noticed on the socket, not by a failed heartbeat.
        c.push.heartbeat_seconds = 3600;
    });
    let member = app.member("tug-co", "port-services", Tier::Amber);
    app.grant("tug-co", Tier::Green, true, false);
    let first = Live::open(&member, &app, "").await;
    let r = member
        .send(member.http.get(format!("{}/console/live", app.base())))
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    // Closing the page frees the slot.
    drop(first);
    let mut reopened = None;
    for _ in 0..600 {
        let response = member
            .http
            .get(format!("{}/console/live", app.base()))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "the slot was never freed");
}

#[tokio::test]
async fn pages_count_against_the_members_request_limit_and_an_open_live_page_does_not() {
    let app = spawn_app_with(|c| {
        c.limits.max_requests_per_member = 1;
        c.limits.min_upload_rate = 0;
    });
    let busy = raw_member(&app, "busy-line", Tier::Green);
    app.grant("busy-line", Tier::Green, true, true);
    let browser = app.certificate_for("busy-line");
    let overview = format!("{}/console/", app.base());

    // An open live page gives back its request slot: pages still load.
    let _live = Live::open(&browser, &app, "").await;
    let r = browser.send(browser.http.get(&overview)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The grant may reach the server a moment later on PostgreSQL (by
    // notification): until then the POST below is refused at once and
    // holds nothing.
    let objects = app.objects_url(Tier::Green);
    let mut granted = false;
    for _ in 0..600 {
        if browser.send(browser.http.get(&objects)).await.status == 200 {
            granted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(granted, "the grant never reached the server");

    // One request in progress (a POST whose body has not all arrived): the
    // member's next page is refused with 429 and Retry-After, as TAXII is.
    // On a loaded machine the held connection may lose its TLS handshake to
    // the server's handshake timeout; then it is opened again.
    let mut refused = None;
    let mut held = Vec::new();
    let mut seen = Vec::new();
    'attempts: for _ in 0..10 {
        let mut raw = Raw::connect(&app, &busy);
        raw.send(
            format!(
                "POST {}collections/{}/objects/ HTTP/1.1\r\nHost: localhost\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\nContent-Length: 1000\r\n\r\n{{",
                app.report.api_root,
                app.collection(Tier::Green)
            )
            .as_bytes(),
        );
        // The member's previous page may still hold its slot for a moment
        // after its response arrived: then this request is the one refused,
        // and is sent again.
        let early = raw.answered_within(Duration::from_millis(200));
        if !early.starts_with("(nothing") {
            seen.push(early);
            continue;
        }
        held.push(raw);
        for _ in 0..300 {
            let r = browser.send(browser.http.get(&overview)).await;
            if r.status == 429 {
                refused = Some(r);
                break 'attempts;
            }
            assert_eq!(r.status, 200, "{}", r.text);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for raw in &mut held {
            seen.push(raw.answered_within(Duration::from_millis(200)));
        }
        held.clear();
    }
    let r = refused.unwrap_or_else(|| {
        panic!("the member's page was never refused; the held requests got: {seen:#?}")
    });
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.text.contains("requests in progress"), "{}", r.text);
    drop(held);
}

#[tokio::test]
async fn writes_by_another_process_reach_an_open_page() {
    let app = spawn_app();
    let reader = app.member("harbour-terminal", "terminal-operator", Tier::Amber);
    app.grant("harbour-terminal", Tier::Green, true, false);
    let mut live = Live::open(&reader, &app, "").await;
    // The test's own store handle is another writer the server is never
    // told about, as `breakwater import` is: the server's probe finds it.
    let collection = app
        .exchange
        .find_collection(&app.collection(Tier::Green))
        .unwrap();
    let operator = app.exchange.member("operator").unwrap();
    let access = policy::write_access(
        &operator,
        &collection,
        Rights {
            read: true,
            write: true,
        },
    )
    .unwrap();
    let status = app
        .exchange
        .ingest(IngestRequest {
            access: &access,
            admission: &Admission::default(),
            fingerprint: None,
            api_root: "crc",
            body: serde_json::json!({ "objects": [indicator("imported from a file")] })
                .to_string()
                .into_bytes(),
            request_timestamp: Timestamp::now(),
        })
        .unwrap();
    assert_eq!(status.details.successes.len(), 1);
    assert_eq!(
        live.change().await.as_deref(),
        Some(app.collection(Tier::Green).as_str())
    );
}
