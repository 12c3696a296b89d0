"""Credentials module, 2.2.1 (digest §2.2, §2.3): the server side of the handshake (GET/POST/PUT/DELETE
with the 401/405/3001/3002/3003 cases) and the client side (register, update/rotate, unregister)."""

from __future__ import annotations

import logging
from typing import Any, cast

import msgspec
from litestar import Request, Response, delete, get, post, put

from app.config import Settings
from app.db import parties, peers
from app.db.parties import Party
from app.db.peers import Peer, PeerParty
from app.modules import sync
from app.ocpi.client import OcpiCallError, OcpiClient
from app.ocpi.auth import token_candidates
from app.ocpi.transport import CLIENT_ERROR, INVALID_PARAMETERS, OcpiError, read_body, respond, respond_data, unauthorized
from app.ocpi.versions import Discovered, discover
from app.schemas.v2_2_1 import BusinessDetails, Credentials, CredentialsRole, Role
from app.secrets_vault import TokenVault, new_token

VERSION = "2.2.1"
log = logging.getLogger(__name__)


def own_credentials(own: list[Party], token: str, public_url: str) -> Credentials:
    roles = [CredentialsRole(role=cast(Role, p.role), party_id=p.party_id, country_code=p.country_code,
                             business_details=BusinessDetails(name=p.name, website=p.website)) for p in own]
    return Credentials(token=token, url=f"{public_url}/ocpi/versions", roles=roles)


def _peer_parties(creds: Credentials) -> list[tuple[PeerParty, Any]]:
    return [(PeerParty(r.country_code.upper(), r.party_id.upper(), r.role), msgspec.to_builtins(r.business_details))
            for r in creds.roles]


def _not_allowed(message: str) -> OcpiError:
    return OcpiError(CLIENT_ERROR, message, http_status=405)


# --- server side ----------------------------------------------------------------------------------

@get("/credentials")
async def get_credentials(request: Request[Any, Any, Any], caller: Peer) -> Response[bytes]:
    """Our credentials, with the token the caller uses to reach us (allowed with token A)."""
    state = request.app.state
    blob = await state.pool.fetchval("SELECT token_in FROM peers WHERE id = $1", caller.id)
    own = await parties.list_all(state.pool)
    return respond_data(own_credentials(own, state.vault.decrypt(blob), state.settings.public_url))


def _refused_parties(exc: peers.PartyClaimError) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, f"credentials refused, nothing changed: the roles list parties this token may "
                                         f"not register: {exc}")


async def _accept(request: Request[Any, Any, Any], caller: Peer, registering: bool) -> Response[bytes]:
    """Read the peer's Credentials, check the parties it lists, call its versions back with its token, then
    answer with a new token for it. The peer's row is locked while the result is stored: of concurrent calls
    with one token only the first succeeds; the others find their token (or registration) already used."""
    state = request.app.state
    creds = await read_body(request, Credentials)
    claimed = _peer_parties(creds)
    try:  # before any outgoing call: a peer may not make us call anywhere for parties it cannot hold
        async with state.pool.acquire() as conn, conn.transaction():
            await peers.check_claim(conn, caller.id, [p for p, _ in claimed])
    except peers.PartyClaimError as exc:
        raise _refused_parties(exc) from None
    found = await discover(state.client, creds.url, creds.token, [VERSION])
    token = new_token()
    used = {state.vault.fingerprint(c) for c in token_candidates(request.headers.get("authorization"))}
    async with state.pool.acquire() as conn, conn.transaction():
        status, current = await peers.lock_for_credentials(conn, caller.id)
        if registering and status == peers.REGISTERED:
            raise _not_allowed("already registered: use PUT to update or DELETE to unregister")
        if current not in used or status == peers.UNREGISTERED:
            raise unauthorized("this token is no longer valid: a concurrent credentials request with it completed first")
        try:
            await peers.save_registration(conn, state.vault, caller.id, token_out=creds.token, versions_url=creds.url,
                                          version=found.version, endpoints=found.endpoints, parties=claimed,
                                          token_in=token)
        except peers.PartyClaimError as exc:
            raise _refused_parties(exc) from None
        await peers.set_auth_base64(conn, caller.id, found.base64)
        if registering:
            await sync.on_registration(conn, state.settings, caller.id, answered=True)
        own = await parties.list_all(conn)
    state.peer_cache.clear()  # this worker at once; the others on the NOTIFY sent at commit
    log.info("peer registered", extra={"peer": caller.id, "version": found.version,
                                       "parties": [f"{r.country_code}*{r.party_id}/{r.role}" for r in creds.roles]})
    return respond_data(own_credentials(own, token, state.settings.public_url))


@post("/credentials", status_code=200)
async def post_credentials(request: Request[Any, Any, Any], caller: Peer) -> Response[bytes]:
    if caller.registered:
        raise _not_allowed("already registered: use PUT to update or DELETE to unregister")
    return await _accept(request, caller, registering=True)


@put("/credentials")
async def put_credentials(request: Request[Any, Any, Any], caller: Peer) -> Response[bytes]:
    if not caller.registered:
        raise _not_allowed("not registered: use POST to register")
    return await _accept(request, caller, registering=False)


@delete("/credentials", status_code=200)
async def delete_credentials(request: Request[Any, Any, Any], caller: Peer) -> Response[bytes]:
    if not caller.registered:
        raise _not_allowed("not registered")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        await peers.unregister(conn, caller.id)
    request.app.state.peer_cache.clear()
    log.info("peer unregistered", extra={"peer": caller.id})
    return respond()


HANDLERS = [get_credentials, post_credentials, put_credentials, delete_credentials]


# --- client side ----------------------------------------------------------------------------------

class RegistrationError(Exception):
    pass


class PartiesRefused(RegistrationError):
    """The peer completed the exchange but lists parties we do not admit (see `_refuse_reply`)."""


async def _exchange(pool: Any, vault: TokenVault, client: OcpiClient, settings: Settings, peer_id: int,
                    found: Discovered, method: str, token_now: str, token_for_them: str,
                    admit_claimed: bool = False) -> Peer:
    url = next(e["url"] for e in found.endpoints if e["identifier"] == "credentials")
    own = await parties.list_all(pool)
    if not own:
        raise RegistrationError("this deployment hosts no party yet: add one with `ocpi-engine party add`")
    body = msgspec.json.encode(own_credentials(own, token_for_them, settings.public_url))
    try:
        reply = await client.call(method, url, token_now, base64=found.base64, body=body)
        theirs = reply.decode(Credentials)
    except OcpiCallError as exc:
        raise RegistrationError(f"{method} {url} failed: {exc.detail}") from None
    except msgspec.ValidationError as exc:
        raise RegistrationError(f"{method} {url} failed: {exc}") from None
    claimed = _peer_parties(theirs)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await peers.save_registration(conn, vault, peer_id, token_out=theirs.token, versions_url=theirs.url,
                                          version=found.version, endpoints=found.endpoints, parties=claimed,
                                          admit_claimed=admit_claimed)
            await peers.set_auth_base64(conn, peer_id, reply.used_base64)
            if method == "POST":
                await sync.on_registration(conn, settings, peer_id, answered=False)
    except peers.PartyClaimError as exc:
        await _refuse_reply(pool, vault, client, peer_id, found, method, theirs, reply.used_base64)
        raise PartiesRefused(f"the peer lists parties it may not hold here: {exc}") from None
    peer = await peers.by_id(pool, peer_id)
    assert peer is not None
    return peer


async def _refuse_reply(pool: Any, vault: TokenVault, client: OcpiClient, peer_id: int, found: Discovered, method: str,
                        theirs: Credentials, base64: bool) -> None:
    """The peer answered with parties we do not admit. A new registration is ended on both sides (DELETE with
    the token it just gave us, best effort); a rotation keeps its new token and the parties it held before."""
    if method == "PUT":
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE peers SET token_out = $2, updated_at = now() WHERE id = $1",
                               peer_id, vault.encrypt(theirs.token))
        return
    url = next(e["url"] for e in found.endpoints if e["identifier"] == "credentials")
    try:
        await client.call("DELETE", url, theirs.token, base64=base64)
    except OcpiCallError as exc:
        log.warning("could not end a refused registration at the peer", extra={"peer": peer_id, "error": exc.detail})
    async with pool.acquire() as conn, conn.transaction():
        await peers.unregister(conn, peer_id)


async def register(pool: Any, vault: TokenVault, client: OcpiClient, settings: Settings, versions_url: str,
                   token_a: str, label: str | None = None, admitted: list[PeerParty] | None = None) -> Peer:
    """We start the handshake with a peer that gave us its versions URL and token A (§2.3 steps 2–9). With
    `admitted`, the peer may hold only those parties; without, the parties it lists are admitted when none is
    hosted here or held by another peer."""
    try:
        found = await discover(client, versions_url, token_a, [VERSION])
    except OcpiError as exc:
        raise RegistrationError(exc.detail) from None
    async with pool.acquire() as conn, conn.transaction():
        # Token B must work before the POST: the peer calls our versions with it while answering.
        peer_id, token_b = await peers.start_outgoing(conn, vault, versions_url, token_a, label, admitted=admitted)
    return await _exchange(pool, vault, client, settings, peer_id, found, "POST", token_a, token_b,
                           admit_claimed=admitted is None)


async def update(pool: Any, vault: TokenVault, client: OcpiClient, settings: Settings, peer: Peer) -> Peer:
    """Re-read the peer's endpoints and rotate both tokens (PUT credentials)."""
    if not peer.registered or peer.token_out_enc is None or peer.versions_url is None:
        raise RegistrationError(f"peer {peer.id} is not registered")
    token_now = vault.decrypt(peer.token_out_enc)
    try:
        found = await discover(client, peer.versions_url, token_now, [VERSION], base64=peer.auth_base64)
    except OcpiError as exc:
        raise RegistrationError(exc.detail) from None
    old_in = await pool.fetchval("SELECT token_in FROM peers WHERE id = $1", peer.id)
    token_b = new_token()
    await peers.set_token_in(pool, vault, peer.id, token_b)
    try:
        return await _exchange(pool, vault, client, settings, peer.id, found, "PUT", token_now, token_b)
    except PartiesRefused:
        raise  # the peer holds token B now: both tokens stay rotated, only its parties stay as they were
    except RegistrationError:
        await peers.set_token_in(pool, vault, peer.id, vault.decrypt(old_in))
        raise


async def unregister(pool: Any, vault: TokenVault, client: OcpiClient, peer: Peer) -> None:
    """DELETE our registration at the peer, then stop using it on our side too."""
    if not peer.registered or peer.token_out_enc is None:
        raise RegistrationError(f"peer {peer.id} is not registered")
    url = peer.endpoint("credentials", "SENDER") or peer.endpoint("credentials", "RECEIVER")
    if url is None:
        raise RegistrationError(f"peer {peer.id} has no credentials endpoint")
    try:
        await client.call("DELETE", url, vault.decrypt(peer.token_out_enc), base64=peer.auth_base64)
    except OcpiCallError as exc:
        raise RegistrationError(f"{exc.detail}; the peer's token still works here: cut it off without its "
                                f"cooperation with `ocpi-engine peer revoke {peer.id}`") from None
    async with pool.acquire() as conn, conn.transaction():
        await peers.unregister(conn, peer.id)
