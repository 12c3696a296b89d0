"""A worker's LISTEN connection, kept alive: PostgreSQL may restart under a running server, and a LISTEN lost
with its connection would leave the worker deaf for good (revoked tokens still cached, pushes only found by
polling). The connection is its own, not the pool's, and is re-established with backoff; between the loss and
the new LISTEN, notifications are missed, so subscribers hear of the loss and of the reconnection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Listener:
    def __init__(self, dsn: str, *, ping_seconds: float = 5.0, max_backoff: float = 2.0) -> None:
        self._dsn = dsn
        self._ping, self._max_backoff = ping_seconds, max_backoff
        self._channels: dict[str, list[Callback]] = {}
        self._on_lost: list[Callback] = []
        self._on_connected: list[Callback] = []
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        """True while LISTENing: notifications are being received."""

    def subscribe(self, channel: str, callback: Callback) -> None:
        """`callback()` on every NOTIFY of `channel` (call before `start`)."""
        self._channels.setdefault(channel, []).append(callback)

    def on_lost(self, callback: Callback) -> None:
        """`callback()` when notifications stop arriving (the connection is gone)."""
        self._on_lost.append(callback)

    def on_connected(self, callback: Callback) -> None:
        """`callback()` once LISTENing again after a loss: anything may have changed meanwhile."""
        self._on_connected.append(callback)

    async def start(self) -> None:
        """Connect and LISTEN (a failure here is the caller's: the database must be up when a worker starts),
        then keep it so in the background."""
        await self._connect()
        self._task = asyncio.create_task(self._keep(), name="listen-connection")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            for channel, callbacks in self._channels.items():
                await conn.add_listener(channel, _dispatch(callbacks))
        except BaseException:
            conn.terminate()
            raise
        self._lost.clear()
        conn.add_termination_listener(lambda _: self._lost.set())
        self._conn = conn
        self.connected = True

    async def _keep(self) -> None:
        while True:
            await self._until_lost()
            self.connected = False
            for callback in self._on_lost:
                callback()
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
            log.warning("LISTEN connection lost; reconnecting")
            attempts = await self._reconnect()
            log.info("LISTEN connection re-established", extra={"attempts": attempts})
            for callback in self._on_connected:
                callback()

    async def _until_lost(self) -> None:
        """Returns when the connection is closed (noticed at once for a closed socket; a ping catches a
        connection that silently stopped answering)."""
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self._ping)
                return
            try:
                assert self._conn is not None
                await self._conn.execute("SELECT 1", timeout=self._ping)
            except Exception:  # noqa: BLE001 - whatever the reason, this connection no longer serves
                return

    async def _reconnect(self) -> int:
        delay, attempts = 0.1, 0
        while True:
            attempts += 1
            try:
                await self._connect()
                return attempts
            except Exception:  # noqa: BLE001 - keep trying: a worker must not stay deaf
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)


def _dispatch(callbacks: list[Callback]) -> Callable[..., None]:
    def notified(*_: object) -> None:
        for callback in callbacks:
            callback()

    return notified
