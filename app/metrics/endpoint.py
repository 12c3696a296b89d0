"""`GET /metrics`: Prometheus text format, behind an operator API key unless OCPI_ENGINE_METRICS_PUBLIC=1."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.metrics import collector, process
from app.outbox import metrics as _delivery_metrics  # noqa: F401  (registers the delivery families)
from app.operator_api.auth import operator_key
from app.operator_api.errors import EXCEPTION_HANDLERS, error_responses


async def _scraper(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if not connection.app.state.settings.metrics_public:
        await operator_key(connection, handler)


@get("/metrics", guards=[_scraper], exception_handlers=EXCEPTION_HANDLERS, tags=["operations"],
     security=[{"operatorKey": []}], summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST,
     response_description="Prometheus text format: ocpi_deliveries_total, ocpi_delivery_latency_seconds, "
                          "ocpi_coalesced_total, ocpi_queue_depth, ocpi_queue_oldest_age_seconds, ocpi_refused, "
                          "ocpi_peer_up",
     responses=error_responses(e401="no live operator API key (unless OCPI_ENGINE_METRICS_PUBLIC=1)"))
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Deliveries by outcome, latency and coalesced updates per peer and module (summed over the worker
    processes), and, read from PostgreSQL now, each peer's queue depth, oldest waiting push, refused pushes and
    status."""
    rows = await collector.read(request.app.state.pool)
    gauges = CollectorRegistry()
    gauges.register(collector.QueueCollector(rows))
    return Response(process.exposition() + generate_latest(gauges), media_type=CONTENT_TYPE_LATEST)


ROUTES = [metrics]
