//! Wiring: store, validator, registry, TLS and the HTTP server on a
//! pre-bound listener. Owns start-up and shutdown order; no request logic.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service};
use actix_web::{App, HttpMessage, HttpServer, web};
use anyhow::Context;

use crate::auth::extract::{LoggedMember, LoggedObjects};
use crate::auth::tls::ServerTls;
use crate::auth::{MemberRegistry, identity};
use crate::config::{Config, DatabaseLocation};
use crate::exchange::{Exchange, Settings};
use crate::stix::Validator;
use crate::store::Backend;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::taxii::{self, DiscoveryInfo, State, cursor_token::CursorKey};

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
    let backend = open_store(&location, config.database_pool_size)?;
    let settings = Settings {
        background_threshold: config.limits.background_threshold,
        status_retention: chrono::Duration::hours(config.limits.status_retention_hours.into()),
    };
    let exchange = Exchange::new(backend.store(), Arc::new(Validator::new()), settings);
    Ok((backend, exchange))
}

/// Opens (creating and migrating if needed) the database at `location`.
pub fn open_store(location: &DatabaseLocation, pool_size: u32) -> anyhow::Result<Backend> {
    let shown = location.shown();
    Ok(match location {
        DatabaseLocation::Sqlite(path) => Backend::Sqlite(Arc::new(
            SqliteStore::open(path).with_context(|| format!("cannot open the database {shown}"))?,
        )),
        DatabaseLocation::Postgres(url) => Backend::Postgres(Arc::new(
            PgStore::open(url, pool_size)
                .with_context(|| format!("cannot open the database {shown}"))?,
        )),
    })
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and prepares the server.
    pub fn build(config: Config) -> anyhow::Result<Application> {
        let (store, exchange) = open_exchange(&config)?;
        // The configured body limit is what the configured API root
        // advertises and enforces, and the ceiling for every other root.
        for mut root in store.api_roots()? {
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
        let state = web::Data::new(State {
            exchange: exchange.clone(),
            cursor_key: CursorKey::new(&store.cursor_key().context("cannot read the token key")?),
            discovery: DiscoveryInfo {
                title: config.discovery.title.clone(),
                description: config.discovery.description.clone(),
                contact: config.discovery.contact.clone(),
                public_url: config.public_url.clone(),
            },
            max_page_size: config.limits.max_page_size.max(1),
            allow_foreign_identities: config.auth.allow_foreign_identities,
            metrics: Default::default(),
        });
        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let max_body = config.limits.max_content_length;
        let tls_data = web::Data::from(tls_handle.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(tls_data.clone())
                .app_data(registry.clone())
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
                .configure(taxii::configure)
        })
        .on_connect(identity::capture)
        .keep_alive(Duration::from_secs(75))
        .client_request_timeout(Duration::from_secs(30))
        .listen_rustls_0_23(listener, tls)?
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
                let _ = web::block(move || ex.purge_statuses(crate::model::Timestamp::now())).await;
            }
        });
        self.server.await
    }
}
