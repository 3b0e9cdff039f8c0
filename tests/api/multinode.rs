//! Two `breakwater serve` processes on one PostgreSQL database, as a
//! community runs them behind a load balancer: what a member sees must not
//! depend on which node answers. The second node is the same data directory
//! served on another port.
//!
//! These need PostgreSQL: where there is none they say so and are skipped
//! (a failure under `BREAKWATER_REQUIRE_POSTGRES=1`). They run in the
//! default pass; the `BREAKWATER_TEST_BACKEND=postgres` pass skips them
//! rather than run the same again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::{Server, assert_success, breakwater, config_of, green_id, run, stdout_of};
use crate::helpers::*;
use crate::operator::TlsConn;
use crate::stream::Stream;
use crate::test_postgres::{self, TestDatabase};

/// A database for a two-node test, or `None` (having said why).
fn database(private: bool) -> Option<TestDatabase> {
    if on_postgres() {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("").to_string();
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: the two-node tests run in the default pass, not again here"
        );
        return None;
    }
    if private {
        test_postgres::private_database()
    } else {
        test_postgres::database()
    }
}

struct Nodes {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    report: Value,
    _db: TestDatabase,
}

impl Nodes {
    fn start(&self, envs: &[(&str, &str)]) -> Server {
        Server::start(&self.dir, envs)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = run(breakwater()
            .arg("--config")
            .arg(config_of(&self.dir))
            .args(args));
        assert_success(&out);
        stdout_of(&out)
    }

    fn green(&self) -> String {
        green_id(&self.report)
    }
}

fn init_on(db: TestDatabase) -> Nodes {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = run(breakwater()
        .arg("init")
        .arg("--data-dir")
        .arg(&dir)
        .arg("--database")
        .arg(&db.url)
        .arg("--json"));
    assert_success(&out);
    let report = serde_json::from_str(&stdout_of(&out)).unwrap();
    Nodes {
        _tmp: tmp,
        dir,
        report,
        _db: db,
    }
}

fn ids(r: &Response) -> Vec<String> {
    ids_in(&r.body, "objects")
}

/// Polls `probe` until it returns something; a bound on waiting, not a
/// timing assertion.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..2400 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

/// Members push to both nodes at once while two pollers read: one from
/// node B with `added_after` = the last `X-TAXII-Date-Added-Last`, one
/// following `next` tokens and switching node on every page (so each token
/// was minted by the other node). Each sees every object exactly once.
#[tokio::test]
async fn polling_either_node_delivers_every_object_once_while_both_take_pushes() {
    let Some(db) = database(false) else { return };
    let nodes = init_on(db);
    let (a, b) = (nodes.start(&[]), nodes.start(&[]));
    let path = format!("/crc/collections/{}/objects/", nodes.green());
    let pushers: Vec<_> = (0..4)
        .map(|p| {
            let node = if p % 2 == 0 { &a } else { &b };
            let (client, url) = (node.operator(), format!("{}{path}", node.base()));
            tokio::spawn(async move {
                let mut pushed = Vec::new();
                for e in 0..12 {
                    let objects: Vec<Value> = (0..25)
                        .map(|i| indicator(&format!("pusher {p} envelope {e} object {i}")))
                        .collect();
                    pushed.extend(
                        objects
                            .iter()
                            .map(|o| o["id"].as_str().unwrap().to_string()),
                    );
                    client.push(&url, objects).await;
                }
                pushed
            })
        })
        .collect();
    let done = || pushers.iter().all(|p| p.is_finished());

    let by_date = b.operator();
    let by_next = [a.operator(), b.operator()];
    let bases = [a.base(), b.base()];
    let mut seen_by_date: Vec<String> = Vec::new();
    let mut seen_by_next: Vec<String> = Vec::new();
    let mut after_date: Option<String> = None;
    let mut after_next: Option<String> = None;
    let mut last_key_seen = String::new();
    let mut turn = 0;
    loop {
        let finished = done();
        // added_after, on node B.
        let query = after_date
            .as_ref()
            .map(|t| format!("?limit=37&added_after={t}"))
            .unwrap_or_else(|| "?limit=37".into());
        let r = by_date.get(&format!("{}{path}{query}", b.base())).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = ids(&r);
        if let Some(first) = r.header("x-taxii-date-added-first") {
            assert!(
                first > last_key_seen.as_str(),
                "a page started before the last one ended"
            );
        }
        if let Some(last) = r.header("x-taxii-date-added-last") {
            last_key_seen = last.to_string();
            after_date = Some(last.to_string());
        }
        let empty_date = page.is_empty();
        seen_by_date.extend(page);

        // next, one node then the other.
        let query = after_next
            .as_ref()
            .map(|t| format!("limit=23&added_after={t}"))
            .unwrap_or_else(|| "limit=23".into());
        let mut next: Option<String> = None;
        let mut walked = 0;
        loop {
            turn += 1;
            let node = turn % 2;
            let url = match &next {
                None => format!("{}{path}?{query}", bases[node]),
                Some(token) => format!("{}{path}?{query}&next={token}", bases[node]),
            };
            let r = by_next[node].get(&url).await;
            assert_eq!(r.status, 200, "{url}: {}", r.text);
            let page = ids(&r);
            walked += page.len();
            seen_by_next.extend(page);
            if let Some(last) = r.header("x-taxii-date-added-last") {
                after_next = Some(last.to_string());
            }
            match (r.body["more"] == true, r.body["next"].as_str()) {
                (true, Some(token)) => next = Some(token.to_string()),
                _ => break,
            }
        }
        if finished && empty_date && walked == 0 {
            break;
        }
    }
    let mut pushed = Vec::new();
    for p in pushers {
        pushed.extend(p.await.unwrap());
    }
    pushed.sort();
    assert_eq!(pushed.len(), 1200);
    for (how, mut seen) in [("added_after", seen_by_date), ("next", seen_by_next)] {
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "{how}: an object was delivered twice");
        assert_eq!(seen, pushed, "{how}: every object, exactly once");
    }
}

fn member_with_certificate(nodes: &Nodes, name: &str) -> (String, String, String) {
    nodes.cli(&["members", "add", name, "--sector", "shipping-line"]);
    let out_dir = nodes.dir.join(format!("issued-{name}"));
    let issued: Value = serde_json::from_str(&nodes.cli(&[
        "certs",
        "issue",
        "--member",
        name,
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let green = nodes.green();
    nodes.cli(&[
        "grants",
        "add",
        "--collection",
        &green,
        "--member",
        name,
        "--read",
        "--write",
    ]);
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).unwrap();
    let cert = read(issued["certificate"].as_str().unwrap());
    let key = read(issued["key"].as_str().unwrap());
    (
        issued["fingerprint"].as_str().unwrap().to_string(),
        cert,
        key,
    )
}

/// `certs revoke`, `members suspend` and `grants remove`, run against the
/// database, refuse the next requests on both nodes, on connections opened
/// before the change.
#[tokio::test]
async fn revocations_apply_on_every_node_on_open_connections() {
    let Some(db) = database(false) else { return };
    let nodes = init_on(db);
    let (a, b) = (nodes.start(&[]), nodes.start(&[]));
    let ca = std::fs::read_to_string(nodes.dir.join("ca/ca.pem")).unwrap();
    let path = format!("/crc/collections/{}/objects/", nodes.green());

    let cases = [
        ("revoked-line", "certs revoke", 401),
        ("suspended-line", "members suspend", 403),
        ("ungranted-line", "grants remove", 404),
    ];
    for (member, change, refused) in cases {
        let (fingerprint, cert, key) = member_with_certificate(&nodes, member);
        let mut conns: Vec<TlsConn> = [&a, &b]
            .iter()
            .map(|node| TlsConn::open(node.port, &ca, Some((&cert, &key)), "localhost").unwrap())
            .collect();
        for conn in &mut conns {
            let (status, body) = conn.get(&path).unwrap();
            assert_eq!(status, 200, "{member}: {body}");
        }
        match change {
            "certs revoke" => nodes.cli(&["certs", "revoke", "--fingerprint", &fingerprint]),
            "members suspend" => nodes.cli(&["members", "suspend", member]),
            _ => nodes.cli(&[
                "grants",
                "remove",
                "--collection",
                &nodes.green(),
                "--member",
                member,
            ]),
        };
        for (i, conn) in conns.iter_mut().enumerate() {
            let mut last = 0;
            eventually(
                &format!("{change} refuses {member} on node {i}"),
                async || {
                    let (status, _) = conn.get(&path).unwrap();
                    last = status;
                    (status != 200).then_some(())
                },
            )
            .await;
            assert_eq!(last, refused, "{change} on node {i}");
        }
    }
}

/// A status is readable from either node; the audit log holds the events
/// of both, in time order; `backup` says what to use instead.
#[tokio::test]
async fn statuses_and_the_audit_log_are_the_same_on_every_node() {
    let Some(db) = database(false) else { return };
    let nodes = init_on(db);
    let (a, b) = (nodes.start(&[]), nodes.start(&[]));
    let path = format!("/crc/collections/{}/objects/", nodes.green());
    let mut statuses = BTreeMap::new();
    for (from, to) in [(&a, &b), (&b, &a)] {
        let r = from
            .operator()
            .push(
                &format!("{}{path}", from.base()),
                vec![indicator("either node")],
            )
            .await;
        let id = r.body["id"].as_str().unwrap().to_string();
        let other = to
            .operator()
            .get(&format!("{}/crc/status/{id}/", to.base()))
            .await;
        assert_eq!(other.status, 200, "{}", other.text);
        assert_eq!(other.body["status"], "complete");
        assert_eq!(other.body["success_count"], 1);
        assert_eq!(other.body["successes"], r.body["successes"]);
        statuses.insert(id, from.port);
    }
    let audit: Vec<Value> = serde_json::from_str(&nodes.cli(&["audit", "--json"])).unwrap();
    let pushes: BTreeSet<String> = audit
        .iter()
        .filter(|e| e["action"] == "push")
        .filter_map(|e| e["detail"].as_str())
        .filter_map(|d| statuses.keys().find(|id| d.contains(id.as_str())).cloned())
        .collect();
    assert_eq!(pushes.len(), 2, "both nodes' pushes are in the one log");
    let times: Vec<&str> = audit.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let out = run(breakwater()
        .arg("--config")
        .arg(config_of(&nodes.dir))
        .args(["backup", "--out", "/tmp"]));
    assert!(!out.status.success());
    assert!(
        crate::binary::stderr_of(&out).contains("use pg_dump"),
        "{}",
        crate::binary::stderr_of(&out)
    );
}

/// Live push across nodes: a subscriber on node B receives what members
/// push to node A (PostgreSQL's LISTEN/NOTIFY wakes B; the keyset page after
/// the subscriber's cursor is what it receives), and an event id from one
/// node resumes the stream on the other exactly after that event, objects
/// pushed to either node while it was away included.
#[tokio::test]
async fn a_subscriber_on_one_node_receives_pushes_to_the_other_and_resumes_on_either() {
    let Some(db) = database(false) else { return };
    let nodes = init_on(db);
    let (a, b) = (nodes.start(&[]), nodes.start(&[]));
    let path = format!("/crc/collections/{}/", nodes.green());
    let (on_a, on_b) = (format!("{}{path}", a.base()), format!("{}{path}", b.base()));
    let (writer, reader) = (a.operator(), b.operator());
    // Objects from before the stream opened are not part of "from now".
    writer
        .push(
            &format!("{on_a}objects/"),
            vec![indicator("before the stream")],
        )
        .await;

    let mut stream = Stream::open(&reader, &format!("{on_b}stream/"), None).await;
    let first: Vec<Value> = (0..3)
        .map(|i| indicator(&format!("GPS spoofing relay {i}")))
        .collect();
    let r = writer.push(&format!("{on_a}objects/"), first.clone()).await;
    assert_eq!(r.body["success_count"], 3, "{}", r.text);
    let (got, last) = stream.objects(3).await;
    assert_eq!(
        got, first,
        "node B's subscriber sees node A's push, in order"
    );
    // Node B heard of node A's commit from the database (NOTIFY), not only
    // from its once-a-second check.
    let metrics = format!("{}/metrics", b.base());
    eventually("node B counts a database wake-up", async || {
        let text = reader.get(&metrics).await.text;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("breakwater_push_database_wakeups_total ")?
                    .parse::<u64>()
                    .ok()
            })
            .filter(|n| *n >= 1)
    })
    .await;
    drop(stream);

    // While the subscriber is away, both nodes take pushes.
    let mut missed = Vec::new();
    for (i, node) in [&on_a, &on_b, &on_a, &on_b].into_iter().enumerate() {
        let batch: Vec<Value> = (0..2)
            .map(|j| indicator(&format!("while away {i}.{j}")))
            .collect();
        let client = if node == &on_a { &writer } else { &reader };
        client.push(&format!("{node}objects/"), batch.clone()).await;
        missed.extend(batch);
    }
    // Back on the other node with the last event id node B handed out.
    let mut stream = Stream::open(&writer, &format!("{on_a}stream/"), Some(&last)).await;
    let (got, last) = stream.objects(missed.len()).await;
    assert_eq!(got, missed, "nothing lost, nothing repeated, in order");
    // And live again, now across the other way.
    let live = indicator("pushed to B while streaming from A");
    reader
        .push(&format!("{on_b}objects/"), vec![live.clone()])
        .await;
    let event = stream.event().await.expect("a live event");
    assert_eq!(event.objects, vec![live.clone()]);
    drop(stream);
    // `?after=` an event id of node A, on node B: only what came after.
    let mut stream = Stream::open(&reader, &format!("{on_b}stream/?after={last}"), None).await;
    let event = stream.event().await.expect("the event after");
    assert_eq!(event.objects, vec![live]);
}

/// An envelope acknowledged `pending` by a node killed with `kill -9` is
/// finished by the other node, exactly once, and the killed node's restart
/// does not store it again.
#[tokio::test]
async fn a_pending_envelope_left_by_a_killed_node_is_finished_once_by_another() {
    let Some(db) = database(false) else { return };
    let nodes = init_on(db);
    let a = nodes.start(&[("BREAKWATER_BACKGROUND_THRESHOLD", "10")]);
    let b = nodes.start(&[]);
    let path = format!("/crc/collections/{}/objects/", nodes.green());
    let objects: Vec<Value> = (0..8000)
        .map(|i| indicator(&format!("left pending {i}")))
        .collect();
    let expected: BTreeSet<String> = objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let r = a
        .operator()
        .post(
            &format!("{}{path}", a.base()),
            &json!({ "objects": objects }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "pending", "{}", r.text);
    let status = r.body["id"].as_str().unwrap().to_string();
    a.kill();

    let operator = b.operator();
    let status_url = format!("{}/crc/status/{status}/", b.base());
    let done = eventually("node B finishes the envelope", async || {
        let r = operator.get(&status_url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        (r.body["status"] == "complete").then_some(r.body)
    })
    .await;
    assert_eq!(done["success_count"], 8000, "{done}");

    let a = nodes.start(&[]);
    let mut stored = Vec::new();
    let mut url = format!("{}{path}?limit=1000", a.base());
    loop {
        let r = a.operator().get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        stored.extend(ids(&r));
        match r.body["next"].as_str() {
            Some(next) => url = format!("{}{path}?limit=1000&next={next}", a.base()),
            None => break,
        }
    }
    assert_eq!(stored.len(), 8000);
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), expected);
    let audit: Vec<Value> = serde_json::from_str(&nodes.cli(&["audit", "--json"])).unwrap();
    let pushes = audit
        .iter()
        .filter(|e| {
            e["action"] == "push" && e["detail"].as_str().is_some_and(|d| d.contains(&status))
        })
        .count();
    assert_eq!(pushes, 1, "stored once");
}

/// While PostgreSQL is down, members get 503 with Retry-After (never 500);
/// when it is back, the node serves again without a restart.
#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_and_the_node_recovers() {
    let Some(db) = database(true) else { return };
    let server = db.server();
    let nodes = init_on(db);
    let node = nodes.start(&[]);
    let operator = node.operator();
    let url = format!("{}/crc/collections/{}/objects/", node.base(), nodes.green());
    operator
        .push(&url, vec![indicator("before the outage")])
        .await;

    server.stop();
    let down = eventually(
        "requests are refused while the database is down",
        async || {
            let r = operator.get(&url).await;
            assert!(
                r.status == 200 || r.status == 503,
                "only 503 while the database is down, got {}: {}",
                r.status,
                r.text
            );
            (r.status == 503).then_some(r)
        },
    )
    .await;
    assert_eq!(down.header("retry-after"), Some("5"));
    assert_eq!(down.header("content-type"), Some(TAXII));
    assert_eq!(down.body["http_status"], "503", "{}", down.text);
    let post = operator
        .post(
            &url,
            &json!({ "objects": [indicator("during the outage")] }),
        )
        .await;
    assert_eq!(post.status, 503, "{}", post.text);
    let anonymous = Client::from_files(node.port, &nodes.dir.join("ca/ca.pem"), None);
    let health = anonymous.get(&format!("{}/health", node.base())).await;
    assert_eq!(health.status, 503, "{}", health.text);

    server.start();
    eventually("the node serves again", async || {
        let r = operator.get(&url).await;
        (r.status == 200).then_some(())
    })
    .await;
    operator
        .push(&url, vec![indicator("after the outage")])
        .await;
    let r = operator.get(&url).await;
    assert_eq!(ids(&r).len(), 2, "{}", r.text);
}

/// Sets `database` in the data directory's configuration.
fn point_at(dir: &Path, database: &str) {
    let path = config_of(dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("database = "))
        .unwrap()
        .to_string();
    let text = text.replace(&line, &format!("database = {}", json!(database)));
    std::fs::write(&path, text).unwrap();
}

/// All objects after `query`, following `next`; with each page's body.
async fn walk(client: &Client, base: &str, query: &str) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut bodies) = (Vec::new(), Vec::new());
    let mut url = format!("{base}?{query}");
    loop {
        let r = client.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        ids.extend(ids_in::<Vec<String>>(&r.body, "objects"));
        bodies.push(r.text.clone());
        match r.body["next"].as_str() {
            Some(next) => url = format!("{base}?{query}&next={next}"),
            None => return (ids, bodies),
        }
    }
}

/// `store copy` moves a SQLite community to PostgreSQL and back: a member
/// resuming with the `added_after` cursor (or the `next` token) it had
/// before the move gets exactly what it had not seen, and both copies
/// answer `GET objects` byte for byte as the original did.
#[tokio::test]
async fn store_copy_moves_a_community_and_members_keep_their_cursors() {
    let Some(db) = database(false) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = run(breakwater()
        .arg("init")
        .arg("--data-dir")
        .arg(&dir)
        .arg("--json"));
    assert_success(&out);
    let report: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let path = format!("/crc/collections/{}/objects/", green_id(&report));

    let sqlite = Server::start(&dir, &[]);
    let operator = sqlite.operator();
    let base = format!("{}{path}", sqlite.base());
    let first: Vec<Value> = (0..30).map(|i| indicator(&format!("before {i}"))).collect();
    let first_ids: Vec<String> = first
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    for chunk in first.chunks(10) {
        operator.push(&base, chunk.to_vec()).await;
    }
    // The member has read ten objects: a cursor and a next token.
    let r = operator.get(&format!("{base}?limit=10")).await;
    assert_eq!(ids_in::<Vec<String>>(&r.body, "objects"), first_ids[..10]);
    let cursor = r.header("x-taxii-date-added-last").unwrap().to_string();
    let next = r.body["next"].as_str().unwrap().to_string();
    let later: Vec<Value> = (0..5).map(|i| indicator(&format!("after {i}"))).collect();
    operator.push(&base, later.clone()).await;
    let (_, original) = walk(&operator, &base, "limit=1000").await;
    sqlite.terminate();

    let out = run(breakwater().args([
        "store",
        "copy",
        "--from",
        &format!("sqlite:{}", dir.join("breakwater.db").display()),
        "--to",
        &db.url,
        "--json",
    ]));
    assert_success(&out);
    let copied: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(copied["objects"], 35, "{copied}");
    assert_eq!(copied["members"], 1, "{copied}");

    point_at(&dir, &db.url);
    let node = Server::start(&dir, &[]);
    let operator = node.operator();
    let base = format!("{}{path}", node.base());
    let (resumed, _) = walk(&operator, &base, &format!("limit=7&added_after={cursor}")).await;
    let mut expected: Vec<String> = first_ids[10..].to_vec();
    expected.extend(later.iter().map(|o| o["id"].as_str().unwrap().to_string()));
    assert_eq!(
        resumed, expected,
        "after the cursor: nothing missed, nothing twice"
    );
    let r = operator.get(&format!("{base}?limit=10&next={next}")).await;
    assert_eq!(
        r.status, 200,
        "a next token from before the move: {}",
        r.text
    );
    assert_eq!(ids_in::<Vec<String>>(&r.body, "objects"), first_ids[10..20]);
    let (_, on_postgres) = walk(&operator, &base, "limit=1000").await;
    assert_eq!(on_postgres, original);
    node.terminate();

    let back = dir.join("back.db");
    let out = run(breakwater().args([
        "store",
        "copy",
        "--from",
        &db.url,
        "--to",
        &format!("sqlite:{}", back.display()),
    ]));
    assert_success(&out);
    assert!(
        stdout_of(&out).contains("copied 1 API roots, 5 collections, 35 objects"),
        "{}",
        stdout_of(&out)
    );
    point_at(&dir, back.to_str().unwrap());
    let again = Server::start(&dir, &[]);
    let (_, on_sqlite) = walk(
        &again.operator(),
        &format!("{}{path}", again.base()),
        "limit=1000",
    )
    .await;
    assert_eq!(on_sqlite, original);
}
