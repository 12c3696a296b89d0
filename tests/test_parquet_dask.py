"""Priced results as Parquet (`price-batch --format parquet`) and batch pricing on a Dask LocalCluster."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.rating import PricingOptions, load_tariff_files, price_file
from rust_core import decode_result
from tests.conftest import DEMO

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

OPTIONS = PricingOptions(time_zone="Europe/Amsterdam", breakdown=True)


def run(*args: str, env_python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(env_python or [sys.executable, "-m", "app"]), *args], capture_output=True, text=True,
                          timeout=120)


def jsonl_totals(path: Path) -> dict[str, tuple[Decimal, Decimal | None, Decimal]]:
    found = {}
    for line in path.read_bytes().splitlines():
        r = decode_result(line)
        cost = r.total_cost
        assert not isinstance(cost, Decimal)
        found[r.id or ""] = (cost.amount, cost.incl_vat, r.total_energy)
    return found


def parquet_totals(paths: list[Path]) -> dict[str, tuple[Decimal, Decimal | None, Decimal]]:
    found = {}
    for path in paths:
        for row in pq.read_table(path, columns=["id", "total_cost", "total_cost_incl_vat", "total_energy"]).to_pylist():
            found[row["id"]] = (row["total_cost"], row["total_cost_incl_vat"], row["total_energy"])
    return found


def test_parquet_round_trips_the_exact_totals_of_jsonl(tmp_path: Path) -> None:
    tariffs = load_tariff_files([DEMO / "tariffs.json"])
    # A small chunk: several engine batches, so several row groups.
    price_file(DEMO / "cdrs.jsonl", tariffs, tmp_path / "out.jsonl", OPTIONS, chunk_bytes=200_000)
    price_file(DEMO / "cdrs.jsonl", tariffs, tmp_path / "out.parquet", OPTIONS, chunk_bytes=200_000,
               out_format="parquet")
    expected = jsonl_totals(tmp_path / "out.jsonl")
    assert len(expected) == 500
    assert parquet_totals([tmp_path / "out.parquet"]) == expected

    meta = pq.ParquetFile(tmp_path / "out.parquet")
    assert meta.metadata.num_row_groups > 1
    schema = meta.schema_arrow
    assert schema.field("total_cost").type == pa.decimal128(38, 4)
    assert schema.field("start_date_time").type == pa.timestamp("us", tz="UTC")
    first = pq.read_table(tmp_path / "out.parquet").slice(0, 1).to_pylist()[0]
    line = decode_result((tmp_path / "out.jsonl").read_bytes().splitlines()[0])
    assert first["start_date_time"].isoformat().replace("+00:00", "Z") == line.start_date_time
    assert first["breakdown"].startswith('[{"charging_period":0')  # the periods' JSON text, kept as it is


def test_parquet_of_ocpi_230_adds_the_taxes(tmp_path: Path) -> None:
    tariffs = load_tariff_files([DEMO / "tariffs.json"])
    opts = PricingOptions(time_zone="Europe/Amsterdam", version="2.3.0")
    price_file(DEMO / "cdrs.jsonl", tariffs, tmp_path / "out.parquet", opts, out_format="parquet")
    price_file(DEMO / "cdrs.jsonl", tariffs, tmp_path / "out.jsonl", opts)
    expected = {}
    for line in (tmp_path / "out.jsonl").read_bytes().splitlines():
        r = decode_result(line)
        cost = r.total_cost
        assert not isinstance(cost, Decimal) and cost.before_taxes is not None
        expected[r.id] = (cost.before_taxes, cost.before_taxes + sum(t.amount for t in cost.taxes or []), r.total_energy)
    assert parquet_totals([tmp_path / "out.parquet"]) == expected


def test_cli_format_parquet(tmp_path: Path) -> None:
    out = tmp_path / "priced.parquet"
    r = run("price-batch", str(DEMO / "cdrs.jsonl"), "--tariffs", str(DEMO / "tariffs.json"), "--time-zone",
            "Europe/Amsterdam", "--out", str(out), "--format", "parquet", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert pq.read_metadata(out).num_rows == 500


BLOCK_PYARROW = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Block())
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_missing_pyarrow_names_the_extra(tmp_path: Path) -> None:
    out = tmp_path / "priced.parquet"
    args = [str(DEMO / "cdrs.jsonl"), "--tariffs", str(DEMO / "tariffs.json"), "--out", str(out), "--no-progress"]
    r = run("price-batch", *args, "--format", "parquet", env_python=[sys.executable, "-c", BLOCK_PYARROW])
    assert r.returncode == 2
    assert "pip install ocpi-engine[parquet]" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    r = run("price-batch", *args, "--dask", "local:1", env_python=[sys.executable, "-c", BLOCK_PYARROW])
    assert r.returncode == 2 and "pip install ocpi-engine[dask]" in r.stderr, r.stderr
    # JSON Lines output needs no extra.
    r = run("price-batch", *args, env_python=[sys.executable, "-c", BLOCK_PYARROW])
    assert r.returncode == 0, r.stderr


# --- Dask ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       scheduler_port=0)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_prices_partitions_like_price_file(tmp_path: Path, client: Any) -> None:
    from app.rating.dask import price_on_dask

    lines = (DEMO / "cdrs.jsonl").read_bytes().splitlines(keepends=True)
    src = tmp_path / "cdrs.jsonl"
    src.write_bytes(b"".join(lines[:300]))
    # A second input as Parquet: one JSON document a row, two row groups (two partitions).
    pq.write_table(pa.table({"cdr": [ln.decode().strip() for ln in lines[300:]]}), tmp_path / "more.parquet",
                   row_group_size=100)
    whole = tmp_path / "all.jsonl"
    whole.write_bytes(b"".join(lines))
    price_file(whole, load_tariff_files([DEMO / "tariffs.json"]), tmp_path / "expected.jsonl", OPTIONS)

    summary = price_on_dask(client, [src, tmp_path / "more.parquet"], (DEMO / "tariffs.json").read_bytes(),
                            tmp_path / "out", OPTIONS, blocksize=200_000)
    assert len(summary.parts) >= 4  # byte ranges of the JSON Lines file + the row groups
    assert not summary.failed and summary.errors == 0
    assert (summary.records, summary.priced) == (500, 500)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert len(parts) == len(summary.parts)
    assert parquet_totals(parts) == jsonl_totals(tmp_path / "expected.jsonl")


def test_dask_reports_a_bad_record_and_prices_the_rest(tmp_path: Path, client: Any) -> None:
    from app.rating.dask import price_on_dask

    lines = (DEMO / "cdrs.jsonl").read_bytes().splitlines(keepends=True)[:40]
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines[:20]))
    (tmp_path / "b.jsonl").write_bytes(b"".join(lines[20:25]) + b'{"id": "BROKEN", "currency": 7}\n'
                                       + b"".join(lines[25:]))
    summary = price_on_dask(client, [tmp_path / "a.jsonl", tmp_path / "b.jsonl"],
                            (DEMO / "tariffs.json").read_bytes(), tmp_path / "out", OPTIONS, out_format="jsonl")
    assert (summary.records, summary.priced, summary.errors) == (41, 40, 1)
    bad = summary.parts[1]
    assert bad.partition.path.endswith("b.jsonl")
    assert [(line, rec_id) for line, rec_id, _f, _m in bad.first_errors] == [(6, "BROKEN")]
    assert b"BROKEN" in (tmp_path / "out" / "part-00001.errors.jsonl").read_bytes()
    assert not summary.failed
    with pytest.raises(FileNotFoundError, match="gone"):
        price_on_dask(client, [tmp_path / "gone-*.jsonl"], (DEMO / "tariffs.json").read_bytes(), tmp_path / "o2")
