//! Objects validated per second, for the realistic mix of objects in
//! `stix-fixtures/valid/` (every check included: schema, rules, patterns).
//!
//! `BREAKWATER_BENCH_CPU=1` measures the benchmark thread's CPU time instead
//! of the wall clock: the figure is then "per core" even on a shared machine,
//! where other processes would otherwise stretch every sample.

use std::hint::black_box;
use std::path::Path;

use breakwater::stix::Validator;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
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

/// CPU time consumed by the calling thread.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel since 2.6 supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is unavailable");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_now().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds of CPU read like nanoseconds of wall time.
        static WALL_TIME: WallTime = WallTime;
        WALL_TIME.formatter()
    }
}

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
