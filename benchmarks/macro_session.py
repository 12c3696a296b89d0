"""Macro benchmark: events/s through the session engine alone (rust_core, no service, no database),
with N active sessions, and p50/p99 of the latency per batch (parse + apply with live pricing), beside the
same-run baseline: msgspec decoding of the same event bytes (parse only).

    python benchmarks/macro_session.py --sessions 100000 --rounds 5 --batch 5000 [--seed 42] [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from session_events import meter_rounds, parse_only, starts  # noqa: E402

from rust_core import EventBatch, SessionEngine  # noqa: E402


def run(sessions: int, rounds: int, batch: int, seed: int = 42) -> dict[str, float]:
    engine = SessionEngine()
    buf, headers = starts(sessions)
    t = time.perf_counter()
    lines = buf.split(b"\n")
    for i in range(0, sessions, batch):
        eb = EventBatch(b"\n".join(lines[i : i + batch]))
        result = engine.apply(eb, headers={sid: headers[sid] for _, _, sid, _, _ in eb.events})
        assert not result.errors, result.errors[:3]
    start_secs = time.perf_counter() - t
    latencies: list[float] = []
    events = 0
    busy = 0.0
    baseline = 0.0
    for round_lines in meter_rounds(sessions, rounds, seed):
        for i in range(0, len(round_lines), batch):
            data = b"\n".join(round_lines[i : i + batch])
            t = time.perf_counter()
            result = engine.apply(EventBatch(data))
            dt = time.perf_counter() - t
            assert len(result.accepted) == min(batch, len(round_lines) - i), result.errors[:3]
            latencies.append(dt)
            busy += dt
            events += len(result.accepted)
            t = time.perf_counter()
            parse_only(data)
            baseline += time.perf_counter() - t
    latencies.sort()
    return {
        "sessions": sessions,
        "events": events,
        "batch": batch,
        "start_secs": round(start_secs, 2),
        "events_per_sec": round(events / busy),
        "baseline_events_per_sec": round(events / baseline),
        "ratio_to_baseline": round(baseline / busy, 2),
        "batch_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "batch_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=42, help="seed of the meter readings")
    p.add_argument("--quick", action="store_true", help="10,000 sessions, 2 rounds (a few seconds)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON to OUT")
    a = p.parse_args()
    if a.quick:
        a.sessions, a.rounds = min(a.sessions, 10_000), min(a.rounds, 2)
    text = json.dumps(run(a.sessions, a.rounds, a.batch, a.seed))
    print(text)
    if a.json:
        a.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
