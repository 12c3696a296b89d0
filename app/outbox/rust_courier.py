"""`Courier` on rust_core's send loop (`rust_core.Courier`: tokio, pooled keep-alive HTTP/1.1, http and https).

The boundary is crossed once per batch each way: sends made in one event-loop tick are submitted together at the
end of the tick, and one background thread waits for completions (the GIL released while it waits) and hands each
batch to the loop with a single `call_soon_threadsafe`. Like every courier it never raises for what a peer does:
transport failures, timeouts and a closed courier come back as an `Answer` with `http_status=None`.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterable

import rust_core

from app.outbox.courier import Answer, Outbound

_Submitted = tuple[int, str, str, list[tuple[str, str]], bytes | None]
_Completed = tuple[int, int | None, bytes, list[tuple[str, str]], float, str | None]

_DRAIN_ITEMS = 4096
"""Completions taken per crossing: large enough that a busy loop gets many answers per wake-up."""
_DRAIN_WAIT_S = 0.5
"""How long the drain thread waits in Rust for a first completion before checking whether it should stop."""


class RustCourier:
    """A `Courier` for one event loop (the first one that sends through it).

    `timeout_s` bounds each request in Rust (connect, send, whole answer, counted once the host has a free
    connection). A `send` with a shorter `timeout` gets its timeout `Answer` at that time from the loop; the request
    itself runs on until `timeout_s`.
    """

    def __init__(self, max_connections_per_host: int = 64, timeout_s: float = 10.0, *, worker_threads: int = 1) -> None:
        self._native = rust_core.Courier(max_connections_per_host, timeout_s, worker_threads=worker_threads)
        self._timeout = timeout_s
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._queued: list[_Submitted] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drainer: threading.Thread | None = None
        self._closing = False

    async def send(self, out: Outbound, timeout: float) -> Answer:
        if self._closing:
            return _failed("courier closed")
        loop = self._bind()
        rid = next(self._ids)
        future: asyncio.Future[Answer] = loop.create_future()
        self._waiting[rid] = future
        if not self._queued:
            loop.call_soon(self._flush)  # after every send of this tick
        self._queued.append((rid, out.method, out.url, out.headers, out.body))
        if timeout >= self._timeout:
            return await future
        expiry = loop.call_later(timeout, self._expire, rid, timeout)
        try:
            return await future
        finally:
            expiry.cancel()

    async def aclose(self) -> None:
        """Cancel what is in flight (those sends answer "courier closed") and stop the drain thread."""
        if self._closing:
            return
        self._closing = True
        self._flush()
        await asyncio.to_thread(self._native.close)
        if self._drainer is not None:
            await asyncio.to_thread(self._drainer.join)
        self._resolve(self._native.completed(len(self._waiting) + 1, 0.0))
        for future in self._waiting.values():
            if not future.done():
                future.set_result(_failed("courier closed"))
        self._waiting.clear()

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._drainer = threading.Thread(target=self._drain, args=(loop,), name="rust-courier-drain", daemon=True)
            self._drainer.start()
        elif self._loop is not loop:
            raise RuntimeError("a RustCourier serves the one event loop it first sent from")
        return loop

    def _flush(self) -> None:
        batch, self._queued = self._queued, []
        if not batch:
            return
        try:
            self._native.submit(batch)
        except RuntimeError as exc:  # closed meanwhile
            self._settle((item[0] for item in batch), str(exc))
        except (TypeError, ValueError, OverflowError):
            # One malformed Outbound (not str headers, say) fails the whole conversion: send the others alone.
            for item in batch:
                try:
                    self._native.submit([item])
                except (RuntimeError, TypeError, ValueError, OverflowError) as exc:
                    self._settle([item[0]], f"cannot send: {exc}")

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """The background thread: completions to the loop, one hand-over per batch."""
        while not self._closing:
            done = self._native.completed(_DRAIN_ITEMS, _DRAIN_WAIT_S)
            if done:
                try:
                    loop.call_soon_threadsafe(self._resolve, done)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return

    def _resolve(self, done: list[_Completed]) -> None:
        waiting = self._waiting
        for rid, status, body, headers, elapsed_ms, error in done:
            future = waiting.pop(rid, None)
            if future is not None and not future.done():  # done: expired or its caller was cancelled
                future.set_result(Answer(status, body, _header_dict(headers), error, elapsed_ms))

    def _settle(self, ids: Iterable[int], error: str) -> None:
        for rid in ids:
            future = self._waiting.pop(rid, None)
            if future is not None and not future.done():
                future.set_result(_failed(error))

    def _expire(self, rid: int, timeout: float) -> None:
        future = self._waiting.pop(rid, None)
        if future is not None and not future.done():
            future.set_result(Answer(None, b"", {}, f"timeout after {timeout:g} s", timeout * 1000))


def _failed(error: str) -> Answer:
    return Answer(None, b"", {}, error, 0.0)


def _header_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Names are lower-case already; a repeated header is joined with ", " (as httpx does)."""
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out
