"""Benchmarks of the operators' live view (rust_core.Monitor) with 100,000 active sessions:
the batch upsert, a page of the location list, one location in detail.
Run `pytest benchmarks/test_bench_monitor.py --benchmark-only` on a release build."""

from __future__ import annotations

import pytest

from rust_core import Monitor

Row = tuple[str, str, str, str, str, str, str, str, str | None, str | None, str, str]
SESSIONS = 100_000
LOCATIONS = 5_000  # 20 sessions each, over 4 EVSEs


def rows(bump: int = 0) -> list[Row]:
    out: list[Row] = []
    for i in range(SESSIONS):
        loc = i % LOCATIONS
        kwh = f"{(i + bump) % 80}.{i % 1000:03}"
        excl = f"{(i + bump) % 40}.{i % 10000:04}"
        incl = f"{(i + bump) % 48}.{i % 10000:04}"
        out.append((f"S{i:06}", "NL", "TNM", f"LOC{loc:05}", f"E{i // LOCATIONS % 4}", "1", "ACTIVE", kwh, excl, incl, "EUR", "2026-11-30T10:00:00Z"))
    return out


@pytest.fixture(scope="module")
def session_rows() -> list[Row]:
    return rows()


@pytest.fixture(scope="module")
def full_monitor(session_rows: list[Row]) -> Monitor:
    m = Monitor()
    m.upsert_sessions(session_rows)
    return m


def test_upsert_100k_new(benchmark, session_rows: list[Row]) -> None:
    """100,000 sessions into an empty monitor (a restart's reload)."""
    monitors: list[Monitor] = []

    def fresh() -> tuple[tuple[list[Row]], dict[str, object]]:
        monitors.append(Monitor())
        return (session_rows,), {}

    benchmark.pedantic(lambda rows: monitors[-1].upsert_sessions(rows), setup=fresh, rounds=3, iterations=1)
    assert monitors and all(len(m) == SESSIONS for m in monitors)


def test_upsert_100k_updates(benchmark, full_monitor: Monitor) -> None:
    """100,000 running totals replaced (every session held changes once)."""
    updates = rows(bump=1)
    benchmark.pedantic(full_monitor.upsert_sessions, args=(updates,), rounds=3, iterations=1)
    assert len(full_monitor) == SESSIONS


def test_locations_page(benchmark, full_monitor: Monitor) -> None:
    out = benchmark(full_monitor.locations, "NL", "TNM", 0, 100)
    assert out.count(b'"location_id"') == 100


def test_locations_last_page(benchmark, full_monitor: Monitor) -> None:
    """The worst page: `offset` skips the locations before it."""
    out = benchmark(full_monitor.locations, None, None, LOCATIONS - 100, 100)
    assert out.count(b'"location_id"') == 100


def test_active_page_among_idle_locations(benchmark, session_rows: list[Row]) -> None:
    """`active_only`: 100,000 idle locations sort before the 5,000 active ones; the page does not walk them."""
    m = Monitor()
    m.set_evse_status([("NL", "TNM", f"IDLE{i:06}", "E1", "AVAILABLE") for i in range(100_000)])
    m.upsert_sessions(session_rows)
    out = benchmark(lambda: m.locations(None, None, 0, 100, active_only=True))
    assert out.count(b'"location_id"') == 100 and out.startswith(b'{"total":5000,')


def test_location_detail(benchmark, full_monitor: Monitor) -> None:
    out = benchmark(full_monitor.location, "NL", "TNM", "LOC02500")
    assert out is not None and out.count(b'"started_at"') == SESSIONS // LOCATIONS
