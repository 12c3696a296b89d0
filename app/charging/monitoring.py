"""The operators' live view (issue 8 §3): a `rust_core.Monitor` kept in step with PostgreSQL incrementally.

Sessions: rows of `charging_sessions` whose `change_seq` is above what was seen (a COMPLETED one leaves the view).
A sequence value is taken before a transaction commits, so a row with a lower `change_seq` may become visible
after one with a higher: the cursor only moves past a sequence value once every transaction that could hold a
lower one has ended (PostgreSQL snapshots say which), and the rows above it are read again meanwhile (rows
already applied at the same `change_seq` are not sent twice).

EVSE statuses: from our own `locations`. A fingerprint of (key, last_updated) over all of them says whether
anything changed; only then are the keys compared and the changed locations' EVSEs read. An EVSE or location
that disappears is set REMOVED (the monitor drops it once no session holds it).

Ids are compared case-insensitively (OCPI CiString): the view's keys are upper-cased."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

import rust_core

log = logging.getLogger(__name__)

SessionRow = tuple[str, str, str, str, str, str, str, str, str | None, str | None, str, str]
EvseRow = tuple[str, str, str, str, str]
LocationKey = tuple[str, str, str]

# Handed to the monitor off the event loop above this many rows (the binding releases the GIL).
THREAD_ROWS = 2000

_SEQ_NOW = """SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM charging_change_seq"""
_SNAPSHOT = """SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
                      pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax"""
_SESSION_COLS = """session_id, upper(country_code), upper(party_id), upper(location_id), upper(evse_uid), connector_id,
    status, kwh::text, cost_excl::text, cost_incl::text, currency,
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), change_seq"""
_ACTIVE = f"SELECT {_SESSION_COLS} FROM charging_sessions WHERE status = 'ACTIVE'"
_CHANGED = f"SELECT {_SESSION_COLS} FROM charging_sessions WHERE change_seq > $1 ORDER BY change_seq"

_OWN = "FROM locations WHERE peer_id IS NULL"
_FINGERPRINT = f"""SELECT count(*) AS n, coalesce(sum(hashtextextended(country_code || '/' || party_id || '/' || id
    || '@' || last_updated::text, 0)), 0)::text AS sum {_OWN}"""
_STAMPS = f"SELECT country_code, party_id, id, last_updated {_OWN}"
_EVSES = f"""SELECT country_code, party_id, id, upper(e ->> 'uid') AS uid, e ->> 'status' AS status
    FROM (SELECT country_code, party_id, id, data {_OWN}
          AND (country_code, party_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))) l,
         json_array_elements(CASE WHEN json_typeof(l.data -> 'evses') = 'array' THEN l.data -> 'evses' ELSE '[]' END) e
    WHERE e ->> 'uid' IS NOT NULL AND e ->> 'status' IS NOT NULL"""


@dataclass(slots=True)
class _SessionCursor:
    """Which `change_seq` values are surely applied (`seen`), and the reads that will let it move on."""

    seen: int | None = None
    """Every change with change_seq <= seen is applied (or was not ACTIVE at the first load); None before it."""
    pending: list[tuple[int, int]] = field(default_factory=list)
    """(xmax of a snapshot, sequence value read before it): once no transaction older than that xmax runs,
    every change at or below the value is visible."""
    recent: dict[str, int] = field(default_factory=dict)
    """Sessions applied above `seen`, with their change_seq: a re-read row that did not change is skipped."""

    def advance(self, xmin: int) -> None:
        settled = [value for xmax, value in self.pending if xmax <= xmin]
        self.pending = [p for p in self.pending if p[0] > xmin]
        if settled:
            self.seen = max(self.seen or 0, *settled)
            self.recent = {k: v for k, v in self.recent.items() if v > self.seen}


@dataclass(slots=True)
class _Locations:
    fingerprint: tuple[int, str] | None = None
    stamps: dict[LocationKey, dt.datetime] = field(default_factory=dict)
    evses: dict[LocationKey, set[str]] = field(default_factory=dict)


class LiveView:
    """One process's view. `refresh` catches up with the database (cheap when nothing changed); the reads
    answer from memory. Safe to share between the requests of one event loop."""

    def __init__(self) -> None:
        self.monitor = rust_core.Monitor()
        self._sessions = _SessionCursor()
        self._locations = _Locations()
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self.monitor)

    async def refresh(self, pool: asyncpg.Pool | asyncpg.Connection) -> tuple[int, int]:
        """Apply what changed since the last refresh; returns (session rows, EVSE rows) applied. Runs to its end
        even when the caller is cancelled (a client gone): the monitor and the cursors never part."""
        return await asyncio.shield(self._refresh(pool))

    async def _refresh(self, pool: asyncpg.Pool | asyncpg.Connection) -> tuple[int, int]:
        async with self._lock:
            if isinstance(pool, asyncpg.Pool):
                async with pool.acquire() as conn:
                    (session_rows, cursor), (evse_rows, location_state) = await self._read(conn)
            else:
                (session_rows, cursor), (evse_rows, location_state) = await self._read(pool)
            # The cursors move only once the rows are applied: a failed read or apply is read again next time.
            await self._apply(self.monitor.upsert_sessions, session_rows)
            await self._apply(self.monitor.set_evse_status, evse_rows)
            self._sessions, self._locations = cursor, location_state
            return len(session_rows), len(evse_rows)

    async def _read(self, conn: asyncpg.Connection) -> tuple[tuple[list[SessionRow], _SessionCursor],
                                                              tuple[list[EvseRow], _Locations]]:
        """What changed, and the cursors to keep once it is applied; one snapshot for sessions and locations."""
        old = self._sessions
        first = old.seen is None
        seen = await _settled_seq(conn) if first else old.seen
        # Read before the snapshot: every change at or below it was made by a transaction this snapshot either
        # sees committed or sees running.
        seq_before = int(await conn.fetchval(_SEQ_NOW))
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snap = await conn.fetchrow(_SNAPSHOT)
            rows = await (conn.fetch(_ACTIVE) if first else conn.fetch(_CHANGED, seen))
            locations = await self._read_locations(conn)
        return self._session_changes(rows, snap["xmin"], snap["xmax"], seen, seq_before), locations

    def _session_changes(self, rows: list[asyncpg.Record], xmin: int, xmax: int, seen: int | None,
                         seq_before: int) -> tuple[list[SessionRow], _SessionCursor]:
        old = self._sessions
        cursor = _SessionCursor(seen, [*old.pending, (xmax, seq_before)], dict(old.recent))
        floor = seen or 0
        session_rows: list[SessionRow] = []
        for r in rows:
            session_id, seq = r[0], r[12]
            if cursor.recent.get(session_id) == seq:
                continue  # read again while the cursor waits, unchanged
            if seq > floor:
                cursor.recent[session_id] = seq
            session_rows.append(tuple(r.values())[:12])  # type: ignore[arg-type]
        cursor.advance(xmin)
        return session_rows, cursor

    async def _read_locations(self, conn: asyncpg.Connection) -> tuple[list[EvseRow], _Locations]:
        old = self._locations
        fp = await conn.fetchrow(_FINGERPRINT)
        fingerprint = (int(fp["n"]), str(fp["sum"]))
        if fingerprint == old.fingerprint:
            return [], old
        stamps = {(r[0], r[1], r[2]): r[3] for r in await conn.fetch(_STAMPS)}
        changed = [k for k, t in stamps.items() if old.stamps.get(k) != t]
        rows: list[EvseRow] = []
        found: dict[LocationKey, set[str]] = {k: set() for k in changed}
        if changed:
            for r in await conn.fetch(_EVSES, *(list(c) for c in zip(*changed, strict=True))):
                key = (r[0], r[1], r[2])
                found[key].add(r[3])
                rows.append((r[0], r[1], r[2], r[3], r[4]))
        gone = [k for k in old.stamps if k not in stamps]
        for key in [*changed, *gone]:
            for uid in sorted(old.evses.get(key, set()) - found.get(key, set())):
                rows.append((*key, uid, "REMOVED"))
        evses = {k: v for k, v in old.evses.items() if k in stamps}
        evses.update(found)
        return rows, _Locations(fingerprint, stamps, evses)

    @staticmethod
    async def _apply(call: Callable[[list[Any]], None], rows: Sequence[Any]) -> None:
        """One call for all rows; a row the monitor refuses (bad data in the database) is logged and skipped
        instead of stopping every later refresh."""
        if not rows:
            return
        try:
            if len(rows) > THREAD_ROWS:
                await asyncio.to_thread(call, list(rows))
            else:
                call(list(rows))
        except ValueError:
            for row in rows:
                try:
                    call([row])
                except ValueError as exc:
                    log.error("live view: row refused", extra={"row": list(row), "error": str(exc)})

    def locations(self, country_code: str | None = None, party_id: str | None = None, offset: int = 0,
                  limit: int = 100, *, active_only: bool = False) -> bytes:
        return self.monitor.locations(_upper(country_code), _upper(party_id), offset, limit, active_only=active_only)

    def location(self, country_code: str, party_id: str, location_id: str) -> bytes | None:
        return self.monitor.location(country_code.upper(), party_id.upper(), location_id.upper())


async def _settled_seq(conn: asyncpg.Connection, wait: float = 5.0) -> int:
    """A change_seq value at or below which every change is committed or abandoned: the sequence's value, once
    every transaction running when it was read has ended (ingest transactions are short). 0 if one outlasts
    `wait`: the first catch-up then reads the whole table once."""
    seq = int(await conn.fetchval(_SEQ_NOW))
    xmax = int(await conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))
    deadline = asyncio.get_running_loop().time() + wait
    while int(await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")) < xmax:
        if asyncio.get_running_loop().time() > deadline:
            return 0
        await asyncio.sleep(0.02)
    return seq


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None
