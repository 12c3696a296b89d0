"""Pulling a peer's objects from its Sender interface, page by page along `Link` (digest §1.5, §1.11: the
receiver resyncs by GET). Each object is validated and stored as the peer's; a bad object is reported and
the rest are kept."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.db import objects
from app.db.peers import Peer
from app.modules.common import Module, emsp_of
from app.ocpi import json_input
from app.ocpi.client import OcpiCallError, OcpiClient
from app.ocpi.json_input import JsonInputError
from app.schemas.types import format_datetime, to_utc
from app.secrets_vault import TokenVault

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(slots=True)
class PullResult:
    pages: int = 0
    stored: int = 0
    removed: int = 0
    rejected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total: int | None = None
    seen: set[tuple[str, ...]] = field(default_factory=set)


# A full list is the new truth (§1.5); only tariffs are ever removed because of it (§3.4: "a full GET list
# replaces the receiver's known tariff set"), the other modules' objects are never deleted (§3.1-§3.5).
REPLACED_BY_FULL_LIST = frozenset({"tariffs"})


class PullError(Exception):
    pass


def next_link(header: str | None) -> str | None:
    match = _NEXT.search(header or "")
    return match.group(1) if match else None


async def pull(pool: Any, vault: TokenVault, client: OcpiClient, peer: Peer, module: Module, *, limit: int | None = None,
               date_from: dt.datetime | None = None, max_pages: int = 100_000) -> PullResult:
    url = peer.endpoint(module.identifier, "SENDER")
    if not peer.registered or peer.token_out_enc is None:
        raise PullError(f"peer {peer.id} is not registered")
    if url is None:
        raise PullError(f"peer {peer.id} offers no {module.identifier} SENDER endpoint")
    token = vault.decrypt(peer.token_out_enc)
    first: dict[str, str] = {}
    if limit:
        first["limit"] = str(limit)
    if date_from:
        first["date_from"] = format_datetime(date_from)
    params: dict[str, str] | None = first
    result = PullResult()
    next_url: str | None = url
    while next_url and result.pages < max_pages:
        try:
            reply = await client.call("GET", next_url, token, base64=peer.auth_base64, params=params or None)
            items = reply.decode(list[msgspec.Raw])
        except (OcpiCallError, msgspec.DecodeError) as exc:
            raise PullError(f"page {result.pages + 1} of {module.identifier}: {exc}") from None
        result.pages += 1
        total = reply.headers.get("x-total-count")
        result.total = int(total) if total and total.isdigit() else result.total
        await _store(pool, peer, module, [bytes(i) for i in items], result)
        next_url, params = next_link(reply.headers.get("link")), None  # the link repeats every filter
    if next_url is None and date_from is None and module.identifier in REPLACED_BY_FULL_LIST:
        result.removed = await objects.delete_unseen(pool, module.table, peer.id, result.seen)
    return result


async def _store(pool: Any, peer: Peer, module: Module, items: list[bytes], result: PullResult) -> None:
    rows = []
    for raw in items:
        try:
            decoded = json_input.decode(raw, module.schema)
        except (JsonInputError, msgspec.ValidationError) as exc:
            result.rejected.append(f"{module.noun}: {exc}")
            continue
        obj = decoded.obj
        key = module.key_of(obj)
        if not peer.has_party(key[0], key[1], module.owner_role):
            # §1.7: ownership is read from each object; objects of parties outside the handshake are ignored.
            result.rejected.append(f"{module.noun} {'/'.join(key)}: {key[0]}*{key[1]} is not one of the peer's parties")
            continue
        result.warnings.extend(f"{module.noun} {'/'.join(key)}: {w}" for w in decoded.warnings)
        rows.append((key, decoded.text, to_utc(obj.last_updated), peer.id, emsp_of(obj)))
        result.seen.add(objects.normalize_key(key))
    async with pool.acquire() as conn, conn.transaction():
        await objects.put_many(conn, module.table, rows)
    result.stored += len(rows)
