"""Charging events through the real ingest, seen live: the eMSP gets a PUT at start, one coalesced PATCH for many
readings within an interval (exactly the periods closed since), one at once on the stop, and ends with a copy equal
to ours; the operators' view follows the same sessions over the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from tests import test_charging_ingest as ingest
from tests.service import Instance, wait_for

INTERVAL = 5


@pytest.fixture(scope="module")
def flow(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, str]]:
    root = tmp_path_factory.mktemp("liveflow")
    cpo = Instance(pg_admin_dsn, root, "cpo", OCPI_ENGINE_SESSION_PATCH_INTERVAL=str(INTERVAL))
    emsp = Instance(pg_admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        cpo.cli("import", "tariffs", str(ingest._write(root / "t.json", [ingest._tariff("ENERGY", "0.25")])),
                "--no-progress")
        cpo.cli("import", "locations", str(ingest._write(root / "l.json", [ingest.LOCATION])), "--no-progress")
        cpo.start()
        emsp.start()
        emsp.cli("peer", "register", "--label", "cpo", "--", cpo.versions_url, cpo.invite("msp", "NL/MSP/EMSP"))
        emsp.cli("import", "tokens", str(ingest._write(root / "tk.json", ingest.TOKENS)), "--no-progress")
        wait_for(lambda: len(cpo.query("SELECT 1 FROM tokens")) == len(ingest.TOKENS), 20, "tokens pushed to the CPO")
        key = cpo.cli("apikey", "create", "--label", "backend").stdout.strip()
        yield cpo, emsp, key
    finally:
        for inst in (cpo, emsp):
            inst.drop()


def _session(inst: Instance, sid: str, own: bool) -> dict[str, Any] | None:
    rows = inst.query(f"SELECT data::text AS d FROM sessions WHERE id = $1 AND peer_id IS {'' if own else 'NOT '}NULL", sid)
    return dict(json.loads(rows[0]["d"])) if rows else None


def _pushes(cpo: Instance, sid: str) -> list[tuple[str, dict[str, Any]]]:
    rows = cpo.query("SELECT method, body FROM outbox WHERE module = 'sessions' AND path LIKE '%/' || $1 ORDER BY id", sid)
    return [(r["method"], json.loads(bytes(r["body"]))) for r in rows]


def _live(cpo: Instance, key: str) -> Any:
    r = httpx.get(f"{cpo.url}/api/v1/monitoring/locations/NL/EXA/LOC1", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return msgspec.json.Decoder(float_hook=Decimal).decode(r.content)


def test_events_to_pushes_and_live_view(flow: tuple[Instance, Instance, str]) -> None:
    cpo, emsp, key = flow
    sid = "FLOW1"
    assert ingest._results(ingest._post(cpo, key, [ingest._start(sid)])) == [("accepted", None)]
    wait_for(lambda: _session(emsp, sid, own=False), what="the PUT at the eMSP")
    # Seven readings posted one by one, well within one interval; two of them suspended (a parking period).
    for n in range(1, 8):
        extra = {"state": "SUSPENDED_EV"} if n in (3, 4) else {}
        event = ingest._meter(sid, n, f"2026-11-30T10:{n * 5:02}:00Z", 1000 + n * 1500, **extra)
        assert ingest._results(ingest._post(cpo, key, [event])) == [("accepted", None)]
    ours = _session(cpo, sid, own=True)
    assert ours is not None and len(ours["charging_periods"]) >= 2
    wait_for(lambda: _session(emsp, sid, own=False) == _session(cpo, sid, own=True), what="the eMSP copy to match")
    pushes = _pushes(cpo, sid)
    assert [m for m, _ in pushes] == ["PUT", "PATCH"]
    assert pushes[1][1]["charging_periods"] == ours["charging_periods"]  # the PUT had none

    live = _live(cpo, key)
    [session] = [s for e in live["evses"] for s in e["sessions"]]
    assert (session["id"], session["kwh"]) == (sid, Decimal(str(ours["kwh"])))
    assert session["excl_vat"] == Decimal(str(ours["total_cost"]["excl_vat"]))

    # The stop: pushed at once (no interval wait), with only the periods closed since the last PATCH.
    assert ingest._results(ingest._post(cpo, key, [ingest._stop(sid, "2026-11-30T11:00:00Z", 13000)])) == [
        ("accepted", None)]
    final = _session(cpo, sid, own=True)
    assert final is not None and final["status"] == "COMPLETED"
    pushes = _pushes(cpo, sid)
    assert [m for m, _ in pushes] == ["PUT", "PATCH", "PATCH"]
    assert pushes[2][1]["status"] == "COMPLETED"
    assert pushes[2][1]["charging_periods"] == final["charging_periods"][len(ours["charging_periods"]):]
    wait_for(lambda: _session(emsp, sid, own=False) == final, what="the eMSP copy to match after the stop")
    assert _live(cpo, key)["active_sessions"] == 0
