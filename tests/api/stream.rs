//! Live push (`GET .../collections/{id}/stream/`, Server-Sent Events): what
//! a member following a collection relies on — order, filters, exact resume,
//! the same objects as polling, access re-checked while the stream is open,
//! limits, and a slow reader cut without harming the others.

use std::collections::HashSet;
use std::time::Duration;

use breakwater::auth::policy::{self, Rights};
use breakwater::exchange::ingest::{Admission, IngestRequest};
use breakwater::model::{CollectionId, Tier, Timestamp};
use breakwater::store::{Grantee, MemberUpdate};
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::errors::assert_taxii_error;
use crate::helpers::*;

const EVENT_STREAM: &str = "text/event-stream";
/// A bound on waiting for something the server must do; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn stream_url(app: &TestApp, tier: Tier) -> String {
    format!(
        "{}collections/{}/stream/",
        app.api_root(),
        app.collection(tier)
    )
}

/// One `objects` event.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) id: String,
    more: bool,
    pub(crate) objects: Vec<Value>,
    /// The event as sent.
    raw: String,
}

/// What a block of the stream was.
enum Block {
    Event(Event),
    /// A comment (heartbeat) or a field-only block (`retry:`).
    Other(String),
}

/// An open stream, read block by block.
pub(crate) struct Stream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Stream {
    pub(crate) async fn open(client: &Client, url: &str, last_event_id: Option<&str>) -> Stream {
        let mut request = client.http.get(url).header(ACCEPT, EVENT_STREAM);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("open the stream");
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            panic!("the stream answered {status}: {text}");
        }
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(content_type, EVENT_STREAM);
        Stream {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next block, or `None` once the stream has ended (cleanly or cut).
    async fn block(&mut self) -> Option<Block> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8(block).expect("UTF-8 stream");
                return Some(parse_block(text.trim_end_matches('\n')));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("the stream went silent");
            match chunk {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next `objects` event, skipping comments; `None` at the end.
    pub(crate) async fn event(&mut self) -> Option<Event> {
        loop {
            match self.block().await? {
                Block::Event(e) => return Some(e),
                Block::Other(_) => continue,
            }
        }
    }

    /// Reads events until `n` objects have come; returns them and the last id.
    pub(crate) async fn objects(&mut self, n: usize) -> (Vec<Value>, String) {
        let mut objects = Vec::new();
        let mut last = String::new();
        while objects.len() < n {
            let event = self
                .event()
                .await
                .unwrap_or_else(|| panic!("the stream ended after {} objects", objects.len()));
            objects.extend(event.objects);
            last = event.id;
        }
        assert_eq!(objects.len(), n, "more objects than expected");
        (objects, last)
    }
}

fn parse_block(text: &str) -> Block {
    let (mut id, mut kind, mut data) = (None, None, None);
    for line in text.split('\n') {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            assert!(data.is_none(), "an envelope spans two data lines: {text}");
            data = Some(v.to_string());
        }
    }
    match data {
        None => Block::Other(text.to_string()),
        Some(data) => {
            assert_eq!(kind.as_deref(), Some("objects"), "{text}");
            let envelope: Value = serde_json::from_str(&data).expect("an envelope");
            Block::Event(Event {
                id: id.expect("every event has an id"),
                more: envelope["more"].as_bool().expect("more"),
                objects: envelope["objects"].as_array().cloned().unwrap_or_default(),
                raw: text.to_string(),
            })
        }
    }
}

/// A request to the stream endpoint that is expected to fail: its status and TAXII body.
async fn refused(client: &Client, url: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = client.http.get(url);
    let mut accept = false;
    for (k, v) in headers {
        accept |= k.eq_ignore_ascii_case("accept");
        request = request.header(*k, *v);
    }
    if !accept {
        request = request.header(ACCEPT, EVENT_STREAM);
    }
    let r = client.send(request).await;
    assert_ne!(r.status, 200, "the stream opened");
    r
}

/// Every object of the collection by polling `GET objects` page by page.
async fn poll_all(client: &Client, url: &str) -> Vec<Value> {
    let mut objects = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_url = match &next {
            Some(n) => format!("{url}{}next={n}", if url.contains('?') { "&" } else { "?" }),
            None => url.to_string(),
        };
        let r = client.get(&page_url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        objects.extend(r.body["objects"].as_array().cloned().unwrap_or_default());
        match r.body["next"].as_str() {
            Some(n) if r.body["more"] == true => next = Some(n.to_string()),
            _ => return objects,
        }
    }
}

fn ids(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
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

/// A reader and a writer of the green collection.
fn reader_and_writer(app: &TestApp) -> (Client, Client) {
    let reader = app.member("terminal-north", "terminal-operator", Tier::Amber);
    app.grant("terminal-north", Tier::Green, true, false);
    let writer = app.member("blue-line", "shipping-line", Tier::Amber);
    app.grant("blue-line", Tier::Green, false, true);
    (reader, writer)
}

/// The value of one metric line on `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let r = app.operator.get(&format!("{}/metrics", app.base())).await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", r.text))
}

/// Polls a metric until `ok` holds (bounded by PATIENCE).
async fn wait_for_metric(app: &TestApp, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let value = metric(app, name).await;
        if ok(value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} stayed at {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_pushed_object_reaches_a_subscriber_in_order_and_as_polling_returns_it() {
    let app = spawn_app();
    let (reader, writer) = reader_and_writer(&app);
    let objects_url = app.objects_url(Tier::Green);
    writer
        .push(&objects_url, vec![indicator("seen before the stream")])
        .await;

    let mut stream = Stream::open(&reader, &stream_url(&app, Tier::Green), None).await;
    let mut pushed = Vec::new();
    for round in 0..5 {
        let batch: Vec<Value> = (0..4)
            .map(|i| indicator(&format!("AIS spoofing relay {round}.{i}")))
            .collect();
        pushed.extend(ids(&batch));
        writer.push(&objects_url, batch).await;
    }
    let (streamed, _) = stream.objects(pushed.len()).await;

    // Nothing from before the stream opened; every object since, in the
    // order pushed (date_added order) ...
    assert_eq!(ids(&streamed), pushed);
    // ... exactly as polling returns them.
    let polled = poll_all(&reader, &objects_url).await;
    assert_eq!(polled.len(), pushed.len() + 1);
    assert_eq!(streamed, polled[1..]);
}

#[tokio::test]
async fn the_match_filters_of_get_objects_apply_to_the_stream() {
    let app = spawn_app();
    let (reader, writer) = reader_and_writer(&app);
    let objects_url = app.objects_url(Tier::Green);
    let base = stream_url(&app, Tier::Green);
    let watched = indicator("the one indicator followed by id");
    let watched_id = watched["id"].as_str().unwrap().to_string();
    let by_type_query = "match[type]=malware";
    let by_spec_query = "match[spec_version]=2.1&match[type]=indicator";
    let mut by_type = Stream::open(&reader, &format!("{base}?{by_type_query}"), None).await;
    let mut by_spec = Stream::open(&reader, &format!("{base}?{by_spec_query}"), None).await;
    let mut by_id = Stream::open(&reader, &format!("{base}?match[id]={watched_id}"), None).await;

    writer
        .push(
            &objects_url,
            vec![
                indicator("phishing sender"),
                malware("BerthLocker"),
                watched,
                malware("CraneWorm"),
                indicator("beacon"),
            ],
        )
        .await;
    writer.push(&objects_url, vec![malware("end marker")]).await;

    let (streamed, _) = by_type.objects(3).await;
    let polled = poll_all(&reader, &format!("{objects_url}?{by_type_query}")).await;
    assert_eq!(streamed, polled);
    let (streamed, _) = by_spec.objects(3).await;
    let polled = poll_all(&reader, &format!("{objects_url}?{by_spec_query}")).await;
    assert_eq!(streamed, polled);

    let (first, _) = by_id.objects(1).await;
    assert_eq!(ids(&first), [watched_id.as_str()]);
    // Others come and go; the id stream sees only the new version.
    writer
        .push(&objects_url, vec![indicator("unrelated")])
        .await;
    let newer = indicator_version(&watched_id, "revised", "2026-02-01T00:00:00.000Z");
    writer.push(&objects_url, vec![newer.clone()]).await;
    let (second, _) = by_id.objects(1).await;
    assert_eq!(second, vec![newer]);

    // The filters are parsed as GET objects parses them: a bad one is the same 400.
    let r = refused(&reader, &format!("{base}?match[type]=Not-A-Type"), &[]).await;
    assert_taxii_error(&r, 400);
    assert_eq!(r.body["error_code"], "bad-query");
}

#[tokio::test]
async fn reconnecting_with_the_last_event_id_loses_and_repeats_nothing_under_concurrent_pushes() {
    let app = spawn_app();
    let (reader, writer) = reader_and_writer(&app);
    let objects_url = app.objects_url(Tier::Green);
    let url = stream_url(&app, Tier::Green);
    const ENVELOPES: usize = 30;
    const PER_ENVELOPE: usize = 5;
    let total = ENVELOPES * PER_ENVELOPE;

    let mut stream = Stream::open(&reader, &url, None).await;
    let write = async {
        let mut pushed = Vec::new();
        for e in 0..ENVELOPES {
            let batch: Vec<Value> = (0..PER_ENVELOPE)
                .map(|i| indicator(&format!("container-yard scanner {e}.{i}")))
                .collect();
            pushed.extend(ids(&batch));
            writer.push(&objects_url, batch).await;
            tokio::task::yield_now().await;
        }
        pushed
    };
    let read = async {
        let mut seen: Vec<Value> = Vec::new();
        let mut reconnects = 0;
        while seen.len() < total {
            // Two events, then hang up and come back: alternately as
            // EventSource does (Last-Event-ID) and with `?after=`.
            let mut last = None;
            for _ in 0..2 {
                let Some(event) = stream.event().await else {
                    break;
                };
                seen.extend(event.objects);
                last = Some(event.id);
                if seen.len() >= total {
                    break;
                }
            }
            let Some(last) = last else { continue };
            reconnects += 1;
            stream = if reconnects % 2 == 0 {
                Stream::open(&reader, &url, Some(&last)).await
            } else {
                Stream::open(&reader, &format!("{url}?after={last}"), None).await
            };
        }
        (seen, reconnects)
    };
    let (pushed, (seen, reconnects)) = tokio::join!(write, read);
    assert!(reconnects >= 2, "the test never reconnected");
    let seen_ids = ids(&seen);
    let unique: HashSet<&String> = seen_ids.iter().collect();
    assert_eq!(unique.len(), seen_ids.len(), "an object came twice");
    assert_eq!(seen_ids, pushed, "lost or reordered objects");
    assert_eq!(seen, poll_all(&reader, &objects_url).await);
}

#[tokio::test]
async fn added_after_starts_the_stream_after_that_time() {
    let app = spawn_app();
    let (reader, writer) = reader_and_writer(&app);
    let objects_url = app.objects_url(Tier::Green);
    let first = indicator("first");
    let second = indicator("second");
    writer.push(&objects_url, vec![first.clone()]).await;
    writer.push(&objects_url, vec![second.clone()]).await;
    let r = reader.get(&objects_url).await;
    let first_added = r.header("x-taxii-date-added-first").unwrap().to_string();

    let url = format!(
        "{}?added_after={first_added}",
        stream_url(&app, Tier::Green)
    );
    let mut stream = Stream::open(&reader, &url, None).await;
    let event = stream.event().await.unwrap();
    assert_eq!(ids(&event.objects), ids(&[second]));
    assert!(!event.more);
    let third = indicator("third");
    writer.push(&objects_url, vec![third.clone()]).await;
    let (next, _) = stream.objects(1).await;
    assert_eq!(ids(&next), ids(&[third]));

    // The epoch: the whole collection, then live.
    let url = format!(
        "{}?added_after=1970-01-01T00:00:00Z",
        stream_url(&app, Tier::Green)
    );
    let mut stream = Stream::open(&reader, &url, None).await;
    let (all, _) = stream.objects(3).await;
    assert_eq!(all, poll_all(&reader, &objects_url).await);
}

#[tokio::test]
async fn forged_or_foreign_event_ids_are_a_400_not_data() {
    let app = spawn_app();
    let (reader, writer) = reader_and_writer(&app);
    let other = app.member("rail-south", "rail", Tier::Amber);
    app.grant("rail-south", Tier::Green, true, false);
    app.grant("terminal-north", Tier::Clear, true, false);
    let url = stream_url(&app, Tier::Green);
    let mut stream = Stream::open(&reader, &url, None).await;
    writer
        .push(&app.objects_url(Tier::Green), vec![indicator("x")])
        .await;
    let id = stream.event().await.unwrap().id;
    // The genuine id resumes.
    let _ = Stream::open(&reader, &url, Some(&id)).await;

    let mut forged = id.clone().into_bytes();
    forged[4] = if forged[4] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    /// Who asks, where, with which headers.
    type Case<'a> = (&'a Client, String, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            &reader,
            url.clone(),
            vec![("Last-Event-ID", "not-a-cursor")],
        ),
        (
            &reader,
            url.clone(),
            vec![("Last-Event-ID", forged.as_str())],
        ),
        (&reader, format!("{url}?after={forged}"), vec![]),
        // Another member, another filter, another collection.
        (&other, url.clone(), vec![("Last-Event-ID", id.as_str())]),
        (
            &reader,
            format!("{url}?match[type]=indicator"),
            vec![("Last-Event-ID", id.as_str())],
        ),
        (
            &reader,
            stream_url(&app, Tier::Clear),
            vec![("Last-Event-ID", id.as_str())],
        ),
    ];
    for (client, url, headers) in cases {
        let r = refused(client, &url, &headers).await;
        assert_taxii_error(&r, 400);
        assert_eq!(r.body["error_code"], "bad-cursor", "{}", r.text);
    }
}

#[tokio::test]
async fn revocation_suspension_and_grant_removal_end_open_streams() {
    let app = spawn_app();
    let writer = app.member("blue-line", "shipping-line", Tier::Amber);
    app.grant("blue-line", Tier::Green, false, true);
    let mut readers = Vec::new();
    for name in [
        "revoked-co",
        "suspended-co",
        "ungranted-co",
        "unaffected-co",
    ] {
        let client = app.member(name, "terminal-operator", Tier::Amber);
        app.grant(name, Tier::Green, true, false);
        let stream = Stream::open(&client, &stream_url(&app, Tier::Green), None).await;
        readers.push((client, stream));
    }

    app.exchange
        .revoke_certificate(readers[0].0.fingerprint.as_deref().unwrap())
        .unwrap();
    app.exchange
        .store()
        .update_member(
            "suspended-co",
            MemberUpdate {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    let green = CollectionId::parse(&app.collection(Tier::Green)).unwrap();
    app.exchange
        .store()
        .remove_grant(green, &Grantee::Member("ungranted-co".into()))
        .unwrap();

    // With nothing pushed, the three streams end by themselves ...
    for (_, stream) in &mut readers[..3] {
        assert!(stream.event().await.is_none(), "the stream went on");
    }
    // ... and the unaffected member's stream goes on.
    let object = indicator("after the revocations");
    writer
        .push(&app.objects_url(Tier::Green), vec![object.clone()])
        .await;
    let (got, _) = readers[3].1.objects(1).await;
    assert_eq!(ids(&got), ids(&[object]));
    // Reconnecting is refused exactly as a request would be.
    let url = stream_url(&app, Tier::Green);
    assert_eq!(refused(&readers[0].0, &url, &[]).await.status, 401);
    assert_taxii_error(&refused(&readers[1].0, &url, &[]).await, 403);
    assert_taxii_error(&refused(&readers[2].0, &url, &[]).await, 404);
}

#[tokio::test]
async fn stream_limits_answer_503_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.push.max_streams = 3;
        c.push.max_streams_per_member = 2;
        // A hang-up is noticed on the socket, not by a failed heartbeat.
        c.push.heartbeat_seconds = 3600;
    });
    let url = stream_url(&app, Tier::Green);
    let mut clients = Vec::new();
    for name in ["a-line", "b-line", "c-line"] {
        clients.push(app.member(name, "shipping-line", Tier::Amber));
        app.grant(name, Tier::Green, true, false);
    }
    let a1 = Stream::open(&clients[0], &url, None).await;
    let _a2 = Stream::open(&clients[0], &url, None).await;
    let over_member = refused(&clients[0], &url, &[]).await;
    assert_taxii_error(&over_member, 503);
    assert!(over_member.header("retry-after").is_some());
    let _b1 = Stream::open(&clients[1], &url, None).await;
    let over_total = refused(&clients[2], &url, &[]).await;
    assert_taxii_error(&over_total, 503);
    assert!(over_total.header("retry-after").is_some());
    assert_eq!(metric(&app, "breakwater_push_streams_open").await, 3.0);

    // A stream whose reader hangs up frees its place.
    drop(a1);
    wait_for_metric(&app, "breakwater_push_streams_open", |v| v == 2.0).await;
    let _c1 = Stream::open(&clients[2], &url, None).await;
}

/// An indicator of about `kib` KiB, to fill connection buffers quickly.
fn bulky(name: &str, kib: usize) -> Value {
    let mut o = indicator(name);
    o["description"] = json!("AIS position report replay. ".repeat(kib * 1024 / 28));
    o
}

#[tokio::test]
async fn a_slow_subscriber_is_cut_and_resumes_while_a_fast_one_is_not_harmed() {
    let app = spawn_app_with(|c| {
        c.push.slow_subscriber_seconds = 2;
        // The idle reader's cut, not the lagging one's nor the connection
        // send timeout.
        c.push.max_lag_seconds = 3600;
        c.limits.send_timeout_secs = 3600;
    });
    let (reader, writer) = reader_and_writer(&app);
    let url = stream_url(&app, Tier::Green);
    let objects_url = app.objects_url(Tier::Green);
    let mut fast = Stream::open(&reader, &url, None).await;
    let mut slow = Stream::open(&reader, &url, None).await;

    // ~24 MiB: more than the kernel and TLS buffers of a reader that stops.
    let batches: Vec<Vec<Value>> = (0..6)
        .map(|e| {
            (0..16)
                .map(|i| bulky(&format!("replay {e}.{i}"), 256))
                .collect()
        })
        .collect();
    let pushed: Vec<String> = batches.iter().flat_map(|b| ids(b)).collect();
    let push = async {
        for batch in batches {
            writer.push(&objects_url, batch).await;
        }
    };
    // The fast reader reads all along.
    let ((), (got, _)) = tokio::join!(push, fast.objects(pushed.len()));
    assert_eq!(ids(&got), pushed);

    // The slow one took nothing: it is cut (and counted) ...
    wait_for_metric(&app, "breakwater_push_slow_disconnects_total", |v| v >= 1.0).await;
    // Its connection is cut while it still reads nothing: the server holds
    // nothing for it any more.
    wait_for_metric(&app, "breakwater_push_streams_open", |v| v == 1.0).await;
    let mut received = Vec::new();
    let mut last = None;
    while let Some(event) = slow.event().await {
        received.extend(event.objects);
        last = Some(event.id);
    }
    assert!(received.len() < pushed.len(), "the slow reader was not cut");
    // ... and resumes from its last event id with nothing lost or repeated.
    let mut resumed = Stream::open(&reader, &url, last.as_deref()).await;
    let (rest, _) = resumed.objects(pushed.len() - received.len()).await;
    received.extend(rest);
    assert_eq!(ids(&received), pushed);
    // The fast reader was never counted as slow.
    assert_eq!(
        metric(&app, "breakwater_push_slow_disconnects_total").await,
        1.0
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_while_following_live_is_cut_and_resumes_exactly() {
    let app = spawn_app_with(|c| {
        // The lagging reader's cut alone: it never stops taking.
        c.push.max_lag_seconds = 2;
        c.push.slow_subscriber_seconds = 3600;
        c.limits.send_timeout_secs = 3600;
    });
    let (reader, writer) = reader_and_writer(&app);
    let url = stream_url(&app, Tier::Green);
    let objects_url = app.objects_url(Tier::Green);
    let mut lagging = Stream::open(&reader, &url, None).await;

    // ~24 MiB in 256 KiB objects: one object per event.
    let batches: Vec<Vec<Value>> = (0..6)
        .map(|e| {
            (0..16)
                .map(|i| bulky(&format!("replay {e}.{i}"), 256))
                .collect()
        })
        .collect();
    let pushed: Vec<String> = batches.iter().flat_map(|b| ids(b)).collect();
    for batch in batches {
        writer.push(&objects_url, batch).await;
    }
    // The reader never stops taking, but takes an event only every 100 ms:
    // about 2.5 MB/s, ten seconds for the whole backlog, so it falls further
    // and further behind the writes it was following live.
    let mut received = Vec::new();
    let mut last = None;
    while metric(&app, "breakwater_push_slow_disconnects_total").await < 1.0 {
        let event = lagging
            .event()
            .await
            .expect("the stream ended before it was counted as slow");
        received.extend(event.objects);
        last = Some(event.id);
        assert!(
            received.len() < pushed.len(),
            "the lagging reader was not cut"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Cut: what was already on its way still arrives, then the stream ends.
    while let Some(event) = lagging.event().await {
        received.extend(event.objects);
        last = Some(event.id);
    }
    assert!(
        received.len() < pushed.len(),
        "the lagging reader was not cut"
    );
    // It resumes from its last event id with nothing lost or repeated.
    let mut resumed = Stream::open(&reader, &url, last.as_deref()).await;
    let (rest, _) = resumed.objects(pushed.len() - received.len()).await;
    received.extend(rest);
    assert_eq!(ids(&received), pushed);
}

#[tokio::test]
async fn subscribers_at_the_same_position_share_byte_identical_events_rendered_once() {
    let app = spawn_app();
    let (reader, writer) = reader_and_writer(&app);
    let url = stream_url(&app, Tier::Green);
    let objects_url = app.objects_url(Tier::Green);
    // Something to start after: every stream opened now starts at its key.
    writer.push(&objects_url, vec![indicator("before")]).await;
    const STREAMS: usize = 8;
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        streams.push(Stream::open(&reader, &url, None).await);
    }
    let sent = metric(&app, "breakwater_push_events_total").await;
    let rendered = metric(&app, "breakwater_push_events_rendered_total").await;

    let batch = vec![malware("one"), malware("two"), indicator("three")];
    let pushed = ids(&batch);
    writer.push(&objects_url, batch).await;
    let mut events = Vec::new();
    for stream in &mut streams {
        let event = stream.event().await.expect("an event");
        assert_eq!(ids(&event.objects), pushed);
        events.push(event.raw);
    }
    assert!(events.iter().all(|e| *e == events[0]), "{events:#?}");
    wait_for_metric(&app, "breakwater_push_events_total", |v| {
        v == sent + STREAMS as f64
    })
    .await;
    // One rendering for all of them (two if a second wake-up, e.g. the
    // probe's, raced the first one's readers).
    let renders = metric(&app, "breakwater_push_events_rendered_total").await - rendered;
    assert!(
        (1.0..=2.0).contains(&renders),
        "{renders} renders for {STREAMS} streams"
    );
}

#[tokio::test]
async fn open_streams_leave_the_member_request_limit_to_other_requests() {
    let app = spawn_app_with(|c| c.limits.max_requests_per_member = 1);
    let (reader, writer) = reader_and_writer(&app);
    let url = stream_url(&app, Tier::Green);
    let mut first = Stream::open(&reader, &url, None).await;
    // Two open streams and an ordinary request, with one request allowed
    // in progress: the streams are limited by `push.*`, not by it.
    let mut second = Stream::open(&reader, &url, None).await;
    let r = reader.get(&app.objects_url(Tier::Green)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let object = indicator("while two streams are open");
    writer
        .push(&app.objects_url(Tier::Green), vec![object.clone()])
        .await;
    for stream in [&mut first, &mut second] {
        let (got, _) = stream.objects(1).await;
        assert_eq!(ids(&got), ids(std::slice::from_ref(&object)));
    }
}

#[tokio::test]
async fn members_without_read_access_get_what_get_objects_answers() {
    let app = spawn_app();
    let nobody = app.member("no-grant", "rail", Tier::Amber);
    let write_only = app.member("write-only", "rail", Tier::Amber);
    app.grant("write-only", Tier::Green, false, true);
    // Granted, then its clearance lowered below the collection's tier.
    let too_low = app.member("low-clearance", "rail", Tier::Amber);
    app.grant("low-clearance", Tier::Amber, true, false);
    app.exchange
        .store()
        .update_member(
            "low-clearance",
            MemberUpdate {
                clearance: Some(Tier::Clear),
                ..Default::default()
            },
        )
        .unwrap();
    for (client, tier) in [
        (&nobody, Tier::Green),
        (&write_only, Tier::Green),
        (&too_low, Tier::Amber),
    ] {
        let polled = client.get(&app.objects_url(tier)).await;
        let streamed = refused(client, &stream_url(&app, tier), &[]).await;
        assert!(polled.status == 403 || polled.status == 404);
        assert_taxii_error(&streamed, polled.status);
        assert_eq!(streamed.body["error_code"], polled.body["error_code"]);
    }
    let r = refused(&app.anonymous(), &stream_url(&app, Tier::Green), &[]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn the_stream_requires_accept_text_event_stream() {
    let app = spawn_app();
    let url = stream_url(&app, Tier::Green);
    for accept in [TAXII, "application/json"] {
        let r = refused(&app.operator, &url, &[("Accept", accept)]).await;
        assert_taxii_error(&r, 406);
    }
    let r = app.operator.send(app.operator.http.get(&url)).await;
    assert_taxii_error(&r, 406);
}

#[tokio::test]
async fn writes_by_another_process_reach_subscribers() {
    let app = spawn_app();
    let (reader, _) = reader_and_writer(&app);
    let mut stream = Stream::open(&reader, &stream_url(&app, Tier::Green), None).await;
    // The test's own store handle is another writer the server is never told
    // about, as `breakwater import` is: the periodic re-check finds it.
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
    let object = indicator("imported from a file");
    let status = app
        .exchange
        .ingest(IngestRequest {
            access: &access,
            admission: &Admission::default(),
            fingerprint: None,
            api_root: "crc",
            body: json!({ "objects": [object.clone()] })
                .to_string()
                .into_bytes(),
            request_timestamp: Timestamp::now(),
        })
        .unwrap();
    assert_eq!(status.details.successes.len(), 1);
    let (got, _) = stream.objects(1).await;
    assert_eq!(got, vec![object]);
}

#[tokio::test]
async fn an_idle_stream_carries_heartbeats_and_metrics_count_streams_and_events() {
    let app = spawn_app_with(|c| c.push.heartbeat_seconds = 1);
    let (reader, writer) = reader_and_writer(&app);
    let mut stream = Stream::open(&reader, &stream_url(&app, Tier::Green), None).await;
    let mut heartbeat = false;
    while !heartbeat {
        match stream.block().await.expect("the stream ended") {
            Block::Other(text) => heartbeat = text.starts_with(':'),
            Block::Event(e) => panic!("an event on an idle collection: {e:?}"),
        }
    }
    writer
        .push(&app.objects_url(Tier::Green), vec![indicator("counted")])
        .await;
    stream.objects(1).await;
    assert_eq!(metric(&app, "breakwater_push_streams_open").await, 1.0);
    assert!(metric(&app, "breakwater_push_events_total").await >= 1.0);
    assert!(metric(&app, "breakwater_push_delivery_seconds_count").await >= 1.0);
}

/// A running `breakwater follow`, its standard output line by line.
struct Follow {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follow {
    fn start(dir: &std::path::Path, collection_url: &str, state: &std::path::Path) -> Follow {
        let cert = [
            "--cert".into(),
            dir.join("members/operator.pem").into_os_string(),
            "--key".into(),
            dir.join("members/operator-key.pem").into_os_string(),
        ];
        Follow::start_as(dir, collection_url, state, &cert)
    }

    /// With these credential arguments instead of the operator's certificate.
    fn start_as(
        dir: &std::path::Path,
        collection_url: &str,
        state: &std::path::Path,
        credentials: &[std::ffi::OsString],
    ) -> Follow {
        use std::io::BufRead;
        let mut child = crate::binary::breakwater()
            .args(["follow", "--url", collection_url])
            .args(credentials)
            .arg("--cacert")
            .arg(dir.join("ca/ca.pem"))
            .arg("--state")
            .arg(state)
            // Only used while the state file holds no position.
            .args(["--added-after", "1970-01-01T00:00:00Z"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn follow");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follow { child, lines }
    }

    /// The ids of the next `n` printed objects (each line one JSON object).
    fn ids(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let line = self
                    .lines
                    .recv_timeout(PATIENCE)
                    .expect("follow printed nothing");
                let object: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
                object["id"].as_str().unwrap().to_string()
            })
            .collect()
    }

    /// SIGTERM: it finishes the event in hand and exits successfully.
    fn stop(mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "follow exited with {exit}");
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tool that holds an API token but no certificate follows with
/// `--token-file`; without tokens turned on, the same file gets it nowhere.
#[tokio::test]
async fn follow_with_a_token_file_instead_of_a_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = crate::binary::init(&dir);
    let issued = crate::binary::run(
        crate::binary::breakwater()
            .arg("--config")
            .arg(crate::binary::config_of(&dir))
            .args(["tokens", "issue", "--member", "operator", "--json"]),
    );
    crate::binary::assert_success(&issued);
    let token: Value = serde_json::from_str(&crate::binary::stdout_of(&issued)).unwrap();
    let token_file = tmp.path().join("token");
    // As `echo TOKEN > token` writes it.
    std::fs::write(
        &token_file,
        format!("{}\n", token["token"].as_str().unwrap()),
    )
    .unwrap();
    let credentials = ["--token-file".into(), token_file.clone().into_os_string()];

    let server = crate::binary::Server::start(&dir, &[("BREAKWATER_TOKENS", "true")]);
    let operator = server.operator();
    let collection_url = format!(
        "{}/crc/collections/{}/",
        server.base(),
        crate::binary::green_id(&report)
    );
    let objects_url = format!("{collection_url}objects/");
    let pushed = vec![indicator("followed with a token")];
    operator.push(&objects_url, pushed.clone()).await;
    let follow = Follow::start_as(
        &dir,
        &collection_url,
        &tmp.path().join("a.state"),
        &credentials,
    );
    assert_eq!(follow.ids(1), ids(&pushed));
    follow.stop();
    drop(server);

    // Tokens off: refused (401), which is not worth retrying.
    let server = crate::binary::Server::start(&dir, &[]);
    let collection_url = format!(
        "{}/crc/collections/{}/",
        server.base(),
        crate::binary::green_id(&report)
    );
    let out = crate::binary::run(
        crate::binary::breakwater()
            .args(["follow", "--url", &collection_url])
            .args(&credentials)
            .arg("--cacert")
            .arg(dir.join("ca/ca.pem")),
    );
    assert!(!out.status.success(), "followed without tokens enabled");
    let said = crate::binary::stderr_of(&out);
    assert!(
        said.contains("401") || said.to_lowercase().contains("authenticat"),
        "{said}"
    );
}

#[tokio::test]
async fn follow_prints_json_lines_and_resumes_from_its_state_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = crate::binary::init(&dir);
    let server = crate::binary::Server::start(&dir, &[]);
    let operator = server.operator();
    let collection_url = format!(
        "{}/crc/collections/{}/",
        server.base(),
        crate::binary::green_id(&report)
    );
    let objects_url = format!("{collection_url}objects/");
    let state = tmp.path().join("follow.state");
    let batch = |n: usize, name: &str| -> Vec<Value> {
        (0..n).map(|i| indicator(&format!("{name} {i}"))).collect()
    };

    let first = batch(3, "before follow starts");
    operator.push(&objects_url, first.clone()).await;
    let follow = Follow::start(&dir, &collection_url, &state);
    assert_eq!(follow.ids(3), ids(&first));
    follow.stop();
    assert!(state.is_file(), "no state file");

    // Pushed while nobody follows; the restart resumes from the state file.
    let missed = batch(4, "while follow is down");
    operator.push(&objects_url, missed.clone()).await;
    let follow = Follow::start(&dir, &collection_url, &state);
    assert_eq!(follow.ids(4), ids(&missed));
    let live = batch(2, "live");
    operator.push(&objects_url, live.clone()).await;
    assert_eq!(follow.ids(2), ids(&live));
    follow.stop();

    let all = [first, missed, live].concat();
    assert_eq!(ids(&poll_all(&operator, &objects_url).await), ids(&all));
}
