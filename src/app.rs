//! Wiring: store, validator, registry, TLS and the HTTP server on a
//! pre-bound listener. Owns start-up and shutdown order; no request logic.

use std::future::ready;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_http::{HttpService, Protocol, Request, Response};
use actix_rt::net::TcpStream;
use actix_service::{ServiceFactory, ServiceFactoryExt, apply_fn_factory, fn_service, map_config};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::body::BoxBody;
use actix_web::dev::{AppConfig, Extensions, Server, Service, ServiceResponse};
use actix_web::{App, HttpMessage, ResponseError, web};
use anyhow::Context;

use crate::auth::extract::{LoggedMember, LoggedObjects, MemberLimits, MemberPermit};
use crate::auth::tls::ServerTls;
use crate::auth::{MemberRegistry, identity};
use crate::config::{Config, DatabaseLocation};
use crate::exchange::{Exchange, Settings};
use crate::stix::Validator;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Backend, ObjectsChanged};
use crate::taxii::body::UploadRate;
use crate::taxii::limits::{HeldBody, ResponseBudget};
use crate::taxii::transport::{HeaderNameGuard, WriteDeadline};
use crate::taxii::{self, DiscoveryInfo, State, TaxiiError, cursor_token::CursorKey};
use crate::telemetry::CatchPanic;

/// The top-level path segments the server routes itself: `taxii::configure`
/// (discovery, health, metrics) and `console::configure`. An API root named
/// like one would never be reached, so none may take these names.
pub const FIXED_PATHS: [&str; 4] = ["taxii2", "health", "metrics", "console"];

/// Why `name` cannot be an API root's name, if it cannot: one sentence.
pub fn fixed_path_clash(name: &str) -> Option<String> {
    FIXED_PATHS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
        .then(|| {
            format!(
                "'{name}' is a path the server serves itself (/{}/); choose another name for the API root",
                name.to_ascii_lowercase()
            )
        })
}

/// A member's connection as the HTTP layer sees it.
type Connection = HeaderNameGuard<TlsStream<WriteDeadline<TcpStream>>>;

pub struct Application {
    port: u16,
    server: Server,
    exchange: Exchange,
    tls: Arc<ServerTls>,
}

/// Opens the store and builds the domain services from a configuration;
/// shared by `serve` and the CLI commands that change data.
pub fn open_exchange(config: &Config) -> anyhow::Result<(Backend, Exchange)> {
    let location = config.database_location();
    let backend = open_store(
        &location,
        config.database_pool_size,
        config.limits.max_database_bytes,
    )?;
    let settings = Settings {
        background_threshold: config.limits.background_threshold,
        status_retention: chrono::Duration::hours(config.limits.status_retention_hours.into()),
    };
    let exchange = Exchange::new(backend.store(), Arc::new(Validator::new()), settings);
    Ok((backend, exchange))
}

/// Opens (creating and migrating if needed) the database at `location`.
/// `max_database_bytes` bounds a SQLite file; PostgreSQL reports a full
/// disk itself.
pub fn open_store(
    location: &DatabaseLocation,
    pool_size: u32,
    max_database_bytes: Option<u64>,
) -> anyhow::Result<Backend> {
    let shown = location.shown();
    Ok(match location {
        DatabaseLocation::Sqlite(path) => {
            let options = crate::store::sqlite::Options {
                max_database_bytes,
                ..Default::default()
            };
            Backend::Sqlite(Arc::new(
                SqliteStore::open_with(path, &options)
                    .with_context(|| format!("cannot open the database {shown}"))?,
            ))
        }
        DatabaseLocation::Postgres(url) => Backend::Postgres(Arc::new(
            PgStore::open(url, pool_size)
                .with_context(|| format!("cannot open the database {shown}"))?,
        )),
    })
}

/// A handler that panics answers 500 with a TAXII error and one log line
/// (with the error id the body names); the connection and the server live on.
fn catch_panics<S>(
    app: S,
    panics: Arc<AtomicU64>,
) -> impl ServiceFactory<
    Request,
    Config = (),
    Response = Response<BoxBody>,
    Error = actix_web::Error,
    InitError = (),
>
where
    S: ServiceFactory<
            Request,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    S::Service: 'static,
{
    apply_fn_factory(app, move |req: Request, service: &S::Service| {
        let handled = CatchPanic::new(service.call(req));
        let panics = panics.clone();
        async move {
            match handled.await {
                Ok(res) => res.map(Response::from),
                Err(panic) => {
                    panics.fetch_add(1, Ordering::Relaxed);
                    let error =
                        TaxiiError::internal(&format!("a request handler panicked: {panic}"));
                    Ok(error.error_response().into())
                }
            }
        }
    })
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and prepares the server.
    pub fn build(config: Config) -> anyhow::Result<Application> {
        crate::telemetry::install_panic_hook();
        let (store, exchange) = open_exchange(&config)?;
        // The configured body limit is what the configured API root
        // advertises and enforces, and the ceiling for every other root.
        for mut root in store.api_roots()? {
            if let Some(clash) = fixed_path_clash(&root.name) {
                // Added before the name was refused: its collections stay
                // in the database but cannot be reached over HTTP.
                tracing::warn!(api_root = %root.name, "{clash}; it cannot be reached");
            }
            let limit = if root.name == config.api_root {
                config.limits.max_content_length
            } else {
                root.max_content_length
                    .min(config.limits.max_content_length)
            };
            if root.max_content_length != limit {
                root.max_content_length = limit;
                store.upsert_api_root(root)?;
            }
        }
        let (tls, tls_handle) = crate::auth::tls::server_config(
            &config.resolve(&config.tls.certificate),
            &config.resolve(&config.tls.key),
            &config.resolve(&config.tls.client_ca),
        )
        .context("cannot set up TLS")?;
        let registry = web::Data::new(
            MemberRegistry::new(store.store(), config.auth.tokens)
                .context("cannot load members")?,
        );
        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local = listener.local_addr()?;
        let port = local.port();
        let state = web::Data::new(State {
            exchange: exchange.clone(),
            cursor_key: CursorKey::new(&store.cursor_key().context("cannot read the token key")?),
            discovery: DiscoveryInfo {
                title: config.discovery.title.clone(),
                description: config.discovery.description.clone(),
                contact: config.discovery.contact.clone(),
                public_url: config.public_url.clone(),
                listen: local,
            },
            max_page_size: config.limits.max_page_size.max(1),
            allow_foreign_identities: config.auth.allow_foreign_identities,
            metrics: Default::default(),
            responses: ResponseBudget::new(config.limits.response_bytes_in_flight),
            page_reads: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            upload_rate: UploadRate {
                bytes_per_sec: config.limits.min_upload_rate,
                grace: Duration::from_secs(config.limits.upload_grace_secs),
            },
            streams: taxii::stream::Streams::new((&config.push).into()),
        });
        let console = web::Data::new(crate::console::Console::new(
            exchange.clone(),
            &store.cursor_key().context("cannot read the token key")?,
        ));
        let max_body = config.limits.max_content_length;
        let member_limits =
            web::Data::new(MemberLimits::new(config.limits.max_requests_per_member));
        let send_timeout = Duration::from_secs(config.limits.send_timeout_secs.max(1));
        let stalled = state.metrics.stalled_connections_closed.clone();
        let panics = state.metrics.panics_caught.clone();
        let panic_log = Arc::new(LogThrottle::new(Duration::from_secs(60)));
        let tls_data = web::Data::from(tls_handle.clone());
        let app = move || {
            App::new()
                .app_data(state.clone())
                .app_data(tls_data.clone())
                .app_data(registry.clone())
                .app_data(member_limits.clone())
                .app_data(web::PayloadConfig::new(max_body as usize))
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let state = req.app_data::<web::Data<State>>().cloned();
                    let method = req.method().to_string();
                    let client = req
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "-".into());
                    let path = req.path().to_string();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        // The member's request is in progress until its
                        // response has been sent.
                        let permit = res.request().extensions_mut().remove::<MemberPermit>();
                        let res = match permit {
                            Some(permit) => {
                                res.map_body(|_, body| BoxBody::new(HeldBody::new(body, permit)))
                            }
                            None => res,
                        };
                        if let Some(state) = state {
                            let route = res
                                .request()
                                .match_pattern()
                                .unwrap_or_else(|| "unmatched".into());
                            state.metrics.observe(
                                &route,
                                res.status().as_u16(),
                                started.elapsed().as_secs_f64(),
                            );
                        }
                        let member = res
                            .request()
                            .extensions()
                            .get::<LoggedMember>()
                            .map(|m| m.0.clone())
                            .unwrap_or_else(|| "-".into());
                        let objects = res
                            .request()
                            .extensions()
                            .get::<LoggedObjects>()
                            .map(|n| n.0);
                        tracing::info!(
                            client = %client,
                            member = %member,
                            objects,
                            method = %method,
                            path = %path,
                            status = res.status().as_u16(),
                            duration_us = started.elapsed().as_micros() as u64,
                            "request"
                        );
                        Ok(res)
                    }
                })
                // Under `/console` (one of `FIXED_PATHS`).
                .configure(crate::console::configure(console.clone()))
                .configure(taxii::configure)
        };
        // What actix-web's `HttpServer::listen_rustls_0_23` assembles, with
        // the send timeout (`taxii::transport`) between the socket and TLS,
        // where HttpServer offers no hook. The app config is actix-web's
        // default (its `local_addr()` is not the listen address, and
        // `connection_info()` would report `http` for requests without an
        // absolute URI): nothing reads it; discovery takes the listen address
        // from `DiscoveryInfo::listen`.
        let server = actix_server::Server::build()
            .listen("breakwater", listener, move || {
                let http = HttpService::build()
                    .keep_alive(Duration::from_secs(75))
                    .client_request_timeout(Duration::from_secs(30))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(local)
                    .on_connect_ext(|io: &Connection, data: &mut Extensions| {
                        let (tcp, session) = io.get_ref().get_ref();
                        let socket = tcp.get_ref();
                        // Small responses go out at once instead of waiting on a delayed ACK.
                        let _ = socket.set_nodelay(true);
                        identity::capture(session, data);
                        taxii::stream::capture_socket(socket, data);
                    })
                    .finish(catch_panics(
                        map_config(app(), |_| AppConfig::default()),
                        panics.clone(),
                    ))
                    .map_err(|_| ());
                let stalled = stalled.clone();
                let pipeline = fn_service(move |tcp: TcpStream| {
                    let peer = tcp.peer_addr().ok();
                    ready(Ok::<_, ()>(WriteDeadline::new(
                        tcp,
                        send_timeout,
                        peer,
                        stalled.clone(),
                    )))
                })
                .and_then(Acceptor::new(tls.clone()).map_err(|_| ()))
                .and_then(fn_service(|tls: TlsStream<WriteDeadline<TcpStream>>| {
                    let peer = tls.get_ref().0.peer();
                    ready(Ok::<_, ()>((
                        HeaderNameGuard::new(tls),
                        Protocol::Http1,
                        peer,
                    )))
                }))
                .and_then(http);
                let panics = panics.clone();
                let panic_log = panic_log.clone();
                apply_fn_factory(pipeline, move |tcp: TcpStream, service| {
                    let peer = tcp.peer_addr().ok();
                    let connection = CatchPanic::new(service.call(tcp));
                    let panics = panics.clone();
                    let panic_log = panic_log.clone();
                    async move {
                        // A panic inside actix-http (3.20 unwraps a header
                        // name longer than 64 KiB; `HeaderNameGuard` keeps
                        // that one out) ends only that connection. Whatever
                        // remains may be caused at will, so it is logged at
                        // most once a minute, with how many more.
                        connection.await.unwrap_or_else(|panic| {
                            panics.fetch_add(1, Ordering::Relaxed);
                            if let Some(unlogged) = panic_log.admit(Instant::now()) {
                                tracing::error!(
                                    peer = %peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
                                    %panic,
                                    not_logged_since_last = unlogged,
                                    "the HTTP layer panicked on a connection; it was closed"
                                );
                            }
                            Err(())
                        })
                    }
                })
            })?
            .run();
        Ok(Application {
            port,
            server,
            exchange,
            tls: tls_handle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish);
    /// SIGHUP reloads the server certificate.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.tls.spawn_watchers(self.exchange.store().clone());
        let exchange = self.exchange.clone();
        // Envelopes acknowledged as pending before a crash are finished now.
        std::thread::spawn(move || {
            if let Err(e) = exchange.resume_pending() {
                tracing::error!(error = %e, "could not resume pending ingests");
            }
        });
        let exchange = self.exchange.clone();
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tick.tick().await;
                let ex = exchange.clone();
                let _ = web::block(move || ex.housekeeping(crate::model::Timestamp::now())).await;
            }
        });
        // Live push: on PostgreSQL, every node's commits wake this node's
        // subscribers (LISTEN/NOTIFY); the probe below finds writes of other
        // processes for collections with subscribers in any case, and every
        // stream ends when the server is told to stop (a graceful stop would
        // otherwise wait for them).
        let push = self.exchange.push().clone();
        let notified = self
            .exchange
            .store()
            .watch_objects(Arc::new(move |change| match change {
                ObjectsChanged::Collection(id) => push.notified(id),
                ObjectsChanged::Anything => push.wake_all(),
            }));
        if let Err(e) = notified {
            tracing::warn!(error = %e, "cannot watch the database for other nodes' commits; relying on the once-a-second check");
        }
        let exchange = self.exchange.clone();
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if exchange.push().watched() > 0 {
                    let ex = exchange.clone();
                    let _ = web::block(move || ex.push().probe(ex.store().as_ref())).await;
                }
            }
        });
        let push = self.exchange.push().clone();
        actix_rt::spawn(async move {
            stopping().await;
            push.close_all();
        });
        self.server.await
    }
}

/// Resolves when the process is asked to stop (SIGINT, or SIGTERM on Unix).
pub(crate) async fn stopping() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Lets a repeated log line through at most once per `every`; the lines
/// held back are counted and reported with the next one let through.
struct LogThrottle {
    every: Duration,
    state: std::sync::Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    fn new(every: Duration) -> LogThrottle {
        LogThrottle {
            every,
            state: std::sync::Mutex::new((None, 0)),
        }
    }

    /// `Some(lines held back since the last one)` when this one may be
    /// logged, `None` when it is held back.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, held) = &mut *state;
        match last {
            Some(at) if now.saturating_duration_since(*at) < self.every => {
                *held += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use actix_web::{HttpResponse, http::StatusCode};

    use super::*;

    #[test]
    fn a_repeated_log_line_goes_out_once_per_period_with_the_count_held_back() {
        let throttle = LogThrottle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(throttle.admit(t0), Some(0));
        assert_eq!(throttle.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(throttle.admit(t0 + Duration::from_secs(59)), None);
        assert_eq!(throttle.admit(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(throttle.admit(t0 + Duration::from_secs(61)), None);
        assert_eq!(throttle.admit(t0 + Duration::from_secs(200)), Some(1));
    }

    #[test]
    fn a_panicking_handler_answers_500_with_a_taxii_error() {
        crate::telemetry::install_panic_hook();
        actix_rt::System::new().block_on(async {
            let app = App::new()
                .route(
                    "/boom",
                    web::get().to(|| async {
                        if std::hint::black_box(true) {
                            panic!("a handler bug");
                        }
                        HttpResponse::Ok().finish()
                    }),
                )
                .route(
                    "/fine",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                );
            let panics = Arc::new(AtomicU64::new(0));
            let service = catch_panics(map_config(app, |_| AppConfig::default()), panics.clone())
                .new_service(())
                .await
                .unwrap();
            let res = service
                .call(TestRequest::get().uri("/boom").to_request())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(
                res.headers().get("content-type").unwrap(),
                taxii::media::TAXII_MEDIA_TYPE
            );
            let body: serde_json::Value =
                serde_json::from_slice(&actix_web::body::to_bytes(res.into_body()).await.unwrap())
                    .unwrap();
            assert_eq!(body["http_status"], "500");
            assert!(
                !body["description"]
                    .as_str()
                    .unwrap()
                    .contains("a handler bug")
            );
            assert_eq!(panics.load(Ordering::Relaxed), 1);
            // The same service goes on answering.
            let res = service
                .call(TestRequest::get().uri("/fine").to_request())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        });
    }
}
