"""Broadcast push (digest §1.9): one push to every registered party of the opposite role that offers the module's
Receiver interface (CONNECTED or OFFLINE: an OFFLINE party's coalesced queue is the state it gets back), from the
hub's party, with the URL's owner segments unchanged. Queued in the outbox in the caller's transaction, so the
sender's 1000 means every copy is durable."""

from __future__ import annotations

import logging

import asyncpg

from app.hub.routing import Broadcast, Message, label
from app.outbox import queue

log = logging.getLogger(__name__)


async def push(conn: asyncpg.Connection, msg: Message, targets: Broadcast, body: bytes | None,
               hub_party: tuple[str, str]) -> int:
    """Queue the message for each receiver of `targets`; returns how many pushes were queued."""
    path = msg.path + (f"?{msg.query}" if msg.query else "")
    calls: list[queue.Call] = [(e.peer_id, msg.module, msg.method, path, body, hub_party, e.key)
                               for e in targets.receivers]
    await queue.enqueue_many(conn, calls)
    for entry, reason in targets.skipped:
        log.info("hub broadcast: receiver skipped", extra={"sender": label(msg.sender), "receiver": entry.label(),
                                                          "reason": reason})
    return len(calls)
