"""The delivery engine (issue 9 §1): every peer's outbox delivered with no peer ever waiting for another.

- Order per object, not per peer: a row is claimed when it is the oldest open row of its object (`object_key`), and
  up to the peer's window of rows are in flight at once (`peers.delivery_window`, else `Settings.delivery_window`).
- Never waits: each send is its own task; the claim loop goes on while sends are outstanding, woken by NOTIFY,
  by finished sends and by polling. Outcomes are written in batches (one UPDATE per few ms of finished sends).
- Liveness: each engine holds a session advisory lock (LOCK_CLASS, its instance id) on a connection of its own.
  A SENDING row whose `claimed_by` holds no such lock (its process died) is claimable again at once; a row held
  longer than LEASE_TIMEOUTS request timeouts is too (a hung instance).
- Outcomes (`outcomes.classify`): delivered; refused (recorded, never retried, blocks nothing); a PATCH of an object
  the peer lacks is replaced by a PUT of the whole object (`whole.py`); 401 tries the other token form once; the rest
  is retried forever with capped, jittered backoff, and makes the peer OFFLINE after a few failures in a row
  (`peer_status.py`), then probed one send at a time until it answers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from app.config import Settings
from app.db import peers
from app.db.liveness import holders_sql
from app.db.pool import describe, unavailable
from app.ocpi.auth import authorization_header
from app.ocpi.routing import PartyRef
from app.ocpi.routing import headers as routing_headers
from app.outbox import metrics, peer_status
from app.outbox.courier import Answer, Courier, Outbound, make_courier
from app.outbox.outcomes import Kind, classify
from app.outbox.whole import whole_put
from app.peer_addresses import AddressPolicy, AddressRefused
from app.secrets_vault import TokenVault

log = logging.getLogger(__name__)

LOCK_CLASS = 0x0C91
"""classid of the engines' session advisory locks (objid: the instance id)."""
LEASE_TIMEOUTS = 5
BACKOFF_BASE = 1.0
PEER_TTL = 5.0
ADDRESS_TTL = 30.0
QUIET_SECONDS = 1.0
"""A peer that only answered is re-recorded (last_success_at, failures reset) at most this often per instance."""
FINISH_CHUNK = 64
"""Outcomes per UPDATE: past ~200 rows the planner may prefer a scan over looping on the array for every row it
finds (measured: 800 outcomes against 800 SENDING rows took 0.3–0.5 s instead of 10 ms)."""

# Per registered peer with pending rows: its room (window, or one probe while OFFLINE and due, minus the rows in
# flight to it from every instance), then that many of its rows that head their object's queue, oldest first.
_CLAIM = """
WITH room AS (
    SELECT p.id AS peer_id, coalesce(d.status = 'OFFLINE', false) AS offline,
           CASE WHEN d.status = 'OFFLINE'
                THEN CASE WHEN d.next_probe_at IS NULL OR d.next_probe_at <= now() THEN 1 ELSE 0 END
                ELSE coalesce(p.delivery_window, $1) END
           - (SELECT count(*) FROM outbox s WHERE s.peer_id = p.id AND s.state = 'SENDING') AS room
    FROM peers p LEFT JOIN peer_delivery d ON d.peer_id = p.id
    WHERE p.status = 'REGISTERED' AND EXISTS (SELECT 1 FROM outbox x WHERE x.peer_id = p.id AND x.state = 'PENDING')
), picked AS (
    SELECT c.id FROM room r CROSS JOIN LATERAL (
        SELECT o.id FROM outbox o
        WHERE o.peer_id = r.peer_id AND o.state = 'PENDING' AND (r.offline OR o.next_attempt_at <= now())
          AND (o.object_key IS NULL OR NOT EXISTS (
               SELECT 1 FROM outbox e WHERE e.peer_id = o.peer_id AND e.object_key = o.object_key
                 AND e.state IN ('PENDING', 'SENDING') AND e.id < o.id))
        ORDER BY o.id LIMIT greatest(r.room, 0) FOR UPDATE OF o SKIP LOCKED) c
    LIMIT $3
)
UPDATE outbox o SET state = 'SENDING', claimed_by = $2, claimed_at = clock_timestamp(), attempts = o.attempts + 1,
       first_sent_at = coalesce(o.first_sent_at, now())
FROM picked WHERE o.id = picked.id
RETURNING o.id, o.peer_id, o.module, o.method, o.path, o.body, o.from_country_code, o.from_party_id,
          o.to_country_code, o.to_party_id, o.headers::text AS headers, o.url, o.interface, o.attempts,
          o.created_at, o.claimed_at"""

# SENDING rows of instances that are gone (no advisory lock in pg_locks) or held past the lease.
_RECLAIM = f"""
UPDATE outbox SET state = 'PENDING', claimed_by = NULL, claimed_at = NULL
WHERE state = 'SENDING' AND (claimed_by IS NULL OR claimed_at < now() - make_interval(secs => $1)
   OR claimed_by::bigint NOT IN ({holders_sql(LOCK_CLASS)}))
RETURNING id"""

# Our claim still holds when claimed_by and claimed_at are ours: every change out of SENDING clears claimed_by (RECLAIM,
# stop, ops retry, peer unregistered), and claimed_at is per claim. No `state = 'SENDING'` test on purpose: it matched
# the partial index outbox_sending, which the planner then scanned (or looped over) instead of looking rows up by id.
_FINISH = """
UPDATE outbox o SET state = u.state, last_error = u.err, response_location = coalesce(u.loc, o.response_location),
    delivered_at = CASE WHEN u.state = 'DELIVERED' THEN now() END, latency_ms = u.lat,
    next_attempt_at = CASE WHEN u.state = 'PENDING' THEN now() + make_interval(secs => u.delay)
                           ELSE o.next_attempt_at END,
    method = coalesce(u.method, o.method), path = coalesce(u.path, o.path),
    body = CASE WHEN u.method IS NULL THEN o.body ELSE u.body END,
    claimed_by = NULL, claimed_at = NULL
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[], $8::text[],
            $9::bytea[], $10::timestamptz[]) AS u(id, state, err, loc, lat, delay, method, path, body, claimed_at)
WHERE o.id = u.id AND o.claimed_by = $11 AND o.claimed_at = u.claimed_at"""


def backoff(n: int, cap: float) -> float:
    """Seconds before retry n (0-based): min(cap, base·2^n) plus up to 20 % jitter (peers coming back are not hit
    by every queue at the same instant)."""
    delay = min(cap, BACKOFF_BASE * 2 ** min(n, 30))
    return delay + random.uniform(0, 0.2 * delay)


@dataclass(slots=True)
class Claim:
    id: int
    peer_id: int
    module: str
    method: str
    path: str
    body: bytes | None
    sender: PartyRef
    receiver: PartyRef
    headers: dict[str, str] | None
    url: str | None
    interface: str
    attempts: int
    created_at: dt.datetime
    claimed_at: dt.datetime

    @classmethod
    def of(cls, r: asyncpg.Record) -> "Claim":
        return cls(r["id"], r["peer_id"], r["module"], r["method"], r["path"],
                   None if r["body"] is None else bytes(r["body"]), PartyRef(r["from_country_code"], r["from_party_id"]),
                   PartyRef(r["to_country_code"], r["to_party_id"]),
                   json.loads(r["headers"]) if r["headers"] else None, r["url"], r["interface"], r["attempts"],
                   r["created_at"], r["claimed_at"])


@dataclass(slots=True)
class Done:
    claim: Claim
    state: str
    """DELIVERED, REFUSED, or PENDING (to retry after `delay`, or replaced by `replace`)."""
    outcome: str
    """The metric's outcome label."""
    error: str | None = None
    location: str | None = None
    delay: float = 0.0
    latency_ms: float | None = None
    replace: tuple[str, str, bytes] | None = None
    """(method, path, body) the row becomes: a PUT of the whole object."""
    peer_answered: bool = True
    """False for a retryable failure (counts towards OFFLINE)."""


@dataclass(slots=True)
class _PeerEntry:
    expires: float
    peer: peers.Peer | None
    token: str | None


class DeliveryEngine:
    def __init__(self, pool: asyncpg.Pool, vault: TokenVault, dsn: str, courier: Courier, *, window: int = 16,
                 offline_after: int = 5, backoff_cap: float = 60.0, timeout: float = 15.0,
                 addresses: AddressPolicy | None = None, poll_seconds: float = 1.0, flush_seconds: float = 0.01,
                 max_claim: int = 1024) -> None:
        self._pool, self._vault, self._dsn, self._courier = pool, vault, dsn, courier
        self._window, self._offline_after, self._cap = window, offline_after, backoff_cap
        self._timeout, self._addresses = timeout, addresses or AddressPolicy()
        self._poll, self._flush_delay, self._max_claim = poll_seconds, flush_seconds, max_claim
        self.instance_id = random.randint(1, 2**31 - 1)
        self._lock_conn: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._flush_wake = asyncio.Event()
        self._done: list[Done] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._peers: dict[int, _PeerEntry] = {}
        self._peer_loads: dict[int, asyncio.Future[_PeerEntry]] = {}
        self._quiet: dict[int, float] = {}
        """Peers whose last recorded batch was all successes on a CONNECTED record, with when it was written."""
        self._hosts: dict[str, tuple[float, str | None]] = {}

    @classmethod
    def from_settings(cls, pool: asyncpg.Pool, vault: TokenVault, settings: Settings) -> "DeliveryEngine":
        assert settings.database_url
        courier = make_courier(settings.courier, settings.delivery_window, settings.request_timeout)
        return cls(pool, vault, settings.database_url, courier, window=settings.delivery_window,
                   offline_after=settings.delivery_offline_after, backoff_cap=settings.delivery_backoff_cap,
                   timeout=settings.request_timeout, addresses=settings.peer_addresses)

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._hold_lock()
        self._tasks = [asyncio.create_task(self._claim_loop(), name="delivery-claims"),
                       asyncio.create_task(self._flush_loop(), name="delivery-outcomes")]

    async def stop(self) -> None:
        """Stop sending; what was in flight goes back to PENDING at once (another instance takes it up)."""
        for task in self._tasks:
            task.cancel()
        for task in list(self._sends):
            task.cancel()
        for task in [*self._tasks, *self._sends]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._write(self._take_done())
        with contextlib.suppress(Exception):
            await self._pool.execute("UPDATE outbox SET state = 'PENDING', claimed_by = NULL, claimed_at = NULL "
                                     "WHERE state = 'SENDING' AND claimed_by = $1", self.instance_id)
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close(timeout=2)
        await self._courier.aclose()

    def wake(self) -> None:
        """Rows were queued (NOTIFY), or notifications may have been missed."""
        self._wake.set()

    def peers_changed(self) -> None:
        """A peer changed (NOTIFY ocpi_peers): tokens and endpoints are re-read."""
        self._peers.clear()

    async def _hold_lock(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        await conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, self.instance_id)
        self._lock_conn = conn

    async def _keep_lock(self) -> None:
        """The lock's connection is this instance's life sign: re-established when lost (meanwhile our rows may be
        taken over, which at-least-once delivery allows; our late outcomes then match no row)."""
        conn = self._lock_conn
        if conn is None or conn.is_closed():
            self._lock_conn = None
            await self._hold_lock()
            return
        await conn.execute("SELECT 1", timeout=5)

    # --- claiming --------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        last_check = 0.0
        while True:
            claimed = 0
            try:
                if time.monotonic() - last_check >= self._poll:
                    last_check = time.monotonic()
                    await self._keep_lock()
                    taken = await self._pool.fetch(_RECLAIM, LEASE_TIMEOUTS * self._timeout)
                    if taken:
                        log.warning("delivery: took over rows of a stopped instance", extra={"rows": len(taken)})
                self._wake.clear()
                rows = await self._pool.fetch(_CLAIM, self._window, self.instance_id, self._max_claim)
                for r in rows:
                    task = asyncio.create_task(self._send(Claim.of(r)))
                    self._sends.add(task)
                    task.add_done_callback(self._sends.discard)
                claimed = len(rows)
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any round
                if unavailable(exc):
                    log.warning("delivery: claim failed", extra={"error": describe(exc)})
                else:
                    log.exception("delivery: claim failed")
                await asyncio.sleep(min(self._poll, 1.0))
            if claimed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    # --- sending ---------------------------------------------------------------------------------------

    async def _send(self, c: Claim) -> None:
        try:
            done = await self._deliver(c)
        except Exception as exc:  # noqa: BLE001 - never lose a claimed row: it is retried
            log.exception("delivery: send failed", extra={"outbox_id": c.id})
            done = Done(c, "PENDING", "retry", f"internal error: {exc!r}", delay=backoff(c.attempts - 1, self._cap),
                        peer_answered=False)
        self._done.append(done)
        self._flush_wake.set()

    async def _peer(self, peer_id: int) -> _PeerEntry:
        entry = self._peers.get(peer_id)
        if entry is not None and entry.expires >= time.monotonic():
            return entry
        # One lookup per peer: the whole window of sends to it finds the cache expired at once.
        loading = self._peer_loads.get(peer_id)
        if loading is not None:
            await asyncio.wait([loading])  # never raises: a failed lookup is retried below by this send
            if not loading.cancelled() and loading.exception() is None:
                return loading.result()
            return await self._load_peer(peer_id)
        return await self._load_peer(peer_id)

    async def _load_peer(self, peer_id: int) -> _PeerEntry:
        loading: asyncio.Future[_PeerEntry] = asyncio.get_running_loop().create_future()
        self._peer_loads.setdefault(peer_id, loading)
        try:
            peer = await peers.by_id(self._pool, peer_id)
            token = self._vault.decrypt(peer.token_out_enc) if peer and peer.token_out_enc else None
            entry = _PeerEntry(time.monotonic() + PEER_TTL, peer, token)
            self._peers[peer_id] = entry
            loading.set_result(entry)
            return entry
        finally:
            if not loading.done():
                loading.cancel()
            if self._peer_loads.get(peer_id) is loading:
                del self._peer_loads[peer_id]

    async def _address_problem(self, url: str) -> str | None:
        """Our peer address policy's verdict on the URL's host, cached for a short while."""
        host = urlsplit(url).netloc
        cached = self._hosts.get(host)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            await self._addresses.check(url)
            problem = None
        except AddressRefused as exc:
            problem = str(exc)
        self._hosts[host] = (time.monotonic() + ADDRESS_TTL, problem)
        return problem

    def _probe_pause(self, offline_for: float) -> float:
        """A peer down for s seconds is probed about every s/2 (from 1 s up to the cap): a short outage is noticed
        to be over at once, a long one costs few probes."""
        delay = min(self._cap, max(BACKOFF_BASE, offline_for / 2))
        return delay + random.uniform(0, 0.2 * delay)

    def _retry(self, c: Claim, error: str) -> Done:
        return Done(c, "PENDING", "retry", error, delay=backoff(c.attempts - 1, self._cap), peer_answered=False)

    async def _deliver(self, c: Claim) -> Done:
        entry = await self._peer(c.peer_id)
        peer = entry.peer
        if peer is None or not peer.registered or entry.token is None:
            return self._retry(c, "peer is not registered")
        if c.url is not None:
            url = c.url
        else:
            base = peer.endpoint(c.module, c.interface)
            if base is None:
                return Done(c, "REFUSED", "refused", f"peer offers no {c.module} {c.interface} endpoint")
            url = base.rstrip("/") + c.path
        problem = await self._address_problem(url)
        if problem is not None:
            return self._retry(c, problem)
        base64 = peer.auth_base64
        answer = await self._call(c, url, entry.token, base64)
        outcome = classify(c.method, answer)
        if outcome.kind is Kind.REAUTH:
            answer = await self._call(c, url, entry.token, not base64)
            outcome = classify(c.method, answer, reauth_tried=True)
            if answer.http_status != 401:  # the other form works: use it from now on (as OcpiClient does)
                await peers.set_auth_base64(self._pool, peer.id, not base64)
                self._peers.pop(peer.id, None)
        if outcome.kind is Kind.DELIVERED:
            latency = (dt.datetime.now(dt.UTC) - c.created_at).total_seconds() * 1000
            return Done(c, "DELIVERED", "delivered", None, answer.headers.get("location"), latency_ms=latency)
        if outcome.kind is Kind.REFUSED:
            return Done(c, "REFUSED", "refused", outcome.reason)
        if outcome.kind is Kind.UNKNOWN_OBJECT:
            whole = await whole_put(self._pool, c.module, c.path) if c.url is None else None
            if whole is None:
                return Done(c, "REFUSED", "refused", f"{outcome.reason}; the peer lacks the object and we hold none")
            return Done(c, "PENDING", "put_after_unknown", f"{outcome.reason}; sending the whole object",
                        replace=("PUT", whole[0], whole[1]))
        return self._retry(c, outcome.reason or "retry")

    async def _call(self, c: Claim, url: str, token: str, base64: bool) -> Answer:
        extra = dict(c.headers or {})
        correlation = next((extra.pop(k) for k in list(extra) if k.lower() == "x-correlation-id"), None)
        headers = [("Authorization", authorization_header(token, base64)), ("X-Request-ID", str(uuid.uuid4())),
                   ("X-Correlation-ID", correlation or str(uuid.uuid4())),
                   *routing_headers(c.receiver, c.sender).items(), *extra.items()]
        if c.body is not None:
            headers.append(("Content-Type", "application/json"))
        answer = await self._courier.send(Outbound(c.method, url, headers, c.body), self._timeout)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("delivery: sent", extra={"outbox_id": c.id, "url": url, "status": answer.http_status,
                                               "ms": answer.elapsed_ms, "error": answer.error})
        return answer

    # --- outcomes --------------------------------------------------------------------------------------

    def _take_done(self) -> list[Done]:
        batch, self._done = self._done, []
        return batch

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_wake.wait()
            await asyncio.sleep(self._flush_delay)  # let a few more sends finish into this batch
            self._flush_wake.clear()
            batch = self._take_done()
            try:
                await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - keep the outcomes and try again (rows stay ours, SENDING)
                log.warning("delivery: writing outcomes failed", extra={"error": describe(exc)})
                self._done = batch + self._done
                await asyncio.sleep(1.0)
                self._flush_wake.set()
                continue
            self._wake.set()  # their room is free: claim more

    async def _write(self, batch: list[Done]) -> None:
        if not batch:
            return
        now = time.monotonic()
        tallies: dict[int, peer_status.Tally] = {}
        for d in batch:
            tally = tallies.setdefault(d.claim.peer_id, peer_status.Tally())
            if d.peer_answered:
                tally.success()
            else:
                tally.failure(d.error or "retry")
        # A peer answering all along needs its record rewritten only now and then (last_success_at): the record
        # is a per-batch SELECT … FOR UPDATE and upsert otherwise, the largest share of a busy flush.
        recorded = {p: t for p, t in tallies.items()
                    if t.failures or self._quiet.get(p, -QUIET_SECONDS) < now - QUIET_SECONDS}
        async with self._pool.acquire() as conn, conn.transaction():
            for start in range(0, len(batch), FINISH_CHUNK):
                await self._finish(conn, batch[start:start + FINISH_CHUNK])
            changed = (await peer_status.record(conn, recorded, self._offline_after, self._probe_pause)
                       if recorded else {})
        for p, t in recorded.items():
            if t.failures:
                self._quiet.pop(p, None)
            else:
                self._quiet[p] = now
        counts: dict[tuple[int, str, str], int] = {}
        for d in batch:
            k = (d.claim.peer_id, d.claim.module, d.outcome)
            counts[k] = counts.get(k, 0) + 1
            if d.latency_ms is not None:
                metrics.observe_latency(d.claim.peer_id, d.claim.module, d.latency_ms / 1000)
            if d.state == "REFUSED":
                log.warning("delivery: refused", extra={"outbox_id": d.claim.id, "peer": d.claim.peer_id,
                                                         "error": d.error})
        for (peer_id, module, outcome), n in counts.items():
            metrics.count(peer_id, module, outcome, n)
        for peer_id, status in changed.items():
            log.warning("delivery: peer %s", status, extra={"peer": peer_id})

    async def _finish(self, conn: asyncpg.Connection, batch: list[Done]) -> None:
        rep = [d.replace for d in batch]
        await conn.execute(
            _FINISH, [d.claim.id for d in batch], [d.state for d in batch], [d.error for d in batch],
            [d.location for d in batch], [d.latency_ms for d in batch], [d.delay for d in batch],
            [r[0] if r else None for r in rep], [r[1] if r else None for r in rep],
            [r[2] if r else None for r in rep], [d.claim.claimed_at for d in batch], self.instance_id)
