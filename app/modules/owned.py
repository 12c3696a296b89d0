"""Objects our own parties own: importing them (a bad record is reported, the rest stored) and announcing every
change to the peers that should hear of it, through the outbox, in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec

from app.db import objects, parties, peers, reachable
from app.db.parties import Party
from app.modules import cdrs, locations, sessions, tariffs, tokens
from app.modules.common import Doc, Module, emsp_of, id_path, load_doc, save_merged
from app.ocpi.transport import OcpiError, decode_object, encode
from app.outbox import Push, enqueue_many
from app.schemas.types import format_datetime, to_utc

MODULES: dict[str, Module] = {m.identifier: m for m in (locations.MODULE, tariffs.MODULE, sessions.MODULE,
                                                          cdrs.MODULE, tokens.MODULE)}
BATCH = 500
ANALYZE_AFTER = 1000


@dataclass(slots=True)
class RecordError:
    index: int
    object_id: str | None
    message: str


@dataclass(slots=True)
class ImportResult:
    stored: int = 0
    unchanged: int = 0
    pushes: int = 0
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordError] = field(default_factory=list)
    """Records stored although they carry values only a later OCPI version defines."""


def split_records(data: bytes) -> list[bytes]:
    """A JSON array of objects, or JSON Lines (one object per line); each record kept as its own bytes."""
    text = data.lstrip()
    if text.startswith(b"["):
        try:
            items = msgspec.json.decode(text, type=list[msgspec.Raw])
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a JSON array of objects: {exc}") from None
        return [bytes(i) for i in items]
    return [line for line in data.splitlines() if line.strip()]


def _path(module: Module, key: tuple[str, ...]) -> str:
    """The object's URL below the peer's module endpoint, every id percent-encoded (a `#` or `?` in an id
    would otherwise cut the URL)."""
    if module is tokens.MODULE:
        return id_path(key[:3]) + "?type=" + quote(key[3], safe="")
    return id_path(key)


async def _targets(conn: asyncpg.Connection, module: Module, obj: Any) -> list[tuple[int, tuple[str, str]]]:
    """Which peers hear of a change, each with the party the push is addressed to. Sessions and CDRs go only to
    the eMSP of the token: its own platform, else the hub that lists it (to = the eMSP, the hub forwards them).
    Locations, tariffs and tokens go to every platform of the viewer role, and once to each hub, addressed to
    the hub's party: a broadcast the hub passes on to the parties behind it (§1.9)."""
    emsp = emsp_of(obj)
    if emsp is not None:
        return [(r.peer_id, r.receiver) for r in await reachable.peers_for_party(conn, emsp[0], emsp[1], "EMSP")]
    out = []
    for peer_id in await peers.registered_with_role(conn, module.viewer_role):
        peer = await peers.by_id(conn, peer_id)
        assert peer is not None
        if peer.endpoint(module.identifier, "RECEIVER"):
            party = peer.parties_with_role(module.viewer_role)[0]
            out.append((peer_id, (party.country_code, party.party_id)))
    told = {peer_id for peer_id, _ in out}
    for peer_id, hub in await reachable.hub_peers(conn):
        peer = await peers.by_id(conn, peer_id)
        if peer_id not in told and peer is not None and peer.endpoint(module.identifier, "RECEIVER"):
            out.append((peer_id, hub))
    return out


async def announce(conn: asyncpg.Connection, module: Module, obj: Any, method: str, path: str, body: bytes | None) -> int:
    """Queue the change for every peer that should hear of it; returns how many pushes were queued."""
    targets = await _targets(conn, module, obj)
    sender = (obj.country_code.upper(), obj.party_id.upper())
    # One statement set for every peer (not one per peer): a CPO with many eMSPs commits changes as fast as one.
    return await enqueue_many(conn, [Push(peer_id, module.identifier, method, path, body, sender, receiver)
                                     for peer_id, receiver in targets])


async def announce_many(conn: asyncpg.Connection, module: Module,
                        changes: list[tuple[Any, str, str, bytes | None]], only_peer: int | None = None) -> int:
    """`announce` for many changes of one module (object, method, path, body): the peers to tell are looked up
    once per eMSP, and every push is queued in one statement. With `only_peer`, only that peer is told (the
    initial sync of a new peer). Returns how many pushes were queued."""
    calls = []
    targets: dict[tuple[str, str] | None, list[tuple[int, tuple[str, str]]]] = {}
    for obj, method, path, body in changes:
        emsp = emsp_of(obj)
        emsp = None if emsp is None else (emsp[0].upper(), emsp[1].upper())
        if emsp not in targets:
            targets[emsp] = [t for t in await _targets(conn, module, obj) if only_peer in (None, t[0])]
        sender = (obj.country_code.upper(), obj.party_id.upper())
        calls += [(peer_id, module.identifier, method, path, body, sender, receiver)
                  for peer_id, receiver in targets[emsp]]
    await enqueue_many(conn, calls)
    return len(calls)


def _own_party(module: Module, obj: Any, own: list[Party]) -> str | None:
    cc, pid = obj.country_code.upper(), obj.party_id.upper()
    if any(p.country_code == cc and p.party_id == pid and p.role == module.owner_role for p in own):
        return None
    return f"{cc}*{pid} is not a {module.owner_role} party of this deployment (add it with `ocpi-engine party add`)"


async def import_objects(pool: asyncpg.Pool, module: Module, records: Iterable[bytes], push: bool = True,
                         progress: Any = None) -> ImportResult:
    """Validate and store objects of our own parties. Replaced objects are pushed again (PUT); CDRs are immutable,
    so an existing CDR id is left as it is (counted as unchanged) and new CDRs are POSTed to their eMSP."""
    result = ImportResult()
    own = await parties.list_all(pool)
    batch: list[tuple[int, bytes, Any]] = []

    async def flush() -> None:
        async with pool.acquire() as conn, conn.transaction():
            if module is cdrs.MODULE:
                for _, raw, obj in batch:
                    key = module.key_of(obj)
                    if await objects.insert_new(conn, module.table, key, raw.decode(), to_utc(obj.last_updated), None,
                                                emsp_of(obj)):
                        result.stored += 1
                        if push:
                            result.pushes += await announce(conn, module, obj, "POST", "", raw)
                    else:
                        result.unchanged += 1
            else:
                await objects.put_many(conn, module.table, [
                    (module.key_of(obj), raw.decode(), to_utc(obj.last_updated), None, emsp_of(obj)) for _, raw, obj in batch])
                result.stored += len(batch)
                if push:
                    for _, raw, obj in batch:
                        key = module.key_of(obj)
                        result.pushes += await announce(conn, module, obj, "PUT", _path(module, key), raw)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for index, raw in enumerate(records):
        try:
            decoded = decode_object(raw, module.schema, what="record")
        except OcpiError as exc:
            result.errors.append(RecordError(index, _guess_id(raw), exc.message))
            continue
        obj = decoded.obj
        problem = _own_party(module, obj, own)
        if problem:
            result.errors.append(RecordError(index, module.key_of(obj)[2], problem))
            continue
        if decoded.warnings:
            result.warnings.append(RecordError(index, module.key_of(obj)[2], "; ".join(decoded.warnings)))
        batch.append((index, decoded.text.encode(), obj))
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    if result.stored >= ANALYZE_AFTER:
        await objects.analyze(pool, module.table)
    return result


def _guess_id(raw: bytes) -> str | None:
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    value = doc.get("id", doc.get("uid")) if isinstance(doc, dict) else None
    return str(value) if value is not None else None


class NotFound(LookupError):
    pass


async def set_evse_status(pool: asyncpg.Pool, location_id: str, evse_uid: str, status: str,
                          at: dt.datetime | None = None) -> int:
    """Change one of our EVSEs' status and push a PATCH of it (§3.1): EVSE and Location take the new
    `last_updated`. Returns how many pushes were queued.

    The Location is one document: its row stays locked from the read to the commit, so concurrent changes
    to EVSEs of one Location queue up instead of overwriting each other, and the outbox gets their PATCHes
    in the order they were stored (what peers are told matches what is stored)."""
    async with pool.acquire() as conn, conn.transaction():
        stored = await objects.find_own(conn, locations.MODULE.table, location_id, for_update=True)
        # Stamped once the lock is held: a Location's last_updated never goes back.
        stamp = format_datetime(at or dt.datetime.now(dt.UTC))
        patch = {"status": status, "last_updated": stamp}
        if stored is None:
            raise NotFound(f"no location {location_id!r} of ours")
        doc = load_doc(stored.data)
        evses: list[Doc] = doc.get("evses", [])
        evse = next((e for e in evses if str(e.get("uid", "")).upper() == evse_uid.upper()), None)
        if evse is None:
            raise NotFound(f"location {location_id!r} has no EVSE {evse_uid!r}")
        evse.update(patch)
        doc["last_updated"] = stamp
        key = (str(doc["country_code"]), str(doc["party_id"]), str(doc["id"]))
        decoded = await save_merged(conn, locations.MODULE, key, doc, None)
        return await announce(conn, locations.MODULE, decoded.obj, "PATCH",
                              _path(locations.MODULE, key) + id_path([evse["uid"]]), encode(patch))
