"""What an operator does with a peer's queue (operator API `/api/v1/peers/{id}/queue`, CLI `ocpi-engine
outbox`): look at it, send refused pushes again, and resynchronise the peer with the current state."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from app.db import peers
from app.modules import sync
from app.outbox import peer_status
from app.outbox.queue import CHANNEL

OPEN = ("PENDING", "SENDING")
SHOWN = ("PENDING", "SENDING", "REFUSED")
"""The rows listed: waiting, in flight, or refused (each refused one is a decision for the operator)."""


class OpsError(ValueError):
    """A request an operator can correct: `status` is the HTTP status the operator API answers with."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class Row(msgspec.Struct):
    id: int
    module: str
    method: str
    path: str
    state: str
    created_at: dt.datetime
    attempts: int
    coalesced: int
    next_attempt_at: dt.datetime
    last_error: str | None
    to: str
    """The addressed party, CC*PID."""


class Delivery(msgspec.Struct):
    status: str
    """CONNECTED or OFFLINE."""
    since: dt.datetime | None = None
    failures: int = 0
    last_success_at: dt.datetime | None = None
    last_failure_at: dt.datetime | None = None
    last_error: str | None = None


class Queue(msgspec.Struct):
    peer_id: int
    label: str | None
    registration: str
    """INVITED, REGISTERED or UNREGISTERED."""
    delivery: Delivery
    counts: dict[str, dict[str, int]]
    """Rows by state, then by module (DELIVERED, COALESCED and DEAD included: the history kept)."""
    oldest_pending_age_seconds: float | None
    """Age of the oldest row still waiting or in flight; None when none is."""
    rows: list[Row] = msgspec.field(default_factory=list)
    """The first `limit` pending, in-flight and refused rows, oldest first."""


class Retried(msgspec.Struct):
    retried: list[int]
    """Refused rows moved back to PENDING."""
    superseded: list[int] = msgspec.field(default_factory=list)
    """Refused rows left as they are: a newer update of the same object was queued or delivered since, and
    sending the older one would undo it (use resync to send the current state)."""


class Resynced(msgspec.Struct):
    peer_id: int
    modules: list[str]
    queued: int


async def _peer(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int) -> peers.Peer:
    peer = await peers.by_id(conn, peer_id)
    if peer is None:
        raise OpsError(404, f"no peer {peer_id} (see `ocpi-engine peer list`)")
    return peer


async def show(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int, limit: int = 50) -> Queue:
    """The peer's queue: counts by state and module, the oldest waiting row's age, its delivery status, and
    its first `limit` pending, in-flight and refused rows."""
    peer = await _peer(conn, peer_id)
    counts: dict[str, dict[str, int]] = {}
    oldest: float | None = None
    for r in await conn.fetch(
            """SELECT state, module, count(*) AS n,
                      extract(epoch FROM now() - min(created_at) FILTER (WHERE state = ANY($2::text[])))::float8 AS age
               FROM outbox WHERE peer_id = $1 GROUP BY state, module ORDER BY state, module""", peer_id, list(OPEN)):
        counts.setdefault(r["state"], {})[r["module"]] = r["n"]
        if r["age"] is not None:
            oldest = max(oldest or 0.0, r["age"])
    rows = [Row(id=r["id"], module=r["module"], method=r["method"], path=r["path"], state=r["state"],
                created_at=r["created_at"], attempts=r["attempts"], coalesced=r["coalesced"],
                next_attempt_at=r["next_attempt_at"], last_error=r["last_error"], to=r["to"])
            for r in await conn.fetch(
                """SELECT id, module, method, path, state, created_at, attempts, coalesced, next_attempt_at,
                          last_error, to_country_code || '*' || to_party_id AS to
                   FROM outbox WHERE peer_id = $1 AND state = ANY($2::text[]) ORDER BY id LIMIT $3""",
                peer_id, list(SHOWN), limit)]
    return Queue(peer_id=peer.id, label=peer.label, registration=peer.status, delivery=await _delivery(conn, peer_id),
                 counts=counts, oldest_pending_age_seconds=oldest, rows=rows)


async def _delivery(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int) -> Delivery:
    row = await conn.fetchrow("SELECT status, since, failures, last_success_at, last_failure_at, last_error "
                              "FROM peer_delivery WHERE peer_id = $1", peer_id)
    return Delivery(status=peer_status.CONNECTED) if row is None else Delivery(**dict(row))  # none: never failed


async def retry(conn: asyncpg.Connection, peer_id: int, ids: list[int] | None = None) -> Retried:
    """Move the peer's REFUSED rows (all, or those of `ids`) back to PENDING, to be sent again in their place
    per object. A row superseded by a newer update of its object stays REFUSED. Call in a transaction. Ids
    that are not refused rows of this peer are refused, and nothing changes."""
    await _peer(conn, peer_id)
    if ids is not None:
        found = {r["id"]: r["state"] for r in await conn.fetch(
            "SELECT id, state FROM outbox WHERE peer_id = $1 AND id = ANY($2::bigint[]) FOR UPDATE", peer_id, ids)}
        wrong = [f"{i} ({found[i]})" if i in found else f"{i} (no such row of peer {peer_id})"
                 for i in dict.fromkeys(ids) if found.get(i) != "REFUSED"]
        if wrong:
            raise OpsError(400, "only REFUSED pushes can be retried; not: " + ", ".join(wrong), field="ids")
    rows = await conn.fetch(
        """SELECT o.id, EXISTS (SELECT 1 FROM outbox n WHERE n.peer_id = o.peer_id AND n.object_key = o.object_key
                                  AND n.id > o.id AND n.state IN ('PENDING', 'SENDING', 'DELIVERED')) AS superseded
           FROM outbox o WHERE o.peer_id = $1 AND o.state = 'REFUSED' AND ($2::bigint[] IS NULL OR o.id = ANY($2))
           ORDER BY o.id FOR UPDATE OF o""", peer_id, ids)
    again = [r["id"] for r in rows if not r["superseded"]]
    if again:
        await conn.execute(
            """UPDATE outbox SET state = 'PENDING', attempts = 0, next_attempt_at = now(), claimed_by = NULL,
                                 claimed_at = NULL WHERE id = ANY($1::bigint[])""", again)
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return Retried(retried=again, superseded=[r["id"] for r in rows if r["superseded"]])


async def resync(conn: asyncpg.Connection, peer_id: int, modules: list[str] | None = None) -> Resynced:
    """Queue the current state of everything the peer may see (of `modules`, default all synced ones), as at
    its registration. Call in a transaction; older pending updates of the same objects are coalesced into it."""
    try:
        chosen = sync.check_modules(modules)
    except sync.SyncError as exc:
        raise OpsError(400, str(exc), field="modules") from None
    peer = await _peer(conn, peer_id)
    if not peer.registered:
        raise OpsError(409, f"peer {peer_id} is {peer.status}, not REGISTERED: nothing can be sent to it")
    names = [m.identifier for m in chosen]
    return Resynced(peer_id=peer_id, modules=names, queued=await sync.sync_peer(conn, peer_id, names))
