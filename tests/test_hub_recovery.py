"""A receiver that is down while a CPO's changes are broadcast through the hub ends, once it answers again, with the
CPO's final state of every EVSE (issue 9 §1: an OFFLINE peer is resynchronised with the current state of
everything that changed while it was away; the queue meanwhile is bounded by coalescing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fanout_setup import (Driver, ReceiversProcess, analyse, at_port, drained, evses_of, final_states,
                                import_locations, register_receivers, report)
from tests.service import Instance, run, wait_for

RECEIVERS = 3
DOWN = 2
UPDATES = 240
EVSES = 60


@pytest.fixture
def net(pg_admin_dsn: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance, ReceiversProcess, list[int]]]:
    receivers = ReceiversProcess(RECEIVERS, 19651, 19650, log=tmp_path / "receivers.log")
    hub = at_port(Instance(pg_admin_dsn, tmp_path, "hub", OCPI_ENGINE_REQUEST_TIMEOUT="3",
                           OCPI_ENGINE_DELIVERY_BACKOFF_CAP="4"), 19641)
    cpo = at_port(Instance(pg_admin_dsn, tmp_path, "cpo"), 19642)
    try:
        hub.cli("party", "add", "NL", "HUB", "HUB", "--name", "The Hub")
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        import_locations(cpo, tmp_path / "locations.jsonl", 40)
        peer_ids = register_receivers(hub, receivers)
        hub.start()
        cpo.start()
        cpo.cli("peer", "register", "--label", "hub", "--", hub.versions_url, hub.invite("cpo", "NL/EXA/CPO"))
        drained(cpo, 60, "the CPO's initial sync")
        drained(hub, 60, "the hub's broadcast of it")
        yield hub, cpo, receivers, peer_ids
    finally:
        receivers.stop()
        for inst in (cpo, hub):
            inst.drop()


def _offline(hub: Instance, peer_id: int) -> bool:
    rows = hub.query("SELECT status FROM peer_delivery WHERE peer_id = $1", peer_id)
    return bool(rows) and rows[0]["status"] == "OFFLINE"


def test_a_receiver_down_during_broadcasts_gets_the_final_state_when_back(
        net: tuple[Instance, Instance, ReceiversProcess, list[int]]) -> None:
    hub, cpo, receivers, peer_ids = net
    receivers.clear()
    receivers.mode([DOWN], "down")
    driver = Driver(cpo.dsn, evses_of(cpo, EVSES), UPDATES, rate=40)
    driver.start()
    wait_for(lambda: _offline(hub, peer_ids[DOWN]), 30, "the hub to mark the down receiver OFFLINE")
    changes = driver.finish()
    drained(cpo, 60, "the CPO's pushes to the hub")
    receivers.mode([DOWN], "up")
    final = run(final_states(cpo.dsn, sorted({c.evse for c in changes})))
    path = hub.data_dir / "records.jsonl"

    def converged() -> bool:
        result = analyse(receivers.records(path, clear=False), changes, set(range(RECEIVERS)),
                         set(range(RECEIVERS)), final)
        return result["lost"] == 0

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not converged():
        time.sleep(1)
    result = analyse(receivers.records(path, clear=False), changes, set(range(RECEIVERS)), set(range(RECEIVERS)),
                     final)
    assert result["lost"] == 0, report(result)
