"""CDRs (digest §3.3): CPO Sender list (only the caller's CDRs); eMSP Receiver POST (answers with the stored
CDR's URL in `Location`) and GET of that URL. CDRs are immutable: a second POST of the same id is accepted
only when it is the same document (a retried push)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from app.db import objects
from app.db.objects import ObjectTable
from app.db.peers import Peer
from app.modules.common import (
    Module,
    accepted,
    check_emsp,
    check_owner,
    emsp_of,
    id_path,
    load_doc,
    receiver_get,
    reply_headers,
    sender_list,
)
from app.ocpi.transport import INVALID_PARAMETERS, OcpiError, decode_object, read_json_body, respond
from app.schemas.types import to_utc
from app.schemas.v2_2_1 import CDR

MODULE = Module("cdrs", ObjectTable("cdrs", by_emsp=True), CDR, owner_role="CPO")
PATH = "/{country_code:str}/{party_id:str}/{cdr_id:str}"


@get("/")
async def sender_get(request: Request[Any, Any, Any], peer: Peer) -> Response[bytes]:
    return await sender_list(request, peer, MODULE)


@post("/", status_code=201)
async def receiver_post_cdr(request: Request[Any, Any, Any], peer: Peer) -> Response[bytes]:
    decoded = decode_object(await read_json_body(request), CDR)
    cdr = decoded.obj
    check_owner(peer, MODULE, cdr.country_code, cdr.party_id)
    await check_emsp(request, cdr)
    key = (cdr.country_code, cdr.party_id, cdr.id)
    # One statement, no explicit transaction: a CDR row is written once and never changed afterwards.
    pool = request.app.state.pool
    created = await objects.insert_new(pool, MODULE.table, key, decoded.text, to_utc(cdr.last_updated), peer.id,
                                       emsp_of(cdr))
    if not created:
        stored = await objects.get(pool, MODULE.table, key)
        if stored is None or stored.peer_id is None or load_doc(stored.data) != load_doc(decoded.text):
            raise OcpiError(INVALID_PARAMETERS, f"CDR {'/'.join(key)} exists with different content; "
                            "CDRs are immutable (send a credit CDR with a new id)")
    base = f"{request.app.state.settings.public_url}{request.url.path.rstrip('/')}"
    headers = {"Location": base + id_path(key)}
    headers.update(await reply_headers(request, peer, MODULE, we_own=False))
    return respond(http_status=201 if created else 200, message=accepted(request, decoded.warnings), headers=headers)


@get(PATH)
async def receiver_get_cdr(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                           cdr_id: str) -> Response[bytes]:
    return await receiver_get(request, peer, MODULE, (country_code, party_id, cdr_id))


SENDER = [sender_get]
RECEIVER = [receiver_post_cdr, receiver_get_cdr]
