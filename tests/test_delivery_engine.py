"""The delivery engine against lightweight receivers on loopback (real PostgreSQL, real HTTP): coalescing bounds a
queue, order per object with objects in parallel, peers independent, outcome classes, OFFLINE and back, PUT after
an unknown object, and a dead instance's in-flight rows taken over at once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg

from app.db import objects
from app.modules import locations
from app.outbox import peer_status
from tests.delivery_rig import OK, Reply, Request, Receiver, envelope, patch, put, rig, until
from tests.service import run

LOC = "/NL/EXA/LOC1"


def _location(n_evses: int = 3) -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "EXA", "id": "LOC1", "last_updated": "2027-01-01T00:00:00Z",
            "evses": [{"uid": f"E{i}", "status": "AVAILABLE", "last_updated": "2027-01-01T00:00:00Z"}
                      for i in range(n_evses)]}


def test_an_unreachable_peers_queue_is_bounded_by_its_objects(pg_admin_dsn: str) -> None:
    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            peer = await r.peer(19101)  # nothing listens there
            await r.push(put(peer, LOC, _location(10)))
            for round_ in range(20):  # 20 rounds of status changes of 10 EVSEs of one Location, and of 5 sessions
                await r.push(*(patch(peer, f"{LOC}/E{i}", {"status": f"S{round_}", "last_updated": f"2027-01-01T00:{round_:02}:00Z"})
                               for i in range(10)),
                             *(patch(peer, f"/NL/EXA/S{s}", {"kwh": round_, "charging_periods": [{"n": round_}]}, "sessions")
                               for s in range(5)))
            rows = await r.pool.fetch("SELECT method, path, body, coalesced FROM outbox WHERE state = 'PENDING' ORDER BY id")
            assert [(x["method"], x["path"]) for x in rows] == [("PUT", LOC), *(("PATCH", f"/NL/EXA/S{s}") for s in range(5))]
            doc = json.loads(rows[0]["body"])
            assert {e["status"] for e in doc["evses"]} == {"S19"} and doc["last_updated"] == "2027-01-01T00:19:00Z"
            assert rows[0]["coalesced"] == 200
            session = json.loads(rows[1]["body"])
            assert session["kwh"] == 19 and session["charging_periods"] == [{"n": k} for k in range(20)]
            # With the engine retrying meanwhile (the peer down), the queue stays one open row per object.
            await r.engine(offline_after=2, backoff_cap=0.2)
            for round_ in range(20, 40):
                await r.push(*(patch(peer, f"{LOC}/E{i}", {"status": f"S{round_}"}) for i in range(10)))
                await asyncio.sleep(0.02)
            open_rows = await r.pool.fetchval("SELECT count(*) FROM outbox WHERE state IN ('PENDING', 'SENDING')")
            assert open_rows <= 6 + 10  # the objects, plus the EVSE patches queued behind a PUT in flight
            assert await peer_status.status_of(r.pool, peer) == "OFFLINE"

    run(go())


def test_order_per_object_and_objects_in_parallel(pg_admin_dsn: str) -> None:
    async def slow(req: Request) -> Reply:
        await asyncio.sleep(0.3)
        return 200, OK

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19102, slow).start()
            try:
                peer = await r.peer(19102)
                # Three updates of LOC1 that cannot fold into each other (overlapping paths), and ten other objects.
                await r.push(patch(peer, LOC, {"name": "one"}), patch(peer, f"{LOC}/E1", {"status": "A"}),
                             patch(peer, LOC, {"name": "three"}),
                             *(put(peer, f"/NL/EXA/L{i}", {"id": f"L{i}"}) for i in range(10)))
                await r.engine()
                await until(lambda: r.states(peer), what="states")
                await until(lambda: _delivered(r, 13), 10, "13 deliveries")
            finally:
                await rec.close()
            mine = [q for q in rec.requests if q.path.startswith("/ocpi/2.2.1/locations" + LOC)]
            assert [(q.method, q.path.removeprefix("/ocpi/2.2.1/locations")) for q in mine] == [
                ("PATCH", LOC), ("PATCH", f"{LOC}/E1"), ("PATCH", LOC)]
            assert [json.loads(q.body).get("name") for q in mine] == ["one", None, "three"]
            for before, after in zip(mine, mine[1:], strict=False):
                assert after.t_in >= before.t_out  # the next update of an object waits for the previous answer
            others = [q for q in rec.requests if q not in mine]
            assert max(q.t_in for q in others) - min(q.t_in for q in others) < 0.25  # all at once, not one by one
            assert rec.max_in_flight >= 11

    run(go())


async def _delivered(r: Any, n: int) -> bool:
    return bool(await r.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'DELIVERED'") >= n)


def test_a_slow_peer_never_delays_a_fast_one(pg_admin_dsn: str) -> None:
    async def slow(req: Request) -> Reply:
        await asyncio.sleep(3)
        return 200, OK

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            slow_rec, fast_rec = await Receiver(19103, slow).start(), await Receiver(19104).start()
            try:
                slow_peer, fast_peer = await r.peer(19103, label="slow"), await r.peer(19104, label="fast")
                await r.engine(window=4)
                queued: dict[str, float] = {}
                for i in range(20):
                    await r.push(put(slow_peer, f"/NL/EXA/S{i}", {"i": i}), put(fast_peer, f"/NL/EXA/F{i}", {"i": i}))
                    queued[f"/NL/EXA/F{i}"] = time.monotonic()
                    await asyncio.sleep(0.05)
                await until(lambda: _count(fast_rec, 20), 10, "the fast peer's pushes")
                lags = [q.t_in - queued[q.path.removeprefix("/ocpi/2.2.1/locations")] for q in fast_rec.requests]
                assert max(lags) < 0.5, lags
                assert len(slow_rec.requests) <= 8  # its window: 4 at a time, 3 s each
            finally:
                await slow_rec.close()
                await fast_rec.close()

    run(go())


async def _count(rec: Receiver, n: int) -> bool:
    return len(rec.requests) >= n


def test_a_plain_4xx_is_refused_at_once_and_later_pushes_flow(pg_admin_dsn: str) -> None:
    async def picky(req: Request) -> Reply:
        return (400, b"Bad Request") if req.path.endswith("/BAD") else (200, OK)

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19105, picky).start()
            try:
                peer = await r.peer(19105)
                await r.engine()
                await r.push(put(peer, "/NL/EXA/BAD", {"x": 1}))
                await until(lambda: _state(r, "/NL/EXA/BAD", "REFUSED"), 10, "the refusal")
                await r.push(put(peer, "/NL/EXA/GOOD", {"x": 2}), put(peer, "/NL/EXA/BAD", {"x": 3}))
                await until(lambda: _state(r, "/NL/EXA/GOOD", "DELIVERED"), 10, "the later push")
                row = await r.pool.fetchrow("SELECT attempts, last_error FROM outbox WHERE path = '/NL/EXA/BAD' ORDER BY id LIMIT 1")
                assert row["attempts"] == 1 and "HTTP 400, not an OCPI response" in row["last_error"]
                await until(lambda: _count(rec, 3), 10)
                assert await peer_status.status_of(r.pool, peer) == "CONNECTED"
            finally:
                await rec.close()

    run(go())


async def _state(r: Any, path: str, state: str) -> bool:
    return bool(await r.pool.fetchval("SELECT count(*) FROM outbox WHERE path = $1 AND state = $2", path, state))


def test_5xx_is_retried_past_the_old_limit_and_never_dead(pg_admin_dsn: str) -> None:
    answers = {"n": 0}

    async def failing(req: Request) -> Reply:
        answers["n"] += 1
        return (503, b"unavailable") if answers["n"] <= 12 else (200, OK)

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19106, failing).start()
            try:
                peer = await r.peer(19106)
                await r.engine(backoff_cap=0.05, offline_after=100)
                await r.push(put(peer, LOC, _location()))
                await until(lambda: _state(r, LOC, "DELIVERED"), 20, "delivery after 12 failures")
                row = await r.pool.fetchrow("SELECT attempts, state FROM outbox")
                assert row["attempts"] == 13 and row["state"] == "DELIVERED"
                assert not await r.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'DEAD'")
            finally:
                await rec.close()

    run(go())


def test_offline_after_failures_one_probe_at_a_time_then_connected(pg_admin_dsn: str) -> None:
    up = {"on": False}

    async def flaky(req: Request) -> Reply:
        await asyncio.sleep(0.05)
        return (200, OK) if up["on"] else (502, envelope(3000, "down"))

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19107, flaky).start()
            heard: list[str] = []
            listen = await asyncpg.connect(r.dsn)
            await listen.add_listener(peer_status.CHANNEL, lambda *a: heard.append(a[3]))
            try:
                peer = await r.peer(19107)
                await r.engine(offline_after=3, backoff_cap=0.3)
                await r.push(*(put(peer, f"/NL/EXA/L{i}", {"i": i}) for i in range(30)))
                await until(lambda: _offline(r, peer), 10, "OFFLINE")
                rec.max_in_flight = rec.in_flight
                before = len(rec.requests)
                await asyncio.sleep(1.5)
                assert rec.max_in_flight <= 1  # only a probe at a time while OFFLINE
                assert 1 <= len(rec.requests) - before <= 8
                up["on"] = True
                await until(lambda: _delivered(r, 30), 10, "the whole queue after the peer is back")
                assert await peer_status.status_of(r.pool, peer) == "CONNECTED"
                await until(lambda: _true(len(heard) >= 2), 5, "two status notifications")
                assert heard[:2] == [str(peer), str(peer)]
                assert rec.max_in_flight > 1  # the window is open again
            finally:
                await listen.close()
                await rec.close()

    run(go())


async def _offline(r: Any, peer: int) -> bool:
    return await peer_status.status_of(r.pool, peer) == "OFFLINE"


async def _true(value: bool) -> bool:
    return value


def test_patch_of_an_object_the_peer_lacks_is_followed_by_the_whole_object(pg_admin_dsn: str) -> None:
    async def forgetful(req: Request) -> Reply:
        return (200, envelope(2003, "unknown location")) if req.method == "PATCH" else (200, OK)

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19108, forgetful).start()
            try:
                stored = _location()
                stored["evses"][1]["status"] = "CHARGING"
                async with r.pool.acquire() as conn:
                    await objects.put(conn, locations.MODULE.table, ("NL", "EXA", "LOC1"), json.dumps(stored),
                                      __import__("datetime").datetime(2027, 1, 1, tzinfo=__import__("datetime").UTC), None)
                peer = await r.peer(19108)
                await r.engine()
                await r.push(patch(peer, f"{LOC}/E1", {"status": "CHARGING"}), patch(peer, "/NL/EXA/GONE/E1", {"status": "X"}))
                await until(lambda: _state(r, LOC, "DELIVERED"), 10, "the PUT of the whole Location")
                await until(lambda: _state(r, "/NL/EXA/GONE/E1", "REFUSED"), 10, "the PATCH of an object we lack")
            finally:
                await rec.close()
            sent = [(q.method, q.path.removeprefix("/ocpi/2.2.1/locations")) for q in rec.requests]
            assert sent.index(("PATCH", f"{LOC}/E1")) < sent.index(("PUT", LOC))
            body = next(q.body for q in rec.requests if q.method == "PUT")
            assert json.loads(body) == stored
            row = await r.pool.fetchrow("SELECT method, attempts FROM outbox WHERE path = $1", LOC)
            assert row["method"] == "PUT" and row["attempts"] == 2

    run(go())


def test_401_retries_with_the_other_token_form_and_remembers_it(pg_admin_dsn: str) -> None:
    async def raw_only(req: Request) -> Reply:
        return (200, OK) if req.headers.get("authorization") == "Token rig-token" else (401, b"")

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19109, raw_only).start()
            try:
                peer = await r.peer(19109, base64=True)
                await r.engine()
                await r.push(put(peer, "/NL/EXA/A", {}))
                await until(lambda: _state(r, "/NL/EXA/A", "DELIVERED"), 10)
                assert await r.pool.fetchval("SELECT auth_base64 FROM peers WHERE id = $1", peer) is False
                r.engines[0].peers_changed()
                await r.push(put(peer, "/NL/EXA/B", {}))
                await until(lambda: _state(r, "/NL/EXA/B", "DELIVERED"), 10)
                assert len(rec.requests) == 3  # one 401, then raw twice
            finally:
                await rec.close()

    run(go())


def test_a_dead_instances_rows_are_taken_over_at_once(pg_admin_dsn: str) -> None:
    gate = {"open": False}

    async def hang_until_open(req: Request) -> Reply:
        while not gate["open"]:
            await asyncio.sleep(0.05)
        return 200, OK

    async def go() -> None:
        async with rig(pg_admin_dsn) as r:
            rec = await Receiver(19110, hang_until_open).start()
            first = None
            try:
                peer = await r.peer(19110)
                first = await r.engine(timeout=60)
                await r.push(*(put(peer, f"/NL/EXA/L{i}", {"i": i}) for i in range(5)))
                await until(lambda: _sending(r, 5), 10, "five rows in flight")
                # The first instance dies: its tasks stop, its advisory-lock connection closes (as with kill -9).
                for task in [*first._tasks, *first._sends]:
                    task.cancel()
                assert first._lock_conn is not None
                first._lock_conn.terminate()
                r.engines.remove(first)
                gate["open"] = True
                started = time.monotonic()
                second = await r.engine(timeout=60)
                await until(lambda: _delivered(r, 5), 10, "the second instance to deliver them")
                assert time.monotonic() - started < 3  # no lease to wait out (the lease would be 300 s)
                claimed = await r.pool.fetchval("SELECT count(*) FROM outbox WHERE claimed_by IS NOT NULL")
                assert claimed == 0 and second.instance_id != first.instance_id
            finally:
                gate["open"] = True
                if first is not None:  # its sockets, as the OS closes a killed process's (else GC warns later)
                    await first._courier.aclose()
                await rec.close()

    run(go())


async def _sending(r: Any, n: int) -> bool:
    return bool(await r.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'SENDING'") >= n)
