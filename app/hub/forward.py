"""Direct routing's delivery (digest §1.8, §1.9): the request goes on synchronously to the receiver's endpoint
with the hub's token for that peer, a new X-Request-ID, the same X-Correlation-ID and the routing headers
unchanged; its answer comes back as received (streamed, never re-encoded), with `Link` pointing at the hub.
`response_url`s of commands and charging profiles are replaced by `/ocpi/2.2.1/hub/responses/{token}`, so the
asynchronous result comes back through the hub, which sends it on to the original URL."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
import httpx
import msgspec
from litestar import Response
from litestar.response import Stream

from app.hub.routing import Direct, Message, key, label
from app.ocpi.client import OcpiCallError, OcpiClient, Relayed
from app.ocpi.routing import PartyRef
from app.ocpi.transport import (
    FORWARD_TIMEOUT,
    HUB_ERROR,
    INVALID_PARAMETERS,
    JSON,
    RECEIVER_NOT_CONNECTED,
    OcpiError,
)
from app.peer_addresses import AddressPolicy, AddressRefused
from app.secrets_vault import TokenVault

HUB_PATH = "/ocpi/2.2.1/hub"
ASYNC_MODULES = ("commands", "chargingprofiles")
"""Modules whose requests carry a `response_url` for an asynchronous result (§3.6, §3.7)."""
RELAYED_HEADERS = ("content-type", "x-total-count", "x-limit", "location", "ocpi-to-country-code", "ocpi-to-party-id",
                   "ocpi-from-country-code", "ocpi-from-party-id")
_LINK = re.compile(r"<([^>]*)>")
_doc = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
_encode = msgspec.json.Encoder(decimal_format="number").encode


def hub_url(public_url: str, msg: Message) -> str:
    return f"{public_url}{HUB_PATH}/{msg.interface.lower()}/{msg.module}"


def rewrite_link(value: str, endpoint: str, hub_base: str, request_path_url: str) -> str:
    """Each URL of a Link header taken to the hub: the receiver's endpoint replaced by the hub's, the query kept;
    a URL outside the endpoint becomes this request's hub URL with that URL's query."""

    def one(m: re.Match[str]) -> str:
        url = m.group(1)
        base = endpoint.rstrip("/")
        if url.startswith(base) and url[len(base):][:1] in ("", "/", "?"):
            return f"<{hub_base}{url[len(base):]}>"
        query = urlsplit(url).query
        return f"<{request_path_url}{'?' + query if query else ''}>"

    return _LINK.sub(one, value)


async def _remember(conn: asyncpg.Connection | asyncpg.Pool, addresses: AddressPolicy, original: str, msg: Message,
                    target: Direct) -> str:
    # A URL the hub may never post to is refused now (2001), not queued to be retried for ever.
    try:
        await addresses.check(original)
    except AddressRefused as exc:
        raise OcpiError(INVALID_PARAMETERS, f"response_url refused: {exc}") from None
    token = secrets.token_urlsafe(24)
    await conn.execute(
        """INSERT INTO hub_responses (token, url, module, requester_peer_id, requester_country_code, requester_party_id,
                                      receiver_peer_id, receiver_country_code, receiver_party_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        token, original, msg.module, msg.caller.id, *key(msg.sender), target.peer.id, *target.receiver.key)
    return token


async def rewrite_response_urls(conn: asyncpg.Connection | asyncpg.Pool, addresses: AddressPolicy, public_url: str,
                                msg: Message, target: Direct, body: bytes | None, query: str) -> tuple[bytes | None, str]:
    """The body's and the query's `response_url` replaced by a hub URL (commands, charging profiles); one outside
    the peer address policy is refused with 2001 before anything is sent."""
    if msg.module not in ASYNC_MODULES:
        return body, query
    base = f"{public_url}{HUB_PATH}/responses/"
    if body:
        try:
            doc = _doc.decode(body)
        except msgspec.DecodeError:  # not ours to judge: the receiver answers it
            doc = None
        if doc is not None and isinstance(doc.get("response_url"), str):
            doc["response_url"] = base + await _remember(conn, addresses, doc["response_url"], msg, target)
            body = _encode(doc)
    if "response_url" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k == "response_url" for k, _ in pairs):
            pairs = [(k, base + await _remember(conn, addresses, v, msg, target) if k == "response_url" else v)
                     for k, v in pairs]
            query = urlencode(pairs)
    return body, query


def _is_json(headers: httpx.Headers) -> bool:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


async def relay(client: OcpiClient, vault: TokenVault, timeout: float, msg: Message, target: Direct,
                body: bytes | None, query: str) -> Relayed:
    """Send the message on. No answer in time → 4002; unreachable, refusing the hub's token or not answering
    OCPI → 4003 (the receiver is not usefully connected)."""
    assert target.peer.token_out_enc is not None
    url = target.endpoint.rstrip("/") + target.path + (f"?{query}" if query else "")
    who = label(target.to)
    try:
        relayed = await client.relay(msg.method, url, vault.decrypt(target.peer.token_out_enc),
                                     base64=target.peer.auth_base64, body=body, to=target.to, from_=msg.sender)
    except OcpiCallError as exc:
        if exc.timed_out:
            raise OcpiError(FORWARD_TIMEOUT, f"receiver {who} did not answer within {timeout:g} s",
                            detail=str(exc)) from None
        raise OcpiError(RECEIVER_NOT_CONNECTED, f"receiver {who} cannot be reached", detail=str(exc)) from None
    if relayed.http_status == 401:
        await relayed.aclose()
        raise OcpiError(RECEIVER_NOT_CONNECTED, f"receiver {who} refused the hub's credentials")
    if not _is_json(relayed.headers):
        await relayed.aclose()
        raise OcpiError(HUB_ERROR, f"receiver {who} answered HTTP {relayed.http_status} without an OCPI response")
    return relayed


def answer_headers(relayed: Relayed, msg: Message, target: Direct, public_url: str, request_path: str) -> dict[str, str]:
    out = {name: relayed.headers[name] for name in RELAYED_HEADERS if name in relayed.headers}
    link = relayed.headers.get("link")
    if link is not None:
        out["Link"] = rewrite_link(link, target.endpoint, hub_url(public_url, msg), f"{public_url}{request_path}")
    return out


async def response(relayed: Relayed, headers: dict[str, str], stream: bool) -> tuple[Response[Any], bytes | None]:
    """The receiver's answer for the requester: streamed (GET: pages can be large), or read whole (pushes, whose
    outcome decides copies). Returns the response and, when read, the body."""
    if stream:
        return Stream(relayed.stream(), status_code=relayed.http_status, headers=headers, media_type=JSON), None
    content = await relayed.read()
    return Response(content, status_code=relayed.http_status, headers=headers, media_type=JSON), content


class _Status(msgspec.Struct):
    status_code: int


def succeeded(http_status: int, content: bytes | None) -> bool:
    if not 200 <= http_status < 300 or content is None:
        return False
    try:
        return 1000 <= msgspec.json.decode(content, type=_Status).status_code < 2000
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False


class ResponseTarget(msgspec.Struct):
    url: str
    module: str
    requester_peer_id: int
    requester: tuple[str, str]
    receiver_peer_id: int
    receiver: tuple[str, str]


async def response_target(conn: asyncpg.Connection | asyncpg.Pool, token: str, ttl: int) -> ResponseTarget | None:
    """Where the result for `token` goes; None when unknown or older than `ttl` seconds."""
    row = await conn.fetchrow("SELECT * FROM hub_responses WHERE token = $1 AND created_at > now() - make_interval("
                              "secs => $2)", token, ttl)
    if row is None:
        return None
    return ResponseTarget(row["url"], row["module"], row["requester_peer_id"],
                          (row["requester_country_code"], row["requester_party_id"]), row["receiver_peer_id"],
                          (row["receiver_country_code"], row["receiver_party_id"]))


def party(k: tuple[str, str]) -> PartyRef:
    return PartyRef(*k)
