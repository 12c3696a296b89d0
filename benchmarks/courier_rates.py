#!/usr/bin/env python3
"""Request rates of the delivery couriers against one loopback receiver, in one run.

    python benchmarks/courier_rates.py [--requests 20000] [--concurrency 64] [--connections 64] [--json out.json]

The receiver is a minimal asyncio HTTP/1.1 keep-alive server in a separate process (one core), answering every
request with an OCPI 1000 envelope. Each client sends the same PUTs (an EVSE status, the headers the delivery
engine sends) with `--concurrency` requests in flight over a keep-alive pool of `--connections`:

- `httpx`: httpx.AsyncClient (what the Python courier uses);
- `aiohttp`: aiohttp.ClientSession, when aiohttp is installed (it is not a project dependency; skipped otherwise);
- `rust_adapter`: `app.outbox.rust_courier.RustCourier` through asyncio, as the engine would use it;
- `rust_direct`: `rust_core.Courier` driven without asyncio (batch submit / batch completed): its ceiling.

Every client sends `--requests` requests (after a short warm-up) or stops at `--max-seconds`. Reported per client:
requests, answers with OCPI 1000, errors, requests per second, the ratio to httpx, and the client process's CPU
time per 1000 requests (user + system; the receiver runs elsewhere). Ports: the first free in 19200-19299 unless
`--port`. Output: a table on stdout and with --json FILE the results as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
PORTS = range(19200, 19300)
PATH = "/ocpi/2.2.1/receiver/locations/NL/EXA/LOC{n}/EVSE1"
BODY = b'{"status":"CHARGING","last_updated":"2026-05-01T12:00:00Z"}'
OK = b'"status_code":1000'
ANSWER = (b'{"data":null,"status_code":1000,"status_message":"Success",'
          b'"timestamp":"2026-05-01T12:00:00Z"}')
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(ANSWER), ANSWER))


# ---- the receiver (its own process) ----

class _Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive, requests with Content-Length bodies (what every client here sends), pipelining-safe."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data
        out = []
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = buf[:end].lower()
            length = 0
            if (i := head.find(b"content-length:")) >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15:j if j >= 0 else end])
            if len(buf) < end + 4 + length:
                break
            buf = buf[end + 4 + length:]
            out.append(RESPONSE)
        self.buffer = buf
        if out:
            self.transport.write(b"".join(out))


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Receiver, HOST, port, backlog=1024)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 19200-19299")


def start_receiver(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit("the receiver did not start")
    return proc


# ---- the clients ----

def headers(n: int) -> list[tuple[str, str]]:
    """What the delivery engine sends with a push."""
    return [("Authorization", "Token ZXhhbXBsZS10b2tlbg=="), ("X-Request-ID", str(uuid.uuid4())),
            ("X-Correlation-ID", str(uuid.uuid4())), ("OCPI-from-country-code", "NL"), ("OCPI-from-party-id", "EXA"),
            ("OCPI-to-country-code", "NL"), ("OCPI-to-party-id", f"M{n % 100:02d}"),
            ("Content-Type", "application/json")]


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.ok = 0
        self.errors = 0
        self.error_samples: list[str] = []

    def count(self, status: int | None, body: bytes, error: str | None) -> None:
        if status == 200 and OK in body:
            self.ok += 1
        else:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(error or f"HTTP {status}: {body[:100]!r}")


Send = Callable[[int], Awaitable[tuple[int | None, bytes, str | None]]]


async def drive(send: Send, requests: int, concurrency: int, deadline: float, tally: Tally) -> None:
    """`concurrency` workers taking request numbers until `requests` are sent or the deadline passes."""
    async def worker() -> None:
        while tally.sent < requests and time.perf_counter() < deadline:
            n = tally.sent
            tally.sent += 1
            tally.count(*await send(n))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_httpx(base: str, a: argparse.Namespace, requests: int, tally: Tally, deadline: float) -> None:
    import httpx

    limits = httpx.Limits(max_connections=a.connections, max_keepalive_connections=a.connections)
    async with httpx.AsyncClient(limits=limits, timeout=a.timeout) as client:
        async def send(n: int) -> tuple[int | None, bytes, str | None]:
            try:
                r = await client.put(base + PATH.format(n=n), content=BODY, headers=headers(n))
            except httpx.HTTPError as exc:
                return None, b"", repr(exc)
            return r.status_code, r.content, None

        await drive(send, requests, a.concurrency, deadline, tally)


async def run_aiohttp(base: str, a: argparse.Namespace, requests: int, tally: Tally, deadline: float) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=a.connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=a.timeout)) as client:
        async def send(n: int) -> tuple[int | None, bytes, str | None]:
            try:
                async with client.put(base + PATH.format(n=n), data=BODY, headers=headers(n)) as r:
                    return r.status, await r.read(), None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                return None, b"", repr(exc)

        await drive(send, requests, a.concurrency, deadline, tally)


async def run_rust_adapter(base: str, a: argparse.Namespace, requests: int, tally: Tally, deadline: float) -> None:
    from app.outbox.courier import Outbound
    from app.outbox.rust_courier import RustCourier

    courier = RustCourier(max_connections_per_host=a.connections, timeout_s=a.timeout, worker_threads=a.rust_threads)
    try:
        async def send(n: int) -> tuple[int | None, bytes, str | None]:
            answer = await courier.send(Outbound("PUT", base + PATH.format(n=n), headers(n), BODY), a.timeout)
            return answer.http_status, answer.body, answer.error

        await drive(send, requests, a.concurrency, deadline, tally)
    finally:
        await courier.aclose()


def run_rust_direct(base: str, a: argparse.Namespace, requests: int, tally: Tally, deadline: float) -> None:
    """No asyncio: keep `concurrency` in flight, submitting as many as each collected batch completed."""
    import rust_core

    courier = rust_core.Courier(a.connections, a.timeout, worker_threads=a.rust_threads)
    try:
        in_flight = 0
        while (tally.sent < requests and time.perf_counter() < deadline) or in_flight:
            room = min(a.concurrency - in_flight, requests - tally.sent) if time.perf_counter() < deadline else 0
            if room > 0:
                first = tally.sent
                courier.submit([(n, "PUT", base + PATH.format(n=n), headers(n), BODY) for n in range(first, first + room)])
                tally.sent += room
                in_flight += room
            for _, status, body, _, _, error in courier.completed(a.concurrency, 1.0):
                in_flight -= 1
                tally.count(status, body, error)
    finally:
        courier.close()


CLIENTS: dict[str, Callable[..., Any]] = {
    "httpx": run_httpx, "aiohttp": run_aiohttp, "rust_adapter": run_rust_adapter, "rust_direct": run_rust_direct}


def available(name: str) -> str | None:
    """None when the client can run, else why not."""
    modules = {"httpx": "httpx", "aiohttp": "aiohttp", "rust_adapter": "rust_core", "rust_direct": "rust_core"}
    try:
        module = __import__(modules[name])
    except ImportError:
        return f"{modules[name]} is not installed"
    if name.startswith("rust") and not hasattr(module, "Courier"):
        return "this rust_core build has no Courier"
    return None


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(name: str, base: str, a: argparse.Namespace) -> dict[str, Any]:
    client = CLIENTS[name]

    def once(requests: int, seconds: float) -> tuple[Tally, float, float]:
        tally = Tally()
        cpu, started = cpu_seconds(), time.perf_counter()
        deadline = started + seconds
        if inspect.iscoroutinefunction(client):
            asyncio.run(client(base, a, requests, tally, deadline))
        else:
            client(base, a, requests, tally, deadline)
        return tally, time.perf_counter() - started, cpu_seconds() - cpu

    once(a.warmup, a.max_seconds)  # connections, imports, caches
    tally, seconds, cpu = once(a.requests, a.max_seconds)
    done = tally.ok + tally.errors
    return {"requests": done, "ok": tally.ok, "errors": tally.errors, "error_samples": tally.error_samples,
            "seconds": round(seconds, 3), "requests_per_s": round(done / seconds, 1) if seconds else 0.0,
            "client_cpu_ms_per_1000": round(cpu * 1e6 / done, 1) if done else None,
            "complete": done == a.requests}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at once")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections per host")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, s")
    p.add_argument("--max-seconds", type=float, default=30.0, help="bound of each client's measured run")
    p.add_argument("--rust-threads", type=int, default=1, help="tokio worker threads of the rust courier")
    p.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset of " + ",".join(CLIENTS))
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve is not None:
        serve(a.serve)
        return

    names = [n for n in a.clients.split(",") if n]
    unknown = set(names) - set(CLIENTS)
    if unknown:
        p.error(f"unknown clients: {', '.join(sorted(unknown))}")
    port = a.port or free_port()
    receiver = start_receiver(port)
    base = f"http://{HOST}:{port}"
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    try:
        for name in names:
            why = available(name)
            if why:
                skipped[name] = why
                print(f"{name}: skipped ({why})", file=sys.stderr)
                continue
            print(f"{name}: {a.requests} requests...", file=sys.stderr, flush=True)
            results[name] = measure(name, base, a)
    finally:
        receiver.terminate()
        receiver.wait(10)

    reference = results.get("httpx", {}).get("requests_per_s")
    for r in results.values():
        r["ratio_to_httpx"] = round(r["requests_per_s"] / reference, 2) if reference else None
    report = {
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {k: getattr(a, k) for k in ("requests", "warmup", "concurrency", "connections", "timeout",
                                                 "max_seconds", "rust_threads")},
        "results": results, "skipped": skipped}

    print(f"Courier request rates: {a.requests} PUTs, {a.concurrency} in flight, {a.connections} keep-alive "
          f"connections, one loopback receiver process")
    print(f"{'client':<14}{'requests':>9}{'errors':>8}{'seconds':>9}{'req/s':>10}{'x httpx':>9}{'cpu ms/1k':>11}")
    for name, r in results.items():
        ratio = f"{r['ratio_to_httpx']:.2f}" if r["ratio_to_httpx"] is not None else "-"
        print(f"{name:<14}{r['requests']:>9}{r['errors']:>8}{r['seconds']:>9.2f}{r['requests_per_s']:>10.0f}"
              f"{ratio:>9}{r['client_cpu_ms_per_1000'] or 0:>11.0f}")
    for name, why in skipped.items():
        print(f"{name:<14}skipped: {why}")
    if a.json:
        a.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
