//! A store on its own: opening a file, a durable 100-object ingest (SQLite:
//! WAL, synchronous=FULL, so one fsync per commit; PostgreSQL: one commit
//! with synchronous_commit on), and one page read (limit 100, with bodies)
//! at a random keyset position in a collection of 10,000 and of 1,000,000
//! objects.
//!
//! SQLite by default; `BREAKWATER_BENCH_DATABASE=postgres://...` runs the
//! same against PostgreSQL (an existing database, which the bench migrates
//! and fills).
//!
//! The data sets are built once through `Store::ingest` in batches of 10,000
//! and kept (SQLite: files in the target's temporary directory; PostgreSQL:
//! collections in the database): a later run reuses the large one when its
//! object count matches (`BREAKWATER_BENCH_REBUILD=1` forces a rebuild;
//! `BREAKWATER_BENCH_BIG=N` changes its size).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use breakwater::model::{CollectionId, Tier, Timestamp};
use breakwater::store::postgres::PgStore;
use breakwater::store::sqlite::SqliteStore;
use breakwater::store::{
    ApiRoot, Cursor, IngestBatch, NewCollection, NewObject, ObjectFilter, Store,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const API_ROOT: &str = "bench";
const PAGE: usize = 100;
const SMALL: u64 = 10_000;
const BUILD_BATCH: usize = 10_000;

fn tmp_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-bench");
    std::fs::create_dir_all(&dir).expect("bench directory");
    dir
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// A small xorshift generator: reproducible positions without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// A ~1 KiB indicator body; the store keeps it as text and never parses it
/// on the write path, so only its size and uniqueness matter here.
fn object() -> NewObject {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let id = format!("indicator--{}", uuid::Uuid::new_v4());
    let modified = "2026-03-02T08:15:00.000Z";
    let mut body = format!(
        concat!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"{m}","modified":"{m}","#,
            r#""name":"Invoice phishing wave {n}","indicator_types":["malicious-activity"],"#,
            r#""pattern":"[domain-name:value = 'pay-{n}.harbour-invoices.example'] OR [email-addr:value = 'billing-{n}@harbour-invoices.example']","#,
            r#""pattern_type":"stix","pattern_version":"2.1","valid_from":"2026-03-02T08:15:00Z","#,
            r#""labels":["phishing","terminal-operators"],"confidence":70,"lang":"en","description":""#
        ),
        id = id,
        m = modified,
        n = n
    );
    while body.len() < 1020 {
        body.push_str("Sender spoofs a terminal operator's billing desk. ");
    }
    body.truncate(1020);
    body.push_str("\"}");
    NewObject {
        id,
        object_type: "indicator".into(),
        spec_version: "2.1".into(),
        version: Some((
            Timestamp::parse(modified).expect("timestamp"),
            modified.into(),
        )),
        body,
    }
}

fn batch(collection: CollectionId, n: usize) -> IngestBatch {
    IngestBatch {
        status_id: uuid::Uuid::new_v4().to_string(),
        api_root: API_ROOT.into(),
        collection,
        member: Some("bench".into()),
        fingerprint: None,
        request_timestamp: Timestamp::now(),
        accepted: (0..n).map(|_| object()).collect(),
        refused: Vec::new(),
    }
}

/// `BREAKWATER_BENCH_DATABASE`, when the bench runs on PostgreSQL.
fn postgres_url() -> Option<String> {
    std::env::var("BREAKWATER_BENCH_DATABASE")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The store named `name`: a file of that name (SQLite), or the one
/// PostgreSQL database.
fn open_store(name: &str) -> Arc<dyn Store> {
    match postgres_url() {
        Some(url) => Arc::new(PgStore::open(&url, 8).expect("open PostgreSQL")),
        None => {
            Arc::new(SqliteStore::open(&tmp_dir().join(format!("{name}.db"))).expect("open store"))
        }
    }
}

/// The collection with alias `name`, created (with the API root) if needed.
fn collection_named(store: &Arc<dyn Store>, name: &str) -> CollectionId {
    if let Some(c) = store
        .collections()
        .expect("collections")
        .into_iter()
        .find(|c| c.alias.as_deref() == Some(name))
    {
        return c.id;
    }
    if store.api_roots().expect("api roots").is_empty() {
        store
            .upsert_api_root(ApiRoot {
                name: API_ROOT.into(),
                title: "Bench".into(),
                description: None,
                max_content_length: 10 << 20,
                is_default: true,
            })
            .expect("api root");
    }
    store
        .create_collection(NewCollection {
            api_root: API_ROOT.into(),
            alias: Some(name.into()),
            title: "Bench".into(),
            description: None,
            tier: Tier::Green,
        })
        .expect("collection")
        .id
}

/// Opens the file (or database) and returns its collection `name`.
fn open_with_collection(name: &str) -> (Arc<dyn Store>, CollectionId) {
    let store = open_store(name);
    let c = collection_named(&store, name);
    (store, c)
}

/// Empties the data set `name`: its file, or its collection.
fn remove_data_set(name: &str) {
    match postgres_url() {
        Some(_) => {
            let store = open_store(name);
            if let Some(c) = store
                .collections()
                .expect("collections")
                .into_iter()
                .find(|c| c.alias.as_deref() == Some(name))
            {
                store.delete_collection(c.id).expect("delete collection");
            }
            store.purge_deleted_collections().expect("purge");
        }
        None => remove_db(&tmp_dir().join(format!("{name}.db"))),
    }
}

/// A store holding exactly `n` objects, built (or reused) once.
fn data_set(n: u64, reuse: bool) -> (Arc<dyn Store>, CollectionId, Vec<i64>) {
    let name = format!("objects-{n}");
    let path = tmp_dir().join(format!("{name}.db"));
    let rebuild = std::env::var_os("BREAKWATER_BENCH_REBUILD").is_some();
    if !reuse || rebuild {
        remove_data_set(&name);
    }
    let (store, collection) = open_with_collection(&name);
    let have = store.object_count(collection).expect("count");
    if have != n {
        drop(store);
        remove_data_set(&name);
        let (store, collection) = open_with_collection(&name);
        let started = Instant::now();
        let mut left = n as usize;
        while left > 0 {
            let size = left.min(BUILD_BATCH);
            store.ingest(batch(collection, size)).expect("ingest");
            left -= size;
        }
        let took = started.elapsed();
        let bytes = match postgres_url() {
            Some(_) => store.size_bytes().unwrap_or(0),
            None => std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        };
        eprintln!(
            "data set of {n} objects built in {:.1} s ({:.0} objects/s, batches of {BUILD_BATCH}); database {:.0} MiB",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            bytes as f64 / 1048576.0
        );
        return finish(store, collection, n);
    }
    eprintln!("data set of {n} objects reused from an earlier run ({name})");
    finish(store, collection, n)
}

/// Every `date_added` key, in order, so reads can start anywhere.
fn finish(
    store: Arc<dyn Store>,
    collection: CollectionId,
    n: u64,
) -> (Arc<dyn Store>, CollectionId, Vec<i64>) {
    let mut keys = Vec::with_capacity(n as usize);
    let mut after = None;
    loop {
        let page = store
            .list_objects(collection, &ObjectFilter::default(), after, 50_000, false)
            .expect("manifest");
        keys.extend(page.items.iter().map(|o| o.date_added.micros()));
        after = page.last_key;
        if !page.more {
            break;
        }
    }
    assert_eq!(keys.len() as u64, n, "the data set has the wrong size");
    (store, collection, keys)
}

fn read_page(store: &Arc<dyn Store>, collection: CollectionId, after: Cursor) -> usize {
    let page = store
        .list_objects(
            collection,
            &ObjectFilter::default(),
            Some(after),
            PAGE,
            true,
        )
        .expect("page");
    assert_eq!(page.items.len(), PAGE);
    page.items.iter().map(|o| o.body.len()).sum()
}

/// A plain timing of `count` random page reads: (median, p99).
fn sample_pages(
    store: &Arc<dyn Store>,
    collection: CollectionId,
    keys: &[i64],
    count: usize,
) -> (Duration, Duration) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut times: Vec<Duration> = (0..count)
        .map(|_| {
            let at = Cursor(keys[rng.below(keys.len() - PAGE)]);
            let t = Instant::now();
            black_box(read_page(store, collection, at));
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[count / 2], times[count * 99 / 100])
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(tmp_dir()).expect("temp dir");
    let big: u64 = std::env::var("BREAKWATER_BENCH_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);

    let mut group = c.benchmark_group("store");

    let opened = AtomicU64::new(0);
    if postgres_url().is_none() {
        group.bench_function("open-new-file", |b| {
            b.iter_batched(
                || {
                    dir.path().join(format!(
                        "open-{}.db",
                        opened.fetch_add(1, Ordering::Relaxed)
                    ))
                },
                |path| SqliteStore::open(&path).expect("open"),
                BatchSize::PerIteration,
            )
        });
    }

    let ingest_name = format!("ingest-{}", uuid::Uuid::new_v4().simple());
    let (ingest_store, ingest_collection) = open_with_collection(&ingest_name);
    group.throughput(Throughput::Elements(100));
    group.bench_function("ingest-100-durable", |b| {
        b.iter_batched(
            || batch(ingest_collection, 100),
            |batch| ingest_store.ingest(batch).expect("ingest"),
            BatchSize::PerIteration,
        )
    });
    drop(ingest_store);
    remove_data_set(&ingest_name);

    let (small, small_collection, small_keys) = data_set(SMALL, false);
    let (large, large_collection, large_keys) = data_set(big, true);

    // Warm both files' pages, then a direct comparison of the two sizes.
    sample_pages(&small, small_collection, &small_keys, 500);
    sample_pages(&large, large_collection, &large_keys, 2_000);
    let (small_p50, small_p99) = sample_pages(&small, small_collection, &small_keys, 3_000);
    let (large_p50, large_p99) = sample_pages(&large, large_collection, &large_keys, 3_000);
    eprintln!(
        "page of {PAGE} at a random position: {SMALL} objects p50 {:.1} µs p99 {:.1} µs; {big} objects p50 {:.1} µs p99 {:.1} µs; ratio {big}/{SMALL}: p50 {:.2}x, p99 {:.2}x (target ≤ 1.5x)",
        small_p50.as_secs_f64() * 1e6,
        small_p99.as_secs_f64() * 1e6,
        large_p50.as_secs_f64() * 1e6,
        large_p99.as_secs_f64() * 1e6,
        large_p50.as_secs_f64() / small_p50.as_secs_f64(),
        large_p99.as_secs_f64() / small_p99.as_secs_f64(),
    );

    group.throughput(Throughput::Elements(PAGE as u64));
    for (label, store, collection, keys) in [
        (
            format!("page-100-at-{SMALL}"),
            &small,
            small_collection,
            &small_keys,
        ),
        (
            format!("page-100-at-{big}"),
            &large,
            large_collection,
            &large_keys,
        ),
    ] {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        group.bench_function(label.as_str(), |b| {
            b.iter_batched(
                || Cursor(keys[rng.below(keys.len() - PAGE)]),
                |at| read_page(store, collection, at),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
