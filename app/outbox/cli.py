"""`ocpi-engine outbox show|retry|resync PEER`: the operator's commands on a peer's queue (`app/outbox/ops.py`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.config import Settings


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def cmd_show(args: argparse.Namespace) -> int:
    import msgspec

    from app.outbox import ops
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            queue = await ops.show(pool, args.peer, args.limit)
        except ops.OpsError as exc:
            return _fail(exc.message, 2)
        if args.json:
            sys.stdout.buffer.write(msgspec.json.encode(queue) + b"\n")
            return 0
        d = queue.delivery
        print(f"peer {queue.peer_id}" + (f" ({queue.label})" if queue.label else "") + f": {queue.registration}, "
              f"delivery {d.status}" + (f" since {d.since:%Y-%m-%d %H:%M:%S}" if d.since else "")
              + (f", {d.failures} failures in a row" if d.failures else "")
              + (f", last error: {d.last_error}" if d.last_error and d.status != "CONNECTED" else ""))
        print(f"oldest waiting push: {_age(queue.oldest_pending_age_seconds)}")
        modules = sorted({m for by in queue.counts.values() for m in by})
        if modules:
            states = sorted(queue.counts)
            print("  ".join([f"{'STATE':<10}", *(f"{m:>10}" for m in modules)]))
            for s in states:
                print("  ".join([f"{s:<10}", *(f"{queue.counts[s].get(m, 0):>10}" for m in modules)]))
        else:
            print("nothing was ever queued for this peer")
        for r in queue.rows:
            error = f"  {r.last_error}" if r.last_error else ""
            print(f"  {r.id:>8} {r.state:<8} {r.module:<10} {r.method:<6} {r.path}  to {r.to}, "
                  f"{r.attempts} attempts" + (f", {r.coalesced} coalesced" if r.coalesced else "") + error)
        return 0

    return _run(args, work)


def cmd_retry(args: argparse.Namespace) -> int:
    from app.outbox import ops
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            async with pool.acquire() as conn, conn.transaction():
                done = await ops.retry(conn, args.peer, args.id or None)
        except ops.OpsError as exc:
            return _fail(exc.message, 2)
        print(f"peer {args.peer}: {len(done.retried)} refused pushes queued again"
              + (f" ({', '.join(map(str, done.retried))})" if done.retried else ""))
        if done.superseded:
            print(f"  left refused, a newer update of the same object went out since: "
                  f"{', '.join(map(str, done.superseded))} (send the current state with `ocpi-engine outbox resync "
                  f"{args.peer}`)", file=sys.stderr)
        return 0

    return _run(args, work)


def cmd_resync(args: argparse.Namespace) -> int:
    from app.outbox import ops
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            async with pool.acquire() as conn, conn.transaction():
                done = await ops.resync(conn, args.peer, args.module or None)
        except ops.OpsError as exc:
            return _fail(exc.message, 2)
        print(f"peer {args.peer}: {done.queued} pushes queued ({', '.join(done.modules)})")
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    from app.modules.sync import MODULES

    g = groups["outbox"]
    s = g.add_parser("show", parents=[common], help="a peer's queue: counts, oldest push, delivery status, rows")
    s.add_argument("peer", type=int, metavar="PEER")
    s.add_argument("--json", action="store_true", help="print the queue as JSON (as GET /api/v1/peers/PEER/queue)")
    s.add_argument("--limit", type=int, default=50, help="pending and refused rows listed (default 50)")
    s.set_defaults(func=cmd_show)
    r = g.add_parser("retry", parents=[common], help="send a peer's refused pushes again")
    r.add_argument("peer", type=int, metavar="PEER")
    r.add_argument("--id", type=int, action="append", metavar="ID", help="only this refused row (repeatable)")
    r.set_defaults(func=cmd_retry)
    y = g.add_parser("resync", parents=[common], help="queue the current state of everything a peer may see")
    y.add_argument("peer", type=int, metavar="PEER")
    y.add_argument("--module", action="append", choices=list(MODULES), metavar="M",
                   help=f"only this module (repeatable): {', '.join(MODULES)}")
    y.set_defaults(func=cmd_resync)
