"""Tokens (digest §3.5): eMSP Sender (list, real-time authorize) and CPO Receiver GET/PUT/PATCH of
client-owned tokens, which are unique per (uid, type) with type RFID when the query leaves it out."""

from __future__ import annotations

import uuid
from typing import Any, get_args

import msgspec
from litestar import Request, Response, get, patch, post, put

from app.db import objects
from app.db.objects import ObjectTable
from app.db.peers import Peer
from app.modules.common import (
    Doc,
    Module,
    load_doc,
    receiver_get,
    receiver_patch,
    receiver_put,
    reply_headers,
    sender_list,
)
from app.ocpi import routing
from app.ocpi.transport import (
    INVALID_PARAMETERS,
    UNKNOWN_TOKEN,
    OcpiError,
    decode_json,
    encode,
    read_json_body,
    respond,
)
from app.schemas.v2_2_1 import LocationReferences, Token, TokenType

MODULE = Module("tokens", ObjectTable("tokens", keys=("country_code", "party_id", "id", "type")), Token,
                owner_role="EMSP", unknown_status=UNKNOWN_TOKEN, id_fields=("country_code", "party_id", "uid", "type"))
PATH = "/{country_code:str}/{party_id:str}/{token_uid:str}"
TOKEN_TYPES = get_args(TokenType)


def _type(request: Request[Any, Any, Any]) -> str:
    value = request.query_params.get("type") or "RFID"
    if value not in TOKEN_TYPES:
        raise OcpiError(INVALID_PARAMETERS, f"type={value!r} is not a TokenType ({', '.join(TOKEN_TYPES)})")
    return value


# --- Sender (eMSP) ---------------------------------------------------------------------------------

@get("/")
async def sender_get(request: Request[Any, Any, Any], peer: Peer) -> Response[bytes]:
    return await sender_list(request, peer, MODULE)


@post("/{token_uid:str}/authorize", status_code=200)
async def authorize(request: Request[Any, Any, Any], peer: Peer, token_uid: str) -> Response[bytes]:
    """Real-time authorization. Unknown token: HTTP 404 with status 2004 and no data (digest A-21).
    Opening hours and EVSE status are not grounds to refuse (§3.5)."""
    token_type = _type(request)
    raw = await read_json_body(request)
    where = decode_json(raw, LocationReferences, what="LocationReferences body") if raw.strip() else None
    to = routing.request_to(request)
    stored = await objects.find_own(request.app.state.pool, MODULE.table, token_uid,
                                    (to.country_code, to.party_id) if to else None, token_type)
    if stored is None:
        raise MODULE.unknown(f"token {token_uid} ({token_type})")
    token = load_doc(stored.data)
    info: Doc = {"allowed": "ALLOWED" if token.get("valid") else "BLOCKED",
                 "token": msgspec.Raw(stored.data.encode()),
                 "authorization_reference": uuid.uuid4().hex}
    if where is not None:
        info["location"] = where
    return respond(encode(info), headers=await reply_headers(request, peer, MODULE, we_own=True))


# --- Receiver (CPO) --------------------------------------------------------------------------------

def _key(request: Request[Any, Any, Any], country_code: str, party_id: str, token_uid: str) -> tuple[str, ...]:
    return (country_code, party_id, token_uid, _type(request))


@get(PATH)
async def receiver_get_token(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                             token_uid: str) -> Response[bytes]:
    return await receiver_get(request, peer, MODULE, _key(request, country_code, party_id, token_uid))


@put(PATH, status_code=200)
async def receiver_put_token(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                             token_uid: str) -> Response[bytes]:
    return await receiver_put(request, peer, MODULE, _key(request, country_code, party_id, token_uid))


@patch(PATH)
async def receiver_patch_token(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                               token_uid: str) -> Response[bytes]:
    return await receiver_patch(request, peer, MODULE, _key(request, country_code, party_id, token_uid))


SENDER = [sender_get, authorize]
RECEIVER = [receiver_get_token, receiver_put_token, receiver_patch_token]
