"""Every party reachable through the hub, with its connection status (digest §1.9, §3.8): the parties each peer
holds (REGISTERED: CONNECTED, or OFFLINE while deliveries to it fail; UNREGISTERED: SUSPENDED) and the parties
admitted for a peer that has not registered yet (PLANNED). One entry per party and role: the best status wins."""

from __future__ import annotations

from collections.abc import Iterable
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

    @property
    def key(self) -> tuple[str, str]:
        return (self.country_code, self.party_id)

    def label(self) -> str:
        return f"{self.country_code}*{self.party_id} ({self.role})"


# Held parties of registered/unregistered peers, and admitted parties of invited ones; OFFLINE from the delivery
# engine's peer status. DISTINCT ON keeps, per party and role, the entry of the best status (newest peer first).
_ENTRIES = """
WITH held AS (
    SELECT pp.country_code, pp.party_id, pp.role, p.id AS peer_id,
           CASE WHEN p.status = 'UNREGISTERED' THEN 'SUSPENDED'
                WHEN EXISTS (SELECT 1 FROM peer_delivery d WHERE d.peer_id = p.id AND d.status = 'OFFLINE')
                THEN 'OFFLINE' ELSE 'CONNECTED' END AS status
    FROM peers p JOIN peer_parties pp ON pp.peer_id = p.id
    WHERE p.status IN ('REGISTERED', 'UNREGISTERED')
    UNION ALL
    SELECT a.country_code, a.party_id, a.role, p.id, 'PLANNED'
    FROM peers p JOIN peer_admitted_parties a ON a.peer_id = p.id
    WHERE p.status = 'INVITED'
)
SELECT DISTINCT ON (country_code, party_id, role) country_code, party_id, role, peer_id, status FROM held
WHERE ($1::text IS NULL OR (country_code = $1 AND party_id = $2)) AND ($3::text IS NULL OR role = $3)
ORDER BY country_code, party_id, role,
         array_position(ARRAY['CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED'], status), peer_id DESC"""


def _load(rows: Iterable[asyncpg.Record]) -> list[Entry]:
    return [Entry(r["country_code"], r["party_id"], r["role"], r["peer_id"], r["status"]) for r in rows]


async def entries(conn: asyncpg.Connection | asyncpg.Pool) -> list[Entry]:
    return _load(await conn.fetch(_ENTRIES, None, None, None))


async def lookup(conn: asyncpg.Connection | asyncpg.Pool, country_code: str, party_id: str,
                 role: str | None = None) -> list[Entry]:
    """The entries of one party (one per role it has), best status first."""
    found = _load(await conn.fetch(_ENTRIES, country_code.upper(), party_id.upper(), role))
    order = [CONNECTED, OFFLINE, PLANNED, SUSPENDED]
    return sorted(found, key=lambda e: order.index(e.status))


async def connected_with_role(conn: asyncpg.Connection | asyncpg.Pool, roles: Iterable[str], module: str,
                              interface: str, *, offline: bool = False) -> list[Entry]:
    """CONNECTED (and with `offline`, OFFLINE too) parties of `roles` whose peer offers `module`'s `interface`
    endpoint."""
    wanted, statuses = set(roles), {CONNECTED, OFFLINE} if offline else {CONNECTED}
    candidates = [e for e in await entries(conn) if e.status in statuses and e.role in wanted]
    if not candidates:
        return []
    offering = {r["id"] for r in await conn.fetch(
        """SELECT id FROM peers WHERE id = ANY($1::int[])
           AND endpoints @> jsonb_build_array(jsonb_build_object('identifier', $2::text, 'role', $3::text))""",
        sorted({e.peer_id for e in candidates}), module, interface)}
    return [e for e in candidates if e.peer_id in offering]
