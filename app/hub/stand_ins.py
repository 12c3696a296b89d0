"""PLACEHOLDER until stream D (delivery engine) merges: the contract's `Push`, `enqueue_many` taking pushes, and
`peer_status.set_status`, written against today's outbox so stream C's code runs on its own branch.

After the merge this module becomes three imports (and can then be inlined by the callers):
    from app.outbox.queue import Push, enqueue_many as enqueue_pushes
    from app.outbox.peer_status import set_status
    from app.outbox.peer_status import CHANNEL as STATUS_CHANNEL   (or the literal "ocpi_peer_status")
Until then the extra `headers` and `url` of a push are not delivered (today's outbox has no column for them)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.outbox import enqueue_many

STATUS_CHANNEL = "ocpi_peer_status"


@dataclass(frozen=True, slots=True)
class Push:
    peer_id: int
    module: str
    method: str
    path: str
    body: bytes | None
    sender: tuple[str, str]
    receiver: tuple[str, str]
    headers: dict[str, str] | None = None
    url: str | None = None
    interface: str = "RECEIVER"


async def enqueue_pushes(conn: asyncpg.Connection, pushes: list[Push]) -> int:
    await enqueue_many(conn, [(p.peer_id, p.module, p.method, p.path, p.body, p.sender, p.receiver) for p in pushes])
    return len(pushes)


async def set_status(conn: asyncpg.Connection, peer_id: int, status: str, reason: str | None) -> None:
    """The peer's delivery status (CONNECTED/OFFLINE) in `peer_delivery`; NOTIFY `ocpi_peer_status` when it changed."""
    changed = await conn.fetchval(
        """INSERT INTO peer_delivery AS d (peer_id, status, since, last_error) VALUES ($1, $2, now(), $3)
           ON CONFLICT (peer_id) DO UPDATE SET status = $2, last_error = coalesce($3, d.last_error),
               since = CASE WHEN d.status = $2 THEN d.since ELSE now() END
           RETURNING since = now()""", peer_id, status, reason)
    if changed:
        await conn.execute("SELECT pg_notify($1, $2)", STATUS_CHANNEL, str(peer_id))
