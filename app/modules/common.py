"""What every functional module shares: its description (`Module`), who may see what, the Sender's
paginated list, and the Receiver's GET/PUT/PATCH/DELETE of client-owned objects (digest §1.5–§1.7).
Roles differ in routes and permissions, not in copies of this code."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec
from litestar import Request, Response

from app.db import objects, parties
from app.db.objects import Filter, ObjectTable
from app.db.parties import Party
from app.db.peers import Peer
from app.ocpi import json_input, pagination, routing
from app.ocpi.json_input import Decoded
from app.ocpi.transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    OcpiError,
    decode_object,
    not_found,
    parse_json,
    read_json_body,
    respond,
    validate_object,
)
from app.schemas.types import to_utc

log = logging.getLogger("app.modules")

Doc = dict[str, Any]
# Stored documents are re-read exactly: numbers as Decimal, never float.
_doc_decoder = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


def load_doc(text: str | bytes) -> Doc:
    return _doc_decoder.decode(text)


@dataclass(frozen=True, slots=True)
class Module:
    identifier: str
    table: ObjectTable
    schema: type[Any]
    owner_role: str
    """The role that owns these objects: CPO, or EMSP for tokens."""
    unknown_status: int = CLIENT_ERROR
    """OCPI status for an unknown object (2003 for locations, 2004 for tokens)."""
    id_fields: tuple[str, ...] = ("country_code", "party_id", "id")
    """The object's fields that make up its key, in key order (tokens: uid and type)."""
    readers: tuple[str, ...] = ()
    """Roles that may read our objects from the Sender (and push nothing); default: the viewer role alone."""

    @property
    def noun(self) -> str:
        return self.identifier.rstrip("s")

    @property
    def viewer_role(self) -> str:
        return "EMSP" if self.owner_role == "CPO" else "CPO"

    @property
    def reader_roles(self) -> tuple[str, ...]:
        return self.readers or (self.viewer_role,)

    def key_of(self, obj: Any) -> tuple[str, ...]:
        """An object's key, from its own fields (the URL's key is checked against it with `check_ids`)."""
        return tuple(str(getattr(obj, f)) for f in self.id_fields)

    def unknown(self, what: str) -> OcpiError:
        return not_found(f"unknown {what}", self.unknown_status)


_PARTIES_TTL = 2.0


async def own_parties(request: Request[Any, Any, Any]) -> list[Party]:
    """Our hosted parties, re-read at most every two seconds (the CLI may add one while we run)."""
    state = request.app.state
    cached = state.get("own_parties")
    if cached is None or time.monotonic() - cached[0] > _PARTIES_TTL:
        cached = (time.monotonic(), await parties.list_all(state.pool))
        state["own_parties"] = cached
    result: list[Party] = cached[1]
    return result


async def reply_headers(request: Request[Any, Any, Any], peer: Peer, module: Module, *, we_own: bool) -> dict[str, str]:
    own_role = module.owner_role if we_own else module.viewer_role
    peer_role = module.viewer_role if we_own else module.owner_role
    return routing.reply_headers(request, peer, await own_parties(request), peer_role, own_role)


def id_path(ids: Iterable[str]) -> str:
    """`/id/id/...` for a URL we build, every id percent-encoded: a `#`, `?` or `/` in an id would otherwise cut or
    reshape the URL (issue 7 §3)."""
    return "".join("/" + quote(str(i), safe="") for i in ids)


def json_list(items: list[str]) -> bytes:
    return ("[" + ",".join(items) + "]").encode()


# --- Sender interface: we own the objects -----------------------------------------------------------

_COUNT_TTL = 1.0


async def _total(request: Request[Any, Any, Any], module: Module, flt: Filter) -> int:
    """X-Total-Count, re-counted at most once a second per filter and worker: a crawler asks for the same
    total on every page, and counting a large table each time would cost more than serving the page. A
    total that moves during a crawl is expected (§1.5)."""
    where, args = flt.where(module.table)
    key = (module.table.name, where, repr(args))
    cache: dict[tuple[str, str, str], tuple[float, int]] = request.app.state.setdefault("totals", {})
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _COUNT_TTL:
        return hit[1]
    total = await objects.count(request.app.state.pool, module.table, flt)
    if len(cache) > 1000:
        cache.clear()
    cache[key] = (now, total)
    return total


async def sender_list(request: Request[Any, Any, Any], peer: Peer, module: Module) -> Response[bytes]:
    page = pagination.parse(request)
    flt = Filter(own=True, date_from=page.date_from, date_to=page.date_to)
    to = routing.request_to(request)
    if to is not None:
        flt.owners = [(to.country_code, to.party_id)]
    if module.table.by_emsp:
        # Sessions and CDRs go only to the eMSP of their token (§3.3: "only CDRs relevant to the caller").
        frm = routing.request_from(request)
        emsps = peer.parties_with_role("EMSP")
        if frm is not None:
            emsps = [p for p in emsps if (p.country_code, p.party_id) == (frm.country_code, frm.party_id)]
        flt.restrict_emsps = True
        flt.emsps = [(p.country_code, p.party_id) for p in emsps]
    pool = request.app.state.pool
    items = await objects.page(pool, module.table, flt, page.offset, page.limit)
    total = await _total(request, module, flt)
    headers = pagination.headers(request, page, total, len(items))
    headers.update(await reply_headers(request, peer, module, we_own=True))
    return respond(json_list(items), headers=headers)


# --- Receiver interface: a peer's party owns the objects --------------------------------------------

def check_owner(peer: Peer, module: Module, country_code: str, party_id: str) -> None:
    """A peer may only touch objects of the parties it holds now (§1.7: 404 otherwise). Objects belong to
    parties, not to connections: a party that registers again keeps its objects; only ours (peer_id NULL)
    are never a peer's."""
    if not peer.has_party(country_code, party_id, module.owner_role):
        raise not_found(f"{country_code.upper()}*{party_id.upper()} is not a {module.owner_role} party of your platform")


def check_same(name: str, in_body: Any, in_url: str) -> None:
    """URL and object must name the same object (§1.7: 2001 otherwise); ids compare case-insensitively."""
    if in_body is not None and str(in_body).upper() != in_url.upper():
        raise OcpiError(INVALID_PARAMETERS, f"{name} {in_body!r} in the body differs from {in_url!r} in the URL")


def check_ids(body: Any, module: Module, key: tuple[str, ...]) -> None:
    for name, in_url in zip(module.id_fields, key, strict=True):
        check_same(name, body.get(name) if isinstance(body, dict) else getattr(body, name), in_url)


async def receiver_get(request: Request[Any, Any, Any], peer: Peer, module: Module, key: tuple[str, ...]) -> Response[bytes]:
    check_owner(peer, module, key[0], key[1])
    stored = await objects.get(request.app.state.pool, module.table, key)
    if stored is None or stored.peer_id is None:
        raise module.unknown(f"{module.noun} {'/'.join(key)}")
    return respond(stored.data.encode(), headers=await reply_headers(request, peer, module, we_own=False))


def emsp_of(obj: Any) -> tuple[str, str] | None:
    token = getattr(obj, "cdr_token", None)
    return (token.country_code, token.party_id) if token is not None else None


def accepted(request: Request[Any, Any, Any], warnings: tuple[str, ...]) -> str:
    """The status message of a success: values only a later OCPI version defines were accepted (digest §6),
    which the sender is told and the log records."""
    if not warnings:
        return "Success"
    message = "Success with warnings: " + "; ".join(warnings)
    log.warning("accepted with warnings", extra={"path": request.url.path, "warnings": list(warnings)})
    return message


async def check_emsp(request: Request[Any, Any, Any], obj: Any) -> None:
    """Sessions and CDRs are taken only for tokens of an eMSP hosted here (issue 7 §2): we would keep them
    for a party we do not serve."""
    emsp = emsp_of(obj)
    if emsp is None:
        return
    ours = [p for p in await own_parties(request) if p.role == "EMSP"]
    if not any(p.key == (emsp[0].upper(), emsp[1].upper()) for p in ours):
        raise OcpiError(INVALID_PARAMETERS, f"cdr_token belongs to eMSP {emsp[0].upper()}*{emsp[1].upper()}, which is not "
                                            f"hosted here (our eMSPs: {', '.join(p.label() for p in ours) or 'none'})")


async def find_own_one(request: Request[Any, Any, Any], module: Module, object_id: str,
                       owners: list[tuple[str, str]], token_type: str | None = None) -> objects.Stored:
    """One of our objects by id alone (a Sender URL names no party) among `owners`; several parties of ours
    holding that id is refused rather than answered for one of them (issue 7 §2)."""
    found = await objects.find_own_among(request.app.state.pool, module.table, object_id, owners, token_type)
    if not found:
        raise module.unknown(f"{module.noun} {object_id}" + (f" ({token_type})" if token_type else ""))
    if len(found) > 1:
        raise OcpiError(INVALID_PARAMETERS, f"{module.noun} {object_id} exists for several of our parties "
                        f"({', '.join('*'.join(s.owner or ()) for s in found)}); name one with "
                        "OCPI-to-country-code and OCPI-to-party-id")
    return found[0]


async def receiver_put(request: Request[Any, Any, Any], peer: Peer, module: Module, key: tuple[str, ...]) -> Response[bytes]:
    """Create or replace a whole object (idempotent): 201 when created, 200 when replaced."""
    check_owner(peer, module, key[0], key[1])
    decoded = decode_object(await read_json_body(request), module.schema)
    obj = decoded.obj
    check_ids(obj, module, key)
    await check_emsp(request, obj)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        stored = await objects.get(conn, module.table, key, for_update=True)
        if stored is not None and stored.peer_id is None:
            raise not_found(f"{module.noun} {'/'.join(key)} belongs to a party of this deployment")
        created = await objects.put(conn, module.table, key, decoded.text, to_utc(obj.last_updated), peer.id, emsp_of(obj))
    return respond(http_status=201 if created else 200, message=accepted(request, decoded.warnings),
                   headers=await reply_headers(request, peer, module, we_own=False))


Merge = Callable[[Doc, Doc], Doc]


def merge_fields(stored: Doc, patch: Doc) -> Doc:
    """PATCH: the fields sent replace the stored ones; a field sent as null is removed (§1.2)."""
    merged = dict(stored)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def patch_body(raw: bytes, schema: type[Any], partial: Mapping[str, type[Any]] | None = None) -> Doc:
    """A PATCH body: a JSON object whose fields each have the type `schema` gives them (`partial`: see
    `json_input.check_fields`), checked before anything is merged; numbers kept exact, nulls kept (they remove)."""
    patch = parse_json(raw)
    if not isinstance(patch, dict):
        raise OcpiError(INVALID_PARAMETERS, f"a PATCH body must be a JSON object, not {type(patch).__name__}")
    try:
        json_input.check_fields(patch, schema, dict(partial or {}))
    except msgspec.ValidationError as exc:
        raise OcpiError(INVALID_PARAMETERS, f"invalid PATCH body: {exc}") from None
    if "last_updated" not in patch:  # required by Locations, Sessions and Tokens, the modules with PATCH (§1.6)
        raise OcpiError(INVALID_PARAMETERS, "a PATCH must carry last_updated")
    return patch


async def receiver_patch(request: Request[Any, Any, Any], peer: Peer, module: Module, key: tuple[str, ...],
                         merge: Merge = merge_fields, partial: Mapping[str, type[Any]] | None = None) -> Response[bytes]:
    """Apply a partial update to an existing object and validate the result as a whole object."""
    check_owner(peer, module, key[0], key[1])
    patch = patch_body(await read_json_body(request), module.schema, partial)
    check_ids(patch, module, key)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        stored = await objects.get(conn, module.table, key, for_update=True)
        if stored is None or stored.peer_id is None:
            raise module.unknown(f"{module.noun} {'/'.join(key)}")
        decoded = await save_merged(conn, module, key, merge(load_doc(stored.data), patch), peer.id)
        await check_emsp(request, decoded.obj)
    return respond(message=accepted(request, decoded.warnings), headers=await reply_headers(request, peer, module, we_own=False))


async def save_merged(conn: asyncpg.Connection, module: Module, key: tuple[str, ...], doc: Doc,
                      peer_id: int | None) -> Decoded[Any]:
    """Validate a document as the module's object and store it in its normal form; a violation is 2001."""
    decoded = validate_object(doc, module.schema, what="object after the PATCH")
    obj = decoded.obj
    await objects.put(conn, module.table, key, decoded.text, to_utc(obj.last_updated), peer_id, emsp_of(obj))
    return decoded
