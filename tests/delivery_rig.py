"""A rig for delivery-engine tests: a migrated database with peers, engines in this process, and lightweight
HTTP/1.1 keep-alive receivers on loopback whose answers (and delays) each test chooses, recording every request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from cryptography.fernet import Fernet

from app.db.migrate import migrate
from app.db.pool import create_pool, drop_database, ensure_database
from app.outbox.courier import HttpxCourier
from app.outbox.engine import DeliveryEngine
from app.outbox.queue import Push, enqueue_many
from app.peer_addresses import AddressPolicy, parse_networks
from app.secrets_vault import TokenVault

OK = b'{"status_code":1000,"status_message":"Success","timestamp":"2027-01-01T00:00:00Z"}'
TOKEN = "rig-token"


def envelope(code: int, message: str = "") -> bytes:
    return json.dumps({"status_code": code, "status_message": message, "timestamp": "2027-01-01T00:00:00Z"}).encode()


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    t_in: float
    t_out: float = 0.0


Reply = tuple[int, bytes]
Handler = Callable[[Request], Awaitable[Reply]]


async def ok(_: Request) -> Reply:
    return 200, OK


@dataclass
class Receiver:
    """One listening socket; `handler` decides each answer (it may sleep)."""

    port: int
    handler: Handler = ok
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _server: asyncio.AbstractServer | None = None

    async def start(self) -> "Receiver":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                req = Request(method, path, headers, body, time.monotonic())
                self.requests.append(req)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    status, payload = await self.handler(req)
                finally:
                    self.in_flight -= 1
                req.t_out = time.monotonic()
                ctype = b"application/json" if payload.startswith(b"{") else b"text/plain"
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                             % (status, ctype, len(payload), payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


class Rig:
    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self.dsn, self.pool = dsn, pool
        self.vault = TokenVault(Fernet.generate_key())
        self.engines: list[DeliveryEngine] = []

    async def peer(self, port: int, *, label: str = "peer", base64: bool = True, window: int | None = None) -> int:
        endpoints = [{"identifier": m, "role": "RECEIVER", "url": f"http://127.0.0.1:{port}/ocpi/2.2.1/{m}"}
                     for m in ("locations", "sessions", "tokens", "cdrs")]
        return int(await self.pool.fetchval(
            """INSERT INTO peers (label, status, token_out, auth_base64, endpoints, delivery_window)
               VALUES ($1, 'REGISTERED', $2, $3, $4::jsonb, $5) RETURNING id""",
            label, self.vault.encrypt(TOKEN), base64, json.dumps(endpoints), window))

    async def engine(self, **kw: Any) -> DeliveryEngine:
        opts: dict[str, Any] = {"window": 16, "offline_after": 5, "backoff_cap": 60.0, "timeout": 10.0,
                                "poll_seconds": 0.2, **kw}
        engine = DeliveryEngine(self.pool, self.vault, self.dsn, HttpxCourier(),
                                addresses=AddressPolicy(parse_networks("127.0.0.0/8")), **opts)
        await engine.start()
        self.engines.append(engine)
        return engine

    async def push(self, *pushes: Push) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await enqueue_many(conn, list(pushes))

    async def states(self, peer_id: int) -> dict[str, int]:
        return {r["state"]: r["n"] for r in await self.pool.fetch(
            "SELECT state, count(*) AS n FROM outbox WHERE peer_id = $1 GROUP BY state", peer_id)}


def patch(peer_id: int, path: str, body: dict[str, Any], module: str = "locations") -> Push:
    return Push(peer_id, module, "PATCH", path, json.dumps(body).encode(), ("NL", "EXA"), ("NL", "MSP"))


def put(peer_id: int, path: str, body: dict[str, Any], module: str = "locations") -> Push:
    return Push(peer_id, module, "PUT", path, json.dumps(body).encode(), ("NL", "EXA"), ("NL", "MSP"))


@contextlib.asynccontextmanager
async def rig(admin_dsn: str) -> AsyncIterator[Rig]:
    name = f"t_delivery_{uuid.uuid4().hex[:8]}"
    dsn = await ensure_database(admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(dsn, 2, 10)
    r = Rig(dsn, pool)
    try:
        yield r
    finally:
        for engine in r.engines:
            with contextlib.suppress(Exception):
                await engine.stop()
        await pool.close()
        await drop_database(admin_dsn, name)


async def until(predicate: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def serve_forever(port: int) -> None:
    """A receiver answering every call with OCPI 1000 until killed (for benchmarks: its own process)."""
    async def main() -> None:
        await Receiver(port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    import sys

    serve_forever(int(sys.argv[1]))
