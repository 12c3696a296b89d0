#!/usr/bin/env python3
"""Fan-out macro benchmark (issue 9): one CPO pushes EVSE status changes through a hub to N receivers on loopback.

    python benchmarks/macro_fanout.py --receivers 50 --updates 4000 [--slow K] [--down K] [--json OUT] [--quick]

Set-up, on fresh databases (new databases on DATABASE_URL's server, else an embedded PostgreSQL per instance):
1. A hub instance (party NL/HUB, role HUB) and a CPO instance (NL/EXA) with synthetic Locations (imported without
   pushes), each `ocpi-engine serve`; the receivers (`fanout_receivers.py`: one process, N sockets).
2. The hub registers every receiver with the normal handshake (versions, details, credentials POST), each as an
   eMSP party NL/R00.. admitted for that party; the CPO registers with the hub (`peer invite` on the hub,
   `peer register` on the CPO), so the CPO's only peer is the hub.
3. Both outboxes drain (initial sync, HubClientInfo: whatever registration queues), then K receivers are made
   slow (answer after 1 s) or down (ports closed) when asked.
Measured: N EVSE status changes on the CPO (`app.modules.owned.set_evse_status`, one transaction each, as the
`evse-status` command does, without a process start per change), over --evses EVSEs round-robin, from --drivers
concurrent connections, at --rate changes/s (0: as fast as they commit). Each change has its own `last_updated`
(a unique millisecond stamp), so every arrival names the change it carries. The CPO pushes each PATCH to the hub
(OCPI-to: the hub party: a broadcast), the hub fans it out to every receiver. With --direct there is no hub: the
receivers are the CPO's own eMSPs (the delivery engine's fan-out alone, for comparison).

Reported (JSON with --json):
- `deliveries_per_s`: Locations calls the healthy receivers got, over the time from the first change's commit to the
  last healthy arrival; `updates_per_s`: changes x healthy receivers over the same time (what was conveyed,
  coalesced updates included).
- `p50_ms`, `p99_ms`: from a change's commit (taken right after `set_evse_status` returned) to its arrival at a
  healthy receiver, over every first arrival of a change at a receiver. `slow_p99_ms` / `down_p99_ms`: the same p99
  in a run with --slow / --down (the healthy receivers only: what the issue compares with the plain run's p99).
- `lost` and `duplicates`. With coalescing a change superseded by a later change of the same EVSE before it was
  delivered is not lost: the receiver got the newer state instead. So, per receiver that is expected to have
  converged (healthy ones; slow ones when they converged within --settle; down ones only with --recover, which
  brings them back after the run):
  lost = (EVSEs whose last state received differs from the CPO's final state, read from its database)
       + (changes neither delivered nor superseded by a delivered later change of the same EVSE).
  `superseded` counts the changes coalesced away; `duplicates` the repeated arrivals of one change at one receiver
  (at-least-once delivery); `reordered` arrivals older than one already received for that EVSE.
- `raw_client_per_s`: in the same run, after the pipeline drained, the same PATCHes (same URLs, headers and body
  sizes) sent straight to the healthy receivers by a bare keep-alive client of the kind the engine's courier is
  (`--ceiling-client auto`: rust_core.Courier when OCPI_ENGINE_COURIER=rust, else httpx); `raw_sockets_per_s`: the
  same with raw asyncio sockets (what the receivers can take). `ratio_to_raw` = deliveries_per_s / raw_client_per_s.
- Outbox rows by state on both instances after the run (COALESCED: folded updates), CPU per process group.

Targets (2 cores): >= 10,000 deliveries/s, p99 < 100 ms, deliveries_per_s >= raw_client_per_s / 2, and the healthy
receivers' p99 with 5 slow at most twice the plain run's. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

HERE = Path(__file__).resolve().parent
for _p in (str(HERE), str(HERE.parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fanout_receivers import Change, ReceiversProcess, analyse, drive, final_states, raw_ceiling  # noqa: E402
from macro_http import BenchError, CpuSampler, Service, bench_main, free_port  # noqa: E402

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CPO = ("NL", "EXA")
TARGETS = {"deliveries_per_s": 10_000, "p99_ms": 100, "ratio_to_raw": 0.5, "slow_p99_factor": 2.0}


def log(message: str) -> None:
    print(f"[macro_fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the two instances -------------------------------------------------------------------------------------

class Instance(Service):
    """macro_http's Service with a fixed port and base URL known before the server starts (registration needs
    the versions URL), and peers reachable on loopback."""

    def __init__(self, work: Path, name: str, log_level: str, extra_env: dict[str, str]) -> None:
        super().__init__(work / name, log_level)
        self.name = name
        self.port = free_port()
        self.extra_env = extra_env

    def prepare(self) -> None:
        self.prepare_database()
        self.env.update({"OCPI_ENGINE_PORT": str(self.port), "OCPI_ENGINE_BASE_URL": f"http://127.0.0.1:{self.port}",
                         "OCPI_ENGINE_ALLOWED_PEER_NETWORKS": "127.0.0.0/8", **self.extra_env})

    @property
    def versions_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ocpi/versions"

    def settings(self) -> Any:
        from app.config import Settings
        return Settings.from_env(self.env)

    async def outbox_states(self) -> dict[str, int]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT state, count(*) AS n FROM outbox GROUP BY state")
        finally:
            await conn.close()
        return {r["state"]: int(r["n"]) for r in rows}

    async def why_open(self) -> str:
        """What the open rows and the peers' delivery status say (for an error message)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT state, left(last_error, 200) AS e, count(*) AS n, max(attempts) AS a "
                                    "FROM outbox WHERE state IN ('PENDING', 'SENDING') GROUP BY 1, 2")
            peers = await conn.fetch("SELECT peer_id, status, failures, left(last_error, 200) AS e FROM peer_delivery "
                                     "WHERE status <> 'CONNECTED' OR failures > 0")
        finally:
            await conn.close()
        return (f"open rows {[dict(r) for r in rows]}; peers not CONNECTED or failing {[dict(r) for r in peers]}; "
                f"log tail:\n{self.log_tail(1500)}")

    async def open_rows(self, peer_ids: list[int] | None = None) -> int:
        """Rows still to deliver (PENDING, SENDING), to these peers or to all."""
        conn = await asyncpg.connect(self.dsn)
        try:
            if peer_ids is None:
                return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE state IN ('PENDING', 'SENDING')"))
            return int(await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE state IN ('PENDING', 'SENDING') AND peer_id = ANY($1::int[])",
                peer_ids))
        finally:
            await conn.close()


async def register_receivers(hub: Instance, receivers: ReceiversProcess, parallel: int = 8) -> list[int]:
    """The hub (or the CPO with --direct) registers every receiver with the normal handshake, each admitted for its
    own eMSP party. Returns its peer id of each receiver (in receiver order)."""
    from app.db.peers import PeerParty
    from app.db.pool import create_pool
    from app.ocpi.client import OcpiClient
    from app.ocpi.credentials import register
    from app.secrets_vault import TokenVault

    settings = hub.settings()
    vault = TokenVault.load(settings.secret_key, settings.key_file)
    pool = await create_pool(hub.dsn, 2, parallel)
    client = OcpiClient(settings.request_timeout, settings.peer_addresses)
    sem = asyncio.Semaphore(parallel)

    async def one(i: int) -> int:
        cc, pid = receivers.parties[i]
        async with sem:
            peer = await register(pool, vault, client, settings, receivers.versions_urls[i], f"token-a-{i}",
                                  f"receiver-{i}", [PeerParty(cc, pid, "EMSP")])
        return int(peer.id)

    try:
        return list(await asyncio.gather(*(one(i) for i in range(len(receivers.versions_urls)))))
    finally:
        await client.aclose()
        await pool.close()


def write_locations(path: Path, evses: int, seed: int) -> int:
    from app.demo.synthetic import iter_locations

    n = count = 0
    with path.open("wb") as out:
        while count < evses:
            batch = list(iter_locations(100, seed, CPO[0], CPO[1], start=n + 1))
            for loc in batch:
                out.write(msgspec.json.encode(loc) + b"\n")
                count += len(loc.get("evses") or ())
            n += len(batch)
            if count >= evses:
                break
    return n


async def our_evses(cpo: Instance, n: int) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(cpo.dsn)
    try:
        rows = await conn.fetch("SELECT id, data::text AS d FROM locations ORDER BY id")
    finally:
        await conn.close()
    out = [(r["id"], str(e["uid"])) for r in rows for e in json.loads(r["d"]).get("evses") or ()]
    return out[:n]


# --- the run ------------------------------------------------------------------------------------------------

async def wait_drained(inst: Instance, peer_ids: list[int] | None, timeout: float, what: str) -> float:
    """Wait until no row to these peers is PENDING/SENDING; returns the seconds waited. Fails after `timeout` s
    without progress."""
    t0 = last_change = time.monotonic()
    last = -1
    while True:
        n = await inst.open_rows(peer_ids)
        if n == 0:
            return time.monotonic() - t0
        if n != last:
            last, last_change = n, time.monotonic()
        if time.monotonic() - last_change > timeout:
            raise BenchError(f"{what}: {n} rows still open on the {inst.name} after {timeout:.0f} s without progress; "
                             f"{await inst.why_open()}")
        await asyncio.sleep(0.05)


def build_ceiling(changes: list[Change], receivers: ReceiversProcess, healthy: list[int], tokens: dict[int, str],
                  limit: int) -> list[tuple[str, str, list[tuple[str, str]], bytes]]:
    from app.modules.common import id_path

    out = []
    for k in range(limit):
        c = changes[k % len(changes)]
        r = healthy[k % len(healthy)]
        base = receivers.versions_urls[r].removesuffix("/ocpi/versions")
        url = f"{base}{V}/receiver/locations" + id_path([CPO[0], CPO[1], c.evse[0], c.evse[1]])
        cc, pid = receivers.parties[r]
        headers = [("Authorization", "Token " + base64.b64encode(tokens[r].encode()).decode()),
                   ("Content-Type", "application/json"), ("X-Request-ID", str(uuid.uuid4())),
                   ("X-Correlation-ID", str(uuid.uuid4())), ("OCPI-from-country-code", HUB[0]),
                   ("OCPI-from-party-id", HUB[1]), ("OCPI-to-country-code", cc), ("OCPI-to-party-id", pid)]
        out.append(("PATCH", url, headers, msgspec.json.encode({"status": c.status, "last_updated": c.stamp})))
    return out


async def receiver_tokens(hub: Instance, peer_ids: list[int]) -> dict[int, str]:
    from app.secrets_vault import TokenVault

    settings = hub.settings()
    vault = TokenVault.load(settings.secret_key, settings.key_file)
    conn = await asyncpg.connect(hub.dsn)
    try:
        rows = {r["id"]: r["token_out"] for r in await conn.fetch(
            "SELECT id, token_out FROM peers WHERE id = ANY($1::int[])", peer_ids)}
    finally:
        await conn.close()
    return {i: vault.decrypt(rows[pid]) for i, pid in enumerate(peer_ids)}


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    own_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="ocpi-bench-fanout-")) if own_work else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    extra = {"OCPI_ENGINE_LOG_LEVEL": args.log_level.upper()}
    for name, value in (("OCPI_ENGINE_COURIER", args.courier), ("OCPI_ENGINE_DELIVERY_WINDOW", args.window)):
        if value:
            extra[name] = str(value)
    hub = Instance(work, "hub", args.log_level.upper(), extra)
    cpo = Instance(work, "cpo", args.log_level.upper(), extra)
    fan = cpo if args.direct else hub
    """The instance that fans out: the hub, or with --direct the CPO itself (receivers are its own eMSPs)."""
    instances = [cpo] if args.direct else [cpo, hub]
    receivers: ReceiversProcess | None = None
    slow = list(range(args.slow))
    down = list(range(args.slow, args.slow + args.down))
    healthy = [i for i in range(args.receivers) if i not in slow and i not in down]
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": {"cores": os.cpu_count(), "python": platform.python_version(), "database": hub.mode,
                        "courier": args.courier},
        "targets": TARGETS,
    }
    try:
        log(f"work folder {work}; database: {hub.mode}")
        for inst in instances:
            inst.prepare()
        report["environment"]["courier"] = getattr(fan.settings(), "courier", "python")
        if not args.direct:
            hub.cli("party", "add", HUB[0], HUB[1], "HUB", "--name", "Bench hub")
        cpo.cli("party", "add", CPO[0], CPO[1], "CPO", "--name", "Bench CPO")
        locations = work / "locations.jsonl"
        n_loc = write_locations(locations, args.evses, args.seed)
        cpo.cli("import", "locations", str(locations), "--no-push", "--no-progress")
        if not args.direct:
            hub.start_server(args.workers, hub.port, None)
        cpo.start_server(args.workers, cpo.port, None)
        receivers = ReceiversProcess(args.receivers, args.base_port, args.base_port - 1, log=work / "receivers.log")
        t = time.monotonic()
        peer_ids = asyncio.run(register_receivers(fan, receivers))
        log(f"the {fan.name} registered {len(peer_ids)} receivers in {time.monotonic() - t:.1f} s")
        if not args.direct:
            token_a = hub.cli("peer", "invite", "--label", "cpo", "--party", f"{CPO[0]}/{CPO[1]}/CPO").stdout \
                .split("token A:")[1].split()[0]
            cpo.cli("peer", "register", "--label", "hub", "--", hub.versions_url, token_a)
        evses = asyncio.run(our_evses(cpo, args.evses))
        if len(evses) < args.evses:
            raise BenchError(f"only {len(evses)} EVSEs in {n_loc} locations")
        t = time.monotonic()
        asyncio.run(wait_drained(cpo, None, args.settle, "set-up (CPO)"))
        if not args.direct:
            asyncio.run(wait_drained(hub, None, args.settle, "set-up (hub)"))
        log(f"set-up pushes drained in {time.monotonic() - t:.1f} s; {len(evses)} EVSEs in {n_loc} locations")
        receivers.mode(slow, "slow", 1.0)
        receivers.mode(down, "down")
        receivers.clear()
        report["setup_outbox"] = {i.name: asyncio.run(i.outbox_states()) for i in instances}

        assert fan.proc is not None
        sampler = CpuSampler(fan.proc.pid, generator_is_child=False)
        sampler.start()
        t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
        log(f"driving {args.updates} changes over {len(evses)} EVSEs, {args.drivers} drivers, "
            f"rate {args.rate or 'unpaced'}; {len(healthy)} healthy, {len(slow)} slow, {len(down)} down receivers")
        t = time.monotonic()
        changes = asyncio.run(drive(cpo.dsn, evses, args.updates, args.rate, args.drivers, t0))
        drive_s = time.monotonic() - t
        log(f"committed {args.updates} changes in {drive_s:.1f} s ({args.updates / drive_s:,.0f}/s)")
        if not args.direct:
            asyncio.run(wait_drained(cpo, None, args.settle, "CPO to hub"))
        asyncio.run(wait_drained(fan, [peer_ids[i] for i in healthy], args.settle, "to the healthy receivers"))
        cpu = sampler.stop()
        converging = set(healthy)
        slow_converged = None
        if slow:
            try:
                asyncio.run(wait_drained(fan, [peer_ids[i] for i in slow], args.settle, "to the slow receivers"))
                converging |= set(slow)
                slow_converged = True
            except BenchError as exc:
                log(f"slow receivers did not converge: {exc}")
                slow_converged = False
        down_open = asyncio.run(fan.open_rows([peer_ids[i] for i in down])) if down else 0
        recovered = None
        if down and args.recover:
            # Back up: each down receiver must end with the CPO's final state of every EVSE (what changed while
            # it was away reaches it once the engine's probe finds it answering again).
            receivers.mode(down, "up")
            t = time.monotonic()
            try:
                asyncio.run(wait_drained(fan, [peer_ids[i] for i in down], args.settle, "to the recovered receivers"))
                recovered = round(time.monotonic() - t, 1)
            except BenchError as exc:
                log(f"recovered receivers did not converge: {exc}")
            converging |= set(down)
        time.sleep(0.2)  # answers written after the outbox row was finished: none expected, but be fair
        records = receivers.records(work / "records.jsonl")
        final = asyncio.run(final_states(cpo.dsn, sorted({c.evse for c in changes})))
        result = analyse(records, changes, set(healthy), converging, final)
        result["changes"] = args.updates
        result["driver_commits_per_s"] = round(args.updates / drive_s, 1)
        if args.slow:
            result["slow_p99_ms"] = result["p99_ms"]
            result["slow_converged"] = slow_converged
        if args.down:
            result["down_p99_ms"] = result["p99_ms"]
            result["down_open_rows"] = down_open
            if args.recover:
                result["recovered_after_s"] = recovered
            result["down_open_rows_note"] = ("rows queued for the down receivers when the run ended: bounded by "
                                             "the EVSEs changed when coalescing works")
        result["cpu"] = cpu
        result["outbox"] = {i.name: asyncio.run(i.outbox_states()) for i in instances}
        if result["deliveries"] == 0:
            raise BenchError("no change reached a receiver: is the hub role (broadcast) in this build? "
                             f"outboxes {result['outbox']}\nlog:\n{fan.log_tail()}")

        tokens = asyncio.run(receiver_tokens(fan, peer_ids))
        n_ceiling = min(args.ceiling_requests, max(1, result["deliveries"]))
        kind = args.ceiling_client
        if kind == "auto":  # the kind of client the hub's engine uses
            kind = "rust" if getattr(fan.settings(), "courier", "python") == "rust" else "httpx"
        concurrency = args.ceiling_concurrency or max(len(healthy), 1) * 2
        raw = raw_ceiling(build_ceiling(changes, receivers, healthy, tokens, n_ceiling), concurrency=concurrency,
                          kind=kind)
        sockets = raw_ceiling(build_ceiling(changes, receivers, healthy, tokens, n_ceiling),
                              concurrency=max(len(healthy), 1) * 4, kind="sockets")
        result["raw_client"] = raw
        result["raw_client_per_s"] = raw["per_s"]
        result["raw_sockets_per_s"] = sockets["per_s"]
        result["ratio_to_raw"] = round(result["deliveries_per_s"] / raw["per_s"], 3) if raw["per_s"] else None
        report["result"] = result
        report["server_log_tail"] = {i.name: i.log_tail(1500) for i in instances}
        return report
    finally:
        if receivers is not None:
            receivers.stop()
        for inst in instances:
            with suppress(Exception):
                inst.close()
        if own_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def summary(report: dict[str, Any]) -> str:
    r = report["result"]
    c = report["config"]
    lines = [
        f"Fan-out {'direct from the CPO' if c['direct'] else 'through the hub'}: {c['updates']:,} EVSE changes x {c['receivers']} receivers ({c['slow']} slow, {c['down']} down), "
        f"{report['environment']['cores']} cores, courier {report['environment']['courier']}",
        f"  deliveries/s {r['deliveries_per_s']:,.0f} ({r['deliveries']:,} in {r['window_s']} s; updates conveyed/s "
        f"{r['updates_per_s']:,.0f}); driver {r['driver_commits_per_s']:,.0f} commits/s",
        f"  latency commit -> arrival: p50 {r['p50_ms']} ms, p90 {r['p90_ms']} ms, p99 {r['p99_ms']} ms, "
        f"max {r['max_ms']} ms ({r['latency_samples']:,} samples)",
        f"  lost {r['lost']} (final state {r['lost_final_state']}, not superseded {r['lost_not_superseded']}), "
        f"superseded {r['superseded']}, duplicates {r['duplicates']}, reordered {r['reordered']}",
        f"  raw client ({r['raw_client']['client']}): {r['raw_client_per_s']:,.0f}/s (ratio {r['ratio_to_raw']}); "
        f"raw sockets {r['raw_sockets_per_s']:,.0f}/s",
        f"  outbox after the run: {r['outbox']}",
    ]
    if "slow_p99_ms" in r:
        lines.append(f"  slow_p99_ms {r['slow_p99_ms']} (healthy receivers), slow converged: {r['slow_converged']}")
    if "down_p99_ms" in r:
        lines.append(f"  down_p99_ms {r['down_p99_ms']} (healthy receivers); rows open for the down ones: "
                     f"{r['down_open_rows']}" + (f"; back up, they converged after {r['recovered_after_s']} s "
                                                 "(counted in lost)" if "recovered_after_s" in r else ""))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--receivers", type=int, default=50)
    ap.add_argument("--updates", type=int, default=4000, help="EVSE status changes on the CPO")
    ap.add_argument("--evses", type=int, default=500, help="distinct EVSEs the changes go round-robin over")
    ap.add_argument("--rate", type=float, default=0.0, help="changes per second (0: as fast as they commit)")
    ap.add_argument("--drivers", type=int, default=4, help="concurrent connections committing changes")
    ap.add_argument("--slow", type=int, default=0, help="K receivers answer after 1 s")
    ap.add_argument("--down", type=int, default=0, help="K receivers are down (ports closed) during the run")
    ap.add_argument("--workers", type=int, default=1, help="`serve --workers` of each instance")
    ap.add_argument("--courier", choices=["", "python", "rust"], default="", help="OCPI_ENGINE_COURIER for both")
    ap.add_argument("--window", type=int, default=0, help="OCPI_ENGINE_DELIVERY_WINDOW (0: the default)")
    ap.add_argument("--ceiling-client", choices=["auto", "httpx", "rust", "sockets"], default="auto")
    ap.add_argument("--ceiling-requests", type=int, default=20_000, help="PATCHes the raw client sends at most")
    ap.add_argument("--ceiling-concurrency", type=int, default=0, help="default: 2 per healthy receiver")
    ap.add_argument("--settle", type=float, default=240.0,
                    help="seconds without progress before giving up (more than the backoff cap + a request timeout)")
    ap.add_argument("--base-port", type=int, default=19701, help="receiver i listens on BASE+i, control on BASE-1")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument("--json", type=Path, metavar="OUT")
    ap.add_argument("--recover", action="store_true",
                    help="after the run, bring the down receivers back and count them in `lost` too")
    ap.add_argument("--direct", action="store_true",
                    help="no hub: the receivers are the CPO's own eMSPs (the delivery engine's fan-out alone)")
    ap.add_argument("--quick", action="store_true", help="10 receivers, 500 changes over 100 EVSEs")
    ap.add_argument("--work-dir", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, records)")
    args = ap.parse_args(argv)
    if args.quick:
        args.receivers, args.updates, args.evses = min(args.receivers, 10), min(args.updates, 500), min(args.evses, 100)
    if args.slow + args.down >= args.receivers:
        ap.error("--slow + --down must leave at least one healthy receiver")
    if args.evses < args.drivers:
        ap.error("--evses must be at least --drivers")
    return args


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_args(argv), run_benchmark, summary, lambda report: bool(report["result"]["lost"]),
                      "servers stopped and databases cleaned up")


if __name__ == "__main__":
    sys.exit(main())
