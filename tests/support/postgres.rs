//! A PostgreSQL server for tests, shared by the store behaviour suite (in
//! the library's unit tests) and `tests/api`: each test gets a database of
//! its own on one server per test binary.
//!
//! The server is a throwaway cluster (`initdb` + `pg_ctl` in a temporary
//! directory, on a free loopback port, as the `postgres` OS user when the
//! tests run as root), removed when the test binary exits; or, with
//! `BREAKWATER_TEST_POSTGRES_URL=postgres://USER@HOST/DB`, an existing server
//! on which every test creates its own database. Where neither is possible
//! the PostgreSQL tests say so and why, on standard error, and pass as
//! skipped, unless `BREAKWATER_REQUIRE_POSTGRES=1` (as CI sets), which turns
//! the skip into a failure.
//!
//! The throwaway cluster also serves TLS with a certificate for `localhost`
//! from its own CA, and accepts the role `bw_cert` only with a client
//! certificate, so the store's TLS settings can be tested.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A running server: how to reach it as an administrator.
pub struct Server {
    /// `postgres://...` for the maintenance database, as a superuser.
    admin_url: String,
    host: String,
    port: u16,
    user: String,
    /// The throwaway cluster's directory (`None` for an existing server).
    dir: Option<PathBuf>,
    /// TLS material of the throwaway cluster.
    pub tls: Option<ClusterTls>,
}

/// Files of the throwaway cluster's TLS setup.
pub struct ClusterTls {
    /// The CA that signed the server certificate (for `sslrootcert`).
    pub ca: PathBuf,
    /// Another CA, which signed nothing the server presents.
    pub other_ca: PathBuf,
    /// A client certificate and key for the role `bw_cert`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// One test's database; dropped from an existing server when the test ends.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    server: &'static Server,
}

impl TestDatabase {
    pub fn server(&self) -> &'static Server {
        self.server
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // A throwaway cluster goes as a whole; on a shared server, clean up.
        if self.server.dir.is_none() {
            let _ = self.server.admin(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

impl Server {
    /// A URL for database `name` as `user`, with extra query parameters.
    pub fn url_for(&self, user: &str, name: &str, query: &str) -> String {
        let mut url = format!("postgres://{user}@{}:{}/{name}", self.host, self.port);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs statements as the administrator, on a thread of its own (the
    /// caller may be inside an async runtime).
    pub fn admin(&self, sql: &str) -> Result<(), String> {
        self.admin_on(None, sql)
    }

    /// The same, in database `db` (the maintenance database if `None`).
    pub fn admin_on(&self, db: Option<&str>, sql: &str) -> Result<(), String> {
        let url = match db {
            None => self.admin_url.clone(),
            Some(db) => self.url_for(&self.user, db, "sslmode=disable"),
        };
        let sql = sql.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                let driver = tokio::spawn(connection);
                let result = client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| format!("{e:?}"));
                drop(client);
                let _ = driver.await;
                result
            })
        })
        .join()
        .map_err(|_| "the admin thread panicked".to_string())?
    }

    /// Stops the throwaway cluster (`pg_ctl stop -m fast`), as an outage.
    pub fn stop(&self) {
        let dir = self
            .dir
            .as_ref()
            .expect("only a throwaway cluster can be stopped");
        pg_ctl(dir, &["stop", "-m", "fast", "-w"]).expect("pg_ctl stop");
    }

    /// Starts it again after [`Server::stop`].
    pub fn start(&self) {
        let dir = self
            .dir
            .as_ref()
            .expect("only a throwaway cluster can be started");
        pg_ctl(
            dir,
            &[
                "start",
                "-w",
                "-l",
                &dir.join("server.log").display().to_string(),
            ],
        )
        .expect("pg_ctl start");
    }

    pub fn is_throwaway(&self) -> bool {
        self.dir.is_some()
    }
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The server, started on first use; `Err(reason)` where none can be had.
pub fn server() -> Result<&'static Server, &'static str> {
    SERVER
        .get_or_init(|| match std::env::var("BREAKWATER_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => existing(url),
            _ => throwaway(),
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Whether PostgreSQL tests must run (`BREAKWATER_REQUIRE_POSTGRES=1`).
pub fn required() -> bool {
    std::env::var("BREAKWATER_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A fresh database for this test, or `None` (after saying why) when there
/// is no server and PostgreSQL is not required.
pub fn database() -> Option<TestDatabase> {
    match server() {
        Ok(server) => Some(create_database(server)),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// A database on a throwaway cluster of this test's own, which the test
/// may stop and start (an outage) without disturbing the others; `None`
/// (after saying why) as [`database`].
pub fn private_database() -> Option<TestDatabase> {
    if let Err(reason) = server() {
        skip(reason);
        return None;
    }
    match throwaway() {
        Ok(server) => Some(create_database(Box::leak(Box::new(server)))),
        Err(reason) => {
            skip(&format!(
                "a cluster of the test's own cannot be started: {reason}"
            ));
            None
        }
    }
}

/// Reports a PostgreSQL test as skipped (to the real standard error, past
/// the test harness's capture), or fails it where PostgreSQL is required.
pub fn skip(reason: &str) {
    if required() {
        panic!("BREAKWATER_REQUIRE_POSTGRES=1 but the PostgreSQL tests cannot run: {reason}");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no PostgreSQL server: {reason}"
    );
}

fn create_database(server: &'static Server) -> TestDatabase {
    let name = format!("bw_test_{}", uuid::Uuid::new_v4().simple());
    server
        .admin(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    TestDatabase {
        url: server.url_for(&server.user, &name, "sslmode=disable"),
        name,
        server,
    }
}

fn existing(url: String) -> Result<Server, String> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("BREAKWATER_TEST_POSTGRES_URL cannot be parsed: {e}"))?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => return Err("BREAKWATER_TEST_POSTGRES_URL must name a TCP host".into()),
    };
    let server = Server {
        admin_url: url.clone(),
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        user: config.get_user().unwrap_or("postgres").to_string(),
        dir: None,
        tls: None,
    };
    server
        .admin("SELECT 1")
        .map_err(|e| format!("BREAKWATER_TEST_POSTGRES_URL does not answer: {e}"))?;
    Ok(server)
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, Debian's
/// `/usr/lib/postgresql/N/bin` (the newest), or the `PATH`.
fn bindir() -> Result<PathBuf, String> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    Err("initdb and pg_ctl were found neither by `pg_config --bindir`, nor under /usr/lib/postgresql/*/bin, nor on the PATH (install the postgresql package, or set BREAKWATER_TEST_POSTGRES_URL)".into())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as the `postgres` OS user when we are root (PostgreSQL
/// refuses to run as root).
fn as_cluster_owner(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn pg_ctl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let bin = bindir()?;
    run(
        as_cluster_owner(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(args),
        "pg_ctl",
    )
}

fn id_of(flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            "running as root, but there is no `postgres` OS user to run the cluster as".into()
        })
}

/// Makes `path` the cluster owner's when we are root.
fn give(path: &Path) -> Result<(), String> {
    if is_root() {
        std::os::unix::fs::chown(path, Some(id_of("-u")?), Some(id_of("-g")?))
            .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| e.to_string())?;
    give(path)
}

fn throwaway() -> Result<Server, String> {
    let bin = bindir()?;
    let dir = std::env::temp_dir().join(format!(
        "breakwater-pg-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    give(&dir)?;
    let data = dir.join("data");
    run(
        as_cluster_owner(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]),
        "initdb",
    )?;
    let port = free_port()?;
    let tls = cluster_tls(&dir)?;
    // Throwaway data: durability of the cluster itself does not matter to
    // any test (Breakwater's own crash tests kill Breakwater, not it).
    let conf = format!(
        "port = {port}\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{dir}'\n\
         max_connections = 400\n\
         fsync = off\n\
         full_page_writes = off\n\
         ssl = on\n\
         ssl_cert_file = '{dir}/server.pem'\n\
         ssl_key_file = '{dir}/server-key.pem'\n\
         ssl_ca_file = '{dir}/ca.pem'\n",
        dir = dir.display()
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .map_err(|e| e.to_string())?;
    file.write_all(conf.as_bytes()).map_err(|e| e.to_string())?;
    write_file(
        &data.join("pg_hba.conf"),
        "local all all trust\n\
         hostssl all bw_cert 127.0.0.1/32 cert\n\
         host all all 127.0.0.1/32 trust\n",
        0o600,
    )?;
    pg_ctl(
        &dir,
        &[
            "start",
            "-w",
            "-l",
            &dir.join("server.log").display().to_string(),
        ],
    )
    .map_err(|e| {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        format!("{e}\n{log}")
    })?;
    reap_when_done(&bin, &dir);
    let server = Server {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
        host: "127.0.0.1".into(),
        port,
        user: "postgres".into(),
        dir: Some(dir),
        tls: Some(tls),
    };
    server.admin("CREATE ROLE bw_cert LOGIN SUPERUSER")?;
    Ok(server)
}

/// Stops and removes the cluster once this test process has exited: a
/// detached shell waits for our pid to go.
fn reap_when_done(bin: &Path, dir: &Path) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- '{}' -D '{}/data' stop -m immediate",
            pg_ctl.display(),
            dir.display()
        )
    } else {
        format!(
            "'{}' -D '{}/data' stop -m immediate",
            pg_ctl.display(),
            dir.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .or_else(|_| {
            Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        });
}

/// A CA, a server certificate for localhost and 127.0.0.1, a client
/// certificate for `bw_cert`, and a second CA that signed none of them.
fn cluster_tls(dir: &Path) -> Result<ClusterTls, String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let err = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test database CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(err)?;
    let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server = server_params.signed_by(&server_key, &issuer).map_err(err)?;

    let client_key = KeyPair::generate().map_err(err)?;
    let mut client_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "bw_cert");
    let client = client_params.signed_by(&client_key, &issuer).map_err(err)?;

    let other_key = KeyPair::generate().map_err(err)?;
    let mut other_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    other_params
        .distinguished_name
        .push(DnType::CommonName, "some other CA");
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = other_params.self_signed(&other_key).map_err(err)?;

    write_file(&dir.join("ca.pem"), &ca.pem(), 0o644)?;
    write_file(&dir.join("other-ca.pem"), &other.pem(), 0o644)?;
    write_file(&dir.join("server.pem"), &server.pem(), 0o644)?;
    write_file(
        &dir.join("server-key.pem"),
        &server_key.serialize_pem(),
        0o600,
    )?;
    write_file(&dir.join("client.pem"), &client.pem(), 0o644)?;
    write_file(
        &dir.join("client-key.pem"),
        &client_key.serialize_pem(),
        0o600,
    )?;
    Ok(ClusterTls {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client-key.pem"),
    })
}
