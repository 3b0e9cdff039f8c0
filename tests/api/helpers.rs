//! `spawn_app()`: a fresh data directory (config, CA, server certificate,
//! operator, tier collections) and the real server on a free port, plus
//! clients that present member certificates.
//!
//! `BREAKWATER_TEST_BACKEND=postgres` runs every test against PostgreSQL (a
//! database of its own per test, see `tests/support/postgres.rs`) instead
//! of the SQLite file in the data directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;

use breakwater::app::{Application, open_exchange};
use breakwater::certs::CertificateAuthority;
use breakwater::config::Config;
use breakwater::exchange::Exchange;
use breakwater::model::{CollectionId, Tier};
use breakwater::setup::{self, InitOptions, InitReport};
use breakwater::store::{Grant, Grantee, NewMember};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::test_postgres::{self, TestDatabase};

pub const TAXII: &str = "application/taxii+json;version=2.1";

pub struct TestApp {
    /// The test's PostgreSQL database, when the tests run on PostgreSQL.
    pub database: Option<TestDatabase>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub report: InitReport,
    pub config: Config,
    pub exchange: Exchange,
    pub ca: CertificateAuthority,
    /// The operator's client (reads and writes every collection).
    pub operator: Client,
}

/// Tunes the configuration before the server starts.
pub type Tune = fn(&mut Config);

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

pub fn spawn_app_with(tune: Tune) -> TestApp {
    init_logging();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = test_database();
    let report = setup::init(&InitOptions {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        hosts: vec![],
        database: database.as_ref().map(|d| d.url.clone()),
    })
    .expect("init");
    let mut config = Config::load(&report.config).expect("config");
    tune(&mut config);
    let server_config = config.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let app = Application::build(server_config).expect("build app");
            tx.send(app.port()).unwrap();
            app.run_until_stopped().await.expect("server");
        })
    });
    let port = rx.recv().expect("server started");
    let (_store, exchange) = open_exchange(&config).expect("exchange");
    let ca = setup::load_ca(&config).expect("ca");
    let operator = Client::from_files(
        port,
        &report.ca_certificate,
        Some((&report.operator_certificate, &report.operator_key)),
    );
    TestApp {
        database,
        port,
        dir,
        report,
        config,
        exchange,
        ca,
        operator,
    }
}

/// Whether the tests run on PostgreSQL (`BREAKWATER_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("BREAKWATER_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A database of its own for this test on PostgreSQL; `None` on SQLite
/// (the file in the data directory). Asking for PostgreSQL where there is
/// none is a failure, not a skip.
pub fn test_database() -> Option<TestDatabase> {
    if !on_postgres() {
        return None;
    }
    if let Err(reason) = test_postgres::server() {
        panic!("BREAKWATER_TEST_BACKEND=postgres, but there is no PostgreSQL server: {reason}");
    }
    test_postgres::database()
}

/// True (after saying so) when this test is about SQLite's file and the
/// tests run on PostgreSQL: the caller returns early.
pub fn sqlite_only(reason: &str) -> bool {
    if !on_postgres() {
        return false;
    }
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a SQLite test")
        .to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test} on PostgreSQL: {reason}");
    true
}

fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            breakwater::telemetry::init("text", "debug");
        }
    });
}

impl TestApp {
    pub fn base(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn api_root(&self) -> String {
        format!("{}{}", self.base(), self.report.api_root)
    }

    /// The id of the tier collection created by `init`.
    pub fn collection(&self, tier: Tier) -> String {
        self.report
            .collections
            .iter()
            .find(|c| c.tier == tier)
            .expect("tier collection")
            .id
            .clone()
    }

    pub fn objects_url(&self, tier: Tier) -> String {
        format!(
            "{}collections/{}/objects/",
            self.api_root(),
            self.collection(tier)
        )
    }

    /// Adds a member with a fresh certificate and returns its client.
    pub fn member(&self, name: &str, sector: &str, clearance: Tier) -> Client {
        self.exchange
            .add_member(NewMember {
                name: name.into(),
                sector: sector.into(),
                contact: None,
                identity_ref: None,
                clearance,
                is_operator: false,
            })
            .expect("add member");
        self.certificate_for(name)
    }

    /// Issues and registers another certificate for an existing member.
    pub fn certificate_for(&self, name: &str) -> Client {
        let issued = self.ca.issue_client(name, 30).expect("issue");
        self.exchange
            .register_certificate(name, &issued.info)
            .expect("register");
        let mut client = Client::from_pems(
            self.port,
            self.ca.cert_pem(),
            Some((&issued.cert_pem, &issued.key_pem)),
        );
        client.fingerprint = Some(issued.info.fingerprint.clone());
        client
    }

    pub fn grant(&self, name: &str, tier: Tier, read: bool, write: bool) {
        self.exchange
            .grant(Grant {
                collection: CollectionId::parse(&self.collection(tier)).unwrap(),
                grantee: Grantee::Member(name.into()),
                read,
                write,
            })
            .expect("grant");
    }

    /// A client with no client certificate at all.
    pub fn anonymous(&self) -> Client {
        Client::from_pems(self.port, self.ca.cert_pem(), None)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub port: u16,
    pub fingerprint: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    pub fn from_files(
        port: u16,
        ca: &std::path::Path,
        identity: Option<(&PathBuf, &PathBuf)>,
    ) -> Client {
        let ca = std::fs::read_to_string(ca).unwrap();
        let identity = identity.map(|(c, k)| {
            (
                std::fs::read_to_string(c).unwrap(),
                std::fs::read_to_string(k).unwrap(),
            )
        });
        Client::from_pems(
            port,
            &ca,
            identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
        )
    }

    pub fn from_pems(port: u16, ca_pem: &str, identity: Option<(&str, &str)>) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let tls = match identity {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(|c| c.unwrap())
                        .collect();
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .pool_max_idle_per_host(4)
            .build()
            .unwrap();
        Client {
            http,
            port,
            fingerprint: None,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response {
            status,
            headers,
            body,
            text,
        }
    }

    /// GET with the TAXII Accept header.
    pub async fn get(&self, url: &str) -> Response {
        self.send(self.http.get(url).header(ACCEPT, TAXII)).await
    }

    pub async fn delete(&self, url: &str) -> Response {
        self.send(self.http.delete(url).header(ACCEPT, TAXII)).await
    }

    /// POST an envelope with the TAXII media types.
    pub async fn post(&self, url: &str, body: &Value) -> Response {
        self.send(
            self.http
                .post(url)
                .header(ACCEPT, TAXII)
                .header(CONTENT_TYPE, TAXII)
                .body(body.to_string()),
        )
        .await
    }

    /// POSTs objects and asserts the whole envelope was stored.
    pub async fn push(&self, url: &str, objects: Vec<Value>) -> Response {
        let n = objects.len();
        let r = self.post(url, &json!({ "objects": objects })).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["success_count"], n, "{}", r.text);
        r
    }
}

/// A valid STIX 2.1 indicator with a fresh id.
pub fn indicator(name: &str) -> Value {
    indicator_version(&new_id("indicator"), name, "2026-01-01T00:00:00.000Z")
}

pub fn indicator_version(id: &str, name: &str, modified: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "name": name,
        "description": "Phishing sender observed against terminal operators",
        "indicator_types": ["malicious-activity"],
        "pattern": "[email-addr:value = 'billing@harbour-invoices.example']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z"
    })
}

/// The `id` of every item of the list `body[key]` (objects, collections,
/// status details), in order; none if there is no such list.
pub fn ids_in<C: FromIterator<String>>(body: &Value, key: &str) -> C {
    body[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn new_id(ty: &str) -> String {
    format!("{ty}--{}", uuid::Uuid::new_v4())
}
