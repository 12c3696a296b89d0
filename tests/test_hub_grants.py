"""Service grants at a hub (issue 9 §2): the API and CLI, and `copy_message` copying an owner's messages to a
service party (a lightweight receiver) through the outbox only while the grant exists. The end-to-end case (a CDR
forwarded by the hub reaching the service) needs stream H's forwarder, which calls `copy_message`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.hub.grants import copy_message
from tests.recorder import Recorder, on_port, ports
from tests.service import Instance, serving, wait_for

CDR = json.dumps({"id": "CDR-1", "country_code": "NL", "party_id": "CPO"}).encode()


class Granting:
    def __init__(self, hub: Instance, service: Recorder, api_key: str) -> None:
        self.hub, self.service, self.api_key = hub, service, api_key

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, f"{self.hub.url}/api/v1{path}", timeout=10,
                             content=None if body is None else json.dumps(body).encode(),
                             headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"})

    def copy(self, method: str = "POST", owner: tuple[str, str] = ("NL", "CPO"), module: str = "cdrs",
             path: str = "") -> int:
        async def go() -> int:
            conn = await asyncpg.connect(self.hub.dsn)
            try:
                async with conn.transaction():
                    return await copy_message(conn, module, "RECEIVER", method, path, CDR, owner, ("NL", "MSP"),
                                              "corr-123")
            finally:
                await conn.close()

        return int(asyncio.run(go()))


@pytest.fixture(scope="module")
def granting(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Granting]:
    hub_port, service_port = ports(20, 2)
    service = Recorder(service_port)
    hub = on_port(Instance(pg_admin_dsn, tmp_path_factory.mktemp("grants"), "hub"), hub_port)
    try:
        with serving((hub, [("party", "add", "NL", "HUB", "HUB", "--name", "The Hub")])):
            hub.client_token("cpo", [("NL", "CPO", "CPO")])
            hub.client_token("msp", [("NL", "MSP", "EMSP")])
            hub.client_token("billing", [("NL", "BIL", "OTHER")],
                             endpoints=service.endpoints(("cdrs", "RECEIVER"), ("sessions", "RECEIVER")))
            key = hub.cli("apikey", "create", "--label", "grants test").stdout.strip()
            yield Granting(hub, service, key)
    finally:
        service.close()


def test_cli_grants_lists_and_revokes(granting: Granting) -> None:
    hub = granting.hub
    made = hub.cli("hub", "grant", "nl/cpo", "NL*BIL", "--module", "sessions")
    assert "grant" in made.stdout and "NL*BIL receives copies of NL*CPO's sessions (RECEIVER)" in made.stdout
    grant_id = made.stdout.split()[1].rstrip(":")
    listed = hub.cli("hub", "grants").stdout
    assert f"{grant_id}  NL*CPO  NL*BIL  sessions" in listed and "live" in listed
    twice = hub.cli("hub", "grant", "NL/CPO", "NL/BIL", "--module", "sessions", check=False)
    assert twice.returncode == 1 and f"already granted: grant {grant_id}" in twice.stderr
    bad = hub.cli("hub", "grant", "NL/CPO", "NL/BIL", "--module", "parking", check=False)
    assert bad.returncode == 2 and "module 'parking' must be one of" in bad.stderr
    bad_party = hub.cli("hub", "grant", "NLD/CPO", "NL/BIL", "--module", "cdrs", check=False)
    assert bad_party.returncode == 2 and "OWNER: country code 'NLD'" in bad_party.stderr
    assert "revoked" in hub.cli("hub", "revoke-grant", grant_id).stdout
    gone = hub.cli("hub", "revoke-grant", grant_id, check=False)
    assert gone.returncode == 2 and f"no live grant {grant_id}" in gone.stderr
    assert grant_id not in hub.cli("hub", "grants").stdout.split()
    assert "revoked" in hub.cli("hub", "grants", "--revoked").stdout


def test_api_grants(granting: Granting) -> None:
    made = granting.api("POST", "/hub/grants", {"owner": "NL/CPO", "service": "NL/BIL", "module": "tokens"})
    assert made.status_code == 201, made.text
    grant = made.json()
    assert grant["owner"] == {"country_code": "NL", "party_id": "CPO"} and grant["interface"] == "RECEIVER"
    assert grant["revoked_at"] is None
    assert any(g["id"] == grant["id"] for g in granting.api("GET", "/hub/grants").json())
    assert granting.api("POST", "/hub/grants", {"owner": "NL/CPO", "service": "NL/BIL", "module": "tokens"}).status_code == 409
    for body, text in (({"owner": "NL/CPO", "service": "NL/BIL", "module": "x"}, "module 'x'"),
                       ({"owner": "NL/CPO", "service": "NL/CPO", "module": "cdrs"}, "same party"),
                       ({"owner": "NL/CPO", "module": "cdrs"}, "service"),
                       ({"owner": "NL/CPO", "service": "NL/BIL", "module": "cdrs", "interface": "BOTH"}, "interface")):
        r = granting.api("POST", "/hub/grants", body)
        assert r.status_code == 400 and text in r.json()["error"], r.text
    revoked = granting.api("DELETE", f"/hub/grants/{grant['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert granting.api("DELETE", f"/hub/grants/{grant['id']}").status_code == 404
    assert not any(g["id"] == grant["id"] for g in granting.api("GET", "/hub/grants").json())
    assert any(g["id"] == grant["id"] for g in granting.api("GET", "/hub/grants?revoked=true").json())


def test_copies_reach_the_service_only_while_granted(granting: Granting) -> None:
    hub, service = granting.hub, granting.service
    assert granting.copy() == 0  # no grant yet
    grant = granting.api("POST", "/hub/grants", {"owner": "NL/CPO", "service": "NL/BIL", "module": "cdrs"}).json()
    assert granting.copy() == 1
    assert granting.copy(method="GET") == 0  # reads are not copied
    assert granting.copy(owner=("NL", "MSP")) == 0  # another owner's messages
    got = wait_for(lambda: service.requests("POST", "/cdrs/receiver"), 30, "the copy at the service")
    assert len(got) == 1 and got[0].body == CDR
    head = got[0].headers
    assert (head["ocpi-to-country-code"], head["ocpi-to-party-id"]) == ("NL", "BIL")
    assert (head["ocpi-from-country-code"], head["ocpi-from-party-id"]) == ("NL", "CPO")
    if hub.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'outbox' AND column_name = 'headers'"):
        # The delivery engine (stream D) sends a row's extra headers; before it the outbox had none to send.
        assert (head["x-ocpi-copy-to-country-code"], head["x-ocpi-copy-to-party-id"]) == ("NL", "MSP")
        assert head["x-correlation-id"] == "corr-123"
    granting.api("DELETE", f"/hub/grants/{grant['id']}")
    assert granting.copy() == 0
    wait_for(lambda: not hub.query("SELECT 1 FROM outbox WHERE state = 'PENDING'"), 30, "the outbox drained")
    assert len(service.requests("POST", "/cdrs/receiver")) == 1


def test_no_copy_to_a_suspended_service(granting: Granting) -> None:
    hub = granting.hub
    granting.api("POST", "/hub/grants", {"owner": "NL/CPO", "service": "NL/GON", "module": "cdrs"})
    hub.client_token("gone", [("NL", "GON", "OTHER")],
                     endpoints=granting.service.endpoints(("cdrs", "RECEIVER")))
    assert granting.copy() == 1
    hub.cli("peer", "revoke", str(hub.peer_id("gone")))
    assert granting.copy() == 0
