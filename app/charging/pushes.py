"""Session PATCHes to the eMSP of the token, coalesced (issue 8 §3): one on every status change (the ingest calls
`enqueue_session_patch`) and, for sessions that changed otherwise, at most one per session per interval (the
`PatchFlusher`). All state is in `charging_sessions` (push_due, last_push_at, periods_pushed), so several
workers share the work and a killed process loses nothing: what was due is still due."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from app.background import RoundLoop
from app.db import objects
from app.modules import sessions
from app.modules.common import Doc, id_path, load_doc
from app.modules.owned import announce_many
from app.ocpi.transport import OcpiError, decode_object, encode

log = logging.getLogger(__name__)

BATCH = 200

# Sessions whose changes wait for a PATCH and whose last push is at least an interval old (never pushed: due).
_DUE = """
SELECT session_id, country_code, party_id, periods_pushed FROM charging_sessions
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
        "SELECT session_id, country_code, party_id, periods_pushed FROM charging_sessions WHERE session_id = $1 "
        "FOR UPDATE", session_id)
    if row is None:
        raise UnknownSession(f"no charging session {session_id!r}")
    queued, failed = await _patch_many(conn, [row])
    if failed:
        raise failed[0][1]
    return queued


async def _patch_many(conn: asyncpg.Connection, rows: list[asyncpg.Record]
                      ) -> tuple[int, list[tuple[str, UnknownSession | OcpiError]]]:
    """Queue the PATCH of each (locked) session row and mark it pushed: the stored Sessions read in one query, the
    pushes queued in one statement, the rows marked in one. Returns (pushes queued, sessions not pushable)."""
    keys = [objects.normalize_key((r["country_code"], r["party_id"], r["session_id"])) for r in rows]
    stored: dict[tuple[str, ...], str] = {
        (s["country_code"], s["party_id"], s["id"]): s["data"] for s in await conn.fetch(
        f"""SELECT country_code, party_id, id, data::text AS data FROM {sessions.MODULE.table.name}
            WHERE (country_code, party_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])}
    changes: list[tuple[Any, str, str, bytes | None]] = []
    pushed: list[tuple[str, int]] = []
    failed: list[tuple[str, UnknownSession | OcpiError]] = []
    for row, key in zip(rows, keys, strict=True):
        session_id = row["session_id"]
        try:
            data = stored.get(key)
            if data is None:
                raise UnknownSession(f"charging session {session_id!r} has no stored OCPI Session")
            doc = load_doc(data)
            obj = decode_object(data.encode(), sessions.MODULE.schema, what="stored session").obj
        except (UnknownSession, OcpiError) as exc:
            failed.append((session_id, exc))
            continue
        changes.append((obj, "PATCH", id_path((row["country_code"], row["party_id"], session_id)),
                        encode(patch_body(doc, row["periods_pushed"]))))
        pushed.append((session_id, len(doc.get("charging_periods", []))))
    queued = await announce_many(conn, sessions.MODULE, changes)
    await conn.execute(
        """UPDATE charging_sessions c SET periods_pushed = u.n, push_due = false, last_push_at = now()
           FROM unnest($1::text[], $2::int[]) AS u(sid, n) WHERE c.session_id = u.sid""",
        [p[0] for p in pushed], [p[1] for p in pushed])
    return queued, failed


async def flush_due(pool: asyncpg.Pool, interval: float, batch: int = BATCH) -> int:
    """Queue the PATCH of every session due now, a batch per transaction; returns sessions pushed. Rows another
    worker (or the ingest) holds are skipped: they are still due on the next round if they need it."""
    done = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = list(await conn.fetch(_DUE, interval, batch))
            _, failed = await _patch_many(conn, due)
            for session_id, exc in failed:
                # Not pushable as stored (an ingest fault): logged once, not retried every round.
                log.error("session patches: skipped", extra={"session_id": session_id, "error": str(exc)})
            if failed:
                await conn.execute("UPDATE charging_sessions SET push_due = false WHERE session_id = ANY($1::text[])",
                                   [f[0] for f in failed])
        done += len(due)
        if len(due) < batch:
            return done


class PatchFlusher(RoundLoop):
    """Runs `flush_due` on this worker several times per interval: a session is still pushed at most once per
    interval (its last_push_at decides), but waits at most a fraction of an interval beyond it."""

    def __init__(self, pool: asyncpg.Pool, interval: float, ticks_per_interval: int = 4) -> None:
        self._pool, self._interval = pool, interval
        super().__init__("session-patch-flusher", self.flush, max(interval / ticks_per_interval, 0.1))

    async def flush(self) -> int:
        await flush_due(self._pool, self._interval)
        return 0  # flush_due pushed everything due; the next round is a tick away
