"""Plain SQL migrations (`migrations/NNNN_name.sql`), applied in order, each once, under an advisory lock."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK = 0x0C91E7  # advisory lock id: concurrent starters wait instead of racing
log = logging.getLogger(__name__)


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in migration_files():
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied.append(path.name)
            log.info("migration applied", extra={"migration": path.name})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    return applied
