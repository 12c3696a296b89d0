"""Each peer's delivery status (issue 9 §1): CONNECTED, or OFFLINE after `Settings.delivery_offline_after`
consecutive retryable failures. While OFFLINE the engine sends one probe at a time, each after a growing pause
(`next_probe_at`); the first success makes the peer CONNECTED again and its whole (coalesced) queue due at once:
that queue is the current state of everything that changed while it was away. Every change is NOTIFYed on
`CHANNEL` with the peer id (the hub's HubClientInfo and registry follow it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

CHANNEL = "ocpi_peer_status"
CONNECTED, OFFLINE = "CONNECTED", "OFFLINE"


@dataclass(slots=True)
class PeerDelivery:
    peer_id: int
    status: str
    failures: int
    since: dt.datetime
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    last_error: str | None
    next_probe_at: dt.datetime | None


@dataclass(slots=True)
class Tally:
    """One peer's finished sends in one batch of outcomes, in the order they finished."""

    succeeded: bool = False
    failures: int = 0
    """Retryable failures after the last success (all of them when none succeeded)."""
    last_error: str | None = None

    def success(self) -> None:
        self.succeeded, self.failures = True, 0

    def failure(self, error: str) -> None:
        self.failures += 1
        self.last_error = error


_COLUMNS = "peer_id, status, failures, since, last_success_at, last_failure_at, last_error, next_probe_at"


async def status_of(conn: asyncpg.Connection | asyncpg.Pool, peer_id: int) -> str:
    status = await conn.fetchval("SELECT status FROM peer_delivery WHERE peer_id = $1", peer_id)
    return str(status or CONNECTED)


async def all_statuses(conn: asyncpg.Connection | asyncpg.Pool) -> dict[int, PeerDelivery]:
    """Peers with a delivery record (a peer without one has never failed: CONNECTED)."""
    return {r["peer_id"]: PeerDelivery(**dict(r)) for r in await conn.fetch(f"SELECT {_COLUMNS} FROM peer_delivery")}


async def _became(conn: asyncpg.Connection, peer_ids: list[int], status: str) -> None:
    if not peer_ids:
        return
    if status == CONNECTED:  # everything that waited for it is due now, not after its own backoff
        await conn.execute("UPDATE outbox SET next_attempt_at = now() WHERE peer_id = ANY($1::int[]) "
                           "AND state = 'PENDING' AND next_attempt_at > now()", peer_ids)
    await conn.execute("SELECT pg_notify($1, p::text) FROM unnest($2::int[]) AS p", CHANNEL, peer_ids)


async def set_status(conn: asyncpg.Connection, peer_id: int, status: str, reason: str | None = None) -> bool:
    """Set a peer's status from outside the engine (e.g. the hub's still-alive check); returns True when it
    changed. OFFLINE: the engine probes at once; CONNECTED: its queue is due at once."""
    if status not in (CONNECTED, OFFLINE):
        raise ValueError(f"peer status must be {CONNECTED} or {OFFLINE}, not {status!r}")
    was = await conn.fetchval("SELECT status FROM peer_delivery WHERE peer_id = $1 FOR UPDATE", peer_id)
    await conn.execute(
        f"""INSERT INTO peer_delivery AS d ({_COLUMNS}) VALUES ($1, $2, 0, now(), NULL, NULL, $3, now())
            ON CONFLICT (peer_id) DO UPDATE SET status = $2, last_error = coalesce($3, d.last_error),
                since = CASE WHEN d.status = $2 THEN d.since ELSE now() END,
                failures = CASE WHEN $2 = 'CONNECTED' THEN 0 ELSE d.failures END,
                next_probe_at = CASE WHEN $2 = 'CONNECTED' THEN NULL ELSE now() END""",
        peer_id, status, reason)
    changed = (was or CONNECTED) != status
    if changed:
        await _became(conn, [peer_id], status)
    return changed


async def record(conn: asyncpg.Connection, tallies: dict[int, Tally], offline_after: int,
                 probe_pause: Callable[[float], float]) -> dict[int, str]:
    """Fold one batch of outcomes into the peers' records (call in a transaction); returns the peers whose status
    changed, with the new status. `probe_pause(s)`: seconds before the next probe of a peer OFFLINE for s seconds
    (by time, not by failures: a whole window failing at once must not push the first probe far out)."""
    ids = sorted(tallies)
    old = {r["peer_id"]: r for r in await conn.fetch(
        "SELECT peer_id, status, failures, extract(epoch FROM now() - since)::float8 AS offline_for FROM peer_delivery WHERE peer_id = ANY($1::int[]) ORDER BY peer_id "
        "FOR UPDATE", ids)}
    rows = []
    changed: dict[int, str] = {}
    for peer_id in ids:
        t = tallies[peer_id]
        was = old[peer_id]["status"] if peer_id in old else CONNECTED
        failures = t.failures if t.succeeded else (old[peer_id]["failures"] if peer_id in old else 0) + t.failures
        status = OFFLINE if failures >= offline_after else CONNECTED
        offline_for = old[peer_id]["offline_for"] if was == OFFLINE else 0.0
        probe = probe_pause(offline_for) if status == OFFLINE else None
        rows.append((peer_id, status, failures, t.succeeded, t.failures > 0, t.last_error, probe, status != was))
        if status != was:
            changed[peer_id] = status
    await conn.execute(
        f"""INSERT INTO peer_delivery AS d ({_COLUMNS})
            SELECT p, s, f, now(), CASE WHEN ok THEN now() END, CASE WHEN bad THEN now() END, e,
                   now() + make_interval(secs => pr)
            FROM unnest($1::int[], $2::text[], $3::int[], $4::bool[], $5::bool[], $6::text[], $7::float8[], $8::bool[])
                 AS u(p, s, f, ok, bad, e, pr, ch)
            ON CONFLICT (peer_id) DO UPDATE SET status = EXCLUDED.status, failures = EXCLUDED.failures,
                since = CASE WHEN d.status = EXCLUDED.status THEN d.since ELSE now() END,
                last_success_at = coalesce(EXCLUDED.last_success_at, d.last_success_at),
                last_failure_at = coalesce(EXCLUDED.last_failure_at, d.last_failure_at),
                last_error = coalesce(EXCLUDED.last_error, d.last_error),
                next_probe_at = EXCLUDED.next_probe_at""",
        *(list(c) for c in zip(*rows, strict=True)))
    for status in (CONNECTED, OFFLINE):
        await _became(conn, [p for p, s in changed.items() if s == status], status)
    return changed
