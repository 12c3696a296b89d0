"""Gauges of the outbox read from PostgreSQL when scraped, in one query: what waits for each peer, how old the
oldest waiting push is, what it refused, and whether it is reachable. They describe the shared database, so every
worker and every instance answers the same (unlike counters, which each process keeps)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# One query. Each state is read through its own partial index (PENDING, SENDING, REFUSED), never the delivered
# history; every registered peer has a row (its status) even with nothing queued.
QUERY = """
WITH open AS (
    SELECT peer_id, module, created_at, false AS refused FROM outbox WHERE state = 'PENDING'
    UNION ALL SELECT peer_id, module, created_at, false FROM outbox WHERE state = 'SENDING'
    UNION ALL SELECT peer_id, module, created_at, true FROM outbox WHERE state = 'REFUSED'
), q AS (
    SELECT peer_id, module, count(*) FILTER (WHERE NOT refused) AS depth,
           extract(epoch FROM now() - min(created_at) FILTER (WHERE NOT refused))::float8 AS oldest,
           count(*) FILTER (WHERE refused) AS refused
    FROM open GROUP BY peer_id, module
)
SELECT p.id AS peer_id, coalesce(d.status, 'CONNECTED') AS status, q.module, q.depth, q.oldest, q.refused
FROM peers p LEFT JOIN peer_delivery d ON d.peer_id = p.id LEFT JOIN q ON q.peer_id = p.id
WHERE p.status = 'REGISTERED'
ORDER BY p.id, q.module"""


async def read(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await conn.fetch(QUERY))


class QueueCollector(Collector):
    """The gauges of one scrape, from the rows of `QUERY`. A (peer, module) series is present while that peer
    has pushes of the module waiting or refused."""

    def __init__(self, rows: Sequence[asyncpg.Record]) -> None:
        self._rows = rows

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily("ocpi_queue_depth", "Pushes waiting for or in flight to the peer",
                                  labels=["peer", "module"])
        oldest = GaugeMetricFamily("ocpi_queue_oldest_age_seconds", "Age of the oldest push waiting for the peer",
                                   labels=["peer", "module"])
        refused = GaugeMetricFamily("ocpi_refused", "Pushes the peer refused (kept until retried)",
                                    labels=["peer", "module"])
        up = GaugeMetricFamily("ocpi_peer_up", "1 while deliveries to the peer succeed (CONNECTED), 0 when OFFLINE",
                               labels=["peer"])
        seen: set[int] = set()
        for r in self._rows:
            peer = str(r["peer_id"])
            if r["peer_id"] not in seen:
                seen.add(r["peer_id"])
                up.add_metric([peer], 1.0 if r["status"] == "CONNECTED" else 0.0)
            if r["module"] is None:
                continue
            if r["depth"] or r["refused"]:
                depth.add_metric([peer, r["module"]], float(r["depth"]))
                refused.add_metric([peer, r["module"]], float(r["refused"]))
            if r["oldest"] is not None:
                oldest.add_metric([peer, r["module"]], float(r["oldest"]))
        return [depth, oldest, refused, up]
