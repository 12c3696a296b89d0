"""Writing to the outbox. A NOTIFY wakes the delivery engines at commit; the row is the truth, so a lost
notification only delays delivery until the next poll. Updates of an object still waiting for its peer are
coalesced into the waiting row (`coalesce.py`), so a peer's queue holds at most about one row per object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from app.outbox import metrics
from app.outbox.coalesce import TOP_LEVEL, Entry, ObjectQueue, segments

CHANNEL = "ocpi_outbox"


@dataclass(frozen=True, slots=True)
class Push:
    peer_id: int
    module: str
    method: str
    path: str
    body: bytes | None
    sender: tuple[str, str]
    receiver: tuple[str, str]
    headers: dict[str, str] | None = None
    """Extra request headers (copies: X-OCPI-Copy-*; an X-Correlation-ID here is kept)."""
    url: str | None = None
    """Absolute URL instead of the peer's module endpoint + path (hub: a rewritten response_url); `module` is then
    informational."""
    interface: str = "RECEIVER"
    """Which of the peer's endpoints of `module` the path is appended to."""


Call = tuple[int, str, str, str, bytes | None, tuple[str, str], tuple[str, str]]
"""The older form of one queued call: peer_id, module, method, path, body, sender, receiver."""


def object_key(module: str, method: str, path: str) -> str | None:
    """The ordering key: the module and the top-level object's path (its first three ids, upper-cased; a query
    such as tokens' `?type=` kept). None for POSTs and paths without an object: no ordering constraint."""
    if method == "POST":
        return None
    ids = segments(path)
    if not ids:
        return None
    query = path.partition("?")[2]
    return f"{module}/" + "/".join(ids[:TOP_LEVEL]) + (f"?{query}" if query else "")


async def enqueue(conn: asyncpg.Connection, *, peer_id: int, module: str, method: str, path: str, body: bytes | None,
                  sender: tuple[str, str], receiver: tuple[str, str], headers: dict[str, str] | None = None) -> int:
    """Queue one call to the peer's Receiver interface of `module` (`path` appended to its URL); returns the id of
    the row that carries it (an older pending row when it was folded into one)."""
    ids = await _enqueue(conn, [Push(peer_id, module, method, path, body, sender, receiver, headers)])
    return ids[0]


async def enqueue_many(conn: asyncpg.Connection, pushes: Sequence[Push] | Sequence[Call]) -> int:
    """`enqueue` for many pushes, in list order, in a few statements (one SELECT … FOR UPDATE of the pending rows
    they may fold into, one UPDATE of folded rows, one UPDATE of superseded rows, one INSERT, one NOTIFY).
    Returns how many pushes were queued (each as a new row or folded into a pending one)."""
    await _enqueue(conn, [p if isinstance(p, Push) else Push(*p) for p in pushes])
    return len(pushes)


def _route(p: Push) -> tuple[object, ...]:
    return (p.sender, p.receiver, json.dumps(p.headers, sort_keys=True) if p.headers else None, p.url, p.interface)


async def _enqueue(conn: asyncpg.Connection, pushes: list[Push]) -> list[int]:
    if not pushes:
        return []
    keys = [object_key(p.module, p.method, p.path) if p.url is None else None for p in pushes]
    groups = sorted({(p.peer_id, k) for p, k in zip(pushes, keys, strict=True) if k is not None})
    queues: dict[tuple[int, str], ObjectQueue] = {g: ObjectQueue([]) for g in groups}
    if groups:
        rows = await conn.fetch(
            """SELECT id, peer_id, object_key, method, path, body, coalesced, from_country_code, from_party_id,
                      to_country_code, to_party_id, headers::text AS headers, url, interface
               FROM outbox WHERE state = 'PENDING'
                 AND (peer_id, object_key) IN (SELECT * FROM unnest($1::int[], $2::text[]))
               ORDER BY id FOR UPDATE""",
            [g[0] for g in groups], [g[1] for g in groups])
        for r in rows:
            headers = json.loads(r["headers"]) if r["headers"] else None
            route = ((r["from_country_code"], r["from_party_id"]), (r["to_country_code"], r["to_party_id"]),
                     json.dumps(headers, sort_keys=True) if headers else None, r["url"], r["interface"])
            queues[(r["peer_id"], r["object_key"])].entries.append(
                Entry(r["id"], r["method"], r["path"], None if r["body"] is None else bytes(r["body"]), route,
                      r["coalesced"]))
    # Which entry carries each push: its own new entry, or the one it folded into.
    carriers: list[Entry] = []
    for i, (p, k) in enumerate(zip(pushes, keys, strict=True)):
        entry = Entry(-1 - i, p.method, p.path, p.body, _route(p))
        carrier = queues[(p.peer_id, k)].add(entry) if k is not None else entry
        carriers.append(carrier)
        if carrier is not entry:
            metrics.coalesced(p.peer_id, p.module, 1)
    superseded = [e for q in queues.values() for e in q.superseded]
    for (peer_id, key), q in queues.items():
        if q.superseded:
            metrics.coalesced(peer_id, key.split("/", 1)[0], len(q.superseded))
    changed = [e for q in queues.values() for e in q.entries if e.ref > 0 and e.changed]
    if changed:
        await conn.execute(
            """UPDATE outbox o SET body = u.body, coalesced = u.n FROM unnest($1::bigint[], $2::bytea[], $3::int[])
               AS u(id, body, n) WHERE o.id = u.id""",
            [e.ref for e in changed], [e.body for e in changed], [e.coalesced for e in changed])
    superseded_db = [e.ref for e in superseded if e.ref > 0]
    if superseded_db:
        await conn.execute("UPDATE outbox SET state = 'COALESCED' WHERE id = ANY($1::bigint[])", superseded_db)
    # New rows: those still carrying themselves and not superseded later in this batch.
    gone = {id(e) for e in superseded}
    new = [(i, e) for i, e in enumerate(carriers) if e.ref == -1 - i and id(e) not in gone]
    ids: dict[int, int] = {}
    if new:
        sel = [pushes[i] for i, _ in new]
        # The NOTIFY rides on the INSERT (one round trip less per enqueue: a hub's broadcast is a few of them).
        inserted = await conn.fetch(
            """WITH ins AS (
                   INSERT INTO outbox (peer_id, module, method, path, body, from_country_code, from_party_id,
                                       to_country_code, to_party_id, object_key, coalesced, headers, url, interface)
                   SELECT p, m, me, pa, b, fc, fp, tc, tp, k, c, h::jsonb, u, i
                   FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[],
                               $8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::text[], $14::text[])
                        WITH ORDINALITY AS x(p, m, me, pa, b, fc, fp, tc, tp, k, c, h, u, i, n)
                   ORDER BY n RETURNING id),
               woken AS (SELECT pg_notify($15, ''))
               SELECT ins.id FROM ins CROSS JOIN woken ORDER BY ins.id""",
            [p.peer_id for p in sel], [p.module for p in sel], [p.method for p in sel], [p.path for p in sel],
            [e.body for _, e in new], [p.sender[0] for p in sel], [p.sender[1] for p in sel],
            [p.receiver[0] for p in sel], [p.receiver[1] for p in sel], [keys[i] for i, _ in new],
            [e.coalesced for _, e in new], [json.dumps(p.headers) if p.headers else None for p in sel],
            [p.url for p in sel], [p.interface for p in sel], CHANNEL)
        # INSERT … SELECT … ORDER BY assigns ids in that order, so ordering by id gives the pushes' order.
        for (i, _), r in zip(new, inserted, strict=True):
            ids[i] = int(r["id"])
    else:
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return [e.ref if e.ref > 0 else ids.get(-1 - e.ref, 0) for e in carriers]
