"""Delivery engine drain rate to one peer: N pushes of distinct objects queued in one transaction, then the time for
one engine (this process) to deliver them all to a lightweight receiver (its own process), against the ceiling
measured in the same run: the engine's courier sending the same requests directly with the same concurrency.

    python benchmarks/delivery_drain.py [--pushes 5000] [--window 16] [--courier python|rust] [--port 19160]

Needs DATABASE_URL (a server to create a scratch database on)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.outbox.courier import Outbound, make_courier  # noqa: E402
from app.outbox.engine import DeliveryEngine  # noqa: E402
from app.peer_addresses import AddressPolicy, parse_networks  # noqa: E402
from tests.delivery_rig import TOKEN, put, rig  # noqa: E402


async def direct(courier_kind: str, url: str, n: int, concurrency: int) -> float:
    courier = make_courier(courier_kind, concurrency, 30)
    body = json.dumps({"i": 0}).encode()
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            a = await courier.send(Outbound("PUT", f"{url}/NL/EXA/D{i}", [("Authorization", f"Token {TOKEN}"),
                                                                          ("Content-Type", "application/json")], body), 30)
            assert a.http_status == 200, a

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.monotonic() - started
    await courier.aclose()
    return n / took


async def main(args: argparse.Namespace) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.delivery_rig", str(args.port)],
                            cwd=Path(__file__).resolve().parent.parent, env=os.environ)
    try:
        await asyncio.sleep(1.0)
        async with rig(os.environ["DATABASE_URL"]) as r:
            peer = await r.peer(args.port, window=args.window)
            for start in range(0, args.pushes, 1000):
                await r.push(*(put(peer, f"/NL/EXA/L{i}", {"id": f"L{i}", "i": i})
                               for i in range(start, min(args.pushes, start + 1000))))
            engine = DeliveryEngine(r.pool, r.vault, r.dsn, make_courier(args.courier, args.window, 30),
                                    window=args.window, addresses=AddressPolicy(parse_networks("127.0.0.0/8")))
            started = time.monotonic()
            await engine.start()
            r.engines.append(engine)
            while await r.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'DELIVERED'") < args.pushes:
                await asyncio.sleep(0.05)
            took = time.monotonic() - started
            p50, p99 = await r.pool.fetchrow(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - first_sent_at)),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - first_sent_at)) "
                "FROM outbox")
        ceiling = await direct(args.courier, f"http://127.0.0.1:{args.port}/ocpi/2.2.1/locations", args.pushes,
                               args.window)
    finally:
        proc.terminate()
        proc.wait(5)
    rate = args.pushes / took
    return {"pushes": args.pushes, "window": args.window, "deliveries_per_s": round(rate, 1),
            "direct_per_s": round(ceiling, 1), "ratio": round(rate / ceiling, 2),
            "claim_to_delivered_p50_ms": round(float(p50) * 1000, 1), "claim_to_delivered_p99_ms": round(float(p99) * 1000, 1)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pushes", type=int, default=5000)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--courier", choices=["python", "rust"], default="python")
    ap.add_argument("--port", type=int, default=19160)
    print(json.dumps(asyncio.run(main(ap.parse_args()))))
