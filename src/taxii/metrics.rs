//! Prometheus metrics: requests by route and status, latency histograms,
//! objects ingested and refused, database size, live push streams, and the
//! seconds until each certificate (server, community CA, members) expires.
//! `/metrics` is for the
//! operator's certificate only.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::limits::ResponseBudget;
use super::{Code, State, TaxiiError};
use crate::auth::Caller;
use crate::auth::tls::ServerTls;
use crate::certs::expiry::Expiry;

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub objects_ingested: AtomicU64,
    pub objects_refused: AtomicU64,
    /// Pages refused because the response budget was spent (503).
    pub responses_refused: AtomicU64,
    /// Connections closed because their client stopped reading.
    pub stalled_connections_closed: Arc<AtomicU64>,
    /// Panics caught in handlers or connections (each answered or closed,
    /// and logged as one line).
    pub panics_caught: Arc<AtomicU64>,
    /// Live push streams open now.
    pub streams_open: AtomicI64,
    /// Push events (envelopes of objects) handed to subscribers' connections.
    pub stream_events: AtomicU64,
    /// Push events rendered (each shared by the streams at the same position).
    pub stream_events_rendered: AtomicU64,
    /// Push streams cut because their reader did not keep up.
    pub streams_slow: AtomicU64,
    /// From a commit being noticed to its objects' event being written.
    delivery: Mutex<Histogram>,
}

impl Metrics {
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        // Routes match with and without the trailing slash; count them as one.
        let route = format!("{}/", route.strip_suffix('/').unwrap_or(route));
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route.clone(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = latency.entry(route).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn observe_delivery(&self, seconds: f64) {
        let mut h = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn render(&self, database_bytes: u64, responses: &ResponseBudget) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP breakwater_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE breakwater_requests_total counter");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "breakwater_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP breakwater_request_duration_seconds Request latency by route."
        );
        let _ = writeln!(out, "# TYPE breakwater_request_duration_seconds histogram");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "breakwater_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "breakwater_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "breakwater_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "breakwater_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        for (name, help, value) in [
            (
                "breakwater_objects_ingested_total",
                "STIX objects stored from POSTs.",
                self.objects_ingested.load(Ordering::Relaxed),
            ),
            (
                "breakwater_objects_refused_total",
                "STIX objects refused (validation, markings, provenance).",
                self.objects_refused.load(Ordering::Relaxed),
            ),
            (
                "breakwater_responses_refused_total",
                "Pages refused with 503 because the response budget was spent.",
                self.responses_refused.load(Ordering::Relaxed),
            ),
            (
                "breakwater_panics_caught_total",
                "Panics caught in request handlers or connections.",
                self.panics_caught.load(Ordering::Relaxed),
            ),
            (
                "breakwater_stalled_connections_closed_total",
                "Connections closed because their client stopped reading a response.",
                self.stalled_connections_closed.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        self.render_push(&mut out);
        for (name, help, value) in [
            (
                "breakwater_database_bytes",
                "Size of the database and its WAL.",
                database_bytes,
            ),
            (
                "breakwater_response_bytes_in_flight",
                "Bytes of response bodies held in memory (pages and statuses not yet sent).",
                responses.in_flight(),
            ),
            (
                "breakwater_response_bytes_limit",
                "The budget for response bytes in flight (limits.response_bytes_in_flight).",
                responses.limit(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

impl Metrics {
    fn render_push(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP breakwater_push_streams_open Live push streams open now.\n# TYPE breakwater_push_streams_open gauge\nbreakwater_push_streams_open {}",
            self.streams_open.load(Ordering::Relaxed)
        );
        for (name, help, value) in [
            (
                "breakwater_push_events_total",
                "Push events written to subscribers.",
                self.stream_events.load(Ordering::Relaxed),
            ),
            (
                "breakwater_push_events_rendered_total",
                "Push events rendered; streams at the same position share one.",
                self.stream_events_rendered.load(Ordering::Relaxed),
            ),
            (
                "breakwater_push_slow_disconnects_total",
                "Push subscribers disconnected for not keeping up.",
                self.streams_slow.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "breakwater_push_delivery_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From a write's commit to its push event being written.\n# TYPE {name} histogram"
        );
        let h = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
        for (bound, n) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count);
    }
}

/// Label values are quoted strings: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `breakwater_certificate_expiry_seconds{kind,name,fingerprint}`: negative
/// once a certificate has expired. Alert on it, e.g. `< 30 * 86400`.
pub fn render_expiries(expiries: &[Expiry], now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::new();
    let name = "breakwater_certificate_expiry_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Seconds until a certificate expires (server, community CA, each unrevoked member certificate).\n# TYPE {name} gauge"
    );
    for e in expiries {
        let _ = writeln!(
            out,
            "{name}{{kind=\"{}\",name=\"{}\",fingerprint=\"{}\"}} {}",
            e.kind.as_str(),
            label(&e.name),
            label(&e.fingerprint),
            e.seconds_left(now)
        );
    }
    out
}

pub async fn metrics(
    caller: Caller,
    state: web::Data<State>,
    tls: Option<web::Data<ServerTls>>,
) -> Result<HttpResponse, TaxiiError> {
    if !caller.member.is_operator {
        return Err(TaxiiError::new(
            Code::Forbidden,
            "metrics are for the operator's certificate only",
        ));
    }
    let store = state.exchange.store().clone();
    let (bytes, expiries) = super::blocking(move || {
        let expiries = tls
            .map(|tls| tls.expiries(store.as_ref()))
            .unwrap_or_default();
        Ok((store.size_bytes().unwrap_or(0), expiries))
    })
    .await?;
    let mut body = state.metrics.render(bytes, &state.responses);
    let name = "breakwater_push_database_wakeups_total";
    let _ = writeln!(
        body,
        "# HELP {name} Commits the database announced (PostgreSQL NOTIFY, from any node) that woke subscribers here.\n# TYPE {name} counter\n{name} {}",
        state.exchange.push().database_wakeups()
    );
    body.push_str(&render_expiries(&expiries, chrono::Utc::now()));
    Ok(HttpResponse::build(StatusCode::OK)
        .content_type("text/plain; version=0.0.4")
        .body(body))
}
