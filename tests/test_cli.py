"""The `ocpi-engine` console script, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.conftest import DEMO, VECTORS, load_vector


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_commands() -> None:
    r = run("--help")
    assert r.returncode == 0
    for cmd in ["price", "price-batch", "demo"]:
        assert cmd in r.stdout


def test_price_with_tariff_files(tmp_path: Path) -> None:
    v = load_vector(VECTORS / "V11a_complex_monday.json")
    cdr = tmp_path / "cdr.json"
    cdr.write_text(json.dumps({**v["cdr"], "tariffs": []}))
    tariff = tmp_path / "tariff.json"
    tariff.write_text(json.dumps(v["tariffs"][0]))
    r = run("price", "--cdr", str(cdr), "--tariff", str(tariff), "--time-zone", "Europe/Berlin")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout, parse_float=Decimal)
    assert out["total_cost"] == {"excl_vat": Decimal("9"), "incl_vat": Decimal("10.3")}
    assert out["periods"][0]["dimensions"]


def test_price_reports_bad_input_precisely(tmp_path: Path) -> None:
    v = load_vector(VECTORS / "V01_energy_only.json")
    v["cdr"]["charging_periods"][0]["dimensions"][0]["volume"] = "x"
    cdr = tmp_path / "bad.json"
    cdr.write_text(json.dumps(v["cdr"]))
    r = run("price", "--cdr", str(cdr))
    assert r.returncode == 1
    assert "charging_periods[0].dimensions[0].volume" in r.stderr
    bad_tariff = tmp_path / "t.json"
    bad_tariff.write_text('[{"id":"A","currency":"EUR","elements":[]}]')
    r = run("price", "--cdr", str(cdr), "--tariff", str(bad_tariff))
    assert r.returncode == 1 and f"{bad_tariff}[0]: elements" in r.stderr
    r = run("price", "--cdr", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_price_batch_streams_and_lists_bad_records(tmp_path: Path) -> None:
    lines = (DEMO / "cdrs.jsonl").read_bytes().splitlines()[:50]
    lines.insert(10, b'{"id":"BROKEN","start_date_time":"2025-01-01T00:00:00Z"}')
    src = tmp_path / "cdrs.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "priced.jsonl"
    r = run("price-batch", str(src), "--tariffs", str(DEMO / "tariffs.json"), "--time-zone", "Europe/Amsterdam",
            "--out", str(out), "--chunk-mb", "1", "--no-progress")
    assert r.returncode == 1
    assert "51 records, 50 priced, 1 errors" in r.stderr
    assert "line 11 (id BROKEN)" in r.stderr
    assert len(out.read_bytes().splitlines()) == 50
    errors = [json.loads(x) for x in (tmp_path / "priced.jsonl.errors.jsonl").read_text().splitlines()]
    assert errors == [{"error": "required field is missing", "field": "end_date_time", "line": 11, "id": "BROKEN"}]


def test_demo_runs() -> None:
    r = run("demo")
    assert r.returncode == 0, r.stderr
    assert "priced 500 of 500 sample CDRs" in r.stdout
