"""Parties behind a hub, at a CPO deployment (issue 9 §2, contract §4): the hubclientinfo Receiver, a hub peer
acting only for the parties its ClientInfo lists, sessions/CDRs and real-time authorization reaching an eMSP through
the hub, and locations broadcast to the hub. The hub and a directly connected eMSP are lightweight recorders."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.charging.authorization import Authorized, Authorizer, Request
from app.charging.settings import ChargingSettings
from app.ocpi.auth import authorization_header
from app.ocpi.client import OcpiClient
from app.peer_addresses import AddressPolicy, parse_networks
from tests.cdr_samples import demo_cdr
from tests.recorder import Recorder, on_port, ports
from tests.service import Instance, serving, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
V = "/ocpi/2.2.1"
STAMP = "2026-03-01T10:00:00Z"
MODULES = [("cdrs", "RECEIVER"), ("sessions", "RECEIVER"), ("locations", "RECEIVER"), ("tariffs", "RECEIVER"),
           ("tokens", "SENDER")]


class Setup:
    def __init__(self, cpo: Instance, hub: Recorder, direct: Recorder) -> None:
        self.cpo, self.hub, self.direct = cpo, hub, direct
        self.hub_token = cpo.client_token("hub", [("NL", "HUB", "HUB")], endpoints=hub.endpoints(*MODULES))
        self.direct_token = cpo.client_token("direct", [("NL", "DIR", "EMSP")], endpoints=direct.endpoints(*MODULES))
        self.hub_id, self.direct_id = cpo.peer_id("hub"), cpo.peer_id("direct")


def call(node: Instance, token: str, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else None
    return httpx.request(method, f"{node.url}{V}{path}", content=content, timeout=10, headers={
        "Authorization": authorization_header(token), "Content-Type": "application/json", **headers})


def info(cc: str, pid: str, role: str, status: str) -> dict[str, str]:
    return {"country_code": cc, "party_id": pid, "role": role, "status": status, "last_updated": STAMP}


def token_doc(cc: str, pid: str, uid: str, whitelist: str = "ALLOWED") -> dict[str, Any]:
    return {"country_code": cc, "party_id": pid, "uid": uid, "type": "RFID", "contract_id": f"{cc}-{pid}-1",
            "issuer": "x", "valid": True, "whitelist": whitelist, "last_updated": STAMP}


def frm(cc: str, pid: str) -> dict[str, str]:
    return {"OCPI-from-country-code": cc, "OCPI-from-party-id": pid, "OCPI-to-country-code": "NL",
            "OCPI-to-party-id": "EXA"}


@pytest.fixture(scope="module")
def setup(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    cpo_port, hub_port, direct_port = ports(0, 3)
    hub, direct = Recorder(hub_port), Recorder(direct_port)
    cpo = on_port(Instance(pg_admin_dsn, tmp_path_factory.mktemp("behind"), "cpo"), cpo_port)
    try:
        with serving((cpo, [("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")])):
            s = Setup(cpo, hub, direct)
            # What the hub tells us: an eMSP behind it, one it suspended, and ourselves.
            for cc, pid, role, status in (("NL", "MSP", "EMSP", "CONNECTED"), ("NL", "SUS", "EMSP", "SUSPENDED"),
                                          ("NL", "EXA", "CPO", "CONNECTED")):
                r = call(cpo, s.hub_token, "PUT", f"/receiver/hubclientinfo/{cc}/{pid}", info(cc, pid, role, status))
                assert r.status_code == 201, r.text
            yield s
    finally:
        hub.close()
        direct.close()


def test_version_details_list_the_hubclientinfo_receiver(setup: Setup) -> None:
    r = call(setup.cpo, setup.direct_token, "GET", "")
    ids = {(e["identifier"], e["role"]) for e in r.json()["data"]["endpoints"]}
    assert ("hubclientinfo", "RECEIVER") in ids and ("hubclientinfo", "SENDER") not in ids


def test_clientinfo_receiver_stores_what_the_hub_pushes(setup: Setup) -> None:
    cpo, hub = setup.cpo, setup.hub_token
    again = call(cpo, hub, "PUT", "/receiver/hubclientinfo/NL/MSP", info("NL", "MSP", "EMSP", "CONNECTED"))
    assert again.status_code == 200 and again.json()["status_code"] == 1000
    got = call(cpo, hub, "GET", "/receiver/hubclientinfo/nl/msp").json()
    assert got["status_code"] == 1000 and got["data"] == info("NL", "MSP", "EMSP", "CONNECTED")
    assert call(cpo, hub, "GET", "/receiver/hubclientinfo/NL/ZZZ").status_code == 404
    mismatch = call(cpo, hub, "PUT", "/receiver/hubclientinfo/NL/MSP", info("NL", "OTH", "EMSP", "CONNECTED"))
    assert mismatch.json()["status_code"] == 2001 and "party_id" in mismatch.json()["status_message"]
    bad = call(cpo, hub, "PUT", "/receiver/hubclientinfo/NL/MSP", {**info("NL", "MSP", "EMSP", "GONE")})
    assert bad.json()["status_code"] == 2001
    # Only a hub may push ClientInfo: a direct eMSP cannot make itself reachable for others.
    refused = call(cpo, setup.direct_token, "PUT", "/receiver/hubclientinfo/NL/XYZ", info("NL", "XYZ", "EMSP", "CONNECTED"))
    assert refused.status_code == 404 and "HUB" in refused.json()["status_message"]
    assert not cpo.query("SELECT 1 FROM hub_clients WHERE party_id = 'XYZ'")


def test_a_hub_acts_only_for_the_parties_it_lists(setup: Setup) -> None:
    cpo, hub = setup.cpo, setup.hub_token
    ok = call(cpo, hub, "PUT", "/receiver/tokens/NL/MSP/HUB-T1?type=RFID", token_doc("NL", "MSP", "HUB-T1"), **frm("NL", "MSP"))
    assert ok.status_code in (200, 201), ok.text
    assert cpo.query("SELECT peer_id FROM tokens WHERE id = 'HUB-T1'")[0]["peer_id"] == setup.hub_id
    # A broadcast names the hub itself in OCPI-from; the token still belongs to the party of the URL.
    broadcast = call(cpo, hub, "PUT", "/receiver/tokens/NL/MSP/HUB-T2?type=RFID", token_doc("NL", "MSP", "HUB-T2"),
                     **frm("NL", "HUB"))
    assert broadcast.status_code in (200, 201), broadcast.text
    for pid in ("SUS", "ZZZ"):  # suspended, never listed: neither its name in OCPI-from nor its objects
        named = call(cpo, hub, "PUT", f"/receiver/tokens/NL/{pid}/HUB-T3?type=RFID", token_doc("NL", pid, "HUB-T3"),
                     **frm("NL", pid))
        assert named.json()["status_code"] == 2001 and f"NL*{pid} is not a EMSP party" in named.text
        unnamed = call(cpo, hub, "PUT", f"/receiver/tokens/NL/{pid}/HUB-T3?type=RFID", token_doc("NL", pid, "HUB-T3"))
        assert unnamed.status_code == 404, unnamed.text
    lying = call(cpo, hub, "PUT", "/receiver/tokens/NL/MSP/HUB-T4?type=RFID", token_doc("NL", "MSP", "HUB-T4"), **frm("NL", "ZZZ"))
    assert lying.json()["status_code"] == 2001
    # Our own party, which the hub lists too, is never the hub's to act for.
    ours = call(cpo, hub, "GET", "/sender/locations", **{"OCPI-from-country-code": "NL", "OCPI-from-party-id": "EXA"})
    assert ours.json()["status_code"] == 2001 and "NL*EXA is not a" in ours.text
    # Reading for an eMSP it lists is what a hub is for.
    theirs = call(cpo, hub, "GET", "/sender/locations", **{"OCPI-from-country-code": "NL", "OCPI-from-party-id": "MSP"})
    assert theirs.status_code == 200 and theirs.json()["status_code"] == 1000
    assert not cpo.query("SELECT 1 FROM tokens WHERE id IN ('HUB-T3', 'HUB-T4')")


def test_a_direct_peers_rules_are_unchanged(setup: Setup) -> None:
    cpo, direct = setup.cpo, setup.direct_token
    own = call(cpo, direct, "PUT", "/receiver/tokens/NL/DIR/D-1?type=RFID", token_doc("NL", "DIR", "D-1"), **frm("NL", "DIR"))
    assert own.status_code in (200, 201), own.text
    other = call(cpo, direct, "PUT", "/receiver/tokens/NL/MSP/D-2?type=RFID", token_doc("NL", "MSP", "D-2"))
    assert other.status_code == 404
    as_hub = call(cpo, direct, "PUT", "/receiver/tokens/NL/DIR/D-3?type=RFID", token_doc("NL", "DIR", "D-3"), **frm("NL", "HUB"))
    assert as_hub.json()["status_code"] == 2001


def test_cdrs_and_sessions_reach_an_emsp_through_its_hub(setup: Setup) -> None:
    cpo = setup.cpo
    cdrs = [demo_cdr("CDR-HUB", ("NL", "MSP")), demo_cdr("CDR-DIRECT", ("NL", "DIR")),
            demo_cdr("CDR-SUSPENDED", ("NL", "SUS"))]
    (cpo.data_dir / "cdrs.json").write_text(json.dumps(cdrs))
    cpo.cli("import", "cdrs", str(cpo.data_dir / "cdrs.json"), "--no-progress")
    session = {"country_code": "NL", "party_id": "EXA", "id": "S-HUB", "start_date_time": STAMP, "kwh": 1.5,
               "cdr_token": {"country_code": "NL", "party_id": "MSP", "uid": "T1", "type": "RFID", "contract_id": "C1"},
               "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR",
               "status": "ACTIVE", "last_updated": STAMP}
    (cpo.data_dir / "sessions.json").write_text(json.dumps([session]))
    cpo.cli("import", "sessions", str(cpo.data_dir / "sessions.json"), "--no-progress")

    posted = wait_for(lambda: setup.hub.requests("POST", "/cdrs/"), 30, "the CDR at the hub")
    assert [s.json()["id"] for s in posted] == ["CDR-HUB"]
    head = posted[0].headers
    assert (head["ocpi-to-country-code"], head["ocpi-to-party-id"]) == ("NL", "MSP")
    assert (head["ocpi-from-country-code"], head["ocpi-from-party-id"]) == ("NL", "EXA")
    put = wait_for(lambda: setup.hub.requests("PUT", "/sessions/"), 30, "the session at the hub")
    assert put[0].path.endswith("/NL/EXA/S-HUB") and put[0].headers["ocpi-to-party-id"] == "MSP"
    direct = wait_for(lambda: setup.direct.requests("POST", "/cdrs/"), 30, "the CDR at the direct eMSP")
    assert [s.json()["id"] for s in direct] == ["CDR-DIRECT"]
    # A suspended party is reached by nobody: no push queued at all.
    rows = cpo.query("SELECT peer_id, to_party_id FROM outbox WHERE module = 'cdrs' ORDER BY id")
    assert [(r["peer_id"], r["to_party_id"]) for r in rows] == [(setup.hub_id, "MSP"), (setup.direct_id, "DIR")]


def test_locations_are_broadcast_to_the_hub(setup: Setup) -> None:
    cpo = setup.cpo
    doc = {**json.loads((DEMO / "locations.json").read_text())[0], "id": "LOC-BCAST", "last_updated": STAMP}
    (cpo.data_dir / "loc.json").write_text(json.dumps([doc]))
    cpo.cli("import", "locations", str(cpo.data_dir / "loc.json"), "--no-progress")
    at_hub = wait_for(lambda: setup.hub.requests("PUT", "/locations/receiver/NL/EXA/LOC-BCAST"), 30, "the hub")
    assert (at_hub[0].headers["ocpi-to-country-code"], at_hub[0].headers["ocpi-to-party-id"]) == ("NL", "HUB")
    at_direct = wait_for(lambda: setup.direct.requests("PUT", "/locations/receiver/NL/EXA/LOC-BCAST"), 30, "the eMSP")
    assert at_direct[0].headers["ocpi-to-party-id"] == "DIR"


def test_realtime_authorization_asks_an_emsp_through_its_hub(setup: Setup) -> None:
    cpo, hub = setup.cpo, setup.hub_token
    r = call(cpo, hub, "PUT", "/receiver/tokens/NL/MSP/RT-1?type=RFID", token_doc("NL", "MSP", "RT-1", "NEVER"),
             **frm("NL", "MSP"))
    assert r.status_code in (200, 201), r.text

    async def go() -> object:
        pool = await asyncpg.create_pool(cpo.dsn, min_size=1, max_size=2)
        client = OcpiClient(5.0, AddressPolicy(parse_networks("127.0.0.0/8")))
        try:
            authorizer = Authorizer(pool, cpo.vault, client, ChargingSettings.from_env({}))
            return (await authorizer.authorize_all([Request("RT-1", "RFID", ("NL", "EXA"), "LOC1", "E1")]))[0]
        finally:
            await client.aclose()
            await pool.close()

    decided = asyncio.run(go())
    assert isinstance(decided, Authorized), decided
    assert decided.asked and decided.emsp == ("NL", "MSP")
    asked = setup.hub.requests("POST", "/tokens/sender/RT-1/authorize")
    assert asked and (asked[-1].headers["ocpi-to-country-code"], asked[-1].headers["ocpi-to-party-id"]) == ("NL", "MSP")
