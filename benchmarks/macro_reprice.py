#!/usr/bin/env python3
"""Macro benchmark of re-rating stored CDRs from PostgreSQL (issue 10 §1): `ocpi-engine cdrs reprice` end to end.

    [DATABASE_URL=postgresql://...] python benchmarks/macro_reprice.py [--cdrs 1000000] [--workers 1] [--json out.json]

1. A fresh database on DATABASE_URL's server, else on an embedded server of its own (dropped afterwards), migrated; the generator's tariffs imported
   (`benchmarks/generate.py`, seed 42) and N of its CDRs loaded with COPY (streamed: never all in memory).
2. Same-run baselines: the COPY-out-only rate (`COPY (SELECT seq, keys, data ...) TO STDOUT (FORMAT binary)`, as
   the worker reads them, bytes counted, no parsing) and the server-side-cursor-only rate (`fetch(batch)` of the same
   rows, a Python row object each).
3. `ocpi-engine cdrs reprice --no-progress --json` as a child process, once with breakdowns (`copy`) and once
   without (`copy:totals`), each a new run writing every result with COPY: CDRs/s and the child's peak RSS (wait4).
   The worker reads with COPY only: its bytes go to rust_core whole, where a cursor's rows would each be a Python
   object to take apart.

The generated CDRs name tariffs with time-of-day restrictions and no Location is stored, so the pricer prices
without a time zone (as the CDR check does when it holds no Location): the work per CDR is the same."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

from generate import iter_cdr_lines, make_tariffs  # noqa: E402
from app.db.pool import with_database  # noqa: E402

SEED = 42
_QUERY = "SELECT c.seq, c.country_code, c.party_id, c.id, c.data FROM cdrs c ORDER BY c.seq"


class _Head(msgspec.Struct):
    class _Party(msgspec.Struct):
        country_code: str
        party_id: str

    country_code: str
    party_id: str
    id: str
    last_updated: str
    cdr_token: _Party


async def load(dsn: str, n: int, chunk: int = 20_000) -> float:
    """Tariffs through the importer (versions recorded by the trigger), CDRs with COPY; returns seconds."""
    import random

    from app.db import parties
    from app.db.migrate import migrate
    from app.db.pool import create_pool
    from app.modules.owned import MODULES, import_objects
    from app.schemas.types import to_utc

    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await parties.add(conn, "NL", "EXA", "CPO", "Bench CPO", "https://example.com")
    tariffs = make_tariffs(random.Random(SEED))
    pool = await create_pool(dsn, 1, 2)
    try:
        result = await import_objects(pool, MODULES["tariffs"], [json.dumps(t).encode() for t in tariffs], push=False)
        assert not result.errors, result.errors[:3]
    finally:
        await pool.close()
    decode = msgspec.json.Decoder(_Head).decode
    t0 = time.perf_counter()
    rows: list[tuple[Any, ...]] = []
    cols = ("country_code", "party_id", "id", "last_updated", "emsp_country_code", "emsp_party_id", "data")
    for line in iter_cdr_lines(n, SEED, tariffs):
        h = decode(line)
        rows.append((h.country_code.upper(), h.party_id.upper(), h.id.upper(), to_utc(h.last_updated),
                     h.cdr_token.country_code.upper(), h.cdr_token.party_id.upper(), line))
        if len(rows) >= chunk:
            await conn.copy_records_to_table("cdrs", records=rows, columns=cols)
            rows = []
    if rows:
        await conn.copy_records_to_table("cdrs", records=rows, columns=cols)
    await conn.execute("ANALYZE cdrs")
    await conn.close()
    return time.perf_counter() - t0


async def copy_only(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    size = 0

    async def chunk(data: bytes) -> None:
        nonlocal size
        size += len(data)

    t0 = time.perf_counter()
    await conn.copy_from_query(_QUERY, output=chunk, format="binary")  # as the worker reads them
    secs = time.perf_counter() - t0
    n = await conn.fetchval("SELECT count(*) FROM cdrs")
    await conn.close()
    return {"cdrs": n, "seconds": round(secs, 3), "cdrs_per_s": round(n / secs), "mb_per_s": round(size / secs / 1e6, 1)}


async def cursor_only(dsn: str, batch: int) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    n = 0
    t0 = time.perf_counter()
    async with conn.transaction(readonly=True):
        cursor = await conn.cursor(_QUERY.replace("c.data FROM", "c.data::text FROM"))
        while rows := await cursor.fetch(batch):
            n += len(rows)
    secs = time.perf_counter() - t0
    await conn.close()
    return {"cdrs": n, "seconds": round(secs, 3), "cdrs_per_s": round(n / secs)}


def reprice(dsn: str, source: str, workers: int, batch: int, data_dir: Path) -> dict[str, Any]:
    """One run end to end in a child process: its rate and peak RSS (of the worker processes too). `source`:
    copy, or copy:totals for a run without breakdowns (`--no-breakdown`)."""
    env = {**os.environ, "DATABASE_URL": dsn, "OCPI_ENGINE_DATA_DIR": str(data_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if source not in ("copy", "copy:totals"):
        raise SystemExit(f"--sources: {source!r} is neither copy nor copy:totals")
    cmd = [sys.executable, "-m", "app", "cdrs", "reprice", "--no-progress", "--json",
           "--workers", str(workers), "--batch", str(batch), *(["--no-breakdown"] if source == "copy:totals" else [])]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        secs = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"reprice ({source}) exited {proc.returncode}:\n{stderr[-3000:]}")
    run = json.loads(stdout)
    # Worker children (--workers > 1) are the grandchildren: their peak is in RUSAGE_CHILDREN once reaped.
    peak = max(usage.ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers > 1 else 0)
    return {"source": source, "workers": workers, "batch": batch, "run": run["run"], "cdrs": run["cdrs"],
            "priced": run["priced"], "failed": run["failed"], "changed": run["changed"],
            "seconds": round(secs, 3), "cdrs_per_s": round(run["cdrs"] / secs), "peak_rss_mb": round(peak / 1024, 1)}


async def _database(admin: str, name: str, create: bool) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cdrs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=1, help="cdrs reprice --workers (default 1)")
    ap.add_argument("--batch", type=int, default=1000, help="CDRs per pricing call (default 1000)")
    ap.add_argument("--sources", default="copy,copy:totals",
                    help="end-to-end runs, comma separated: copy (breakdowns kept) or copy:totals (--no-breakdown); "
                         "default both")
    ap.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the report as JSON")
    args = ap.parse_args(argv)
    from app.db.embedded import admin_or_scratch

    with admin_or_scratch("bench-reprice-pg-") as admin:
        return run(args, admin)


def run(args: argparse.Namespace, admin: str) -> int:
    """The benchmark on a fresh database made on `admin`'s server (dropped afterwards unless --keep)."""
    name = f"bench_reprice_{uuid.uuid4().hex[:8]}"
    dsn = with_database(admin, name)
    asyncio.run(_database(admin, name, True))
    try:
        load_s = asyncio.run(load(dsn, args.cdrs))
        print(f"loaded {args.cdrs} CDRs with COPY in {load_s:.1f} s", file=sys.stderr)
        report: dict[str, Any] = {"cdrs": args.cdrs, "seed": SEED, "cpus": os.cpu_count(),
                                  "load_avg_before": os.getloadavg()[0], "load_seconds": round(load_s, 2),
                                  "copy_out_only": asyncio.run(copy_only(dsn)),
                                  "cursor_only": asyncio.run(cursor_only(dsn, args.batch)), "reprice": []}
        with tempfile.TemporaryDirectory() as data_dir:
            for source in args.sources.split(","):
                report["reprice"].append(reprice(dsn, source, args.workers, args.batch, Path(data_dir)))
        report["load_avg_after"] = os.getloadavg()[0]
    finally:
        if args.keep:
            print(f"database kept: {dsn}", file=sys.stderr)
        else:
            asyncio.run(_database(admin, name, False))
    c, k = report["copy_out_only"], report["cursor_only"]
    print(f"COPY out only: {c['cdrs_per_s']:,} CDRs/s ({c['mb_per_s']} MB/s); cursor only: {k['cdrs_per_s']:,} CDRs/s")
    for r in report["reprice"]:
        print(f"reprice ({r['source']}, {r['workers']} worker(s)): {r['cdrs']:,} CDRs in {r['seconds']} s = "
              f"{r['cdrs_per_s']:,} CDRs/s, peak RSS {r['peak_rss_mb']} MB, {r['failed']} failed")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
