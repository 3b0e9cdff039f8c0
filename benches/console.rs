//! The web console at 1,000,000 objects: every page's latency, served by
//! the real application over mutual TLS on loopback with the operator's
//! certificate (the operator sees everything, so every page reads the most).
//!
//! The data set is made once under the target's temporary directory by
//! `init` and `Store::ingest` in batches of 10,000 (the store bench's way),
//! reused while its object count matches (`BREAKWATER_BENCH_REBUILD=1`
//! rebuilds it, `BREAKWATER_BENCH_BIG=N` changes its size): a realistic mix
//! of campaigns (1%), indicators (50%), relationships from indicators to
//! recent campaigns (40%) and sightings (9%), published by six members of
//! six sectors, with labels and `created_by_ref`, 90% into TLP:GREEN and 10%
//! into TLP:AMBER, and 300,000 audited polls (one in 49 refused). Each page is requested 5 times
//! to warm up, then 40 times, one after another.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use breakwater::app::{Application, open_exchange};
use breakwater::config::Config;
use breakwater::model::{CollectionId, Tier, Timestamp};
use breakwater::setup::{self, InitOptions};
use breakwater::store::{AuditEvent, IngestBatch, NewMember, NewObject};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const BATCH: usize = 10_000;
const POLLS: usize = 300_000;
const MEMBERS: [(&str, &str); 6] = [
    ("evergreen-line", "shipping-line"),
    ("northern-rail", "rail"),
    ("quay-terminals", "terminal-operator"),
    ("harbour-haulage", "trucking"),
    ("port-customs", "customs"),
    ("pilot-service", "port-authority"),
];
const LABELS: [&str; 8] = [
    "phishing",
    "ais",
    "ransomware",
    "gnss",
    "ot",
    "fraud",
    "iot",
    "port-community",
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-bench")
}

/// What the pages ask about, remembered from the build.
#[derive(serde::Serialize, serde::Deserialize)]
struct Targets {
    objects: u64,
    indicator: String,
    campaign: String,
    creator: String,
    /// A `date_added` half-way through the build.
    middle: i64,
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn object(ty: &str, id: String, body: String, version: &str) -> NewObject {
    NewObject {
        id,
        object_type: ty.into(),
        spec_version: "2.1".into(),
        version: Some((Timestamp::parse(version).expect("time"), version.into())),
        body,
    }
}

struct Generator {
    n: u64,
    identities: Vec<String>,
    campaigns: Vec<String>,
    indicators: Vec<String>,
}

impl Generator {
    fn next(&mut self, member: usize) -> NewObject {
        self.n += 1;
        let n = self.n;
        let creator = &self.identities[member];
        let label = LABELS[(n % LABELS.len() as u64) as usize];
        let day = 1 + n % 28;
        let when = format!("2026-02-{day:02}T08:{:02}:00.000Z", n % 60);
        let slot = n % 100;
        if slot == 0 || self.campaigns.is_empty() {
            let id = format!("campaign--{}", uuid());
            let body = format!(
                r#"{{"type":"campaign","spec_version":"2.1","id":"{id}","created_by_ref":"{creator}","created":"{when}","modified":"{when}","name":"Port campaign {n}","labels":["{label}"],"description":"Activity against port stakeholders: berth schedules, customs portals and gate systems.","first_seen":"{when}"}}"#
            );
            self.campaigns.push(id.clone());
            if self.campaigns.len() > 10 {
                self.campaigns.remove(0);
            }
            return object("campaign", id, body, &when);
        }
        if slot < 51 || self.indicators.is_empty() {
            let id = format!("indicator--{}", uuid());
            let body = format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created_by_ref":"{creator}","created":"{when}","modified":"{when}","name":"Booking portal lure {n}","labels":["{label}","port-community"],"indicator_types":["malicious-activity"],"pattern":"[domain-name:value = 'pay-{n}.harbour-invoices.example'] OR [ipv4-addr:value = '203.0.113.{}']","pattern_type":"stix","valid_from":"{when}","description":"Sender spoofs a terminal operator's billing desk to harvest booking credentials from hauliers and agents."}}"#,
                n % 250
            );
            self.indicators.push(id.clone());
            if self.indicators.len() > 50 {
                self.indicators.remove(0);
            }
            return object("indicator", id, body, &when);
        }
        if slot < 91 {
            let id = format!("relationship--{}", uuid());
            let source = &self.indicators[(n % self.indicators.len() as u64) as usize];
            let target = &self.campaigns[(n % self.campaigns.len() as u64) as usize];
            let body = format!(
                r#"{{"type":"relationship","spec_version":"2.1","id":"{id}","created_by_ref":"{creator}","created":"{when}","modified":"{when}","relationship_type":"indicates","source_ref":"{source}","target_ref":"{target}","description":"Seen in the same wave of lures."}}"#
            );
            return object("relationship", id, body, &when);
        }
        let id = format!("sighting--{}", uuid());
        let of = &self.indicators[(n % self.indicators.len() as u64) as usize];
        let body = format!(
            r#"{{"type":"sighting","spec_version":"2.1","id":"{id}","created_by_ref":"{creator}","created":"{when}","modified":"{when}","sighting_of_ref":"{of}","where_sighted_refs":["{creator}"],"count":{},"first_seen":"{when}","last_seen":"{when}"}}"#,
            1 + n % 9
        );
        object("sighting", id, body, &when)
    }
}

fn build(n: u64) -> (Config, Targets) {
    let dir = data_dir();
    let targets_file = dir.join("targets.json");
    let rebuild = std::env::var_os("BREAKWATER_BENCH_REBUILD").is_some();
    if !rebuild
        && let Ok(text) = std::fs::read_to_string(&targets_file)
        && let Ok(targets) = serde_json::from_str::<Targets>(&text)
        && targets.objects == n
    {
        eprintln!("data set of {n} objects reused from {}", dir.display());
        let config = Config::load(&dir.join("breakwater.toml")).expect("config");
        return (config, targets);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let report = setup::init(&InitOptions {
        data_dir: dir.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        hosts: vec![],
        database: None,
    })
    .expect("init");
    let config = Config::load(&report.config).expect("config");
    let (store, exchange) = open_exchange(&config).expect("store");
    let collection = |tier: Tier| {
        CollectionId::parse(
            &report
                .collections
                .iter()
                .find(|c| c.tier == tier)
                .expect("tier")
                .id,
        )
        .expect("id")
    };
    let (green, amber) = (collection(Tier::Green), collection(Tier::Amber));
    for (name, sector) in MEMBERS {
        exchange
            .add_member(NewMember {
                name: name.into(),
                sector: sector.into(),
                contact: None,
                identity_ref: None,
                clearance: Tier::Amber,
                is_operator: false,
            })
            .expect("member");
    }
    let identities: Vec<String> = MEMBERS
        .iter()
        .map(|_| format!("identity--{}", uuid()))
        .collect();
    let mut generator = Generator {
        n: 0,
        identities: identities.clone(),
        campaigns: Vec::new(),
        indicators: Vec::new(),
    };
    let started = Instant::now();
    let mut targets = None;
    let mut left = n as usize;
    let mut batch_no = 0usize;
    while left > 0 {
        let size = left.min(BATCH);
        let member = batch_no % MEMBERS.len();
        let accepted: Vec<NewObject> = (0..size).map(|_| generator.next(member)).collect();
        store
            .ingest(IngestBatch {
                status_id: uuid(),
                api_root: "crc".into(),
                collection: if batch_no % 10 == 9 { amber } else { green },
                member: Some(MEMBERS[member].0.into()),
                fingerprint: None,
                request_timestamp: Timestamp::now(),
                accepted,
                refused: Vec::new(),
            })
            .expect("ingest");
        if targets.is_none() && generator.n >= n / 2 && batch_no % 10 != 9 {
            targets = Some(Targets {
                objects: n,
                indicator: generator.indicators.last().cloned().unwrap_or_default(),
                campaign: generator.campaigns.last().cloned().unwrap_or_default(),
                creator: identities[member].clone(),
                middle: Timestamp::now().micros(),
            });
        }
        left -= size;
        batch_no += 1;
    }
    let took = started.elapsed();
    for i in 0..POLLS {
        let (name, _) = MEMBERS[i % MEMBERS.len()];
        store
            .queue_audit(AuditEvent {
                member: Some(name.into()),
                collection: Some(green.to_string()),
                objects: Some(100),
                ..AuditEvent::now("poll-objects", if i % 49 == 0 { "refused" } else { "ok" })
            })
            .expect("audit");
    }
    drop(exchange);
    drop(store);
    let bytes = std::fs::metadata(dir.join("breakwater.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "data set of {n} objects built in {:.1} s ({:.0} objects/s, batches of {BATCH}, read models kept by triggers); file {:.0} MiB",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        bytes as f64 / 1048576.0
    );
    let targets = targets.expect("targets");
    std::fs::write(&targets_file, serde_json::to_string(&targets).unwrap()).expect("targets");
    (config, targets)
}

fn client(dir: &Path) -> reqwest::Client {
    let read = |p: &str| std::fs::read(dir.join(p)).expect("pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read("ca/ca.pem")) {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read("members/operator.pem"))
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(&read("members/operator-key.pem")).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

fn main() {
    let n: u64 = std::env::var("BREAKWATER_BENCH_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (config, targets) = build(n);
    let (store, _) = open_exchange(&config).expect("store");
    let collections = store.collections().expect("collections");
    let green = collections
        .iter()
        .find(|c| c.tier == Tier::Green)
        .expect("green")
        .id;
    let amber = collections
        .iter()
        .find(|c| c.tier == Tier::Amber)
        .expect("amber")
        .id;
    drop(store);
    let (tx, rx) = mpsc::channel();
    let server_config = config.clone();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let app = Application::build(server_config).expect("build");
            tx.send(app.port()).unwrap();
            app.run_until_stopped().await.expect("server");
        })
    });
    let port = rx.recv().expect("port");
    let base = format!("https://localhost:{port}/console");
    let pages: Vec<(&str, String)> = vec![
        ("overview", "/".into()),
        ("browse, newest first", format!("/collections/{green}/")),
        (
            "browse, type=indicator",
            format!("/collections/{green}/?type=indicator"),
        ),
        (
            "browse, creator",
            format!("/collections/{green}/?creator={}", targets.creator),
        ),
        (
            "browse, label=ransomware",
            format!("/collections/{green}/?label=ransomware"),
        ),
        (
            "browse, label + type=campaign (sparse: budget)",
            format!("/collections/{green}/?label=ais&type=campaign"),
        ),
        (
            "browse, a page in the middle (before=)",
            format!("/collections/{green}/?before={}", targets.middle),
        ),
        (
            "browse, TLP:AMBER",
            format!("/collections/{amber}/?type=sighting"),
        ),
        (
            "object: indicator, 1 hop",
            format!("/collections/{green}/objects/{}/", targets.indicator),
        ),
        (
            "object: indicator, 2 hops",
            format!("/collections/{green}/objects/{}/?hops=2", targets.indicator),
        ),
        (
            "object: campaign (hub), 2 hops",
            format!("/collections/{green}/objects/{}/?hops=2", targets.campaign),
        ),
        ("submissions (everyone's)", "/submissions/".into()),
        ("members and certificates", "/members/".into()),
        ("audit", "/audit/".into()),
        (
            "audit, member + outcome=refused",
            "/audit/?member=northern-rail&outcome=refused".into(),
        ),
        ("audit, action=push", "/audit/?action=push".into()),
        (
            "audit, member + outcome=not-found (no match: the whole budget)",
            "/audit/?member=northern-rail&outcome=not-found".into(),
        ),
    ];
    let http = client(&data_dir());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "console pages at {n} objects (operator, sequential, 40 requests each after 5 warm-ups)"
    );
    println!("| page | p50 ms | p90 ms | max ms | KiB |");
    println!("|---|---|---|---|---|");
    runtime.block_on(async {
        for (name, path) in &pages {
            let url = format!("{base}{path}");
            let mut times: Vec<Duration> = Vec::new();
            let mut size = 0usize;
            for i in 0..45 {
                let started = Instant::now();
                let r = http.get(&url).send().await.expect("request");
                let status = r.status();
                let body = r.bytes().await.expect("body");
                let took = started.elapsed();
                assert_eq!(status, 200, "{name}: {url}");
                size = body.len();
                if i >= 5 {
                    times.push(took);
                }
            }
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "| {name} | {:.1} | {:.1} | {:.1} | {:.0} |",
                ms(times[times.len() / 2]),
                ms(times[times.len() * 9 / 10]),
                ms(times[times.len() - 1]),
                size as f64 / 1024.0
            );
        }
    });
}
