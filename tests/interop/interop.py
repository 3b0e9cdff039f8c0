"""Interoperability suite: the tools Breakwater's members already run, against
the real binary over mutual TLS. Prints one line per check and a closing
"N passed, N failed" line; exits 1 on any failure."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

import requests
import stix2
from cytaxii2.cytaxii2 import cytaxii2
from stix2 import Filter
from taxii2client.common import _HTTPConnection
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

TAXII = "application/taxii+json;version=2.1"
BINARY = sys.argv[1]
# With a PostgreSQL URL, two nodes serve one database and the flows are
# spread over both (pushes to one node, polls from the other).
DATABASE = os.environ.get("INTEROP_DATABASE")
RESULTS = []


def check(name):
    def wrap(fn):
        def run(*args):
            try:
                fn(*args)
                RESULTS.append((name, None))
                print(f"ok    {name}", flush=True)
            except Exception as e:  # report and go on with the next check
                RESULTS.append((name, e))
                print(f"FAIL  {name}: {e}", flush=True)
                traceback.print_exc()

        return run

    return wrap


def cli(data, *args, env=None):
    out = subprocess.run(
        [BINARY, "--config", os.path.join(data, "breakwater.toml"), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return out.stdout


def indicator(name, identity=None):
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-03-01T08:00:00.000Z",
        "modified": "2026-03-01T08:00:00.000Z",
        "name": name,
        "indicator_types": ["malicious-activity"],
        "pattern": "[domain-name:value = 'ais-relay.example']",
        "pattern_type": "stix",
        "valid_from": "2026-03-01T08:00:00Z",
    }
    if identity:
        obj["created_by_ref"] = identity
    return obj


class Member:
    def __init__(self, data, name, base):
        self.base = base
        self.ca = os.path.join(data, "ca", "ca.pem")
        self.cert = (os.path.join(data, "members", f"{name}.pem"), os.path.join(data, "members", f"{name}-key.pem"))
        self.session = requests.Session()
        self.session.verify = self.ca
        self.session.cert = self.cert

    def conn(self):
        return _HTTPConnection(verify=self.ca, cert=self.cert, version="2.1")

    def post(self, collection, objects):
        r = self.session.post(
            f"{self.base}/crc/collections/{collection}/objects/",
            data=json.dumps({"objects": objects}),
            headers={"Accept": TAXII, "Content-Type": TAXII},
        )
        assert r.status_code == 202, r.text
        status = r.json()
        assert status["success_count"] == len(objects), status
        return status


def main():
    tmp = tempfile.mkdtemp(prefix="breakwater-interop-")
    data = os.path.join(tmp, "data")
    servers = []
    try:
        database = ["--database", DATABASE] if DATABASE else []
        init = json.loads(subprocess.run([BINARY, "init", "--data-dir", data, *database, "--json"], check=True, capture_output=True, text=True).stdout)
        tiers = {c["tier"]: c["id"] for c in init["collections"]}
        identity = f"identity--{uuid.uuid4()}"
        cli(data, "members", "add", "rail-co", "--sector", "rail", "--clearance", "amber", "--identity", identity)
        ship_identity = f"identity--{uuid.uuid4()}"
        cli(data, "members", "add", "ship-co", "--sector", "shipping-line", "--identity", ship_identity)
        cli(data, "certs", "issue", "--member", "rail-co", "--out", os.path.join(data, "members"))
        for tier in ("clear", "green"):
            cli(data, "grants", "add", "--member", "rail-co", "--collection", tiers[tier], "--read", "--write")
        token = json.loads(cli(data, "tokens", "issue", "--member", "rail-co", "--json"))["token"]

        env = dict(os.environ, BREAKWATER_TOKENS="true")

        def serve():
            process = subprocess.Popen(
                [BINARY, "--config", os.path.join(data, "breakwater.toml"), "serve", "--listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            servers.append(process)
            first = process.stdout.readline()
            port = int(first.rsplit(":", 1)[1].split("/")[0])
            return f"https://localhost:{port}", process.stdout.readline().strip()

        base, curl_line = serve()
        # The other node: the same data directory on another port.
        other = serve()[0] if DATABASE else base
        if DATABASE:
            print(f"two nodes on PostgreSQL: {base} and {other}", flush=True)
        operator = Member(data, "operator", other)
        rail = Member(data, "rail-co", base)

        taxii2client_flow(operator, other, tiers)
        stix2_flow(rail, base, tiers, identity, ship_identity)
        opencti_polling(operator, rail, other, tiers)
        misp_pull(rail, other, tiers, token)
        cyware_client(rail, other, tiers, token)
        readme_curl(data, base, curl_line, tiers)
        live_push(operator, base, tiers)
    finally:
        for process in servers:
            process.kill()
            process.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    failed = sum(1 for _, e in RESULTS if e)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def taxii2client_flow(operator, base, tiers):
    conn = operator.conn()

    @check("taxii2-client: Server -> api_roots -> collections")
    def discovery():
        server = Server(f"{base}/taxii2/", conn=conn)
        assert server.default is not None and server.default.url == f"{base}/crc/"
        root = ApiRoot(server.default.url, conn=conn)
        titles = {c.title for c in root.collections}
        assert len(titles) == 5, titles
        for c in root.collections:
            assert c.can_read is True and c.can_write is True

    discovery()
    collection = Collection(f"{base}/crc/collections/{tiers['amber']}/", conn=conn)
    pushed = []

    @check("taxii2-client: add_objects waits for a complete status (3000 objects in 6 envelopes)")
    def add():
        for _ in range(6):
            batch = [indicator("Booking-system ransomware C2") for _ in range(500)]
            status = collection.add_objects({"objects": batch}, wait_for_completion=True, poll_interval=0.2)
            assert status.status == "complete" and status.success_count == 500, status
            pushed.extend(o["id"] for o in batch)

    add()

    @check("taxii2-client: as_pages(get_objects, per_request=250) sees every object exactly once")
    def pages():
        seen = []
        for envelope in as_pages(collection.get_objects, per_request=250):
            seen.extend(o["id"] for o in envelope.get("objects", []))
        assert len(seen) == len(set(seen)) == len(pushed), (len(seen), len(set(seen)), len(pushed))
        assert set(seen) == set(pushed)

    pages()
    target = pushed[0]

    @check("taxii2-client: get_object, object_versions, get_manifest, delete_object")
    def single():
        env = collection.get_object(target)
        assert env["objects"][0]["id"] == target
        versions = collection.object_versions(target)
        assert versions["versions"] == ["2026-03-01T08:00:00.000Z"], versions
        manifest = collection.get_manifest(limit=10)
        assert len(manifest["objects"]) == 10 and manifest["more"] is True
        collection.delete_object(target)
        ids = set()
        for envelope in as_pages(collection.get_manifest, per_request=1000):
            ids.update(o["id"] for o in envelope.get("objects", []))
        assert target not in ids and len(ids) == len(pushed) - 1

    single()


def stix2_flow(rail, base, tiers, identity, ship_identity):
    conn = rail.conn()
    collection = Collection(f"{base}/crc/collections/{tiers['clear']}/", conn=conn)

    @check("stix2: TAXIICollectionSink posts a bundle; TAXIICollectionSource and Environment query it")
    def sink_and_source():
        sink = stix2.TAXIICollectionSink(collection)
        me = stix2.Identity(id=identity, name="Rail Co", identity_class="organization")
        objs = [me] + [
            stix2.Indicator(
                name=f"Telematics beacon {i}",
                pattern="[ipv4-addr:value = '198.51.100.7']",
                pattern_type="stix",
                valid_from="2026-03-01T08:00:00Z",
                created_by_ref=identity,
            )
            for i in range(5)
        ]
        sink.add(stix2.Bundle(objects=objs, allow_custom=False))
        source = stix2.TAXIICollectionSource(collection)
        env = stix2.Environment(source=source)
        mine = env.query([Filter("type", "=", "indicator"), Filter("created_by_ref", "=", identity)])
        assert len(mine) == 5, len(mine)
        got = source.get(objs[1].id)
        assert got is not None and got.name == objs[1].name
        assert env.creator_of(got).name == "Rail Co"

    sink_and_source()

    @check("a member may not publish under another member's identity")
    def impersonation():
        forged = indicator("forged", identity=ship_identity)
        r = rail.session.post(
            f"{base}/crc/collections/{tiers['clear']}/objects/",
            data=json.dumps({"objects": [forged, indicator("own", identity=identity)]}),
            headers={"Accept": TAXII, "Content-Type": TAXII},
        )
        assert r.status_code == 202
        s = r.json()
        assert s["success_count"] == 1 and s["failure_count"] == 1, s
        assert s["failures"][0]["id"] == forged["id"] and "ship-co" in s["failures"][0]["message"], s

    impersonation()


def opencti_polling(operator, rail, base, tiers):
    @check("OpenCTI-style incremental polling while another member pushes: every object exactly once")
    def incremental():
        url = f"{base}/crc/collections/{tiers['green']}/objects/"
        pushed, done = [], threading.Event()

        def writer():
            try:
                for _ in range(40):
                    batch = [indicator("AIS spoofing infrastructure") for _ in range(25)]
                    rail.post(tiers["green"], batch)
                    pushed.extend(o["id"] for o in batch)
            finally:
                done.set()

        t = threading.Thread(target=writer)
        t.start()
        seen = []
        added_after = "2000-01-01T00:00:00.000000Z"

        def poll_round():
            nonlocal added_after
            params = {"added_after": added_after, "limit": 100}
            while True:
                r = operator.session.get(url, params=params, headers={"Accept": TAXII})
                assert r.status_code == 200, r.text
                env = r.json()
                seen.extend(o["id"] for o in env.get("objects", []))
                if env.get("more") and env.get("next"):
                    params = {"added_after": added_after, "limit": 100, "next": env["next"]}
                    continue
                last = r.headers.get("X-TAXII-Date-Added-Last")
                if last:
                    added_after = last
                return

        while not done.is_set():
            poll_round()
        t.join()
        poll_round()
        assert len(seen) == len(set(seen)), "an object was delivered twice"
        assert set(seen) == set(pushed) and len(pushed) == 1000, (len(seen), len(pushed))

    incremental()


def misp_pull(rail, base, tiers, token):
    @check("MISP-style full pull with a lowercase 'basic' token, Content-type on GET, limit=50 and next")
    def pull():
        session = requests.Session()
        session.verify = rail.ca  # no client certificate: the token alone
        auth = base64.b64encode(f"misp:{token}".encode()).decode()
        headers = {"Accept": TAXII, "Content-type": TAXII, "Authorization": f"basic {auth}"}
        r = session.get(f"{base}/crc/collections/", headers=headers)
        assert r.status_code == 200, r.text
        ids = {c["id"] for c in r.json()["collections"]}
        assert ids == {tiers["clear"], tiers["green"]}, ids
        url = f"{base}/crc/collections/{tiers['green']}/objects/"
        seen, params = [], {"limit": 50}
        while True:
            r = session.get(url, params=params, headers=headers)
            assert r.status_code == 200, r.text
            env = r.json()
            seen.extend(o["id"] for o in env.get("objects", []))
            if not env.get("more"):
                break
            params = {"limit": 50, "next": env["next"]}
        assert len(seen) == len(set(seen)) == 1000, len(seen)
        bad = session.get(url, headers={"Accept": TAXII, "Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401 and "WWW-Authenticate" in bad.headers

    pull()


def cyware_client(rail, base, tiers, token):
    """Cyware's cytaxii2 1.0.1 calls discovery's `default` exactly as it is given
    (no URL resolution), sends Basic authentication, and has no option for a client
    certificate or a CA: it trusts what requests trusts, so the community CA is
    named through REQUESTS_CA_BUNDLE for these calls."""
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = rail.ca
    try:
        client = cytaxii2(f"{base}/taxii2/", "cyware", token, version=2.1)
        collection = tiers["clear"]

        @check("cytaxii2: discovery, API root and collections with a token as Basic password")
        def browse():
            d = client.discovery_request()
            assert d["status_code"] == 200, d
            assert d["response"]["default"] == f"{base}/crc/", d
            r = client.root_discovery()
            assert r["status_code"] == 200 and r["response"]["versions"] == [TAXII], r
            c = client.collection_request()
            assert c["status_code"] == 200, c
            ids = {x["id"] for x in c["response"]["collections"]}
            assert ids == {tiers["clear"], tiers["green"]}, ids
            one = client.collection_data_request(collection)
            assert one["status_code"] == 200 and one["response"]["id"] == collection, one

        browse()
        pushed = [indicator(f"Reefer telemetry beacon {i}") for i in range(7)]

        @check("cytaxii2: inbox_request POSTs a bare STIX bundle with the TAXII content type")
        def inbox():
            bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": pushed}
            r = client.inbox_request(collection, json.dumps(bundle))
            assert r["status_code"] == 202, r
            assert r["response"]["status"] == "complete", r
            assert r["response"]["success_count"] == len(pushed), r

        inbox()

        @check("cytaxii2: poll_request pages with limit and next and sees every object once")
        def poll():
            seen, nxt = [], None
            for _ in range(100):
                r = client.poll_request(collection, limit=3, next=nxt)
                assert r["status_code"] == 200, r
                env = r["response"]
                assert len(env.get("objects", [])) <= 3, env
                seen.extend(o["id"] for o in env.get("objects", []))
                if not env.get("more"):
                    break
                nxt = env["next"]
            assert len(seen) == len(set(seen)), "an object was delivered twice"
            assert {o["id"] for o in pushed} <= set(seen), (len(seen), len(pushed))

        poll()

        @check("cytaxii2: a wrong token is refused")
        def refused():
            bad = cytaxii2(f"{base}/taxii2/", "cyware", "not-a-token", version=2.1)
            r = bad.discovery_request()
            assert r["status_code"] == 401, r

        refused()
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved


def readme_curl(data, base, curl_line, tiers):
    @check("README: the curl line serve prints works")
    def printed():
        assert curl_line.startswith("Try: curl "), curl_line
        out = subprocess.run(curl_line[len("Try: "):] + " -s -f", shell=True, cwd=os.path.dirname(data), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "collections" in json.loads(out.stdout)

    printed()

    @check("README: curl push of an envelope answers 202 with a complete status")
    def push():
        path = os.path.join(data, "envelope.json")
        with open(path, "w") as f:
            json.dump({"objects": [indicator("README example")]}, f)
        d = data
        cmd = (
            f"curl -s -f --cacert {d}/ca/ca.pem --cert {d}/members/operator.pem --key {d}/members/operator-key.pem "
            f"-H 'Accept: application/taxii+json;version=2.1' -H 'Content-Type: application/taxii+json;version=2.1' "
            f"--data @{path} {base}/crc/collections/tlp-green/objects/"
        )
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["status"] == "complete"

    push()


class EventStream:
    """A live push stream read with plain requests (stream=True), as a
    member's script would: events parsed from the text/event-stream lines."""

    def __init__(self, member, url, last_event_id=None):
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.response = member.session.get(url, headers=headers, stream=True, timeout=60)
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.lines = self.response.iter_lines(chunk_size=None, decode_unicode=True)

    def events(self):
        event = {}
        for line in self.lines:
            if line == "":
                if "data" in event:
                    yield event
                event = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                event[field] = value[1:] if value.startswith(" ") else value

    def objects(self, n):
        """The next n objects and the id of the event that completed them."""
        got, last = [], None
        for event in self.events():
            assert event["event"] == "objects", event
            got.extend(json.loads(event["data"]).get("objects", []))
            last = event["id"]
            if len(got) >= n:
                break
        assert len(got) == n, (len(got), n)
        return got, last

    def close(self):
        self.response.close()


def live_push(operator, base, tiers):
    red = tiers["red"]
    url = f"{base}/crc/collections/{red}/stream/"
    position = {}

    @check("live push: requests streams the objects taxii2-client polls, in the same order")
    def same_objects():
        stream = EventStream(operator, url)
        result = {}

        def read():
            try:
                result["objects"], result["last"] = stream.objects(60)
            except Exception as e:  # surfaced by the assertion below
                result["error"] = e

        reader = threading.Thread(target=read)
        reader.start()
        for _ in range(3):
            operator.post(red, [indicator("GPS spoofing near the outer anchorage") for _ in range(20)])
        reader.join(timeout=120)
        stream.close()
        assert "error" not in result, result.get("error")
        assert "objects" in result, "the stream delivered nothing"
        polled = []
        collection = Collection(f"{base}/crc/collections/{red}/", conn=operator.conn())
        for envelope in as_pages(collection.get_objects, per_request=25):
            polled.extend(envelope.get("objects", []))
        assert [o["id"] for o in result["objects"]] == [o["id"] for o in polled]
        assert result["objects"] == polled
        position["last"] = result["last"]

    same_objects()

    @check("live push: reconnecting with Last-Event-ID gets exactly what was added meanwhile")
    def resume():
        missed = [indicator("added while disconnected") for _ in range(7)]
        operator.post(red, missed)
        stream = EventStream(operator, url, last_event_id=position["last"])
        got, _ = stream.objects(7)
        stream.close()
        assert [o["id"] for o in got] == [o["id"] for o in missed]

    resume()


if __name__ == "__main__":
    main()
