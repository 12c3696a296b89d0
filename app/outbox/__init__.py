"""The one outbox every push to a peer goes through: rows in PostgreSQL, written in the same transaction as
the change they announce, delivered in order per peer by `Dispatcher` (digest §1.11 on retries: see queue.py)."""

from app.outbox.dispatcher import Dispatcher
from app.outbox.queue import enqueue, enqueue_many

__all__ = ["Dispatcher", "enqueue", "enqueue_many"]
