"""A worker's background loop: rounds of work, one after another while they find something to do, else a wait
for a wake-up (a NOTIFY) or the poll interval. A failed round is logged — one line while the database is
unavailable, a traceback otherwise — and the loop goes on: it must outlive any single round."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.db.pool import describe, unavailable

log = logging.getLogger(__name__)


class RoundLoop:
    """Subclasses pass their round to `__init__` and inherit start/stop/wake."""

    def __init__(self, name: str, round_: Callable[[], Awaitable[int]], poll_seconds: float) -> None:
        """`round_` does one round and returns how much it did (0: nothing was due)."""
        self._name, self._round, self._poll = name, round_, poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                done = await self._round()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any round
                if unavailable(exc):
                    log.warning("%s: round failed", self._name, extra={"error": describe(exc)})
                else:
                    log.exception("%s: round failed", self._name)
                done = 0
            if done:
                continue  # more may be due behind what this round did
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
