//! Load benchmark: the real release server over mutual TLS on loopback,
//! driven by concurrent reqwest clients that each hold a member's client
//! certificate. The load generator runs on ONE tokio thread (a current-thread
//! runtime) so that it and the server share the machine's cores predictably.
//!
//! Scenarios (one summary line each): ingest (envelopes of 100 ~1 KiB
//! indicators, c=1 and c=8), poll (walk a 50,000-object collection with
//! limit=100 following `next`, c=1, 8 and 32), get-by-id (c=8, keep-alive),
//! mixed (1 writer and 16 incremental pollers using `added_after`). Then a
//! smaller "matched" set run identically against breakwater and the reference
//! Python server medallion (memory backend, plain HTTP, Basic auth), with the
//! breakwater/medallion ratio per scenario. Breakwater's last scenario, one
//! ~100 MiB envelope (with `max_content_length` raised to 200 MiB for the
//! run), measures the server's peak memory against the body's size.
//!
//! The push scenario opens 1,000 live-push subscribers (SSE streams, one TLS
//! connection each) on one collection, measures the server's memory per idle
//! subscriber, then pushes 1,000 objects/s (envelopes of 10) for 20 s and
//! records, for every object and subscriber, the time from the 202 that
//! acknowledged it to its arrival in the stream. Unlike the other scenarios
//! its load generator is a multi-threaded runtime (one thread cannot decrypt
//! a thousand streams), and its subscribers find object ids by substring
//! search rather than parsing; a stream the server cuts is resumed with
//! `Last-Event-ID`.
//!
//! Environment:
//! - `BREAKWATER_BIN`: the server binary (default `target/release/breakwater`;
//!   build it with `cargo build --release --bin breakwater`).
//! - `BREAKWATER_BENCH_NO_MEDALLION=1`: skip the medallion baseline.
//! - `BREAKWATER_BENCH_SCALE=F`: multiply every count and time bound by F.
//! - `BREAKWATER_BENCH_ONLY=ingest,poll,...`: run only these full scenarios
//!   (ingest, poll, get, mixed, envelope, matched, push).
//! - `BREAKWATER_BENCH_PUSH_SUBSCRIBERS=N`, `BREAKWATER_BENCH_PUSH_RATE=N`:
//!   the push scenario's subscribers (default 1,000) and objects/s (1,000).
//! - `BREAKWATER_BENCH_DATABASE=postgres://...`: the server on PostgreSQL (an
//!   existing, empty database) instead of its SQLite file; the database's
//!   CPU is reported beside the server's.
//! - `BREAKWATER_BENCH_NODES=N`: N servers on that database (the same data
//!   directory on N ports); the workers of a scenario take turns, worker i
//!   talking to node i mod N, and "server CPU" is all nodes together.
//! - `BREAKWATER_BENCH_PUSH_THREADS=N`: worker threads of the push
//!   scenario's own multi-threaded runtime (default: the machine's cores).
//!
//! Every loop is bounded by a request count and a deadline; the servers are
//! children of this process and stopped at its end.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

const TAXII: &str = "application/taxii+json;version=2.1";
const PAGE: usize = 100;
const ENVELOPE: usize = 100;
const POLL_COLLECTION: usize = 50_000;
const MATCHED_POLL_COLLECTION: usize = 1_000;
/// Indicators in the large envelope: about 100 MiB of JSON.
const LARGE_ENVELOPE: usize = 100_000;
/// The body limit the server runs with, so that envelope is allowed.
const LARGE_LIMIT: u64 = 200 << 20;

// ---------------------------------------------------------------- settings

struct Settings {
    scale: f64,
    only: Option<Vec<String>>,
    medallion: bool,
    database: Option<String>,
    nodes: usize,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            scale: std::env::var("BREAKWATER_BENCH_SCALE")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|s: &f64| *s > 0.0)
                .unwrap_or(1.0),
            only: std::env::var("BREAKWATER_BENCH_ONLY")
                .ok()
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect()),
            medallion: std::env::var_os("BREAKWATER_BENCH_NO_MEDALLION").is_none(),
            database: std::env::var("BREAKWATER_BENCH_DATABASE")
                .ok()
                .filter(|d| !d.is_empty()),
            nodes: std::env::var("BREAKWATER_BENCH_NODES")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n: &usize| *n >= 1)
                .unwrap_or(1),
        }
    }
    fn count(&self, n: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }
    fn secs(&self, s: f64) -> Duration {
        Duration::from_secs_f64((s * self.scale).max(1.0))
    }
    fn wants(&self, what: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x == what))
    }
}

// ---------------------------------------------------------------- objects

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// A valid STIX 2.1 indicator of about 1 KiB with a fresh id.
fn indicator() -> (String, String) {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let id = format!("indicator--{}", uuid::Uuid::new_v4());
    let mut text = format!(
        concat!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","#,
            r#""created":"2026-03-02T08:15:00.000Z","modified":"2026-03-02T08:15:00.000Z","#,
            r#""name":"Invoice phishing wave {n}","indicator_types":["malicious-activity"],"#,
            r#""pattern":"[domain-name:value = 'pay-{n}.harbour-invoices.example'] OR [email-addr:value = 'billing-{n}@harbour-invoices.example']","#,
            r#""pattern_type":"stix","pattern_version":"2.1","#,
            r#""valid_from":"2026-03-02T08:15:00Z","valid_until":"2026-09-02T08:15:00Z","#,
            r#""kill_chain_phases":[{{"kill_chain_name":"mitre-attack","phase_name":"initial-access"}}],"#,
            r#""labels":["phishing","terminal-operators"],"confidence":70,"lang":"en","#,
            r#""external_references":[{{"source_name":"crc-bulletin","external_id":"CRC-2026-{n:08}"}}],"#,
            r#""description":""#
        ),
        id = id,
        n = n
    );
    let filler =
        "Sender spoofs a terminal operator's billing desk and asks for a changed bank account. ";
    let missing = 1022usize.saturating_sub(text.len());
    text.extend(filler.chars().cycle().take(missing));
    text.push_str("\"}");
    (id, text)
}

/// An envelope of `n` fresh indicators, and their ids.
fn envelope(n: usize) -> (String, Vec<String>) {
    let mut body = String::with_capacity(n * 1040 + 16);
    let mut ids = Vec::with_capacity(n);
    body.push_str("{\"objects\":[");
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        let (id, text) = indicator();
        body.push_str(&text);
        ids.push(id);
    }
    body.push_str("]}");
    (body, ids)
}

// ---------------------------------------------------------------- targets

#[derive(Clone)]
enum Auth {
    /// PEM texts: community CA, member certificate, member key.
    Tls {
        ca: String,
        cert: String,
        key: String,
    },
    Basic {
        user: String,
        password: String,
    },
}

#[derive(Clone)]
struct Target {
    name: &'static str,
    auth: Auth,
    pid: u32,
}

impl Target {
    /// One client per simulated member tool: its own keep-alive connection
    /// (and, for breakwater, its own TLS session with a client certificate).
    fn client(&self) -> reqwest::Client {
        self.client_with(Some(Duration::from_secs(120)))
    }

    /// `timeout` bounds a whole request; streams have none.
    fn client_with(&self, timeout: Option<Duration>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(2);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        let builder = match &self.auth {
            Auth::Tls { ca, cert, key } => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots.add(c.expect("CA pem")).expect("CA");
                }
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(|c| c.expect("cert pem"))
                        .collect();
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key pem");
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("TLS versions")
                    .with_root_certificates(roots)
                    .with_client_auth_cert(chain, key)
                    .expect("client certificate");
                builder.use_preconfigured_tls(tls)
            }
            Auth::Basic { .. } => builder,
        };
        builder.build().expect("client")
    }

    fn get(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        self.auth(client.get(url).header(ACCEPT, TAXII))
    }

    fn post(&self, client: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
        self.auth(
            client
                .post(url)
                .header(ACCEPT, TAXII)
                .header(CONTENT_TYPE, TAXII)
                .body(body),
        )
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Basic { user, password } => r.basic_auth(user, Some(password)),
            Auth::Tls { .. } => r,
        }
    }
}

/// A server child process, stopped (SIGTERM, then SIGKILL) when dropped.
struct ServerProcess {
    child: Child,
    /// Kept open: the server may print more lines after the first.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl ServerProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- /proc

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets VmHWM (peak RSS) so each scenario reports its own peak.
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The breakwater nodes of this run: a meter on the first counts them all.
static NODE_PIDS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
/// Whether the nodes use PostgreSQL: meters then also count its processes.
static ON_POSTGRES: AtomicBool = AtomicBool::new(false);

/// CPU ticks of the server measured by `pid`: every node when it is the
/// first node.
fn server_ticks(pid: u32) -> u64 {
    let nodes = NODE_PIDS.lock().unwrap().clone();
    if nodes.first() == Some(&pid) {
        nodes.iter().map(|p| cpu_ticks(&p.to_string())).sum()
    } else {
        cpu_ticks(&pid.to_string())
    }
}

/// CPU ticks of every `postgres` process on the machine (the server and
/// its backends; backends that end during a scenario are not counted).
fn database_ticks() -> u64 {
    if !ON_POSTGRES.load(Ordering::Relaxed) {
        return 0;
    }
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == "postgres").then(|| cpu_ticks(&name))
        })
        .sum()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name, which is in parentheses.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // rest starts at field 3 (state); utime is field 14, stime 15.
    get(11) + get(12)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- results

#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    items: u64,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    /// Scenario-specific remark (e.g. walks completed, poller completeness).
    note: String,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.items += other.items;
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

#[derive(Clone)]
struct Row {
    target: &'static str,
    scenario: String,
    /// Per second: objects (ingest, poll) or requests (get-by-id).
    rate: f64,
    unit: &'static str,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    peak_mib: f64,
    errors: u64,
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Meter {
    pid: u32,
    started: Instant,
    server_ticks: u64,
    own_ticks: u64,
    db_ticks: u64,
    tick: f64,
}

impl Meter {
    fn start(pid: u32, tick: f64) -> Meter {
        reset_peak(pid);
        Meter {
            pid,
            started: Instant::now(),
            server_ticks: server_ticks(pid),
            own_ticks: cpu_ticks("self"),
            db_ticks: database_ticks(),
            tick,
        }
    }

    fn finish(
        self,
        target: &'static str,
        scenario: &str,
        unit: &'static str,
        mut out: Outcome,
        rows: &mut Vec<Row>,
    ) -> Row {
        let wall = self.started.elapsed().as_secs_f64();
        let server_cpu =
            server_ticks(self.pid).saturating_sub(self.server_ticks) as f64 / self.tick / wall;
        let db_cpu = database_ticks().saturating_sub(self.db_ticks) as f64 / self.tick / wall;
        let own_cpu = (cpu_ticks("self") - self.own_ticks) as f64 / self.tick / wall;
        let peak = proc_status_kib(self.pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
        let rss = proc_status_kib(self.pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
        out.latencies.sort();
        let rate = if unit == "req/s" {
            out.requests as f64 / wall
        } else {
            out.items as f64 / wall
        };
        let row = Row {
            target,
            scenario: scenario.to_string(),
            rate,
            unit,
            p50: percentile(&out.latencies, 0.50),
            p90: percentile(&out.latencies, 0.90),
            p99: percentile(&out.latencies, 0.99),
            max: percentile(&out.latencies, 1.0),
            peak_mib: peak,
            errors: out.errors,
        };
        println!(
            "{:<10} {:<22} {:>9.0} {:<5} | {:>7} req {:>8} obj in {:>5.1} s | latency ms p50 {:>7.2} p90 {:>7.2} p99 {:>7.2} max {:>8.2} | server RSS peak {:>6.1} MiB now {:>6.1} MiB | CPU server {:.2} loader {:.2}{} cores | errors {}{}",
            target,
            scenario,
            rate,
            unit,
            out.requests,
            out.items,
            wall,
            row.p50,
            row.p90,
            row.p99,
            row.max,
            peak,
            rss,
            server_cpu,
            own_cpu,
            if ON_POSTGRES.load(Ordering::Relaxed) {
                format!(" postgres {db_cpu:.2}")
            } else {
                String::new()
            },
            out.errors,
            if out.note.is_empty() {
                String::new()
            } else {
                format!(" | {}", out.note)
            }
        );
        if let Some(e) = &out.first_error {
            println!("{:<10} {:<22} first error: {e}", "", "");
        }
        rows.push(row.clone());
        row
    }
}

// ---------------------------------------------------------------- scenarios

/// Work tickets shared by the workers of one scenario: a count and a deadline.
struct Budget {
    left: AtomicUsize,
    deadline: Instant,
}

impl Budget {
    fn new(count: usize, time: Duration) -> Arc<Budget> {
        Arc::new(Budget {
            left: AtomicUsize::new(count),
            deadline: Instant::now() + time,
        })
    }
    fn take(&self) -> bool {
        Instant::now() < self.deadline
            && self
                .left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
    }
}

async fn run_workers<F, Fut>(concurrency: usize, make: F) -> Outcome
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        set.spawn(make(i));
    }
    let mut total = Outcome::default();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(o) => total.merge(o),
            Err(e) => total.error(format!("worker panicked: {e}")),
        }
    }
    total
}

#[derive(Deserialize)]
struct StatusBody {
    id: Option<String>,
    status: Option<String>,
    success_count: Option<u64>,
    failure_count: Option<u64>,
    failures: Option<Vec<Value>>,
}

/// POSTs one envelope and reads the status resource of the 202.
async fn post_for_status(
    target: &Target,
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<StatusBody, String> {
    let response = target
        .post(client, url, body)
        .send()
        .await
        .map_err(|e| format!("POST: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("POST body: {e}"))?;
    if status != 202 {
        return Err(format!("POST answered {status}: {}", truncate(&text)));
    }
    serde_json::from_str(&text).map_err(|e| format!("status JSON: {e}"))
}

/// POSTs one envelope; Ok(objects stored) or a description of what went wrong.
async fn post_envelope(
    target: &Target,
    client: &reqwest::Client,
    url: &str,
    body: String,
    expected: usize,
) -> Result<u64, String> {
    let parsed = post_for_status(target, client, url, body).await?;
    let stored = parsed.success_count.unwrap_or(0);
    if stored as usize != expected {
        return Err(format!(
            "{stored} of {expected} stored, {} refused: {}",
            parsed.failure_count.unwrap_or(0),
            truncate(&format!("{:?}", parsed.failures))
        ));
    }
    Ok(stored)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const LATE: &str = "no answer by the scenario's hard deadline";

/// Worker `worker`'s URL: with several nodes, `urls` lists one per node
/// (separated by `|`) and workers take turns.
fn node_url(urls: &str, worker: usize) -> String {
    let nodes: Vec<&str> = urls.split('|').collect();
    nodes[worker % nodes.len()].to_string()
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

async fn ingest(target: &Target, url: &str, concurrency: usize, budget: Arc<Budget>) -> Outcome {
    run_workers(concurrency, |worker| {
        let target = target.clone();
        let url = node_url(url, worker);
        let budget = budget.clone();
        async move {
            let client = target.client();
            let mut out = Outcome::default();
            while budget.take() {
                let (body, _) = envelope(ENVELOPE);
                let t = Instant::now();
                let r = post_envelope(&target, &client, &url, body, ENVELOPE).await;
                out.latencies.push(t.elapsed());
                out.requests += 1;
                match r {
                    Ok(n) => out.items += n,
                    Err(e) => out.error(e),
                }
            }
            out
        }
    })
    .await
}

/// POSTs one envelope of `n` indicators and follows its status resource until
/// every object is stored; the one latency is POST to completion. Returns the
/// outcome and the envelope's size in bytes.
async fn large_envelope(
    target: &Target,
    url: &str,
    status_url: &str,
    n: usize,
) -> (Outcome, usize) {
    let mut out = Outcome::default();
    let (body, _) = envelope(n);
    let size = body.len();
    let client = target.client();
    let (url, status_url) = (&node_url(url, 0), &node_url(status_url, 0));
    let started = Instant::now();
    let mut status = match post_for_status(target, &client, url, body).await {
        Ok(s) => s,
        Err(e) => {
            out.error(e);
            return (out, size);
        }
    };
    out.requests += 1;
    let deadline = started + Duration::from_secs(300);
    while status.status.as_deref() != Some("complete") {
        if Instant::now() > deadline {
            out.error(LATE.into());
            return (out, size);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let id = status.id.clone().unwrap_or_default();
        let polled = async {
            let response = target
                .get(&client, &format!("{status_url}{id}/"))
                .send()
                .await
                .map_err(|e| format!("GET status: {e}"))?;
            let text = response
                .text()
                .await
                .map_err(|e| format!("status body: {e}"))?;
            serde_json::from_str::<StatusBody>(&text).map_err(|e| format!("status JSON: {e}"))
        };
        match polled.await {
            Ok(s) => status = s,
            Err(e) => {
                out.error(e);
                return (out, size);
            }
        }
        out.requests += 1;
    }
    out.latencies.push(started.elapsed());
    out.items = status.success_count.unwrap_or(0);
    if out.items as usize != n {
        out.error(format!(
            "{} of {n} stored, {} refused",
            out.items,
            status.failure_count.unwrap_or(0)
        ));
    }
    out.note = format!("one envelope of {:.1} MiB", size as f64 / 1048576.0);
    (out, size)
}

/// Fills a collection with `total` indicators (envelopes of 1,000, two at a
/// time); returns their ids.
async fn preload(target: &Target, url: &str, total: usize) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let per = 1_000.min(total);
    let envelopes = total.div_ceil(per);
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total)));
    let next = Arc::new(AtomicUsize::new(0));
    let out = run_workers(2, |worker| {
        let target = target.clone();
        let url = node_url(url, worker);
        let ids = ids.clone();
        let next = next.clone();
        async move {
            let client = target.client();
            let mut out = Outcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= envelopes {
                    break;
                }
                let n = per.min(total - i * per);
                let (body, new_ids) = envelope(n);
                match post_envelope(&target, &client, &url, body, n).await {
                    Ok(k) => {
                        out.items += k;
                        ids.lock().unwrap().extend(new_ids);
                    }
                    Err(e) => out.error(e),
                }
            }
            out
        }
    })
    .await;
    if let Some(e) = out.first_error {
        bail!("preloading {url}: {e}");
    }
    println!(
        "{:<10} preloaded {total} objects in {:.1} s (envelopes of {per}, not a measurement)",
        target.name,
        started.elapsed().as_secs_f64()
    );
    let ids = std::mem::take(&mut *ids.lock().unwrap());
    Ok(ids)
}

#[derive(Deserialize)]
struct EnvelopeBody<'a> {
    #[serde(default)]
    more: bool,
    #[serde(default)]
    next: Option<String>,
    #[serde(borrow, default)]
    objects: Option<Vec<&'a RawValue>>,
}

/// GETs one page; Ok((objects, more, next, X-TAXII-Date-Added-Last)).
async fn get_page(
    target: &Target,
    client: &reqwest::Client,
    url: &str,
    query: &[(&str, &str)],
) -> Result<(usize, bool, Option<String>, Option<String>), String> {
    let mut full = url.to_string();
    for (i, (k, v)) in query.iter().enumerate() {
        full.push(if i == 0 { '?' } else { '&' });
        full.push_str(k);
        full.push('=');
        full.push_str(&encode_query_value(v));
    }
    let response = target
        .get(client, &full)
        .send()
        .await
        .map_err(|e| format!("GET: {e}"))?;
    let status = response.status().as_u16();
    let last = response
        .headers()
        .get("x-taxii-date-added-last")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("GET body: {e}"))?;
    if status != 200 {
        return Err(format!(
            "GET answered {status}: {}",
            truncate(&String::from_utf8_lossy(&bytes))
        ));
    }
    let page: EnvelopeBody<'_> =
        serde_json::from_slice(&bytes).map_err(|e| format!("envelope JSON: {e}"))?;
    Ok((
        page.objects.map_or(0, |o| o.len()),
        page.more,
        page.next,
        last,
    ))
}

/// Each worker walks the whole collection from its start, following `next`,
/// again and again until the budget (in pages) or the deadline runs out.
async fn poll(
    target: &Target,
    url: &str,
    collection_size: usize,
    concurrency: usize,
    budget: Arc<Budget>,
) -> Outcome {
    let walks = Arc::new(AtomicU64::new(0));
    let bad_walks = Arc::new(AtomicU64::new(0));
    let limit = PAGE.to_string();
    let mut out = run_workers(concurrency, |worker| {
        let target = target.clone();
        let url = node_url(url, worker);
        let budget = budget.clone();
        let walks = walks.clone();
        let bad_walks = bad_walks.clone();
        let limit = limit.clone();
        async move {
            let client = target.client();
            let mut out = Outcome::default();
            let mut next: Option<String> = None;
            let mut seen = 0usize;
            while budget.take() {
                let mut query = vec![("limit", limit.as_str())];
                if let Some(n) = &next {
                    query.push(("next", n.as_str()));
                }
                let t = Instant::now();
                let r = get_page(&target, &client, &url, &query).await;
                out.latencies.push(t.elapsed());
                out.requests += 1;
                match r {
                    Ok((n, more, token, _)) => {
                        out.items += n as u64;
                        seen += n;
                        if more && token.is_some() {
                            next = token;
                        } else {
                            walks.fetch_add(1, Ordering::Relaxed);
                            if seen != collection_size {
                                bad_walks.fetch_add(1, Ordering::Relaxed);
                            }
                            next = None;
                            seen = 0;
                        }
                    }
                    Err(e) => {
                        out.error(e);
                        next = None;
                        seen = 0;
                    }
                }
            }
            out
        }
    })
    .await;
    out.note = format!(
        "{} complete walks of {collection_size}, {} with a wrong count",
        walks.load(Ordering::Relaxed),
        bad_walks.load(Ordering::Relaxed)
    );
    out
}

async fn get_by_id(
    target: &Target,
    url: &str,
    ids: Arc<Vec<String>>,
    concurrency: usize,
    budget: Arc<Budget>,
) -> Outcome {
    run_workers(concurrency, |worker| {
        let target = target.clone();
        let url = node_url(url, worker);
        let budget = budget.clone();
        let ids = ids.clone();
        async move {
            let client = target.client();
            let mut out = Outcome::default();
            let mut x: u64 =
                0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            while budget.take() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = &ids[(x % ids.len() as u64) as usize];
                let t = Instant::now();
                let r = get_page(&target, &client, &format!("{url}{id}/"), &[]).await;
                out.latencies.push(t.elapsed());
                out.requests += 1;
                match r {
                    Ok((1, _, _, _)) => out.items += 1,
                    Ok((n, _, _, _)) => out.error(format!("{id}: {n} objects instead of 1")),
                    Err(e) => out.error(e),
                }
            }
            out
        }
    })
    .await
}

/// One writer posting envelopes, 16 pollers each following the collection
/// with `added_after` = the last `X-TAXII-Date-Added-Last` it saw. A poller
/// that got a short page waits 20 ms before asking again. After the writer
/// stops, pollers drain; each must end up with every object written.
async fn mixed(
    target: &Target,
    url: &str,
    pollers: usize,
    writer_budget: Arc<Budget>,
) -> (Outcome, Outcome) {
    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Nothing outlives this, whatever a slow server does with a request.
    let hard = tokio::time::Instant::from_std(writer_budget.deadline + Duration::from_secs(30));
    let writer = {
        let target = target.clone();
        let url = node_url(url, 0);
        let written = written.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let client = target.client();
            let mut out = Outcome::default();
            while writer_budget.take() {
                let (body, _) = envelope(ENVELOPE);
                let t = Instant::now();
                let r = tokio::time::timeout_at(
                    hard,
                    post_envelope(&target, &client, &url, body, ENVELOPE),
                )
                .await
                .unwrap_or_else(|_| Err(LATE.to_string()));
                out.latencies.push(t.elapsed());
                out.requests += 1;
                match r {
                    Ok(n) => {
                        out.items += n;
                        written.fetch_add(n, Ordering::SeqCst);
                    }
                    Err(e) => out.error(e),
                }
            }
            done.store(true, Ordering::SeqCst);
            out
        })
    };
    let complete = Arc::new(AtomicU64::new(0));
    let limit = PAGE.to_string();
    let mut readers = run_workers(pollers, |worker| {
        let target = target.clone();
        let url = node_url(url, worker + 1);
        let written = written.clone();
        let done = done.clone();
        let complete = complete.clone();
        let limit = limit.clone();
        async move {
            let client = target.client();
            let mut out = Outcome::default();
            let mut after: Option<String> = None;
            let mut received = 0u64;
            let mut drain_deadline: Option<Instant> = None;
            loop {
                let mut query = vec![("limit", limit.as_str())];
                if let Some(a) = &after {
                    query.push(("added_after", a.as_str()));
                }
                let t = Instant::now();
                let r = tokio::time::timeout_at(hard, get_page(&target, &client, &url, &query))
                    .await
                    .unwrap_or_else(|_| Err(LATE.to_string()));
                out.latencies.push(t.elapsed());
                out.requests += 1;
                let mut full = false;
                match r {
                    Ok((n, _, _, last)) => {
                        out.items += n as u64;
                        received += n as u64;
                        full = n == PAGE;
                        if n > 0 {
                            match last {
                                Some(l) => after = Some(l),
                                None => out.error("a page without X-TAXII-Date-Added-Last".into()),
                            }
                        }
                    }
                    Err(e) => out.error(e),
                }
                if tokio::time::Instant::now() >= hard {
                    break;
                }
                if done.load(Ordering::SeqCst) {
                    let total = written.load(Ordering::SeqCst);
                    if received >= total {
                        if received == total {
                            complete.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    let d = *drain_deadline.get_or_insert(Instant::now() + Duration::from_secs(20));
                    if Instant::now() > d {
                        break;
                    }
                }
                if !full {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            out
        }
    })
    .await;
    let writer = writer.await.unwrap_or_else(|e| {
        let mut o = Outcome::default();
        o.error(format!("writer panicked: {e}"));
        o
    });
    readers.note = format!(
        "{} of {pollers} pollers received all {} objects written",
        complete.load(Ordering::Relaxed),
        written.load(Ordering::Relaxed)
    );
    (writer, readers)
}

// ---------------------------------------------------------------- push

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(default)
}

/// Delivery latencies in 1 ms buckets (the last one: everything slower),
/// added to by every subscriber thread.
struct Histogram {
    buckets: Vec<AtomicU64>,
}

impl Histogram {
    const SPAN_MS: usize = 10_000;

    fn new() -> Histogram {
        Histogram {
            buckets: (0..=Self::SPAN_MS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    fn add_ms(&self, ms: usize, n: u64) {
        self.buckets[ms.min(Self::SPAN_MS)].fetch_add(n, Ordering::Relaxed);
    }
    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
    /// The bucket holding quantile `q`, as a latency (upper edge of the bucket).
    fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        let want = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n.load(Ordering::Relaxed);
            if seen >= want {
                return Duration::from_millis(ms as u64 + 1);
            }
        }
        Duration::from_millis(Self::SPAN_MS as u64)
    }
}

/// What the push scenario's tasks share.
struct PushShared {
    /// When the 202 acknowledging each object arrived.
    acknowledged: std::sync::RwLock<std::collections::HashMap<String, Instant>>,
    latency: Histogram,
    /// Objects that arrived in a stream before their 202 reached the pusher.
    before_ack: AtomicU64,
    received: AtomicU64,
    opened: AtomicUsize,
    /// Streams that the server ended before the scenario did (each resumed
    /// at once with its last event id).
    resumed: AtomicUsize,
    done: AtomicBool,
}

/// One subscriber: reads its stream until told to stop, recording each
/// object's latency from its 202. A stream the server ends is resumed with
/// `Last-Event-ID`, as `EventSource` does. Object ids are found by substring
/// search, not by parsing the envelope: the load generator should cost what
/// TLS and HTTP cost, not what a JSON parser costs.
async fn subscriber(
    client: reqwest::Client,
    url: String,
    shared: Arc<PushShared>,
) -> Result<(), String> {
    let boundary = memchr::memmem::Finder::new(b"\n\n");
    let id_field = memchr::memmem::Finder::new(br#""id":""#);
    let mut last_event: Option<String> = None;
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let mut request = client.get(&url).header(ACCEPT, "text/event-stream");
        if let Some(id) = &last_event {
            request = request.header("Last-Event-ID", id.as_str());
        }
        let mut response = request.send().await.map_err(|e| format!("stream: {e}"))?;
        if response.status() != 200 {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(format!("stream answered {status}: {}", truncate(&text)));
        }
        if last_event.is_none() {
            shared.opened.fetch_add(1, Ordering::Relaxed);
        }
        buffer.clear();
        loop {
            let chunk = tokio::select! {
                c = response.chunk() => c,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if shared.done.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    continue;
                }
            };
            let Ok(Some(bytes)) = chunk else { break };
            let arrived = Instant::now();
            buffer.extend_from_slice(&bytes);
            let mut consumed = 0;
            while let Some(end) = boundary.find(&buffer[consumed..]) {
                let block = &buffer[consumed..consumed + end];
                consumed += end + 2;
                let Some(rest) = block.strip_prefix(b"id: ") else {
                    continue;
                };
                let id_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                last_event = Some(String::from_utf8_lossy(&rest[..id_end]).into_owned());
                let data = &rest[id_end..];
                let acknowledged = shared.acknowledged.read().unwrap();
                // Objects of one envelope share their 202: count runs at once.
                let mut run: Option<(usize, u64)> = None;
                let mut objects = 0;
                for at in id_field.find_iter(data) {
                    let start = at + 6;
                    let len = data[start..].iter().position(|&b| b == b'"').unwrap_or(0);
                    let id = std::str::from_utf8(&data[start..start + len]).unwrap_or("");
                    objects += 1;
                    let ms = match acknowledged.get(id) {
                        Some(ack) => arrived.saturating_duration_since(*ack).as_millis() as usize,
                        None => {
                            shared.before_ack.fetch_add(1, Ordering::Relaxed);
                            0
                        }
                    };
                    run = match run {
                        Some((m, n)) if m == ms => Some((m, n + 1)),
                        Some((m, n)) => {
                            shared.latency.add_ms(m, n);
                            Some((ms, 1))
                        }
                        None => Some((ms, 1)),
                    };
                }
                if let Some((m, n)) = run {
                    shared.latency.add_ms(m, n);
                }
                shared.received.fetch_add(objects, Ordering::Relaxed);
            }
            buffer.drain(..consumed);
        }
        if shared.done.load(Ordering::Relaxed) {
            return Ok(());
        }
        shared.resumed.fetch_add(1, Ordering::Relaxed);
    }
}

/// `subscribers` live-push subscribers on one collection while `rate`
/// objects/s are pushed. Runs on the caller's (multi-threaded) runtime.
/// With several nodes, the subscribers are on the last and the pushes go to
/// the first: every object crosses from node to node.
async fn push(
    target: Target,
    push_base: String,
    stream_base: String,
    collection: String,
    subscribers: usize,
    rate: usize,
    duration: Duration,
) -> anyhow::Result<(Outcome, Duration)> {
    const PER_ENVELOPE: usize = 10;
    let target = &target;
    let stream_url = format!("{stream_base}collections/{collection}/stream/");
    let objects_url = format!("{push_base}collections/{collection}/objects/");
    let shared = Arc::new(PushShared {
        acknowledged: Default::default(),
        latency: Histogram::new(),
        before_ack: AtomicU64::new(0),
        received: AtomicU64::new(0),
        opened: AtomicUsize::new(0),
        resumed: AtomicUsize::new(0),
        done: AtomicBool::new(false),
    });
    let rss = |pid| proc_status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    // The node the subscribers are on (the last one).
    let stream_pid = NODE_PIDS
        .lock()
        .unwrap()
        .last()
        .copied()
        .unwrap_or(target.pid);
    let before = rss(stream_pid);
    // One client: each open stream holds its own connection.
    let client = target.client_with(None);
    let mut readers = tokio::task::JoinSet::new();
    let opening = Instant::now();
    for _ in 0..subscribers {
        readers.spawn(subscriber(
            client.clone(),
            stream_url.clone(),
            shared.clone(),
        ));
        // Let the handshakes interleave instead of queuing 1,000 at once.
        tokio::task::yield_now().await;
    }
    while shared.opened.load(Ordering::Relaxed) < subscribers {
        if opening.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {subscribers} streams opened",
                shared.opened.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Settle: the handshakes' transient allocations are returned.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss(stream_pid);
    println!(
        "{:<10} {:<22} {subscribers} streams opened in {:.1} s; server RSS {before:.1} MiB before, {idle:.1} MiB with them idle = {:.1} KiB per subscriber",
        target.name,
        "push",
        opening.elapsed().as_secs_f64(),
        (idle - before) * 1024.0 / subscribers as f64
    );

    // Pushers: one envelope of PER_ENVELOPE objects every tick.
    let mut out = Outcome::default();
    let envelopes = (rate * duration.as_secs() as usize).div_ceil(PER_ENVELOPE);
    let period = Duration::from_secs_f64(PER_ENVELOPE as f64 / rate as f64);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut posts = tokio::task::JoinSet::new();
    let pushers: Vec<reqwest::Client> = (0..8).map(|_| target.client()).collect();
    let pushing = Instant::now();
    for i in 0..envelopes {
        tick.tick().await;
        let (body, ids) = envelope(PER_ENVELOPE);
        let client = pushers[i % pushers.len()].clone();
        let target = target.clone();
        let url = objects_url.clone();
        let shared = shared.clone();
        posts.spawn(async move {
            let sent = Instant::now();
            let r = post_envelope(&target, &client, &url, body, PER_ENVELOPE).await;
            let at = Instant::now();
            if r.is_ok() {
                let mut acknowledged = shared.acknowledged.write().unwrap();
                for id in ids {
                    acknowledged.insert(id, at);
                }
            }
            (r, at - sent)
        });
        while let Some(r) = posts.try_join_next() {
            out.requests += 1;
            match r {
                Ok((Ok(n), took)) => {
                    out.items += n;
                    out.latencies.push(took);
                }
                Ok((Err(e), _)) => out.error(e),
                Err(e) => out.error(format!("pusher panicked: {e}")),
            }
        }
    }
    while let Some(r) = posts.join_next().await {
        out.requests += 1;
        match r {
            Ok((Ok(n), took)) => {
                out.items += n;
                out.latencies.push(took);
            }
            Ok((Err(e), _)) => out.error(e),
            Err(e) => out.error(format!("pusher panicked: {e}")),
        }
    }
    let pushed_for = pushing.elapsed();
    // Wait (bounded) for every subscriber to have every object.
    let expected = out.items * subscribers as u64;
    let drain = Instant::now();
    while shared.received.load(Ordering::Relaxed) < expected
        && drain.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = proc_status_kib(target.pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    shared.done.store(true, Ordering::Relaxed);
    while let Some(r) = readers.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => out.error(e),
            Err(e) => out.error(format!("subscriber panicked: {e}")),
        }
    }
    let received = shared.received.load(Ordering::Relaxed);
    let h = &shared.latency;
    println!(
        "{:<10} {:<22} pushed {} objects in {:.1} s ({:.0} obj/s); delivered {received} of {expected} ({:.2}%); delivery 202->receipt ms p50 {} p90 {} p99 {} max {} ({} arrived before their 202); streams cut and resumed {}; server RSS peak {peak:.1} MiB; load average {}",
        target.name,
        "push",
        out.items,
        pushed_for.as_secs_f64(),
        out.items as f64 / pushed_for.as_secs_f64(),
        received as f64 * 100.0 / expected.max(1) as f64,
        h.quantile(0.50).as_millis(),
        h.quantile(0.90).as_millis(),
        h.quantile(0.99).as_millis(),
        h.quantile(1.0).as_millis(),
        shared.before_ack.load(Ordering::Relaxed),
        shared.resumed.load(Ordering::Relaxed),
        loadavg(),
    );
    if received < expected {
        out.error(format!("{} deliveries missing", expected - received));
    }
    out.note = "latencies are the pushers' POSTs; delivery above".into();
    Ok((out, h.quantile(0.99)))
}

// ---------------------------------------------------------------- breakwater

struct Breakwater {
    _dir: tempfile::TempDir,
    servers: Vec<ServerProcess>,
    target: Target,
    /// The API root's URL on each node.
    bases: Vec<String>,
    /// Collection alias -> id.
    collections: Vec<(String, String)>,
}

impl Breakwater {
    fn collection_id(&self, alias: &str) -> String {
        self.collections
            .iter()
            .find(|(a, _)| a == alias)
            .expect("bench collection")
            .1
            .clone()
    }

    /// The collection's objects URL on every node, separated by `|` (see
    /// [`node_url`]).
    fn objects_url(&self, alias: &str) -> String {
        self.on_nodes(&format!(
            "collections/{}/objects/",
            self.collection_id(alias)
        ))
    }

    fn on_nodes(&self, path: &str) -> String {
        self.bases
            .iter()
            .map(|b| format!("{b}{path}"))
            .collect::<Vec<_>>()
            .join("|")
    }
}

fn run_cli(bin: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "`breakwater {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const MEMBER: &str = "bench-feed";
const BREAKWATER_COLLECTIONS: &[&str] = &[
    "ingest",
    "envelope",
    "poll",
    "mixed",
    "m-ingest-1",
    "m-ingest-8",
    "m-poll",
    "m-mixed",
    "push",
];

fn start_breakwater(
    bin: &Path,
    tmp_root: &Path,
    max_content_length: Option<u64>,
    database: Option<&str>,
    nodes: usize,
) -> anyhow::Result<Breakwater> {
    if !bin.exists() {
        bail!(
            "no server binary at {} (build it: cargo build --release --bin breakwater, or set BREAKWATER_BIN)",
            bin.display()
        );
    }
    // On the project's disk, not a tmpfs: fsync must cost what it costs.
    let dir = tempfile::Builder::new()
        .prefix("load-bench-")
        .tempdir_in(tmp_root)?;
    let data = dir.path().join("data");
    let data_s = data.to_string_lossy().to_string();
    let mut init = vec!["init", "--data-dir", &data_s, "--json"];
    if let Some(url) = database {
        init.extend(["--database", url]);
        ON_POSTGRES.store(true, Ordering::Relaxed);
    }
    let report: Value =
        serde_json::from_str(&run_cli(bin, &init)?).context("init --json output")?;
    let config = report["config"]
        .as_str()
        .ok_or_else(|| anyhow!("init report without config"))?
        .to_string();
    let ca_path = report["ca_certificate"]
        .as_str()
        .ok_or_else(|| anyhow!("init report without ca_certificate"))?
        .to_string();
    let cfg = ["--config", config.as_str()];
    let with =
        |rest: &[&str]| -> Vec<String> { cfg.iter().chain(rest).map(|s| s.to_string()).collect() };
    let call = |args: Vec<String>| -> anyhow::Result<String> {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(bin, &refs)
    };
    call(with(&[
        "members",
        "add",
        MEMBER,
        "--sector",
        "port-authority",
        "--clearance",
        "red",
    ]))?;
    let certs = dir.path().join("certs");
    let certs_s = certs.to_string_lossy().to_string();
    call(with(&[
        "certs", "issue", "--member", MEMBER, "--out", &certs_s,
    ]))?;
    let mut collections = Vec::new();
    for alias in BREAKWATER_COLLECTIONS {
        let created: Value = serde_json::from_str(&call(with(&[
            "collections",
            "create",
            "--title",
            &format!("bench {alias}"),
            "--tier",
            "green",
            "--alias",
            &format!("bench-{alias}"),
            "--json",
        ]))?)
        .context("collections create --json output")?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| anyhow!("collections create without id"))?
            .to_string();
        call(with(&[
            "grants",
            "add",
            "--member",
            MEMBER,
            "--collection",
            &id,
            "--read",
            "--write",
        ]))?;
        collections.push((alias.to_string(), id));
    }

    let mut servers = Vec::new();
    let mut ports = Vec::new();
    for node in 0..nodes {
        let log = std::fs::File::create(dir.path().join(format!("server-{node}.log")))?;
        let mut serve = Command::new(bin);
        // The push scenario's subscribers all hold this one member's certificate.
        serve.env("BREAKWATER_PUSH_MAX_STREAMS", "10000");
        serve.env("BREAKWATER_PUSH_MAX_STREAMS_PER_MEMBER", "10000");
        if let Some(limit) = max_content_length {
            serve.env("BREAKWATER_MAX_CONTENT_LENGTH", limit.to_string());
        }
        let mut child = serve
            .args(["--config", &config, "serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting the server")?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first)?;
        servers.push(ServerProcess {
            child,
            _stdout: Some(stdout),
        });
        ports.push(
            first
                .split("https://localhost:")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| anyhow!("unexpected first line from serve: {first:?}"))?,
        );
    }
    *NODE_PIDS.lock().unwrap() = servers.iter().map(ServerProcess::pid).collect();
    let read = |p: PathBuf| std::fs::read_to_string(&p).with_context(|| p.display().to_string());
    let target = Target {
        name: "breakwater",
        auth: Auth::Tls {
            ca: read(PathBuf::from(&ca_path))?,
            cert: read(certs.join(format!("{MEMBER}.pem")))?,
            key: read(certs.join(format!("{MEMBER}-key.pem")))?,
        },
        pid: servers[0].pid(),
    };
    let api_root = report["api_root"].as_str().unwrap_or("/crc/").to_string();
    Ok(Breakwater {
        _dir: dir,
        servers,
        target,
        bases: ports
            .iter()
            .map(|port| format!("https://localhost:{port}{api_root}"))
            .collect(),
        collections,
    })
}

// ---------------------------------------------------------------- medallion

/// One medallion process serving one API root with one collection. A fresh
/// process per matched scenario: its memory backend walks and deep-copies the
/// whole data tree on many requests, so data left by one scenario would slow
/// the next one down.
struct Medallion {
    dir: tempfile::TempDir,
    _server: ServerProcess,
    target: Target,
    port: u16,
    collection: String,
}

impl Medallion {
    fn objects_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/bench/collections/{}/objects/",
            self.port, self.collection
        )
    }

    /// The last exception medallion logged, if any (the cause of a 500).
    fn last_exception(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.dir.path().join("medallion.log")).ok()?;
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| !l.starts_with(' ') && (l.contains("Error:") || l.contains("Exception:")))
            .collect();
        errors.last().map(|l| {
            format!(
                "{} exceptions logged; the last: {}",
                errors.len(),
                truncate(l)
            )
        })
    }
}

/// Creates (once) a virtualenv under target/ with medallion from PyPI.
fn medallion_venv(target_dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = target_dir.join("medallion-venv");
    let exe = venv.join("bin").join("medallion");
    if exe.exists() {
        return Ok(exe);
    }
    let started = Instant::now();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .with_context(|| format!("running {python} -m venv"))?;
    if !status.success() {
        bail!("`{python} -m venv` failed ({status})");
    }
    let out = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "medallion",
        ])
        .output()
        .context("running pip")?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&venv);
        bail!(
            "`pip install medallion` failed: {}",
            truncate(&String::from_utf8_lossy(&out.stderr))
        );
    }
    println!(
        "medallion  installed into a virtualenv under target/ in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(exe)
}

fn start_medallion(exe: &Path, tmp_root: &Path, preload: &[String]) -> anyhow::Result<Medallion> {
    let dir = tempfile::Builder::new()
        .prefix("medallion-bench-")
        .tempdir_in(tmp_root)?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let collection = uuid::Uuid::new_v4().to_string();
    // Preloaded objects go in as medallion stores them: the object, plus a
    // manifest entry carrying its date_added.
    let (objects, manifest): (Vec<Value>, Vec<Value>) = preload
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let o: Value = serde_json::from_str(text).expect("object");
            let m = serde_json::json!({
                "id": o["id"],
                "date_added": format!("2026-03-02T09:00:{:02}.{:06}Z", i / 1_000_000, i % 1_000_000),
                "version": o["modified"],
                "media_type": "application/stix+json;version=2.1",
            });
            (o, m)
        })
        .unzip();
    let root_url = format!("http://127.0.0.1:{port}/bench/");
    let data = serde_json::json!({
        "/discovery": {
            "title": "medallion baseline",
            "default": root_url,
            "api_roots": [root_url],
        },
        "bench": {
            "information": {
                "title": "bench",
                "versions": [TAXII],
                "max_content_length": 10485760,
            },
            "status": [],
            "collections": [{
                "id": collection,
                "title": "bench",
                "can_read": true,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": objects,
                "manifest": manifest,
            }],
        },
    });
    let data_path = dir.path().join("data.json");
    std::fs::write(&data_path, serde_json::to_string(&data)?)?;
    let config_path = dir.path().join("config.json");
    std::fs::write(
        &config_path,
        serde_json::to_string(&serde_json::json!({
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data_path,
            },
            "users": { "bench": "bench-secret" },
            "taxii": { "max_page_size": 1000 },
        }))?,
    )?;
    let log = std::fs::File::create(dir.path().join("medallion.log"))?;
    let child = Command::new(exe)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting medallion")?;
    let server = ServerProcess {
        child,
        _stdout: None,
    };
    let target = Target {
        name: "medallion",
        auth: Auth::Basic {
            user: "bench".into(),
            password: "bench-secret".into(),
        },
        pid: server.pid(),
    };
    Ok(Medallion {
        dir,
        _server: server,
        target,
        port,
        collection,
    })
}

async fn wait_ready(target: &Target, url: &str) -> anyhow::Result<()> {
    let client = target.client();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = target.get(&client, url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("{} did not answer {url} within 60 s", target.name);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------- main

/// The scenarios run identically against both servers: (name, collection
/// to use on breakwater, whether the collection starts preloaded).
const MATCHED: &[(&str, &str, bool)] = &[
    ("matched ingest c=1", "m-ingest-1", false),
    ("matched ingest c=8", "m-ingest-8", false),
    ("matched poll c=1", "m-poll", true),
    ("matched poll c=8", "m-poll", true),
    ("matched get-by-id c=8", "m-poll", true),
    ("matched mixed", "m-mixed", false),
];

async fn matched(
    scenario: &str,
    target: &Target,
    url: &str,
    s: &Settings,
    poll_ids: Arc<Vec<String>>,
    tick: f64,
    rows: &mut Vec<Row>,
) {
    let long = s.secs(90.0);
    let walk = MATCHED_POLL_COLLECTION.div_ceil(PAGE);
    let m = Meter::start(target.pid, tick);
    let (o, unit) = match scenario {
        "matched ingest c=1" => (
            ingest(target, url, 1, Budget::new(s.count(20), long)).await,
            "obj/s",
        ),
        "matched ingest c=8" => (
            ingest(target, url, 8, Budget::new(s.count(40), long)).await,
            "obj/s",
        ),
        "matched poll c=1" => (
            poll(
                target,
                url,
                MATCHED_POLL_COLLECTION,
                1,
                Budget::new(s.count(3 * walk), long),
            )
            .await,
            "obj/s",
        ),
        "matched poll c=8" => (
            poll(
                target,
                url,
                MATCHED_POLL_COLLECTION,
                8,
                Budget::new(s.count(8 * walk), long),
            )
            .await,
            "obj/s",
        ),
        "matched get-by-id c=8" => (
            get_by_id(
                target,
                url,
                poll_ids,
                8,
                Budget::new(s.count(2_000), s.secs(30.0)),
            )
            .await,
            "req/s",
        ),
        "matched mixed" => {
            let (w, r) = mixed(target, url, 16, Budget::new(s.count(20), s.secs(20.0))).await;
            let pm = Meter {
                pid: m.pid,
                started: m.started,
                server_ticks: m.server_ticks,
                own_ticks: m.own_ticks,
                db_ticks: m.db_ticks,
                tick,
            };
            m.finish(target.name, "matched mixed writer", "obj/s", w, rows);
            pm.finish(target.name, "matched mixed 16 pollers", "obj/s", r, rows);
            return;
        }
        other => panic!("unknown scenario {other}"),
    };
    m.finish(target.name, scenario, unit, o, rows);
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = manifest.join("target");
    let tmp_root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&tmp_root)?;
    let bin = std::env::var_os("BREAKWATER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir.join("release").join("breakwater"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tick = clock_ticks_per_second();

    println!(
        "load generator: tokio current-thread runtime (ONE worker thread), reqwest over HTTP/1.1 keep-alive"
    );
    println!(
        "machine: {} cores, load average at start {}; scale {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        settings.scale
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let s = &settings;

    // ---- breakwater, full-size scenarios
    // The large-envelope scenario needs a body limit above the default; the
    // limit only bounds what is read, so the other scenarios are unaffected.
    let limit = settings.wants("envelope").then_some(LARGE_LIMIT);
    let bw = start_breakwater(
        &bin,
        &tmp_root,
        limit,
        settings.database.as_deref(),
        settings.nodes,
    )?;
    let mut envelope_bytes = 0usize;
    let mut push_p99: Option<Duration> = None;
    println!(
        "breakwater server pid {} on {} (release binary, default configuration{}, request log to a file)",
        bw.servers
            .iter()
            .map(|s| s.pid().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        bw.bases.join(" and "),
        limit.map_or(String::new(), |l| format!(
            " but max_content_length {} MiB",
            l >> 20
        ))
    );
    let t = bw.target.clone();
    let matched_poll_texts: Vec<String> = (0..MATCHED_POLL_COLLECTION)
        .map(|_| indicator().1)
        .collect();
    runtime.block_on(async {
        for base in &bw.bases {
            wait_ready(&t, &format!("{base}collections/")).await?;
        }
        if s.wants("ingest") {
            let m = Meter::start(t.pid, tick);
            let o = ingest(
                &t,
                &bw.objects_url("ingest"),
                1,
                Budget::new(s.count(150), s.secs(30.0)),
            )
            .await;
            m.finish(t.name, "ingest c=1", "obj/s", o, &mut rows);
            let m = Meter::start(t.pid, tick);
            let o = ingest(
                &t,
                &bw.objects_url("ingest"),
                8,
                Budget::new(s.count(1_000), s.secs(45.0)),
            )
            .await;
            m.finish(t.name, "ingest c=8", "obj/s", o, &mut rows);
        }
        let poll_size = s.count(POLL_COLLECTION);
        let poll_ids = if s.wants("poll") || s.wants("get") {
            Arc::new(preload(&t, &bw.objects_url("poll"), poll_size).await?)
        } else {
            Arc::new(Vec::new())
        };
        if s.wants("poll") {
            let walk = poll_size.div_ceil(PAGE);
            for (c, pages) in [(1usize, 2 * walk), (8, 8 * walk), (32, 8 * walk)] {
                let m = Meter::start(t.pid, tick);
                let o = poll(
                    &t,
                    &bw.objects_url("poll"),
                    poll_size,
                    c,
                    Budget::new(pages, s.secs(40.0)),
                )
                .await;
                m.finish(t.name, &format!("poll c={c}"), "obj/s", o, &mut rows);
            }
        }
        if s.wants("get") {
            let m = Meter::start(t.pid, tick);
            let o = get_by_id(
                &t,
                &bw.objects_url("poll"),
                poll_ids,
                8,
                Budget::new(s.count(400_000), s.secs(20.0)),
            )
            .await;
            m.finish(t.name, "get-by-id c=8", "req/s", o, &mut rows);
        }
        if s.wants("mixed") {
            let m = Meter::start(t.pid, tick);
            let (w, r) = mixed(
                &t,
                &bw.objects_url("mixed"),
                16,
                Budget::new(s.count(400), s.secs(20.0)),
            )
            .await;
            let pm = Meter {
                pid: m.pid,
                started: m.started,
                server_ticks: m.server_ticks,
                own_ticks: m.own_ticks,
                db_ticks: m.db_ticks,
                tick,
            };
            m.finish(t.name, "mixed writer", "obj/s", w, &mut rows);
            pm.finish(t.name, "mixed 16 pollers", "obj/s", r, &mut rows);
        }
        if s.wants("matched") {
            let mut body = String::from("{\"objects\":[");
            body.push_str(&matched_poll_texts.join(","));
            body.push_str("]}");
            let client = t.client();
            post_envelope(
                &t,
                &client,
                &bw.objects_url("m-poll"),
                body,
                MATCHED_POLL_COLLECTION,
            )
            .await
            .map_err(|e| anyhow!("preloading m-poll: {e}"))?;
            let ids: Vec<String> = matched_poll_texts
                .iter()
                .map(|t| {
                    serde_json::from_str::<Value>(t).expect("object")["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            let ids = Arc::new(ids);
            for (scenario, collection, _) in MATCHED {
                matched(
                    scenario,
                    &t,
                    &bw.objects_url(collection),
                    s,
                    ids.clone(),
                    tick,
                    &mut rows,
                )
                .await;
            }
        }
        if s.wants("push") {
            let subscribers = env_count("BREAKWATER_BENCH_PUSH_SUBSCRIBERS", s.count(1_000));
            let rate = env_count("BREAKWATER_BENCH_PUSH_RATE", 1_000);
            // The subscribers run on a multi-threaded runtime of their own:
            // one thread cannot decrypt 1,000 streams (see benches/README.md).
            let threads = env_count(
                "BREAKWATER_BENCH_PUSH_THREADS",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            );
            println!("push load generator: tokio multi-threaded runtime, {threads} worker threads");
            let loader = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()?;
            let m = Meter::start(t.pid, tick);
            let (o, p99) = loader
                .spawn(push(
                    t.clone(),
                    bw.bases[0].clone(),
                    bw.bases[bw.bases.len() - 1].clone(),
                    bw.collection_id("push"),
                    subscribers,
                    rate,
                    s.secs(20.0),
                ))
                .await??;
            loader.shutdown_background();
            m.finish(
                t.name,
                &format!("push {subscribers} subs"),
                "obj/s",
                o,
                &mut rows,
            );
            push_p99 = Some(p99);
        }
        // Last: glibc keeps part of what a 100 MiB envelope used (see
        // benches/README.md), which would be charged to the scenarios after it.
        if s.wants("envelope") {
            let m = Meter::start(t.pid, tick);
            let (o, size) = large_envelope(
                &t,
                &bw.objects_url("envelope"),
                &bw.on_nodes("status/"),
                s.count(LARGE_ENVELOPE),
            )
            .await;
            envelope_bytes = size;
            m.finish(t.name, "large envelope", "obj/s", o, &mut rows);
            // What the server keeps once the envelope is stored and trimmed.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let settled = proc_status_kib(t.pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
            println!(
                "{:<10} {:<22} server RSS 1 s after completion {settled:.1} MiB",
                t.name, "large envelope"
            );
        }
        anyhow::Ok(())
    })?;
    let peak_overall = rows
        .iter()
        .filter(|r| r.target == "breakwater" && r.scenario != "large envelope")
        .map(|r| r.peak_mib)
        .reduce(f64::max);
    drop(bw);

    // ---- medallion, the matched scenarios only
    let mut medallion_note = String::new();
    if !s.medallion {
        medallion_note = "medallion skipped (BREAKWATER_BENCH_NO_MEDALLION)".into();
    } else if !s.wants("matched") {
        medallion_note = "medallion skipped (BREAKWATER_BENCH_ONLY without matched)".into();
    } else {
        let ids: Arc<Vec<String>> = Arc::new(
            matched_poll_texts
                .iter()
                .map(|t| {
                    serde_json::from_str::<Value>(t).expect("object")["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect(),
        );
        match medallion_venv(&target_dir) {
            Err(e) => medallion_note = format!("medallion not run: {e:#}"),
            Ok(exe) => {
                println!(
                    "medallion  started afresh for each scenario: its own entry point (Werkzeug server), memory backend, plain HTTP with Basic auth (it has no TLS option)"
                );
                for (scenario, _, preloaded) in MATCHED {
                    let preload: &[String] = if *preloaded { &matched_poll_texts } else { &[] };
                    let md = match start_medallion(&exe, &tmp_root, preload) {
                        Ok(md) => md,
                        Err(e) => {
                            medallion_note = format!("medallion not run: {e:#}");
                            break;
                        }
                    };
                    let t = md.target.clone();
                    let r = runtime.block_on(async {
                        wait_ready(&t, &format!("http://127.0.0.1:{}/taxii2/", md.port)).await?;
                        matched(
                            scenario,
                            &t,
                            &md.objects_url(),
                            s,
                            ids.clone(),
                            tick,
                            &mut rows,
                        )
                        .await;
                        anyhow::Ok(())
                    });
                    if let Err(e) = r {
                        medallion_note = format!("medallion run failed: {e:#}");
                    }
                    if let Some(e) = md.last_exception() {
                        println!("medallion  {scenario}: {e}");
                    }
                }
            }
        }
    }

    // ---- summaries
    println!();
    println!("== targets (breakwater, full-size scenarios; load generator on one tokio thread)");
    let find = |target: &str, scenario: &str| {
        rows.iter()
            .find(|r| r.target == target && r.scenario == scenario)
            .cloned()
    };
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    if let Some(r) = find("breakwater", "ingest c=8") {
        println!(
            "ingest c=8 ≥ 20,000 obj/s: {:.0} obj/s — {}",
            r.rate,
            verdict(r.rate >= 20_000.0 && r.errors == 0)
        );
    }
    if let Some(r) = find("breakwater", "poll c=8") {
        println!(
            "poll c=8 ≥ 100,000 obj/s: {:.0} obj/s — {}",
            r.rate,
            verdict(r.rate >= 100_000.0 && r.errors == 0)
        );
        println!(
            "poll c=8 page p99 < 20 ms: {:.2} ms — {}",
            r.p99,
            verdict(r.p99 < 20.0)
        );
    }
    if let Some(r) = find("breakwater", "get-by-id c=8") {
        println!(
            "get-by-id c=8 ≥ 15,000 req/s: {:.0} req/s — {}",
            r.rate,
            verdict(r.rate >= 15_000.0 && r.errors == 0)
        );
    }
    if let (Some(p99), Some(r)) = (
        push_p99,
        rows.iter()
            .find(|r| r.target == "breakwater" && r.scenario.starts_with("push ")),
    ) {
        println!(
            "push delivery p99 < 500 ms (202 to receipt): {} ms — {}",
            p99.as_millis(),
            verdict(p99 < Duration::from_millis(500) && r.errors == 0)
        );
    }
    if let Some(peak) = peak_overall {
        println!(
            "server peak RSS < 200 MiB: {peak:.1} MiB (largest per-scenario VmHWM) — {}",
            verdict(peak < 200.0)
        );
    }
    if let Some(r) = find("breakwater", "large envelope") {
        let mib = envelope_bytes as f64 / 1048576.0;
        println!(
            "a ~100 MiB envelope needs < 10x its size: {:.1} MiB envelope, server peak RSS {:.1} MiB = {:.1}x — {}",
            mib,
            r.peak_mib,
            r.peak_mib / mib,
            verdict(r.peak_mib < 10.0 * mib && r.errors == 0)
        );
    }

    println!();
    println!("== breakwater / medallion (matched scenarios, identical counts)");
    if !medallion_note.is_empty() {
        println!("{medallion_note}");
    }
    for r in rows
        .iter()
        .filter(|r| r.target == "breakwater" && r.scenario.starts_with("matched"))
    {
        if let Some(m) = find("medallion", &r.scenario) {
            println!(
                "{:<28} breakwater {:>9.0} {} medallion {:>9.1} {} ratio {:>7.1}x | p99 {:.2} ms vs {:.2} ms | peak RSS {:.1} vs {:.1} MiB",
                r.scenario,
                r.rate,
                r.unit,
                m.rate,
                m.unit,
                r.rate / m.rate,
                r.p99,
                m.p99,
                r.peak_mib,
                m.peak_mib
            );
        }
    }
    println!("load average at end {}", loadavg());
    Ok(())
}
