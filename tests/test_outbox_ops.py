"""Operator commands on a peer's queue, through the operator API and the CLI, against a running service and a
receiver that refuses until told otherwise: show, retry (a refused push goes out again and is delivered; one
superseded by a newer update stays refused), resync (the current state is queued), and precise errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops_receiver import Peer, receiving
from tests.service import Instance, serving, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
IDS = ("LOC-00001", "LOC-00002", "LOC-00003")


@pytest.fixture(scope="module")
def cpo(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Peer, int, str]]:
    root = tmp_path_factory.mktemp("ops")
    few = root / "locations.json"
    few.write_text(json.dumps([o for o in json.loads((DEMO / "locations.json").read_text()) if o["id"] in IDS]))
    inst = Instance(pg_admin_dsn, root, "cpo_ops")
    with receiving() as peer, serving((inst, [("party", "add", "NL", "EXA", "CPO", "--name", "Example"),
                                              ("import", "locations", str(few), "--no-progress")])):
        peer_id = peer.register_at(inst, "msp")
        key = inst.cli("apikey", "create", "--label", "ops").stdout.strip()
        yield inst, peer, peer_id, key


def _api(inst: Instance, key: str, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{inst.url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {key}"},
                         timeout=30)


def _states(inst: Instance, peer_id: int) -> dict[str, int]:
    return {r["state"]: r["n"] for r in inst.query(
        "SELECT state, count(*) AS n FROM outbox WHERE peer_id = $1 GROUP BY state", peer_id)}


def test_refused_pushes_are_shown_retried_and_delivered(cpo: tuple[Instance, Peer, int, str]) -> None:
    inst, peer, peer_id, key = cpo
    peer.refuse = lambda path: True
    r = _api(inst, key, "POST", f"/peers/{peer_id}/resync", {"modules": ["locations"]})
    assert r.status_code == 200 and r.json() == {"peer_id": peer_id, "modules": ["locations"], "queued": 3}
    wait_for(lambda: _states(inst, peer_id) == {"REFUSED": 3}, 30, "the peer to refuse every push")

    queue = _api(inst, key, "GET", f"/peers/{peer_id}/queue").json()
    assert queue["counts"] == {"REFUSED": {"locations": 3}} and queue["oldest_pending_age_seconds"] is None
    assert queue["registration"] == "REGISTERED" and queue["delivery"]["status"] == "CONNECTED"
    assert sorted(r["path"] for r in queue["rows"]) == [f"/NL/EXA/{i}" for i in IDS]
    assert all(r["state"] == "REFUSED" and "400" in r["last_error"] and r["to"] == "NL*MSP" for r in queue["rows"])
    out = inst.cli("outbox", "show", str(peer_id)).stdout
    assert "REFUSED" in out and "/NL/EXA/LOC-00001" in out and "delivery CONNECTED" in out
    assert json.loads(inst.cli("outbox", "show", str(peer_id), "--json").stdout)["counts"] == queue["counts"]

    # A refused push is not sent again by itself; once the peer accepts, the operator retries one, then the rest.
    peer.refuse = lambda path: False
    first = min(r["id"] for r in queue["rows"])
    r = _api(inst, key, "POST", f"/peers/{peer_id}/queue/retry", {"ids": [first]})
    assert r.status_code == 200 and r.json() == {"retried": [first], "superseded": []}
    wait_for(lambda: _states(inst, peer_id) == {"DELIVERED": 1, "REFUSED": 2}, 30, "the retried push to be delivered")
    assert "2 refused pushes queued again" in inst.cli("outbox", "retry", str(peer_id)).stdout
    wait_for(lambda: _states(inst, peer_id) == {"DELIVERED": 3}, 30, "every retried push to be delivered")
    assert sorted(peer.got("PUT")[-3:]) == [f"/ocpi/2.2.1/locations/NL/EXA/{i}" for i in IDS]


def test_a_superseded_refusal_is_left_and_resync_sends_the_current_state(cpo: tuple[Instance, Peer, int, str]) -> None:
    inst, peer, peer_id, key = cpo
    peer.refuse = lambda path: True
    inst.cli("evse-status", "LOC-00002", "LOC-00002-3", "BLOCKED")
    wait_for(lambda: inst.query("SELECT id FROM outbox WHERE peer_id = $1 AND state = 'REFUSED'", peer_id), 30,
             "the PATCH to be refused")
    [refused] = [r["id"] for r in inst.query("SELECT id FROM outbox WHERE peer_id = $1 AND state = 'REFUSED'", peer_id)]
    peer.refuse = lambda path: False
    inst.cli("evse-status", "LOC-00002", "LOC-00002-3", "CHARGING")
    wait_for(lambda: inst.query("SELECT 1 FROM outbox WHERE peer_id = $1 AND state = 'DELIVERED' AND method = 'PATCH'",
                                peer_id), 30, "the newer PATCH to be delivered")
    # Sending the older PATCH now would undo the newer one.
    assert _api(inst, key, "POST", f"/peers/{peer_id}/queue/retry").json() == {"retried": [], "superseded": [refused]}
    result = inst.cli("outbox", "retry", str(peer_id))
    assert "0 refused pushes queued again" in result.stdout and "outbox resync" in result.stderr

    n = len(peer.got("PUT"))
    out = inst.cli("outbox", "resync", str(peer_id), "--module", "locations").stdout
    assert f"peer {peer_id}: 3 pushes queued (locations)" in out
    wait_for(lambda: len(peer.got("PUT")) == n + 3, 30, "the resync to arrive")
    [put] = [r for r in peer.receiver.requests[-3:] if r.path.endswith("/LOC-00002")]
    stored = inst.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-00002'")[0]["d"]
    assert json.loads(put.body) == json.loads(stored) and json.loads(put.body)["evses"][0]["status"] == "CHARGING"


def test_precise_errors(cpo: tuple[Instance, Peer, int, str]) -> None:
    inst, _, peer_id, key = cpo
    r = _api(inst, key, "GET", "/peers/999/queue")
    assert r.status_code == 404 and r.json() == {"error": "no peer 999 (see `ocpi-engine peer list`)"}
    r = _api(inst, key, "POST", f"/peers/{peer_id}/resync", {"modules": ["cdrs"]})
    assert r.status_code == 400 and r.json()["field"] == "modules" and "'cdrs'" in r.json()["error"]
    delivered = inst.query("SELECT id FROM outbox WHERE peer_id = $1 AND state = 'DELIVERED' LIMIT 1", peer_id)[0]["id"]
    r = _api(inst, key, "POST", f"/peers/{peer_id}/queue/retry", {"ids": [delivered, 123456789]})
    assert r.status_code == 400 and r.json()["error"] == (
        f"only REFUSED pushes can be retried; not: {delivered} (DELIVERED), 123456789 (no such row of peer {peer_id})")
    r = _api(inst, key, "POST", f"/peers/{peer_id}/queue/retry", {"ids": "all"})
    assert r.status_code == 400 and "error" in r.json()
    r = httpx.get(f"{inst.url}/api/v1/peers/{peer_id}/queue")
    assert r.status_code == 401 and "operator API key" in r.json()["error"]
    for args, message in ((("outbox", "show", "999"), "no peer 999"),
                          (("outbox", "retry", str(peer_id), "--id", "123456789"), "only REFUSED pushes"),
                          (("outbox", "resync", "999"), "no peer 999"),
                          (("outbox", "resync", str(peer_id), "--module", "cdrs"), "invalid choice: 'cdrs'")):
        result = inst.cli(*args, check=False)
        assert result.returncode == 2 and message in result.stderr
    # Documented like every operator route.
    paths = httpx.get(f"{inst.url}/schema/openapi.json").json()["paths"]
    assert {"/api/v1/peers/{peer_id}/queue", "/api/v1/peers/{peer_id}/queue/retry", "/api/v1/peers/{peer_id}/resync",
            "/metrics"} <= set(paths)
