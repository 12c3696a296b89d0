"""A lightweight OCPI receiver (`delivery_rig.Receiver`) on its own event loop thread, for tests that drive a
service instance from synchronous code: it answers 1000, or refuses (plain HTTP 400) the paths `refuse` matches."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.delivery_rig import OK, Receiver, Reply, Request
from tests.service import Instance, free_port


class Peer:
    def __init__(self) -> None:
        self.refuse: Callable[[str], bool] = lambda path: False
        self.receiver = Receiver(free_port(), self._answer)
        self.url = f"http://127.0.0.1:{self.receiver.port}/ocpi/2.2.1"

    async def _answer(self, req: Request) -> Reply:
        return (400, b"no thanks") if self.refuse(req.path) else (200, OK)

    def register_at(self, inst: Instance, label: str, party: tuple[str, str, str] = ("NL", "MSP", "EMSP")) -> int:
        """Registered at `inst` without a handshake (so without an initial sync); returns its peer id."""
        inst.client_token(label, [party], endpoints=[
            {"identifier": m, "role": "RECEIVER", "url": f"{self.url}/{m}"} for m in ("locations", "tariffs", "sessions")])
        return inst.peer_id(label)

    def got(self, method: str | None = None) -> list[str]:
        return list(self.receiver.paths(method))


async def _shut(peer: Peer) -> None:
    """Close the listener and the keep-alive connections still open (their tasks wait for a next request)."""
    await peer.receiver.close()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in others:
        t.cancel()
    await asyncio.gather(*others, return_exceptions=True)


@contextmanager
def receiving() -> Iterator[Peer]:
    peer = Peer()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(peer.receiver.start(), loop).result(10)
    try:
        yield peer
    finally:
        asyncio.run_coroutine_threadsafe(_shut(peer), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
