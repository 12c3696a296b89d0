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


Call = tuple[int, str, str, str, bytes | None, tuple[str, str], tuple[str, str]]
"""One queued call: peer_id, module, method, path, body, sender, receiver."""


async def enqueue_many(conn: asyncpg.Connection, calls: list[Call]) -> None:
    """`enqueue` for many calls: one INSERT and one NOTIFY (batches of charging sessions and CDRs). Rows are
    inserted in list order, so each peer gets them in that order."""
    if not calls:
        return
    cols = list(zip(*calls, strict=True))
    await conn.execute(
        """INSERT INTO outbox (peer_id, module, method, path, body, from_country_code, from_party_id,
                               to_country_code, to_party_id)
           SELECT p, m, me, pa, b, fc, fp, tc, tp
           FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::text[],
                       $9::text[]) WITH ORDINALITY AS u(p, m, me, pa, b, fc, fp, tc, tp, n) ORDER BY n""",
        list(cols[0]), list(cols[1]), list(cols[2]), list(cols[3]), list(cols[4]), [s[0] for s in cols[5]],
        [s[1] for s in cols[5]], [r[0] for r in cols[6]], [r[1] for r in cols[6]])
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
