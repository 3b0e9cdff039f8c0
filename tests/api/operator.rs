//! The operator's path from the quick start to a deployment: the server
//! certificate under a real name and its reload on SIGHUP, `listen` with
//! names, certificate expiry, the member handover, name rules, errors that
//! say what to do, API roots, logs, the audit log, backup and restore, and
//! the README's own commands. Everything runs the real `breakwater`
//! executable.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use breakwater::certs::CertificateAuthority;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};

use crate::binary::{
    Server, assert_success, assert_user_error, breakwater, config_of, green_id, init, run,
    stderr_of, stdout_of,
};
use crate::helpers::*;

/// `breakwater --config DIR/breakwater.toml ARGS...`.
fn cli(dir: &Path, args: &[&str]) -> Output {
    run(breakwater().arg("--config").arg(config_of(dir)).args(args))
}

fn cli_ok(dir: &Path, args: &[&str]) -> String {
    let out = cli(dir, args);
    assert_success(&out);
    stdout_of(&out)
}

fn cli_json(dir: &Path, args: &[&str]) -> Value {
    let text = cli_ok(dir, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: no JSON ({e}): {text}"))
}

/// The one `error:` line of a failed command, without the prefix.
fn error_line(out: &Output) -> String {
    assert_user_error(out);
    stderr_of(out)
        .trim()
        .strip_prefix("error: ")
        .unwrap()
        .to_string()
}

/// Waits for a condition that the server reaches on its own (a reload, a
/// log line); a bound, not a timing assertion.
async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = probe() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

// ------------------------------------------------------------ raw TLS

/// One TLS connection to the server, held open across requests.
pub(crate) struct TlsConn {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsConn {
    /// Connects to `localhost:port` trusting `ca_pem`, presenting `identity`.
    pub(crate) fn open(
        port: u16,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
        server_name: &str,
    ) -> std::io::Result<TlsConn> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(|c| c.unwrap())
                        .collect(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(server_name.to_string()).unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsConn { stream })
    }

    /// The DNS names and addresses of the server certificate this
    /// connection was made with.
    fn server_names(&self) -> Vec<String> {
        let der = self.stream.conn.peer_certificates().unwrap()[0].clone();
        breakwater::certs::server_names_der(der.as_ref()).unwrap()
    }

    /// A keep-alive HTTP/1.1 GET; returns the status and body.
    pub(crate) fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/taxii+json;version=2.1\r\n\r\n"
        )?;
        self.stream.flush()?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if self.stream.read(&mut byte)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).to_string()))
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn operator_identity(dir: &Path) -> (String, String) {
    (
        read(&dir.join("members/operator.pem")),
        read(&dir.join("members/operator-key.pem")),
    )
}

// ------------------------------------------------ the server certificate

#[tokio::test]
async fn certs_server_adds_names_and_sighup_swaps_the_certificate_without_dropping_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let server = Server::start(&dir, &[]);
    let ca = read(&dir.join("ca/ca.pem"));
    let (cert, key) = operator_identity(&dir);

    // A connection opened before the change, used before and after it.
    let mut before = TlsConn::open(server.port, &ca, Some((&cert, &key)), "localhost").unwrap();
    assert_eq!(before.get("/taxii2/").unwrap().0, 200);
    let old_names = before.server_names();
    assert!(!old_names.contains(&"exchange.port.example".to_string()));

    let out = cli_ok(
        &dir,
        &["certs", "server", "--host", "exchange.port.example"],
    );
    assert!(
        out.contains("added: exchange.port.example; removed: none"),
        "{out}"
    );
    let key_mode = std::fs::metadata(dir.join("tls/server-key.pem")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key_mode.permissions().mode() & 0o077, 0);
    }
    // Until SIGHUP the server keeps serving the certificate it loaded.
    let probe = TlsConn::open(server.port, &ca, None, "localhost").unwrap();
    assert_eq!(probe.server_names(), old_names);

    server.signal("HUP");
    let new_names = eventually("a new connection sees the new certificate", || {
        let c = TlsConn::open(server.port, &ca, None, "localhost").ok()?;
        let names = c.server_names();
        names
            .contains(&"exchange.port.example".to_string())
            .then_some(names)
    })
    .await;
    for n in ["localhost", "127.0.0.1", "::1", "exchange.port.example"] {
        assert!(new_names.contains(&n.to_string()), "{n}: {new_names:?}");
    }
    // The new name verifies as the server name, too.
    let mut renamed = TlsConn::open(
        server.port,
        &ca,
        Some((&cert, &key)),
        "exchange.port.example",
    )
    .unwrap();
    assert_eq!(renamed.get("/taxii2/").unwrap().0, 200);

    // The old connection was not dropped and still has its certificate.
    let (status, body) = before.get("/crc/collections/").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(before.server_names(), old_names);
    assert!(
        server
            .log_text()
            .contains("reloaded the server certificate"),
        "{}",
        server.log_text()
    );

    // --replace keeps only the names given.
    let out = cli_json(
        &dir,
        &[
            "certs",
            "server",
            "--host",
            "exchange.port.example",
            "--replace",
            "--json",
        ],
    );
    assert_eq!(out["names"], json!(["exchange.port.example"]), "{out}");
    assert_eq!(
        out["removed"],
        json!(["localhost", "127.0.0.1", "::1"]),
        "{out}"
    );

    // A broken pair on disk is refused at reload; the server keeps serving.
    std::fs::write(
        dir.join("tls/server-key.pem"),
        read(&dir.join("members/operator-key.pem")),
    )
    .unwrap();
    server.signal("HUP");
    eventually("the failed reload is logged", || {
        server
            .log_text()
            .contains("could not reload the server certificate")
            .then_some(())
    })
    .await;
    let after = TlsConn::open(server.port, &ca, None, "exchange.port.example").unwrap();
    assert_eq!(after.server_names(), new_names);
}

/// A certificate from the port's own PKI: `config check` loads it as the
/// server does, and the server serves it.
#[tokio::test]
async fn an_operator_provided_certificate_is_checked_and_served() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let port_pki = CertificateAuthority::generate("Port authority PKI", 365).unwrap();
    let issued = port_pki
        .issue_server(
            &["exchange.port.example".to_string(), "localhost".to_string()],
            20,
        )
        .unwrap();
    let pki = tmp.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(pki.join("exchange.pem"), &issued.cert_pem).unwrap();
    std::fs::write(pki.join("exchange-key.pem"), &issued.key_pem).unwrap();
    let config = read(&config_of(&dir))
        .replace(
            "certificate = \"tls/server.pem\"",
            &format!("certificate = \"{}\"", pki.join("exchange.pem").display()),
        )
        .replace(
            "key = \"tls/server-key.pem\"",
            &format!("key = \"{}\"", pki.join("exchange-key.pem").display()),
        );
    std::fs::write(config_of(&dir), config).unwrap();

    let out = cli(&dir, &["config", "check"]);
    assert_success(&out);
    let text = stdout_of(&out);
    assert!(
        text.contains("note: the server certificate covers exchange.port.example, localhost"),
        "{text}"
    );
    assert!(
        text.contains("note: the server certificate is not issued by the community CA"),
        "{text}"
    );
    assert!(
        text.contains("note: the server certificate expires on"),
        "{text}"
    );

    let server = Server::start(&dir, &[]);
    let conn = TlsConn::open(
        server.port,
        &issued_ca(&port_pki),
        None,
        "exchange.port.example",
    )
    .unwrap();
    assert_eq!(conn.server_names(), ["exchange.port.example", "localhost"]);
    drop(server);

    // `certs server` will not silently replace the port's certificate.
    let out = cli(&dir, &["certs", "server", "--host", "other.example"]);
    assert!(
        error_line(&out).contains("was not issued by the community CA (it comes from another PKI)"),
        "{}",
        stderr_of(&out)
    );

    // A key that belongs to another certificate, and a missing file, in words.
    std::fs::write(pki.join("exchange-key.pem"), port_pki.key_pem()).unwrap();
    let out = cli(&dir, &["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains(
            "problem: the server key does not match the server certificate; reissue the server certificate with `breakwater certs server` or fix tls.key"
        ),
        "{}",
        stdout_of(&out)
    );
    std::fs::remove_file(pki.join("exchange-key.pem")).unwrap();
    let out = cli(&dir, &["config", "check"]);
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!(
            "problem: the server key {} cannot be read: it does not exist",
            pki.join("exchange-key.pem").display()
        )),
        "{text}"
    );
    assert!(!text.contains("os error"), "{text}");
}

fn issued_ca(ca: &CertificateAuthority) -> String {
    ca.cert_pem().to_string()
}

#[tokio::test]
async fn init_host_on_an_existing_directory_says_what_it_did_not_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the data directory is open to others: {mode:o}"
        );
    }
    let out = run(breakwater().arg("init").arg("--data-dir").arg(&dir).args([
        "--host",
        "exchange.port.example",
        "--listen",
        "0.0.0.0:8443",
    ]));
    assert_success(&out);
    let text = stdout_of(&out);
    let config = config_of(&dir);
    let expected = format!(
        "not done: the server certificate {} already exists and was kept, so it does not cover exchange.port.example; add it with `breakwater --config {} certs server --host exchange.port.example`",
        dir.join("tls/server.pem").display(),
        config.display()
    );
    assert!(text.contains(&expected), "{text}");
    assert!(
        text.contains(&format!(
            "not done: the configuration {} already exists and keeps listen = \"127.0.0.1:8443\"",
            config.display()
        )),
        "{text}"
    );
    // The suggested command does it.
    let suggested = expected.split('`').nth(1).unwrap().to_string();
    let words: Vec<&str> = suggested.split_whitespace().skip(1).collect();
    assert_success(&run(breakwater().args(&words)));
    let report: Value = serde_json::from_str(&stdout_of(&run(breakwater()
        .arg("init")
        .arg("--data-dir")
        .arg(&dir)
        .args(["--host", "exchange.port.example", "--json"]))))
    .unwrap();
    assert_eq!(report["not_done"], json!([]), "{report}");
    assert!(
        report["server_names"]
            .as_array()
            .unwrap()
            .contains(&json!("exchange.port.example"))
    );
}

// ------------------------------------------------------------ listen

#[tokio::test]
async fn listen_takes_host_port_with_names_and_explains_a_bad_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let server = Server::start_listening(&dir, "localhost:0", &[]);
    let r = server
        .operator()
        .get(&format!("{}/taxii2/", server.base()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    drop(server);

    let example = "write HOST:PORT, e.g. 0.0.0.0:8443, [::]:8443 or localhost:8444";
    let out = cli(&dir, &["serve", "--listen", "8443"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains(example), "{}", stderr_of(&out));
    let out = run(breakwater()
        .env("BREAKWATER_LISTEN", "localhost")
        .arg("--config")
        .arg(config_of(&dir))
        .arg("serve"));
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains(example), "{}", stderr_of(&out));
    // In the file, `config check` and every command say so.
    let text = read(&config_of(&dir)).replace("listen = \"127.0.0.1:8443\"", "listen = \"::8443\"");
    std::fs::write(config_of(&dir), text).unwrap();
    let out = cli(&dir, &["config", "check"]);
    let line = error_line(&out);
    assert!(
        line.contains("an IPv6 address must be written in brackets"),
        "{line}"
    );
    assert!(line.contains(example), "{line}");
}

// ------------------------------------------------------------ expiry

#[tokio::test]
async fn certificates_expiring_soon_are_listed_logged_and_exposed_as_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    cli_ok(&dir, &["members", "add", "short-lived", "--sector", "rail"]);
    let issued = cli_json(
        &dir,
        &[
            "certs",
            "issue",
            "--member",
            "short-lived",
            "--days",
            "10",
            "--out",
            tmp.path().join("handover").to_str().unwrap(),
            "--json",
        ],
    );
    cli_ok(&dir, &["certs", "server", "--days", "20"]);

    let soon = cli_json(&dir, &["certs", "list", "--expiring", "30", "--json"]);
    let kinds: Vec<(String, String)> = soon
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("member".to_string(), "short-lived".to_string()),
            ("server".to_string(), "localhost".to_string())
        ],
        "{soon:#}"
    );
    assert_eq!(soon[0]["fingerprint"], issued["fingerprint"]);
    let out = cli_ok(&dir, &["certs", "list", "--expiring", "5"]);
    assert_eq!(out.trim(), "no certificate expires within 5 days");

    let server = Server::start(&dir, &[]);
    let warned = eventually("the start-up expiry warnings", || {
        let log = server.log_text();
        (log.contains("of member short-lived expires in 9 days")
            && log.contains("the server certificate (localhost) expires in 19 days"))
        .then_some(log)
    })
    .await;
    assert!(warned.contains("WARN"), "{warned}");
    assert!(!warned.contains("operator expires"), "{warned}");

    let metrics = server
        .operator()
        .get(&format!("{}/metrics", server.base()))
        .await;
    assert_eq!(metrics.status, 200);
    let gauge = |kind: &str, name: &str| -> i64 {
        let prefix =
            format!("breakwater_certificate_expiry_seconds{{kind=\"{kind}\",name=\"{name}\"");
        metrics
            .text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{prefix} missing:\n{}", metrics.text))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let day = 86_400;
    let member = gauge("member", "short-lived");
    assert!((9 * day..=10 * day).contains(&member), "{member}");
    let server_left = gauge("server", "localhost");
    assert!(
        (19 * day..=20 * day).contains(&server_left),
        "{server_left}"
    );
    assert!(gauge("ca", "Breakwater community CA") > 3000 * day);
    assert!(gauge("member", "operator") > 800 * day);
}

// ------------------------------------------------------------ handover

#[tokio::test]
async fn certs_issue_hands_over_the_ca_and_a_connect_txt_whose_lines_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let green = green_id(&report);
    let server = Server::start(&dir, &[]);
    cli_ok(
        &dir,
        &[
            "members",
            "add",
            "evergreen-line",
            "--sector",
            "shipping-line",
            "--clearance",
            "amber",
        ],
    );
    cli_ok(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "evergreen-line",
            "--collection",
            "tlp-green",
            "--read",
            "--write",
        ],
    );
    cli_ok(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "evergreen-line",
            "--collection",
            "tlp-amber",
            "--read",
        ],
    );
    let out_dir = tmp.path().join("handover");
    let url = format!("https://localhost:{}", server.port);
    let issued = cli_json(
        &dir,
        &[
            "certs",
            "issue",
            "--member",
            "evergreen-line",
            "--out",
            out_dir.to_str().unwrap(),
            "--url",
            &url,
            "--json",
        ],
    );
    assert_eq!(read(&out_dir.join("ca.pem")), read(&dir.join("ca/ca.pem")));
    assert_eq!(issued["connect"], json!(out_dir.join("CONNECT.txt")));
    let connect = read(&out_dir.join("CONNECT.txt"));

    // The collections it may use, with ids, aliases, access and titles.
    let amber = report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tier"] == "amber")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let row = |id: &str| {
        connect
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{connect}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row(&green),
        format!("{green} tlp-green read, write TLP:GREEN sharing")
    );
    assert_eq!(
        row(&amber),
        format!("{amber} tlp-amber read TLP:AMBER sharing")
    );
    assert!(!connect.contains("tlp-red"), "{connect}");
    assert!(
        connect.contains(&format!("Server (TAXII discovery):  {url}/taxii2/")),
        "{connect}"
    );
    assert!(
        connect.contains(&format!("API root:                  {url}/crc/")),
        "{connect}"
    );

    // Every URL in it answers the member, with the files in the directory.
    let member = Client::from_files(
        server.port,
        &out_dir.join("ca.pem"),
        Some((
            &out_dir.join("evergreen-line.pem"),
            &out_dir.join("evergreen-line-key.pem"),
        )),
    );
    let urls: BTreeSet<String> = connect
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|w| w.starts_with("https://"))
        .map(str::to_string)
        .collect();
    assert!(urls.len() >= 4, "{urls:?}");
    for u in &urls {
        let r = member.get(u).await;
        assert_eq!(r.status, 200, "{u}: {}", r.text);
    }
    // The Python lines name the collection by id (taxii2-client compares it).
    let python_url = connect
        .lines()
        .find(|l| l.contains("Collection(\""))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(python_url, format!("{url}/crc/collections/{green}/"));
    let r = member.get(&python_url).await;
    assert_eq!(r.body["id"], green);

    // The curl lines run as written from inside the directory.
    if curl_available() {
        let mut lines = connect.lines().peekable();
        let mut ran = 0;
        while let Some(line) = lines.next() {
            let mut command = line.trim().to_string();
            if !command.starts_with("curl ") {
                continue;
            }
            while command.ends_with('\\') {
                command.pop();
                command.push(' ');
                command.push_str(lines.next().unwrap().trim());
            }
            let envelope = json!({"objects": [indicator("from the handover")]});
            std::fs::write(out_dir.join("envelope.json"), envelope.to_string()).unwrap();
            let out = Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "curl() {{ command curl --fail-with-body -sS \"$@\"; }}; {command}"
                ))
                .current_dir(&out_dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{command}: {}", stderr_of(&out));
            ran += 1;
        }
        assert_eq!(ran, 3, "{connect}");
    } else {
        eprintln!("skipped running CONNECT.txt's curl lines: curl is not installed");
    }

    // Without --url, the URL is the certificate's public name.
    cli_ok(
        &dir,
        &["certs", "server", "--host", "exchange.port.example"],
    );
    let second = tmp.path().join("second");
    cli_ok(
        &dir,
        &[
            "certs",
            "issue",
            "--member",
            "evergreen-line",
            "--out",
            second.to_str().unwrap(),
        ],
    );
    assert!(
        read(&second.join("CONNECT.txt"))
            .contains("Server (TAXII discovery):  https://exchange.port.example:8443/taxii2/"),
        "{}",
        read(&second.join("CONNECT.txt"))
    );
    // A handover directory is never overwritten.
    let out = cli(
        &dir,
        &[
            "certs",
            "issue",
            "--member",
            "evergreen-line",
            "--out",
            second.to_str().unwrap(),
        ],
    );
    assert!(error_line(&out).contains("already exists; give each member its own --out directory"));
}

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ------------------------------------------------------ names and errors

#[tokio::test]
async fn names_that_would_break_urls_or_file_names_are_refused_with_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let rule = "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters";
    let out = cli(&dir, &["members", "add", "Bad Name!", "--sector", "rail"]);
    assert_eq!(
        error_line(&out),
        format!("'Bad Name!' cannot be a member name: {rule}, e.g. evergreen-line")
    );
    let out = cli(
        &dir,
        &[
            "collections",
            "create",
            "--title",
            "x",
            "--tier",
            "green",
            "--alias",
            "OT/Incidents",
        ],
    );
    assert_eq!(
        error_line(&out),
        format!("'OT/Incidents' cannot be a collection alias: {rule}, e.g. ot-incidents")
    );
    let out = cli(&dir, &["api-roots", "add", "Partners", "--title", "x"]);
    assert_eq!(
        error_line(&out),
        format!("'Partners' cannot be an API root name: {rule}, e.g. partners")
    );
    let members = cli_json(&dir, &["members", "list", "--json"]);
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
}

#[tokio::test]
async fn errors_say_what_went_wrong_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    cli_ok(
        &dir,
        &[
            "members",
            "add",
            "evergreen-line",
            "--sector",
            "shipping-line",
        ],
    );

    // Unknown members and collections: the near match, or the list command.
    let out = cli(&dir, &["members", "show", "evergren-line"]);
    assert_eq!(
        error_line(&out),
        "member 'evergren-line' not found; did you mean evergreen-line?"
    );
    let out = cli(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "nobody",
            "--collection",
            "tlp-green",
            "--read",
        ],
    );
    assert_eq!(
        error_line(&out),
        "member 'nobody' not found; `breakwater members list` shows them all"
    );
    let out = cli(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "evergreen-line",
            "--collection",
            "tlp-gren",
            "--read",
        ],
    );
    assert_eq!(
        error_line(&out),
        "collection 'tlp-gren' not found; did you mean tlp-green?"
    );
    let out = cli(&dir, &["export", "--collection", "phishing"]);
    assert_eq!(
        error_line(&out),
        "collection 'phishing' not found; `breakwater collections list` shows them all"
    );
    // Removing an unknown member says so before asking for --yes.
    let out = cli(&dir, &["members", "remove", "evergreen-lines"]);
    assert_eq!(
        error_line(&out),
        "member 'evergreen-lines' not found; did you mean evergreen-line?"
    );

    // A missing configuration: where it looked, --config and BREAKWATER_CONFIG before init.
    let elsewhere = tmp.path().join("elsewhere/breakwater.toml");
    let out = run(breakwater()
        .arg("--config")
        .arg(&elsewhere)
        .args(["members", "list"]));
    assert_eq!(
        error_line(&out),
        format!(
            "no configuration at {} (given by --config); if the data directory is elsewhere, pass --config DIR/breakwater.toml or set BREAKWATER_CONFIG, otherwise create one with `breakwater init`",
            elsewhere.display()
        )
    );
    let out = run(breakwater()
        .env("BREAKWATER_CONFIG", &elsewhere)
        .args(["audit"]));
    assert!(error_line(&out).contains("(given by BREAKWATER_CONFIG)"));
    let out = run(breakwater()
        .current_dir(tmp.path())
        .args(["members", "list"]));
    assert_eq!(
        error_line(&out),
        format!(
            "no configuration at {} (the default location); if the data directory is elsewhere, pass --config DIR/breakwater.toml or set BREAKWATER_CONFIG, otherwise create one with `breakwater init`",
            tmp.path().join("breakwater-data/breakwater.toml").display()
        )
    );
    // config check on a missing file and on a directory, in words.
    let out = run(breakwater()
        .arg("--config")
        .arg(&elsewhere)
        .args(["config", "check"]));
    assert!(error_line(&out).starts_with("no configuration at "));
    let out = run(breakwater()
        .arg("--config")
        .arg(&dir)
        .args(["config", "check"]));
    assert_eq!(
        error_line(&out),
        format!(
            "{} (given by --config) is a directory; pass the configuration file inside it, e.g. --config {}",
            dir.display(),
            dir.join("breakwater.toml").display()
        )
    );
    for out in [
        cli(
            &dir,
            &[
                "certs",
                "sign",
                "--member",
                "evergreen-line",
                "--csr",
                "missing.pem",
            ],
        ),
        cli(&dir, &["validate", "missing.json"]),
    ] {
        let line = error_line(&out);
        assert!(line.ends_with("it does not exist"), "{line}");
    }
}

#[tokio::test]
async fn output_and_audit_details_are_sentences_never_debug_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let green = green_id(&report);
    cli_ok(
        &dir,
        &[
            "members",
            "add",
            "evergreen-line",
            "--sector",
            "shipping-line",
            "--clearance",
            "amber",
        ],
    );
    let out = cli_ok(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "evergreen-line",
            "--collection",
            "tlp-green",
            "--read",
            "--write",
        ],
    );
    assert_eq!(
        out.trim(),
        format!("granted member evergreen-line read and write on TLP:GREEN sharing ({green})")
    );
    let out = cli_ok(
        &dir,
        &[
            "grants",
            "add",
            "--sector",
            "rail",
            "--collection",
            "tlp-green",
            "--read",
        ],
    );
    assert!(
        out.starts_with("granted every member of sector rail read only on"),
        "{out}"
    );
    cli_ok(
        &dir,
        &[
            "grants",
            "remove",
            "--sector",
            "rail",
            "--collection",
            "tlp-green",
        ],
    );
    cli_ok(
        &dir,
        &[
            "members",
            "update",
            "evergreen-line",
            "--clearance",
            "red",
            "--contact",
            "soc@evergreen.example",
        ],
    );
    cli_ok(&dir, &["members", "suspend", "evergreen-line"]);
    let shown = cli_ok(&dir, &["members", "show", "evergreen-line"]);
    assert!(
        shown.contains(&format!("grant:     {green} (tlp-green): read and write")),
        "{shown}"
    );

    // A refusal over TAXII, audited in words.
    cli_ok(&dir, &["members", "resume", "evergreen-line"]);
    cli_ok(&dir, &["members", "add", "rail-co", "--sector", "rail"]);
    let handover = tmp.path().join("rail-co");
    cli_ok(
        &dir,
        &[
            "certs",
            "issue",
            "--member",
            "rail-co",
            "--out",
            handover.to_str().unwrap(),
        ],
    );
    cli_ok(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "rail-co",
            "--collection",
            "tlp-green",
            "--read",
        ],
    );
    let server = Server::start(&dir, &[]);
    let rail = Client::from_files(
        server.port,
        &handover.join("ca.pem"),
        Some((
            &handover.join("rail-co.pem"),
            &handover.join("rail-co-key.pem"),
        )),
    );
    let r = rail
        .post(
            &format!("{}/crc/collections/tlp-green/objects/", server.base()),
            &json!({"objects": [indicator("not allowed")]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    server.terminate();

    let log = cli_json(&dir, &["audit", "--json"]);
    let details: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].as_str().map(str::to_string))
        .collect();
    for debug in [
        "Member(",
        "Sector(",
        "Some(",
        "None",
        "MemberUpdate",
        "Hidden",
        "Forbidden",
        "{ ",
    ] {
        for d in &details {
            assert!(!d.contains(debug), "{debug:?} in the audit detail {d:?}");
        }
    }
    for expected in [
        "member evergreen-line: read and write",
        "sector rail: read",
        "evergreen-line: clearance red, contact soc@evergreen.example",
        "evergreen-line: suspended",
        "not granted",
    ] {
        assert!(
            details.iter().any(|d| d == expected),
            "{expected:?} not in {details:#?}"
        );
    }
}

// --------------------------------------------------- validate, export, lists

#[tokio::test]
async fn validate_reads_standard_input_and_names_every_file_of_a_directory() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let envelope = read(&examples.join("envelope.json"));
    let mut child = breakwater()
        .args(["validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(envelope.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let text = stdout_of(&out);
    assert!(
        text.starts_with("standard input: 3 objects, all valid\n"),
        "{text}"
    );
    assert!(
        text.ends_with("checked 1 file, 3 objects: 3 valid, 0 invalid\n"),
        "{text}"
    );

    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(examples.join("envelope.json"), tmp.path().join("a.json")).unwrap();
    std::fs::write(
        tmp.path().join("b.json"),
        json!({"objects": [indicator("fine"), {"type": "indicator", "id": new_id("indicator")}]})
            .to_string(),
    )
    .unwrap();
    std::fs::write(tmp.path().join("c.json"), "{ not json").unwrap();
    let out = run(breakwater().arg("validate").arg(tmp.path()));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    let a = tmp.path().join("a.json");
    let b = tmp.path().join("b.json");
    let c = tmp.path().join("c.json");
    assert!(
        text.contains(&format!("{}: 3 objects, all valid\n", a.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}: 2 objects, 1 invalid\n", b.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("FAIL {}: not valid JSON", c.display())),
        "{text}"
    );
    assert_eq!(
        text.lines().last().unwrap(),
        "checked 3 files, 5 objects: 4 valid, 1 invalid; 1 file could not be read"
    );
}

#[tokio::test]
async fn export_into_a_pipe_that_closes_early_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let objects: Vec<Value> = (0..600).map(|i| indicator(&format!("bulk {i}"))).collect();
    let bundle = tmp.path().join("bulk.json");
    std::fs::write(
        &bundle,
        json!({"type": "bundle", "id": new_id("bundle"), "objects": objects}).to_string(),
    )
    .unwrap();
    cli_ok(
        &dir,
        &[
            "import",
            "--collection",
            "tlp-green",
            bundle.to_str().unwrap(),
        ],
    );
    for args in [
        vec!["export", "--collection", "tlp-green"],
        vec!["audit"],
        vec!["collections", "list"],
    ] {
        let mut child = breakwater()
            .arg("--config")
            .arg(config_of(&dir))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -c 10`: read a little, then close the pipe.
        let mut first = [0u8; 10];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(stderr_of(&out), "", "{args:?} was not quiet");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(
                out.status.success() || out.status.signal() == Some(libc_sigpipe()),
                "{args:?}: {:?}",
                out.status
            );
        }
    }
}

#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

#[tokio::test]
async fn collections_list_shows_aliases_and_the_readme_lists_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let listed = cli_ok(&dir, &["collections", "list"]);
    let header: Vec<&str> = listed.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ID", "ALIAS", "TIER", "API", "ROOT", "TITLE"]);
    let green = green_id(&report);
    let row = listed.lines().find(|l| l.starts_with(&green)).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("tlp-green"), "{listed}");

    // The README's command list names exactly what --help lists, with the
    // same subcommands.
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    let section = readme.split("## Commands").nth(1).unwrap();
    let block = section.split("```").nth(1).unwrap();
    let documented: Vec<(String, String)> = block
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap().to_string();
            (name, words.collect::<Vec<_>>().join(" "))
        })
        .collect();
    let commands = |args: &[&str]| -> Vec<String> {
        let out = run(breakwater().args(args).arg("--help"));
        assert_success(&out);
        stdout_of(&out)
            .split("Commands:")
            .nth(1)
            .map(|rest| {
                rest.split("\n\n")
                    .next()
                    .unwrap()
                    .lines()
                    .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
                    .map(|l| l.split_whitespace().next().unwrap().to_string())
                    .filter(|c| c != "help")
                    .collect()
            })
            .unwrap_or_default()
    };
    let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, commands(&[]), "README's command list");
    for (name, rest) in &documented {
        let subs = commands(&[name]);
        if subs.is_empty() {
            continue;
        }
        let listed: Vec<&str> = rest
            .split("(")
            .next()
            .unwrap()
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(listed, subs, "README's subcommands of {name}");
    }
}

// ------------------------------------------------------------ API roots

#[tokio::test]
async fn api_roots_are_managed_from_the_command_line_and_served_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let server = Server::start(&dir, &[]);
    let operator = server.operator();
    cli_ok(
        &dir,
        &[
            "api-roots",
            "add",
            "partners",
            "--title",
            "Partner exchange",
            "--max-content-length",
            "1048576",
        ],
    );
    let roots = cli_json(&dir, &["api-roots", "list", "--json"]);
    let partners = roots
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "partners")
        .unwrap();
    assert_eq!(partners["default"], false);
    assert_eq!(partners["max_content_length"], 1048576);

    let id = cli_ok(
        &dir,
        &[
            "collections",
            "create",
            "--api-root",
            "partners",
            "--title",
            "Partner feed",
            "--tier",
            "green",
            "--alias",
            "partner-feed",
        ],
    );
    let id = id.trim();
    // The running server serves the new root and its collection without a restart.
    let r = operator.get(&format!("{}/taxii2/", server.base())).await;
    assert!(
        r.body["api_roots"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("{}/partners/", server.base()))),
        "{}",
        r.text
    );
    let r = operator.get(&format!("{}/partners/", server.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "Partner exchange");
    assert_eq!(r.body["max_content_length"], 1048576);
    let r = operator
        .get(&format!("{}/partners/collections/{id}/", server.base()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    cli_ok(
        &dir,
        &[
            "api-roots",
            "update",
            "partners",
            "--title",
            "Partners",
            "--default",
        ],
    );
    let r = operator.get(&format!("{}/taxii2/", server.base())).await;
    assert_eq!(
        r.body["default"],
        format!("{}/partners/", server.base()),
        "{}",
        r.text
    );
    cli_ok(&dir, &["api-roots", "update", "crc", "--default"]);

    let out = cli(
        &dir,
        &[
            "api-roots",
            "update",
            "partners",
            "--max-content-length",
            "999999999999",
        ],
    );
    assert!(error_line(&out).contains("(limits.max_content_length)"));
    let out = cli(
        &dir,
        &[
            "collections",
            "create",
            "--api-root",
            "partner",
            "--title",
            "x",
            "--tier",
            "green",
        ],
    );
    assert_eq!(
        error_line(&out),
        "API root 'partner' not found; did you mean partners?"
    );
    let out = cli(&dir, &["api-roots", "remove", "partners", "--yes"]);
    assert_eq!(
        error_line(&out),
        "API root 'partners' holds 1 collection(s); delete them first (`breakwater collections list` shows them)"
    );
    cli_ok(&dir, &["collections", "delete", "partner-feed", "--yes"]);
    let out = cli(&dir, &["api-roots", "remove", "partners"]);
    assert!(error_line(&out).ends_with("repeat with --yes to confirm"));
    cli_ok(&dir, &["api-roots", "remove", "partners", "--yes"]);
    let r = operator.get(&format!("{}/partners/", server.base())).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let out = cli(&dir, &["api-roots", "remove", "crc", "--yes"]);
    assert!(error_line(&out).contains("holds 5 collection(s)"));
}

// ------------------------------------------------------------ logs

#[tokio::test]
async fn logs_are_plain_text_off_a_terminal_and_say_why_a_handshake_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let server = Server::start(&dir, &[]);
    let r = server
        .operator()
        .get(&format!("{}/taxii2/", server.base()))
        .await;
    assert_eq!(r.status, 200);
    let ca = read(&dir.join("ca/ca.pem"));

    // The community CA's own certificate presented as a client certificate.
    let ca_key = read(&dir.join("ca/ca-key.pem"));
    let _ = TlsConn::open(server.port, &ca, Some((&ca, &ca_key)), "localhost")
        .and_then(|mut c| c.get("/taxii2/"));
    // A member certificate from some other CA.
    let stranger_ca = CertificateAuthority::generate("Somebody else's CA", 30).unwrap();
    let stranger = stranger_ca.issue_client("stranger", 30).unwrap();
    let _ = TlsConn::open(
        server.port,
        &ca,
        Some((&stranger.cert_pem, &stranger.key_pem)),
        "localhost",
    )
    .and_then(|mut c| c.get("/taxii2/"));

    let log = eventually("both refusals are logged", || {
        let log = server.log_text();
        (log.contains("the client certificate is a CA certificate, not a member certificate")
            && log.contains(
                "the client certificate was issued by an unknown CA (not the community CA)",
            ))
        .then_some(log)
    })
    .await;
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );
    let request = log
        .lines()
        .find(|l| l.contains(" request ") || l.contains("request client="))
        .unwrap_or_else(|| panic!("no request line:\n{log}"));
    assert!(request.contains("client=127.0.0.1:"), "{request}");
    let micros = request
        .split_whitespace()
        .find_map(|w| w.strip_prefix("duration_us="))
        .unwrap_or_else(|| panic!("no duration_us: {request}"));
    assert!(micros.parse::<u64>().is_ok(), "{request}");
    assert!(
        !log.contains("UnknownIssuer") && !log.contains("CaUsedAsEndEntity"),
        "{log}"
    );
}

// ------------------------------------------------------------ audit

#[tokio::test]
async fn refusals_after_revocation_belong_to_the_member_and_the_log_is_in_time_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    cli_ok(
        &dir,
        &[
            "members",
            "add",
            "evergreen-line",
            "--sector",
            "shipping-line",
        ],
    );
    cli_ok(
        &dir,
        &[
            "grants",
            "add",
            "--member",
            "evergreen-line",
            "--collection",
            "tlp-green",
            "--read",
        ],
    );
    let handover = tmp.path().join("h");
    let issued = cli_json(
        &dir,
        &[
            "certs",
            "issue",
            "--member",
            "evergreen-line",
            "--out",
            handover.to_str().unwrap(),
            "--json",
        ],
    );
    let fingerprint = issued["fingerprint"].as_str().unwrap().to_string();
    let server = Server::start(&dir, &[]);
    let member = Client::from_files(
        server.port,
        &handover.join("ca.pem"),
        Some((
            &handover.join("evergreen-line.pem"),
            &handover.join("evergreen-line-key.pem"),
        )),
    );
    let url = format!("{}/crc/collections/tlp-green/objects/", server.base());
    // A poll: its audit event is queued and committed later than the
    // administrative change that follows it.
    assert_eq!(member.get(&url).await.status, 200);
    cli_ok(&dir, &["members", "add", "rail-co", "--sector", "rail"]);
    cli_ok(&dir, &["certs", "revoke", "--fingerprint", &fingerprint]);
    assert_eq!(member.get(&url).await.status, 401);
    server.terminate();

    let log = cli_json(&dir, &["audit", "--member", "evergreen-line", "--json"]);
    let refused: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "authenticate")
        .collect();
    assert_eq!(refused.len(), 1, "{log:#}");
    assert_eq!(refused[0]["outcome"], "refused");
    assert_eq!(refused[0]["fingerprint"], fingerprint);
    assert!(refused[0]["detail"].as_str().unwrap().contains("revoked"));

    let all = cli_json(&dir, &["audit", "--json"]);
    let events = all.as_array().unwrap();
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "audit is not in time order");
    let position = |action: &str| events.iter().position(|e| e["action"] == action).unwrap();
    assert!(
        position("poll-objects")
            < events
                .iter()
                .rposition(|e| e["action"] == "member-add")
                .unwrap()
    );
}

// ------------------------------------------------------------ backup

/// Pushes envelopes back to back until told to stop; returns the ids of
/// every acknowledged envelope with the instant of its acknowledgement.
async fn pusher(
    client: Client,
    url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(std::time::Instant, Vec<String>)> {
    let mut acked = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let objects: Vec<Value> = (0..20).map(|i| indicator(&format!("load {i}"))).collect();
        let ids = objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect();
        let r = client.post(&url, &json!({ "objects": objects })).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["success_count"], 20, "{}", r.text);
        acked.push((std::time::Instant::now(), ids));
    }
    acked
}

/// Every object id in a collection, following `next`.
async fn all_ids(client: &Client, url: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut next: Option<String> = None;
    loop {
        let page_url = match &next {
            Some(n) => format!("{url}?limit=1000&next={n}"),
            None => format!("{url}?limit=1000"),
        };
        let r = client.get(&page_url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        ids.extend(ids_in::<Vec<String>>(&r.body, "objects"));
        match r.body["next"].as_str() {
            Some(n) if r.body["more"] == true => next = Some(n.to_string()),
            _ => break,
        }
    }
    ids
}

#[tokio::test]
async fn a_backup_taken_while_members_push_restores_everything_acknowledged_before_it() {
    if sqlite_only("backup and restore copy the SQLite file; PostgreSQL is backed up with pg_dump")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let server = Server::start(&dir, &[]);
    let url = format!("{}/crc/collections/tlp-green/objects/", server.base());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pushers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(pusher(server.operator(), url.clone(), stop.clone())))
        .collect();
    // Let the load build up: wait until the collection holds a few hundred objects.
    let operator = server.operator();
    let mut stored = 0;
    for _ in 0..3000 {
        let r = operator.get(&format!("{url}?limit=1000")).await;
        stored = r.body["objects"].as_array().map_or(0, Vec::len);
        if stored >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored >= 400, "the pushers stored only {stored} objects");
    let backup_file = tmp.path().join("backup.db");
    let began = std::time::Instant::now();
    let config = config_of(&dir);
    let file = backup_file.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(breakwater()
            .arg("--config")
            .arg(config)
            .args(["backup", "--json", "--out"])
            .arg(file))
    })
    .await
    .unwrap();
    assert_success(&out);
    // Keep pushing a little after the backup, then stop.
    let after = operator.get(&format!("{url}?limit=1")).await;
    assert_eq!(after.status, 200);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut before_backup = BTreeSet::new();
    let mut after_backup = 0;
    for p in pushers {
        for (at, ids) in p.await.unwrap() {
            if at < began {
                before_backup.extend(ids);
            } else {
                after_backup += 1;
            }
        }
    }
    // Envelopes stored but not yet acknowledged when the backup began are
    // not counted: at most one per pusher.
    assert!(
        before_backup.len() >= 400 - 4 * 20,
        "{}",
        before_backup.len()
    );
    let report: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert!(
        report["objects"].as_u64().unwrap() >= before_backup.len() as u64,
        "{report}"
    );

    // No restore under a running server.
    let out = cli(&dir, &["restore", backup_file.to_str().unwrap()]);
    assert_eq!(
        error_line(&out),
        format!(
            "a breakwater server is running on {}; stop it first (`systemctl stop breakwater`)",
            dir.join("breakwater.db").display()
        )
    );
    server.terminate();

    // Refuses what is not a Breakwater database, and leaves the database alone.
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, "not a database, just text").unwrap();
    let out = cli(&dir, &["restore", junk.to_str().unwrap()]);
    assert!(
        error_line(&out).ends_with(&format!("{} is not a Breakwater database", junk.display()))
    );

    let restored = cli_json(&dir, &["restore", backup_file.to_str().unwrap(), "--json"]);
    assert_eq!(restored["objects"], report["objects"], "{restored}");
    assert!(Path::new(restored["previous"].as_str().unwrap()).is_file());

    let server = Server::start(&dir, &[]);
    let url = format!("{}/crc/collections/tlp-green/objects/", server.base());
    let served = all_ids(&server.operator(), &url).await;
    let missing: Vec<&String> = before_backup.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged objects lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    eprintln!(
        "backup during ingest: {} objects acknowledged before it, {} envelopes after it began",
        before_backup.len(),
        after_backup
    );
}

// ------------------------------------------------------------ the README

/// The runnable lines of each `sh` block of the README: continuation lines
/// joined, comments dropped.
fn readme_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    for block in readme.split("```sh\n").skip(1) {
        let body = block.split("```").next().unwrap();
        let mut commands = Vec::new();
        let mut current = String::new();
        for line in body.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let line = match line.find("  #") {
                Some(i) => line[..i].trim_end(),
                None => line,
            };
            if let Some(start) = line.strip_suffix('\\') {
                current.push_str(start.trim_end());
                current.push(' ');
            } else {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
        blocks.push(commands);
    }
    blocks
}

/// The `sh` blocks of the README, in order, in a fresh directory with the
/// repository's `examples/`, `breakwater` on the PATH: the quick start, the
/// deployment's certificate, onboarding, the member's first poll, a backup.
/// What differs from a person typing them: `breakwater serve` starts in the
/// background on a free port (which replaces 8443 in later commands), curl
/// fails on HTTP errors and resolves exchange.port.example to this machine,
/// and `certs server` is followed by the SIGHUP a service manager would send.
#[tokio::test]
async fn every_sh_block_of_the_readme_runs_as_written_after_the_quick_start() {
    if !curl_available() {
        eprintln!("skipped: curl is not installed, and the README's commands use it");
        return;
    }
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    let blocks = readme_blocks(&readme);
    assert!(
        blocks.iter().flatten().any(|c| c == "breakwater serve"),
        "{blocks:#?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    std::fs::create_dir_all(root.join("examples")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/envelope.json"),
        root.join("examples/envelope.json"),
    )
    .unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_breakwater"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut server: Option<(std::process::Child, u16)> = None;
    let mut prelude = String::new();
    let mut ran = Vec::new();
    for block in &blocks {
        // Each block starts where the quick start left the reader.
        let mut cwd: PathBuf = root.clone();
        for command in block {
            if command.starts_with("cargo ") {
                continue;
            }
            if command == "breakwater serve" {
                let mut cmd = breakwater();
                let child = cmd
                    .arg("serve")
                    .env("BREAKWATER_LISTEN", "127.0.0.1:0")
                    .current_dir(&root)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(std::fs::File::create(root.join("serve.log")).unwrap())
                    .spawn()
                    .unwrap();
                let mut child = child;
                let mut banner = String::new();
                let mut stdout = child.stdout.take().unwrap();
                let mut byte = [0u8; 1];
                while !banner.ends_with('\n') && stdout.read(&mut byte).unwrap() == 1 {
                    banner.push(byte[0] as char);
                }
                let port: u16 = banner
                    .split(':')
                    .nth(2)
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("no port in {banner:?}"));
                std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
                server = Some((child, port));
                continue;
            }
            let port = server
                .as_ref()
                .map(|(_, p)| *p)
                .expect("the server runs first");
            if let Some(dir) = command.strip_prefix("cd ") {
                cwd = cwd.join(dir.trim());
                assert!(cwd.is_dir(), "{command}");
                continue;
            }
            let line = command.replace(":8443/", &format!(":{port}/"));
            // A live-push command runs until stopped: it passes when it is
            // still running, unharmed, after a few seconds (a wait on a process
            // that must not end: there is no condition to poll for).
            let streaming = line.starts_with("curl -N ") || line.starts_with("breakwater follow ");
            let line = if streaming {
                format!(
                    "{line} > stream.out &\npid=$!\nsleep 3\nkill -0 $pid || wait $pid\n# curl runs under the shell function: stop it too (the job may end\n# with it, before the kill below).\npkill -P $pid || true\nkill $pid 2>/dev/null || true\ncat stream.out"
                )
            } else {
                line
            };
            let script = format!(
                "set -euo pipefail\ncurl() {{ command curl --fail-with-body -sS --resolve exchange.port.example:{port}:127.0.0.1 \"$@\"; }}\n{prelude}{line}\n"
            );
            let mut bash = Command::new("bash");
            for (name, _) in std::env::vars() {
                if name.starts_with("BREAKWATER_") || name == "RUST_LOG" {
                    bash.env_remove(name);
                }
            }
            let out = bash
                .arg("-c")
                .arg(&script)
                .env("PATH", &path)
                .current_dir(&cwd)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "README command failed: {command}\nstdout: {}\nstderr: {}\nserver log:\n{}",
                stdout_of(&out),
                stderr_of(&out),
                std::fs::read_to_string(root.join("serve.log")).unwrap_or_default()
            );
            if command
                .split_whitespace()
                .next()
                .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
            {
                prelude.push_str(command);
                prelude.push('\n');
            }
            if command.starts_with("breakwater certs server") {
                let (child, _) = server.as_ref().unwrap();
                let status = Command::new("kill")
                    .args(["-HUP", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success());
                let ca = read(&root.join("breakwater-data/ca/ca.pem"));
                eventually("the reloaded certificate", || {
                    TlsConn::open(port, &ca, None, "exchange.port.example")
                        .ok()
                        .map(|_| ())
                })
                .await;
            }
            ran.push((command.clone(), stdout_of(&out)));
        }
    }
    let (mut child, _) = server.expect("the README starts a server");
    let _ = child.kill();
    let _ = child.wait();

    // What the commands did, checked where it matters.
    let output_of = |prefix: &str| -> &str {
        &ran.iter()
            .find(|(c, _)| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no README command starts with {prefix}"))
            .1
    };
    let pushed: Value = serde_json::from_str(output_of("curl --cacert $D/ca/ca.pem --cert $D/members/operator.pem --key $D/members/operator-key.pem -H 'Accept: application/taxii+json;version=2.1' -H 'Content-Type")).unwrap();
    assert_eq!(pushed["success_count"], 3, "{pushed}");
    let stream = output_of("curl -N ");
    assert!(stream.starts_with("retry: "), "{stream}");
    let polled: Value = serde_json::from_str(output_of("curl --cacert ca.pem")).unwrap();
    let titles: Vec<&str> = polled["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["TLP:GREEN sharing", "TLP:AMBER sharing"],
        "{polled}"
    );
    assert!(root.join("handover/evergreen-line/CONNECT.txt").is_file());
    assert!(root.join("breakwater-backup.db").is_file());
}

#[tokio::test]
async fn api_root_names_that_the_servers_own_paths_take_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    for name in breakwater::app::FIXED_PATHS {
        let out = cli(&dir, &["api-roots", "add", name, "--title", "x"]);
        assert_eq!(
            error_line(&out),
            format!(
                "'{name}' is a path the server serves itself (/{name}/); choose another name for the API root"
            )
        );
    }
    let roots = cli_json(&dir, &["api-roots", "list", "--json"]);
    assert_eq!(roots.as_array().unwrap().len(), 1, "{roots}");
    // Nor through the configuration's `api_root`.
    let config = config_of(&dir);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("api_root = \"crc\"", "api_root = \"console\""),
    )
    .unwrap();
    let out = cli(&dir, &["api-roots", "list"]);
    assert!(
        error_line(&out).contains("api_root: 'console' is a path the server serves itself"),
        "{}",
        stderr_of(&out)
    );

    // Each of those names is a path the server really serves (so the list
    // is not stale), while an unknown first segment is an unknown API root.
    let app = spawn_app();
    for name in breakwater::app::FIXED_PATHS {
        let r = app
            .operator
            .send(app.operator.http.get(format!("{}/{name}/", app.base())))
            .await;
        assert_ne!(r.status, 404, "/{name}/: {}", r.text);
    }
    let r = app
        .operator
        .send(
            app.operator
                .http
                .get(format!("{}/no-such-root/", app.base())),
        )
        .await;
    assert_eq!(r.status, 404);
}
