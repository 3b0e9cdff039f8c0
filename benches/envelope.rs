//! Envelope parsing as the ingest path does it (`exchange::envelope`): the
//! envelope split into borrowed `RawValue`s in one pass, then each object
//! into a `serde_json::Value` with duplicate keys refused at every depth.
//! A 100-object envelope of ~1 KiB STIX indicators; throughput in objects/s.
//! A second group adds the rest of the per-object CPU work of a POST
//! (`Exchange::judge`: full STIX validation, marking rule, version), so the
//! ingest ceiling per core can be read off directly.

use std::hint::black_box;
use std::sync::Arc;

use breakwater::exchange::envelope;
use breakwater::exchange::ingest::{Admission, Verdict};
use breakwater::exchange::{Exchange, Settings};
use breakwater::model::Tier;
use breakwater::stix::Validator;
use breakwater::store::sqlite::SqliteStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const OBJECTS: usize = 100;
const TARGET_BYTES: usize = 1024;

/// A valid STIX 2.1 indicator of about `TARGET_BYTES` serialised bytes.
fn indicator(n: usize) -> Value {
    let mut object = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{}", uuid::Uuid::new_v4()),
        "created": "2026-03-02T08:15:00.000Z",
        "modified": "2026-03-02T08:15:00.000Z",
        "name": format!("Invoice phishing wave {n}"),
        "description": "",
        "indicator_types": ["malicious-activity"],
        "pattern": format!(
            "[domain-name:value = 'pay-{n}.harbour-invoices.example'] OR [email-addr:value = 'billing-{n}@harbour-invoices.example']"
        ),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": "2026-03-02T08:15:00Z",
        "valid_until": "2026-09-02T08:15:00Z",
        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
        "labels": ["phishing", "terminal-operators"],
        "confidence": 70,
        "lang": "en",
        "external_references": [{"source_name": "crc-bulletin", "external_id": format!("CRC-2026-{n:06}")}]
    });
    let base = object.to_string().len();
    let filler =
        "Sender spoofs a terminal operator's billing desk and asks for a changed bank account. ";
    let description: String = filler
        .chars()
        .cycle()
        .take(TARGET_BYTES.saturating_sub(base))
        .collect();
    object["description"] = Value::from(description);
    object
}

fn envelope_text() -> String {
    let objects: Vec<Value> = (0..OBJECTS).map(indicator).collect();
    json!({ "objects": objects }).to_string()
}

fn parse(text: &str) -> usize {
    let raws = envelope::objects(text).expect("envelope");
    let mut n = 0;
    for raw in raws {
        let value: Value = envelope::object(raw).expect("object");
        n += value.as_object().map_or(0, |o| o.len());
        black_box(value);
    }
    n
}

fn bench(c: &mut Criterion) {
    let text = envelope_text();
    eprintln!(
        "envelope: {OBJECTS} indicators, {} bytes ({} bytes per object)",
        text.len(),
        text.len() / OBJECTS
    );

    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(OBJECTS as u64));
    group.bench_function("parse-100x1KiB", |b| b.iter(|| parse(black_box(&text))));

    // The whole per-object CPU path of a POST, without the database write.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("judge.db")).expect("store"));
    let exchange = Exchange::new(store, Arc::new(Validator::new()), Settings::default());
    let admission = Admission::default();
    {
        for raw in envelope::objects(&text).expect("envelope") {
            if let Verdict::Refused(d) = exchange.judge(raw, Tier::Green, &admission) {
                panic!("the bench indicators must be valid: {:?}", d.message);
            }
        }
    }
    group.bench_function("parse+judge-100x1KiB", |b| {
        b.iter(|| {
            let mut accepted = 0;
            for raw in envelope::objects(black_box(&text)).expect("envelope") {
                if let Verdict::Accepted(o) = exchange.judge(raw, Tier::Green, &admission) {
                    accepted += 1;
                    black_box(o);
                }
            }
            assert_eq!(accepted, OBJECTS);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
