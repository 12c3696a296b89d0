"""Connections: the asyncpg pool of a server process, and database creation for a fresh deployment."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def _release(conn: asyncpg.Connection) -> None:
    """What a returned connection needs: no session state is ever set on pooled connections (the LISTEN
    connection stays checked out), so only an abandoned transaction is rolled back. The default reset
    (RESET ALL, UNLISTEN, CLOSE ALL, advisory unlocks) costs a round trip on every release."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection: an unreachable server fails requests fast instead of holding them."""


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """Connections lost with a restarting server are re-created by the pool on their next use."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=60, reset=_release,
                                     timeout=CONNECT_TIMEOUT)
    assert pool is not None
    return pool


# The server is down, restarting or refusing connections: no fault of the statement, worth a retry later.
_UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                asyncpg.AdminShutdownError, asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached now (rather than a bug or a bad statement)."""
    if isinstance(exc, asyncpg.InterfaceError):  # also raised for misuse; only a closed connection counts
        return "closed" in str(exc)
    return isinstance(exc, _UNAVAILABLE)


def describe(exc: BaseException) -> str:
    """A one-line account of a database error for the logs."""
    return f"{type(exc).__name__}: {exc}".strip().removesuffix(":")


def with_database(dsn: str, database: str) -> str:
    """The same server URI pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def ensure_database(admin_dsn: str, database: str) -> str:
    """Create `database` on the server of `admin_dsn` unless it exists; returns its URI."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Identifiers cannot be parameters; quote it as PostgreSQL does.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                # Another process (a CLI command beside `serve`) created it since the check.
                await conn.execute(f'CREATE DATABASE "{database.replace(chr(34), chr(34) * 2)}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, database)


async def drop_database(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database.replace(chr(34), chr(34) * 2)}" WITH (FORCE)')
    finally:
        await conn.close()
