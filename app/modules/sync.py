"""Initial sync: a newly registered peer is sent a PUT of every object of ours it may see (issue 9: "new peers
start empty"), through the outbox, in the transaction that completes its registration (or an operator's
`outbox resync`). The peers and paths are those every change is announced with (`owned.announce_many`), so the
sync tells a peer exactly what a later change would."""

from __future__ import annotations

import logging

import asyncpg
import msgspec

from app.config import Settings
from app.db import peers
from app.modules import locations, owned, sessions, tariffs, tokens
from app.modules.common import Module

log = logging.getLogger(__name__)

MODULES: dict[str, Module] = {m.identifier: m for m in (locations.MODULE, tariffs.MODULE, tokens.MODULE,
                                                          sessions.MODULE)}
"""What a sync sends, in this order. CDRs are not re-sent: they are POSTed once when issued, and the peer may
pull them (`GET cdrs`)."""
LIVE_SESSIONS = ("ACTIVE", "PENDING")
"""Sessions that are still going: finished ones are the CDRs' business."""
BATCH = 500


class SyncError(ValueError):
    """A sync that cannot be done (no such registered peer, a module that is not synced)."""


class _Party(msgspec.Struct):
    country_code: str
    party_id: str


class _Head(msgspec.Struct):
    """What announcing an object reads of it: its owner and key fields (ids in their own case, as the object
    has them), and for sessions the eMSP of the token."""

    country_code: str
    party_id: str
    id: str | None = None
    uid: str | None = None
    type: str | None = None
    cdr_token: _Party | None = None


_read_head = msgspec.json.Decoder(_Head).decode


def check_modules(modules: list[str] | None) -> list[Module]:
    """The modules to sync (default: all), or SyncError naming the unknown one."""
    if not modules:
        return list(MODULES.values())
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        raise SyncError(f"cannot resync {', '.join(map(repr, unknown))}: the modules synced are "
                        f"{', '.join(MODULES)}")
    return [MODULES[m] for m in dict.fromkeys(modules)]


async def sync_peer(conn: asyncpg.Connection, peer_id: int, modules: list[str] | None = None) -> int:
    """Queue a PUT of every object of ours the registered peer `peer_id` may see, in `modules` (default: all
    synced ones), in batches, in the caller's transaction. Returns how many pushes were queued."""
    chosen = check_modules(modules)
    peer = await peers.by_id(conn, peer_id)
    if peer is None or not peer.registered:
        raise SyncError(f"peer {peer_id} is not registered" if peer else f"no peer {peer_id}")
    queued = 0
    for module in chosen:
        queued += await _sync_module(conn, peer, module)
    log.info("initial sync queued", extra={"peer": peer_id, "pushes": queued,
                                           "modules": [m.identifier for m in chosen]})
    return queued


async def _sync_module(conn: asyncpg.Connection, peer: peers.Peer, module: Module) -> int:
    if not peer.parties_with_role(module.viewer_role):
        return 0  # it holds no party that sees these objects: nothing to look through
    where, args = "peer_id IS NULL", []
    if module.table.by_emsp:  # sessions: the live ones of its own eMSP parties
        emsps = peer.parties_with_role("EMSP")
        where += (" AND (emsp_country_code, emsp_party_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))"
                  " AND data->>'status' = ANY($4::text[])")
        args = [[p.country_code for p in emsps], [p.party_id for p in emsps], list(LIVE_SESSIONS)]
    queued, after = 0, 0
    while True:  # keyset pages by seq: each batch one read and one enqueue
        rows = await conn.fetch(f"SELECT seq, data::text AS data FROM {module.table.name} WHERE seq > $1 AND {where} "
                                f"ORDER BY seq LIMIT {BATCH}", after, *args)
        if not rows:
            return queued
        changes = []
        for r in rows:
            head = _read_head(r["data"])
            changes.append((head, "PUT", owned._path(module, module.key_of(head)), r["data"].encode()))
        queued += await owned.announce_many(conn, module, changes, only_peer=peer.id)
        after = rows[-1]["seq"]


ANSWERED_GRACE = 3.0
"""Seconds before the first push to a peer whose registration we answered: it stores our token only when our
answer reaches it, and refuses calls with that token until then (§1.1)."""


async def on_registration(conn: asyncpg.Connection, settings: Settings, peer_id: int, *, answered: bool) -> int:
    """A registration of `peer_id` completes in this transaction (we answered its POST credentials, or it
    answered ours): queue its initial sync (`initial_sync=push`), or leave it to pull (`pull`). Returns how many
    pushes were queued."""
    if settings.initial_sync != "push":
        log.info("peer registered; initial sync is pull: the peer is expected to pull our Sender interfaces",
                 extra={"peer": peer_id})
        return 0
    queued = await sync_peer(conn, peer_id)
    if answered and queued:
        await conn.execute("UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2) "
                           "WHERE peer_id = $1 AND state = 'PENDING'", peer_id, ANSWERED_GRACE)
    return queued
