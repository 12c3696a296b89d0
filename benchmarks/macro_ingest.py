#!/usr/bin/env python3
"""Macro benchmark of charging-event ingest with live pricing and N active sessions (issue 8):

(a) rust_core alone: `benchmarks/macro_session.py` (EventBatch + SessionEngine.apply, batches of meter readings).
(b) HTTP with PostgreSQL: a real `ocpi-engine serve` on loopback, `POST /api/v1/charging-events` (JSON Lines).

    python benchmarks/macro_ingest.py [--sessions 100000] [--duration 20] [--json out.json]
    python benchmarks/macro_ingest.py --quick          # 10,000 sessions, short runs (< 1 min)

Steps of (b), on a fresh database (a new database on DATABASE_URL's server, else the embedded PostgreSQL):
1. Our CPO party NL/EXA with tariff BENCH (the engine benchmarks' tariff: time-of-day, power and kWh restrictions,
   parking), synthetic Locations (`app.demo.synthetic`, every connector on BENCH) with at least N connectors.
2. An eMSP NL/MSP registered as a client (its sessions are queued in the outbox) and its synthetic Tokens in the
   token cache, whitelist ALWAYS or ALLOWED (authorization never asks the eMSP).
3. `serve --workers 1` (one worker owns the session engine; two would hand sessions back and forth through
   PostgreSQL), an operator API key.
4. Setup (timed, reported): N `session_started` events POSTed in batches, one session per connector.
   The session PUTs they queue for the eMSP (which has no endpoints) are dropped from the outbox before the
   measurement (--outbox-backlog keep leaves them to the dispatcher, which competes for PostgreSQL).
5. Measured: rounds of one `meter` reading per session (`session_events.meter_rounds`) POSTed in batches of
   --batch events over --concurrency connections, for --duration seconds or --max-events events. Every answer
   must be HTTP 200 with every event accepted. Latency: per request, from sending to the answer (sent after the
   transaction committed: the session state is updated).

Every figure comes with the same-run baseline: msgspec decoding of the same event bytes (parse only,
`session_events.parse_only`), events/s and the ratio to it. CPU use of the server, PostgreSQL and this process
is sampled from /proc over the measured run. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import macro_session  # noqa: E402
from macro_http import (  # noqa: E402
    HOST, BenchError, CpuSampler, RunResult, Service, _builtin_run, _on_sigterm, log)
from session_events import TARIFF, T0, meter_rounds, parse_only, ts  # noqa: E402

EVENTS_PATH = "/api/v1/charging-events"
CPO = ("NL", "EXA")
EMSP = ("NL", "MSP")
WHITELISTS = ("ALWAYS", "ALLOWED")
TARGETS = {"rust_core": 20_000, "http": 5_000}


# --- the data set -----------------------------------------------------------------------------------------

def write_places(work: Path, sessions: int, seed: int) -> tuple[Path, Path, list[Any]]:
    """Tariff BENCH of our CPO and synthetic Locations holding at least `sessions` usable connectors, all on
    BENCH; returns (tariffs file, locations file, connectors)."""
    from app.charging.generator import connectors_of
    from app.demo.synthetic import iter_locations

    tariffs = work / "tariffs.json"
    tariffs.write_text(json.dumps([{**TARIFF, "country_code": CPO[0], "party_id": CPO[1]}]))
    encode = msgspec.json.Encoder().encode
    connectors: list[Any] = []
    path = work / "locations.jsonl"
    with path.open("wb") as out:
        n = 0
        while len(connectors) < sessions:
            batch = list(iter_locations(1000, seed, *CPO, tariff_ids=("BENCH",), start=n + 1))
            n += len(batch)
            out.write(b"\n".join(encode(loc) for loc in batch) + b"\n")
            connectors += connectors_of(batch)
    return tariffs, path, connectors[:sessions]


def tokens(n: int, seed: int) -> list[dict[str, Any]]:
    """Valid synthetic tokens of our eMSP whose whitelist lets the token cache decide."""
    from app.demo.synthetic import iter_tokens

    out = []
    start = 1
    while len(out) < n:
        out += [t for t in iter_tokens(1000, seed, *EMSP, start=start) if t["valid"] and t["whitelist"] in WHITELISTS]
        start += 1000
    return out[:n]


async def _cache_tokens(dsn: str, env: dict[str, str], items: list[dict[str, Any]]) -> None:
    """The eMSP registered as a client (sessions are queued for it) and its tokens in our token cache, as if
    it had pushed them."""
    import asyncpg

    from app.config import Settings
    from app.db import objects
    from app.db.peers import PeerParty, create_registered
    from app.modules import tokens as token_module
    from app.schemas.types import to_utc
    from app.secrets_vault import TokenVault

    settings = Settings.from_env(env)
    vault = TokenVault.load(settings.secret_key, settings.key_file)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await create_registered(conn, vault, "bench emsp", [(PeerParty(*EMSP, "EMSP"), {"name": "bench emsp"})])
            peer_id = await conn.fetchval("SELECT id FROM peers WHERE label = 'bench emsp'")
            await objects.put_many(conn, token_module.MODULE.table, [
                ((t["country_code"], t["party_id"], t["uid"], t["type"]), json.dumps(t), to_utc(t["last_updated"]),
                 peer_id, None) for t in items])
    finally:
        await conn.close()


def start_lines(connectors: list[Any], toks: list[dict[str, Any]]) -> list[bytes]:
    """Session S{i} on connector i, token i (ids as `session_events.meter_rounds` names them)."""
    encode = msgspec.json.Encoder().encode
    return [encode({"event_id": f"s{i}", "session_id": f"S{i}", "type": "session_started", "time": ts(T0),
                    "location_id": c.location_id, "evse_uid": c.evse_uid, "connector_id": c.connector_id,
                    "token_uid": toks[i % len(toks)]["uid"], "token_type": toks[i % len(toks)]["type"],
                    "meter_wh": 0})
            for i, c in enumerate(connectors)]


# --- the load ---------------------------------------------------------------------------------------------

class _Answer(msgspec.Struct):
    accepted: int
    duplicates: int
    refused: int
    results: list[dict[str, Any]]


_answer = msgspec.json.Decoder(_Answer).decode


@dataclass(slots=True)
class EventsWorkload:
    """Pre-built request bodies (batches of JSON Lines) sent in order; every event must be accepted. Used by the
    built-in load generator of macro_http.py."""

    auth: str
    bodies: list[bytes]
    sizes: list[int]
    accepted: int = 0
    sent_events: int = 0
    _next: int = 0
    baseline_s: float = field(default=0.0)

    def request(self) -> bytes:
        body = self.bodies[self._next % len(self.bodies)]
        self.sent_events += self.sizes[self._next % len(self.bodies)]
        self._next += 1
        return (f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {self.auth}\r\n"
                f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    def check(self, status: int, headers: dict[bytes, bytes], body: bytes, result: RunResult) -> bool:
        if status != 200:
            result.error(f"HTTP {status}: {body[:300]!r}")
            return False
        answer = _answer(body)
        self.accepted += answer.accepted
        if answer.refused or answer.duplicates:
            bad = [r for r in answer.results if r["result"] != "accepted"][:2]
            result.error(f"{answer.refused} refused, {answer.duplicates} duplicates: {bad}")
            return False
        return True


def batches(lines: list[bytes], size: int) -> tuple[list[bytes], list[int]]:
    chunks = [lines[i:i + size] for i in range(0, len(lines), size)]
    return [b"\n".join(c) for c in chunks], [len(c) for c in chunks]


def post_all(port: int, auth: str, bodies: list[bytes], sizes: list[int], concurrency: int, duration: float,
             timeout: float, sampler: CpuSampler | None) -> tuple[RunResult, EventsWorkload]:
    workload = EventsWorkload(auth, bodies, sizes)
    result = RunResult("charging_events", "builtin")
    if sampler:
        sampler.start()
    asyncio.run(_builtin_run(port, workload, result, concurrency, duration, len(bodies), timeout))  # type: ignore[arg-type]
    if sampler:
        result.cpu = sampler.stop()
    return result, workload


def baseline(bodies: list[bytes], sent: int) -> float:
    """Seconds msgspec takes to decode the bodies that were sent (the first `sent` of them)."""
    t = time.perf_counter()
    for body in bodies[:sent]:
        parse_only(body)
    return time.perf_counter() - t


def figures(result: RunResult, workload: EventsWorkload, bodies: list[bytes]) -> dict[str, Any]:
    rate = workload.accepted / result.duration_s if result.duration_s else 0.0
    base_s = baseline(bodies, result.requests)
    base_rate = workload.sent_events / base_s if base_s else 0.0
    return {
        "requests": result.requests, "errors": result.errors, "error_samples": result.error_samples,
        "events_accepted": workload.accepted, "duration_s": round(result.duration_s, 2),
        "events_per_s": round(rate), "baseline_events_per_s": round(base_rate),
        "ratio_to_baseline": round(rate / base_rate, 3) if base_rate else None,
        "request_latency_ms": result.latency_ms, "cpu": result.cpu,
    }


def run_http(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="ocpi-bench-ingest-"))
    service = Service(work, "WARNING")
    out: dict[str, Any] = {"database": service.mode, "workers": 1, "batch": args.batch,
                           "concurrency": args.concurrency, "outbox_backlog": args.outbox_backlog}
    try:
        t = time.perf_counter()
        tariffs, locations, connectors = write_places(work, args.sessions, args.seed)
        toks = tokens(min(args.sessions, args.tokens), args.seed)
        service.prepare_database()
        service.cli("party", "add", *CPO, "CPO", "--name", "Bench Charging")
        service.cli("import", "tariffs", str(tariffs), "--no-push", "--no-progress")
        service.cli("import", "locations", str(locations), "--no-push", "--no-progress")
        asyncio.run(_cache_tokens(service.dsn, service.env, toks))
        key = service.cli("apikey", "create", "--label", "bench").stdout.strip()
        service.start_server(1, 0, None)
        out["data_setup_s"] = round(time.perf_counter() - t, 1)
        out["locations"] = int(service.fetchval("SELECT count(*) FROM locations"))
        out["tokens"] = len(toks)
        log(f"data set ready: {out['locations']} locations, {len(connectors)} connectors, {len(toks)} tokens")

        auth = f"Bearer {key}"
        bodies, sizes = batches(start_lines(connectors, toks), args.start_batch)
        res, wl = post_all(service.port, auth, bodies, sizes, args.concurrency, args.setup_timeout, args.timeout, None)
        if res.errors or wl.accepted != args.sessions:
            raise BenchError(f"session starts: {wl.accepted} of {args.sessions} accepted; {res.error_samples}")
        out["starts"] = figures(res, wl, bodies)
        log(f"{args.sessions} sessions started: {out['starts']['events_per_s']} starts/s")

        out["outbox_queued_by_starts"] = int(service.fetchval("SELECT count(*) FROM outbox"))
        if args.outbox_backlog == "drop":
            # The bench eMSP has no endpoints: the dispatcher would mark its queued PUTs DEAD one by one while the
            # readings are measured, competing with the ingest for PostgreSQL.
            service.fetchval("UPDATE outbox SET state = 'DEAD', last_error = 'benchmark: dropped' WHERE state = 'PENDING'")
        lines = [line for rnd in meter_rounds(args.sessions, args.rounds) for line in rnd]
        bodies, sizes = batches(lines[:args.max_events], args.batch)
        sampler = CpuSampler(service.proc.pid if service.proc else None, generator_is_child=False)
        res, wl = post_all(service.port, auth, bodies, sizes, args.concurrency, args.duration, args.timeout, sampler)
        if res.errors:
            raise BenchError(f"meter readings: {res.errors} bad answers: {res.error_samples}")
        out["meter"] = figures(res, wl, bodies)
        out["active_sessions"] = int(service.fetchval("SELECT count(*) FROM charging_sessions WHERE status = 'ACTIVE'"))
        if args.hold:
            log(f"holding the server on port {service.port} for {args.hold:g} s")
            time.sleep(args.hold)
    finally:
        service.close()
        shutil.rmtree(work, ignore_errors=True)
    return out


def run_rust(args: argparse.Namespace) -> dict[str, Any]:
    return macro_session.run(args.sessions, args.rust_rounds, args.rust_batch)


# --- report -----------------------------------------------------------------------------------------------

def summary(report: dict[str, Any]) -> str:
    rows = [("path", "events/s", "baseline ev/s", "ratio", "p50 ms", "p99 ms", "target")]
    if "rust_core" in report:
        r = report["rust_core"]
        rows.append((f"rust_core (batches of {r['batch']})", f"{r['events_per_sec']:,}",
                     f"{r['baseline_events_per_sec']:,}", f"{r['ratio_to_baseline']:.2f}", f"{r['batch_p50_ms']}",
                     f"{r['batch_p99_ms']}", f"{TARGETS['rust_core']:,}"))
    if "http" in report:
        h = report["http"]
        for name in ("starts", "meter"):
            m = h[name]
            lat = m["request_latency_ms"]
            rows.append((f"HTTP {name} (batches of {h['batch'] if name == 'meter' else report['config']['start_batch']}"
                         f", c={h['concurrency']})", f"{m['events_per_s']:,}", f"{m['baseline_events_per_s']:,}",
                         f"{m['ratio_to_baseline']}", f"{lat.get('p50')}", f"{lat.get('p99')}",
                         f"{TARGETS['http']:,}" if name == "meter" else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"Charging-event ingest, {report['config']['sessions']:,} active sessions, outbox backlog "
             f"{report['config']['outbox_backlog']} "
             f"(load average before: {report['environment']['loadavg_before']})"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000, help="active sessions")
    ap.add_argument("--quick", action="store_true", help="10,000 sessions, 5 s of HTTP load (under a minute)")
    ap.add_argument("--paths", default="rust,http", help="comma-separated: rust (a), http (b)")
    ap.add_argument("--rust-rounds", type=int, default=3, help="(a) meter readings per session")
    ap.add_argument("--rust-batch", type=int, default=5_000, help="(a) events per EventBatch")
    ap.add_argument("--batch", type=int, default=1_000, help="(b) meter events per request")
    ap.add_argument("--start-batch", type=int, default=1_000, help="(b) session starts per request (setup)")
    ap.add_argument("--concurrency", "-c", type=int, default=2, help="(b) concurrent connections")
    ap.add_argument("--rounds", type=int, default=3, help="(b) meter readings prepared per session")
    ap.add_argument("--duration", type=float, default=20.0, help="(b) seconds of measured load at most")
    ap.add_argument("--max-events", type=int, default=300_000, help="(b) meter events at most")
    ap.add_argument("--tokens", type=int, default=20_000, help="(b) distinct tokens the sessions use")
    ap.add_argument("--outbox-backlog", choices=["drop", "keep"], default="drop",
                    help="(b) the session PUTs the starts queued for the bench eMSP (which has no endpoints): dropped "
                         "before the readings are measured, or kept (the dispatcher marks them DEAD one by one, "
                         "competing for PostgreSQL during the measurement)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take")
    ap.add_argument("--setup-timeout", type=float, default=600.0, help="(b) seconds the session starts may take")
    ap.add_argument("--hold", type=float, default=0.0, help="(b) keep the server this long after the run (profiling)")
    ap.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON to FILE")
    args = ap.parse_args(argv)
    if args.quick:
        args.sessions, args.duration, args.rust_rounds = min(args.sessions, 10_000), min(args.duration, 5.0), 2
    args.path_list = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not args.path_list or any(p not in ("rust", "http") for p in args.path_list):
        ap.error("--paths takes rust and/or http")
    if args.sessions < 1 or args.batch < 1 or args.start_batch < 1 or args.concurrency < 1:
        ap.error("--sessions, --batch, --start-batch and --concurrency must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)  # cleanup (server, database) runs on SIGTERM too
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "path_list"},
        "environment": {"cores": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
                        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
    }
    t = time.perf_counter()
    if "rust" in args.path_list:
        log("(a) rust_core alone")
        report["rust_core"] = run_rust(args)
    if "http" in args.path_list:
        log("(b) HTTP with PostgreSQL")
        report["http"] = run_http(args)
    report["environment"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = round(time.perf_counter() - t, 1)
    print(summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
