"""Session PATCHes to the eMSP of the token, coalesced (issue 8 §3): one on every status change (the ingest calls
`enqueue_session_patch`) and, for sessions that changed otherwise, at most one per session per interval (the
`PatchFlusher`). All state is in `charging_sessions` (push_due, last_push_at, periods_pushed), so several
workers share the work and a killed process loses nothing: what was due is still due."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from app.db import objects
from app.db.pool import describe, unavailable
from app.modules import sessions
from app.modules.common import Doc, id_path, load_doc
from app.modules.owned import announce
from app.ocpi.transport import OcpiError, decode_object, encode

log = logging.getLogger(__name__)

BATCH = 200

# Sessions whose changes wait for a PATCH and whose last push is at least an interval old (never pushed: due).
_DUE = """
SELECT session_id FROM charging_sessions
WHERE push_due AND (last_push_at IS NULL OR last_push_at <= now() - make_interval(secs => $1))
ORDER BY last_push_at NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED"""


class UnknownSession(LookupError):
    pass


def patch_body(doc: Doc, periods_pushed: int) -> Doc:
    """What changed since the last push: totals, status, end, and the closed periods the eMSP has not got yet
    (a PATCH's periods are appended by the receiver, so none are sent twice)."""
    body: Doc = {"kwh": doc["kwh"]}
    for name in ("total_cost", "status", "end_date_time"):
        if name in doc:
            body[name] = doc[name]
    new = doc.get("charging_periods", [])[periods_pushed:]
    if new:
        body["charging_periods"] = new
    body["last_updated"] = doc["last_updated"]
    return body


async def enqueue_session_patch(conn: asyncpg.Connection, session_id: str) -> int:
    """Queue a PATCH of the session to its eMSP with what changed since the last push, and mark the session
    pushed. Call inside a transaction (the row stays locked until it commits). Returns pushes queued."""
    row = await conn.fetchrow(
        "SELECT country_code, party_id, periods_pushed FROM charging_sessions WHERE session_id = $1 FOR UPDATE",
        session_id)
    if row is None:
        raise UnknownSession(f"no charging session {session_id!r}")
    key = (row["country_code"], row["party_id"], session_id)
    stored = await objects.get(conn, sessions.MODULE.table, key)
    if stored is None:
        raise UnknownSession(f"charging session {session_id!r} has no stored OCPI Session")
    doc = load_doc(stored.data)
    obj = decode_object(stored.data.encode(), sessions.MODULE.schema, what="stored session").obj
    queued = await announce(conn, sessions.MODULE, obj, "PATCH", id_path(key),
                            encode(patch_body(doc, row["periods_pushed"])))
    await conn.execute(
        "UPDATE charging_sessions SET periods_pushed = $2, push_due = false, last_push_at = now() WHERE session_id = $1",
        session_id, len(doc.get("charging_periods", [])))
    return queued


async def flush_due(pool: asyncpg.Pool, interval: float, batch: int = BATCH) -> int:
    """Queue the PATCH of every session due now, a batch per transaction; returns sessions pushed. Rows another
    worker (or the ingest) holds are skipped: they are still due on the next round if they need it."""
    done = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = [r["session_id"] for r in await conn.fetch(_DUE, interval, batch)]
            for session_id in due:
                try:
                    await enqueue_session_patch(conn, session_id)
                except (UnknownSession, OcpiError) as exc:
                    # Not pushable as stored (an ingest fault): logged once, not retried every round.
                    log.error("session patches: skipped", extra={"session_id": session_id, "error": str(exc)})
                    await conn.execute("UPDATE charging_sessions SET push_due = false WHERE session_id = $1", session_id)
        done += len(due)
        if len(due) < batch:
            return done


class PatchFlusher:
    """Runs `flush_due` on this worker several times per interval: a session is still pushed at most once per
    interval (its last_push_at decides), but waits at most a fraction of an interval beyond it."""

    def __init__(self, pool: asyncpg.Pool, interval: float, ticks_per_interval: int = 4) -> None:
        self._pool, self._interval = pool, interval
        self._tick = max(interval / ticks_per_interval, 0.1)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-patch-flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await flush_due(self._pool, self._interval)
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any round
                if unavailable(exc):
                    log.warning("session patches: round failed", extra={"error": describe(exc)})
                else:
                    log.exception("session patches: round failed")
            await asyncio.sleep(self._tick)
