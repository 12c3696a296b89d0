"""Re-rating's fast path (`app/reprice/batch.py`: CDRs prepared and priced in rust_core) gives the same prices as the
CDR check's path (`checks.checker.price`: prepared in Python, priced by `price_batch`), on the demo CDRs and on
`benchmarks/generate.py` CDRs. Real PostgreSQL."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from app.checks.checker import price
from app.db.pool import create_pool
from app.demo.load import load
from app.modules.common import load_doc
from app.modules.owned import MODULES, import_objects
from app.reprice.batch import Row, Versions, Zones, price_rows
from app.reprice.runs import Stats
from tests.service import Instance, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from generate import iter_cdr_lines, make_tariffs  # noqa: E402


@pytest.fixture(scope="module")
def db(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("reprice-fast"), "reprice_fast")
    inst.cli("party", "list")  # migrates

    async def setup() -> None:
        pool = await create_pool(inst.dsn, 1, 2)
        try:
            await load(pool, inst.vault)
            result = await import_objects(pool, MODULES["tariffs"],
                                          [json.dumps(t).encode() for t in make_tariffs(random.Random(42))], push=False)
            assert not result.errors, result.errors[:3]
        finally:
            await pool.close()

    run(setup())
    yield inst
    inst.drop()


def _excl(line: bytes | None) -> Decimal | None:
    if line is None:
        return None
    total = msgspec.json.decode(line)["total_cost"]
    value = total.get("excl_vat") if isinstance(total, dict) else total
    return None if value is None else Decimal(str(value))


async def _both(dsn: str, docs: list[bytes]) -> tuple[list[tuple[str, Decimal | None]], list[tuple[str, Decimal | None]]]:
    conn = await asyncpg.connect(dsn)
    try:
        slow = [("PRICED" if p.line is not None else "FAILED", _excl(p.line))
                for p in await price(conn, [load_doc(d) for d in docs])]
        batch: list[Row] = [(n, "NL", "EXA", str(n), d) for n, d in enumerate(docs)]
        rows = await price_rows(conn, 1, "test", batch, Stats(), Versions(), Zones())
        fast = [(str(r[5]), r[8]) for r in rows]  # (status, new_total)
        return slow, fast
    finally:
        await conn.close()


def _assert_same(slow: list[tuple[str, Any]], fast: list[tuple[str, Any]]) -> None:
    assert len(slow) == len(fast)
    for n, (s, f) in enumerate(zip(slow, fast, strict=True)):
        assert s == f, f"CDR {n}: checker.price {s}, fast path {f}"


def test_same_totals_on_the_demo_cdrs(db: Instance) -> None:
    docs = [r["data"].encode() for r in db.query("SELECT data::text AS data FROM cdrs ORDER BY seq")]
    assert len(docs) >= 500
    slow, fast = run(_both(db.dsn, docs))
    assert sum(s == "PRICED" for s, _ in slow) == len(docs)
    _assert_same(slow, fast)


def test_same_totals_on_generated_cdrs(db: Instance) -> None:
    tariffs = make_tariffs(random.Random(42))
    docs = list(iter_cdr_lines(2000, 42, tariffs))
    slow, fast = run(_both(db.dsn, docs))
    assert sum(s == "PRICED" for s, _ in slow) > 1900
    _assert_same(slow, fast)


def test_bad_cdrs_fail_alike(db: Instance) -> None:
    good = json.loads(db.query("SELECT data::text AS data FROM cdrs ORDER BY seq LIMIT 1")[0]["data"])
    docs = [json.dumps(d).encode() for d in (
        {**good, "start_date_time": "yesterday"},
        {**good, "charging_periods": [{**good["charging_periods"][0], "tariff_id": "NOPE"}]},
        {**good, "charging_periods": []},
        {k: v for k, v in good.items() if k != "country_code"},
    )] + [b"{not json"]

    async def fast() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(db.dsn)
        try:
            batch: list[Row] = [(n, "NL", "EXA", str(n), d) for n, d in enumerate(docs)]
            return await price_rows(conn, 1, "test", batch, Stats(), Versions(), Zones())
        finally:
            await conn.close()

    rows = run(fast())
    assert [r[5] for r in rows] == ["FAILED"] * len(docs)
    reasons = [str(r[14]) for r in rows]
    assert "cannot be prepared" in reasons[0] and "datetime" in reasons[0]
    assert "we hold no tariff NOPE of NL*EXA" in reasons[1]
    assert "charging_periods" in reasons[2]
    assert "country_code" in reasons[3]
