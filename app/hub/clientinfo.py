"""HubClientInfo, hub side (digest §3.8): the Sender list of every party in the registry, and the pushes that keep
every connected party's copy current.

The `Announcer` loop compares the registry with the status last announced per party (`hub_client_status`, whose
change time is the ClientInfo's `last_updated`) and PUTs each difference to every CONNECTED peer offering a
hubclientinfo Receiver. One comparison covers every cause of a change (registration, unregistration, a party
admitted or removed, delivery OFFLINE/CONNECTED, the still-alive check): it is woken by the NOTIFYs those send
(`ocpi_peers`, `ocpi_peer_status`) and polls, so a lost notification only delays a push. A peer whose registration
(or credentials update) is newer than the last whole list it was sent gets the whole list, once that registration
is `LIST_DELAY` old: when a party registers with us, it stores its side only after our answer, and a push arriving
before that would be refused."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, Router, get
from litestar.di import Provide

from app.background import RoundLoop
from app.db import peers
from app.db.peers import Peer
from app.hub import registry
from app.hub.registry import Entry
from app.outbox.queue import Push
from app.outbox.queue import enqueue_many as enqueue_pushes
from app.modules.common import id_path, json_list
from app.ocpi import pagination
from app.ocpi.auth import provide_peer
from app.ocpi.transport import not_found, respond
from app.schemas.types import format_datetime

MODULE = "hubclientinfo"
_LOCK = 0x0C91_9008
"""Transaction advisory lock of an announcing round: workers take turns, so each change is pushed once."""
LIST_DELAY = 1.0
FULL_SCAN_SECONDS = 30.0

Key = tuple[str, str, str]


def _key(e: Entry) -> Key:
    return (e.country_code, e.party_id, e.role)


def client_info(e: Entry, last_updated: dt.datetime) -> bytes:
    return msgspec.json.encode({"party_id": e.party_id, "country_code": e.country_code, "role": e.role,
                                "status": e.status, "last_updated": format_datetime(last_updated)})


async def hub_party(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[str, str] | None:
    """Our HUB party: a deployment hosting one is a hub (contract §3)."""
    row = await conn.fetchrow("SELECT country_code, party_id FROM parties WHERE role = 'HUB' ORDER BY id LIMIT 1")
    return None if row is None else (row["country_code"], row["party_id"])


async def _announced(conn: asyncpg.Connection | asyncpg.Pool) -> dict[Key, tuple[str, dt.datetime]]:
    rows = await conn.fetch("SELECT country_code, party_id, role, status, last_updated FROM hub_client_status")
    return {(r["country_code"], r["party_id"], r["role"]): (r["status"], r["last_updated"]) for r in rows}


async def listing(conn: asyncpg.Connection | asyncpg.Pool) -> list[tuple[Entry, dt.datetime]]:
    """Every registry entry with its ClientInfo `last_updated` (when its status last changed; a change not yet
    announced counts from now), plus parties no peer holds any more (SUSPENDED), ordered by party."""
    now = dt.datetime.now(dt.UTC)
    known = await _announced(conn)
    out = []
    for e in await registry.entries(conn):
        status_at = known.get(_key(e))
        out.append((e, status_at[1] if status_at and status_at[0] == e.status else now))
    present = {_key(e) for e, _ in out}
    out += [(Entry(*k, peer_id=0, status=registry.SUSPENDED), at) for k, (status, at) in known.items()
            if k not in present and status == registry.SUSPENDED]
    return sorted(out, key=lambda item: _key(item[0]))


def _pushes(hub: tuple[str, str], to: Peer, items: list[tuple[Entry, dt.datetime]]) -> list[Push]:
    """PUTs of `items` to one peer, leaving out its own parties (it knows its own status)."""
    own = {(p.country_code, p.party_id) for p in to.parties}
    receiver = (to.parties[0].country_code, to.parties[0].party_id) if to.parties else hub
    return [Push(peer_id=to.id, module=MODULE, method="PUT", path=id_path([e.country_code, e.party_id]),
                 body=client_info(e, at), sender=hub, receiver=receiver)
            for e, at in items if (e.country_code, e.party_id) not in own]


async def _receivers(conn: asyncpg.Connection, peer_ids: set[int]) -> list[Peer]:
    out = []
    for peer_id in sorted(peer_ids):
        peer = await peers.by_id(conn, peer_id)
        if peer is not None and peer.registered and peer.endpoint(MODULE, "RECEIVER"):
            out.append(peer)
    return out


async def announce_changes(conn: asyncpg.Connection, hub: tuple[str, str]) -> int:
    """Push every status that differs from the one last announced to every CONNECTED peer; returns how many
    parties changed. Call in a transaction holding `_LOCK`."""
    current = await registry.entries(conn)
    known = await _announced(conn)
    changed = [e for e in current if known.get(_key(e), ("",))[0] != e.status]
    present = {_key(e) for e in current}
    changed += [Entry(*k, peer_id=0, status=registry.SUSPENDED) for k, (status, _) in known.items()
                if k not in present and status != registry.SUSPENDED]
    if not changed:
        return 0
    stamp = await conn.fetchval(
        """INSERT INTO hub_client_status AS s (country_code, party_id, role, status, last_updated)
           SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT (country_code, party_id, role) DO UPDATE SET status = EXCLUDED.status, last_updated = now()
           RETURNING now()""",
        [e.country_code for e in changed], [e.party_id for e in changed], [e.role for e in changed],
        [e.status for e in changed])
    items = [(e, stamp) for e in changed]
    connected = {e.peer_id for e in current if e.status == registry.CONNECTED}
    pushes = [p for peer in await _receivers(conn, connected) for p in _pushes(hub, peer, items)]
    await enqueue_pushes(conn, pushes)
    return len(changed)


async def send_full_lists(conn: asyncpg.Connection, hub: tuple[str, str], delay: float = LIST_DELAY) -> int:
    """The whole list to each peer registered (or updated) since it was last sent one; returns how many got it."""
    due = {r["id"] for r in await conn.fetch(
        """SELECT p.id FROM peers p LEFT JOIN hub_peer_activity a ON a.peer_id = p.id
           WHERE p.status = 'REGISTERED' AND p.updated_at <= now() - make_interval(secs => $1)
             AND (a.listed_at IS NULL OR a.listed_at < p.updated_at)""", delay)}
    if not due:
        return 0
    items = [(e, at) for e, at in await listing(conn)]
    receivers = await _receivers(conn, due)
    await enqueue_pushes(conn, [p for peer in receivers for p in _pushes(hub, peer, items)])
    await conn.execute(
        """INSERT INTO hub_peer_activity (peer_id, listed_at) SELECT unnest($1::int[]), now()
           ON CONFLICT (peer_id) DO UPDATE SET listed_at = now()""", sorted(due))
    return len(receivers)


class Announcer(RoundLoop):
    """Wake on `ocpi_peers` and `ocpi_peer_status` NOTIFYs (`wake`); polls for whole lists that became due."""

    def __init__(self, pool: asyncpg.Pool, poll_seconds: float = LIST_DELAY) -> None:
        self._pool = pool
        self._dirty = True
        self._scanned = 0.0
        super().__init__("hub-clientinfo", self.round, poll_seconds)

    def wake(self) -> None:
        self._dirty = True
        super().wake()

    async def round(self) -> int:
        scan = self._dirty or time.monotonic() - self._scanned > FULL_SCAN_SECONDS
        self._dirty = False
        async with self._pool.acquire() as conn, conn.transaction():
            hub = await hub_party(conn)
            if hub is None:
                return 0
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            done = 0
            if scan:
                self._scanned = time.monotonic()
                done += await announce_changes(conn, hub)
            done += await send_full_lists(conn, hub)
        return done


# --- Sender interface: GET /ocpi/2.2.1/hub/hubclientinfo ----------------------------------------------------------

@get("/")
async def sender_list(request: Request[Any, Any, Any], peer: Peer) -> Response[bytes]:
    """Every party the hub knows of, paged like every Sender list (§1.5), filtered on `last_updated`."""
    pool = request.app.state.pool
    if await hub_party(pool) is None:
        raise not_found("this deployment is not a hub: it hosts no HUB party")
    page = pagination.parse(request)
    items = [(e, at) for e, at in await listing(pool)
             if (page.date_from is None or at >= page.date_from) and (page.date_to is None or at < page.date_to)]
    chosen = items[page.offset:page.offset + page.limit]
    headers = pagination.headers(request, page, len(items), len(chosen))
    return respond(json_list([client_info(e, at).decode() for e, at in chosen]), headers=headers)


def sender_router(base: str) -> Router:
    """Configuration module: any registered peer may read it; no routing headers (§3.8)."""
    return Router(f"{base}/hub/{MODULE}", route_handlers=[sender_list],
                  dependencies={"peer": Provide(provide_peer)}, tags=["hubclientinfo sender"])
