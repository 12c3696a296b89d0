"""A process's life sign in PostgreSQL: a session advisory lock (classid, objid) held on a connection of its own.
The lock goes when the process (or its connection) dies, so rows a worker claimed under its objid can be taken over
at once by anyone who sees no such lock (`holders_sql`). Used by the outbox engine's pattern and re-rating runs."""

from __future__ import annotations

import random

import asyncpg


def holders_sql(classid: int) -> str:
    """A subquery: the objids (bigint) holding a session advisory lock of `classid` in this database."""
    return (f"SELECT l.objid::bigint FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = {int(classid)} "
            "AND l.objsubid = 2 AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


class LifeSign:
    """Holds the lock (classid, a random free objid) while open; `objid` names the holder in claimed rows."""

    def __init__(self, classid: int) -> None:
        self.classid = classid
        self.objid = 0
        self._conn: asyncpg.Connection | None = None

    async def open(self, dsn: str) -> LifeSign:
        conn = await asyncpg.connect(dsn, timeout=10)
        while True:
            objid = random.randint(1, 2**31 - 1)
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", self.classid, objid):
                break
        self._conn, self.objid = conn, objid
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
