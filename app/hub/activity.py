"""A hub notes when each peer last called it, for the still-alive check (`app/hub/alive.py`): a peer that calls is
alive. The server's wiring has `ocpi.auth` call it on every request of a registered peer, on a hub only; it writes
at most once per SEEN_EVERY seconds per peer and worker."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request

SEEN_EVERY = 30.0


async def record_request(request: Request[Any, Any, Any], peer_id: int) -> None:
    """Note that the peer called us (at most every SEEN_EVERY seconds per worker)."""
    state = request.app.state
    seen: dict[int, float] = state.setdefault("hub_seen", {})
    now = time.monotonic()
    if now - seen.get(peer_id, -SEEN_EVERY) < SEEN_EVERY:
        return
    seen[peer_id] = now
    await state.pool.execute(
        """INSERT INTO hub_peer_activity (peer_id, last_request_at) VALUES ($1, now())
           ON CONFLICT (peer_id) DO UPDATE SET last_request_at = now()""", peer_id)
