"""Tariffs (digest §3.4): CPO Sender list; eMSP Receiver GET/PUT/DELETE of client-owned tariffs."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, put

from app.db import objects
from app.db.objects import ObjectTable
from app.db.peers import Peer
from app.modules.common import Module, check_owner, receiver_get, receiver_put, reply_headers, sender_list
from app.ocpi.transport import respond
from app.schemas.v2_2_1 import Tariff

MODULE = Module("tariffs", ObjectTable("tariffs"), Tariff, owner_role="CPO", readers=("EMSP", "NSP", "OTHER"))
PATH = "/{country_code:str}/{party_id:str}/{tariff_id:str}"


@get("/")
async def sender_get(request: Request[Any, Any, Any], peer: Peer) -> Response[bytes]:
    return await sender_list(request, peer, MODULE)


@get(PATH)
async def receiver_get_tariff(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                              tariff_id: str) -> Response[bytes]:
    return await receiver_get(request, peer, MODULE, (country_code, party_id, tariff_id))


@put(PATH, status_code=200)
async def receiver_put_tariff(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                              tariff_id: str) -> Response[bytes]:
    return await receiver_put(request, peer, MODULE, (country_code, party_id, tariff_id))


@delete(PATH, status_code=200)
async def receiver_delete_tariff(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                                 tariff_id: str) -> Response[bytes]:
    key = (country_code, party_id, tariff_id)
    check_owner(peer, MODULE, country_code, party_id)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        stored = await objects.get(conn, MODULE.table, key, for_update=True)
        if stored is None or stored.peer_id is None:
            raise MODULE.unknown(f"tariff {'/'.join(key)}")
        await objects.delete(conn, MODULE.table, key)
    return respond(headers=await reply_headers(request, peer, MODULE, we_own=False))


SENDER = [sender_get]
RECEIVER = [receiver_get_tariff, receiver_put_tariff, receiver_delete_tariff]
