"""More than one instance (issue 9 §3): two `serve` processes on one PostgreSQL share one outbox's delivery work
(claims with SKIP LOCKED, wake-ups through LISTEN/NOTIFY); one of them is killed with kill -9 mid-stream and the
other takes its in-flight rows up at once (its advisory lock is gone: no lease to wait out). Nothing is lost:
every receiver ends with the CPO's final state of every EVSE, and every change was delivered or superseded by a
later change of the same EVSE (coalescing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fanout_setup import (Driver, ReceiversProcess, analyse, at_port, drained, evses_of, final_states,
                                import_locations, kill9, local_ports, register_receivers, report, sibling)
from tests.service import Instance, run, wait_for

LOCK_CLASS = 0x0C91
"""classid of the delivery engines' session advisory locks (objid: the instance id)."""
RECEIVERS = 3
UPDATES = 900
EVSES = 150


def _engines(inst: Instance) -> set[int]:
    """Instance ids of the live delivery engines on this database (each holds its advisory lock)."""
    rows = inst.query("SELECT objid::bigint AS id FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
                      "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                      LOCK_CLASS)
    return {int(r["id"]) for r in rows}


def _sending(inst: Instance, instance_ids: set[int]) -> int:
    return int(inst.query("SELECT count(*) AS n FROM outbox WHERE state = 'SENDING' AND claimed_by = ANY($1::int[])",
                          list(instance_ids))[0]["n"])


@pytest.fixture
def two(pg_admin_dsn: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance, ReceiversProcess, set[int]]]:
    """A CPO served by two instances A and B on one database, 3 receivers registered as its eMSPs; yields B's
    engine ids (told apart from A's by starting A first)."""
    receivers = ReceiversProcess(RECEIVERS, 19611, 19610, log=tmp_path / "receivers.log")
    a = at_port(Instance(pg_admin_dsn, tmp_path, "cpo-a"), 19601)
    b: Instance | None = None
    try:
        a.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        import_locations(a, tmp_path / "locations.jsonl", 80)
        register_receivers(a, receivers)
        b = sibling(a, "cpo-b", 19602)
        a.start()
        a_ids = wait_for(lambda: _engines(a), 20, "A's engine")
        b.start()
        b_ids = wait_for(lambda: _engines(a) - a_ids, 20, "B's engine")
        drained(a, 60, "the initial sync")
        yield a, b, receivers, b_ids
    finally:
        receivers.stop()
        if b is not None:
            b.stop()
        a.drop()


def test_two_instances_share_the_work_and_survive_a_kill_9(
        two: tuple[Instance, Instance, ReceiversProcess, set[int]]) -> None:
    a, b, receivers, b_ids = two
    # Answers take 0.2 s: rows stay in flight, so the kill catches some of B's.
    receivers.mode(range(RECEIVERS), "slow", 0.2)
    receivers.clear()
    evses = evses_of(a, EVSES)
    driver = Driver(a.dsn, evses, UPDATES, rate=150)
    driver.start()

    ports: dict[str, set[int]] = {"a": set(), "b": set()}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # which connections belong to which process, while both live
        ports["a"] |= local_ports(a)
        ports["b"] |= local_ports(b)
        time.sleep(0.05)
    wait_for(lambda: _sending(a, b_ids) > 0, 10, "rows in flight at B")
    ports["b"] |= local_ports(b)
    kill9(b)
    killed_at = time.monotonic()
    # B's in-flight rows are claimable at once: A takes them over well within one request timeout.
    wait_for(lambda: _sending(a, b_ids) == 0, 5, "A to take over B's in-flight rows")
    takeover_s = time.monotonic() - killed_at
    for _ in range(20):
        ports["a"] |= local_ports(a)
        time.sleep(0.05)

    changes = driver.finish()
    receivers.mode(range(RECEIVERS), "up")
    drained(a, 120, "every change delivered")
    records = receivers.records(a.data_dir / "records.jsonl")
    final = run(final_states(a.dsn, sorted({c.evse for c in changes})))
    result = analyse(records, changes, set(range(RECEIVERS)), set(range(RECEIVERS)), final)
    assert result["lost"] == 0, report(result)
    assert takeover_s < 5
    print(f"B's in-flight rows taken over {takeover_s:.2f} s after the kill; {report(result)}")

    by_a = sum(1 for r in records if r[10] in ports["a"])
    by_b = sum(1 for r in records if r[10] in ports["b"])
    assert by_a > 0 and by_b > 0, f"deliveries by A {by_a}, by B {by_b} of {len(records)}"
    # Every change and its copy to each receiver went somewhere: delivered (maybe twice: at least once) or coalesced.
    states = {r["state"]: r["n"] for r in a.query("SELECT state, count(*) AS n FROM outbox GROUP BY state")}
    assert set(states) <= {"DELIVERED", "COALESCED"}, states
