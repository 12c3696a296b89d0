"""Peers: the platforms we exchange OCPI with, their credentials tokens (encrypted), roles and endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from app.db.parties import PartyError
from app.db.parties import validate as validate_party
from app.secrets_vault import TokenVault, new_token

INVITED, REGISTERED, UNREGISTERED = "INVITED", "REGISTERED", "UNREGISTERED"
CHANNEL = "ocpi_peers"
"""NOTIFYed (at commit) by every change to a peer; workers drop their cached peers on it."""
_CLAIMS_LOCK = 0x0C91_7001
"""Transaction advisory lock taken by every change to who holds or is admitted to which party, so two
registrations cannot both claim one party."""
OWNED_BY = (("locations", "CPO"), ("tariffs", "CPO"), ("sessions", "CPO"), ("cdrs", "CPO"), ("tokens", "EMSP"))
"""Each object table and the role whose parties own its objects (digest §1.7)."""


async def _changed(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


class PartyClaimError(ValueError):
    """A peer may not hold these parties: not admitted by the operator, hosted here, or held by another peer."""


@dataclass(frozen=True, slots=True)
class PeerParty:
    country_code: str
    party_id: str
    role: str

    def label(self) -> str:
        return f"{self.country_code}*{self.party_id}/{self.role}"

    @classmethod
    def parse(cls, text: str) -> "PeerParty":
        """`CC/PID/ROLE` as given on the command line (e.g. NL/MSP/EMSP)."""
        parts = text.split("/")
        if len(parts) != 3:
            raise PartyClaimError(f"party {text!r} must be written COUNTRY/PARTY/ROLE, e.g. NL/MSP/EMSP")
        try:
            return cls(*validate_party(*parts))
        except PartyError as exc:
            raise PartyClaimError(str(exc)) from None


def labels(parties: list[PeerParty]) -> str:
    return ", ".join(p.label() for p in parties) or "none"


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
    """The parties it holds now: what its credentials listed, within what the operator admitted."""
    token_out_enc: bytes | None = None
    admitted: list[PeerParty] = field(default_factory=list)
    """The parties the operator admits for it (`peer invite --party`, `peer parties`)."""
    any_party: bool = False
    """Admitted to claim any party not hosted here nor held by another peer (closed test setups only)."""

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
_SELECT = """SELECT id, status, label, versions_url, version, auth_base64, endpoints, token_out, any_party,
    (SELECT coalesce(json_agg(json_build_array(country_code, party_id, role) ORDER BY country_code, party_id, role), '[]')
     FROM peer_parties WHERE peer_id = peers.id) AS parties,
    (SELECT coalesce(json_agg(json_build_array(country_code, party_id, role) ORDER BY country_code, party_id, role), '[]')
     FROM peer_admitted_parties WHERE peer_id = peers.id) AS admitted FROM peers"""


def _load(row: asyncpg.Record | None) -> Peer | None:
    if row is None:
        return None
    return Peer(id=row["id"], status=row["status"], label=row["label"], versions_url=row["versions_url"],
                version=row["version"], auth_base64=row["auth_base64"], endpoints=msgspec.json.decode(row["endpoints"]),
                parties=[PeerParty(*p) for p in msgspec.json.decode(row["parties"])], token_out_enc=row["token_out"],
                admitted=[PeerParty(*p) for p in msgspec.json.decode(row["admitted"])], any_party=row["any_party"])


async def by_token(conn: asyncpg.Connection | asyncpg.Pool, fingerprints: list[bytes]) -> Peer | None:
    return _load(await conn.fetchrow(f"{_SELECT} WHERE token_in_hash = ANY($1::bytea[])", fingerprints))


async def by_id(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int) -> Peer | None:
    return _load(await conn.fetchrow(f"{_SELECT} WHERE id = $1", peer_id))


async def list_all(conn: asyncpg.Connection | asyncpg.Pool) -> list[Peer]:
    return [p for r in await conn.fetch(f"{_SELECT} ORDER BY id") if (p := _load(r)) is not None]


async def _pairs_where(conn: asyncpg.Connection, sql: str, parties: list[PeerParty], *args: object) -> list[asyncpg.Record]:
    """Rows of `sql` whose (country_code, party_id) is one of `parties`' ($1/$2 are their codes)."""
    return list(await conn.fetch(sql, [p.country_code for p in parties], [p.party_id for p in parties], *args))


async def check_available(conn: asyncpg.Connection, peer_id: int | None, parties: list[PeerParty]) -> None:
    """No party hosted here, or held by another registered peer, may go to `peer_id` (in any role: a party's
    code is its identity). Takes the claims lock: call inside the transaction that then stores the claim."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIMS_LOCK)
    if not parties:
        return
    pairs = "(country_code, party_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
    hosted = await _pairs_where(conn, f"SELECT DISTINCT country_code, party_id FROM parties WHERE {pairs}", parties)
    if hosted:
        raise PartyClaimError("hosted by this deployment, never by a peer: "
                              + ", ".join(f"{r['country_code']}*{r['party_id']}" for r in hosted))
    held = await _pairs_where(conn, f"""SELECT DISTINCT pp.country_code, pp.party_id, pp.peer_id FROM peer_parties pp
        JOIN peers p ON p.id = pp.peer_id WHERE p.status = 'REGISTERED' AND pp.peer_id IS DISTINCT FROM $3 AND {pairs}""",
                              parties, peer_id)
    if held:
        raise PartyClaimError("held by another registered peer: "
                              + ", ".join(f"{r['country_code']}*{r['party_id']} (peer {r['peer_id']})" for r in held))


async def check_claim(conn: asyncpg.Connection, peer_id: int, claimed: list[PeerParty], *,
                      admit_claimed: bool = False) -> None:
    """Raise PartyClaimError unless `peer_id` may hold every party of `claimed`: admitted by the operator (or
    the peer admits any party, or `admit_claimed`: we registered without naming its parties), and available."""
    await check_available(conn, peer_id, claimed)
    if admit_claimed:
        return
    row = await conn.fetchrow("SELECT any_party FROM peers WHERE id = $1", peer_id)
    if row is None or row["any_party"]:
        return
    admitted = {PeerParty(*r) for r in await conn.fetch(
        "SELECT country_code, party_id, role FROM peer_admitted_parties WHERE peer_id = $1", peer_id)}
    refused = [p for p in claimed if p not in admitted]
    if refused:
        raise PartyClaimError(f"not admitted for this peer: {labels(refused)} (admitted: {labels(sorted(admitted, key=PeerParty.label))}; "
                              "the operator admits parties with `ocpi-engine peer parties`)")


async def _admit(conn: asyncpg.Connection, peer_id: int, parties: list[PeerParty]) -> None:
    await conn.executemany(
        "INSERT INTO peer_admitted_parties (peer_id, country_code, party_id, role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [(peer_id, p.country_code, p.party_id, p.role) for p in parties])


async def invite(conn: asyncpg.Connection, vault: TokenVault, label: str | None = None,
                 parties: list[PeerParty] | None = None, any_party: bool = False) -> tuple[int, str]:
    """A new peer that may register with us using the returned token A (versions and credentials only),
    listing only `parties` in its credentials (any party with `any_party`). Call inside a transaction."""
    parties = parties or []
    await check_available(conn, None, parties)
    token_a = new_token()
    peer_id = await conn.fetchval(
        "INSERT INTO peers (label, status, token_in_hash, token_in, any_party) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        label, INVITED, vault.fingerprint(token_a), vault.encrypt(token_a), any_party)
    await _admit(conn, int(peer_id), parties)
    return int(peer_id), token_a


async def create_registered(conn: asyncpg.Connection, vault: TokenVault, label: str,
                            parties: list[tuple[PeerParty, Any]]) -> str:
    """A peer registered without a handshake, for a client that has no OCPI server of its own (the demo
    client, load generators); returns the token it calls us with. Its parties are admitted and held."""
    token = new_token()
    peer_id, _ = await invite(conn, vault, label, [p for p, _ in parties])
    await save_registration(conn, vault, peer_id, token_out=new_token(), versions_url="", version="2.2.1",
                            endpoints=[], parties=parties, token_in=token)
    return token


async def start_outgoing(conn: asyncpg.Connection, vault: TokenVault, versions_url: str, token_a: str,
                         label: str | None = None, peer_id: int | None = None,
                         admitted: list[PeerParty] | None = None) -> tuple[int, str]:
    """We register with a peer: keep its token A for our calls, and create token B for its calls back to us.
    An existing peer (re-registration, `peer_id`) keeps its row; a new one admits `admitted`."""
    token_b = new_token()
    if peer_id is None:
        peer_id = await conn.fetchval(
            """INSERT INTO peers (label, status, token_in_hash, token_in, token_out, versions_url)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            label, INVITED, vault.fingerprint(token_b), vault.encrypt(token_b), vault.encrypt(token_a), versions_url)
        await _admit(conn, int(peer_id), admitted or [])
    else:
        await conn.execute(
            """UPDATE peers SET token_in_hash = $2, token_in = $3, token_out = $4, versions_url = $5, updated_at = now()
               WHERE id = $1""",
            peer_id, vault.fingerprint(token_b), vault.encrypt(token_b), vault.encrypt(token_a), versions_url)
        await _changed(conn)
    return int(peer_id), token_b


async def save_registration(conn: asyncpg.Connection, vault: TokenVault, peer_id: int, *, token_out: str,
                            versions_url: str, version: str, endpoints: list[dict[str, str]],
                            parties: list[tuple[PeerParty, Any]], token_in: str | None = None,
                            admit_claimed: bool = False) -> None:
    """Store a completed handshake: the peer's token, version, endpoints and roles; optionally a new token_in.
    Raises PartyClaimError (nothing stored) when it lists a party it may not hold (see `check_claim`);
    with `admit_claimed` the parties it lists become its admitted ones."""
    claimed = [p for p, _ in parties]
    await check_claim(conn, peer_id, claimed, admit_claimed=admit_claimed)
    if admit_claimed:
        await _admit(conn, peer_id, claimed)
    await conn.execute(
        """UPDATE peers SET status = $2, token_out = $3, versions_url = $4, version = $5, endpoints = $6::jsonb,
           updated_at = now() WHERE id = $1""",
        peer_id, REGISTERED, vault.encrypt(token_out), versions_url, version, msgspec.json.encode(endpoints).decode())
    await _changed(conn)
    if token_in is not None:
        await set_token_in(conn, vault, peer_id, token_in)
    await conn.execute("DELETE FROM peer_parties WHERE peer_id = $1", peer_id)
    await _hold(conn, peer_id, parties)


async def _hold(conn: asyncpg.Connection, peer_id: int, parties: list[tuple[PeerParty, Any]]) -> None:
    """The peer holds these parties from now on, and with them the objects they pushed through an earlier
    registration (objects belong to parties, not to connections)."""
    await conn.executemany(
        """INSERT INTO peer_parties (peer_id, country_code, party_id, role, business_details) VALUES ($1, $2, $3, $4, $5::jsonb)
           ON CONFLICT DO NOTHING""",
        [(peer_id, p.country_code.upper(), p.party_id.upper(), p.role, msgspec.json.encode(details).decode())
         for p, details in parties])
    for table, role in OWNED_BY:
        await conn.execute(
            f"""UPDATE {table} o SET peer_id = $1 FROM peer_parties pp
                WHERE pp.peer_id = $1 AND pp.role = $2 AND o.country_code = pp.country_code AND o.party_id = pp.party_id
                  AND o.peer_id IS NOT NULL AND o.peer_id <> $1""", peer_id, role)


async def change_parties(conn: asyncpg.Connection, peer_id: int, add: list[PeerParty], remove: list[PeerParty]) -> None:
    """The operator changes a peer's admitted parties: an added party is admitted (and held at once by a
    registered peer), a removed one is neither admitted nor held any more. Call inside a transaction."""
    await check_available(conn, peer_id, add)
    for p in remove:
        for table in ("peer_admitted_parties", "peer_parties"):
            await conn.execute(f"DELETE FROM {table} WHERE peer_id = $1 AND country_code = $2 AND party_id = $3 AND role = $4",
                               peer_id, p.country_code, p.party_id, p.role)
    await _admit(conn, peer_id, add)
    if add and await conn.fetchval("SELECT status = $2 FROM peers WHERE id = $1", peer_id, REGISTERED):
        await _hold(conn, peer_id, [(p, {"name": "admitted by the operator"}) for p in add])
    await _changed(conn)


async def set_any_party(conn: asyncpg.Connection, peer_id: int, any_party: bool) -> None:
    await conn.execute("UPDATE peers SET any_party = $2, updated_at = now() WHERE id = $1", peer_id, any_party)
    await _changed(conn)


async def lock_for_credentials(conn: asyncpg.Connection, peer_id: int) -> tuple[str, bytes | None]:
    """Lock the peer's row for a credentials change (so concurrent ones queue); its status and token fingerprint.
    The claims lock comes first, in the order every other change to parties takes them (no deadlock)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIMS_LOCK)
    row = await conn.fetchrow("SELECT status, token_in_hash FROM peers WHERE id = $1 FOR UPDATE", peer_id)
    if row is None:
        return UNREGISTERED, None
    return row["status"], None if row["token_in_hash"] is None else bytes(row["token_in_hash"])


async def set_token_in(conn: asyncpg.Connection, vault: TokenVault, peer_id: int, token: str) -> None:
    await conn.execute("UPDATE peers SET token_in_hash = $2, token_in = $3, updated_at = now() WHERE id = $1",
                       peer_id, vault.fingerprint(token), vault.encrypt(token))
    await _changed(conn)


async def set_auth_base64(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int, base64: bool) -> None:
    await conn.execute("UPDATE peers SET auth_base64 = $2 WHERE id = $1", peer_id, base64)
    await _changed(conn)


async def unregister(conn: asyncpg.Connection, peer_id: int) -> None:
    """Our side stops, without the peer's cooperation (also `peer revoke`): its token stops working in every
    worker (NOTIFY at commit) and nothing more is pushed to it. Its objects stay, with its parties."""
    await conn.execute(
        """UPDATE peers SET status = $2, token_in_hash = NULL, token_in = NULL, token_out = NULL, updated_at = now()
           WHERE id = $1""", peer_id, UNREGISTERED)
    await _changed(conn)
    await conn.execute("UPDATE outbox SET state = 'DEAD', last_error = 'peer unregistered', claimed_by = NULL "
                       "WHERE peer_id = $1 AND state IN ('PENDING', 'SENDING')", peer_id)


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
