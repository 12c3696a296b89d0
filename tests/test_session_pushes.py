"""Session PATCHes to the eMSP: at once on a status change, otherwise coalesced to one per session per interval,
each carrying exactly the closed periods the eMSP has not got; several flushers never push a session twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.charging.pushes import enqueue_session_patch, flush_due
from app.modules import sessions
from app.modules.owned import announce
from app.ocpi.transport import validate_object
from tests.charging_rows import period, session_doc, write_session
from tests.service import Instance, run, wait_for

INTERVAL = 2


def _patches(inst: Instance, session_id: str) -> list[dict[str, Any]]:
    rows = inst.query("SELECT body, state, created_at FROM outbox WHERE module = 'sessions' AND method = 'PATCH' "
                      "AND path LIKE '%/' || $1 ORDER BY id", session_id)
    return [{"body": json.loads(bytes(r["body"])), "state": r["state"], "created_at": r["created_at"]} for r in rows]


async def _with(dsn: str, work: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            return await work(conn)
    finally:
        await conn.close()


# --- the flush on one database, no servers ------------------------------------------------------------

@pytest.fixture(scope="module")
def cpo_db(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("pushdb"), "cpo")
    try:
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example")
        inst.client_token("msp", [("NL", "MSP", "EMSP")],
                          endpoints=[{"identifier": "sessions", "role": "RECEIVER", "url": "http://127.0.0.1:9/sessions"}])
        yield inst
    finally:
        inst.drop()


def test_concurrent_flushers_push_each_due_session_once(cpo_db: Instance) -> None:
    async def go() -> None:
        async def setup(conn: asyncpg.Connection) -> None:
            for i in range(120):
                await write_session(conn, session_doc(f"F{i:03}"))
                await write_session(conn, session_doc(f"F{i:03}", kwh="2.5", periods=[period(0, "2.5")], minute=15))
            # Pushed a moment ago: not due before the interval has passed.
            await conn.execute("UPDATE charging_sessions SET last_push_at = now() WHERE session_id >= 'F100'")

        await _with(cpo_db.dsn, setup)
        holder = await asyncpg.connect(cpo_db.dsn)
        pools = [await asyncpg.create_pool(cpo_db.dsn, min_size=1, max_size=2) for _ in range(3)]
        try:
            # The ingest holds one session: the flushers skip it instead of waiting.
            tx = holder.transaction()
            await tx.start()
            await holder.execute("SELECT 1 FROM charging_sessions WHERE session_id = 'F007' FOR UPDATE")
            counts = await asyncio.gather(*(flush_due(p, 60, batch=7) for p in pools))
            assert sum(counts) == 99
            await tx.rollback()
            assert await flush_due(pools[0], 60) == 1  # released: pushed now
            assert await flush_due(pools[0], 60) == 0
        finally:
            for p in pools:
                await p.close()
            await holder.close()

    run(go())
    rows = cpo_db.query("SELECT session_id, push_due, periods_pushed, last_push_at FROM charging_sessions ORDER BY session_id")
    pushed = [r for r in rows if r["session_id"] < "F100"]
    assert all(not r["push_due"] and r["periods_pushed"] == 1 for r in pushed)
    assert all(r["push_due"] and r["periods_pushed"] == 0 for r in rows if r["session_id"] >= "F100")
    outbox = cpo_db.query("SELECT path, body FROM outbox WHERE method = 'PATCH' ORDER BY path")
    assert [o["path"] for o in outbox] == [f"/NL/EXA/F{i:03}" for i in range(100)]
    body = json.loads(bytes(outbox[0]["body"]))
    assert body == {"kwh": 2.5, "total_cost": {"excl_vat": 0, "incl_vat": 0}, "status": "ACTIVE",
                    "charging_periods": [{"start_date_time": "2026-11-30T09:00:00Z",
                                          "dimensions": [{"type": "ENERGY", "volume": 2.5}, {"type": "TIME", "volume": 0.25}]}],
                    "last_updated": "2026-11-30T09:15:00Z"}


def test_a_session_without_new_periods_patches_totals_only(cpo_db: Instance) -> None:
    async def go(conn: asyncpg.Connection) -> int:
        await write_session(conn, session_doc("G1", kwh="1", periods=[period(0, "1")], minute=5))
        await enqueue_session_patch(conn, "G1")
        await write_session(conn, session_doc("G1", kwh="1.75", excl="0.4", incl="0.48", periods=[period(0, "1")],
                                              minute=9))
        return int(await enqueue_session_patch(conn, "G1"))

    assert run(_with(cpo_db.dsn, go)) == 1
    # The second PATCH folded into the first, still pending (issue 9 coalescing): its totals replace the first's,
    # and it brought no period, so the one period is not there twice.
    [merged] = _patches(cpo_db, "G1")
    periods = merged["body"].pop("charging_periods")
    assert len(periods) == 1
    assert merged["body"] == {"kwh": 1.75, "total_cost": {"excl_vat": 0.4, "incl_vat": 0.48}, "status": "ACTIVE",
                              "last_updated": "2026-11-30T09:09:00Z"}


def test_unknown_session_is_refused(cpo_db: Instance) -> None:
    from app.charging.pushes import UnknownSession

    with pytest.raises(UnknownSession, match="no charging session 'NOPE'"):
        run(_with(cpo_db.dsn, lambda conn: enqueue_session_patch(conn, "NOPE")))


# --- end to end: a CPO pushing to a real eMSP ------------------------------------------------------------

@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    root: Path = tmp_path_factory.mktemp("pushes")
    cpo = Instance(pg_admin_dsn, root, "cpo", OCPI_ENGINE_SESSION_PATCH_INTERVAL=str(INTERVAL))
    emsp = Instance(pg_admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        cpo.start()
        emsp.start()
        token_a = cpo.invite("msp", "NL/MSP/EMSP")
        emsp.cli("peer", "register", "--label", "cpo", "--", cpo.versions_url, token_a)
        yield cpo, emsp
    finally:
        for inst in (cpo, emsp):
            inst.drop()


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def _ours(cpo: Instance, session_id: str) -> dict[str, Any]:
    return dict(json.loads(cpo.query("SELECT data::text AS d FROM sessions WHERE id = $1", session_id)[0]["d"]))


def _theirs(emsp: Instance, session_id: str) -> dict[str, Any] | None:
    rows = emsp.query("SELECT data::text AS d FROM sessions WHERE id = $1", session_id)
    return dict(json.loads(rows[0]["d"])) if rows else None


def test_put_then_coalesced_patches_reach_the_emsp(pair: tuple[Instance, Instance]) -> None:
    cpo, emsp = pair
    sid = "LIVE-1"

    async def start(conn: asyncpg.Connection) -> None:  # what the ingest does at session_started
        doc = session_doc(sid)
        text = await write_session(conn, doc, push_due=False)
        obj = validate_object(doc, sessions.MODULE.schema, what="session").obj
        assert await announce(conn, sessions.MODULE, obj, "PUT", "/NL/EXA/" + sid, text.encode()) == 1
        await conn.execute("UPDATE charging_sessions SET last_push_at = now() WHERE session_id = $1", sid)

    run(_with(cpo.dsn, start))
    wait_for(lambda: _theirs(emsp, sid) == _ours(cpo, sid), what="the PUT")

    # Many changes inside one interval: meter readings closing two periods, totals moving.
    periods = [period(0, "3.1"), period(15, "2.9")]
    steps = [("1.2", [], 2), ("3.1", periods[:1], 15), ("4.0", periods[:1], 20), ("6.0", periods, 30), ("6.6", periods, 33)]

    async def changes(conn: asyncpg.Connection) -> None:
        await conn.execute("UPDATE charging_sessions SET last_push_at = now() WHERE session_id = $1", sid)
        for kwh, ps, minute in steps:
            await write_session(conn, session_doc(sid, kwh=kwh, excl=kwh, incl=kwh, periods=ps, minute=minute))

    run(_with(cpo.dsn, changes))
    [patch] = wait_for(lambda: [p for p in _patches(cpo, sid) if p["state"] == "DELIVERED"] or None, what="the PATCH")
    assert patch["body"]["charging_periods"] == json.loads(json.dumps(_ours(cpo, sid)["charging_periods"]))
    assert patch["body"]["kwh"] == 6.6 and patch["body"]["last_updated"] == "2026-11-30T09:33:00Z"
    pushed_at = cpo.query("SELECT last_push_at FROM charging_sessions WHERE session_id = $1", sid)[0]["last_push_at"]
    wait_for(lambda: _theirs(emsp, sid) == _ours(cpo, sid), what="the eMSP copy to match")

    # One more change: not pushed before an interval has passed since the last push.
    third = [*periods, period(30, "1.1")]
    run(_with(cpo.dsn, lambda c: write_session(c, session_doc(sid, kwh="7.7", excl="7.7", incl="7.7", periods=third,
                                                                minute=40))))
    second = wait_for(lambda: _patches(cpo, sid)[1:] or None, what="the second PATCH")[0]
    assert (second["created_at"] - pushed_at).total_seconds() >= INTERVAL
    assert second["body"]["charging_periods"] == [json.loads(json.dumps(_ours(cpo, sid)["charging_periods"][2]))]

    # A status change is pushed at once by the ingest's call, with the periods closed since.
    final = [*third, period(40, "0.3")]

    async def stop(conn: asyncpg.Connection) -> int:
        await write_session(conn, session_doc(sid, kwh="8.0", excl="8", incl="9.68", periods=final, minute=41,
                                              status="COMPLETED"), push_due=False)
        return int(await enqueue_session_patch(conn, sid))

    assert run(_with(cpo.dsn, stop)) == 1
    patches = wait_for(lambda: (p := _patches(cpo, sid)) and len(p) == 3 and p[2]["state"] == "DELIVERED" and p,
                       what="the final PATCH")
    assert patches[2]["body"]["status"] == "COMPLETED" and patches[2]["body"]["end_date_time"] == "2026-11-30T09:41:00Z"
    assert len(patches[2]["body"]["charging_periods"]) == 1
    wait_for(lambda: _theirs(emsp, sid) == _ours(cpo, sid), what="the eMSP copy to match after the stop")
    ours = _ours(cpo, sid)
    assert ours["status"] == "COMPLETED" and len(ours["charging_periods"]) == 4
    row = cpo.query("SELECT push_due, periods_pushed FROM charging_sessions WHERE session_id = $1", sid)[0]
    assert not row["push_due"] and row["periods_pushed"] == 4


def test_due_patches_survive_kill_9(pair: tuple[Instance, Instance]) -> None:
    """The push bookkeeping is in the rows: a CPO killed while PATCHes are due sends them after its restart."""
    cpo, emsp = pair
    sid = "LIVE-2"

    async def start(conn: asyncpg.Connection) -> None:
        doc = session_doc(sid)
        text = await write_session(conn, doc, push_due=False)
        obj = validate_object(doc, sessions.MODULE.schema, what="session").obj
        await announce(conn, sessions.MODULE, obj, "PUT", "/NL/EXA/" + sid, text.encode())

    run(_with(cpo.dsn, start))
    wait_for(lambda: _theirs(emsp, sid) == _ours(cpo, sid), what="the PUT")
    assert cpo.proc is not None
    for pid in [*_descendants(cpo.proc.pid), cpo.proc.pid]:  # SIGKILL to the server and its workers
        os.kill(pid, signal.SIGKILL)
    cpo.proc.wait(10)
    wait_for(lambda: not _answers(cpo.versions_url), what="the CPO's workers to go")

    async def change(conn: asyncpg.Connection) -> None:
        await write_session(conn, session_doc(sid, kwh="2", excl="0.5", incl="0.6", periods=[period(0, "2")], minute=20))
        await conn.execute("UPDATE charging_sessions SET last_push_at = now() - interval '1 hour' WHERE session_id = $1", sid)

    run(_with(cpo.dsn, change))
    assert not _patches(cpo, sid)  # nothing queued it while down
    cpo.start()
    [patch] = wait_for(lambda: [p for p in _patches(cpo, sid) if p["state"] == "DELIVERED"] or None, what="the PATCH")
    assert len(patch["body"]["charging_periods"]) == 1
    wait_for(lambda: _theirs(emsp, sid) == _ours(cpo, sid), what="the eMSP copy to match")
