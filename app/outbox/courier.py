"""The HTTP send of the delivery engine behind one small protocol (contract section 1; stream D's file: this copy holds
only the types, so that `rust_courier` stands on its own until D's lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
