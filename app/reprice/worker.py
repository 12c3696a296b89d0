"""A re-rating worker: claims partitions of a run (SKIP LOCKED), streams their CDR rows out of PostgreSQL with COPY (binary),
hands the bytes in batches to `reprice.batch.price_copy` (rust_core prices each CDR with our tariff version at its
session's start) and COPYs the result rows it returns (binary format) in. The three overlap: while batch k is
priced (GIL released), batch k+1 is read (`reader`) and batch k-1 written (`writer`); `lookup` answers pricing's
queries. No Python object is made per CDR.

- Exactly once: a partition's results and its DONE are written in one transaction on the worker's writer
  connection; a worker that dies rolls them back, and a worker whose partition was taken over writes nothing (its
  DONE matches no row, and the results' key (run, seq) refuses a second copy).
- Liveness: the worker holds a session advisory lock (runs.LOCK_CLASS, its id) on its own connection
  (`app.db.liveness`); a CLAIMED partition whose worker holds no lock is PENDING again.
- Constant memory: at most three batches at a time (the COPY callback waits for the batch before last, so
  PostgreSQL waits for us).
- COPY, not a server-side cursor: COPY's bytes go to rust_core whole, where the cursor hands Python a row object
  per CDR to take apart (benchmarks/macro_reprice.py measures both reads alone)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db.liveness import LifeSign, holders_sql
from app.reprice import runs
from app.reprice.batch import COLUMNS, Versions, Zones, price_copy
from app.reprice.runs import Params, Stats
from rust_core import copy_cut

Handler = Callable[[bytes], Awaitable[None]]
"""Receives whole COPY rows (binary format), about a batch of them."""

ROW_BYTES = 2500
"""About the size of a stored CDR's row in binary COPY: `Options.batch` rows make a piece of this many times."""

_CLAIM = """
UPDATE reprice_partitions p SET state = 'CLAIMED', claimed_by = $2, claimed_at = now(), attempts = p.attempts + 1
WHERE (p.run_id, p.first_seq) = (
    SELECT run_id, first_seq FROM reprice_partitions WHERE run_id = $1 AND state = 'PENDING'
    ORDER BY first_seq LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING p.first_seq, p.last_seq"""

_RECLAIM = f"""
UPDATE reprice_partitions SET state = 'PENDING', claimed_by = NULL, claimed_at = NULL
WHERE run_id = $1 AND state = 'CLAIMED' AND claimed_by NOT IN ({holders_sql(runs.LOCK_CLASS)})"""

_DONE = """
UPDATE reprice_partitions SET state = 'DONE', finished_at = now(), stats = $4::text::json
WHERE run_id = $1 AND first_seq = $2 AND state = 'CLAIMED' AND claimed_by = $3"""

_FINISH = """
UPDATE reprice_runs SET state = 'DONE', finished_at = now()
WHERE id = $1 AND state = 'RUNNING' AND NOT EXISTS (
    SELECT 1 FROM reprice_partitions WHERE run_id = $1 AND state <> 'DONE')"""

class TakenOver(Exception):
    """Our partition was reclaimed by another worker while we priced it (we looked dead): our results go."""


# --- reading CDRs out ------------------------------------------------------------------------------------

def _query(params: Params) -> tuple[str, list[Any]]:
    where, args = params.where(3)
    return (f"SELECT c.seq, c.country_code, c.party_id, c.id, c.data FROM cdrs c "
            f"WHERE c.seq BETWEEN $1 AND $2 AND {where} ORDER BY c.seq"), args


async def stream_copy(conn: asyncpg.Connection, params: Params, first: int, last: int, batch_bytes: int,
                      handle: Handler) -> None:
    """COPY (query) TO STDOUT in binary format, handed on in pieces of whole rows of about `batch_bytes` each
    (rust_core's `copy_cut` finds where the last whole row of a piece ends)."""
    sql, args = _query(params)
    parts: list[bytes] = []
    size = 0

    async def chunk(data: bytes) -> None:
        nonlocal size
        parts.append(data)
        size += len(data)
        if size >= batch_bytes:
            buf = b"".join(parts)
            cut = copy_cut(buf)
            if cut == 0:  # not one whole row yet
                parts[:] = [buf]
                return
            parts[:] = [buf[cut:]] if cut < len(buf) else []
            size = len(buf) - cut
            await handle(buf[:cut])

    await conn.copy_from_query(sql, first, last, *args, output=chunk, format="binary")
    if parts:
        await handle(b"".join(parts))


# --- the worker loop ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class Options:
    batch: int = 1000
    pause: float = 0.0
    """Seconds to sleep after each batch: go easy on a busy database."""


class Worker:
    def __init__(self, dsn: str, run_id: int, options: Options, engine_version: str,
                 progress: Callable[[int], object] = lambda n: None) -> None:
        self._dsn, self.run_id, self._opt, self._engine = dsn, run_id, options, engine_version
        self._progress = progress
        self.priced = 0

    async def run(self) -> None:
        """Price partitions of the run until none is left, then mark the run DONE (whoever finishes last)."""
        life = await LifeSign(runs.LOCK_CLASS).open(self._dsn)
        reader = await asyncpg.connect(self._dsn)
        writer = await asyncpg.connect(self._dsn)
        lookup = await asyncpg.connect(self._dsn)
        self._versions, self._zones = Versions(), Zones()
        try:
            row = await writer.fetchrow("SELECT params::text AS params, dry_run FROM reprice_runs WHERE id = $1",
                                        self.run_id)
            if row is None:
                raise LookupError(f"no re-rating run {self.run_id}")
            params, dry = Params.of_json(json.loads(row["params"])), bool(row["dry_run"])
            while True:
                part = await writer.fetchrow(_CLAIM, self.run_id, life.objid)
                if part is None:
                    if await writer.execute(_RECLAIM, self.run_id) != "UPDATE 0":
                        continue
                    if not await writer.fetchval("SELECT 1 FROM reprice_partitions WHERE run_id = $1 AND "
                                                 "state <> 'DONE' LIMIT 1", self.run_id):
                        await writer.execute(_FINISH, self.run_id)
                        return
                    await asyncio.sleep(0.5)  # the rest is claimed by live workers: wait in case one dies
                    continue
                try:
                    await self._partition(reader, writer, lookup, life.objid, params, dry, part["first_seq"], part["last_seq"])
                except (TakenOver, asyncpg.UniqueViolationError):
                    continue  # another worker took this partition over and finished it
        finally:
            for c in (reader, writer, lookup):
                await c.close()
            await life.close()

    async def _partition(self, reader: asyncpg.Connection, writer: asyncpg.Connection, lookup: asyncpg.Connection,
                         me: int, params: Params, dry: bool, first: int, last: int) -> None:
        stats = Stats()
        pricing: asyncio.Task[tuple[bytes, int]] | None = None
        writing: asyncio.Task[None] | None = None

        async def write(rows: bytes, size: int) -> None:
            if not dry:
                # A memoryview: asyncpg would take bytes for a file path.
                await writer.copy_to_table("reprice_results", source=memoryview(rows), columns=COLUMNS, format="binary")
            self._progress(size)
            if self._opt.pause:
                await asyncio.sleep(self._opt.pause)

        async def next_write() -> None:
            """The batch priced last goes to the writer (after the one before it)."""
            nonlocal pricing, writing
            if pricing is None:
                return
            rows, size = await pricing
            pricing = None
            if writing is not None:
                await writing
            writing = asyncio.create_task(write(rows, size))

        async def handle(batch: bytes) -> None:
            nonlocal pricing
            await next_write()
            pricing = asyncio.create_task(
                price_copy(lookup, self.run_id, self._engine, batch, stats, self._versions, self._zones,
                           breakdown=params.breakdown))

        try:
            async with writer.transaction():
                await stream_copy(reader, params, first, last, self._opt.batch * ROW_BYTES, handle)
                await next_write()
                if writing is not None:
                    await writing
                if await writer.execute(_DONE, self.run_id, first, me, json.dumps(stats.to_json())) == "UPDATE 0":
                    raise TakenOver
        finally:
            for task in (pricing, writing):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
        self.priced += stats.priced + stats.failed
