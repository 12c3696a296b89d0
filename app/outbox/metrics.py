"""The delivery engine's Prometheus metrics (names fixed by the team contract; stream O serves them on /metrics,
across worker processes through PROMETHEUS_MULTIPROC_DIR when set). Label `peer` is the peer id as a string."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERIES = Counter("ocpi_deliveries_total", "Push attempts to peers by outcome "
                     "(delivered, refused, retry, put_after_unknown)", ["peer", "module", "outcome"])
LATENCY = Histogram("ocpi_delivery_latency_seconds", "From queueing a push to the peer's 2xx answer",
                    ["peer", "module"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600))
COALESCED = Counter("ocpi_coalesced_total", "Updates folded into a push still waiting for its peer",
                    ["peer", "module"])

OUTCOMES = ("delivered", "refused", "retry", "put_after_unknown")


def observe(peer_id: int, module: str, outcome: str, seconds: float | None) -> None:
    """One finished send; `seconds` (enqueue → 2xx) for a delivery."""
    DELIVERIES.labels(str(peer_id), module, outcome).inc()
    if seconds is not None:
        LATENCY.labels(str(peer_id), module).observe(seconds)


def count(peer_id: int, module: str, outcome: str, n: int) -> None:
    """n finished sends with one outcome (a batch of outcomes is counted once per label set)."""
    DELIVERIES.labels(str(peer_id), module, outcome).inc(n)


def observe_latency(peer_id: int, module: str, seconds: float) -> None:
    LATENCY.labels(str(peer_id), module).observe(seconds)


def coalesced(peer_id: int, module: str, n: int) -> None:
    if n:
        COALESCED.labels(str(peer_id), module).inc(n)
