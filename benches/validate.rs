//! Objects validated per second, for the realistic mix of objects in
//! `stix-fixtures/valid/` (every check included: schema, rules, patterns).
//!
//! `BREAKWATER_BENCH_CPU=1` measures the benchmark thread's CPU time instead
//! of the wall clock: the figure is then "per core" even on a shared machine,
//! where other processes would otherwise stretch every sample.

use std::hint::black_box;
use std::path::Path;

use breakwater::stix::Validator;
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};
use serde_json::Value;

fn load_mix() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stix-fixtures/valid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("stix-fixtures/valid")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut objects = Vec::new();
    for f in files {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("json");
        if let Some(Value::Array(items)) = doc.get("objects") {
            objects.extend(items.iter().cloned());
        }
    }
    objects
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let validator = Validator::new();
    let objects = load_mix();
    assert!(
        objects.iter().all(|o| validator.validate(o).is_ok()),
        "the mix must be valid"
    );
    let bytes: usize = objects.iter().map(|o| o.to_string().len()).sum();
    eprintln!(
        "mix: {} objects, {} bytes on average",
        objects.len(),
        bytes / objects.len()
    );

    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(objects.len() as u64));
    group.bench_function("fixture-mix", |b| {
        b.iter(|| {
            for o in &objects {
                black_box(validator.validate(black_box(o)).is_ok());
            }
        })
    });
    // The same objects grown to about 1 KiB each with realistic free text, the
    // size the ingest target is stated for. The predefined TLP 1.0 markings stay
    // as they are: they must be exactly the specification's objects.
    let kib: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            let size = o.to_string().len();
            if size < 1024 && o["definition_type"] != "tlp" {
                let note = "Observed during the port community's joint monitoring; \
                            shared for detection and blocking at terminal gateways. "
                    .repeat(1 + (1024 - size) / 120);
                o["x_port_context"] = Value::from(&note[..(1024 - size).min(note.len())]);
            }
            o
        })
        .collect();
    assert!(kib.iter().all(|o| validator.validate(o).is_ok()));
    let kib_bytes: usize = kib.iter().map(|o| o.to_string().len()).sum();
    eprintln!("1 KiB mix: {} bytes on average", kib_bytes / kib.len());
    group.throughput(Throughput::Elements(kib.len() as u64));
    group.bench_function("fixture-mix-1kib", |b| {
        b.iter(|| {
            for o in &kib {
                black_box(validator.validate(black_box(o)).is_ok());
            }
        })
    });
    let invalid: Vec<Value> = objects
        .iter()
        .filter(|o| o["type"] == "indicator")
        .map(|o| {
            let mut o = o.clone();
            o["pattern"] = Value::from("[file:name = 'x'");
            o
        })
        .collect();
    group.throughput(Throughput::Elements(invalid.len() as u64));
    group.bench_function("invalid-indicators", |b| {
        b.iter(|| {
            for o in &invalid {
                black_box(validator.validate(black_box(o)).is_err());
            }
        })
    });
    group.finish();
}

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::ThreadCpuTime;

fn main() {
    if std::env::var_os("BREAKWATER_BENCH_CPU").is_some() {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}
