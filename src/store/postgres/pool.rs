//! Connections: the store's own small tokio runtime that drives every
//! PostgreSQL socket, the pool (deadpool), and `block_on`, which lets the
//! synchronous `Store` methods wait for an async query from any thread.
//!
//! The calling thread never runs a runtime of its own: it parks until the
//! query's future completes, while the connection's I/O happens on the
//! store's runtime threads. So a call is safe wherever the trait is called
//! from (a blocking thread, a plain thread, or the event loop, where the
//! member registry checks the auth revision), unlike a driver that starts a
//! runtime on the caller's thread and refuses to inside another one.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::connect::Connector;
use crate::store::{StoreError, StoreResult};

/// How long a caller waits for a free connection (or a new one) before the
/// request is answered "unavailable, retry" instead of queueing unbounded.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Session settings every connection starts with.
///
/// A transaction left open by a stopped (not killed) node is ended by the
/// server after a minute, so it cannot hold a collection's lock for ever.
///
/// Every statement (`sql.rs`) is written to have one good plan whatever
/// its parameters, so it is planned once per connection: left to choose,
/// PostgreSQL keeps re-planning some on every execution (the by-id page,
/// whose generic plan it over-estimates), which cost more than running them.
///
/// A statement waiting for a lock longer than the store's `busy_wait` fails
/// (`lock_timeout`), and the caller hears "busy": a request is answered 503
/// rather than held for ever behind a stuck transaction.
const SESSION_SETUP: &str = "SET idle_in_transaction_session_timeout = '60s';
     SET plan_cache_mode = force_generic_plan";

/// The store's runtime: two threads drive every connection's socket.
pub struct Io {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Io {
    pub fn new() -> StoreResult<Io> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("breakwater-db")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the database threads: {e}"))
            })?;
        Ok(Io {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .handle()
    }

    /// Runs `future` to completion on the calling thread, with the store's
    /// runtime as the context for anything it creates (sockets, timers,
    /// tasks).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _context = self.handle().enter();
        park_on(tokio::task::unconstrained(future))
    }
}

impl Drop for Io {
    /// Never blocks: a store may be dropped on an event loop.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

fn park_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Opens connections for the pool: the connection task runs on the store's
/// runtime, and every session starts with [`SESSION_SETUP`].
struct Connect {
    connector: Connector,
    runtime: tokio::runtime::Handle,
    busy_wait: Duration,
}

impl deadpool_postgres::Connect for Connect {
    fn connect(
        &self,
        _config: &tokio_postgres::Config,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        Box::pin(async move {
            let (client, connection) = self.connector.open().await?;
            let task = self.runtime.spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "a database connection ended");
                }
            });
            client.batch_execute(SESSION_SETUP).await?;
            let lock_timeout = format!(
                "SET lock_timeout = {}",
                self.busy_wait.as_millis().clamp(1, i32::MAX as u128)
            );
            client.batch_execute(&lock_timeout).await?;
            // A 202 promises a durable write: never acknowledge from a
            // session whose commits do not wait for the disk.
            let sync = client.query_one("SHOW synchronous_commit", &[]).await?;
            if matches!(sync.get::<_, &str>(0), "off" | "local") {
                client.batch_execute("SET synchronous_commit = on").await?;
            }
            Ok((client, task))
        })
    }
}

pub fn build(io: &Io, connector: Connector, size: u32, busy_wait: Duration) -> StoreResult<Pool> {
    let manager = Manager::from_connect(
        connector.config.clone(),
        Connect {
            connector,
            runtime: io.handle().clone(),
            busy_wait,
        },
        ManagerConfig {
            // A dead pooled connection shows on its first statement, which
            // is retried on a fresh one: no round trip per checkout.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2) as usize)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(CHECKOUT_TIMEOUT))
        .create_timeout(Some(CHECKOUT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Config(format!("cannot build the connection pool: {e}")))
}

pub fn checkout_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => e.into(),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}

/// A client (a pooled connection or a transaction on it): every call runs
/// the connection's cached prepared statement for that text.
pub struct Db<'a, C: GenericClient> {
    pub client: &'a C,
}

impl<C: GenericClient> Db<'_, C> {
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let stmt = self.client.prepare_cached(sql).await?;
        Ok(self.client.query(&stmt, params).await?)
    }

    pub async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        let stmt = self.client.prepare_cached(sql).await?;
        Ok(self.client.query_one(&stmt, params).await?)
    }

    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let stmt = self.client.prepare_cached(sql).await?;
        Ok(self.client.query_opt(&stmt, params).await?)
    }

    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let stmt = self.client.prepare_cached(sql).await?;
        Ok(self.client.execute(&stmt, params).await?)
    }
}
