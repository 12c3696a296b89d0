"""The hub's OCPI interface: `/ocpi/2.2.1/hub/{sender|receiver}/{module}/...` for every functional module (any
method; routed by `routing`, delivered by `forward` or `broadcast`), and `/ocpi/2.2.1/hub/responses/{token}`, where
asynchronous results come back. Served when this deployment hosts a HUB party."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, Router, post, route
from litestar.di import Provide
from litestar.enums import HttpMethod

from app.db import peers
from app.db.parties import Party
from app.db.peers import Peer
from app.hub import broadcast, forward, getall, grants
from app.hub.routing import FUNCTIONAL, Broadcast, GetAll, Message, decide, key, label, sender_role
from app.logs import correlation_id
from app.modules.access import routing_pair
from app.modules.common import own_parties
from app.ocpi import pagination
from app.ocpi.auth import provide_peer
from app.ocpi.routing import PartyRef
from app.ocpi.routing import headers as routing_headers
from app.ocpi.transport import INVALID_PARAMETERS, RECEIVER_NOT_CONNECTED, OcpiError, not_found, parse_json, read_json_body, respond
from app.outbox.queue import Push, enqueue_many

log = logging.getLogger(__name__)
PREFIX = forward.HUB_PATH


async def _hub_parties(request: Request[Any, Any, Any]) -> list[Party]:
    ours = [p for p in await own_parties(request) if p.role == "HUB"]
    if not ours:
        raise not_found("this deployment is not a hub: it hosts no HUB party")
    return ours


def _sender(request: Request[Any, Any, Any], caller: Peer) -> PartyRef:
    """OCPI-from: a party the caller holds; may be left out by a platform holding a single party."""
    frm = routing_pair(request, "from")
    if frm is None:
        codes = sorted({(p.country_code, p.party_id) for p in caller.parties})
        if len(codes) != 1:
            raise OcpiError(INVALID_PARAMETERS, "OCPI-from-country-code and OCPI-from-party-id are required: "
                                                "say which of your platform's parties sends this")
        return PartyRef(*codes[0])
    if not caller.has_party(frm.country_code, frm.party_id):
        raise OcpiError(INVALID_PARAMETERS, f"OCPI-from {label(frm)} is not a party of your platform (yours: "
                                            f"{peers.labels(caller.parties)})")
    return frm


def _below(request: Request[Any, Any, Any], prefix: str) -> tuple[str, str]:
    """The path below `prefix` exactly as sent (percent-encoding kept) and the raw query string."""
    raw = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    path = raw[raw.find(prefix) + len(prefix):].rstrip("/")
    return path, request.scope.get("query_string", b"").decode("latin-1")


async def _route(request: Request[Any, Any, Any], caller: Peer, interface: str, module: str) -> Response[Any]:
    state = request.app.state
    if module not in FUNCTIONAL:
        raise not_found(f"no module {module!r} is routed through the hub (routed: {', '.join(FUNCTIONAL)})")
    hub = await _hub_parties(request)
    sender = _sender(request, caller)
    # Answers the hub writes itself go to the sender, from the hub (§1.9).
    ours = routing_headers(sender, PartyRef(*hub[0].key))
    path, query = _below(request, f"{PREFIX}/{interface}/{module}")
    msg = Message(caller, module, interface.upper(), request.method, path, query, sender,
                  sender_role(caller, sender, module), routing_pair(request, "to"))
    body = await read_json_body(request) or None
    try:
        target = await decide(state.pool, msg, hub)
        if isinstance(target, GetAll):
            page = pagination.parse(request)
            data, returned, total = await getall.collect(state.client, state.vault, state.settings.request_timeout, msg,
                                                         target, page)
            return respond(data, headers={**ours, **pagination.headers(request, page, total, returned)})
        if isinstance(target, Broadcast):
            hub_party = key(msg.to) if msg.to is not None else hub[0].key
            async with state.pool.acquire() as conn, conn.transaction():
                count = await broadcast.push(conn, msg, target, body, hub_party)
            return respond(message=f"broadcast to {count} parties", headers=routing_headers(sender, PartyRef(*hub_party)))
        body, query = await forward.rewrite_response_urls(state.pool, state.settings.peer_addresses,
                                                          state.settings.public_url, msg, target, body, query)
        relayed = await forward.relay(state.client, state.vault, state.settings.request_timeout, msg, target, body, query)
    except OcpiError as exc:
        exc.headers = {**ours, **(exc.headers or {})}
        raise
    headers = forward.answer_headers(relayed, msg, target, state.settings.public_url, request.url.path)
    answer, content = await forward.response(relayed, headers, stream=msg.method == "GET")
    if content is not None and forward.succeeded(relayed.http_status, content):
        async with state.pool.acquire() as conn, conn.transaction():
            await grants.copy_message(conn, module, msg.interface, msg.method, target.path + (f"?{query}" if query else ""),
                                      body, key(sender), target.receiver.key, correlation_id.get())
    return answer


_METHODS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]


@route(["/sender/{module:str}", "/sender/{module:str}/{rest:path}"], http_method=_METHODS, status_code=200)
async def hub_sender(request: Request[Any, Any, Any], caller: Peer, module: str) -> Response[Any]:
    """A message for a party's Sender interface of `module` (e.g. a GET of a CPO's locations)."""
    return await _route(request, caller, "sender", module)


@route(["/receiver/{module:str}", "/receiver/{module:str}/{rest:path}"], http_method=_METHODS, status_code=200)
async def hub_receiver(request: Request[Any, Any, Any], caller: Peer, module: str) -> Response[Any]:
    """A message for a party's Receiver interface of `module` (e.g. a push of a location to an eMSP)."""
    return await _route(request, caller, "receiver", module)


@post("/responses/{token:str}", status_code=200)
async def hub_response(request: Request[Any, Any, Any], caller: Peer, token: str) -> Response[Any]:
    """An asynchronous result (CommandResult, ChargingProfileResult...) for a response_url the hub rewrote: queued
    for the original URL (the requester's token, from the receiver's party to the requester's) in the outbox, so the
    1000 answer means it is durable and delivered however long the requester is away."""
    state = request.app.state
    target = await forward.response_target(state.pool, token, state.settings.hub_response_ttl)
    if target is None or target.receiver_peer_id != caller.id:
        raise not_found("unknown response URL")
    to, frm = forward.party(target.requester), forward.party(target.receiver)
    body = await read_json_body(request)
    parse_json(body, "result")  # a result the requester could not read is refused here, not queued
    async with state.pool.acquire() as conn, conn.transaction():
        requester = await peers.by_id(conn, target.requester_peer_id)
        if requester is None or not requester.registered:
            raise OcpiError(RECEIVER_NOT_CONNECTED, f"receiver {label(to)} is not connected",
                            headers=routing_headers(frm, to))
        correlation = correlation_id.get()  # the result's own, kept on the last hop as on every other
        await enqueue_many(conn, [Push(requester.id, target.module, "POST", "", body, target.receiver,
                                       target.requester, {"X-Correlation-ID": correlation} if correlation else None,
                                       url=target.url, interface="SENDER")])
    return respond(message=f"queued for {label(to)}", headers=routing_headers(frm, to))


def router() -> Router:
    return Router(PREFIX, route_handlers=[hub_sender, hub_receiver, hub_response],
                  dependencies={"caller": Provide(provide_peer)}, tags=["hub"])
