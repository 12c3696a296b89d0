"""The hub role over real HTTP on loopback (issue 9 §2): a hub instance, two CPO instances registering with it
through the credentials handshake, and lightweight platforms (one CPO, several eMSPs) recording what reaches
them. Direct routing with new request ids and the same correlation id, paging through the hub, a command whose
asynchronous result comes back through the hub, the hub errors 4000-4003, broadcast push and open routing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from app.hub import response_expiry
from tests.party_platform import PartyPlatform
from tests.recorder import ports
from tests.service import Instance, run, serving, wait_for

HUB = "/ocpi/2.2.1/hub"
EMSP_MODULES = [("locations", "RECEIVER"), ("tariffs", "RECEIVER"), ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"),
                ("tokens", "SENDER"), ("commands", "SENDER")]
CPO_MODULES = [("locations", "SENDER"), ("tariffs", "SENDER"), ("tokens", "RECEIVER"), ("commands", "RECEIVER")]


@dataclass
class Net:
    hub: Instance
    cpo1: Instance
    cpo2: Instance
    cpo: PartyPlatform
    """A lightweight CPO (NL*CPL) answering GETs and commands."""
    emsps: list[PartyPlatform]
    """NL*MS1, NL*MS2, NL*MS3."""
    gone: PartyPlatform
    """Registered, then stopped."""
    api_key: str


def ocpi(net: Net, platform: PartyPlatform, method: str, path: str, *, to: str | None = None,
         frm: str | None = None, body: Any = None, headers: dict[str, str] | None = None,
         token: str | None = None) -> httpx.Response:
    return platform.call(net.hub.url, method, path, to=to, frm=frm, body=body, headers=headers, token=token)


def code(r: httpx.Response) -> int:
    return int(r.json()["status_code"])


@pytest.fixture(scope="module")
def net(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("hub")
    cpo_port, *emsp_ports, gone_port = ports(1, 5, range(19300, 19400))  # stream H's range, else free ports
    cpo = PartyPlatform(cpo_port, "NL", "CPL", "CPO", CPO_MODULES,
                        locations=[{"id": f"LOC{i}", "country_code": "NL", "party_id": "CPL"} for i in range(5)])
    emsps = [PartyPlatform(port, "NL", f"MS{i + 1}", "EMSP", EMSP_MODULES) for i, port in enumerate(emsp_ports)]
    gone = PartyPlatform(gone_port, "NL", "GON", "EMSP", EMSP_MODULES)
    platforms = [cpo, *emsps, gone]
    for p in platforms:
        p.start()
    with serving((Instance(pg_admin_dsn, root, "hub", OCPI_ENGINE_REQUEST_TIMEOUT="2"),
                  [("party", "add", "NL", "HUB", "HUB", "--name", "The Hub")]),
                 (Instance(pg_admin_dsn, root, "cpo1"), [("party", "add", "NL", "CP1", "CPO", "--name", "CPO one")]),
                 (Instance(pg_admin_dsn, root, "cpo2"), [("party", "add", "NL", "CP2", "CPO", "--name", "CPO two")])
                 ) as (hub, cpo1, cpo2):
        for inst, party in ((cpo1, "NL/CP1/CPO"), (cpo2, "NL/CP2/CPO")):
            inst.cli("peer", "register", hub.versions_url, hub.invite(inst.name, party), "--label", "hub")
        for p in platforms:
            p.register(hub.url, hub.invite(p.party_id, p.party))
        gone.stop()
        hub.invite("planned", "NL/PLN/EMSP")
        key = hub.cli("apikey", "create", "--label", "test").stdout.strip()
        try:
            yield Net(hub, cpo1, cpo2, cpo, emsps, gone, key)
        finally:
            for p in (cpo, *emsps):
                p.stop()


def test_registration_through_the_hub_and_the_registry(net: Net) -> None:
    hub = net.hub
    r = httpx.get(f"{hub.url}/api/v1/hub/parties", headers={"Authorization": f"Bearer {net.api_key}"})
    assert r.status_code == 200
    status = {(e["country_code"], e["party_id"], e["role"]): e["status"] for e in r.json()}
    assert status == {("NL", "CP1", "CPO"): "CONNECTED", ("NL", "CP2", "CPO"): "CONNECTED",
                      ("NL", "CPL", "CPO"): "CONNECTED", ("NL", "MS1", "EMSP"): "CONNECTED",
                      ("NL", "MS2", "EMSP"): "CONNECTED", ("NL", "MS3", "EMSP"): "CONNECTED",
                      ("NL", "GON", "EMSP"): "CONNECTED", ("NL", "PLN", "EMSP"): "PLANNED"}
    listing = hub.cli("hub", "parties").stdout
    assert "NL*CP1" in listing and "PLANNED" in listing
    # The CPO instances found the hub's endpoints: both interfaces of every routed module, under /hub/.
    [row] = net.cpo1.query("SELECT endpoints FROM peers WHERE label = 'hub'")
    urls = {(e["identifier"], e["role"]): e["url"] for e in json.loads(row["endpoints"])}
    assert urls[("locations", "RECEIVER")] == f"{hub.url}{HUB}/receiver/locations"
    assert urls[("commands", "SENDER")] == f"{hub.url}{HUB}/sender/commands"
    assert ("locations", "SENDER") in urls and ("chargingprofiles", "RECEIVER") in urls


def test_get_routed_with_new_request_id_same_correlation_id_and_paging(net: Net) -> None:
    emsp = net.emsps[0]
    before = len(net.cpo.requests)
    r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations?limit=2", to="NL/CPL",
             headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})
    assert r.status_code == 200 and code(r) == 1000, r.text
    assert [loc["id"] for loc in r.json()["data"]] == ["LOC0", "LOC1"]
    assert r.headers["X-Total-Count"] == "5" and r.headers["X-Limit"] == "2"
    assert r.headers["X-Request-ID"] == "req-1" and r.headers["X-Correlation-ID"] == "corr-1"
    assert r.headers["OCPI-from-party-id"] == "CPL" and r.headers["OCPI-to-party-id"] == "MS1"
    assert r.headers["Link"] == f'<{net.hub.url}{HUB}/sender/locations?offset=2&limit=2>; rel="next"'
    [seen] = net.cpo.requests[before:]
    assert seen.headers["X-Request-ID"] != "req-1" and seen.headers["X-Correlation-ID"] == "corr-1"
    assert (seen.headers["OCPI-from-country-code"], seen.headers["OCPI-from-party-id"]) == ("NL", "MS1")
    assert (seen.headers["OCPI-to-country-code"], seen.headers["OCPI-to-party-id"]) == ("NL", "CPL")
    # Following the Links through the hub pages through everything.
    ids = [loc["id"] for loc in r.json()["data"]]
    while "Link" in r.headers:
        r = ocpi(net, emsp, "GET", r.headers["Link"].split(">")[0].lstrip("<"), to="NL/CPL")
        ids += [loc["id"] for loc in r.json()["data"]]
    assert ids == [f"LOC{i}" for i in range(5)]


def test_open_routing_of_a_get_goes_to_the_party_in_the_url(net: Net) -> None:
    r = ocpi(net, net.emsps[1], "GET", f"{HUB}/sender/locations/NL/CPL/LOC3")
    assert code(r) == 1000 and r.json()["data"]["id"] == "LOC3", r.text
    seen = net.cpo.requests[-1]
    assert seen.path == "/sender/locations/LOC3" and seen.headers["OCPI-to-party-id"] == "CPL"
    # Without OCPI-to and nothing in the URL to route by: 4001.
    r = ocpi(net, net.emsps[1], "GET", f"{HUB}/sender/locations")
    assert code(r) == 4001 and "cannot choose a receiver" in r.json()["status_message"]


def test_command_result_comes_back_through_the_hub(net: Net) -> None:
    emsp = net.emsps[0]
    own_url = f"{emsp.url}/results/cmd-42"
    body = {"response_url": own_url, "token": {"uid": "T1"}, "location_id": "LOC1"}
    r = ocpi(net, emsp, "POST", f"{HUB}/receiver/commands/START_SESSION", to="NL/CPL", body=body,
             headers={"X-Correlation-ID": "corr-cmd"})
    assert code(r) == 1000 and r.json()["data"]["result"] == "ACCEPTED", r.text
    sent = net.cpo.received("POST", "/receiver/commands/START_SESSION")[-1]
    assert sent.body["response_url"].startswith(f"{net.hub.url}{HUB}/responses/")
    assert sent.body["token"] == {"uid": "T1"} and sent.body["location_id"] == "LOC1"
    [result] = wait_for(lambda: emsp.received("POST", "/results/cmd-42"), 20, "the command result at the eMSP")
    assert result.body == {"result": "ACCEPTED"}
    assert (result.headers["OCPI-from-party-id"], result.headers["OCPI-to-party-id"]) == ("CPL", "MS1")
    assert result.header("X-Correlation-ID") == "corr-cmd"
    assert wait_for(lambda: net.cpo.results, 10, "the hub's answer to the CPO")[-1].json()["status_code"] == 1000
    # The hub answered 1000 once the result was durable: it went through the outbox, to the original URL.
    wait_for(lambda: [r["state"] for r in net.hub.query("SELECT state FROM outbox WHERE url = $1", own_url)]
             == ["DELIVERED"], 10, "the result's outbox row delivered")
    # Nobody else may post to that response URL.
    r = ocpi(net, net.emsps[1], "POST", sent.body["response_url"], body={"result": "REJECTED"})
    assert r.status_code == 404
    # A response_url the hub may never post to (outside the peer address policy) is refused before forwarding.
    before = len(net.cpo.received("POST", "/receiver/commands/START_SESSION"))
    for bad in ("http://10.9.8.7/results/1", "ftp://example.com/r"):
        r = ocpi(net, emsp, "POST", f"{HUB}/receiver/commands/START_SESSION", to="NL/CPL",
                 body={**body, "response_url": bad})
        assert code(r) == 2001 and "response_url refused" in r.json()["status_message"], r.text
    assert len(net.cpo.received("POST", "/receiver/commands/START_SESSION")) == before
    # Past OCPI_ENGINE_HUB_RESPONSE_TTL (a day) it is unknown even to its receiver, and the expiry deletes it.
    token = sent.body["response_url"].rsplit("/", 1)[1]
    net.hub.query("UPDATE hub_responses SET created_at = now() - interval '25 hours' WHERE token = $1", token)
    r = ocpi(net, net.cpo, "POST", sent.body["response_url"], body={"result": "ACCEPTED"})
    assert r.status_code == 404 and "unknown response URL" in r.text
    assert run(_expire(net.hub.dsn)) >= 1
    assert net.hub.query("SELECT token FROM hub_responses WHERE token = $1", token) == []


async def _expire(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await response_expiry.expire(conn, 86400)
    finally:
        await conn.close()


def test_hub_errors(net: Net) -> None:
    emsp = net.emsps[1]
    r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/XXX")
    assert code(r) == 4001 and "unknown receiver NL*XXX" in r.json()["status_message"]
    r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/PLN")
    assert code(r) == 4003 and "PLANNED" in r.json()["status_message"]
    r = ocpi(net, net.cpo, "PUT", f"{HUB}/receiver/locations/NL/CPL/LOC1", to="NL/GON", body={"id": "LOC1"})
    assert code(r) == 4003 and "cannot be reached" in r.json()["status_message"]
    r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/CPL", frm="NL/MS1")
    assert code(r) == 2001 and "not a party of your platform" in r.json()["status_message"]
    # A deny list: NL*CPL denies NL*MS2, so nothing goes between them, either way.
    out = net.hub.cli("hub", "deny", "NL/CPL", "NL/MS2").stdout
    rule_id = out.split()[1].rstrip(":")
    try:
        r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/CPL")
        assert code(r) == 4000 and "NL*CPL's deny list blocks NL*MS2" in r.json()["status_message"]
        r = ocpi(net, net.cpo, "PUT", f"{HUB}/receiver/locations/NL/CPL/LOC1", to="NL/MS2", body={"id": "LOC1"})
        assert code(r) == 4000 and "NL*CPL's deny list blocks NL*MS2" in r.json()["status_message"]
    finally:
        net.hub.cli("hub", "unrule", rule_id)
    assert code(ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/CPL")) == 1000
    # An allow list: once NL*CPL has one, only the parties on it may send to NL*CPL.
    rule_id = net.hub.cli("hub", "allow", "NL*CPL", "NL/MS1").stdout.split()[1].rstrip(":")
    try:
        assert "ALLOW  NL*MS1" in net.hub.cli("hub", "rules", "NL/CPL").stdout
        r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/CPL")
        assert code(r) == 4000 and "NL*MS2 is not on NL*CPL's allow list" in r.json()["status_message"]
        assert code(ocpi(net, net.emsps[0], "GET", f"{HUB}/sender/locations", to="NL/CPL")) == 1000
    finally:
        net.hub.cli("hub", "unrule", rule_id)
    bad = net.hub.cli("hub", "deny", "NL/CPLX", "NL/MS1", check=False)
    assert bad.returncode == 2 and "party id 'CPLX' must be three letters or digits" in bad.stderr
    # A receiver slower than the hub's request timeout (2 s): 4002.
    net.cpo.delay = 3
    try:
        r = ocpi(net, emsp, "GET", f"{HUB}/sender/locations", to="NL/CPL")
        assert code(r) == 4002 and "did not answer within 2 s" in r.json()["status_message"]
    finally:
        net.cpo.delay = 0


def test_broadcast_push_reaches_every_connected_emsp_but_a_denied_one(net: Net) -> None:
    # CPO1 is a real instance; the test speaks with its credentials for the hub.
    token = net.cpo1.token_out(net.cpo1.peer_id("hub"))
    ms1, ms2, ms3 = net.emsps
    r = httpx.post(f"{net.hub.url}/api/v1/hub/rules", headers={"Authorization": f"Bearer {net.api_key}"},
                   json={"party": "NL/MS3", "kind": "DENY", "other": "NL/CP1"})
    assert r.status_code == 201, r.text
    location = {"id": "LOC9", "country_code": "NL", "party_id": "CP1", "last_updated": "2026-01-01T00:00:00Z"}
    try:
        r = ocpi(net, ms1, "PUT", f"{HUB}/receiver/locations/NL/CP1/LOC9", to="NL/HUB", frm="NL/CP1",
                 body=location, token=token)
        # Queued (durably, before the answer) for every registered eMSP: MS1, MS2 and GON (down: OFFLINE or not,
        # its queue is what it gets when it answers again); not for MS3, which denies CP1, nor for any CPO.
        assert code(r) == 1000 and "broadcast to 3 parties" in r.json()["status_message"], r.text
        queued = net.hub.query("""SELECT to_party_id, from_party_id FROM outbox WHERE path = '/NL/CP1/LOC9'
                                  AND method = 'PUT' ORDER BY to_party_id""")
        assert [(q["to_party_id"], q["from_party_id"]) for q in queued] == [("GON", "HUB"), ("MS1", "HUB"), ("MS2", "HUB")]
        assert (r.headers["OCPI-from-party-id"], r.headers["OCPI-to-party-id"]) == ("HUB", "CP1")
        for emsp in (ms1, ms2):
            [got] = wait_for(lambda e=emsp: e.received("PUT", "/receiver/locations/NL/CP1/LOC9"), 20, "the broadcast")
            assert got.body == location
            assert (got.headers["OCPI-from-party-id"], got.headers["OCPI-to-party-id"]) == ("HUB", emsp.party_id)
        # Open routing of a push of locations is a broadcast too.
        r = ocpi(net, ms1, "PATCH", f"{HUB}/receiver/locations/NL/CP1/LOC9", frm="NL/CP1",
                 body={"last_updated": "2026-01-01T00:01:00Z"}, token=token)
        assert code(r) == 1000, r.text
        wait_for(lambda: ms2.received("PATCH", "/receiver/locations/NL/CP1/LOC9"), 20, "the open-routed broadcast")
        assert not ms3.received(prefix="/receiver/locations/NL/CP1")
        assert not net.cpo.received(prefix="/receiver/locations/NL/CP1")
        # A broadcast carries the sender's own objects; a GET of one object, sessions and CDRs are never broadcast.
        r = ocpi(net, ms1, "PUT", f"{HUB}/receiver/locations/NL/CPL/LOC1", to="NL/HUB", frm="NL/CP1", body={}, token=token)
        assert code(r) == 2001
        for method, path in (("GET", "sender/locations/NL/CPL/LOC1"), ("PUT", "receiver/sessions/NL/CP1/S1")):
            r = ocpi(net, ms1, method, f"{HUB}/{path}", to="NL/HUB", frm="NL/CP1", token=token,
                     body=None if method == "GET" else {})
            assert code(r) == 2001, r.text
        r = ocpi(net, ms1, "PUT", f"{HUB}/receiver/sessions/NL/CP1/S1", frm="NL/CP1", token=token, body={})
        assert code(r) == 4001
    finally:
        rule_id = r_id(net, "NL/MS3")
        assert httpx.delete(f"{net.hub.url}/api/v1/hub/rules/{rule_id}",
                            headers={"Authorization": f"Bearer {net.api_key}"}).status_code == 204


def r_id(net: Net, party: str) -> int:
    r = httpx.get(f"{net.hub.url}/api/v1/hub/rules", params={"party": party},
                  headers={"Authorization": f"Bearer {net.api_key}"})
    return int(r.json()[0]["id"])
