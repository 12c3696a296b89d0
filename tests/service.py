"""Running real service instances for tests: each its own database (on DATABASE_URL's server when set, else on
an embedded PostgreSQL started for the test session), its own data folder and key, its own loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.db.pool import drop_database, ensure_database
from app.secrets_vault import TokenVault

CLI = [sys.executable, "-m", "app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Instance:
    """One `ocpi-engine serve` process and the CLI pointed at the same database and data folder."""

    def __init__(self, admin_dsn: str, root: Path, name: str, workers: int = 1, **env: str) -> None:
        self.name = name
        self.database = f"t_{name}_{uuid.uuid4().hex[:8]}"
        self.admin_dsn = admin_dsn
        self.dsn = run(ensure_database(admin_dsn, self.database))
        self.data_dir = root / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.versions_url = f"{self.url}/ocpi/versions"
        self.env = {**os.environ, "DATABASE_URL": self.dsn, "OCPI_ENGINE_DATA_DIR": str(self.data_dir),
                    "OCPI_ENGINE_PORT": str(self.port), "OCPI_ENGINE_LOG_LEVEL": "INFO",
                    "OCPI_ENGINE_WORKERS": str(workers),
                    # Peers of tests listen on loopback; with DATABASE_URL set it is not allowed by default.
                    "OCPI_ENGINE_ALLOWED_PEER_NETWORKS": "127.0.0.0/8,::1/128", **env}
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"ocpi-engine {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self) -> None:
        self.cli("party", "list")  # migrates before the server starts
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*CLI, "serve", "--no-demo"], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.versions_url, timeout=1).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} server did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def drop(self) -> None:
        self.stop()
        run(drop_database(self.admin_dsn, self.database))

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.dsn)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return list(run(go()))

    def hub_clients(self) -> dict[str, str]:
        """The ClientInfo hubs pushed us: status by `CC*PID/ROLE`."""
        return {f"{r['country_code']}*{r['party_id']}/{r['role']}": r["status"]
                for r in self.query("SELECT country_code, party_id, role, status FROM hub_clients")}

    @property
    def vault(self) -> TokenVault:
        return TokenVault.load(None, self.data_dir / "secret.key")

    def with_demo(self, then: Callable[[asyncpg.Pool], Awaitable[object]] | None = None) -> None:
        """Migrate and load the demo set, then `then(pool)` (more setup on the same data)."""
        from app.db.pool import create_pool
        from app.demo.load import load

        self.cli("party", "list")  # migrates

        async def go() -> None:
            pool = await create_pool(self.dsn, 1, 2)
            try:
                await load(pool, self.vault)
                if then is not None:
                    await then(pool)
            finally:
                await pool.close()

        run(go())

    def client_token(self, label: str, parties: list[tuple[str, str, str]],
                     endpoints: list[dict[str, str]] | None = None) -> str:
        """A registered client peer with these (country, party, role) parties; by default without a server of
        its own, else reachable at `endpoints` (our calls to it use `token_out(peer_id(label))`)."""
        from app.db import peers

        async def go() -> str:
            conn = await asyncpg.connect(self.dsn)
            try:
                async with conn.transaction():
                    token = await peers.create_registered(conn, self.vault, label, [
                        (peers.PeerParty(cc, pid, role), {"name": label}) for cc, pid, role in parties])
                    if endpoints:
                        await conn.execute("UPDATE peers SET endpoints = $2::jsonb WHERE label = $1", label,
                                           json.dumps(endpoints))
                    return token
            finally:
                await conn.close()

        return str(run(go()))

    def invite(self, label: str, *parties: str) -> str:
        """A token A admitting `parties` (CC/PID/ROLE)."""
        out = self.cli("peer", "invite", "--label", label, *(a for p in parties for a in ("--party", p))).stdout
        return out.split("token A:")[1].split()[0]

    def unreachable_receiver(self, label: str, party: tuple[str, str, str], module: str = "locations") -> int:
        """A registered peer whose `module` Receiver is a closed loopback port: pushes to it are queued, and
        each attempt fails (which shows when a dispatcher picked it up). Returns its id."""
        from app.db import peers

        async def go() -> int:
            conn = await asyncpg.connect(self.dsn)
            try:
                async with conn.transaction():
                    peer_id, _ = await peers.invite(conn, self.vault, label, [peers.PeerParty(*party)])
                    await peers.save_registration(
                        conn, self.vault, peer_id, token_out="t", versions_url="", version="2.2.1",
                        endpoints=[{"identifier": module, "role": "RECEIVER", "url": f"http://127.0.0.1:9/{module}"}],
                        parties=[(peers.PeerParty(*party), {"name": label})])
                return peer_id
            finally:
                await conn.close()

        return int(run(go()))

    def peer_id(self, label: str) -> int:
        return int(self.query("SELECT id FROM peers WHERE label = $1 ORDER BY id DESC LIMIT 1", label)[0]["id"])

    def token_out(self, peer_id: int) -> str:
        """The token this instance calls `peer_id` with (decrypted with its own key)."""
        blob = self.query("SELECT token_out FROM peers WHERE id = $1", peer_id)[0]["token_out"]
        return self.vault.decrypt(blob)


@contextmanager
def serving(*setups: tuple[Instance, list[tuple[str, ...]]]) -> Iterator[list[Instance]]:
    """Run each instance's CLI commands (parties, imports), start them all, and finally drop them."""
    instances = [inst for inst, _ in setups]
    try:
        for inst, commands in setups:
            for command in commands:
                inst.cli(*command)
        for inst in instances:
            inst.start()
        yield instances
    finally:
        for inst in instances:
            inst.drop()


def stop_embedded(pgdata: Path) -> None:
    """Stop the embedded server running on `pgdata`, if any (fast shutdown: open sessions are ended)."""
    from app.db import embedded

    embedded.stop(pgdata.parent)


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
