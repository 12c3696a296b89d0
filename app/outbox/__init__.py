"""The one outbox every push to a peer goes through: rows in PostgreSQL, written in the same transaction as
the change they announce (`queue.py`, with coalescing), delivered by the `DeliveryEngine` (`engine.py`): in order
per object, peers independent of each other, retried until delivered unless the peer refuses."""

from app.outbox.queue import Push, enqueue, enqueue_many, object_key

__all__ = ["Push", "enqueue", "enqueue_many", "object_key"]
