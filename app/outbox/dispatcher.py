"""Delivering the outbox: claim due rows with SKIP LOCKED (several workers share the table), oldest first and
one at a time per peer (so a peer sees changes in order), retry transport failures with backoff, and park
what the peer rejects or what keeps failing as DEAD with the reason."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from app.background import RoundLoop
from app.db import peers
from app.ocpi.client import OcpiCallError, OcpiClient
from app.ocpi.routing import PartyRef
from app.secrets_vault import TokenVault

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE_SECONDS = 60

# The head of each peer's queue that is due; the lease (next_attempt_at in the future) keeps other
# workers off a row while it is being delivered.
_CLAIM = """
UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT o.id FROM outbox o
    WHERE o.state = 'PENDING' AND o.next_attempt_at <= now()
      AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.peer_id = o.peer_id AND e.state = 'PENDING' AND e.id < o.id)
    ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, peer_id, module, method, path, body, from_country_code, from_party_id, to_country_code, to_party_id,
          attempts"""


def backoff(attempts: int) -> float:
    return float(min(2 ** attempts, 600))


class Dispatcher(RoundLoop):
    def __init__(self, pool: asyncpg.Pool, vault: TokenVault, client: OcpiClient, poll_seconds: float = 2.0,
                 batch: int = 32) -> None:
        self._pool, self._vault, self._client = pool, vault, client
        self._batch = batch
        # Call `wake` on every NOTIFY of `queue.CHANNEL` (rows queued) and whenever notifications may have been
        # missed; without them due rows are found by polling.
        super().__init__("outbox-dispatcher", self.deliver_due, poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim due rows and deliver them (peers in parallel). Returns how many were claimed."""
        rows = await self._pool.fetch(_CLAIM, self._batch, LEASE_SECONDS)
        if rows:
            await asyncio.gather(*(self._deliver(r) for r in rows))
        return len(rows)

    async def _deliver(self, row: asyncpg.Record) -> None:
        peer = await peers.by_id(self._pool, row["peer_id"])
        if peer is None or not peer.registered or peer.token_out_enc is None:
            await self._finish(row, "DEAD", "peer is not registered")
            return
        base = peer.endpoint(row["module"], "RECEIVER")
        if base is None:
            await self._finish(row, "DEAD", f"peer offers no {row['module']} RECEIVER endpoint")
            return
        try:
            reply = await self._client.call(
                row["method"], base.rstrip("/") + row["path"], self._vault.decrypt(peer.token_out_enc),
                base64=peer.auth_base64, body=row["body"],
                to=PartyRef(row["to_country_code"], row["to_party_id"]),
                from_=PartyRef(row["from_country_code"], row["from_party_id"]))
        except OcpiCallError as exc:
            reply_ = exc.reply
            # The peer understood and refused (OCPI 2xxx/HTTP 4xx): resending the same call cannot help.
            refused = reply_ is not None and (2000 <= reply_.status_code < 3000 or 400 <= reply_.http_status < 500)
            if refused or row["attempts"] >= MAX_ATTEMPTS:
                await self._finish(row, "DEAD", str(exc))
            else:
                await self._pool.execute(
                    "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3 WHERE id = $1",
                    row["id"], backoff(row["attempts"]), str(exc))
            log.warning("outbox: push failed", extra={"outbox_id": row["id"], "peer": peer.id, "error": str(exc)})
            return
        await self._finish(row, "DELIVERED", None, reply.headers.get("location"))

    async def _finish(self, row: asyncpg.Record, state: str, error: str | None, location: str | None = None) -> None:
        await self._pool.execute(
            """UPDATE outbox SET state = $2, last_error = $3, response_location = $4,
               delivered_at = CASE WHEN $2 = 'DELIVERED' THEN now() END WHERE id = $1""",
            row["id"], state, error, location)
