"""HubClientInfo, party side (digest §3.8): the Receiver a hub pushes each connected party's ClientInfo to, and
reads back. A configuration module: no routing headers. Only a peer holding a HUB party may use it; what it
stores decides which parties that hub peer may act for (`app/modules/access.py`) and reaches
(`app/db/reachable.py`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, put
from litestar.di import Provide

from app.db.peers import Peer, labels
from app.modules.common import check_same
from app.ocpi.auth import provide_peer
from app.ocpi.transport import decode_object, not_found, read_json_body, respond
from app.schemas.types import to_utc
from app.schemas.v2_2_1.hubclientinfo import ClientInfo

MODULE = "hubclientinfo"
PATH = "/{country_code:str}/{party_id:str}"


async def provide_hub(request: Request[Any, Any, Any]) -> Peer:
    """A registered peer holding a HUB party (§1.7: 404 for what the caller cannot own)."""
    peer = await provide_peer(request)
    if not peer.parties_with_role("HUB"):
        raise not_found(f"the hubclientinfo receiver interface is for HUB parties; your platform holds {labels(peer.parties)}")
    return peer


@get(PATH)
async def receiver_get(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str) -> Response[bytes]:
    data = await request.app.state.pool.fetchval(
        """SELECT data::text FROM hub_clients WHERE peer_id = $1 AND country_code = $2 AND party_id = $3
           ORDER BY last_updated DESC, role LIMIT 1""", peer.id, country_code.upper(), party_id.upper())
    if data is None:
        raise not_found(f"unknown client info {country_code.upper()}*{party_id.upper()}")
    return respond(str(data).encode())


@put(PATH, status_code=200)
async def receiver_put(request: Request[Any, Any, Any], peer: Peer, country_code: str, party_id: str) -> Response[bytes]:
    """Store (replace) one party's ClientInfo as this hub tells it; 201 when new."""
    decoded = decode_object(await read_json_body(request), ClientInfo)
    info = decoded.obj
    check_same("country_code", info.country_code, country_code)
    check_same("party_id", info.party_id, party_id)
    created = await request.app.state.pool.fetchval(
        """INSERT INTO hub_clients (peer_id, country_code, party_id, role, status, last_updated, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7::json)
           ON CONFLICT (peer_id, country_code, party_id, role) DO UPDATE
               SET status = EXCLUDED.status, last_updated = EXCLUDED.last_updated, data = EXCLUDED.data
           RETURNING xmax = 0""",
        peer.id, info.country_code.upper(), info.party_id.upper(), info.role, info.status, to_utc(info.last_updated),
        decoded.text)
    return respond(http_status=201 if created else 200)


def receiver_router(base: str) -> Router:
    return Router(f"{base}/receiver/{MODULE}", route_handlers=[receiver_get, receiver_put],
                  dependencies={"peer": Provide(provide_hub)}, tags=["hubclientinfo receiver"])
