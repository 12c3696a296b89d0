"""Peers: the platforms we exchange OCPI with, their credentials tokens (encrypted), roles and endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from app.secrets_vault import TokenVault, new_token

INVITED, REGISTERED, UNREGISTERED = "INVITED", "REGISTERED", "UNREGISTERED"
CHANNEL = "ocpi_peers"
"""NOTIFYed (at commit) by every change to a peer; workers drop their cached peers on it."""


async def _changed(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


@dataclass(frozen=True, slots=True)
class PeerParty:
    country_code: str
    party_id: str
    role: str


@dataclass(slots=True)
class Peer:
    id: int
    status: str
    label: str | None
    versions_url: str | None
    version: str | None
    auth_base64: bool
    endpoints: list[dict[str, str]] = field(default_factory=list)
    parties: list[PeerParty] = field(default_factory=list)
    token_out_enc: bytes | None = None

    @property
    def registered(self) -> bool:
        return self.status == REGISTERED

    def has_party(self, country_code: str, party_id: str, role: str | None = None) -> bool:
        cc, pid = country_code.upper(), party_id.upper()
        return any(p.country_code == cc and p.party_id == pid and (role is None or p.role == role) for p in self.parties)

    def parties_with_role(self, role: str) -> list[PeerParty]:
        return [p for p in self.parties if p.role == role]

    def endpoint(self, module: str, interface: str) -> str | None:
        for e in self.endpoints:
            if e.get("identifier") == module and e.get("role", interface) == interface:
                return e["url"]
        return None


# One round trip per lookup: the peer row with its parties aggregated (auth runs on every request).
_SELECT = """SELECT id, status, label, versions_url, version, auth_base64, endpoints, token_out,
    (SELECT coalesce(json_agg(json_build_array(country_code, party_id, role) ORDER BY country_code, party_id, role), '[]')
     FROM peer_parties WHERE peer_id = peers.id) AS parties FROM peers"""


def _load(row: asyncpg.Record | None) -> Peer | None:
    if row is None:
        return None
    return Peer(id=row["id"], status=row["status"], label=row["label"], versions_url=row["versions_url"],
                version=row["version"], auth_base64=row["auth_base64"], endpoints=msgspec.json.decode(row["endpoints"]),
                parties=[PeerParty(*p) for p in msgspec.json.decode(row["parties"])], token_out_enc=row["token_out"])


async def by_token(conn: asyncpg.Connection | asyncpg.Pool, fingerprints: list[bytes]) -> Peer | None:
    return _load(await conn.fetchrow(f"{_SELECT} WHERE token_in_hash = ANY($1::bytea[])", fingerprints))


async def by_id(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int) -> Peer | None:
    return _load(await conn.fetchrow(f"{_SELECT} WHERE id = $1", peer_id))


async def list_all(conn: asyncpg.Connection | asyncpg.Pool) -> list[Peer]:
    return [p for r in await conn.fetch(f"{_SELECT} ORDER BY id") if (p := _load(r)) is not None]


async def invite(conn: asyncpg.Connection, vault: TokenVault, label: str | None = None) -> tuple[int, str]:
    """A new peer that may register with us using the returned token A (versions and credentials only)."""
    token_a = new_token()
    peer_id = await conn.fetchval(
        "INSERT INTO peers (label, status, token_in_hash, token_in) VALUES ($1, $2, $3, $4) RETURNING id",
        label, INVITED, vault.fingerprint(token_a), vault.encrypt(token_a))
    return int(peer_id), token_a


async def create_registered(conn: asyncpg.Connection, vault: TokenVault, label: str,
                            parties: list[tuple[PeerParty, Any]]) -> str:
    """A peer registered without a handshake, for a client that has no OCPI server of its own (the demo
    client, load generators); returns the token it calls us with."""
    token = new_token()
    peer_id, _ = await invite(conn, vault, label)
    await save_registration(conn, vault, peer_id, token_out=new_token(), versions_url="", version="2.2.1",
                            endpoints=[], parties=parties, token_in=token)
    return token


async def start_outgoing(conn: asyncpg.Connection, vault: TokenVault, versions_url: str, token_a: str,
                         label: str | None = None, peer_id: int | None = None) -> tuple[int, str]:
    """We register with a peer: keep its token A for our calls, and create token B for its calls back to us.
    An existing peer (re-registration, `peer_id`) keeps its row."""
    token_b = new_token()
    if peer_id is None:
        peer_id = await conn.fetchval(
            """INSERT INTO peers (label, status, token_in_hash, token_in, token_out, versions_url)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            label, INVITED, vault.fingerprint(token_b), vault.encrypt(token_b), vault.encrypt(token_a), versions_url)
    else:
        await conn.execute(
            """UPDATE peers SET token_in_hash = $2, token_in = $3, token_out = $4, versions_url = $5, updated_at = now()
               WHERE id = $1""",
            peer_id, vault.fingerprint(token_b), vault.encrypt(token_b), vault.encrypt(token_a), versions_url)
        await _changed(conn)
    return int(peer_id), token_b


async def save_registration(conn: asyncpg.Connection, vault: TokenVault, peer_id: int, *, token_out: str,
                            versions_url: str, version: str, endpoints: list[dict[str, str]],
                            parties: list[tuple[PeerParty, Any]], token_in: str | None = None) -> None:
    """Store a completed handshake: the peer's token, version, endpoints and roles; optionally a new token_in."""
    await conn.execute(
        """UPDATE peers SET status = $2, token_out = $3, versions_url = $4, version = $5, endpoints = $6::jsonb,
           updated_at = now() WHERE id = $1""",
        peer_id, REGISTERED, vault.encrypt(token_out), versions_url, version, msgspec.json.encode(endpoints).decode())
    await _changed(conn)
    if token_in is not None:
        await set_token_in(conn, vault, peer_id, token_in)
    await conn.execute("DELETE FROM peer_parties WHERE peer_id = $1", peer_id)
    await conn.executemany(
        "INSERT INTO peer_parties (peer_id, country_code, party_id, role, business_details) VALUES ($1, $2, $3, $4, $5::jsonb)",
        [(peer_id, p.country_code.upper(), p.party_id.upper(), p.role, msgspec.json.encode(details).decode())
         for p, details in parties])


async def set_token_in(conn: asyncpg.Connection, vault: TokenVault, peer_id: int, token: str) -> None:
    await conn.execute("UPDATE peers SET token_in_hash = $2, token_in = $3, updated_at = now() WHERE id = $1",
                       peer_id, vault.fingerprint(token), vault.encrypt(token))
    await _changed(conn)


async def set_auth_base64(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int, base64: bool) -> None:
    await conn.execute("UPDATE peers SET auth_base64 = $2 WHERE id = $1", peer_id, base64)
    await _changed(conn)


async def unregister(conn: asyncpg.Connection, peer_id: int) -> None:
    """Both sides stop: the peer's token stops working and nothing more is pushed to it."""
    await conn.execute(
        """UPDATE peers SET status = $2, token_in_hash = NULL, token_in = NULL, token_out = NULL, updated_at = now()
           WHERE id = $1""", peer_id, UNREGISTERED)
    await _changed(conn)
    await conn.execute("UPDATE outbox SET state = 'DEAD', last_error = 'peer unregistered' WHERE peer_id = $1 AND state = 'PENDING'",
                       peer_id)


async def registered_with_party(conn: asyncpg.Connection | asyncpg.Pool, country_code: str, party_id: str,
                                role: str | None = None) -> list[int]:
    rows = await conn.fetch(
        """SELECT DISTINCT p.id FROM peers p JOIN peer_parties pp ON pp.peer_id = p.id
           WHERE p.status = 'REGISTERED' AND pp.country_code = $1 AND pp.party_id = $2 AND ($3::text IS NULL OR pp.role = $3)
           ORDER BY p.id""", country_code.upper(), party_id.upper(), role)
    return [r["id"] for r in rows]


async def registered_with_role(conn: asyncpg.Connection | asyncpg.Pool, role: str) -> list[int]:
    rows = await conn.fetch(
        """SELECT DISTINCT p.id FROM peers p JOIN peer_parties pp ON pp.peer_id = p.id
           WHERE p.status = 'REGISTERED' AND pp.role = $1 ORDER BY p.id""", role)
    return [r["id"] for r in rows]
