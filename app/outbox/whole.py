"""The whole current object behind a PATCH a peer could not apply (it answered 2003/404: it lacks the object,
§1.2 "a PATCH for an unknown object is followed by a PUT"): read from our own table by the PATCH's path."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

import asyncpg

from app.db import objects
from app.outbox.coalesce import TOP_LEVEL


async def whole_put(conn: asyncpg.Connection | asyncpg.Pool, module: str, path: str) -> tuple[str, bytes] | None:
    """(path, body) of a PUT of the top-level object the PATCH at `path` changes, when it is one of ours; None
    when we don't hold it (any more) or the module has no objects of ours."""
    from app.modules.owned import MODULES  # imported late: owned queues through this package

    mod = MODULES.get(module)
    base, _, query = path.partition("?")
    raw = [s for s in base.split("/") if s]
    if mod is None or mod.identifier == "cdrs" or len(raw) < TOP_LEVEL:
        return None
    key = tuple(unquote(s) for s in raw[:TOP_LEVEL])
    if len(mod.table.keys) > TOP_LEVEL:  # tokens: uid and type
        key += (parse_qs(query).get("type", ["RFID"])[0],)
    stored = await objects.get(conn, mod.table, key)
    if stored is None or stored.peer_id is not None:
        return None
    return "/" + "/".join(raw[:TOP_LEVEL]) + (f"?{query}" if query else ""), stored.data.encode()
