"""The HTTP send of the delivery engine behind one small protocol, so the send loop can live in Python (httpx) or
in rust_core (`rust_courier.RustCourier`, `Settings.courier = "rust"`). A courier never raises for what a peer
does: every outcome, a transport failure or timeout included, comes back as an `Answer`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outbound:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None


@dataclass(slots=True)
class Answer:
    http_status: int | None
    """None: no HTTP answer (`error` says why)."""
    body: bytes
    headers: dict[str, str]
    """Response headers, names lower-cased."""
    error: str | None
    elapsed_ms: float


class Courier(Protocol):
    async def send(self, out: Outbound, timeout: float) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpxCourier:
    """httpx with one keep-alive pool. httpx limits connections in total, not per host; the engine's window per
    peer bounds the connections to each host, so the pool keeps up to `keepalive` idle connections."""

    def __init__(self, keepalive: int = 1024) -> None:
        self._http = httpx.AsyncClient(follow_redirects=False, timeout=None, limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=keepalive, keepalive_expiry=30))

    async def send(self, out: Outbound, timeout: float) -> Answer:
        started = time.perf_counter()
        try:
            r = await self._http.request(out.method, out.url, content=out.body, headers=out.headers,
                                         timeout=timeout)
        except httpx.TimeoutException as exc:
            return Answer(None, b"", {}, f"timeout after {timeout:g}s ({type(exc).__name__})", _ms(started))
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return Answer(None, b"", {}, f"{type(exc).__name__}: {exc}", _ms(started))
        return Answer(r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()}, None, _ms(started))

    async def aclose(self) -> None:
        await self._http.aclose()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def make_courier(kind: str, connections_per_host: int, timeout: float) -> Courier:
    """The courier `Settings.courier` names; "rust" falls back to httpx (with a warning) when rust_core has none."""
    if kind == "rust":
        try:
            from app.outbox.rust_courier import RustCourier  # stream R's adapter; optional at import

            courier: Courier = RustCourier(max_connections_per_host=connections_per_host, timeout_s=timeout)
            return courier
        except Exception as exc:  # noqa: BLE001 - any failure to load it: deliver with the Python courier
            log.warning("rust courier unavailable; using the Python courier", extra={"error": repr(exc)})
    return HttpxCourier()
