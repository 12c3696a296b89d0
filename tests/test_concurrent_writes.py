"""Our own writes never lose each other (issue 7 §4): concurrent EVSE status changes to one Location, from one
process and from parallel CLI processes, all survive, and the outbox tells peers exactly what is stored. The
Receiver side too: concurrent PATCH/PUT of EVSEs of one Location all survive; of 50 POSTs of one CDR id, one wins."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.pool import create_pool
from app.modules.owned import set_evse_status
from app.ocpi.auth import authorization_header
from tests.service import CLI, Instance, run

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
LOCATION = "MANY-EVSES"
N = 50


def _location(n_evses: int) -> dict[str, Any]:
    base = json.loads((DEMO / "locations.json").read_text())[0]
    loc = copy.deepcopy(base)
    loc["id"] = LOCATION
    loc["evses"] = []
    for i in range(1, n_evses + 1):
        evse = copy.deepcopy(base["evses"][0])
        evse.update(uid=f"E{i}", evse_id=f"NL*EXA*E{i}", status="AVAILABLE")
        loc["evses"].append(evse)
    return loc


@pytest.fixture()
def cpo(pg_admin_dsn: str, tmp_path: Path) -> Iterator[Instance]:
    """Our CPO with one Location of N EVSEs and a registered eMSP peer that receives Location pushes (nothing
    delivers them here: the outbox keeps what the peer would be told)."""
    inst = Instance(pg_admin_dsn, tmp_path, "writes")
    try:
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        (tmp_path / "loc.json").write_text(json.dumps([_location(N)]))
        inst.cli("import", "locations", str(tmp_path / "loc.json"), "--no-progress")
        inst.unreachable_receiver("msp", ("NL", "MSP", "EMSP"))
        yield inst
    finally:
        inst.drop()


def _stored_evses(inst: Instance) -> dict[str, dict[str, Any]]:
    doc = json.loads(inst.query("SELECT data::text AS d FROM locations WHERE id = $1 AND peer_id IS NULL", LOCATION)[0]["d"])
    return {e["uid"]: e for e in doc["evses"]}


def _told(inst: Instance) -> dict[str, dict[str, Any]]:
    """What the peer is told, replayed in outbox order: each EVSE's fields after the PATCHes queued for it."""
    told: dict[str, dict[str, Any]] = {}
    for row in inst.query("SELECT method, path, body FROM outbox ORDER BY id"):
        assert row["method"] == "PATCH"
        uid = row["path"].rsplit("/", 1)[1]
        told.setdefault(uid, {}).update(json.loads(row["body"]))
    return told


def test_concurrent_status_changes_to_one_location_all_survive(cpo: Instance) -> None:
    async def change_all() -> list[int]:
        pool = await create_pool(cpo.dsn, 2, 10)
        try:
            return list(await asyncio.gather(*(set_evse_status(pool, LOCATION, f"E{i}", "OUTOFORDER")
                                               for i in range(1, N + 1))))
        finally:
            await pool.close()

    assert run(change_all()) == [1] * N  # each change queued one push (to the one eMSP)
    stored = _stored_evses(cpo)
    assert [uid for uid, e in stored.items() if e["status"] != "OUTOFORDER"] == []
    # The stored Location is what the peer was told, EVSE by EVSE, and its last_updated is the latest change.
    told = _told(cpo)
    assert len(told) == N
    for uid, fields in told.items():
        assert {k: stored[uid][k] for k in fields} == fields
    doc = json.loads(cpo.query("SELECT data::text AS d FROM locations WHERE id = $1", LOCATION)[0]["d"])
    assert _at(doc["last_updated"]) == max(_at(e["last_updated"]) for e in told.values())
    # Stamps follow the order in which the changes were stored (the lock is taken before the stamp).
    stamps = [_at(json.loads(r["body"])["last_updated"]) for r in cpo.query("SELECT body FROM outbox ORDER BY id")]
    assert stamps == sorted(stamps)


def _at(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def test_parallel_evse_status_processes_all_survive(cpo: Instance) -> None:
    procs = [subprocess.Popen([*CLI, "evse-status", LOCATION, f"E{i}", "RESERVED"], env=cpo.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(1, 11)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, errors
    stored = _stored_evses(cpo)
    assert [uid for uid in (f"E{i}" for i in range(1, 11)) if stored[uid]["status"] != "RESERVED"] == []
    told = _told(cpo)
    assert sorted(told) == sorted(f"E{i}" for i in range(1, 11))
    for uid, fields in told.items():
        assert {k: stored[uid][k] for k in fields} == fields


@pytest.fixture()
def emsp(pg_admin_dsn: str, tmp_path: Path) -> Iterator[tuple[Instance, str]]:
    """Our eMSP (hosting the eMSP of the demo CDRs' tokens), served with 2 workers, and the token of a CPO
    peer that pushes to it."""
    inst = Instance(pg_admin_dsn, tmp_path, "receiver", workers=2)
    try:
        inst.cli("party", "add", "NL", "ELN", "EMSP", "--name", "Electric Mobility")
        inst.start()
        yield inst, inst.client_token("cpo", [("NL", "EXA", "CPO")])
    finally:
        inst.drop()


async def _many(url: str, token: str, calls: list[tuple[str, str, bytes]]) -> list[httpx.Response]:
    headers = {"Authorization": authorization_header(token), "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=len(calls))) as client:
        return list(await asyncio.gather(*(client.request(m, p, headers=headers, content=b) for m, p, b in calls)))


def test_concurrent_receiver_writes_to_one_location_all_survive(emsp: tuple[Instance, str]) -> None:
    inst, token = emsp
    base = "/ocpi/2.2.1/receiver/locations/NL/EXA/" + LOCATION
    [put] = run(_many(inst.url, token, [("PUT", base, json.dumps(_location(N)).encode())]))
    assert put.status_code == 201, put.text
    patches = [("PATCH", f"{base}/E{i}", json.dumps({"status": "CHARGING", "last_updated": "2027-01-01T00:00:00Z"}).encode())
               for i in range(1, N + 1)]
    news = [("PUT", f"{base}/NEW{i}", json.dumps({**_location(1)["evses"][0], "uid": f"NEW{i}"}).encode())
            for i in range(N)]
    answers = run(_many(inst.url, token, patches + news))
    assert [r.json()["status_code"] for r in answers] == [1000] * (2 * N)
    doc = json.loads(inst.query("SELECT data::text AS d FROM locations WHERE id = $1", LOCATION)[0]["d"])
    evses = {e["uid"]: e for e in doc["evses"]}
    assert [i for i in range(1, N + 1) if evses[f"E{i}"]["status"] != "CHARGING"] == []
    assert [i for i in range(N) if f"NEW{i}" not in evses] == []


def test_concurrent_posts_of_one_cdr_keep_the_first(emsp: tuple[Instance, str]) -> None:
    inst, token = emsp
    first = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    bodies = [json.dumps({**first, "total_energy": 100 + i}).encode() for i in range(N)]
    answers = run(_many(inst.url, token, [("POST", "/ocpi/2.2.1/receiver/cdrs", b) for b in bodies]))
    created = [i for i, r in enumerate(answers) if r.status_code == 201]
    assert len(created) == 1
    assert all(r.json()["status_code"] == 2001 and "immutable" in r.json()["status_message"]
               for i, r in enumerate(answers) if i not in created)
    [stored] = inst.query("SELECT data::text AS d FROM cdrs")
    assert json.loads(stored["d"])["total_energy"] == 100 + created[0]  # the one answered 201 is the one kept
