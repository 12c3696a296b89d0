#!/usr/bin/env python3
"""Where a re-rating batch's time goes: each stage of `cdrs reprice` timed alone, one after the other, in one
process, over the first N stored CDRs of a database (e.g. one `macro_reprice.py --keep` left), µs per CDR.

    DATABASE_URL=postgresql://.../bench_reprice_xxxx python benchmarks/reprice_stages.py [--cdrs 20000] [--batch 1000]

Stages: read (COPY out in binary format, cut into batches of whole rows), scan (`StoredBatch`: rows cut, each CDR scanned),
lookups (tariff timelines, versions chosen and loaded, Location time zones), price (with and without breakdowns),
write (COPY binary into a temporary table like `reprice_results`). The worker overlaps read, price and write, and
runs them on every core, which is where its rate beyond this sequential sum comes from."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.reprice.batch import COLUMNS, Versions, Zones  # noqa: E402
from app.reprice.runs import Params  # noqa: E402
from app.reprice.worker import ROW_BYTES, stream_copy  # noqa: E402
from rust_core import StoredBatch  # noqa: E402


async def stages(dsn: str, n: int, batch: int) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        first, last = await conn.fetchrow("SELECT min(seq), max(seq) FROM (SELECT seq FROM cdrs ORDER BY seq LIMIT $1) s", n)
        bufs: list[bytes] = []

        async def keep(buf: bytes) -> None:
            bufs.append(buf)

        t: dict[str, float] = {}
        t0 = time.perf_counter()
        await stream_copy(conn, Params(), first, last, batch * ROW_BYTES, keep)
        t["read (COPY out)"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        batches = [StoredBatch(b) for b in bufs]
        t["scan (StoredBatch)"] = time.perf_counter() - t0
        count = sum(len(b) for b in batches)

        versions, zones = Versions(), Zones()
        t0 = time.perf_counter()
        asked = []
        for b in batches:
            keys = b.tariff_keys
            chosen = b.choose(await versions.timelines(conn, keys))
            asked.append((await versions.refs(conn, [(keys[k], pos) for k, pos in chosen]),
                          await zones.of(conn, b.location_keys)))
        t["lookups (timelines, versions, zones)"] = time.perf_counter() - t0

        out: dict[bool, list[bytes]] = {}
        for breakdown in (True, False):
            t0 = time.perf_counter()
            out[breakdown] = [b.price(refs, tz, versions.set, run_id=1, engine="stages", breakdown=breakdown)[0]
                              for b, (refs, tz) in zip(batches, asked, strict=True)]
            t[f"price ({'with' if breakdown else 'no'} breakdowns)"] = time.perf_counter() - t0

        for breakdown in (True, False):
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE stage_results (LIKE reprice_results INCLUDING ALL) ON COMMIT DROP")
                t0 = time.perf_counter()
                for payload in out[breakdown]:
                    await conn.copy_to_table("stage_results", source=memoryview(payload), columns=COLUMNS, format="binary")
                t[f"write (COPY in, {'with' if breakdown else 'no'} breakdowns)"] = time.perf_counter() - t0
        return {k: v / count * 1e6 for k, v in t.items()} | {"cdrs": count}
    finally:
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cdrs", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        raise SystemExit("set DATABASE_URL to a database holding stored CDRs (macro_reprice.py --keep makes one)")
    result = asyncio.run(stages(dsn, args.cdrs, args.batch))
    print(f"{int(result.pop('cdrs')):,} CDRs, load average {os.getloadavg()[0]:.1f}")
    for stage, us in result.items():
        print(f"{stage:42s} {us:7.1f} µs/CDR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
