"""Which peer reaches a party: directly (the peer holds it), or through a hub whose ClientInfo lists it (digest
§1.9, §3.8). Sessions, CDRs and real-time authorization go to one party; a hub forwards by the OCPI-to headers."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.db import peers
from app.db.peers import PeerParty

REACHABLE = ("CONNECTED", "OFFLINE")
"""ClientInfo statuses a party can be sent to through its hub: OFFLINE ones get it once the hub reaches them."""


@dataclass(frozen=True, slots=True)
class Route:
    peer_id: int
    via_hub: bool
    receiver: tuple[str, str]
    """The party the push is addressed to (OCPI-to): the party itself, also through a hub."""


async def peers_for_party(conn: asyncpg.Connection | asyncpg.Pool, country_code: str, party_id: str,
                          role: str) -> list[Route]:
    """Registered peers holding the party; when none does, registered hub peers whose ClientInfo lists it
    CONNECTED or OFFLINE."""
    party = (country_code.upper(), party_id.upper())
    direct = await peers.registered_with_party(conn, party[0], party[1], role)
    if direct:
        return [Route(i, False, party) for i in direct]
    rows = await conn.fetch(
        """SELECT DISTINCT h.peer_id FROM hub_clients h JOIN peers p ON p.id = h.peer_id
           WHERE p.status = 'REGISTERED' AND h.country_code = $1 AND h.party_id = $2 AND h.role = $3
             AND h.status = ANY($4::text[]) ORDER BY h.peer_id""", party[0], party[1], role, list(REACHABLE))
    return [Route(r["peer_id"], True, party) for r in rows]


async def hub_peers(conn: asyncpg.Connection | asyncpg.Pool) -> list[tuple[int, tuple[str, str]]]:
    """Registered peers holding a HUB party, each with that party (the addressee of a broadcast, §1.9)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (p.id) p.id, pp.country_code, pp.party_id FROM peers p
           JOIN peer_parties pp ON pp.peer_id = p.id WHERE p.status = 'REGISTERED' AND pp.role = 'HUB'
           ORDER BY p.id, pp.country_code, pp.party_id""")
    return [(r["id"], (r["country_code"], r["party_id"])) for r in rows]


async def listed_by_hub(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int) -> list[PeerParty]:
    """The parties a hub peer's ClientInfo lists and has not SUSPENDED, leaving out parties hosted here (a hub
    lists every party it connects, us included): what the hub may act for."""
    rows = await conn.fetch(
        """SELECT h.country_code, h.party_id, h.role FROM hub_clients h
           WHERE h.peer_id = $1 AND h.status <> 'SUSPENDED'
             AND NOT EXISTS (SELECT 1 FROM parties o WHERE o.country_code = h.country_code AND o.party_id = h.party_id)
           ORDER BY h.country_code, h.party_id, h.role""", peer_id)
    return [PeerParty(r["country_code"], r["party_id"], r["role"]) for r in rows]


async def behind_hubs(conn: asyncpg.Connection | asyncpg.Pool, role: str) -> list[tuple[int, tuple[str, str]]]:
    """(hub peer, party) for every party of `role` reachable only through a hub (CONNECTED there, held by no
    registered peer)."""
    rows = await conn.fetch(
        """SELECT h.peer_id, h.country_code, h.party_id FROM hub_clients h JOIN peers p ON p.id = h.peer_id
           WHERE p.status = 'REGISTERED' AND h.role = $1 AND h.status = 'CONNECTED'
             AND NOT EXISTS (SELECT 1 FROM peer_parties pp JOIN peers d ON d.id = pp.peer_id
                             WHERE d.status = 'REGISTERED' AND pp.country_code = h.country_code
                               AND pp.party_id = h.party_id AND pp.role = h.role)
           ORDER BY h.peer_id, h.country_code, h.party_id""", role)
    return [(r["peer_id"], (r["country_code"], r["party_id"])) for r in rows]
