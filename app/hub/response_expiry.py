"""Forgetting the response_urls the hub rewrote once their results can no longer come (`Settings.hub_response_ttl`):
without it `hub_responses` grows by one row per forwarded command for ever. `forward.response_target` already
refuses an expired token; this deletes the rows, a bounded chunk per statement so no round holds many locks."""

from __future__ import annotations

import asyncpg

from app.background import RoundLoop

CHUNK = 10_000

_EXPIRE = """
DELETE FROM hub_responses WHERE token IN (
    SELECT token FROM hub_responses WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)"""


async def expire(conn: asyncpg.Connection | asyncpg.Pool, ttl: int, chunk: int = CHUNK) -> int:
    """Delete up to `chunk` response URLs older than `ttl` seconds; how many were deleted."""
    status = await conn.execute(_EXPIRE, ttl, chunk)
    return int(status.split()[-1])


class ResponseExpiry(RoundLoop):
    def __init__(self, pool: asyncpg.Pool, ttl: int) -> None:
        self._pool, self._ttl = pool, ttl
        super().__init__("hub-response-expiry", self.round, max(1.0, min(ttl / 10, 600.0)))

    async def round(self) -> int:
        return await expire(self._pool, self._ttl)
