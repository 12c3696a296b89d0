"""Sessions (digest §3.2): CPO Sender list (only the caller's sessions); eMSP Receiver GET/PUT/PATCH, where a
PATCH's `charging_periods` are appended and PUT replaces them (§1.6)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, patch, put

from app.db.objects import ObjectTable
from app.db.peers import Peer
from app.modules.common import Doc, Module, merge_fields, receiver_get, receiver_patch, receiver_put, sender_list
from app.schemas.v2_2_1 import Session

MODULE = Module("sessions", ObjectTable("sessions", by_emsp=True), Session, owner_role="CPO")
PATH = "/{country_code:str}/{party_id:str}/{session_id:str}"


def merge_session(stored: Doc, patch: Doc) -> Doc:
    """Fields replace; charging periods in a PATCH are added after the stored ones (absent, null or empty: no
    change, §1.6)."""
    periods = patch.get("charging_periods")
    merged = merge_fields(stored, {k: v for k, v in patch.items() if k != "charging_periods"})
    if periods:
        merged["charging_periods"] = [*stored.get("charging_periods", []), *periods]
    return merged


@get("/")
async def sender_get(request: Request[Any, Any, Any], peer: Peer) -> Response[bytes]:
    # date_from is marked required in 2.2.1; treated as optional (digest A-22).
    return await sender_list(request, peer, MODULE)


@get(PATH)
async def receiver_get_session(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                               session_id: str) -> Response[bytes]:
    return await receiver_get(request, peer, MODULE, (country_code, party_id, session_id))


@put(PATH, status_code=200)
async def receiver_put_session(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                               session_id: str) -> Response[bytes]:
    return await receiver_put(request, peer, MODULE, (country_code, party_id, session_id))


@patch(PATH)
async def receiver_patch_session(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                                 session_id: str) -> Response[bytes]:
    return await receiver_patch(request, peer, MODULE, (country_code, party_id, session_id), merge_session)


SENDER = [sender_get]
RECEIVER = [receiver_get_session, receiver_put_session, receiver_patch_session]
