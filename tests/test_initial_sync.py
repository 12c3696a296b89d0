"""Initial sync (issue 9): a newly registered peer receives, pushed, the current state of what it may see,
whichever side started the handshake, without anything changing on the side that owns the objects; with
OCPI_ENGINE_INITIAL_SYNC=pull nothing is pushed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.service import Instance, serving, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
LOCATIONS = len(json.loads((DEMO / "locations.json").read_text()))
TARIFFS = len(json.loads((DEMO / "tariffs.json").read_text()))
TOKENS = len(json.loads((DEMO / "tokens.json").read_text()))


def _session(sid: str, status: str, emsp: str = "MSP") -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "EXA", "id": sid, "start_date_time": "2026-03-01T10:00:00Z", "kwh": 1.5,
            "cdr_token": {"country_code": "NL", "party_id": emsp, "uid": "T1", "type": "RFID", "contract_id": "NL-X-1"},
            "auth_method": "WHITELIST", "location_id": "LOC-00001", "evse_uid": "LOC-00001-1", "connector_id": "1",
            "currency": "EUR", "status": status, "last_updated": "2026-03-01T10:05:00Z"}


def _setups(root: Path, admin: str, mode: str) -> tuple[Instance, Instance, list[tuple[str, ...]], list[tuple[str, ...]]]:
    env = {"OCPI_ENGINE_INITIAL_SYNC": mode}
    cpo, emsp = Instance(admin, root, f"cpo_{mode}", **env), Instance(admin, root, f"emsp_{mode}", **env)
    sessions = root / f"sessions_{mode}.jsonl"
    # A live session of the eMSP's token is synced; a finished one, and one of another eMSP, are not.
    sessions.write_text("\n".join(json.dumps(s) for s in (_session("S-LIVE", "ACTIVE"), _session("S-DONE", "COMPLETED"),
                                                           _session("S-OTHER", "ACTIVE", emsp="ZZZ"))))
    cpo_setup = [("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging"),
                 ("import", "locations", str(DEMO / "locations.json"), "--no-progress"),
                 ("import", "tariffs", str(DEMO / "tariffs.json"), "--no-progress"),
                 ("import", "sessions", str(sessions), "--no-progress")]
    emsp_setup = [("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility"),
                  ("import", "tokens", str(DEMO / "tokens.json"), "--no-progress")]
    return cpo, emsp, cpo_setup, emsp_setup


def _count(inst: Instance, table: str) -> int:
    return int(inst.query(f"SELECT count(*) AS n FROM {table} WHERE peer_id IS NOT NULL")[0]["n"])


def _synced(cpo: Instance, emsp: Instance) -> None:
    wait_for(lambda: (_count(emsp, "locations"), _count(emsp, "tariffs"), _count(emsp, "sessions"),
                      _count(cpo, "tokens")) == (LOCATIONS, TARIFFS, 1, TOKENS), 90, "the initial sync to arrive")
    assert [r["id"] for r in emsp.query("SELECT id FROM sessions")] == ["S-LIVE"]
    stored = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-00001'")[0]["d"])
    assert stored == next(o for o in json.loads((DEMO / "locations.json").read_text()) if o["id"] == "LOC-00001")
    for inst in (cpo, emsp):  # every push went through, none refused on the way
        wait_for(lambda i=inst: not i.query("SELECT 1 FROM outbox WHERE state <> 'DELIVERED'"), 30, "the outbox to drain")


@pytest.mark.parametrize("starter", ["emsp", "cpo"])
def test_a_new_peer_receives_what_it_may_see(pg_admin_dsn: str, tmp_path: Path, starter: str) -> None:
    cpo, emsp, cpo_setup, emsp_setup = _setups(tmp_path, pg_admin_dsn, "push")
    with serving((cpo, cpo_setup), (emsp, emsp_setup)):
        # Nothing pushed before anyone registered: what arrives is the sync, not an earlier change.
        assert not cpo.query("SELECT 1 FROM outbox") and not emsp.query("SELECT 1 FROM outbox")
        if starter == "emsp":
            emsp.cli("peer", "register", "--label", "cpo", "--", cpo.versions_url, cpo.invite("msp", "NL/MSP/EMSP"))
        else:
            cpo.cli("peer", "register", "--label", "msp", "--", emsp.versions_url, emsp.invite("cpo", "NL/EXA/CPO"))
        _synced(cpo, emsp)
        # One PUT per object, to the party the peer holds, from ours.
        rows = cpo.query("SELECT module, method, count(*) AS n, min(to_party_id) AS to_, min(from_party_id) AS from_ "
                         "FROM outbox GROUP BY module, method ORDER BY module")
        assert [(r["module"], r["method"], r["n"], r["to_"], r["from_"]) for r in rows] == [
            ("locations", "PUT", LOCATIONS, "MSP", "EXA"), ("sessions", "PUT", 1, "MSP", "EXA"),
            ("tariffs", "PUT", TARIFFS, "MSP", "EXA")]


def test_pull_mode_pushes_nothing(pg_admin_dsn: str, tmp_path: Path) -> None:
    cpo, emsp, cpo_setup, emsp_setup = _setups(tmp_path, pg_admin_dsn, "pull")
    with serving((cpo, cpo_setup), (emsp, emsp_setup)):
        emsp.cli("peer", "register", "--label", "cpo", "--", cpo.versions_url, cpo.invite("msp", "NL/MSP/EMSP"))
        assert cpo.query("SELECT status FROM peers")[0]["status"] == "REGISTERED"
        assert not cpo.query("SELECT 1 FROM outbox") and not emsp.query("SELECT 1 FROM outbox")
        assert "expected to pull" in cpo.log_path.read_text()
        # The peer pulls instead, and gets the same objects.
        assert f"{LOCATIONS} locations stored" in emsp.cli("pull", "locations", str(emsp.peer_id("cpo"))).stdout
        assert _count(cpo, "tokens") == 0
