"""`cdrs runs --run ID --export FILE --format jsonl|parquet`: a run's results out of PostgreSQL, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.service import Instance
from tests.test_reprice import cpo, reprice  # noqa: F401  (the module's database with the demo data)

pq = pytest.importorskip("pyarrow.parquet")


def test_export_run_results_as_parquet_and_jsonl(cpo: Instance, tmp_path: Path) -> None:  # noqa: F811
    run_id = reprice(cpo)["run"]
    for fmt in ("jsonl", "parquet"):
        cpo.cli("cdrs", "runs", "--run", str(run_id), "--export", str(tmp_path / f"r.{fmt}"), "--format", fmt)
    expected = {r["seq"]: r["new_total"] for r in cpo.query(
        "SELECT seq, new_total FROM reprice_results WHERE run_id = $1", run_id)}
    lines = [json.loads(line, parse_float=Decimal) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {d["seq"]: d["new_total"] for d in lines} == expected
    table = pq.read_table(tmp_path / "r.parquet")
    assert {r["seq"]: r["new_total"] for r in table.select(["seq", "new_total"]).to_pylist()} == expected
    assert str(table.schema.field("new_total").type) == "decimal128(38, 10)"
    bad = cpo.cli("cdrs", "runs", "--export", str(tmp_path / "x.jsonl"), check=False)
    assert bad.returncode == 2 and "--export needs --run" in bad.stderr
