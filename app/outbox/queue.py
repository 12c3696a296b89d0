"""Writing to the outbox. A NOTIFY wakes the dispatchers at commit; the row is the truth, so a lost
notification only delays delivery until the next poll."""

from __future__ import annotations

import asyncpg

CHANNEL = "ocpi_outbox"


async def enqueue(conn: asyncpg.Connection, *, peer_id: int, module: str, method: str, path: str, body: bytes | None,
                  sender: tuple[str, str], receiver: tuple[str, str]) -> int:
    """Queue one call to the peer's Receiver interface of `module`; `path` is appended to its URL."""
    row_id = await conn.fetchval(
        """INSERT INTO outbox (peer_id, module, method, path, body, from_country_code, from_party_id,
                               to_country_code, to_party_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        peer_id, module, method, path, body, sender[0], sender[1], receiver[0], receiver[1])
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return int(row_id)
