"""The charging flow end to end, checked by the eMSP (issue 8, "Done when"): the CPO's engine prices generated
sessions (across 17:00 in Amsterdam, kWh thresholds, parking) into CDRs; the eMSP re-prices each with the tariffs
and Locations the CPO pushed to it, and agrees with every one: `cdrs disputes` is empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cdr_samples import DEMO
from tests.service import Instance, wait_for

SESSIONS = 40


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, Path]]:
    root = tmp_path_factory.mktemp("flow")
    cpo, emsp = Instance(pg_admin_dsn, root, "cpo"), Instance(pg_admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        cpo.start()
        emsp.start()
        token_a = emsp.invite("cpo", "NL/EXA/CPO")
        cpo.cli("peer", "register", "--party", "NL/MSP/EMSP", "--", emsp.versions_url, token_a)
        cpo.cli("import", "tariffs", str(DEMO / "tariffs.json"), "--no-progress")
        cpo.cli("import", "locations", str(DEMO / "locations.json"), "--no-progress")
        emsp.cli("import", "tokens", str(DEMO / "tokens.json"), "--no-progress")
        tariffs = len(json.loads((DEMO / "tariffs.json").read_text()))
        wait_for(lambda: len(emsp.query("SELECT 1 FROM tariff_versions")) == tariffs, 60, "tariffs at the eMSP")
        wait_for(lambda: not cpo.query("SELECT 1 FROM outbox WHERE state = 'PENDING'"), 120, "pushes delivered")
        wait_for(lambda: cpo.query("SELECT 1 FROM tokens LIMIT 1"), 60, "tokens at the CPO")
        yield cpo, emsp, root
    finally:
        for instance in (cpo, emsp):
            instance.drop()


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
