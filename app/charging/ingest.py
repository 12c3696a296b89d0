"""Charging events in: the one pipeline behind `POST /api/v1/charging-events` and `ocpi-engine sessions replay`.

Per batch: read and validate it in Rust (`EventBatch`), answer duplicates, resolve every session start outside the
lock (our connector, the token's authorization, the header), then in ONE transaction under a deployment-wide
advisory lock: catch up with what other processes changed, apply the batch to this process's `SessionEngine`, and
write the accepted events, the sessions' figures, the OCPI Sessions, their pushes and the CDRs. Nothing lives only
in memory: the engine is rebuilt from PostgreSQL at start, and a session whose write failed is dropped from it and
rebuilt on next use."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import msgspec

from app.charging import cdrs, headers
from app.charging.authorization import Authorized, Authorizer, Refused
from app.charging.authorization import Request as AuthRequest
from app.charging.pushes import enqueue_session_patch
from app.charging.settings import ChargingSettings
from app.db import objects
from app.db.pool import unavailable
from app.modules import sessions
from app.modules.common import id_path
from app.modules.owned import announce_many
from app.ocpi.client import OcpiClient
from app.schemas.types import format_datetime, to_utc
from app.secrets_vault import TokenVault
from rust_core import ApplyResult, EventBatch, SessionEngine

log = logging.getLogger(__name__)

ADVISORY_LOCK = 0x0C91_8001
"""Held (per transaction) by every ingest: one at a time across workers and CLI processes."""

ACCEPTED, DUPLICATE, REFUSED = "accepted", "duplicate", "refused"


class Result(msgspec.Struct, omit_defaults=True):
    index: int
    event_id: str | None
    result: str
    field: str | None = None
    message: str | None = None


class Report(msgspec.Struct):
    accepted: int
    duplicates: int
    refused: int
    results: list[Result]
    cdrs: int = 0
    """CDRs issued by this batch (not in the HTTP answer)."""

    @classmethod
    def of(cls, results: list[Result], cdrs_issued: int) -> "Report":
        counts = {ACCEPTED: 0, DUPLICATE: 0, REFUSED: 0}
        for r in results:
            counts[r.result] += 1
        return cls(counts[ACCEPTED], counts[DUPLICATE], counts[REFUSED], results, cdrs_issued)


class BadBatch(ValueError):
    """The body is not JSON Lines nor a JSON array of events at all."""


class NotStored(Exception):
    """The batch could not be stored; nothing of it was kept (retry it)."""


@dataclass(slots=True)
class _Start:
    """A session start resolved outside the lock: what its session row and header hold."""

    index: int
    event_id: str
    session_id: str
    time: str
    place: headers.Place
    emsp: tuple[str, str]
    currency: str
    header: bytes


@dataclass(slots=True)
class _Batch:
    batch: EventBatch
    answered: dict[int, Result] = field(default_factory=dict)
    starts: dict[str, _Start] = field(default_factory=dict)

    def answer(self, index: int, event_id: str | None, result: str, fld: str | None = None,
               message: str | None = None) -> None:
        self.answered[index] = Result(index, event_id, result, fld, message)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Ingest:
    """Owns this process's `SessionEngine`; every batch of events goes through `ingest`."""

    def __init__(self, pool: asyncpg.Pool, vault: TokenVault, client: OcpiClient,
                 settings: ChargingSettings | None = None) -> None:
        self.settings = settings or ChargingSettings.from_env()
        self.engine = SessionEngine(reorder_window=self.settings.reorder_window)
        self._pool = pool
        self._authorizer = Authorizer(pool, vault, client, self.settings)
        self._held: set[str] = set()
        """Sessions the engine holds (ACTIVE), mirrored here to find the ones to load."""
        self._seen = 0
        """The highest charging_sessions.change_seq this engine reflects."""
        self._lock = asyncio.Lock()

    # --- rebuild ------------------------------------------------------------------------------------------

    async def rebuild(self) -> int:
        """Load every ACTIVE session from its header and events; returns how many."""
        async with self._lock, self._pool.acquire() as conn:
            seen = int(await conn.fetchval("SELECT coalesce(max(change_seq), 0) FROM charging_sessions"))
            ids = [r["session_id"] for r in await conn.fetch(
                "SELECT session_id FROM charging_sessions WHERE status = 'ACTIVE' ORDER BY session_id")]
            self.engine.drop(list(self._held))
            self._held.clear()
            for chunk in _chunks(ids, self.settings.batch):
                await self._load(conn, chunk)
            self._seen = seen
        log.info("charging sessions rebuilt", extra={"sessions": len(ids)})
        return len(ids)

    async def _load(self, conn: asyncpg.Connection, session_ids: list[str]) -> None:
        """Fold the stored events of these ACTIVE sessions into the engine (they are not in it)."""
        rows = await conn.fetch("SELECT session_id, header FROM charging_sessions WHERE session_id = ANY($1::text[]) "
                                "AND status = 'ACTIVE'", session_ids)
        if not rows:
            return
        found = {r["session_id"]: bytes(r["header"]) for r in rows}
        bodies = [bytes(r["body"]) for r in await conn.fetch(
            "SELECT body FROM charging_events WHERE session_id = ANY($1::text[]) ORDER BY seq", list(found))]
        batch = await asyncio.to_thread(EventBatch, b"\n".join(bodies))
        result = await asyncio.to_thread(self.engine.apply, batch, headers=found)
        if batch.errors or result.errors:
            # Stored events were accepted once; refusing them now means the engine changed its rules.
            log.error("charging sessions: stored events refused on rebuild",
                      extra={"errors": [*batch.errors[:5], *result.errors[:5]]})
        self._held.update(s[0] for s in result.sessions if s[1] == "ACTIVE")

    # --- ingest -------------------------------------------------------------------------------------------

    async def ingest(self, data: bytes) -> Report:
        batch = await asyncio.to_thread(EventBatch, data)
        if not batch.events and batch.errors and all(not e[2] for e in batch.errors):
            raise BadBatch(batch.errors[0][3])  # not one record is a JSON object
        work = _Batch(batch)
        for index, event_id, fld, message in batch.errors:
            work.answer(index, event_id, REFUSED, fld or None, message)
        if batch.starts:
            # Only starts are worth answering early (they are resolved outside the lock); the check under the
            # lock answers every duplicate.
            await self._answer_duplicates(self._pool, work)
        await self._resolve_starts(work)
        # Shielded: a client that goes away must not cut the transaction and the engine apart.
        issued = await asyncio.shield(asyncio.ensure_future(self._apply(work)))
        return Report.of([work.answered[i] for i in sorted(work.answered)], issued)

    async def _answer_duplicates(self, conn: asyncpg.Connection | asyncpg.Pool, work: _Batch) -> None:
        """An event id already stored, or earlier in the batch, is a duplicate: it changes nothing."""
        pending = [e for e in work.batch.events if e[0] not in work.answered]
        stored = {r["event_id"] for r in await conn.fetch(
            "SELECT event_id FROM charging_events WHERE event_id = ANY($1::text[])", [e[1] for e in pending])}
        seen: set[str] = set()
        for index, event_id, *_ in pending:
            if event_id in stored or event_id in seen:
                work.answer(index, event_id, DUPLICATE)
            seen.add(event_id)
        for session_id, start in list(work.starts.items()):
            if start.index in work.answered:
                del work.starts[session_id]

    async def _resolve_starts(self, work: _Batch) -> None:
        """Place, authorization, tariffs and header of every new session start (outside the lock: real-time
        authorization may wait for an eMSP)."""
        times = {e[0]: e for e in work.batch.events}
        candidates: list[tuple[int, dict[str, str], headers.Place]] = []
        started: set[str] = set()
        known = await self._existing(self._pool, [times[i][2] for i, _ in work.batch.starts if i in times])
        resolver = headers.Resolver(self._pool)
        await resolver.prefetch([f for i, f in work.batch.starts if i not in work.answered and i in times])
        for index, fields in work.batch.starts:
            if index in work.answered or index not in times:
                continue
            _, event_id, session_id, _, _ = times[index]
            if session_id in known or session_id in started:
                work.answer(index, event_id, REFUSED, "session_id", f"session {session_id} was already started")
                continue
            started.add(session_id)
            try:
                candidates.append((index, fields, await resolver.place(fields)))
            except Refused as refused:
                work.answer(index, event_id, REFUSED, refused.field, refused.message)
        decisions = await self._authorizer.authorize_all([
            AuthRequest(f["token_uid"], f.get("token_type") or "RFID", place.cpo, place.location_id, place.evse_uid)
            for _, f, place in candidates])
        for (index, fields, place), decision in zip(candidates, decisions, strict=True):
            _, event_id, session_id, _, time = times[index]
            try:
                if isinstance(decision, Refused):
                    raise decision
                work.starts[session_id] = await self._start(resolver, index, event_id, session_id, time, fields, place,
                                                            decision)
            except Refused as refused:
                work.answer(index, event_id, REFUSED, refused.field, refused.message)

    @staticmethod
    async def _start(resolver: headers.Resolver, index: int, event_id: str, session_id: str, time: str,
                     fields: dict[str, str], place: headers.Place, authorized: Authorized) -> _Start:
        docs, texts = await resolver.tariffs_for(place, authorized.emsp, to_utc(time))
        currency = str(docs[0]["currency"])
        header = headers.build(session_id, fields, place, authorized, texts, currency)
        return _Start(index, event_id, session_id, time, place, authorized.emsp, currency, header)

    @staticmethod
    async def _existing(conn: asyncpg.Connection | asyncpg.Pool, session_ids: list[str]) -> dict[str, str]:
        rows = await conn.fetch("SELECT session_id, status FROM charging_sessions WHERE session_id = ANY($1::text[])",
                                session_ids)
        return {r["session_id"]: r["status"] for r in rows}

    async def _apply(self, work: _Batch) -> int:
        touched = {e[2] for e in work.batch.events}
        async with self._lock, self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK)
                    seen = await self._catch_up(conn)
                    await self._answer_duplicates(conn, work)
                    await self._prepare_sessions(conn, work)
                    now = dt.datetime.now(dt.UTC)
                    result = await asyncio.to_thread(
                        self.engine.apply, work.batch, headers={s: st.header for s, st in work.starts.items()},
                        skip=set(work.answered), now=format_datetime(now))
                    seen = max(seen, await self._write(conn, work, result, now))
                    issued = await cdrs.store(conn, result.cdrs)
            except BaseException as exc:
                self.engine.drop(sorted(touched))
                self._held -= touched
                if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError) and not unavailable(exc):
                    log.exception("charging events: batch not stored")
                    raise NotStored(f"the batch could not be stored ({type(exc).__name__}); nothing of it was kept, "
                                    "send it again") from exc
                raise
            self._seen = seen
            self._held.update(s[0] for s in result.sessions if s[1] == "ACTIVE")
            self._held.difference_update(s[0] for s in result.sessions if s[1] != "ACTIVE")
        return issued

    async def _catch_up(self, conn: asyncpg.Connection) -> int:
        """Sessions another process changed since this engine last looked are dropped here (and loaded again
        from PostgreSQL when an event of theirs comes)."""
        rows = await conn.fetch("SELECT session_id, change_seq FROM charging_sessions WHERE change_seq > $1", self._seen)
        stale = [r["session_id"] for r in rows if r["session_id"] in self._held]
        if stale:
            self.engine.drop(stale)
            self._held.difference_update(stale)
        return max([self._seen, *(int(r["change_seq"]) for r in rows)])

    async def _prepare_sessions(self, conn: asyncpg.Connection, work: _Batch) -> None:
        """Under the lock: starts of sessions that now exist are refused; sessions of the batch the engine does not
        hold are loaded when ACTIVE, and their events refused when COMPLETED."""
        pending = [e for e in work.batch.events if e[0] not in work.answered]
        wanted = sorted({e[2] for e in pending} - self._held)
        status = await self._existing(conn, wanted)
        for session_id, start in list(work.starts.items()):
            if session_id in status:
                del work.starts[session_id]
                work.answer(start.index, start.event_id, REFUSED, "session_id",
                            f"session {session_id} was already started")
        for index, event_id, session_id, _, _ in pending:
            if status.get(session_id) == "COMPLETED" and index not in work.answered:
                work.answer(index, event_id, REFUSED, "session_id", f"session {session_id} is completed")
        active = [s for s, st in status.items() if st == "ACTIVE"]
        for chunk in _chunks(active, self.settings.batch):
            await self._load(conn, chunk)

    async def _write(self, conn: asyncpg.Connection, work: _Batch, result: ApplyResult, now: dt.datetime) -> int:
        """Accepted events, session rows and OCPI Sessions with their pushes; returns the highest change_seq."""
        events = {e[0]: (e, record) for e, record in zip(work.batch.events, work.batch.records(), strict=True)}
        for index, fld, message in result.errors:
            work.answer(index, events[index][0][1] if index in events else None, REFUSED, fld, message)
        rows = [events[i] for i in sorted(result.accepted)]
        for (index, event_id, *_), _record in rows:
            work.answer(index, event_id, ACCEPTED)
        await conn.execute(
            """INSERT INTO charging_events (event_id, session_id, type, time, body)
               SELECT e, s, t, tm::timestamptz, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
                 AS u(e, s, t, tm, b)""",
            [e[1] for e, _ in rows], [e[2] for e, _ in rows], [e[3] for e, _ in rows], [e[4] for e, _ in rows],
            [r for _, r in rows])
        accepted = set(result.accepted)
        new = [u for u in result.sessions if u[0] in work.starts and work.starts[u[0]].index in accepted]
        created = {u[0] for u in new}
        changed = [u for u in result.sessions if u[0] not in created]
        seqs: list[int] = []
        if new:
            starts = [work.starts[u[0]] for u in new]
            seqs += [r["change_seq"] for r in await conn.fetch(
                """INSERT INTO charging_sessions (session_id, country_code, party_id, emsp_country_code, emsp_party_id,
                     status, header, location_id, evse_uid, connector_id, kwh, cost_excl, cost_incl, currency,
                     started_at, last_event_at, closed_periods, periods_pushed, last_push_at)
                   SELECT u.*, u.cp, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::bytea[], $8::text[], $9::text[], $10::text[], $11::numeric[], $12::numeric[],
                     $13::numeric[], $14::text[], $15::timestamptz[], $16::timestamptz[], $17::int[])
                     AS u(sid, cc, pid, ecc, epid, st, h, loc, evse, con, kwh, ce, ci, cur, sa, la, cp)
                   RETURNING change_seq""",
                [u[0] for u in new], [s.place.cpo[0] for s in starts], [s.place.cpo[1] for s in starts],
                [s.emsp[0] for s in starts], [s.emsp[1] for s in starts], [u[1] for u in new],
                [s.header for s in starts], [s.place.location_id for s in starts], [s.place.evse_uid for s in starts],
                [s.place.connector_id for s in starts], *_figures(new), [s.currency for s in starts],
                [to_utc(s.time) for s in starts], [to_utc(u[7]) for u in new], [u[3] for u in new])]
        if changed:
            seqs += [r["change_seq"] for r in await conn.fetch(
                """UPDATE charging_sessions c SET status = u.st, kwh = u.kwh, cost_excl = u.ce, cost_incl = u.ci,
                     last_event_at = u.la, closed_periods = u.cp, change_seq = nextval('charging_change_seq'),
                     push_due = c.push_due OR NOT u.changed
                   FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::timestamptz[],
                     $7::int[], $8::bool[]) AS u(sid, st, kwh, ce, ci, la, cp, changed)
                   WHERE c.session_id = u.sid RETURNING c.change_seq""",
                [u[0] for u in changed], [u[1] for u in changed], *_figures(changed), [to_utc(u[7]) for u in changed],
                [u[3] for u in changed], [u[8] for u in changed])]
        heads = {u[0]: cdrs.read_head(u[2]) for u in result.sessions}
        await objects.put_unique(conn, sessions.MODULE.table, [
            (heads[u[0]].key, u[2].decode(), now, None, heads[u[0]].emsp) for u in result.sessions])
        await announce_many(conn, sessions.MODULE, [(heads[u[0]], "PUT", id_path(heads[u[0]].key), u[2]) for u in new])
        for u in changed:
            if u[8]:
                await status_changed(conn, u[0])
        return max(seqs, default=0)


def _figures(updates: list[tuple[str, str, bytes, int, str, str | None, str | None, str, bool]]) -> list[list[object]]:
    """kwh, cost_excl, cost_incl as exact decimals."""

    def num(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    return [[num(u[4]) for u in updates], [num(u[5]) for u in updates], [num(u[6]) for u in updates]]


async def status_changed(conn: asyncpg.Connection, session_id: str) -> None:
    """A session whose status changed is PATCHed to its eMSP at once (not coalesced)."""
    await enqueue_session_patch(conn, session_id)
