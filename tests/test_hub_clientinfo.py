"""HubClientInfo at a hub (issue 9 §2): a hub and two parties on real instances, registered with the real
handshake. The Sender list, the whole list each party gets on registering, status changes pushed to the others
(a party going OFFLINE and back, found by the still-alive check, and a party unregistering)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.ocpi.auth import authorization_header
from tests.recorder import on_port, ports
from tests.service import Instance, serving, wait_for

V = "/ocpi/2.2.1"


class Hubbed:
    def __init__(self, hub: Instance, cpo: Instance, emsp: Instance) -> None:
        self.hub, self.cpo, self.emsp = hub, cpo, emsp

    def hub_list(self, **params: str) -> httpx.Response:
        """GET the hub's ClientInfo list as the CPO."""
        token = self.cpo.token_out(self.cpo.peer_id("hub"))
        return httpx.get(f"{self.hub.url}{V}/hub/hubclientinfo", params=params, timeout=10,
                         headers={"Authorization": authorization_header(token)})


def statuses(node: Instance) -> dict[str, str]:
    return node.hub_clients()


def status_is(node: Instance, party: str, status: str) -> Any:
    return wait_for(lambda: statuses(node).get(party) == status, 45, f"{party} {status} at {node.name}")


@pytest.fixture(scope="module")
def hubbed(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hubbed]:
    root = tmp_path_factory.mktemp("hubinfo")
    hub_port, cpo_port, emsp_port = ports(10, 3)
    hub = on_port(Instance(pg_admin_dsn, root, "hub", OCPI_ENGINE_HUB_ALIVE_AFTER="2"), hub_port)
    cpo = on_port(Instance(pg_admin_dsn, root, "cpo"), cpo_port)
    emsp = on_port(Instance(pg_admin_dsn, root, "emsp"), emsp_port)
    with serving((hub, [("party", "add", "NL", "HUB", "HUB", "--name", "The Hub")]),
                 (cpo, [("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")]),
                 (emsp, [("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")])):
        for party, node in (("NL/EXA/CPO", cpo), ("NL/MSP/EMSP", emsp)):
            token_a = hub.invite(node.name, party)
            node.cli("peer", "register", "--label", "hub", "--party", "NL/HUB/HUB", "--", hub.versions_url, token_a)
        yield Hubbed(hub, cpo, emsp)


def test_version_details_of_a_hub_list_the_sender(hubbed: Hubbed) -> None:
    token = hubbed.cpo.token_out(hubbed.cpo.peer_id("hub"))
    r = httpx.get(f"{hubbed.hub.url}{V}", headers={"Authorization": authorization_header(token)}, timeout=10)
    found = {(e["identifier"], e["role"]): e["url"] for e in r.json()["data"]["endpoints"]}
    assert found[("hubclientinfo", "SENDER")] == f"{hubbed.hub.url}{V}/hub/hubclientinfo"
    assert ("hubclientinfo", "RECEIVER") not in found


def test_each_party_gets_the_others_on_registering(hubbed: Hubbed) -> None:
    status_is(hubbed.cpo, "NL*MSP/EMSP", "CONNECTED")
    status_is(hubbed.emsp, "NL*EXA/CPO", "CONNECTED")
    # Nobody is told about itself, and nothing is addressed with routing headers it would have to check.
    assert set(statuses(hubbed.cpo)) == {"NL*MSP/EMSP"} and set(statuses(hubbed.emsp)) == {"NL*EXA/CPO"}


def test_the_sender_list_is_paged(hubbed: Hubbed) -> None:
    r = hubbed.hub_list()
    assert r.status_code == 200 and r.headers["x-total-count"] == "2"
    items = r.json()["data"]
    assert [(i["country_code"], i["party_id"], i["role"], i["status"]) for i in items] == [
        ("NL", "EXA", "CPO", "CONNECTED"), ("NL", "MSP", "EMSP", "CONNECTED")]
    first = hubbed.hub_list(limit="1")
    assert len(first.json()["data"]) == 1 and "offset=1" in first.headers["link"]
    assert hubbed.hub_list(offset="1", limit="1").json()["data"] == items[1:]
    assert hubbed.hub_list(date_from="2999-01-01T00:00:00Z").json()["data"] == []
    assert hubbed.hub_list(limit="x").json()["status_code"] == 2001


def test_still_alive_marks_a_dead_party_offline_and_back(hubbed: Hubbed) -> None:
    hubbed.emsp.stop()
    status_is(hubbed.cpo, "NL*MSP/EMSP", "OFFLINE")
    emsp_id = hubbed.hub.peer_id("emsp")
    assert hubbed.hub.query("SELECT status FROM peer_delivery WHERE peer_id = $1", emsp_id)[0]["status"] == "OFFLINE"
    assert {i["party_id"]: i["status"] for i in hubbed.hub_list().json()["data"]}["MSP"] == "OFFLINE"
    hubbed.emsp.start()
    status_is(hubbed.cpo, "NL*MSP/EMSP", "CONNECTED")


def test_an_unregistered_party_is_suspended_for_the_others(hubbed: Hubbed) -> None:
    hubbed.emsp.cli("peer", "unregister", str(hubbed.emsp.peer_id("hub")))
    status_is(hubbed.cpo, "NL*MSP/EMSP", "SUSPENDED")
    assert {i["party_id"]: i["status"] for i in hubbed.hub_list().json()["data"]}["MSP"] == "SUSPENDED"
