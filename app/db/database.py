"""Getting a migrated database: DATABASE_URL when set, else the embedded server's `ocpi_engine` database."""

from __future__ import annotations

import asyncpg

from app.config import Settings
from app.db import embedded
from app.db.migrate import migrate
from app.db.pool import ensure_database

EMBEDDED_DATABASE = "ocpi_engine"


async def prepare(settings: Settings) -> str:
    """Start the embedded server if needed, create the database, apply migrations; returns its URI."""
    if settings.database_url:
        dsn = settings.database_url
    else:
        dsn = await ensure_database(embedded.start(settings.data_dir), EMBEDDED_DATABASE)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn
