"""The background checker: re-prices every CDR a peer sent us, off the request path.

Pending checks are claimed in batches with SKIP LOCKED inside one transaction, priced in one `price_batch` call
(one boundary crossing, the GIL released) and written before the commit: several workers share the queue, and a
worker killed mid-batch leaves its rows PENDING for the next one. A NOTIFY (trigger on `cdrs`) wakes the checker;
polling finds whatever a lost notification left behind."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from app.background import RoundLoop
from app.checks import compare
from app.checks.compare import Outcome, Prepared
from app.checks.tariff_history import TariffVersion, Wanted, find_versions
from app.modules.common import load_doc
from rust_core import price_batch

log = logging.getLogger(__name__)

CHANNEL = "cdr_checks"

_CLAIM = """
SELECT c.country_code, c.party_id, c.id, d.data::text AS data
FROM cdr_checks c JOIN cdrs d USING (country_code, party_id, id)
WHERE c.status = 'PENDING'
ORDER BY c.received_at
LIMIT $1
FOR UPDATE OF c SKIP LOCKED"""

_TIME_ZONES = """
SELECT w.i, l.data->>'time_zone' AS time_zone
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS w(cc, pid, lid, i)
JOIN locations l ON l.country_code = w.cc AND l.party_id = w.pid AND l.id = w.lid"""

_STORE = """
UPDATE cdr_checks SET status = $4, currency = $5, their_total = $6, our_total = $7, difference = $8, reason = $9,
       note = $10, ours = $11::text::json, theirs = $12::text::json, differences = $13::text::json, checked_at = now()
WHERE country_code = $1 AND party_id = $2 AND id = $3"""


class Checker(RoundLoop):
    def __init__(self, pool: asyncpg.Pool, tolerance: Decimal, *, batch: int = 200, poll_seconds: float = 5.0) -> None:
        self._pool, self._tolerance = pool, tolerance
        self._batch = batch
        # Call `wake` on every NOTIFY of `CHANNEL` and whenever notifications may have been missed.
        super().__init__("cdr-checker", self.check_due, poll_seconds)

    async def check_due(self) -> int:
        """One batch: claim pending checks, price them, store the outcomes. Returns how many were checked."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self._batch)
            if not rows:
                return 0
            keys = [(r["country_code"], r["party_id"], r["id"]) for r in rows]
            outcomes = await check(conn, [load_doc(r["data"]) for r in rows], self._tolerance)
            await conn.executemany(_STORE, [(*key, *_columns(o)) for key, o in zip(keys, outcomes, strict=True)])
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        log.info("cdr checks: batch checked", extra={"checked": len(rows), **{s.lower(): n for s, n in counts.items()}})
        return len(rows)


def _columns(o: Outcome) -> tuple[object, ...]:
    def text(b: bytes | None) -> str | None:
        return None if b is None else b.decode()

    return (o.status, o.currency, o.their_total, o.our_total, o.difference, o.reason, o.note, text(o.ours),
            text(o.theirs), text(o.differences))


@dataclass(slots=True)
class Priced:
    """One CDR priced with our tariff versions at its session start: the result line (with breakdown), or why not."""

    prepared: Prepared
    line: bytes | None
    error: str | None
    time_zone_known: bool
    versions: dict[str, TariffVersion | None]
    """The tariff versions it was priced with, by tariff id (None: we hold no version of that tariff)."""


async def check(conn: asyncpg.Connection, cdrs: list[dict[str, object]], tolerance: Decimal) -> list[Outcome]:
    """The outcome of each CDR, priced by `price`."""
    return [compare.judge(p.prepared, p.line, p.error, tolerance, time_zone_known=p.time_zone_known)
            for p in await price(conn, cdrs)]


async def price(conn: asyncpg.Connection, cdrs: list[dict[str, object]]) -> list[Priced]:
    """Each CDR priced with our tariff versions at its session start and our Location's time zone, read in
    two queries, then every priceable CDR priced in one `price_batch` call (also used by re-rating runs)."""
    wanted: list[Wanted] = []
    owner: list[int] = []  # the CDR each wanted tariff is for: each at its own session start
    for n, cdr in enumerate(cdrs):
        try:
            start = compare.start_of(cdr)
            needed = compare.needed_tariffs(cdr)
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # prepare() reports it
        wanted.extend((str(cdr["country_code"]), str(cdr["party_id"]), t, start) for t in needed)
        owner.extend([n] * len(needed))
    versions: list[dict[str, TariffVersion | None]] = [{} for _ in cdrs]
    for n, w, v in zip(owner, wanted, await find_versions(conn, wanted), strict=True):
        versions[n][w[2]] = v
    zones = await _time_zones(conn, cdrs)

    prepared: list[Prepared] = []
    for cdr, mine, zone in zip(cdrs, versions, zones, strict=True):
        try:
            compare.start_of(cdr)  # left out of `wanted` above when unreadable: said here
            prepared.append(compare.prepare(cdr, mine, zone))
        except Exception as exc:  # noqa: BLE001 - one odd CDR must not hold up the others
            prepared.append(Prepared(cdr, outcome=Outcome(compare.UNVERIFIABLE, f"the CDR cannot be prepared: {exc}")))

    docs = [p.document for p in prepared if p.document is not None]
    lines: list[bytes] = []
    errors: dict[int, str] = {}
    if docs:
        result = await asyncio.to_thread(price_batch, docs, None, breakdown=True)
        errors = {index: f"{field}: {message}" if field else message for _l, index, _id, field, message in result.errors}
        lines = result.output.splitlines()
    out: list[Priced] = []
    priced = iter(lines)
    n = 0
    for p, zone, mine in zip(prepared, zones, versions, strict=True):
        line: bytes | None = None
        error: str | None = None
        if p.document is not None:
            if n in errors:
                error = errors[n]
            else:
                line = next(priced)
            n += 1
        out.append(Priced(p, line, error, zone is not None, mine))
    return out


async def _time_zones(conn: asyncpg.Connection, cdrs: list[dict[str, object]]) -> list[str | None]:
    """The time zone of our copy of each CDR's Location, keyed (CDR country_code, party_id, cdr_location.id)."""
    keys = []
    for cdr in cdrs:
        location = cdr.get("cdr_location")
        lid = location.get("id") if isinstance(location, dict) else None
        keys.append(location_key(cdr.get("country_code", ""), cdr.get("party_id", ""), lid))
    return await time_zones(conn, keys)


def location_key(country_code: object, party_id: object, location_id: object) -> tuple[str, str, str]:
    return str(country_code).upper(), str(party_id).upper(), str(location_id or "").upper()


async def time_zones(conn: asyncpg.Connection, keys: list[tuple[str, str, str]]) -> list[str | None]:
    """The time zone of our copy of each Location (`location_key`), None when we hold none or it has none."""
    rows = await conn.fetch(_TIME_ZONES, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    zones: list[str | None] = [None] * len(keys)
    for r in rows:
        zones[r["i"] - 1] = r["time_zone"] or None
    return zones
