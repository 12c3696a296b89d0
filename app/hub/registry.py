"""PLACEHOLDER for stream H's registry (contract §3), only what stream C uses: every party of every peer with its
connection status. Stream H's `app/hub/registry.py` replaces this file wholesale when it merges.

Status: CONNECTED (peer REGISTERED, delivery not OFFLINE), OFFLINE (peer_delivery OFFLINE), PLANNED (peer INVITED:
its admitted parties), SUSPENDED (peer UNREGISTERED). A party listed by several peers: the most alive one wins."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

CONNECTED, OFFLINE, PLANNED, SUSPENDED = "CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"


@dataclass(frozen=True, slots=True)
class Entry:
    country_code: str
    party_id: str
    role: str
    peer_id: int
    status: str


_ENTRIES = """
WITH held AS (
    SELECT pp.country_code, pp.party_id, pp.role, p.id AS peer_id,
           CASE WHEN p.status = 'UNREGISTERED' THEN 'SUSPENDED'
                WHEN d.status = 'OFFLINE' THEN 'OFFLINE' ELSE 'CONNECTED' END AS status
    FROM peers p JOIN peer_parties pp ON pp.peer_id = p.id LEFT JOIN peer_delivery d ON d.peer_id = p.id
    WHERE p.status IN ('REGISTERED', 'UNREGISTERED')
    UNION ALL
    SELECT a.country_code, a.party_id, a.role, p.id, 'PLANNED'
    FROM peers p JOIN peer_admitted_parties a ON a.peer_id = p.id WHERE p.status = 'INVITED'
)
SELECT DISTINCT ON (country_code, party_id, role) country_code, party_id, role, peer_id, status FROM held
WHERE ($1::text IS NULL OR country_code = $1) AND ($2::text IS NULL OR party_id = $2) AND ($3::text IS NULL OR role = $3)
ORDER BY country_code, party_id, role,
         array_position(ARRAY['CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED'], status), peer_id DESC"""


async def _fetch(conn: asyncpg.Connection | asyncpg.Pool, cc: str | None, pid: str | None, role: str | None) -> list[Entry]:
    return [Entry(r["country_code"], r["party_id"], r["role"], r["peer_id"], r["status"])
            for r in await conn.fetch(_ENTRIES, cc, pid, role)]


async def entries(conn: asyncpg.Connection | asyncpg.Pool) -> list[Entry]:
    return await _fetch(conn, None, None, None)


async def lookup(conn: asyncpg.Connection | asyncpg.Pool, cc: str, pid: str, role: str | None = None) -> list[Entry]:
    return await _fetch(conn, cc.upper(), pid.upper(), role)
