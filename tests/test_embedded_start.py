"""The embedded PostgreSQL's first start is crash-safe (issue 7 §4): `serve` killed (SIGKILL of its process
group) at any moment of its first start, initdb included, starts cleanly next time, and a clean exit after
that stops the server (the killed process is not counted as still using it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.db.embedded import postmaster_pid
from tests.service import CLI, free_port, stop_embedded


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "OCPI_ENGINE_DATA_DIR": str(data_dir), "OCPI_ENGINE_PORT": str(free_port())}


def _wait(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the moment to kill at never came"
        time.sleep(0.01)


KILL_MOMENTS: dict[str, Callable[[Path], bool] | float] = {
    "during initdb": lambda d: (d / "pgdata.initdb" / "base").exists(),
    "as the server starts": lambda d: (d / "pgdata" / "postmaster.pid").exists(),
    "after 2 s": 2.0,
    "after 4 s": 4.0,
}


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_a_first_start_killed_at_any_moment_starts_next_time(moment: str) -> None:
    # Not under pytest's temporary folder: as root the server runs as its own user, and a pytest session
    # starting meanwhile closes /tmp/pytest-of-root to other users again.
    root = Path(tempfile.mkdtemp(prefix="ocpi-first-start-"))
    data_dir = root / "data"
    pgdata = data_dir / "pgdata"
    when = KILL_MOMENTS[moment]
    serve = subprocess.Popen([*CLI, "serve", "--no-demo"], env=_env(data_dir), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if isinstance(when, float):
            time.sleep(when)
        else:
            _wait(lambda: serve.poll() is not None or when(data_dir))
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait(10)
        # Any command starts the embedded server as `serve` does; it must come up, with its database migrated.
        again = subprocess.run([*CLI, "party", "list"], env=_env(data_dir), capture_output=True, text=True, timeout=180)
        assert again.returncode == 0, again.stderr[-3000:]
        assert (pgdata / "PG_VERSION").exists() and not (data_dir / "pgdata.initdb").exists()
        # Its clean exit stopped the server, although the killed process had registered as a user of it.
        assert postmaster_pid(pgdata) is None
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
        stop_embedded(pgdata)
        shutil.rmtree(root, ignore_errors=True)
