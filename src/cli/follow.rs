//! `breakwater follow`: a live-push client for members without one. Prints
//! every object of a collection's stream as one JSON line on standard output
//! (for piping into a SIEM), reconnects with backoff and `Last-Event-ID`, and
//! keeps its position in `--state` so a restart resumes where it stopped.
//!
//! The state file is written (temporary file, then rename) only after the
//! objects of an event are flushed to standard output: a crash repeats at
//! most the last event, and never skips one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A block of the stream larger than this is refused (one event holds at
/// most a page of objects; this bounds what a broken server can make us hold).
const MAX_EVENT_BYTES: usize = 256 * 1024 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Three missed heartbeats (15 s apart by default) mean a dead connection.
const READ_TIMEOUT: Duration = Duration::from_secs(50);

#[derive(clap::Args, Debug)]
pub struct FollowArgs {
    /// The collection's URL, e.g. https://exchange.port.example:8443/crc/collections/ID/
    #[arg(long)]
    pub url: String,
    /// Your client certificate (PEM).
    #[arg(long)]
    pub cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// The community CA that signed the server's certificate (PEM).
    #[arg(long)]
    pub cacert: PathBuf,
    /// Start after this event id; a position saved in --state takes precedence.
    #[arg(long)]
    pub after: Option<String>,
    /// Keep the last event id in this file, so a restart resumes where it stopped.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// With no saved position, start after this time (RFC 3339) instead of now.
    #[arg(long)]
    pub added_after: Option<String>,
    /// Only objects of these STIX types (repeat the flag for several).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
}

pub fn run(args: &FollowArgs) -> anyhow::Result<bool> {
    let client = http_client(args)?;
    let url = stream_url(args)?;
    let mut position = match &args.state {
        Some(path) => read_state(path)?,
        None => None,
    };
    if position.is_none() {
        position = args.after.clone();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client runtime")?;
    runtime.block_on(async {
        let stop = crate::app::stopping();
        tokio::pin!(stop);
        let mut follower = Follower {
            client,
            url,
            position,
            state: args.state.clone(),
            backoff: FIRST_BACKOFF,
        };
        loop {
            let wait = tokio::select! {
                outcome = follower.session() => match outcome {
                    Session::Fatal(e) => return Err(e),
                    Session::Retry { reason, after } => {
                        let wait = after.unwrap_or(follower.backoff);
                        eprintln!("follow: {reason}; reconnecting in {}s", wait.as_secs());
                        follower.backoff = (follower.backoff * 2).min(MAX_BACKOFF);
                        wait
                    }
                },
                _ = &mut stop => return Ok(true),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut stop => return Ok(true),
            }
        }
    })
}

fn http_client(args: &FollowArgs) -> anyhow::Result<reqwest::Client> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(&args.cacert, "the CA certificate")?) {
        let cert =
            cert.with_context(|| format!("{} is not a PEM certificate", args.cacert.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("{} is not a usable CA certificate", args.cacert.display()))?;
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read(&args.cert, "the client certificate")?)
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} is not a PEM certificate", args.cert.display()))?;
    if chain.is_empty() {
        bail!(
            "{} holds no certificate; pass the member's .pem file",
            args.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&args.key, "the private key")?)
        .with_context(|| format!("{} is not a PEM private key", args.key.display()))?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("cannot set up TLS")?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .context("the client certificate and key do not match")?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(READ_TIMEOUT)
        .build()
        .context("cannot set up the HTTP client")
}

/// `{collection}/stream/` with the filters in the query.
fn stream_url(args: &FollowArgs) -> anyhow::Result<reqwest::Url> {
    let mut url = reqwest::Url::parse(&args.url)
        .with_context(|| format!("'{}' is not a URL; pass the collection's URL", args.url))?;
    if url.scheme() != "https" {
        bail!(
            "'{}' is not an https URL; the exchange speaks only TLS",
            args.url
        );
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.ends_with("/stream") {
        format!("{path}/")
    } else {
        format!("{path}/stream/")
    };
    url.set_path(&path);
    {
        let mut query = url.query_pairs_mut();
        if !args.types.is_empty() {
            query.append_pair("match[type]", &args.types.join(","));
        }
        if let Some(t) = &args.added_after {
            query.append_pair("added_after", t);
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

fn read_state(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim();
            Ok((!id.is_empty()).then(|| id.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the state file {}", path.display())),
    }
}

/// Replaces the state file atomically: a reader (or a crash) sees the old
/// position or the new one, never a torn file.
fn write_state(path: &Path, id: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(id.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write the state file {}", path.display()))
}

enum Session {
    /// Connect again, after the server's `Retry-After` if it gave one.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Reconnecting cannot help (refused, bad position, closed output).
    Fatal(anyhow::Error),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
}

struct Follower {
    client: reqwest::Client,
    url: reqwest::Url,
    position: Option<String>,
    state: Option<PathBuf>,
    backoff: Duration,
}

impl Follower {
    /// One connection: open, then print events until it ends.
    async fn session(&mut self) -> Session {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = &self.position {
            request = request.header("Last-Event-ID", id);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return retry(format!("cannot reach the server ({})", root_cause(&e))),
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Duration::from_secs);
            let text = response.text().await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let said = body["description"].as_str().unwrap_or("").to_string();
            if status.as_u16() == 503 || status.is_server_error() {
                return Session::Retry {
                    reason: format!("the server answered {status} {said}"),
                    after: retry_after,
                };
            }
            if body["error_code"] == "bad-cursor" {
                return Session::Fatal(anyhow::anyhow!(
                    "the server does not accept the saved position ({said}); remove the state file or --after to start from now"
                ));
            }
            return Session::Fatal(anyhow::anyhow!(
                "the server refused the stream with {status}: {said}"
            ));
        }
        self.backoff = FIRST_BACKOFF;
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            while let Some(end) = block_end(&buffer) {
                let block: Vec<u8> = buffer.drain(..end).collect();
                if let Err(e) = self.handle(&block) {
                    return Session::Fatal(e);
                }
            }
            if buffer.len() > MAX_EVENT_BYTES {
                return retry("an event was larger than this client accepts".into());
            }
            match response.chunk().await {
                Ok(Some(bytes)) => buffer.extend_from_slice(&bytes),
                Ok(None) => return retry("the server ended the stream".into()),
                Err(e) => return retry(format!("the connection broke ({})", root_cause(&e))),
            }
        }
    }

    /// One block of the stream: an `objects` event is printed, then its id saved.
    fn handle(&mut self, block: &[u8]) -> anyhow::Result<()> {
        let text = String::from_utf8_lossy(block);
        let (mut id, mut data) = (None, String::new());
        for line in text.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.to_string()),
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                _ => {}
            }
        }
        let Some(id) = id else { return Ok(()) };
        if !data.is_empty() {
            let envelope: Envelope<'_> = serde_json::from_str(&data)
                .context("the server sent an event that is not a TAXII envelope")?;
            let mut out = std::io::stdout().lock();
            for object in envelope.objects {
                out.write_all(object.get().as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .context("standard output is closed")?;
            }
            out.flush().context("standard output is closed")?;
        }
        if let Some(path) = &self.state {
            write_state(path, &id)?;
        }
        self.position = Some(id);
        Ok(())
    }
}

fn retry(reason: String) -> Session {
    Session::Retry {
        reason,
        after: None,
    }
}

/// Where the next block ends (after its blank line), if it is complete.
fn block_end(buffer: &[u8]) -> Option<usize> {
    let mut previous_newline = false;
    for (i, &b) in buffer.iter().enumerate() {
        match b {
            b'\n' if previous_newline => return Some(i + 1),
            b'\n' => previous_newline = true,
            b'\r' => {}
            _ => previous_newline = false,
        }
    }
    None
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str, types: &[&str]) -> FollowArgs {
        FollowArgs {
            url: url.into(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            cacert: PathBuf::new(),
            after: None,
            state: None,
            added_after: None,
            types: types.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn the_stream_url_is_the_collection_url_plus_stream() {
        let u = |url: &str, types: &[&str]| stream_url(&args(url, types)).unwrap().to_string();
        assert_eq!(
            u("https://x:8443/crc/collections/abc/", &[]),
            "https://x:8443/crc/collections/abc/stream/"
        );
        assert_eq!(
            u("https://x:8443/crc/collections/abc", &[]),
            "https://x:8443/crc/collections/abc/stream/"
        );
        assert_eq!(
            u(
                "https://x:8443/crc/collections/abc/stream/",
                &["indicator", "malware"]
            ),
            "https://x:8443/crc/collections/abc/stream/?match%5Btype%5D=indicator%2Cmalware"
        );
        assert!(stream_url(&args("http://x/crc/collections/abc/", &[])).is_err());
        assert!(stream_url(&args("not a url", &[])).is_err());
    }

    #[test]
    fn blocks_end_at_a_blank_line_with_or_without_carriage_returns() {
        assert_eq!(block_end(b"id: 1\ndata: {}\n\nid: 2"), Some(16));
        assert_eq!(block_end(b"id: 1\r\ndata: {}\r\n\r\n"), Some(19));
        assert_eq!(block_end(b"id: 1\ndata: {}\n"), None);
    }

    #[test]
    fn the_state_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("follow.state");
        assert_eq!(read_state(&path).unwrap(), None);
        write_state(&path, "first").unwrap();
        write_state(&path, "second").unwrap();
        assert_eq!(read_state(&path).unwrap().as_deref(), Some("second"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temporary file was left behind");
    }
}
