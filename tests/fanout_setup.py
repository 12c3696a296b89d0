"""Whole-system set-ups for the delivery tests (issue 9): the benchmark's lightweight receivers, a second `serve`
on an instance's database, kill -9 of a server's process tree, and which process a TCP connection belongs to."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.service import Instance, run, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from fanout_receivers import Change, ReceiversProcess, analyse, drive, final_states  # noqa: E402

__all__ = ["Change", "ReceiversProcess", "analyse", "final_states", "Driver", "at_port", "sibling", "kill9",
           "local_ports", "register_receivers", "import_locations", "evses_of", "open_rows", "drained", "report"]


def at_port(inst: Instance, port: int) -> Instance:
    """Serve on a fixed port (the tests' own range) instead of a free one."""
    inst.port = port
    inst.url = f"http://127.0.0.1:{port}"
    inst.versions_url = f"{inst.url}/ocpi/versions"
    inst.env["OCPI_ENGINE_PORT"] = str(port)
    return inst


def sibling(inst: Instance, name: str, port: int) -> Instance:
    """A second service instance on `inst`'s database (same key for the tokens, its own data folder and port).
    Stop it with `stop()`; `inst.drop()` drops the database."""
    twin = Instance.__new__(Instance)
    twin.__dict__.update(inst.__dict__)
    twin.name = name
    twin.data_dir = inst.data_dir.parent / name
    twin.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(inst.data_dir / "secret.key", twin.data_dir / "secret.key")
    twin.env = {**inst.env, "OCPI_ENGINE_DATA_DIR": str(twin.data_dir)}
    twin.log_path = twin.data_dir / "server.log"
    twin.proc = None
    return at_port(twin, port)


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def kill9(inst: Instance) -> None:
    """SIGKILL the server and every process it started (its workers), as a crash would."""
    assert inst.proc is not None
    for pid in reversed(_tree(inst.proc.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    inst.proc.wait(10)
    inst.proc = None


def local_ports(inst: Instance) -> set[int]:
    """Local TCP ports of the sockets the server's processes hold now (its connections to receivers, PostgreSQL)."""
    if inst.proc is None:
        return set()
    inodes: set[str] = set()
    for pid in _tree(inst.proc.pid):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def register_receivers(inst: Instance, receivers: ReceiversProcess) -> list[int]:
    """`inst` registers every receiver (the normal handshake, started by us), each admitted for its eMSP party."""
    ids = []
    for i, url in enumerate(receivers.versions_urls):
        cc, pid = receivers.parties[i]
        inst.cli("peer", "register", "--label", f"receiver-{i}", "--party", f"{cc}/{pid}/EMSP", "--", url, f"tok-a-{i}")
        ids.append(inst.peer_id(f"receiver-{i}"))
    return ids


def import_locations(inst: Instance, path: Path, n: int) -> None:
    """n synthetic Locations of our CPO NL/EXA, imported without pushes (registrations sync them)."""
    from app.demo.synthetic import iter_locations

    path.write_text("\n".join(json.dumps(loc) for loc in iter_locations(n, 11, "NL", "EXA")) + "\n")
    inst.cli("import", "locations", str(path), "--no-push", "--no-progress")


def evses_of(inst: Instance, n: int) -> list[tuple[str, str]]:
    rows = inst.query("SELECT id, data::text AS d FROM locations ORDER BY id")
    found = [(r["id"], str(e["uid"])) for r in rows for e in json.loads(r["d"]).get("evses") or ()]
    assert len(found) >= n, f"only {len(found)} EVSEs"
    return found[:n]


def open_rows(inst: Instance) -> int:
    return int(inst.query("SELECT count(*) AS n FROM outbox WHERE state IN ('PENDING', 'SENDING')")[0]["n"])


def drained(inst: Instance, timeout: float, what: str) -> None:
    wait_for(lambda: open_rows(inst) == 0, timeout, what)


class Driver(threading.Thread):
    """Commits `updates` EVSE status changes on the CPO at `rate` per second in the background (fanout_receivers.drive)."""

    def __init__(self, dsn: str, evses: list[tuple[str, str]], updates: int, rate: float, drivers: int = 2) -> None:
        super().__init__(daemon=True)
        self.args = (dsn, evses, updates, rate, drivers)
        self.changes: list[Change] = []
        self.error: BaseException | None = None
        self.started_at = time.monotonic()

    def run(self) -> None:
        dsn, evses, updates, rate, drivers = self.args
        t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
        try:
            self.changes = run(drive(dsn, evses, updates, rate, drivers, t0))
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout: float = 120) -> list[Change]:
        self.join(timeout)
        assert not self.is_alive(), "the changes did not finish"
        if self.error is not None:
            raise self.error
        return self.changes


def report(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items() if k != "per_receiver_p99_ms")
