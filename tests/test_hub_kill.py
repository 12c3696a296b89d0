"""kill -9 of the hub mid-stream of broadcast updates loses no update (issue 9, Tests): a CPO pushes EVSE status
changes to the hub (OCPI-to: the hub party, a broadcast), the hub fans them out to 3 receivers; the hub's server
is killed with kill -9 while changes flow and started again on the same database. Every receiver ends with the
CPO's final state of every EVSE, and every change reached every receiver or was superseded there by a later change
of the same EVSE (coalescing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fanout_setup import (Driver, ReceiversProcess, analyse, at_port, drained, evses_of, final_states,
                                import_locations, kill9, register_receivers, report)
from tests.service import Instance, run, wait_for

RECEIVERS = 3
UPDATES = 400
EVSES = 100


@pytest.fixture
def net(pg_admin_dsn: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance, ReceiversProcess]]:
    receivers = ReceiversProcess(RECEIVERS, 19631, 19630, log=tmp_path / "receivers.log")
    hub = at_port(Instance(pg_admin_dsn, tmp_path, "hub", OCPI_ENGINE_REQUEST_TIMEOUT="3"), 19621)
    cpo = at_port(Instance(pg_admin_dsn, tmp_path, "cpo", OCPI_ENGINE_REQUEST_TIMEOUT="3"), 19622)
    try:
        hub.cli("party", "add", "NL", "HUB", "HUB", "--name", "The Hub")
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        import_locations(cpo, tmp_path / "locations.jsonl", 60)
        register_receivers(hub, receivers)
        hub.start()
        cpo.start()
        cpo.cli("peer", "register", "--label", "hub", "--", hub.versions_url, hub.invite("cpo", "NL/EXA/CPO"))
        drained(cpo, 60, "the CPO's initial sync")
        drained(hub, 60, "the hub's broadcast of it")
        yield hub, cpo, receivers
    finally:
        receivers.stop()
        for inst in (cpo, hub):
            inst.drop()


def test_kill_9_of_the_hub_loses_no_update(net: tuple[Instance, Instance, ReceiversProcess]) -> None:
    hub, cpo, receivers = net
    receivers.mode(range(RECEIVERS), "slow", 0.1)  # keeps broadcast rows in flight at the hub
    receivers.clear()
    driver = Driver(cpo.dsn, evses_of(cpo, EVSES), UPDATES, rate=120)
    driver.start()
    time.sleep(2)
    wait_for(lambda: hub.query("SELECT count(*) AS n FROM outbox WHERE state IN ('PENDING', 'SENDING')")[0]["n"] > 0,
             10, "broadcast rows open at the hub")
    kill9(hub)
    time.sleep(1.5)  # the CPO's pushes fail meanwhile and wait for their retry
    hub.start()
    changes = driver.finish()
    receivers.mode(range(RECEIVERS), "up")
    drained(cpo, 180, "the CPO's pushes to the hub")
    drained(hub, 180, "the hub's broadcasts")
    records = receivers.records(hub.data_dir / "records.jsonl")
    final = run(final_states(cpo.dsn, sorted({c.evse for c in changes})))
    result = analyse(records, changes, set(range(RECEIVERS)), set(range(RECEIVERS)), final)
    assert result["lost"] == 0, report(result)
    assert result["latency_samples"] >= RECEIVERS * EVSES  # at least each EVSE's last change at each receiver
