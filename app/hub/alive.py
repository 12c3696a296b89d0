"""The hub's still-alive check (issue 9 §2): a peer we have heard nothing from for `Settings.hub_alive_after`
seconds (no request from it, no successful delivery to it, no earlier check) is asked for its versions with its
token. No answer → OFFLINE; an answer → CONNECTED (through `set_status`, whose NOTIFY has the ClientInfo announcer
tell the other parties). Workers share the work: a peer is claimed for a check in a short transaction."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from app.background import RoundLoop
from app.db import peers
from app.outbox.peer_status import set_status
from app.ocpi.client import OcpiCallError, OcpiClient
from app.secrets_vault import TokenVault

log = logging.getLogger(__name__)
_CLAIM_LOCK = 0x0C91_9009
PARALLEL = 16

_CLAIM = """
INSERT INTO hub_peer_activity AS a (peer_id, checked_at)
SELECT p.id, now() FROM peers p LEFT JOIN hub_peer_activity x ON x.peer_id = p.id LEFT JOIN peer_delivery d ON d.peer_id = p.id
WHERE p.status = 'REGISTERED' AND p.token_out IS NOT NULL AND coalesce(p.versions_url, '') <> ''
  AND greatest(x.last_request_at, x.checked_at, d.last_success_at, p.updated_at) < now() - make_interval(secs => $1)
ON CONFLICT (peer_id) DO UPDATE SET checked_at = now()
RETURNING peer_id"""


class AliveCheck(RoundLoop):
    def __init__(self, pool: asyncpg.Pool, vault: TokenVault, client: OcpiClient, after: float) -> None:
        self._pool, self._vault, self._client, self._after = pool, vault, client, after
        super().__init__("hub-still-alive", self.round, max(0.5, min(after / 2, 30.0)))

    async def _claim(self) -> list[int]:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _CLAIM_LOCK):
                return []  # another worker is claiming: what is due is theirs
            return [r["peer_id"] for r in await conn.fetch(_CLAIM, float(self._after))]

    async def round(self) -> int:
        due = await self._claim()
        limit = asyncio.Semaphore(PARALLEL)

        async def one(peer_id: int) -> None:
            async with limit:
                await self.check(peer_id)

        await asyncio.gather(*(one(i) for i in due))
        return 0  # checked peers are due again only after `after`: wait for the next poll

    async def check(self, peer_id: int) -> str | None:
        """GET the peer's versions with its token; sets and returns its status (None: not checkable)."""
        peer = await peers.by_id(self._pool, peer_id)
        if peer is None or not peer.registered or peer.token_out_enc is None or not peer.versions_url:
            return None
        status, reason = "CONNECTED", None
        try:
            await self._client.call("GET", peer.versions_url, self._vault.decrypt(peer.token_out_enc),
                                    base64=peer.auth_base64)
        except OcpiCallError as exc:
            status, reason = "OFFLINE", f"still-alive check: {exc}"
        async with self._pool.acquire() as conn, conn.transaction():
            await set_status(conn, peer_id, status, reason)
        if reason:
            log.warning("hub: still-alive check failed", extra={"peer": peer_id, "error": reason})
        return status
