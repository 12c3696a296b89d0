"""`ocpi-engine tariffs assign` and `ocpi-engine cdrs explain` on a real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rust_core import price_cdr_json
from tests.service import Instance

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"


@pytest.fixture(scope="module")
def cpo(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("charging-cli"), "cpo")
    try:
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        inst.cli("import", "tariffs", str(DEMO / "tariffs.json"), "--no-progress", "--no-push")
        yield inst
    finally:
        inst.drop()


def test_tariffs_assign_and_remove(cpo: Instance) -> None:
    out = cpo.cli("tariffs", "assign", "trf-0003", "--party", "nl/exa", "--emsp", "NL/MSP").stdout
    assert "TRF-0003" in out.upper() and "NL*MSP" in out
    cpo.cli("tariffs", "assign", "TRF-0004", "--party", "NL/EXA", "--emsp", "NL/MSP")  # replaces
    rows = cpo.query("SELECT * FROM tariff_assignments")
    assert [(r["country_code"], r["party_id"], r["emsp_country_code"], r["emsp_party_id"], r["tariff_id"])
            for r in rows] == [("NL", "EXA", "NL", "MSP", "TRF-0004")]
    missing = cpo.cli("tariffs", "assign", "TRF-9999", "--party", "NL/EXA", "--emsp", "NL/MSP", check=False)
    assert missing.returncode == 2 and "has no tariff 'TRF-9999'" in missing.stderr
    bad = cpo.cli("tariffs", "assign", "TRF-0004", "--party", "NLEXA", "--emsp", "NL/MSP", check=False)
    assert bad.returncode != 0 and "--party 'NLEXA'" in bad.stderr
    wrong = cpo.cli("tariffs", "assign", "TRF-0003", "--party", "NL/EXA", "--emsp", "NL/MSP", "--remove", check=False)
    assert wrong.returncode == 2 and "is not assigned" in wrong.stderr
    cpo.cli("tariffs", "assign", "TRF-0004", "--party", "NL/EXA", "--emsp", "NL/MSP", "--remove")
    assert not cpo.query("SELECT 1 FROM tariff_assignments")


def test_cdrs_explain(cpo: Instance) -> None:
    cdr = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    breakdown = price_cdr_json(json.dumps(cdr), (DEMO / "tariffs.json").read_bytes(), time_zone="Europe/Amsterdam")
    priced = json.loads(breakdown)
    cpo.query("INSERT INTO cdr_breakdowns (country_code, party_id, id, breakdown) VALUES ('NL', 'EXA', $1, $2)",
              cdr["id"].upper(), breakdown.decode())
    text = cpo.cli("cdrs", "explain", cdr["id"].lower()).stdout
    assert "PERIOD" in text and "BILLED" in text
    dimension = priced["periods"][0]["dimensions"][0]
    assert dimension["type"] in text and str(dimension["billed_volume"]) in text
    assert f"total {priced['total_cost']['excl_vat']}" in text
    assert json.loads(cpo.cli("cdrs", "explain", cdr["id"], "--json").stdout) == priced
    missing = cpo.cli("cdrs", "explain", "NOPE", check=False)
    assert missing.returncode == 2 and "no CDR 'NOPE'" in missing.stderr
    other = cpo.cli("cdrs", "explain", cdr["id"], "--party", "NL/ABC", check=False)
    assert other.returncode == 2
