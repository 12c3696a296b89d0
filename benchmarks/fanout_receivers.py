#!/usr/bin/env python3
"""Lightweight OCPI receivers for the fan-out benchmark and the hub tests: one process, N listening sockets on
loopback, a minimal asyncio HTTP/1.1 keep-alive server (no framework: a receiver must cost far less than the
engine it measures).

    python benchmarks/fanout_receivers.py --receivers 50 --base-port 19700 --control-port 19699 [--slow K] [--down K]

Each receiver i (port base+i) is an eMSP party `NL/R{i:03d}` (`--party-prefix`) that answers
- GET /ocpi/versions, GET /ocpi/2.2.1 (credentials + locations/tariffs/tokens RECEIVER endpoints), and
  POST/PUT/DELETE /ocpi/2.2.1/credentials (its own token, versions URL and role), so a hub registers it with the
  normal handshake (`peer register VERSIONS_URL ANY_TOKEN`);
- every other call with an OCPI 1000 envelope (HTTP 200), after 1 s when it is slow (`--slow K`: the first K
  receivers), never when it is down (`--down K`: its port closed, its connections cut).

Every request is recorded: receiver index, method, path, arrival time (monotonic ns: comparable with
`time.monotonic_ns()` in any process on the machine, and wall time), X-Request-ID, X-Correlation-ID, OCPI-from/to,
and the EVSE states the body carries ((location, evse uid, status, last_updated) from a PATCH/PUT of an EVSE, or
every EVSE of a Location PUT/PATCH). The records are read through the control port (plain HTTP, JSON):

    GET  /stats                      requests per receiver, modes
    POST /dump?path=FILE[&clear=1]   records written to FILE as one JSON array per line; answers the count
    POST /mode?ids=0,1&mode=up|slow|down[&delay=1.0]
    POST /clear                      forget the records

and written to `--out` at SIGTERM/SIGINT. `ReceiversProcess` starts and drives it from another program.

`drive()` commits EVSE status changes on a CPO (each with its own `last_updated` stamp, timed at commit),
`final_states()` reads the CPO's final state, and `analyse()` says from the records what arrived, how late, what
was lost, superseded or duplicated (used by `macro_fanout.py` and the multi-instance and kill -9 tests).

`raw_ceiling()` is the ceiling the engine is compared with: a bare keep-alive client sending the same PATCHes to
the same receivers (httpx, or rust_core's courier when it exists and is asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
import msgspec

HOST = "127.0.0.1"
V = "/ocpi/2.2.1"
MODULES = ("locations", "tariffs", "tokens")
"""Receiver endpoints offered (what a hub broadcasts to an eMSP)."""

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

Record = tuple[int, str, str, int, float, str, str, str, str, list[tuple[str, str, str | None, str | None]], int]
"""(receiver, method, path, arrival monotonic ns, arrival wall s, X-Request-ID, X-Correlation-ID, OCPI-from
"CC/PID", OCPI-to "CC/PID", [(location id, evse uid, status, last_updated), ...], the client's port: which
connection, so which sending process, it came over)."""


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def envelope(data: Any = None, code: int = 1000, message: str = "Success") -> bytes:
    out: dict[str, Any] = {"status_code": code, "status_message": message, "timestamp": _timestamp()}
    if data is not None:
        out["data"] = data
    return _encode(out)


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    reason = {200: "OK", 201: "Created", 404: "Not Found", 400: "Bad Request"}.get(status, "OK")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n").encode() + body


def evse_states(path: str, body: bytes) -> list[tuple[str, str, str | None, str | None]]:
    """The EVSE states a Locations call carries: path /{cc}/{pid}/{loc}[/{evse}[/{connector}]] below the module."""
    if not body:
        return []
    parts = [unquote(p) for p in path.split("?", 1)[0].split("/") if p]
    try:
        i = parts.index("locations")
    except ValueError:
        return []
    ids = parts[i + 1:]
    if len(ids) < 3:
        return []
    try:
        doc = _decode(body)
    except msgspec.DecodeError:
        return []
    if not isinstance(doc, dict):
        return []
    if len(ids) == 4:  # the EVSE itself
        return [(ids[2], ids[3], doc.get("status"), doc.get("last_updated"))]
    if len(ids) == 3:  # the Location: each EVSE it lists
        stamp = doc.get("last_updated")
        return [(ids[2], str(e.get("uid")), e.get("status"), e.get("last_updated", stamp))
                for e in doc.get("evses") or () if isinstance(e, dict)]
    return []


@dataclass(slots=True)
class Receiver:
    index: int
    port: int
    party: tuple[str, str]
    mode: str = "up"
    delay: float = 1.0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    server: asyncio.base_events.Server | None = None
    conns: set[_Conn] = field(default_factory=set)
    requests: int = 0

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def details(self) -> dict[str, Any]:
        eps = [{"identifier": "credentials", "role": "RECEIVER", "url": f"{self.base}{V}/credentials"}]
        eps += [{"identifier": m, "role": "RECEIVER", "url": f"{self.base}{V}/receiver/{m}"} for m in MODULES]
        return {"version": "2.2.1", "endpoints": eps}

    def credentials(self) -> dict[str, Any]:
        cc, pid = self.party
        return {"token": self.token, "url": self.versions_url,
                "roles": [{"role": "EMSP", "country_code": cc, "party_id": pid,
                           "business_details": {"name": f"receiver {cc}*{pid}"}}]}


class _Conn(asyncio.Protocol):
    """One keep-alive connection: requests parsed from the byte stream (Content-Length bodies), answered in order."""

    __slots__ = ("rs", "rc", "transport", "buf", "client_port")

    def __init__(self, rs: ReceiverSet, rc: Receiver) -> None:
        self.rs, self.rc = rs, rc
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.client_port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client_port = int((transport.get_extra_info("peername") or ("", 0))[1])
        self.rc.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.rc.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        now_ns, now = time.monotonic_ns(), time.time()
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4:end + 4 + length])
            del buf[:end + 4 + length]
            method, target = lines[0].split(" ", 2)[:2]
            self.rs.handle(self, method, target, headers, body, now_ns, now)

    def send(self, data: bytes, close: bool) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if close:
            t.close()


class ReceiverSet:
    def __init__(self, n: int, base_port: int, party_prefix: str = "R", country: str = "NL") -> None:
        # Party ids are 3 characters: the prefix's first letter and 2 digits, or 3 digits beyond 100 receivers.
        self.receivers = [Receiver(i, base_port + i, (country, f"{party_prefix[:1]}{i:02d}" if n <= 100 else f"{i:03d}"))
                          for i in range(n)]
        self.records: list[Record] = []

    # --- serving ---------------------------------------------------------------------------------------
    def handle(self, conn: _Conn, method: str, target: str, headers: dict[str, str], body: bytes,
               now_ns: int, now: float) -> None:
        rc = conn.rc
        rc.requests += 1
        path = target.split("?", 1)[0]
        keep = headers.get("connection", "").lower() != "close"
        if path == "/ocpi/versions":
            out = envelope([{"version": "2.2.1", "url": f"{rc.base}{V}"}])
        elif path == V:
            out = envelope(rc.details())
        elif path == f"{V}/credentials":
            if method in ("POST", "PUT"):
                rc.token = secrets.token_urlsafe(18)
            out = envelope(rc.credentials() if method != "DELETE" else None)
        else:
            self.records.append((
                rc.index, method, target, now_ns, now, headers.get("x-request-id", ""),
                headers.get("x-correlation-id", ""),
                f"{headers.get('ocpi-from-country-code', '')}/{headers.get('ocpi-from-party-id', '')}",
                f"{headers.get('ocpi-to-country-code', '')}/{headers.get('ocpi-to-party-id', '')}",
                evse_states(path, body) if method in ("PUT", "PATCH") else [], conn.client_port))
            out = envelope([] if method == "GET" else None)
        data = _response(200, out, keep)
        if rc.mode == "slow":
            asyncio.get_running_loop().call_later(rc.delay, conn.send, data, not keep)
        else:
            conn.send(data, not keep)

    async def _listen(self, rc: Receiver) -> None:
        loop = asyncio.get_running_loop()
        rc.server = await loop.create_server(lambda: _Conn(self, rc), HOST, rc.port, reuse_address=True, backlog=512)

    async def start(self) -> None:
        for rc in self.receivers:
            await self._listen(rc)

    async def set_mode(self, ids: Sequence[int], mode: str, delay: float = 1.0) -> None:
        for i in ids:
            rc = self.receivers[i]
            if mode == "down":
                if rc.server is not None:
                    rc.server.close()
                    rc.server = None
                for c in list(rc.conns):  # cut, as a crashed or unplugged peer would
                    if c.transport is not None:
                        c.transport.abort()
            elif rc.server is None:
                await self._listen(rc)
            rc.mode, rc.delay = mode, delay

    async def stop(self) -> None:
        await self.set_mode(range(len(self.receivers)), "down")

    def stats(self) -> dict[str, Any]:
        return {"records": len(self.records),
                "receivers": [{"index": r.index, "port": r.port, "party": "/".join(r.party), "mode": r.mode,
                               "requests": r.requests, "connections": len(r.conns)} for r in self.receivers]}

    def dump(self, path: str, clear: bool) -> int:
        records, n = self.records, len(self.records)
        if clear:
            self.records = []
        with open(path, "wb") as f:
            for rec in records:
                f.write(_encode(rec) + b"\n")
        return n

    # --- control port --------------------------------------------------------------------------------
    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target = head.split(" ", 2)[:2]
            url = urlsplit(target)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, result = 200, None
            if url.path == "/stats":
                result = self.stats()
            elif url.path == "/dump" and method == "POST":
                result = {"records": self.dump(q["path"], q.get("clear") == "1")}
            elif url.path == "/clear" and method == "POST":
                result, self.records = {"records": len(self.records)}, []
            elif url.path == "/mode" and method == "POST":
                ids = [int(x) for x in q.get("ids", "").split(",") if x]
                await self.set_mode(ids, q["mode"], float(q.get("delay", "1.0")))
                result = {"ok": True}
            else:
                status, result = 404, {"error": "unknown"}
            body = json.dumps(result).encode()
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (KeyError, ValueError, asyncio.IncompleteReadError, OSError) as exc:
            with contextlib.suppress(OSError):
                writer.write(b"HTTP/1.1 400 X\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (
                    len(repr(exc)), repr(exc).encode()))
        finally:
            writer.close()


async def serve(args: argparse.Namespace) -> None:
    rs = ReceiverSet(args.receivers, args.base_port, args.party_prefix)
    await rs.start()
    control = await asyncio.start_server(rs.control, HOST, args.control_port, reuse_address=True)
    if args.slow:
        await rs.set_mode(range(args.slow), "slow", args.delay)
    if args.down:
        await rs.set_mode(range(args.slow, args.slow + args.down), "down")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"ready": True, "control": f"http://{HOST}:{args.control_port}",
                      "receivers": [{"versions_url": r.versions_url, "party": "/".join(r.party)} for r in rs.receivers]}),
          flush=True)
    await stop.wait()
    control.close()
    await rs.stop()
    if args.out:
        rs.dump(args.out, False)


# --- the changes that feed the receivers, and what their records say -----------------------------------

STATUSES = ("CHARGING", "AVAILABLE", "BLOCKED", "AVAILABLE")


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))], 2)


@dataclass(slots=True)
class Change:
    index: int
    evse: tuple[str, str]
    status: str
    stamp: str
    committed_ns: int = 0


async def drive(dsn: str, evses: list[tuple[str, str]], updates: int, rate: float, drivers: int,
                t0: dt.datetime) -> list[Change]:
    """Commit the changes; each is stamped T0 + index ms (unique, increasing) and timed right after its commit."""
    from app.db.pool import create_pool
    from app.modules.owned import set_evse_status
    from app.schemas.types import format_datetime

    changes = []
    for i in range(updates):
        at = t0 + dt.timedelta(milliseconds=i)
        changes.append(Change(i, evses[i % len(evses)], STATUSES[(i // len(evses)) % len(STATUSES)],
                              format_datetime(at)))
    pool = await create_pool(dsn, drivers, drivers)
    index = {evse: k for k, evse in enumerate(evses)}
    start = time.monotonic()

    async def driver(d: int) -> None:
        # Driver d commits the changes of EVSEs d, d + drivers, ...: one EVSE's changes commit in order.
        for c in changes:
            if index[c.evse] % drivers != d:
                continue
            if rate > 0:
                await asyncio.sleep(max(0.0, start + c.index / rate - time.monotonic()))
            await set_evse_status(pool, c.evse[0], c.evse[1], c.status, t0 + dt.timedelta(milliseconds=c.index))
            c.committed_ns = time.monotonic_ns()

    try:
        await asyncio.gather(*(driver(d) for d in range(drivers)))
    finally:
        await pool.close()
    return changes


async def final_states(dsn: str, evses: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """The CPO's final (status, last_updated) of each EVSE, from its database."""
    asked = set(evses)
    wanted = {loc for loc, _ in evses}
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id, data::text AS d FROM locations WHERE id = ANY($1::text[])", list(wanted))
    finally:
        await conn.close()
    out = {}
    for r in rows:
        for e in json.loads(r["d"]).get("evses") or ():
            if (r["id"], str(e["uid"])) in asked:
                out[(r["id"], str(e["uid"]))] = (e.get("status"), e.get("last_updated"))
    return out


def analyse(records: list[Record], changes: list[Change], healthy: set[int], converging: set[int],
            final: dict[tuple[str, str], tuple[str, str]]) -> dict[str, Any]:
    """Latency, loss and duplicates from the receivers' records (see the module docstring for the definitions).
    `healthy`: receivers whose latency counts; `converging`: receivers expected to hold the final state."""
    by_stamp = {c.stamp: c for c in changes}
    first_commit = min(c.committed_ns for c in changes)
    latencies: dict[int, list[float]] = defaultdict(list)
    seen: set[tuple[int, str]] = set()
    duplicates = reordered = 0
    deliveries: dict[int, int] = defaultdict(int)
    last_arrival: dict[int, int] = {}
    state: dict[tuple[int, tuple[str, str]], tuple[str, str]] = {}
    newest: dict[tuple[int, tuple[str, str]], int] = {}
    """Per receiver and EVSE: the newest change received (by index: stamps are not all the same length)."""
    for rec in records:
        r, method, _path, t_ns = rec[0], rec[1], rec[2], rec[3]
        if method not in ("PUT", "PATCH") or not rec[9]:
            continue
        deliveries[r] += 1
        last_arrival[r] = max(last_arrival.get(r, 0), t_ns)
        for loc, uid, status, stamp in rec[9]:
            key = (r, (loc, uid))
            state[key] = (status or "", stamp or "")
            change = by_stamp.get(stamp or "")
            if change is None or change.evse != (loc, uid):
                continue
            if change.index < newest.get(key, -1):
                reordered += 1
            newest[key] = max(newest.get(key, -1), change.index)
            if (r, change.stamp) in seen:
                duplicates += 1
                continue
            seen.add((r, change.stamp))
            latencies[r].append((t_ns - change.committed_ns) / 1e6)
    # Changes neither delivered nor superseded (a later change of the same EVSE delivered to that receiver).
    latest_delivered: dict[tuple[int, tuple[str, str]], int] = {}
    for r, stamp in seen:
        c = by_stamp[stamp]
        key = (r, c.evse)
        latest_delivered[key] = max(latest_delivered.get(key, -1), c.index)
    superseded = unsuperseded = wrong_final = 0
    examples: list[dict[str, Any]] = []
    for r in converging:
        for c in changes:
            if (r, c.stamp) in seen:
                continue
            if latest_delivered.get((r, c.evse), -1) > c.index:
                superseded += 1
            else:
                unsuperseded += 1
        for evse, (status, stamp) in final.items():
            if state.get((r, evse)) != (status, stamp):
                wrong_final += 1
                if len(examples) < 5:
                    examples.append({"receiver": r, "evse": "/".join(evse), "cpo": [status, stamp],
                                     "receiver_has": state.get((r, evse)),
                                     "arrivals": [s for rec in records if rec[0] == r for s in rec[9]
                                                  if (s[0], s[1]) == evse][-4:]})
    healthy_lat = [x for r in healthy for x in latencies[r]]
    end_ns = max((last_arrival[r] for r in healthy if r in last_arrival), default=first_commit)
    window = max((end_ns - first_commit) / 1e9, 1e-9)
    healthy_deliveries = sum(deliveries[r] for r in healthy)
    return {
        "deliveries": healthy_deliveries,
        "deliveries_all_receivers": sum(deliveries.values()),
        "window_s": round(window, 3),
        "deliveries_per_s": round(healthy_deliveries / window, 1),
        "updates_per_s": round(len(changes) * len(healthy) / window, 1),
        "p50_ms": pct(healthy_lat, 50), "p90_ms": pct(healthy_lat, 90), "p99_ms": pct(healthy_lat, 99),
        "max_ms": pct(healthy_lat, 100),
        "latency_samples": len(healthy_lat),
        "lost": wrong_final + unsuperseded, "lost_final_state": wrong_final, "lost_not_superseded": unsuperseded,
        "superseded": superseded, "duplicates": duplicates, "reordered": reordered, "lost_examples": examples,
        "per_receiver_p99_ms": {str(r): pct(latencies[r], 99) for r in sorted(latencies)},
    }


# --- driving the process from another program ------------------------------------------------------------

class ReceiversProcess:
    """`fanout_receivers.py` as a child process (its own session, stopped by its pid) and its control port."""

    def __init__(self, n: int, base_port: int, control_port: int, *, party_prefix: str = "R",
                 log: Path | None = None, python: str = sys.executable) -> None:
        self.n, self.base_port, self.control_port = n, base_port, control_port
        with (log.open("ab") if log else open(os.devnull, "wb")) as out:
            self.proc = subprocess.Popen(
                [python, str(Path(__file__).resolve()), "--receivers", str(n), "--base-port", str(base_port),
                 "--control-port", str(control_port), "--party-prefix", party_prefix],
                stdout=subprocess.PIPE, stderr=out, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"receivers did not start (exit {self.proc.wait(5)})")
        info = json.loads(line)
        self.versions_urls: list[str] = [r["versions_url"] for r in info["receivers"]]
        self.parties: list[tuple[str, str]] = [tuple(r["party"].split("/")) for r in info["receivers"]]  # type: ignore[misc]

    def _call(self, method: str, path: str, timeout: float = 120) -> Any:
        req = urllib.request.Request(f"http://{HOST}:{self.control_port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    def mode(self, ids: Sequence[int], mode: str, delay: float = 1.0) -> None:
        if ids:
            self._call("POST", f"/mode?ids={','.join(map(str, ids))}&mode={mode}&delay={delay}")

    def clear(self) -> None:
        self._call("POST", "/clear")

    def records(self, path: Path, clear: bool = True) -> list[Record]:
        self._call("POST", f"/dump?path={path}&clear={int(clear)}")
        return load_records(path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def load_records(path: Path) -> list[Record]:
    with path.open("rb") as f:
        return [tuple(_decode(line)) for line in f if line.strip()]  # type: ignore[misc]


# --- the ceiling: a bare keep-alive client ----------------------------------------------------------------

Request = tuple[str, str, list[tuple[str, str]], bytes]
"""(method, url, headers, body)."""


async def _ceiling_httpx(requests: list[Request], concurrency: int, timeout: float) -> tuple[int, int, float]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    ok = failed = 0
    it = iter(requests)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        async def worker() -> None:
            nonlocal ok, failed
            for method, url, headers, body in it:
                try:
                    r = await client.request(method, url, headers=headers, content=body)
                    ok += r.status_code < 300
                    failed += r.status_code >= 300
                except httpx.HTTPError:
                    failed += 1
        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok, failed, time.monotonic() - t0


async def _ceiling_sockets(requests: list[Request], concurrency: int, timeout: float) -> tuple[int, int, float]:
    """The bare minimum: `concurrency` keep-alive connections spread over the receivers the requests go
    to, each sending its share one after the other on raw asyncio streams."""
    by_host: dict[str, list[Request]] = {}
    for req in requests:
        by_host.setdefault(urlsplit(req[1]).netloc, []).append(req)
    per_host = max(1, concurrency // max(1, len(by_host)))
    ok = failed = 0

    async def connection(netloc: str, share: list[Request]) -> None:
        nonlocal ok, failed
        host, _, port = netloc.partition(":")
        reader, writer = await asyncio.open_connection(host, int(port or 80))
        try:
            for method, url, headers, body in share:
                parts = urlsplit(url)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                head = "".join(f"{k}: {v}\r\n" for k, v in headers)
                writer.write(f"{method} {target} HTTP/1.1\r\nHost: {netloc}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
                             .encode() + body)
                async with asyncio.timeout(timeout):
                    status_head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in status_head.split(b"\r\n")[1:]:
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    await reader.readexactly(length)
                if status_head[9:12].startswith(b"2"):
                    ok += 1
                else:
                    failed += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(connection(netloc, reqs[k::per_host]) for netloc, reqs in by_host.items()
                           for k in range(per_host)))
    return ok, failed, time.monotonic() - t0


def _ceiling_rust(requests: list[Request], concurrency: int, timeout: float) -> tuple[int, int, float]:
    """rust_core's courier (issue 9, stream R) driven directly: submit everything, drain completions."""
    import rust_core

    courier = rust_core.Courier(concurrency, timeout)  # type: ignore[attr-defined]
    ok = failed = 0
    try:
        t0 = time.monotonic()
        # Submit in windows of `concurrency` per host at most: the courier queues the rest itself.
        courier.submit([(i, m, u, h, b) for i, (m, u, h, b) in enumerate(requests)])
        done = 0
        while done < len(requests):
            for _id, status, _body, _headers, _elapsed, error in courier.completed(4096, 1.0):
                done += 1
                if error is None and status is not None and status < 300:
                    ok += 1
                else:
                    failed += 1
        return ok, failed, time.monotonic() - t0
    finally:
        courier.close()


def raw_ceiling(requests: list[Request], *, concurrency: int = 64, kind: str = "httpx",
                timeout: float = 30.0) -> dict[str, Any]:
    """Send every request with a bare keep-alive client; the rate it reaches is what the engine is compared with.
    kind: httpx (asyncio, one pool of `concurrency` connections), rust (rust_core.Courier, `concurrency`
    connections per host) or sockets (raw asyncio streams, `concurrency` connections spread over the hosts)."""
    if kind == "rust":
        ok, failed, took = _ceiling_rust(requests, concurrency, timeout)
    elif kind == "sockets":
        ok, failed, took = asyncio.run(_ceiling_sockets(requests, concurrency, timeout))
    else:
        ok, failed, took = asyncio.run(_ceiling_httpx(requests, concurrency, timeout))
    return {"client": kind, "requests": len(requests), "ok": ok, "failed": failed, "seconds": round(took, 3),
            "per_s": round(ok / took, 1) if took else 0.0, "concurrency": concurrency}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--receivers", type=int, default=50)
    ap.add_argument("--base-port", type=int, default=19700)
    ap.add_argument("--control-port", type=int, default=19699)
    ap.add_argument("--party-prefix", default="R", help="party ids are PREFIX + 2 digits (NL/R00 ...)")
    ap.add_argument("--slow", type=int, default=0, help="the first K receivers answer after --delay seconds")
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--down", type=int, default=0, help="the next K receivers are down (ports closed)")
    ap.add_argument("--out", help="write the records here at SIGTERM/SIGINT")
    args = ap.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

