"""A peer is only the parties the operator let in (issue 7 §1), over real HTTP between instances on loopback:
admitted parties on credentials POST/PUT and `peer register`, changing them from the CLI, one winner among
concurrent credentials calls, local revocation in every worker, objects that follow their party into a new
registration, the peer address policy (no proxy), and pulls that say who they are from and to."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.ocpi.auth import authorization_header
from app.peer_addresses import AddressPolicy, AddressRefused, parse_networks
from tests.service import Instance, free_port, serving, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
V = "/ocpi/2.2.1"


def roles(*parties: str) -> list[dict[str, Any]]:
    return [{"role": p.split("/")[2], "country_code": p.split("/")[0], "party_id": p.split("/")[1],
             "business_details": {"name": p}} for p in parties]


def status(r: httpx.Response) -> tuple[int, int, str]:
    body = r.json()
    return r.status_code, body["status_code"], body.get("status_message", "")


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    """`hub` hosts our eMSP NL*MSP (and a CPO NL*HUB); `other` is a second platform whose server answers the
    registration callbacks (its versions open to a client token of its own)."""
    root = tmp_path_factory.mktemp("trust")
    with serving((Instance(pg_admin_dsn, root, "hub"), [("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility"),
                                                         ("party", "add", "NL", "HUB", "CPO", "--name", "Our CPO")]),
                 (Instance(pg_admin_dsn, root, "other", workers=2),
                  [("party", "add", "NL", "OTH", "CPO", "--name", "Other CPO")])) as (hub, other):
        yield hub, other


def callback(other: Instance, label: str) -> dict[str, str]:
    """What a registering peer puts in its credentials: a token our calls back to it are accepted with."""
    return {"token": other.client_token(label, [("XX", label[:3].upper(), "OTHER")]), "url": other.versions_url}


def credentials(hub: Instance, method: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.request(method, f"{hub.url}{V}/credentials", json=body, timeout=30,
                         headers={"Authorization": authorization_header(token)})


def peer_row(hub: Instance, label: str) -> dict[str, Any]:
    [row] = hub.query("""SELECT p.id, p.status, (SELECT array_agg(country_code || '/' || party_id || '/' || role ORDER BY 1)
                         FROM peer_parties WHERE peer_id = p.id) AS parties FROM peers p WHERE label = $1""", label)
    return dict(row)


def test_credentials_may_list_only_admitted_parties(pair: tuple[Instance, Instance]) -> None:
    hub, other = pair
    token_a = hub.invite("admitted", "NL/NEW/EMSP")
    back = callback(other, "adm")
    for claimed, words in ((["NL/NEW/EMSP", "NL/AAA/EMSP"], "not admitted for this peer: NL*AAA/EMSP (admitted: NL*NEW/EMSP"),
                           (["NL/NEW/CPO"], "not admitted for this peer: NL*NEW/CPO"),
                           (["NL/MSP/EMSP"], "hosted by this deployment, never by a peer: NL*MSP")):
        http, code, message = status(credentials(hub, "POST", token_a, {**back, "roles": roles(*claimed)}))
        assert (http, code) == (200, 2001) and "nothing changed" in message and words in message, message
        # Nothing changed: still invited, token A still opens versions, no party held.
        assert peer_row(hub, "admitted") == {**peer_row(hub, "admitted"), "status": "INVITED", "parties": None}
        assert httpx.get(hub.versions_url, headers={"Authorization": authorization_header(token_a)}).status_code == 200
    r = credentials(hub, "POST", token_a, {**back, "roles": roles("NL/NEW/EMSP")})
    assert status(r)[:2] == (200, 1000)
    token_c = r.json()["data"]["token"]
    assert peer_row(hub, "admitted")["parties"] == ["NL/NEW/EMSP"]
    # A registered peer cannot add a party with PUT either, and its token keeps working after the refusal.
    http, code, message = status(credentials(hub, "PUT", token_c, {**back, "roles": roles("NL/NEW/EMSP", "NL/AAB/EMSP")}))
    assert (http, code) == (200, 2001) and "NL*AAB/EMSP" in message
    assert status(credentials(hub, "GET", token_c, {}))[:2] == (200, 1000)
    assert peer_row(hub, "admitted")["parties"] == ["NL/NEW/EMSP"]
    # A party held by a registered peer cannot be invited for, nor claimed by an any-party peer.
    r = hub.cli("peer", "invite", "--party", "NL/NEW/EMSP", check=False)
    assert r.returncode == 2 and "held by another registered peer: NL*NEW" in r.stderr
    any_a = hub.cli("peer", "invite", "--label", "anything", "--any-party").stdout.split("token A:")[1].split()[0]
    http, code, message = status(credentials(hub, "POST", any_a, {**callback(other, "any"), "roles": roles("NL/NEW/CPO")}))
    assert (http, code) == (200, 2001) and "held by another registered peer: NL*NEW" in message
    assert "ANY-PARTY(!)" in next(line for line in hub.cli("peer", "list").stdout.splitlines() if "anything" in line)
    r = hub.cli("peer", "invite", "--party", "NL/NEWW/EMSP", check=False)
    assert r.returncode == 2 and "three letters or digits" in r.stderr


def test_operator_changes_a_peers_parties(pair: tuple[Instance, Instance]) -> None:
    hub, _ = pair
    token = hub.client_token("changed", [("DE", "CHA", "CPO")])
    peer_id = str(hub.peer_id("changed"))
    location = {**json.loads((DEMO / "locations.json").read_text())[0], "country_code": "DE", "party_id": "CHB", "id": "CH-1"}
    url = f"{hub.url}{V}/receiver/locations/DE/CHB/CH-1"
    headers = {"Authorization": authorization_header(token)}
    assert httpx.put(url, json=location, headers=headers).status_code == 404
    out = hub.cli("peer", "parties", peer_id, "--add", "DE/CHB/CPO").stdout
    assert "admitted DE*CHA/CPO, DE*CHB/CPO" in out and "holds DE*CHA/CPO, DE*CHB/CPO" in out
    assert status(httpx.put(url, json=location, headers=headers))[:2] == (201, 1000)  # at once, in the running server
    hub.cli("peer", "parties", peer_id, "--remove", "DE/CHB/CPO")
    assert status(httpx.put(url, json=location, headers=headers))[:2] == (404, 2000)
    r = hub.cli("party", "add", "DE", "CHA", "EMSP", "--name", "Taken", check=False)
    assert r.returncode == 2 and f"DE*CHA is held by registered peer {peer_id}" in r.stderr
    r = hub.cli("peer", "parties", peer_id, "--add", "NL/HUB/EMSP", check=False)
    assert r.returncode == 2 and "hosted by this deployment" in r.stderr
    assert hub.cli("peer", "parties", "999", "--add", "DE/CHC/CPO", check=False).returncode == 2


def _concurrently(n: int, fn: Any) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        return list(await asyncio.gather(*(asyncio.to_thread(fn) for _ in range(n))))

    return asyncio.run(go())


def test_concurrent_credentials_calls_leave_one_winner(pair: tuple[Instance, Instance]) -> None:
    hub, other = pair
    token_a = hub.invite("racer", "NL/RAC/EMSP")
    body = {**callback(other, "rac"), "roles": roles("NL/RAC/EMSP")}
    posts = _concurrently(10, lambda: credentials(hub, "POST", token_a, body))
    winners = [r for r in posts if r.json()["status_code"] == 1000]
    assert len(winners) == 1, [status(r) for r in posts]
    for r in posts:
        if r is not winners[0]:
            assert status(r)[:2] in ((405, 2000), (401, 2000)), status(r)
    token = winners[0].json()["data"]["token"]
    puts = _concurrently(10, lambda: credentials(hub, "PUT", token, body))
    winners = [r for r in puts if r.json()["status_code"] == 1000]
    assert len(winners) == 1, [status(r) for r in puts]
    assert all(status(r)[:2] == (401, 2000) for r in puts if r is not winners[0])
    # The winner's token is the one that works; the peer holds its party once.
    newest = winners[0].json()["data"]["token"]
    assert status(credentials(hub, "GET", newest, {}))[:2] == (200, 1000)
    assert credentials(hub, "GET", token, {}).status_code == 401
    assert peer_row(hub, "racer") == {**peer_row(hub, "racer"), "status": "REGISTERED", "parties": ["NL/RAC/EMSP"]}


def test_revoke_is_immediate_in_every_worker(pair: tuple[Instance, Instance]) -> None:
    _, other = pair  # two workers
    dead_end = [{"identifier": "credentials", "role": "SENDER", "url": f"http://127.0.0.1:{free_port()}/credentials"},
                {"identifier": "locations", "role": "RECEIVER", "url": f"http://127.0.0.1:{free_port()}/locations"}]
    token = other.client_token("gone", [("DE", "GON", "EMSP")], endpoints=dead_end)
    peer_id = other.peer_id("gone")
    other.query("""INSERT INTO outbox (peer_id, module, method, path, from_country_code, from_party_id, to_country_code,
                   to_party_id, next_attempt_at) VALUES ($1, 'locations', 'PUT', '/NL/OTH/L1', 'NL', 'OTH', 'DE', 'GON',
                   now() + interval '1 hour')""", peer_id)
    url = f"{other.url}{V}/sender/locations?limit=1"
    headers = {"Authorization": authorization_header(token)}
    assert {httpx.get(url, headers=headers).status_code for _ in range(20)} == {200}  # cached in both workers
    r = other.cli("peer", "unregister", str(peer_id), check=False)
    assert r.returncode == 1 and f"ocpi-engine peer revoke {peer_id}" in r.stderr, r.stderr
    assert httpx.get(url, headers=headers).status_code == 200  # an unreachable peer stays until revoked
    assert "revoked here" in other.cli("peer", "revoke", str(peer_id)).stdout
    assert {httpx.get(url, headers=headers).status_code for _ in range(40)} == {401}
    assert other.query("SELECT status FROM peers WHERE id = $1", peer_id)[0]["status"] == "UNREGISTERED"
    assert [r["state"] for r in other.query("SELECT state FROM outbox WHERE peer_id = $1", peer_id)] == ["DEAD"]


# --- objects belong to parties: a CPO comes back through a new registration -----------------------

@pytest.fixture(scope="module")
def platforms(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    root = tmp_path_factory.mktemp("comeback")
    with serving((Instance(pg_admin_dsn, root, "cpo"), [("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")]),
                 (Instance(pg_admin_dsn, root, "emsp"), [("party", "add", "NL", "MSP", "EMSP", "--name", "MSP")])) as (cpo, emsp):
        yield cpo, emsp


def test_register_refuses_parties_the_operator_did_not_name(platforms: tuple[Instance, Instance]) -> None:
    cpo, emsp = platforms
    token_a = emsp.invite("wrong", "NL/EXA/CPO")
    r = cpo.cli("peer", "register", "--label", "wrong", "--party", "NL/MSQ/EMSP", "--", emsp.versions_url, token_a,
                check=False)
    assert r.returncode == 1 and "not admitted for this peer: NL*MSP/EMSP" in r.stderr, r.stderr
    # Ended on both sides: our row is unregistered, the peer's registration was deleted with the token it gave us.
    assert cpo.query("SELECT status FROM peers WHERE label = 'wrong'")[0]["status"] == "UNREGISTERED"
    assert emsp.query("SELECT status FROM peers WHERE label = 'wrong'")[0]["status"] == "UNREGISTERED"


def _register(cpo: Instance, emsp: Instance, label: str) -> None:
    token_a = emsp.invite(label, "NL/EXA/CPO")
    out = cpo.cli("peer", "register", "--label", label, "--party", "NL/MSP/EMSP", "--", emsp.versions_url, token_a).stdout
    assert "NL*MSP (EMSP)" in out


def test_a_party_keeps_its_objects_through_a_new_registration(platforms: tuple[Instance, Instance], tmp_path: Path) -> None:
    cpo, emsp = platforms
    _register(cpo, emsp, "first")
    locations = json.loads((DEMO / "locations.json").read_text())[:2]
    (tmp_path / "two.json").write_text(json.dumps(locations))
    cpo.cli("import", "locations", str(tmp_path / "two.json"), "--no-progress")
    first = emsp.peer_id("first")
    wait_for(lambda: len(emsp.query("SELECT 1 FROM locations WHERE peer_id = $1", first)) == 2, what="pushed locations")
    assert "unregistered" in cpo.cli("peer", "unregister", str(cpo.peer_id("first"))).stdout
    assert emsp.query("SELECT status FROM peers WHERE id = $1", first)[0]["status"] == "UNREGISTERED"

    _register(cpo, emsp, "second")
    second = emsp.peer_id("second")
    assert second != first
    # The stored objects followed NL*EXA to its new registration.
    assert {r["peer_id"] for r in emsp.query("SELECT peer_id FROM locations")} == {second}
    location, evse = locations[0]["id"], locations[0]["evses"][0]["uid"]
    cpo.cli("evse-status", location, evse, "OUTOFORDER")
    wait_for(lambda: cpo.query("SELECT 1 FROM outbox WHERE id = (SELECT max(id) FROM outbox) AND state <> 'PENDING'"),
             what="the status push")
    [last] = cpo.query("SELECT state, last_error FROM outbox ORDER BY id DESC LIMIT 1")
    assert last["state"] == "DELIVERED", last["last_error"]
    stored = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = $1", location)[0]["d"])
    assert next(e for e in stored["evses"] if e["uid"] == evse)["status"] == "OUTOFORDER"


def test_a_rotation_reply_with_parties_not_admitted(platforms: tuple[Instance, Instance]) -> None:
    cpo, emsp = platforms
    emsp.cli("party", "add", "NL", "MSQ", "EMSP", "--name", "Second eMSP")
    peer_id = cpo.peer_id("second")
    r = cpo.cli("peer", "update", str(peer_id), check=False)
    assert r.returncode == 1 and "not admitted for this peer: NL*MSQ/EMSP" in r.stderr, r.stderr
    # The exchange happened at the peer, so the new tokens stay in use both ways; the parties stay as they were.
    ours = cpo.token_out(peer_id)
    theirs = emsp.token_out(emsp.peer_id("second"))
    assert httpx.get(emsp.versions_url, headers={"Authorization": authorization_header(ours)}).status_code == 200
    assert httpx.get(cpo.versions_url, headers={"Authorization": authorization_header(theirs)}).status_code == 200
    assert [r["party_id"] for r in cpo.query("SELECT party_id FROM peer_parties WHERE peer_id = $1", peer_id)] == ["MSP"]


# --- outgoing calls: the peer address policy, no proxy ----------------------------------------------

class _Page(BaseHTTPRequestHandler):
    """A server on loopback that is not an OCPI peer: an internal page, or a recorder of what we send."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        _Page.seen.append(dict(self.headers.items()))
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/internal"):
            body = b"INTERNAL-ONLY status page: db password hunter2"
        elif self.path.startswith("/versions-"):  # OCPI-shaped, pointing further into the network
            versions = [{"version": "2.2.1", "url": f"{base}/internal-hunter2"}, {"version": "hunter2", "url": base}]
            if self.path == "/versions-old":
                versions = versions[1:]
            body = json.dumps({"data": versions, "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}).encode()
        else:
            body = json.dumps({"data": [], "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_registration_calls_are_not_a_proxy(pair: tuple[Instance, Instance], page: str) -> None:
    hub, _ = pair
    token_a = hub.invite("prober", "NL/PRB/EMSP")
    messages = []
    for url in (f"{page}/internal", f"http://127.0.0.1:{free_port()}/closed", "http://no-such-host.invalid/versions"):
        http, code, message = status(credentials(hub, "POST", token_a, {"token": "t0000000001", "url": url,
                                                                        "roles": roles("NL/PRB/EMSP")}))
        assert (http, code) == (200, 3001)
        messages.append(message.replace(url, "URL"))
    assert "hunter2" not in messages[0] and "INTERNAL" not in messages[0]
    assert len(set(messages)) == 1, messages  # an open port, a closed one and no host read the same
    assert "hunter2" not in hub.log_path.read_text()  # the body is not logged either
    # Neither a URL nor a version string read from an answer is repeated to the caller.
    for url, code in ((f"{page}/versions-new", 3001), (f"{page}/versions-old", 3002)):
        r = credentials(hub, "POST", token_a, {"token": "t0000000001", "url": url, "roles": roles("NL/PRB/EMSP")})
        assert status(r)[:2] == (200, code) and "hunter2" not in r.text, r.text


def test_private_addresses_need_the_operator(pg_admin_dsn: str, tmp_path: Path, page: str) -> None:
    strict = Instance(pg_admin_dsn, tmp_path, "strict", OCPI_ENGINE_ALLOWED_PEER_NETWORKS="")
    try:
        strict.cli("party", "add", "NL", "STR", "CPO", "--name", "Strict")
        strict.start()
        token_a = strict.invite("loop", "NL/LOO/EMSP")
        http, code, message = status(credentials(strict, "POST", token_a, {
            "token": "t0000000001", "url": strict.versions_url, "roles": roles("NL/LOO/EMSP")}))
        assert (http, code) == (200, 3001) and "not allowed by our peer address policy" in message
        assert strict.query("SELECT status FROM peers WHERE label = 'loop'")[0]["status"] == "INVITED"
        r = strict.cli("peer", "register", f"{page}/versions", "token-a-000001", check=False)
        assert r.returncode == 1 and "outside the allowed peer networks" in r.stderr, r.stderr  # the operator's detail
    finally:
        strict.drop()
    bad = Instance(pg_admin_dsn, tmp_path, "badnet", OCPI_ENGINE_ALLOWED_PEER_NETWORKS="10.0.0.0/33")
    try:
        r = bad.cli("party", "list", check=False)
        assert r.returncode != 0 and "'10.0.0.0/33' is not an IP network" in r.stderr
    finally:
        bad.drop()


def test_address_policy() -> None:
    public = AddressPolicy()
    allowed = AddressPolicy(parse_networks("10.1.0.0/16, ::1/128"))

    def refused(policy: AddressPolicy, url: str) -> bool:
        try:
            asyncio.run(policy.check(url))
        except AddressRefused:
            return True
        return False

    for url in ("http://127.0.0.1:8000/v", "http://10.1.2.3/v", "http://169.254.169.254/latest", "http://[::1]/v",
                "http://[::ffff:127.0.0.1]/v", "http://192.168.1.1/v", "http://0.0.0.0/v", "http://localhost/v",
                "ftp://8.8.8.8/v", "http://[fe80::1]/v"):
        assert refused(public, url), url
    assert not refused(public, "https://8.8.8.8/ocpi/versions")
    assert not refused(allowed, "http://10.1.2.3/v") and not refused(allowed, "http://[::1]:9/v")
    assert refused(allowed, "http://10.2.0.1/v")
    with pytest.raises(ValueError, match="'nope' is not an IP network"):
        parse_networks("10.0.0.0/8,nope")


def test_pull_says_whom_it_is_from_and_to(pair: tuple[Instance, Instance], page: str) -> None:
    hub, _ = pair
    hub.client_token("pulled", [("BE", "PUL", "CPO")],
                     endpoints=[{"identifier": "locations", "role": "SENDER", "url": f"{page}/locations"}])
    _Page.seen.clear()
    out = hub.cli("pull", "locations", str(hub.peer_id("pulled"))).stdout
    assert "0 locations stored from 1 pages" in out
    [headers] = _Page.seen
    lower = {k.lower(): v for k, v in headers.items()}
    assert (lower["ocpi-to-country-code"], lower["ocpi-to-party-id"]) == ("BE", "PUL")
    assert (lower["ocpi-from-country-code"], lower["ocpi-from-party-id"]) == ("NL", "MSP")
