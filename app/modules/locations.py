"""Locations (digest §3.1): CPO Sender (list, one Location/EVSE/Connector) and eMSP Receiver (GET/PUT/PATCH
at every level, with the parent `last_updated` rules of §1.6). A Location is stored as one document."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, patch, put

from app.db import objects
from app.db.objects import ObjectTable
from app.db.peers import Peer
from app.modules.common import (
    Doc,
    Module,
    accepted,
    check_owner,
    check_same,
    load_doc,
    merge_fields,
    patch_body,
    receiver_get,
    receiver_patch,
    receiver_put,
    reply_headers,
    save_merged,
    sender_list,
)
from app.ocpi import routing
from app.ocpi.transport import UNKNOWN_LOCATION, decode_object, encode, read_json_body, respond
from app.schemas.v2_2_1 import EVSE, Connector, Location

MODULE = Module("locations", ObjectTable("locations"), Location, owner_role="CPO", unknown_status=UNKNOWN_LOCATION)
PATCHED_BY_ID = {"evses": EVSE, "connectors": Connector}
"""The lists whose items a PATCH merges by id (§1.6): each item is a partial EVSE / Connector."""

SENDER_PATHS = ["/", "/{location_id:str}", "/{location_id:str}/{evse_uid:str}",
                "/{location_id:str}/{evse_uid:str}/{connector_id:str}"]
RECEIVER_PATHS = ["/{country_code:str}/{party_id:str}/{location_id:str}",
                  "/{country_code:str}/{party_id:str}/{location_id:str}/{evse_uid:str}",
                  "/{country_code:str}/{party_id:str}/{location_id:str}/{evse_uid:str}/{connector_id:str}"]


# --- document helpers: EVSEs by uid, connectors by id, CiString comparison -------------------------

def _index(items: list[Doc], field: str, value: str) -> int | None:
    value = value.upper()
    for i, item in enumerate(items):
        if str(item.get(field, "")).upper() == value:
            return i
    return None


def _merge_list(stored: list[Doc], patch: list[Doc], field: str, merge: Any) -> list[Doc]:
    """Merge patched children into stored ones by id; new ones are added, none is removed (§1.6)."""
    out = list(stored)
    for child in patch:
        i = _index(out, field, str(child.get(field, "")))
        if i is None:
            out.append(child)
        else:
            out[i] = merge(out[i], child)
    return out


def _merge_with_children(stored: Doc, patch: Doc, children: str, id_field: str, merge_child: Any) -> Doc:
    merged = merge_fields(stored, {k: v for k, v in patch.items() if k != children})
    if isinstance(patch.get(children), list):
        merged[children] = _merge_list(stored.get(children, []), patch[children], id_field, merge_child)
    return merged


def merge_evse(stored: Doc, patch: Doc) -> Doc:
    return _merge_with_children(stored, patch, "connectors", "id", merge_fields)


def merge_location(stored: Doc, patch: Doc) -> Doc:
    return _merge_with_children(stored, patch, "evses", "uid", merge_evse)


def _extract(doc: Doc, evse_uid: str | None, connector_id: str | None) -> Doc | None:
    if evse_uid is None:
        return doc
    evses = doc.get("evses", [])
    i = _index(evses, "uid", evse_uid)
    if i is None:
        return None
    if connector_id is None:
        return evses[i]  # type: ignore[no-any-return]
    connectors = evses[i].get("connectors", [])
    j = _index(connectors, "id", connector_id)
    return None if j is None else connectors[j]


def _respond_part(data: str, location_id: str, evse_uid: str, connector_id: str | None,
                  headers: dict[str, str]) -> Response[bytes]:
    """Answer with the EVSE or Connector of a stored Location."""
    part = _extract(load_doc(data), evse_uid, connector_id)
    if part is None:
        raise MODULE.unknown(f"location object {_where(location_id, evse_uid, connector_id)}")
    return respond(encode(part), headers=headers)


def _where(location_id: str, evse_uid: str | None, connector_id: str | None) -> str:
    return "/".join(p for p in (location_id, evse_uid, connector_id) if p is not None)


# --- Sender (CPO) ----------------------------------------------------------------------------------

@get(SENDER_PATHS)
async def sender_get(request: Request[Any, Any, Any], peer: Peer, location_id: str | None = None,
                     evse_uid: str | None = None, connector_id: str | None = None) -> Response[bytes]:
    if location_id is None:
        return await sender_list(request, peer, MODULE)
    to = routing.request_to(request)
    stored = await objects.find_own(request.app.state.pool, MODULE.table, location_id,
                                    (to.country_code, to.party_id) if to else None)
    if stored is None:
        raise MODULE.unknown(f"location {location_id}")
    headers = await reply_headers(request, peer, MODULE, we_own=True)
    if evse_uid is None:
        return respond(stored.data.encode(), headers=headers)
    return _respond_part(stored.data, location_id, evse_uid, connector_id, headers)


# --- Receiver (eMSP) -------------------------------------------------------------------------------

@get(RECEIVER_PATHS)
async def receiver_get_location(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                                location_id: str, evse_uid: str | None = None,
                                connector_id: str | None = None) -> Response[bytes]:
    key = (country_code, party_id, location_id)
    if evse_uid is None:
        return await receiver_get(request, peer, MODULE, key)
    check_owner(peer, MODULE, country_code, party_id)
    stored = await objects.get(request.app.state.pool, MODULE.table, key)
    if stored is None or stored.peer_id != peer.id:
        raise MODULE.unknown(f"location {location_id}")
    return _respond_part(stored.data, location_id, evse_uid, connector_id,
                         await reply_headers(request, peer, MODULE, we_own=False))


def _set_child(items: list[Doc], field: str, value: str, child: Doc, merge: Any, what: str) -> bool:
    """Replace (merge None) or merge one child in place; a replaced child that is new is added (True),
    a merged child must exist."""
    i = _index(items, field, value)
    if i is None:
        if merge is not None:
            raise MODULE.unknown(what)
        items.append(child)
        return True
    items[i] = child if merge is None else merge(items[i], child)
    return False


async def _change_child(request: Request[Any, Any, Any], peer: Peer, key: tuple[str, str, str], evse_uid: str,
                        connector_id: str | None, *, replace: bool) -> Response[bytes]:
    """PUT or PATCH of an EVSE or Connector inside a stored Location: the parents take the child's new
    `last_updated` (§1.6); the whole Location is validated before it is stored."""
    check_owner(peer, MODULE, key[0], key[1])
    raw = await read_json_body(request)
    child_type = Connector if connector_id is not None else EVSE
    if replace:
        child = load_doc(decode_object(raw, child_type).text)  # the child alone first, for a precise message
    else:
        child = patch_body(raw, child_type, PATCHED_BY_ID)
    id_field, id_value = ("id", connector_id) if connector_id is not None else ("uid", evse_uid)
    check_same(id_field, child.get(id_field), id_value)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        stored = await objects.get(conn, MODULE.table, key, for_update=True)
        if stored is None or stored.peer_id != peer.id:
            raise MODULE.unknown(f"location {key[2]}")
        doc = load_doc(stored.data)
        evses: list[Doc] = doc.setdefault("evses", [])
        if connector_id is None:
            created = _set_child(evses, "uid", evse_uid, child, merge_evse if not replace else None,
                                 f"EVSE {key[2]}/{evse_uid}")
        else:
            i = _index(evses, "uid", evse_uid)
            if i is None:
                raise MODULE.unknown(f"EVSE {key[2]}/{evse_uid}")
            created = _set_child(evses[i].setdefault("connectors", []), "id", connector_id, child,
                                 merge_fields if not replace else None, f"connector {key[2]}/{evse_uid}/{connector_id}")
            evses[i]["last_updated"] = child["last_updated"]
        doc["last_updated"] = child["last_updated"]
        decoded = await save_merged(conn, MODULE, key, doc, peer.id)
    return respond(http_status=201 if created else 200, message=accepted(request, decoded.warnings),
                   headers=await reply_headers(request, peer, MODULE, we_own=False))


@put(RECEIVER_PATHS, status_code=200)
async def receiver_put_location(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                                location_id: str, evse_uid: str | None = None,
                                connector_id: str | None = None) -> Response[bytes]:
    key = (country_code, party_id, location_id)
    if evse_uid is None:
        return await receiver_put(request, peer, MODULE, key)
    return await _change_child(request, peer, key, evse_uid, connector_id, replace=True)


@patch(RECEIVER_PATHS)
async def receiver_patch_location(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str,
                                  location_id: str, evse_uid: str | None = None,
                                  connector_id: str | None = None) -> Response[bytes]:
    key = (country_code, party_id, location_id)
    if evse_uid is None:
        return await receiver_patch(request, peer, MODULE, key, merge_location, PATCHED_BY_ID)
    return await _change_child(request, peer, key, evse_uid, connector_id, replace=False)


SENDER = [sender_get]
RECEIVER = [receiver_get_location, receiver_put_location, receiver_patch_location]
