"""Re-rating's fast path (`app/reprice/batch.py`: COPY rows in, prepared and priced in rust_core, COPY rows out) gives
the same prices as the CDR check's path (`checks.checker.price`: prepared in Python, priced by `price_batch`), on the
demo CDRs and on `benchmarks/generate.py` CDRs, and chooses the same tariff versions as the CDR check's SQL. Real
PostgreSQL: the rows are COPYed out of a table and the results COPYed into one."""

from __future__ import annotations

import datetime as dt
import io
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
from app.checks.tariff_history import find_versions
from app.modules.common import load_doc
from app.modules.owned import MODULES, import_objects
from app.reprice.batch import COLUMNS, Versions, Zones, price_copy
from app.reprice.runs import Stats
from tests.service import Instance, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from generate import iter_cdr_lines, make_tariffs  # noqa: E402


@pytest.fixture(scope="module")
def db(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("reprice-fast"), "reprice_fast")

    async def generated_tariffs(pool: asyncpg.Pool) -> None:
        result = await import_objects(pool, MODULES["tariffs"],
                                      [json.dumps(t).encode() for t in make_tariffs(random.Random(42))], push=False)
        assert not result.errors, result.errors[:3]

    inst.with_demo(generated_tariffs)
    yield inst
    inst.drop()


def _excl(line: bytes | None) -> Decimal | None:
    if line is None:
        return None
    total = msgspec.json.decode(line)["total_cost"]
    value = total.get("excl_vat") if isinstance(total, dict) else total
    return None if value is None else Decimal(str(value))


async def _price_fast(conn: asyncpg.Connection, docs: list[bytes], stats: Stats | None = None) -> list[asyncpg.Record]:
    """The docs stored as party NL/EXA's CDRs 0..n-1, COPYed out as a worker reads them, priced by `price_copy`, its
    rows COPYed into a table like `reprice_results`; those rows, by seq."""
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS fast_cdrs (seq bigint, country_code text, party_id text, "
                       "id text, data text); TRUNCATE fast_cdrs; CREATE TEMP TABLE IF NOT EXISTS fast_results "
                       "(LIKE reprice_results INCLUDING DEFAULTS); TRUNCATE fast_results")
    await conn.copy_records_to_table("fast_cdrs", records=[(n, "NL", "EXA", str(n), d if isinstance(d, str) else d.decode())
                                                           for n, d in enumerate(docs)])
    out = io.BytesIO()
    await conn.copy_from_query("SELECT seq, country_code, party_id, id, data FROM fast_cdrs ORDER BY seq", output=out,
                               format="binary")
    payload, n = await price_copy(conn, 1, "test", out.getvalue(), stats or Stats(), Versions(), Zones())
    assert n == len(docs)
    await conn.copy_to_table("fast_results", source=memoryview(payload), columns=COLUMNS, format="binary")
    return await conn.fetch("SELECT * FROM fast_results ORDER BY seq")


async def _both(dsn: str, docs: list[bytes]) -> tuple[list[tuple[str, Decimal | None]], list[tuple[str, Decimal | None]]]:
    conn = await asyncpg.connect(dsn)
    try:
        slow = [("PRICED" if p.line is not None else "FAILED", _excl(p.line))
                for p in await price(conn, [load_doc(d) for d in docs])]
        fast = [(r["status"], r["new_total"]) for r in await _price_fast(conn, docs)]
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

    async def fast() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(db.dsn)
        try:
            return await _price_fast(conn, docs)
        finally:
            await conn.close()

    rows = run(fast())
    assert [r["status"] for r in rows] == ["FAILED"] * len(docs)
    reasons = [str(r["reason"]) for r in rows]
    assert "cannot be prepared" in reasons[0] and "start_date_time" in reasons[0]
    assert "we hold no tariff NOPE of NL*EXA" in reasons[1]
    assert "charging_periods" in reasons[2]
    assert "country_code" in reasons[3]


def test_results_hold_exact_totals_versions_and_breakdown(db: Instance) -> None:
    tariffs = make_tariffs(random.Random(42))
    docs = list(iter_cdr_lines(200, 7, tariffs))

    async def go() -> tuple[list[asyncpg.Record], Stats, list[asyncpg.Record]]:
        conn = await asyncpg.connect(db.dsn)
        try:
            stats = Stats()
            rows = await _price_fast(conn, docs, stats)
            texts = await conn.fetch("SELECT old_total::text, new_total::text, new_total_incl::text, change::text "
                                     "FROM fast_results ORDER BY seq")
            return rows, stats, texts
        finally:
            await conn.close()

    rows, stats, texts = run(go())
    priced = [(r, t) for r, t in zip(rows, texts, strict=True) if r["status"] == "PRICED"]
    assert len(priced) > 190 and stats.priced == len(priced) and stats.failed == len(rows) - len(priced)
    for r, t in priced:
        doc = json.loads(docs[r["seq"]], parse_float=Decimal)
        result = json.loads(r["breakdown"], parse_float=Decimal)
        # Numerics arrive exactly as written, scale included (COPY binary numeric).
        assert t["new_total"] == str(result["total_cost"]["excl_vat"])
        assert t["new_total_incl"] == str(result["total_cost"]["incl_vat"])
        assert t["old_total"] == str(doc["total_cost"]["excl_vat"])
        assert Decimal(t["change"]) == Decimal(t["new_total"]) - Decimal(t["old_total"])
        assert result["periods"] and result["id"] == doc["id"]
        ids = list(dict.fromkeys(p["tariff_id"].upper() for p in doc["charging_periods"]))
        assert r["tariff_ids"] == ids
        assert [v["id"] for v in json.loads(r["tariff_versions"])] == ids
        assert (r["currency"], r["engine_version"], r["run_id"]) == (doc["currency"], "test", 1)
    changed = sum(1 for r, _ in priced if r["change"] != 0)
    assert stats.changed == changed
    assert sum(g.priced for g in stats.groups.values()) >= len(priced)


def test_versions_chosen_as_the_cdr_checks_sql_chooses_them(db: Instance) -> None:
    """Newest version with last_updated <= the session start, else the oldest: StoredBatch.choose against
    tariff_history.find_versions (the CDR check's SQL), on versions at, between, before and after the sessions' starts."""
    good = json.loads(db.query("SELECT data::text AS data FROM cdrs ORDER BY seq LIMIT 1")[0]["data"])
    tariff = json.loads(db.query("SELECT data::text AS data FROM tariff_versions LIMIT 1")[0]["data"])
    base = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
    moments = [base + dt.timedelta(days=d) for d in (0, 5, 5.5, 20)]
    starts = [base + dt.timedelta(days=d) for d in (-3, 0, 1, 5, 5.25, 5.5, 6, 30)]

    async def go() -> tuple[list[str], list[str]]:
        conn = await asyncpg.connect(db.dsn)
        try:
            await conn.executemany(
                "INSERT INTO tariff_versions (country_code, party_id, id, last_updated, data) VALUES "
                "('NL', 'EXA', 'TV-CHOICE', $1, $2::text::json) ON CONFLICT DO NOTHING",
                [(m, json.dumps({**tariff, "id": "TV-CHOICE", "last_updated": m.isoformat()})) for m in moments])
            docs = []
            for s in starts:
                period = {**good["charging_periods"][0], "tariff_id": "tv-choice", "start_date_time": s.isoformat()}
                end = (s + dt.timedelta(hours=1)).isoformat()
                docs.append(json.dumps({**good, "country_code": "NL", "party_id": "EXA", "start_date_time": s.isoformat(),
                                        "end_date_time": end, "charging_periods": [period]}).encode())
            rows = await _price_fast(conn, docs)
            fast = [json.loads(r["tariff_versions"])[0]["last_updated"] for r in rows]
            found = await find_versions(conn, [("NL", "EXA", "TV-CHOICE", s) for s in starts])
            return fast, [f.last_updated.isoformat() for f in found if f is not None]
        finally:
            await conn.close()

    fast, sql = run(go())
    assert fast == sql
    assert fast[0] == moments[0].isoformat() and fast[-1] == moments[-1].isoformat()
