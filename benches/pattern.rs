//! STIX pattern parsing cost (lexing, parsing and every check) against pattern
//! size: generated patterns of about 1 KB, 100 KB and 1 MB in several shapes.
//! Throughput is in bytes, so the time per KB can be compared across sizes: a
//! parser that is linear in its input gives the same figure at every size.
//!
//! Time is the benchmarking thread's CPU time, not wall time, so figures taken
//! while other work shares the cores stay comparable.

use std::hint::black_box;
use std::time::Duration;

use breakwater::stix::pattern;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::ThreadCpuTime;

const SIZES: [(&str, usize); 3] = [("1KB", 1_000), ("100KB", 100_000), ("1MB", 1_000_000)];

/// Repeats `piece(i)` joined by `sep` until the text reaches `size` bytes,
/// then wraps it in `open`/`close`.
fn build(
    size: usize,
    open: &str,
    sep: &str,
    close: &str,
    piece: impl Fn(usize) -> String,
) -> String {
    let mut out = String::with_capacity(size + 256);
    out.push_str(open);
    let mut i = 0;
    while out.len() + close.len() < size {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&piece(i));
        i += 1;
    }
    out.push_str(close);
    out
}

/// One observation expression OR-ing comparisons on one object type.
fn or_chain(size: usize) -> String {
    build(size, "[", " OR ", "]", |i| {
        format!("file:name = 'Berth_Schedule_W{i}.xlsm'")
    })
}

/// Many observation expressions joined by AND / OR / FOLLOWEDBY, with qualifiers.
fn observations(size: usize) -> String {
    const JOIN: [&str; 3] = [" AND ", " OR ", " FOLLOWEDBY "];
    let mut out = String::with_capacity(size + 256);
    let mut i = 0;
    while out.len() < size {
        if i > 0 {
            out.push_str(JOIN[i % 3]);
        }
        out.push_str(&format!(
            "([ipv4-addr:value = '198.51.{}.{}' AND network-traffic:dst_port = {}] REPEATS 2 TIMES) WITHIN 600 SECONDS",
            i % 256,
            (i / 256) % 256,
            i % 65536
        ));
        i += 1;
    }
    out
}

/// Deep but allowed nesting: blocks nested 121 levels (60 observation-level
/// parentheses around `[` and 60 comparison-level ones), joined by OR.
fn nested(size: usize) -> String {
    const { assert!(121 <= pattern::MAX_NESTING) };
    let block = format!(
        "{}[{}file:size > 10{}]{}",
        "(".repeat(60),
        "(".repeat(60),
        ")".repeat(60),
        ")".repeat(60)
    );
    build(size, "", " OR ", "", |_| block.clone())
}

/// One observation expression OR-ing comparisons on distinct object types
/// (the shape that used to cost quadratic time).
fn distinct_types(size: usize) -> String {
    build(size, "[", " OR ", "]", |i| format!("x-t{i}:value = 'a'"))
}

type Shape = (&'static str, fn(usize) -> String);

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let shapes: [Shape; 4] = [
        ("or-chain", or_chain),
        ("observations", observations),
        ("nested", nested),
        ("distinct-types", distinct_types),
    ];
    let mut group = c.benchmark_group("pattern");
    group.warm_up_time(Duration::from_millis(500));
    for (shape, generate) in shapes {
        for (label, size) in SIZES {
            let text = generate(size);
            assert_eq!(pattern::parse(&text), Ok(()), "{shape} {label}");
            group.throughput(Throughput::Bytes(text.len() as u64));
            // Fewer samples for the large inputs keep the whole run to a minute or two.
            group.sample_size(if size >= 1_000_000 { 10 } else { 30 });
            group.bench_with_input(BenchmarkId::new(shape, label), &text, |b, text| {
                b.iter(|| black_box(pattern::parse(black_box(text)).is_ok()))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_main!(benches);
