"""Operator API keys: made by the operator on the command line, shown once, stored only as a keyed fingerprint
(the same key as the credentials tokens' fingerprints), so a stolen database yields no usable key."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import asyncpg

from app.secrets_vault import TokenVault

PREFIX = "oek_"
"""Marks a string as an ocpi-engine operator key (secret scanners and people recognise it)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    label: str
    created_at: dt.datetime
    last_used: dt.datetime | None
    revoked_at: dt.datetime | None


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


async def create_key(pool: asyncpg.Pool | asyncpg.Connection, vault: TokenVault, label: str) -> tuple[int, str]:
    """A new key: (its id, the key itself, which is not stored and cannot be shown again)."""
    key = new_key()
    key_id = await pool.fetchval("INSERT INTO api_keys (label, key_hash) VALUES ($1, $2) RETURNING id",
                                 label, vault.fingerprint(key))
    return int(key_id), key


async def list_keys(pool: asyncpg.Pool | asyncpg.Connection) -> list[ApiKey]:
    rows = await pool.fetch("SELECT id, label, created_at, last_used, revoked_at FROM api_keys ORDER BY id")
    return [ApiKey(**dict(r)) for r in rows]


async def revoke_key(pool: asyncpg.Pool | asyncpg.Connection, key_id: int) -> bool:
    """Revoke a live key; False when there is no such live key."""
    done = await pool.fetchval("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
                               key_id)
    return done is not None


async def find_key(pool: asyncpg.Pool | asyncpg.Connection, vault: TokenVault, key: str) -> int | None:
    """The id of the live key `key`; its use is recorded at most once a minute, to spare writes."""
    if not key.startswith(PREFIX):
        return None
    row = await pool.fetchrow("SELECT id, last_used < now() - interval '1 minute' AS stale, last_used IS NULL AS never "
                              "FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", vault.fingerprint(key))
    if row is None:
        return None
    if row["stale"] or row["never"]:
        await pool.execute("UPDATE api_keys SET last_used = now() WHERE id = $1", row["id"])
    return int(row["id"])
