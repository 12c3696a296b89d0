"""The Litestar application: OCPI routers of every supported version, one asyncpg pool, the token vault, the
outgoing OCPI client and the delivery engine, created at startup and closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp

from app import __version__, logs
from app.charging.ingest import Ingest
from app.charging.pushes import PatchFlusher
from app.checks.checker import CHANNEL as CHECKS_CHANNEL
from app.checks.checker import Checker
from app.config import Settings
from app.background import RoundLoop
from app.db import peers
from app.hub.activity import record_request
from app.hub.alive import AliveCheck
from app.hub.response_expiry import ResponseExpiry
from app.hub.clientinfo import Announcer, hub_party
from app.outbox.peer_status import CHANNEL as PEER_STATUS_CHANNEL
from app.db.listener import Listener
from app.db.pool import create_pool
from app.metrics import process as metrics_process
from app.metrics.endpoint import ROUTES as metrics_routes
from app.ocpi import v2_2_1
from app.ocpi.auth import PeerCache
from app.ocpi.client import OcpiClient
from app.ocpi.path_guard import path_guard_middleware
from app.ocpi.transport import EXCEPTION_HANDLERS, request_ids_middleware
from app.ocpi.versions import versions_router
from app.operator_api.routes import api_router
from app.outbox.engine import DeliveryEngine
from app.outbox.queue import CHANNEL as OUTBOX_CHANNEL
from app.secrets_vault import TokenVault

VERSIONS = [v2_2_1.SPEC]


def _listener(dsn: str, peer_cache: PeerCache, engine: DeliveryEngine, checker: Checker) -> Listener:
    """This worker's LISTEN connection: peer changes clear the peer caches, queued pushes wake the delivery engine.
    While it is down the cache is bypassed (a revocation would go unheard); once back, anything may have
    changed meanwhile: the caches start empty and the engine looks for due pushes at once."""
    listener = Listener(dsn)
    listener.subscribe(peers.CHANNEL, peer_cache.clear)
    listener.subscribe(peers.CHANNEL, engine.peers_changed)
    listener.subscribe(OUTBOX_CHANNEL, engine.wake)
    listener.subscribe(CHECKS_CHANNEL, checker.wake)

    def lost() -> None:
        peer_cache.trusted = False

    def connected() -> None:
        peer_cache.clear()
        peer_cache.trusted = True
        engine.peers_changed()
        engine.wake()
        checker.wake()

    listener.on_lost(lost)
    listener.on_connected(connected)
    return listener


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The app for `settings` (default: from the environment). DATABASE_URL must name a migrated database;
    `ocpi-engine serve` prepares one (embedded by default) and passes it to its workers."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    metrics_process.activate()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set; start the service with `ocpi-engine serve`")

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        assert settings.database_url
        pool = await create_pool(settings.database_url, settings.pool_min, settings.pool_max)
        client = OcpiClient(settings.request_timeout, settings.peer_addresses)
        vault = TokenVault.load(settings.secret_key, settings.key_file)
        engine = DeliveryEngine.from_settings(pool, vault, settings)
        checker = Checker(pool, settings.dispute_tolerance)
        peer_cache = PeerCache()
        listener = _listener(settings.database_url, peer_cache, engine, checker)
        ingest = Ingest(pool, vault, client)
        await ingest.rebuild()  # the live sessions, from PostgreSQL
        patches = PatchFlusher(pool, settings.session_patch_interval)
        # A hub (hosting a HUB party at start) keeps its parties' ClientInfo current and checks silent peers.
        hub_loops: list[RoundLoop] = []
        if await hub_party(pool) is not None:
            announcer = Announcer(pool)
            listener.subscribe(peers.CHANNEL, announcer.wake)
            listener.subscribe(PEER_STATUS_CHANNEL, announcer.wake)
            listener.on_connected(announcer.wake)
            hub_loops = [announcer, AliveCheck(pool, vault, client, settings.hub_alive_after),
                         ResponseExpiry(pool, settings.hub_response_ttl)]
        app.state.update(pool=pool, client=client, vault=vault, delivery=engine, peer_cache=peer_cache,
                         listener=listener, ingest=ingest, checker=checker, hub=bool(hub_loops),
                         on_peer_call=record_request if hub_loops else None)
        await listener.start()
        await engine.start()
        patches.start()
        checker.start()
        for loop in hub_loops:
            loop.start()
        try:
            yield
        finally:
            for loop in hub_loops:
                await loop.stop()
            await checker.stop()
            await patches.stop()
            await engine.stop()
            await listener.stop()
            await client.aclose()
            await pool.close()

    app = Litestar(
        route_handlers=[versions_router(VERSIONS), *v2_2_1.routers(), api_router(), *metrics_routes],
        lifespan=[resources],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        state=State({"settings": settings}),
        openapi_config=OpenAPIConfig(title="ocpi-engine", version=__version__, path="/schema",
                                     description="OCPI 2.2.1 platform: versions, credentials, locations, tariffs, "
                                                 "sessions, CDRs and tokens; the operator API under /api/v1.",
                                     components=Components(security_schemes={"operatorKey": SecurityScheme(
                                         type="http", scheme="bearer",
                                         description="operator API key (`ocpi-engine apikey create`)")})),
        logging_config=None,
    )
    # Around the router, not per route: every request gets its ids and access-log line (404s included), and a
    # path no id can have is refused before it is routed (`%2F` would otherwise be routed as a `/`).
    return request_ids_middleware(path_guard_middleware(app))
