"""The eMSP's check of received CDRs, on a real database: tariff versions kept by every write, the version in force
at session start, the Location's time zone, the outcomes, and a checker stopped or killed mid-way."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from app.checks.checker import Checker
from app.checks.checker import check as check_cdrs
from app.checks.tariff_history import find_versions, versions_at
from app.db import objects
from app.db.migrate import migrate
from app.db.pool import create_pool, drop_database, ensure_database
from app.modules.common import load_doc
from app.schemas.types import to_utc
from tests.cdr_samples import AMSTERDAM, cdr, demo_location, dumps, energy_tariff, evening_tariff, priced

TARIFFS = objects.ObjectTable("tariffs")
LOCATIONS = objects.ObjectTable("locations")
CDRS = objects.ObjectTable("cdrs", by_emsp=True)
TOLERANCE = Decimal("0.01")


@pytest.fixture()
def dsn(pg_admin_dsn: str) -> Iterator[str]:
    name = f"t_checks_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(ensure_database(pg_admin_dsn, name))

    async def prepare() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            await conn.execute("INSERT INTO peers (id, label, status) VALUES (1, 'cpo', 'REGISTERED')")
        finally:
            await conn.close()

    asyncio.run(prepare())
    try:
        yield url
    finally:
        asyncio.run(drop_database(pg_admin_dsn, name))


Scenario = Callable[..., Awaitable[None]]


def on_pool(scenario: Scenario) -> Callable[[str], None]:
    """A test run in its own event loop with a pool on the test database (no asyncio plugin here)."""

    @functools.wraps(scenario)
    def test(dsn: str) -> None:
        async def go() -> None:
            pool = await create_pool(dsn, 1, 4)
            try:
                if "dsn" in inspect.signature(scenario).parameters:
                    await scenario(pool, dsn)
                else:
                    await scenario(pool)
            finally:
                await pool.close()

        asyncio.run(go())

    test.__signature__ = inspect.Signature([inspect.Parameter("dsn", inspect.Parameter.POSITIONAL_OR_KEYWORD)])  # type: ignore[attr-defined]
    return test


async def put_tariff(pool: asyncpg.Pool, tariff: dict[str, Any], peer_id: int | None = 1) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await objects.put(conn, TARIFFS, ("NL", "EXA", tariff["id"]), dumps(tariff), to_utc(tariff["last_updated"]), peer_id)


async def put_location(pool: asyncpg.Pool, location: dict[str, Any]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await objects.put(conn, LOCATIONS, ("NL", "EXA", location["id"]), dumps(location),
                          to_utc(location["last_updated"]), 1)


async def receive(pool: asyncpg.Pool, doc: dict[str, Any]) -> None:
    """Store a CDR as the Receiver does (a peer's, immutable)."""
    assert await objects.insert_new(pool, CDRS, ("NL", "EXA", doc["id"]), dumps(doc), to_utc(doc["last_updated"]), 1,
                                    ("NL", "MSP"))


async def check(pool: asyncpg.Pool, cdr_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM cdr_checks WHERE id = $1", cdr_id)
    assert row is not None
    return row


async def check_all(pool: asyncpg.Pool) -> int:
    checker = Checker(pool, TOLERANCE, batch=50)
    total = 0
    while n := await checker.check_due():
        total += n
    return total


@on_pool
async def test_versions_are_kept_by_every_write_and_survive_delete(pool: asyncpg.Pool) -> None:
    await put_tariff(pool, energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z"))
    await put_tariff(pool, energy_tariff("T1", "0.35", "2026-06-01T00:00:00Z"))
    async with pool.acquire() as conn, conn.transaction():  # the import path: many at once
        await objects.put_many(conn, TARIFFS, [(("NL", "EXA", "T1"), dumps(energy_tariff("T1", "0.45", "2026-09-01T00:00:00Z")),
                                                to_utc("2026-09-01T00:00:00Z"), None, None)])
    await pool.execute("DELETE FROM tariffs")
    rows = await pool.fetch("SELECT last_updated FROM tariff_versions WHERE id = 'T1' ORDER BY last_updated")
    assert [r["last_updated"].month for r in rows] == [1, 6, 9]

    def price_of(found: list[tuple[str, str]]) -> str:
        [(tid, data)] = found
        assert tid == "T1"
        return str(json.loads(data)["elements"][1]["price_components"][0]["price"])

    at = dt.datetime(2026, 7, 15, tzinfo=dt.UTC)
    assert price_of(await versions_at(pool, "nl", "exa", ["t1"], at)) == "0.35"
    assert price_of(await versions_at(pool, "NL", "EXA", ["T1"], dt.datetime(2026, 6, 1, tzinfo=dt.UTC))) == "0.35"
    assert price_of(await versions_at(pool, "NL", "EXA", ["T1"], dt.datetime(2027, 1, 1, tzinfo=dt.UTC))) == "0.45"
    # Before every version: the oldest, flagged.
    early = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert price_of(await versions_at(pool, "NL", "EXA", ["T1"], early)) == "0.25"
    [v] = await find_versions(pool, [("NL", "EXA", "T1", early)])
    assert v is not None and v.newer
    assert await versions_at(pool, "NL", "EXA", ["NOPE"], at) == []
    assert await versions_at(pool, "NL", "OTH", ["T1"], at) == []


@on_pool
async def test_agreed_disputed_and_unverifiable(pool: asyncpg.Pool) -> None:
    tariff = energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z")
    await put_tariff(pool, tariff)
    await put_location(pool, demo_location())
    await receive(pool, priced(cdr("OK-1", "T1"), [tariff]))
    await receive(pool, priced(cdr("HIGH-1", "T1"), [tariff], factor=Decimal("1.10")))
    await receive(pool, priced(cdr("UNKNOWN-1", "T9"), [{**tariff, "id": "T9"}]))
    dollars = {**energy_tariff("USD", "0.25", "2026-01-01T00:00:00Z"), "currency": "USD"}
    await put_tariff(pool, dollars)
    await receive(pool, priced(cdr("OTHER-CURRENCY", "USD"), [{**dollars, "currency": "EUR"}]))
    assert await pool.fetchval("SELECT count(*) FROM cdr_checks WHERE status = 'PENDING'") == 4
    assert await check_all(pool) == 4

    ok = await check(pool, "OK-1")
    assert ok["status"] == "AGREED", ok["reason"]
    assert ok["their_total"] == ok["our_total"].quantize(Decimal("0.01")) == Decimal("5.50")  # 0.50 + 20 kWh * 0.25

    high = await check(pool, "HIGH-1")
    assert high["status"] == "DISPUTED"
    assert high["their_total"] == Decimal("6.05") and high["our_total"] == Decimal("5.5")
    assert high["difference"] == Decimal("0.55")
    assert "total_cost.excl_vat: theirs 6.05, ours 5.5" in high["reason"]
    ours, theirs = json.loads(high["ours"]), json.loads(high["theirs"])
    assert ours["total_cost"]["excl_vat"] == 5.5 and ours["periods"], "our breakdown, per period"
    assert theirs["total_cost"]["excl_vat"] == 6.05 and len(theirs["charging_periods"]) == 2
    diffs = {d["field"]: d for d in json.loads(high["differences"])}
    assert diffs["total_energy_cost.excl_vat"]["difference"] == 0.5
    assert diffs["total_energy"]["difference"] == 0  # the CPO inflated money, not kWh

    unknown = await check(pool, "UNKNOWN-1")
    assert unknown["status"] == "UNVERIFIABLE"
    assert unknown["reason"] == "we hold no tariff T9 of NL*EXA"  # never priced with the tariff it embeds
    other = await check(pool, "OTHER-CURRENCY")
    assert other["status"] == "UNVERIFIABLE" and other["reason"] == "tariff USD is in USD but the CDR is in EUR"


@on_pool
async def test_the_version_in_force_at_session_start_is_used(pool: asyncpg.Pool) -> None:
    old = energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z")
    new = energy_tariff("T1", "0.40", "2026-11-30T16:00:00Z")  # changed during the session
    await put_tariff(pool, old)
    await put_location(pool, demo_location())
    await put_tariff(pool, new)
    await receive(pool, priced(cdr("BEFORE", "T1"), [old]))
    await receive(pool, priced(cdr("PRICED-NEW", "T1"), [new]))
    await receive(pool, priced(cdr("LATER", "T1", start="2026-12-01T10:00:00Z", end="2026-12-01T11:00:00Z",
                                   periods=[("2026-12-01T10:00:00Z", "20", "1")]), [new]))
    await check_all(pool)
    before = await check(pool, "BEFORE")
    assert before["status"] == "AGREED", (before["reason"], before["note"])
    assert (await check(pool, "PRICED-NEW"))["status"] == "DISPUTED"
    assert (await check(pool, "LATER"))["status"] == "AGREED"


@on_pool
async def test_only_newer_versions_are_used_with_a_note(pool: asyncpg.Pool) -> None:
    tariff = energy_tariff("T1", "0.25", "2026-12-24T00:00:00Z")
    await put_tariff(pool, tariff)
    await put_location(pool, demo_location())
    await receive(pool, priced(cdr("EARLY", "T1"), [tariff]))
    await check_all(pool)
    row = await check(pool, "EARLY")
    assert row["status"] == "AGREED"
    assert "every version we hold is newer than the session start" in row["note"]


@on_pool
async def test_time_of_day_across_17_amsterdam_uses_our_location_zone(pool: asyncpg.Pool) -> None:
    tariff = evening_tariff()
    await put_tariff(pool, tariff)
    await put_location(pool, demo_location())
    # 15:30Z-16:30Z on 30 November is 16:30-17:30 in Amsterdam: the second half is evening energy.
    right = priced(cdr("TOD-OK", "TOD-17"), [tariff], AMSTERDAM)
    right["cdr_location"]["time_zone"] = "UTC"  # the CPO's word for the zone is not taken
    await receive(pool, right)
    await receive(pool, priced(cdr("TOD-UTC", "TOD-17"), [tariff], "UTC"))  # a CPO that priced in UTC
    no_location = priced(cdr("TOD-NOLOC", "TOD-17", location_id="LOC-00002"), [tariff], AMSTERDAM)
    await receive(pool, no_location)
    await check_all(pool)
    ok = await check(pool, "TOD-OK")
    assert ok["status"] == "AGREED", ok["reason"]
    assert ok["our_total"] == Decimal("11") * Decimal("0.30") + Decimal("9") * Decimal("0.60")
    utc = await check(pool, "TOD-UTC")
    assert utc["status"] == "DISPUTED" and utc["difference"] == Decimal("-2.70")
    noloc = await check(pool, "TOD-NOLOC")
    assert noloc["status"] == "UNVERIFIABLE"
    assert "we hold no Location LOC-00002 of NL*EXA" in noloc["reason"]


@on_pool
async def test_stopped_and_killed_checkers_leave_pending_rows_for_the_next(pool: asyncpg.Pool, dsn: str) -> None:
    tariff = energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z")
    await put_tariff(pool, tariff)
    await put_location(pool, demo_location())
    for i in range(7):
        await receive(pool, priced(cdr(f"R-{i}", "T1"), [tariff]))

    first = Checker(pool, TOLERANCE, batch=2)
    assert await first.check_due() == 2  # then stopped: the rest waits
    assert await pool.fetchval("SELECT count(*) FROM cdr_checks WHERE status = 'PENDING'") == 5

    # A worker that claimed a batch and died (kill -9: its connection is gone, its transaction rolled back).
    doomed = await asyncpg.connect(dsn)
    await doomed.execute("BEGIN")
    claimed = await doomed.fetch("SELECT id FROM cdr_checks WHERE status = 'PENDING' ORDER BY received_at LIMIT 2 "
                                 "FOR UPDATE SKIP LOCKED")
    assert len(claimed) == 2
    # Meanwhile another worker skips the locked rows instead of waiting for them.
    assert await Checker(pool, TOLERANCE, batch=10).check_due() == 3
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", doomed.get_server_pid())
    doomed.terminate()

    # A restarted checker, run as the server runs it, takes them up.
    second = Checker(pool, TOLERANCE, batch=2, poll_seconds=0.1)
    second.start()
    try:
        for _ in range(100):
            if not await pool.fetchval("SELECT count(*) FROM cdr_checks WHERE status = 'PENDING'"):
                break
            await asyncio.sleep(0.05)
    finally:
        await second.stop()
    statuses = await pool.fetch("SELECT status FROM cdr_checks")
    assert [r["status"] for r in statuses] == ["AGREED"] * 7


@on_pool
async def test_unpriceable_cdr_is_unverifiable_and_does_not_hold_up_the_batch(pool: asyncpg.Pool) -> None:
    tariff = energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z")
    await put_tariff(pool, tariff)
    await put_location(pool, demo_location())
    await put_location(pool, {**demo_location("LOC-00002"), "time_zone": "Mars/Olympus_Mons"})
    await receive(pool, priced(cdr("BAD", "T1", location_id="LOC-00002"), [tariff]))
    await receive(pool, priced(cdr("GOOD", "T1"), [tariff]))
    assert await check_all(pool) == 2
    row = await check(pool, "BAD")
    assert row["status"] == "UNVERIFIABLE" and row["reason"] == (
        'the CDR cannot be priced: cdr_location.time_zone: unknown IANA time zone "Mars/Olympus_Mons"'), row["reason"]
    assert (await check(pool, "GOOD"))["status"] == "AGREED"


def test_dispute_tolerance_setting() -> None:
    from app.config import Settings

    assert Settings.from_env({}).dispute_tolerance == Decimal("0.01")
    settings = Settings.from_env({"OCPI_ENGINE_DISPUTE_TOLERANCE": "0.05"})
    assert settings.dispute_tolerance == Decimal("0.05")
    assert Settings.from_env(settings.to_env()).dispute_tolerance == Decimal("0.05")  # workers get it
    for bad in ("-1", "abc", "NaN", "Infinity"):
        with pytest.raises(SystemExit, match="OCPI_ENGINE_DISPUTE_TOLERANCE"):
            Settings.from_env({"OCPI_ENGINE_DISPUTE_TOLERANCE": bad})


async def _tolerance_decides(pool: asyncpg.Pool) -> None:
    tariff = energy_tariff("T1", "0.25", "2026-01-01T00:00:00Z")
    await put_tariff(pool, tariff)
    await put_location(pool, demo_location())
    off = priced(cdr("OFF-BY-3C", "T1"), [tariff])
    off["total_cost"]["excl_vat"] += Decimal("0.03")
    await receive(pool, off)
    async with pool.acquire() as conn:
        doc = load_doc(dumps(off))
        [strict] = await check_cdrs(conn, [doc], Decimal("0.01"))
        [lenient] = await check_cdrs(conn, [doc], Decimal("0.05"))
    assert strict.status == "DISPUTED" and lenient.status == "AGREED"


test_tolerance_decides_the_outcome = on_pool(_tolerance_decides)
