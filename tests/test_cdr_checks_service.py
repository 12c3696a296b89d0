"""End to end on loopback: a CPO (NL*EXA) and an eMSP (NL*MSP) over real HTTP. The eMSP holds the CPO's tariffs
(pulled, then a new version pushed) and Locations; CDRs arrive by the CPO's POSTs and by the eMSP's pull, the
eMSP's checker re-prices them, and the outcomes are listed by `cdrs disputes` and the operator API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cdr_samples import AMSTERDAM, DEMO, cdr, dumps, energy_tariff, evening_tariff, priced
from tests.service import Instance, wait_for

OLD = energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z")
NEW = energy_tariff("T1", "0.40", "2026-11-30T16:00:00Z")  # T1 changes in the middle of the first sessions
EVENING = evening_tariff()


def _write(path: Path, docs: list[dict[str, Any]]) -> str:
    path.write_text("\n".join(dumps(d) for d in docs) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, Path]]:
    root = tmp_path_factory.mktemp("checks")
    cpo, emsp = Instance(pg_admin_dsn, root, "cpo"), Instance(pg_admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        cpo.cli("import", "tariffs", _write(root / "t.jsonl", [OLD, EVENING]), "--no-progress")
        cpo.cli("import", "locations", str(DEMO / "locations.json"), "--no-progress")
        cpo.start()
        emsp.start()
        token_a = cpo.invite("msp", "NL/MSP/EMSP")
        emsp.cli("peer", "register", "--label", "cpo", "--", cpo.versions_url, token_a)
        emsp.cli("pull", "tariffs", "1")
        emsp.cli("pull", "locations", "1")
        # A new version of T1 reaches the eMSP by the CPO's push (Tariffs Receiver PUT).
        cpo.cli("import", "tariffs", _write(root / "t2.jsonl", [NEW]), "--no-progress")
        wait_for(lambda: len(emsp.query("SELECT 1 FROM tariff_versions WHERE id = 'T1'")) == 2, what="T1's new version")
        yield cpo, emsp, root
    finally:
        for instance in (cpo, emsp):
            instance.drop()


def _checked(emsp: Instance, ids: list[str]) -> dict[str, Any]:
    def done() -> list[Any]:
        rows = emsp.query("SELECT id, status FROM cdr_checks WHERE id = ANY($1::text[]) AND status <> 'PENDING'", ids)
        return rows if len(rows) == len(ids) else []

    return {r["id"]: r["status"] for r in wait_for(done, 30, f"checks of {ids}")}


def test_pushed_cdrs_are_checked(pair: tuple[Instance, Instance, Path]) -> None:
    cpo, emsp, root = pair
    secret = {**OLD, "id": "SECRET"}
    cdrs = [
        priced(cdr("C-AGREED", "T1"), [OLD]),  # started before T1 changed: the old version
        priced(cdr("C-INFLATED", "T1"), [OLD], factor=Decimal("1.10")),
        priced(cdr("C-EVENING", "TOD-17"), [EVENING], AMSTERDAM),  # across 17:00 in Amsterdam
        priced(cdr("C-SECRET", "SECRET"), [secret]),  # a tariff the eMSP was never given
        priced(cdr("C-NEW", "T1", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z",
                   periods=[("2026-12-01T10:00:00Z", "20", "1")]), [NEW]),
    ]
    assert "5 pushes queued" in cpo.cli("import", "cdrs", _write(root / "c.jsonl", cdrs), "--no-progress").stdout
    assert _checked(emsp, [c["id"] for c in cdrs]) == {"C-AGREED": "AGREED", "C-INFLATED": "DISPUTED",
                                                       "C-EVENING": "AGREED", "C-SECRET": "UNVERIFIABLE",
                                                       "C-NEW": "AGREED"}

    table = emsp.cli("cdrs", "disputes")
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["CDR", "CPO", "STATUS"] and len(lines) == 3
    assert "2 disputed or unverifiable CDRs" in table.stderr
    inflated = next(line for line in lines if "C-INFLATED" in line)
    assert inflated.split()[:9] == ["NL/EXA/C-INFLATED", "NL*EXA", "DISPUTED", "6.05", "EUR", "5.5", "EUR", "0.55", "EUR"]
    assert "we hold no tariff SECRET of NL*EXA" in next(line for line in lines if "C-SECRET" in line)

    listed = json.loads(emsp.cli("cdrs", "disputes", "--json").stdout)
    assert {d["cdr_id"]: d["status"] for d in listed} == {"C-INFLATED": "DISPUTED", "C-SECRET": "UNVERIFIABLE"}
    every = json.loads(emsp.cli("cdrs", "disputes", "--json", "--all").stdout)
    assert {d["cdr_id"] for d in every} >= {c["id"] for c in cdrs}


def test_checks_api(pair: tuple[Instance, Instance, Path]) -> None:
    cpo, emsp, _ = pair
    _checked(emsp, ["C-INFLATED"])
    key = emsp.cli("apikey", "create", "--label", "ops").stdout.strip()
    api = f"{emsp.url}/api/v1/cdr-checks"
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(api).status_code == 401

    r = httpx.get(api, params={"status": "disputed"}, headers=auth)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1 and [i["cdr_id"] for i in page["items"]] == ["C-INFLATED"]
    assert page["items"][0]["their_total"] == 6.05 and page["items"][0]["difference"] == 0.55

    r = httpx.get(api, params={"status": "AGREED,UNVERIFIABLE", "limit": "2", "offset": "1"}, headers=auth)
    assert r.status_code == 200 and r.json()["total"] >= 4 and len(r.json()["items"]) == 2

    detail = httpx.get(f"{api}/nl/exa/c-inflated", headers=auth).json()
    assert detail["status"] == "DISPUTED"
    assert detail["ours"]["total_cost"]["excl_vat"] == 5.5 and detail["ours"]["periods"]
    assert detail["theirs"]["total_cost"] == {"excl_vat": 6.05, "incl_vat": 7.32}
    assert {d["field"] for d in detail["differences"]} >= {"total_cost.excl_vat", "total_energy", "total_time"}

    r = httpx.get(f"{api}/NL/EXA/NO-SUCH-CDR", headers=auth)
    assert r.status_code == 404 and "NO-SUCH-CDR" in r.json()["error"]
    r = httpx.get(api, params={"status": "WRONG"}, headers=auth)
    assert r.status_code == 400 and r.json()["field"] == "status"
    r = httpx.get(api, params={"limit": "5000"}, headers=auth)
    assert r.status_code == 400 and r.json()["field"] == "limit"
    r = httpx.get(api, params={"offset": "-1"}, headers=auth)
    assert r.status_code == 400 and r.json()["field"] == "offset"

    schema = httpx.get(f"{emsp.url}/schema/openapi.json").json()
    assert "/api/v1/cdr-checks/{country_code}/{party_id}/{cdr_id}" in schema["paths"]
    ok = schema["paths"]["/api/v1/cdr-checks"]["get"]["responses"]["200"]
    assert "CheckPage" in json.dumps(ok)


def test_cdrs_stored_while_the_checker_is_down_are_checked_at_start(pair: tuple[Instance, Instance, Path]) -> None:
    cpo, emsp, root = pair
    later = [priced(cdr(f"C-PULLED-{i}", "T1", start="2026-12-02T10:00:00Z", end="2026-12-02T11:00:00Z",
                        periods=[("2026-12-02T10:00:00Z", str(10 + i), "1")]), [NEW]) for i in range(3)]
    cpo.cli("import", "cdrs", _write(root / "later.jsonl", later), "--no-push", "--no-progress")
    emsp.stop()
    assert "stored" in emsp.cli("pull", "cdrs", "1").stdout  # the pull path queues checks too
    pending = emsp.query("SELECT id FROM cdr_checks WHERE status = 'PENDING' ORDER BY id")
    assert [r["id"] for r in pending] == [c["id"] for c in later]
    emsp.start()
    assert set(_checked(emsp, [c["id"] for c in later]).values()) == {"AGREED"}
