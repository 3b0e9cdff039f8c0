//! Concurrent writers and incremental pollers (TAXII 2.1 §3.4.1, §3.5): a
//! poller that resumes from the last `X-TAXII-Date-Added-Last` it saw, and
//! follows `next` within a round, sees every acknowledged object exactly once
//! while other members are still writing.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use breakwater::model::{Tier, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;

const WRITERS: usize = 4;
const ENVELOPES: usize = 25;
const PER_ENVELOPE: usize = 10;
const TOTAL: usize = WRITERS * ENVELOPES * PER_ENVELOPE;

struct Poller {
    /// Objects or manifest URL.
    base: String,
    /// Keep `added_after` on the pages that follow `next` (OpenCTI) or drop it.
    keep_added_after: bool,
    last_seen: Option<String>,
    seen: HashSet<String>,
    order: Vec<String>,
    rounds: usize,
}

impl Poller {
    fn new(base: String, keep_added_after: bool) -> Poller {
        Poller {
            base,
            keep_added_after,
            last_seen: None,
            seen: HashSet::new(),
            order: Vec::new(),
            rounds: 0,
        }
    }

    /// One round: from the last date_added seen, following `next` to the end.
    async fn round(&mut self, client: &Client) {
        self.rounds += 1;
        let since = self
            .last_seen
            .as_ref()
            .map(|t| format!("&added_after={t}"))
            .unwrap_or_default();
        let mut url = format!("{}?limit=17{since}", self.base);
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 2 * TOTAL, "a round never ends");
            let r = client.get(&url).await;
            assert_eq!(r.status, 200, "{url}: {}", r.text);
            let objects = r.body["objects"].as_array().cloned().unwrap_or_default();
            assert!(objects.len() <= 17);
            for o in &objects {
                let id = o["id"].as_str().unwrap().to_string();
                assert!(
                    self.seen.insert(id.clone()),
                    "{id} was delivered twice (round {}, {url})",
                    self.rounds
                );
                self.order.push(id);
            }
            match (
                r.header("x-taxii-date-added-first"),
                r.header("x-taxii-date-added-last"),
            ) {
                (Some(first), Some(last)) => {
                    assert!(!objects.is_empty());
                    if let Some(previous) = &self.last_seen {
                        let micros = |t: &str| Timestamp::parse(t).unwrap().micros();
                        assert!(
                            micros(first) > micros(previous),
                            "date_added went backwards: {first} after {previous}"
                        );
                    }
                    self.last_seen = Some(last.to_string());
                }
                _ => assert!(objects.is_empty(), "a page without date_added headers"),
            }
            if r.body["more"] == true {
                let next = r.body["next"].as_str().expect("more:true needs next");
                assert!(!next.is_empty());
                let kept = if self.keep_added_after { &since } else { "" };
                url = format!("{}?limit=17{kept}&next={next}", self.base);
            } else {
                assert!(r.body.get("next").is_none(), "{}", r.text);
                break;
            }
        }
    }
}

fn writer_client(app: &TestApp, i: usize) -> (String, Client) {
    if i == 0 {
        let operator = Client::from_files(
            app.port,
            &app.report.ca_certificate,
            Some((&app.report.operator_certificate, &app.report.operator_key)),
        );
        return ("operator".into(), operator);
    }
    let name = format!("terminal-{i}");
    let client = app.member(&name, "port-operator", Tier::Amber);
    app.grant(&name, Tier::Green, false, true);
    (name, client)
}

/// POSTs one envelope and, if it is stored in the background, polls its
/// status until it completes. Returns once the write is acknowledged.
async fn push_acknowledged(client: &Client, app_root: &str, url: &str, objects: Vec<Value>) {
    let n = objects.len() as u64;
    let r = client.post(url, &json!({ "objects": objects })).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total_count"], n, "{}", r.text);
    let mut status = r.body;
    let status_url = format!("{app_root}status/{}/", status["id"].as_str().unwrap());
    let mut polls = 0;
    while status["status"] == "pending" {
        polls += 1;
        assert!(polls < 100_000, "status {status_url} never completed");
        tokio::task::yield_now().await;
        let r = client.get(&status_url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        status = r.body;
    }
    assert_eq!(status["status"], "complete", "{status}");
    assert_eq!(status["success_count"], n, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pollers_see_every_object_exactly_once_while_members_write() {
    pollers_see_every_object_exactly_once(spawn_app()).await;
}

/// The same with every envelope stored in the background (`pending` first).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pollers_see_every_background_ingest_exactly_once() {
    pollers_see_every_object_exactly_once(spawn_app_with(|c| {
        c.limits.background_threshold = PER_ENVELOPE - 1
    }))
    .await;
}

async fn pollers_see_every_object_exactly_once(app: TestApp) {
    let url = app.objects_url(Tier::Green);
    let manifest = format!(
        "{}collections/{}/manifest/",
        app.api_root(),
        app.collection(Tier::Green)
    );
    let finished = Arc::new(AtomicUsize::new(0));
    // Writers pace themselves on the pollers' progress (never the reverse),
    // so reads and writes really interleave without any sleeping.
    let (rounds_tx, rounds_rx) = tokio::sync::watch::channel(0usize);

    let mut writers = Vec::new();
    for i in 0..WRITERS {
        let (name, client) = writer_client(&app, i);
        let url = url.clone();
        let root = app.api_root();
        let finished = finished.clone();
        let mut rounds = rounds_rx.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(ENVELOPES * PER_ENVELOPE);
            for e in 0..ENVELOPES {
                rounds
                    .wait_for(|r| *r >= e / 5)
                    .await
                    .expect("the pollers stopped early");
                let objects: Vec<Value> = (0..PER_ENVELOPE)
                    .map(|k| {
                        let mut o = indicator(&format!("{name} envelope {e} object {k}"));
                        o["x_writer"] = json!(name);
                        o
                    })
                    .collect();
                ids.extend(
                    objects
                        .iter()
                        .map(|o| o["id"].as_str().unwrap().to_string()),
                );
                push_acknowledged(&client, &root, &url, objects).await;
            }
            finished.fetch_add(1, Ordering::SeqCst);
            ids
        }));
    }

    // Two pollers: the objects endpoint keeping `added_after` with `next`,
    // and the manifest dropping it once it has a `next`.
    let mut objects_poller = Poller::new(url.clone(), true);
    let mut manifest_poller = Poller::new(manifest, false);
    while finished.load(Ordering::SeqCst) < WRITERS {
        objects_poller.round(&app.operator).await;
        manifest_poller.round(&app.operator).await;
        rounds_tx.send_replace(objects_poller.rounds);
    }
    // Several rounds ran while writes were still arriving.
    assert!(objects_poller.rounds >= (ENVELOPES - 1) / 5);

    let mut written = Vec::with_capacity(TOTAL);
    for w in writers {
        written.extend(w.await.expect("writer task"));
    }
    assert_eq!(written.len(), TOTAL);
    let written_set: HashSet<String> = written.iter().cloned().collect();
    assert_eq!(written_set.len(), TOTAL);

    // Every write is acknowledged: one last round drains what is left.
    for poller in [&mut objects_poller, &mut manifest_poller] {
        poller.round(&app.operator).await;
        assert_eq!(
            poller.order.len(),
            TOTAL,
            "{}: saw {} of {TOTAL} objects in {} rounds",
            poller.base,
            poller.order.len(),
            poller.rounds
        );
        assert_eq!(poller.seen, written_set, "{}", poller.base);
        // A further round finds nothing new.
        poller.round(&app.operator).await;
        assert_eq!(poller.order.len(), TOTAL);
    }
    eprintln!(
        "rounds: {} {}",
        objects_poller.rounds, manifest_poller.rounds
    );
    // Both pollers saw the one date_added order.
    assert_eq!(objects_poller.order, manifest_poller.order);

    // Each writer's objects appear in the order that writer sent them.
    for w in 0..WRITERS {
        let mine: Vec<&String> = written[w * ENVELOPES * PER_ENVELOPE..]
            [..ENVELOPES * PER_ENVELOPE]
            .iter()
            .collect();
        let mine_set: HashSet<&String> = mine.iter().copied().collect();
        let seen: Vec<&String> = objects_poller
            .order
            .iter()
            .filter(|id| mine_set.contains(id))
            .collect();
        assert_eq!(seen, mine, "writer {w}");
    }
}
