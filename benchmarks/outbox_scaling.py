#!/usr/bin/env python3
"""Measurements behind docs/scaling.md (issue 9 §3, "past one database"): what one PostgreSQL does with outbox-shaped
work, plain vs hash-partitioned by peer, and how fast a committed row wakes a consumer through LISTEN/NOTIFY vs NATS
(core and JetStream).

    DATABASE_URL=postgresql://... python benchmarks/outbox_scaling.py [--rows 100000] [--peers 50] [--nats 127.0.0.1:4222]

(A) Outbox throughput, for a plain table and for one hash-partitioned by peer_id (--partitions):
    enqueue: fan-out transactions of one row per peer (the hub's broadcast: `--peers` rows per transaction) from 2
    connections; drain: --workers connections, each claiming up to --batch PENDING rows of one peer at a time
    (`FOR UPDATE SKIP LOCKED`, peers taken round-robin) and finishing them with one UPDATE (the delivery engine's
    claim/finish pattern, without HTTP). Rows per second of each.
(B) Wake-up latency, N samples each, from the start of the writer's transaction (INSERT of a row) to the consumer
    being told: pg_notify in that transaction (LISTEN on another connection); commit, then a core NATS publish
    (subscriber on another connection); commit, then a JetStream publish (stream on file storage, push consumer),
    and the publisher's wait for JetStream's ack. The commit alone is measured too.

NATS is spoken over its text protocol with asyncio (no client library: the project does not depend on NATS); without
a NATS server (B) reports LISTEN/NOTIFY only. The database is a new one on DATABASE_URL's server, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))], 3)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": pct(values, 50), "p99_ms": pct(values, 99), "min_ms": round(min(values), 3),
            "max_ms": round(max(values), 3), "n": len(values)}


# --- (A) outbox throughput ------------------------------------------------------------------------------------

COLUMNS = """id bigserial, peer_id int NOT NULL, object_key text, state text NOT NULL DEFAULT 'PENDING',
             body bytea, claimed_by int, created_at timestamptz NOT NULL DEFAULT now()"""


async def create_tables(conn: asyncpg.Connection, partitions: int) -> None:
    await conn.execute(f"CREATE TABLE ob_plain ({COLUMNS}, PRIMARY KEY (id))")
    await conn.execute("CREATE INDEX ON ob_plain (peer_id, id) WHERE state = 'PENDING'")
    await conn.execute(f"CREATE TABLE ob_part ({COLUMNS}, PRIMARY KEY (peer_id, id)) PARTITION BY HASH (peer_id)")
    for i in range(partitions):
        await conn.execute(f"CREATE TABLE ob_part_{i} PARTITION OF ob_part FOR VALUES WITH (MODULUS {partitions}, "
                           f"REMAINDER {i})")
    await conn.execute("CREATE INDEX ON ob_part (peer_id, id) WHERE state = 'PENDING'")


async def enqueue(pool: asyncpg.Pool, table: str, rows: int, peers: int, connections: int = 2) -> float:
    body = b'{"status":"CHARGING","last_updated":"2027-01-01T00:00:00.000Z"}'
    per_txn = peers
    txns = rows // per_txn
    done = 0

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while done < txns:
                k = done
                done += 1
                await conn.execute(
                    f"INSERT INTO {table} (peer_id, object_key, body) "
                    "SELECT p, 'locations/NL/EXA/LOC' || $1::text, $2 FROM generate_series(1, $3) AS p",
                    str(k % 500), body, peers)
    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return txns * per_txn / (time.monotonic() - t0)


async def drain(pool: asyncpg.Pool, table: str, peers: int, workers: int, batch: int) -> float:
    claim = (f"UPDATE {table} SET state = 'SENDING', claimed_by = $3 WHERE (peer_id, id) IN ("
             f"SELECT peer_id, id FROM {table} WHERE peer_id = $1 AND state = 'PENDING' ORDER BY id LIMIT $2 "
             "FOR UPDATE SKIP LOCKED) RETURNING id")
    finish = f"UPDATE {table} SET state = 'DELIVERED' WHERE peer_id = $1 AND id = ANY($2::bigint[])"
    total = 0
    empty_rounds = [0] * workers

    async def worker(w: int) -> None:
        nonlocal total
        peer = w
        async with pool.acquire() as conn:
            while empty_rounds[w] < peers:
                ids = [r["id"] for r in await conn.fetch(claim, peer % peers + 1, batch, w)]
                if ids:
                    await conn.execute(finish, peer % peers + 1, ids)
                    total += len(ids)
                    empty_rounds[w] = 0
                else:
                    empty_rounds[w] += 1
                peer += workers
    t0 = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    return total / (time.monotonic() - t0)


async def throughput(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await create_tables(conn, args.partitions)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=args.workers, max_size=args.workers + 2)
    assert pool is not None
    out: dict[str, Any] = {"ob_plain": [], "ob_part": []}
    try:
        for k in range(args.repeat):  # alternating, so a busy moment of the machine does not favour one
            for table in (("ob_plain", "ob_part") if k % 2 == 0 else ("ob_part", "ob_plain")):
                await pool.execute(f"TRUNCATE {table}")
                enq = await enqueue(pool, table, args.rows, args.peers)
                await pool.execute(f"ANALYZE {table}")
                drn = await drain(pool, table, args.peers, args.workers, args.batch)
                left = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE state <> 'DELIVERED'")
                out[table].append({"enqueue_rows_per_s": round(enq), "claim_finish_rows_per_s": round(drn),
                                   "left": left})
                print(f"{table}: enqueue {enq:,.0f} rows/s, claim+finish {drn:,.0f} rows/s", file=sys.stderr)
    finally:
        await pool.close()
    return out


# --- (B) wake-up latency ----------------------------------------------------------------------------------------

class Nats:
    """Just enough of the NATS text protocol: CONNECT, PUB, SUB, MSG, PING/PONG."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter
        self.subs: dict[str, asyncio.Queue[tuple[int, bytes]]] = {}
        self.task: asyncio.Task[None] | None = None

    async def connect(self, host: str, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        await self.reader.readline()  # INFO
        self.writer.write(b'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\nPING\r\n')
        await self.writer.drain()
        while (await self.reader.readline()).strip() != b"PONG":
            pass
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            line = await self.reader.readline()
            if not line:
                return
            if line.startswith(b"MSG"):
                now = time.monotonic_ns()
                parts = line.split()
                payload = await self.reader.readexactly(int(parts[-1]) + 2)
                queue = self.subs.get(parts[2].decode())
                if queue is not None:
                    queue.put_nowait((now, payload[:-2]))
            elif line.startswith(b"PING"):
                self.writer.write(b"PONG\r\n")

    def sub(self, subject: str) -> asyncio.Queue[tuple[int, bytes]]:
        sid = str(len(self.subs) + 1)
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.subs[sid] = queue
        self.writer.write(f"SUB {subject} {sid}\r\n".encode())
        return queue

    def pub(self, subject: str, payload: bytes, reply: str = "") -> None:
        self.writer.write(f"PUB {subject} {reply} {len(payload)}\r\n".replace("  ", " ").encode() + payload + b"\r\n")

    async def request(self, subject: str, payload: bytes, timeout: float = 5) -> bytes:
        inbox = f"_INBOX.{uuid.uuid4().hex}"
        queue = self.sub(inbox)
        self.pub(subject, payload, inbox)
        await self.writer.drain()
        return (await asyncio.wait_for(queue.get(), timeout))[1]

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        self.writer.close()


async def wakeups(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    writer = await asyncpg.connect(dsn)
    listener = await asyncpg.connect(dsn)
    await writer.execute("CREATE TABLE IF NOT EXISTS wake (id bigserial PRIMARY KEY, body bytea)")
    out: dict[str, Any] = {}
    got: asyncio.Queue[int] = asyncio.Queue()
    await listener.add_listener("wake", lambda *_: got.put_nowait(time.monotonic_ns()))
    body = b"x" * 64

    commit_done = 0

    async def commit(notify: bool) -> int:
        """Returns when the transaction started; `commit_done`: when its COMMIT was acknowledged."""
        nonlocal commit_done
        t0 = time.monotonic_ns()
        async with writer.transaction():
            await writer.execute("INSERT INTO wake (body) VALUES ($1)", body)
            if notify:
                await writer.execute("SELECT pg_notify('wake', '')")
        commit_done = time.monotonic_ns()
        return t0

    commit_only, notify, notify_after = [], [], []
    for _ in range(args.samples):
        t0 = await commit(False)
        commit_only.append((commit_done - t0) / 1e6)
        t0 = await commit(True)
        t_wake = await got.get()
        notify.append((t_wake - t0) / 1e6)
        notify_after.append((t_wake - commit_done) / 1e6)
    out["commit_only"] = summary(commit_only)
    out["listen_notify"] = summary(notify)
    out["listen_notify_after_commit"] = summary(notify_after)
    print(f"commit {out['commit_only']}, LISTEN/NOTIFY {out['listen_notify']}", file=sys.stderr)
    if args.nats:
        host, _, port = args.nats.partition(":")
        pub, sub = Nats(), Nats()
        try:
            await pub.connect(host, int(port or 4222))
            await sub.connect(host, int(port or 4222))
        except OSError as exc:
            out["nats"] = f"not reachable: {exc}"
            return out
        try:
            core, core_after, js, js_after, js_ack = [], [], [], [], []
            queue = sub.sub("ocpi.wake")
            await sub.writer.drain()
            await asyncio.sleep(0.1)
            for _ in range(args.samples):
                t0 = await commit(False)
                pub.pub("ocpi.wake", b"1")
                await pub.writer.drain()
                t_wake = (await queue.get())[0]
                core.append((t_wake - t0) / 1e6)
                core_after.append((t_wake - commit_done) / 1e6)
            out["nats_core"] = summary(core)
            out["nats_core_after_commit"] = summary(core_after)
            stream = f"WAKE{uuid.uuid4().hex[:6].upper()}"
            created = json.loads(await pub.request(f"$JS.API.STREAM.CREATE.{stream}", json.dumps(
                {"name": stream, "subjects": [f"{stream.lower()}.>"], "storage": "file", "max_msgs": 100000}).encode()))
            if "error" in created:
                out["nats_jetstream"] = f"stream not created: {created['error']}"
                return out
            deliver = f"_DELIVER.{uuid.uuid4().hex}"
            jsq = sub.sub(deliver)
            await sub.writer.drain()
            consumer = json.loads(await sub.request(f"$JS.API.CONSUMER.CREATE.{stream}", json.dumps(
                {"stream_name": stream, "config": {"deliver_subject": deliver, "ack_policy": "none",
                                                   "deliver_policy": "new"}}).encode()))
            if "error" in consumer:
                out["nats_jetstream"] = f"consumer not created: {consumer['error']}"
            else:
                acks = pub.sub("_INBOX.acks")
                for _ in range(args.samples):
                    t0 = await commit(False)
                    pub.pub(f"{stream.lower()}.wake", b"1", "_INBOX.acks")
                    await pub.writer.drain()
                    t_ack = (await acks.get())[0]
                    js_ack.append((t_ack - t0) / 1e6)
                    t_wake = (await jsq.get())[0]
                    js.append((t_wake - t0) / 1e6)
                    js_after.append((t_wake - commit_done) / 1e6)
                out["nats_jetstream"] = summary(js)
                out["nats_jetstream_after_commit"] = summary(js_after)
                out["nats_jetstream_publish_ack"] = summary(js_ack)
            await pub.request(f"$JS.API.STREAM.DELETE.{stream}", b"")
            print(f"NATS core {out['nats_core']}, JetStream {out.get('nats_jetstream')}", file=sys.stderr)
        finally:
            await pub.close()
            await sub.close()
    await writer.close()
    await listener.close()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from app.db.pool import drop_database, ensure_database

    admin = os.environ.get("DATABASE_URL")
    if not admin:
        raise SystemExit("set DATABASE_URL (a PostgreSQL server to create a scratch database on)")
    name = f"scale_{uuid.uuid4().hex[:8]}"
    dsn = await ensure_database(admin, name)
    try:
        report: dict[str, Any] = {"config": vars(args), "cores": os.cpu_count()}
        if not args.skip_throughput:
            report["throughput"] = await throughput(dsn, args)
        report["wakeup"] = await wakeups(dsn, args)
        return report
    finally:
        await drop_database(admin, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--peers", type=int, default=50)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2, help="throughput runs of each table, alternating")
    ap.add_argument("--nats", default="127.0.0.1:4222", help="HOST:PORT of a NATS server ('' to skip)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = asyncio.run(main_async(args))
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
