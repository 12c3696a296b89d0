"""Authorization of a token at session start, by its whitelist type (digest §3.5 WhitelistType):
NEVER asks the eMSP in real time, ALLOWED_OFFLINE asks and allows when the eMSP cannot be reached, ALLOWED uses the
token cache (or asks, by setting), ALWAYS never asks. The token cache is the `tokens` table (the eMSPs' pushes and
our pulls); a token not in it is asked about in real time, of every registered eMSP. An eMSP reachable only through
a hub is asked through it (OCPI-to = the eMSP, `app/db/reachable.py`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote

import asyncpg
import msgspec

from app.charging.settings import ChargingSettings
from app.db import peers, reachable
from app.db.peers import Peer
from app.modules.common import Doc, load_doc
from app.ocpi.client import OcpiCallError, OcpiClient
from app.ocpi.routing import PartyRef
from app.ocpi.transport import UNKNOWN_TOKEN
from app.schemas.v2_2_1 import AuthorizationInfo
from app.secrets_vault import TokenVault

FIELD = "token_uid"
PARALLEL_ASKS = 16


class Refused(Exception):
    """An event the app refuses before the engine sees it; `field` names the event field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Authorized:
    token: Doc
    """The Token object, as the eMSP last told us (cache or real-time answer)."""
    emsp: tuple[str, str]
    authorization_reference: str | None
    asked: bool
    """Decided by the eMSP in real time (auth_method AUTH_REQUEST), else by the whitelist (WHITELIST)."""

    @property
    def auth_method(self) -> str:
        return "AUTH_REQUEST" if self.asked else "WHITELIST"


@dataclass(frozen=True, slots=True)
class Request:
    """What one session start asks for: a token at one of our EVSEs."""

    token_uid: str
    token_type: str
    cpo: tuple[str, str]
    location_id: str
    evse_uid: str


class Unreachable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Cached:
    token: Doc
    emsp: tuple[str, str]


async def _cached(pool: asyncpg.Pool, requests: list[Request]) -> dict[tuple[str, str], _Cached]:
    """The cached token of each (uid, type) asked for; when several eMSPs hold one, the latest changed."""
    pairs = sorted({(r.token_uid.upper(), r.token_type) for r in requests})
    rows = await pool.fetch(
        """SELECT DISTINCT ON (id, type) id, type, country_code, party_id, data::text AS data FROM tokens
           WHERE (id, type) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY id, type, last_updated DESC""", [p[0] for p in pairs], [p[1] for p in pairs])
    return {(r["id"], r["type"]): _Cached(load_doc(r["data"]), (r["country_code"], r["party_id"])) for r in rows}


class Authorizer:
    def __init__(self, pool: asyncpg.Pool, vault: TokenVault, client: OcpiClient, settings: ChargingSettings) -> None:
        self._pool = pool
        self._vault = vault
        self._client = client
        self._settings = settings

    async def authorize_all(self, requests: list[Request]) -> list[Authorized | Refused]:
        """Each request's decision, in order; real-time questions run side by side (a few at a time)."""
        if not requests:
            return []
        cache = await _cached(self._pool, requests)
        limit = asyncio.Semaphore(PARALLEL_ASKS)

        async def one(request: Request) -> Authorized | Refused:
            async with limit:
                try:
                    return await self._decide(request, cache.get((request.token_uid.upper(), request.token_type)))
                except Refused as refused:
                    return refused

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _decide(self, request: Request, cached: _Cached | None) -> Authorized:
        label = f"token {request.token_uid} ({request.token_type})"
        if cached is None:
            return await self._ask_everyone(request, label)
        emsp = f"{cached.emsp[0]}*{cached.emsp[1]}"
        whitelist = str(cached.token.get("whitelist", "NEVER"))
        ask = whitelist in ("NEVER", "ALLOWED_OFFLINE") or (
            whitelist == "ALLOWED" and self._settings.whitelist_allowed == "realtime")
        if ask:
            try:
                return await self._ask_emsp(request, cached.emsp, label)
            except Unreachable as exc:
                if whitelist == "NEVER":
                    raise Refused(FIELD, f"{label} needs real-time authorization (whitelist NEVER) and eMSP {emsp} "
                                         f"could not be asked: {exc}") from None
                # ALLOWED_OFFLINE, or ALLOWED asked by choice: the cache decides when the eMSP cannot.
        if not cached.token.get("valid"):
            raise Refused(FIELD, f"{label} is not valid (token cache of eMSP {emsp})")
        return Authorized(cached.token, cached.emsp, None, asked=False)

    async def _ask_emsp(self, request: Request, emsp: tuple[str, str], label: str) -> Authorized:
        """Ask the eMSP's platform; Refused when it refuses or does not know the token, Unreachable when no
        answer came in time."""
        problems = []
        for route in await reachable.peers_for_party(self._pool, emsp[0], emsp[1], "EMSP"):
            peer = await peers.by_id(self._pool, route.peer_id)
            if peer is None or peer.endpoint("tokens", "SENDER") is None:
                continue
            try:
                info = await self._ask(peer, emsp, request)
            except Unreachable as exc:
                problems.append(str(exc))
                continue
            if info is None:
                raise Refused(FIELD, f"{label} is unknown to its eMSP {emsp[0]}*{emsp[1]}")
            return _allowed(info, label)
        raise Unreachable("; ".join(problems) or "no registered platform of this eMSP offers a tokens Sender")

    async def _ask_everyone(self, request: Request, label: str) -> Authorized:
        """A token not in the cache: the first eMSP that knows it decides; the registered eMSPs first, then those
        reachable only through a hub (asked through it, to = the eMSP)."""
        asks: list[tuple[int, tuple[str, str] | None]] = [(i, None) for i in await peers.registered_with_role(self._pool, "EMSP")]
        asks += [(i, party) for i, party in await reachable.behind_hubs(self._pool, "EMSP")]
        unreachable = 0
        for peer_id, behind in asks:
            peer = await peers.by_id(self._pool, peer_id)
            if peer is None or peer.endpoint("tokens", "SENDER") is None:
                continue
            parties = [behind] if behind else [(p.country_code, p.party_id) for p in peer.parties_with_role("EMSP")]
            for party in parties:
                try:
                    info = await self._ask(peer, party, request)
                except Unreachable:
                    unreachable += 1
                    continue
                if info is not None:
                    return _allowed(info, label)
        extra = f" ({unreachable} could not be asked)" if unreachable else ""
        raise Refused(FIELD, f"{label} is unknown: not in the token cache and no registered eMSP knows it{extra}")

    async def _ask(self, peer: Peer, emsp: tuple[str, str], request: Request) -> tuple[AuthorizationInfo, Doc] | None:
        """POST {tokens Sender}/{uid}/authorize?type=T with the LocationReferences; None: the eMSP does not know
        the token (HTTP 404 / status 2004)."""
        url = str(peer.endpoint("tokens", "SENDER")).rstrip("/") + "/" + quote(request.token_uid, safe="") + "/authorize"
        assert peer.token_out_enc is not None
        body = msgspec.json.encode({"location_id": request.location_id, "evse_uids": [request.evse_uid]})
        call = self._client.call("POST", url, self._vault.decrypt(peer.token_out_enc), base64=peer.auth_base64,
                                 body=body, params={"type": request.token_type}, to=PartyRef(*emsp),
                                 from_=PartyRef(*request.cpo), check=False)
        try:
            reply = await asyncio.wait_for(call, self._settings.authorize_timeout)
        except TimeoutError:
            raise Unreachable(f"no answer within {self._settings.authorize_timeout:g} s") from None
        except OcpiCallError as exc:
            raise Unreachable(exc.public) from None
        if reply.status_code == UNKNOWN_TOKEN or reply.http_status == 404:
            return None
        if not (200 <= reply.http_status < 300 and 1000 <= reply.status_code < 2000) or reply.data is None:
            raise Unreachable(f"answered HTTP {reply.http_status}, OCPI status {reply.status_code}")
        try:
            info = reply.decode(AuthorizationInfo)
        except (msgspec.DecodeError, OcpiCallError) as exc:
            raise Unreachable(f"answered an invalid AuthorizationInfo: {exc}") from None
        # The answer decides whose session this is (the token's party): it must be the party asked, about the token
        # asked, or a peer could claim another eMSP's tokens (and have its sessions and CDRs sent there).
        token = info.token
        if ((token.country_code.upper(), token.party_id.upper()) != emsp or token.type != request.token_type
                or token.uid.upper() != request.token_uid.upper()):
            raise Unreachable(f"answered about token {token.uid} ({token.type}) of {token.country_code}*{token.party_id}, "
                              f"not {request.token_uid} ({request.token_type}) of {emsp[0]}*{emsp[1]}")
        return info, load_doc(bytes(reply.data))


def _allowed(answer: tuple[AuthorizationInfo, Doc], label: str) -> Authorized:
    info, doc = answer
    token: Doc = doc["token"]
    emsp = (str(token["country_code"]).upper(), str(token["party_id"]).upper())
    if info.allowed != "ALLOWED":
        why = f" ({info.info.text})" if info.info is not None else ""
        raise Refused(FIELD, f"{label} refused by eMSP {emsp[0]}*{emsp[1]}: {info.allowed}{why}")
    return Authorized(token, emsp, info.authorization_reference, asked=True)
