"""The operators' live view with 100,000 active sessions on PostgreSQL: initial load, refresh with nothing
changed, refresh after 1,000 changes, and the two views. Uses a scratch database on DATABASE_URL's server, else on
an embedded server of its own. Same-run baseline: a bare asyncpg fetch of the active sessions (the query the initial
load runs, no monitor).
`[DATABASE_URL=postgresql://...] python benchmarks/live_view.py [--sessions N] [--changes N] [--quick] [--json OUT]`"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from app.charging.monitoring import _ACTIVE, LiveView
from app.db.embedded import admin_or_scratch
from app.db.migrate import migrate
from app.db.pool import drop_database, ensure_database

LOCATIONS = 1000


RESULTS: dict[str, float] = {}


async def timed(label: str, work: Callable[[], Awaitable[object]], repeat: int = 1, key: str = "") -> None:
    start = time.perf_counter()
    for _ in range(repeat):
        await work()
    ms = (time.perf_counter() - start) / repeat * 1000
    if key:
        RESULTS[key] = round(ms, 3)
    print(f"{label:<44} {ms:9.2f} ms")


async def main(admin: str, sessions: int, changes: int) -> None:
    name = f"bench_live_{uuid.uuid4().hex[:8]}"
    dsn = await ensure_database(admin, name)
    try:
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        await conn.close()
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        assert pool is not None
        await pool.execute(f"""
            INSERT INTO charging_sessions (session_id, country_code, party_id, emsp_country_code, emsp_party_id, status,
                header, location_id, evse_uid, connector_id, kwh, cost_excl, cost_incl, currency, started_at, last_event_at)
            SELECT 'S' || i, 'NL', 'EXA', 'NL', 'MSP', 'ACTIVE', '\\x7b7d', 'L' || (i % {LOCATIONS}),
                   'L' || (i % {LOCATIONS}) || '-' || (i / {LOCATIONS} % 4), '1', i / 1000.0, i / 100.0, i / 100.0 * 1.21,
                   'EUR', now(), now()
            FROM generate_series(1, $1::int) i""", sessions)
        await pool.execute("VACUUM ANALYZE charging_sessions")
        view = LiveView()
        print(f"{sessions} active sessions at {LOCATIONS} locations (4 EVSEs each)")
        await timed("baseline: bare fetch of the active sessions", lambda: pool.fetch(_ACTIVE), key="bare_fetch_ms")
        await timed("initial load (read + upsert into the monitor)", lambda: view.refresh(pool), key="initial_load_ms")
        assert len(view) == sessions, len(view)
        await view.refresh(pool)
        await timed("refresh, nothing changed", lambda: view.refresh(pool), 50, key="refresh_unchanged_ms")
        half = changes // 2
        await pool.execute("""UPDATE charging_sessions SET kwh = kwh + 1, change_seq = nextval('charging_change_seq')
                              WHERE session_id IN (SELECT 'S' || i FROM generate_series(1, $1::int) i)""", half)
        await pool.execute("""UPDATE charging_sessions SET status = 'COMPLETED', change_seq = nextval('charging_change_seq')
                              WHERE session_id IN (SELECT 'S' || i FROM generate_series($1::int + 1, $2::int) i)""",
                           half, changes)
        await timed(f"refresh after {changes} changes ({half} completed)", lambda: view.refresh(pool),
                    key="refresh_changed_ms")
        assert len(view) == sessions - (changes - half)
        await timed("view: location list, page of 100", lambda: asyncio.sleep(0, view.locations(None, None, 0, 100)), 200,
                    key="locations_page_ms")
        await timed("view: location list, page of 100 at offset 900",
                    lambda: asyncio.sleep(0, view.locations(None, None, 900, 100)), 200)
        await timed("view: one location (100 sessions)", lambda: asyncio.sleep(0, view.location("NL", "EXA", "L7")), 200,
                    key="one_location_ms")
        await pool.close()
    finally:
        await drop_database(admin, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="20,000 sessions, 200 changes (a few seconds)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the timings (ms) as JSON to OUT")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.changes = min(args.sessions, 20_000), min(args.changes, 200)
    with admin_or_scratch("bench-live-pg-") as admin:
        asyncio.run(main(admin, args.sessions, args.changes))
    if args.json:
        RESULTS.update(sessions=args.sessions, changes=args.changes)
        RESULTS["initial_load_vs_bare_fetch"] = round(RESULTS["initial_load_ms"] / RESULTS["bare_fetch_ms"], 3)
        args.json.write_text(json.dumps(RESULTS, indent=2) + "\n")
