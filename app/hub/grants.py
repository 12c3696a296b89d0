"""Placeholder until stream C merges: C owns this module (service grants and copies of messages)."""

from __future__ import annotations

import asyncpg


async def copy_message(conn: asyncpg.Connection, module: str, interface: str, method: str, path: str,
                       body: bytes | None, sender: tuple[str, str], receiver: tuple[str, str],
                       correlation_id: str | None) -> int:
    """Queue copies of a forwarded message for the services its sender granted them; returns how many."""
    return 0
