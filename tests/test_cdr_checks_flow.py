"""The charging flow end to end, checked by the eMSP (issue 8, "Done when"): the CPO's engine prices generated
sessions (across 17:00 in Amsterdam, kWh thresholds, parking) into CDRs; the eMSP re-prices each with the tariffs
and Locations the CPO pushed to it, and agrees with every one: `cdrs disputes` is empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rust_core

from tests.charging_pair import charging_pair
from tests.service import Instance, wait_for

SESSIONS = 40


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, Path]]:
    root = tmp_path_factory.mktemp("flow")
    with charging_pair(pg_admin_dsn, root) as (cpo, emsp):
        yield cpo, emsp, root


def test_engine_cdrs_are_agreed_by_the_emsp(pair: tuple[Instance, Instance, Path]) -> None:
    cpo, emsp, root = pair
    events = root / "events.jsonl"
    cpo.cli("sessions", "generate", "--sessions", str(SESSIONS), "--start", "2026-11-23T15:00:00+01:00",
            "--out", str(events))
    cpo.cli("sessions", "replay", str(events), "--no-progress")
    issued = len(cpo.query("SELECT 1 FROM cdrs WHERE peer_id IS NULL"))
    assert issued == SESSIONS
    wait_for(lambda: len(emsp.query("SELECT 1 FROM cdr_checks WHERE status <> 'PENDING'")) == issued, 120,
             "every CDR received and checked")
    checks = json.loads(emsp.cli("cdrs", "disputes", "--json", "--all").stdout)
    assert {c["status"] for c in checks} == {"AGREED"}, [c for c in checks if c["status"] != "AGREED"][:3]
    # The sessions do cross 17:00 local time: the zone of the eMSP's Location copy was needed to agree.
    crossing = emsp.query("SELECT 1 FROM cdrs c WHERE (c.data->>'start_date_time')::timestamptz "
                          "< '2026-11-23T16:00:00Z' AND (c.data->>'end_date_time')::timestamptz > '2026-11-23T16:00:00Z'")
    assert crossing
    out = emsp.cli("cdrs", "disputes")
    assert out.stdout.splitlines()[1:] == [] and out.stderr.startswith("0 disputed or unverifiable CDRs")


# --- README's walkthrough, a messy event stream, an inflating CPO, a real-time refusal ------------------------

_doc = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


def _docs(instance: Instance, table: str, where: str, *args: Any) -> dict[str, dict[str, Any]]:
    return {r["id"]: _doc.decode(r["data"]) for r in instance.query(f"SELECT id, data::text AS data FROM {table} WHERE {where}", *args)}


def test_walkthrough_day_by_day(pair: tuple[Instance, Instance, Path]) -> None:
    """README's walkthrough: an afternoon cut at 17:30 local, watched while it runs, replayed twice."""
    cpo, emsp, root = pair
    day1, day2 = root / "day-1.jsonl", root / "day-2.jsonl"
    cpo.cli("sessions", "generate", "--sessions", "40", "--until", "2026-11-23T17:30:00+01:00", "--out", str(day1))
    cpo.cli("sessions", "generate", "--sessions", "40", "--from", "2026-11-23T17:30:00+01:00", "--out", str(day2))
    first = cpo.cli("sessions", "replay", str(day1), "--no-progress").stdout
    assert " 0 refused" in first
    active = cpo.query("SELECT session_id FROM charging_sessions WHERE status = 'ACTIVE' AND session_id LIKE 'G9764d9b4-%'")
    assert active
    view = json.loads(cpo.cli("sessions", "watch", "--once", "--json").stdout)
    assert view["active_sessions"] == len(active)
    # The eMSP hears of every running session (a PUT at start).
    wait_for(lambda: len(emsp.query("SELECT 1 FROM sessions WHERE id LIKE 'G9764D9B4-%'")) >= len(active), 60,
             "running sessions at the eMSP")

    second = cpo.cli("sessions", "replay", str(day2), "--no-progress").stdout
    assert " 0 refused, 40 CDRs issued" in second or ("0 refused" in second and "CDRs issued" in second)
    assert not cpo.query("SELECT 1 FROM charging_sessions WHERE status = 'ACTIVE' AND session_id LIKE 'G9764d9b4-%'")
    cdrs = _docs(cpo, "cdrs", "peer_id IS NULL AND id LIKE 'G9764D9B4-%'")
    sessions = _docs(cpo, "sessions", "peer_id IS NULL AND id LIKE 'G9764D9B4-%'")
    assert len(cdrs) == 40 and len(sessions) == 40

    again = cpo.cli("sessions", "replay", str(day2), "--no-progress").stdout
    assert "0 accepted" in again and "0 refused, 0 CDRs issued" in again
    assert _docs(cpo, "cdrs", "peer_id IS NULL AND id LIKE 'G9764D9B4-%'") == cdrs
    assert _docs(cpo, "sessions", "peer_id IS NULL AND id LIKE 'G9764D9B4-%'") == sessions

    # Every CDR prices from scratch (`ocpi-engine price`) to the totals the live engine gave it.
    for cdr in cdrs.values():
        text = msgspec.json.encode(cdr)
        priced = rust_core.price_cdr(text, time_zone="Europe/Amsterdam")
        assert priced.total_cost == rust_core.Price(**{k: cdr["total_cost"].get(k) for k in ("excl_vat", "incl_vat")})
        assert priced.total_energy == cdr["total_energy"] and priced.total_parking_time == cdr["total_parking_time"]
    # Periods are cut where the price can change: at 17:00 local (16:00Z), at 20 kWh and where parking starts.
    def cuts(cdr: dict[str, Any]) -> set[str]:
        found, energy = set(), Decimal(0)
        for p in cdr["charging_periods"]:
            found |= {"17:00"} if p["start_date_time"].endswith("T16:00:00Z") else set()
            found |= {"20 kWh"} if energy == 20 else set()
            found |= {"parking"} if any(d["type"] == "PARKING_TIME" for d in p["dimensions"]) else set()
            energy += sum((d["volume"] for d in p["dimensions"] if d["type"] == "ENERGY"), Decimal(0))
        return found

    assert cuts(cdrs["G9764D9B4-000025"]) == {"17:00", "20 kWh", "parking"}
    explain = cpo.cli("cdrs", "explain", "G9764d9b4-000025").stdout
    assert "PARKING_TIME" in explain and "16:00" in explain

    # The eMSP's copies (PUT, coalesced PATCHes, the PATCH at the stop) equal ours; the CDRs arrived and agree.
    wait_for(lambda: len(emsp.query("SELECT 1 FROM cdr_checks WHERE status = 'AGREED' AND id LIKE 'G9764D9B4-%'")) == 40,
             120, "the day's CDRs checked at the eMSP")
    assert _docs(emsp, "sessions", "id LIKE 'G9764D9B4-%'") == sessions
    assert _docs(emsp, "cdrs", "id LIKE 'G9764D9B4-%'") == cdrs


def test_duplicated_late_and_bad_events_change_nothing(pair: tuple[Instance, Instance, Path]) -> None:
    """The same sessions delivered cleanly and delivered late, twice and among bad events give the same CDRs;
    every bad event is refused naming its field."""
    cpo, _, root = pair
    clean, messy, errors = root / "clean.jsonl", root / "messy.jsonl", root / "messy-errors.jsonl"
    common = ["--sessions", "20", "--seed", "7", "--start", "2026-11-25T14:00:00+01:00"]
    cpo.cli("sessions", "generate", *common, "--id-prefix", "CLEAN", "--out", str(clean))
    cpo.cli("sessions", "generate", *common, "--id-prefix", "MESSY", "--out", str(messy), "--bad", "0.05",
            "--duplicates", "0.05", "--shuffle-window", "600", "--shuffle-share", "0.3")
    assert " 0 refused" in cpo.cli("sessions", "replay", str(clean), "--no-progress").stdout
    result = cpo.cli("sessions", "replay", str(messy), "--no-progress", "--errors", str(errors), check=False)
    assert result.returncode == 1
    lines = messy.read_text().splitlines()
    bad = {n + 1: json.loads(line)["_bad_field"] for n, line in enumerate(lines) if '"_bad_field"' in line}
    refused = {e["line"]: e["field"] for e in map(json.loads, errors.read_text().splitlines())}
    assert bad and refused == bad

    def by_session(prefix: str) -> dict[str, dict[str, Any]]:
        out = {}
        for cdr_id, cdr in _docs(cpo, "cdrs", "peer_id IS NULL AND id LIKE $1", f"{prefix}-%").items():
            # The eMSP gives each real-time authorization its own reference.
            cdr = {k: v for k, v in cdr.items() if k not in ("id", "session_id", "last_updated", "authorization_reference")}
            out[cdr_id.removeprefix(prefix)] = cdr
        return out

    clean_cdrs, messy_cdrs = by_session("CLEAN"), by_session("MESSY")
    assert len(clean_cdrs) == 20 and messy_cdrs == clean_cdrs


def test_an_inflating_cpo_is_disputed(pair: tuple[Instance, Instance, Path]) -> None:
    """A CPO that adds 10 % to the totals of its CDRs: the eMSP's re-pricing disputes each one."""
    cpo, emsp, root = pair
    inflated = []
    for cdr_id, cdr in sorted(_docs(cpo, "cdrs", "peer_id IS NULL AND id LIKE 'CLEAN-%'").items())[:3]:
        cdr["id"] = f"{cdr_id}-X"
        for name, value in cdr.items():
            if name.startswith("total_") and name.endswith("cost") and isinstance(value, dict):
                cdr[name] = {k: (v * Decimal("1.1")).quantize(Decimal("0.0001")) for k, v in value.items()}
        inflated.append(cdr)
    path = root / "inflated.json"
    path.write_bytes(msgspec.json.encode(inflated))
    cpo.cli("import", "cdrs", str(path), "--no-progress")
    ids = sorted(c["id"] for c in inflated)
    wait_for(lambda: len(emsp.query("SELECT 1 FROM cdr_checks WHERE status <> 'PENDING' AND id LIKE 'CLEAN-%-X'")) == 3,
             120, "the inflated CDRs checked")
    disputes = json.loads(emsp.cli("cdrs", "disputes", "--json").stdout)
    disputed = sorted(d["cdr_id"] for d in disputes if d["status"] == "DISPUTED")
    assert disputed == ids, disputes


def test_a_real_time_refusal_starts_no_session(pair: tuple[Instance, Instance, Path]) -> None:
    """A NEVER token the CPO has not cached is asked about in real time; the eMSP says BLOCKED."""
    cpo, emsp, root = pair
    token = {"country_code": "NL", "party_id": "MSP", "uid": "REFUSEME01", "type": "RFID", "contract_id": "NL-MSP-R01",
             "issuer": "MSP Mobility", "valid": False, "whitelist": "NEVER", "last_updated": "2026-11-01T00:00:00Z"}
    path = root / "blocked-token.json"
    path.write_text(json.dumps([token]))
    emsp.cli("import", "tokens", str(path), "--no-push", "--no-progress")
    connector = cpo.query("SELECT id, data->'evses'->0->>'uid' AS evse FROM locations WHERE peer_id IS NULL "
                          "AND data->>'city' = 'Amsterdam' LIMIT 1")[0]
    event = {"event_id": "REFUSE-1", "session_id": "REFUSED-1", "type": "session_started",
             "time": "2026-11-26T10:00:00+01:00", "location_id": connector["id"], "evse_uid": connector["evse"],
             "connector_id": "1", "token_uid": "REFUSEME01", "meter_wh": 100}
    events, errors = root / "refused.jsonl", root / "refused-errors.jsonl"
    events.write_text(json.dumps(event) + "\n")
    result = cpo.cli("sessions", "replay", str(events), "--no-progress", "--errors", str(errors), check=False)
    assert result.returncode == 1
    (refusal,) = map(json.loads, errors.read_text().splitlines())
    assert refusal["field"] == "token_uid" and "BLOCKED" in refusal["message"], refusal
    assert not cpo.query("SELECT 1 FROM charging_sessions WHERE session_id = 'REFUSED-1'")
    assert not cpo.query("SELECT 1 FROM charging_events WHERE session_id = 'REFUSED-1'")
