"""The operators' live view kept in step with PostgreSQL: content after sessions and EVSE changes, incremental
refresh (a change committed late is not lost), the /api/v1/monitoring routes, `sessions watch`, and 100,000
active sessions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from app.charging.monitoring import LiveView
from app.modules.owned import set_evse_status
from tests.charging_rows import session_doc, write_session
from tests.service import Instance, run

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
_decoder = msgspec.json.Decoder(float_hook=Decimal)


def decode(raw: bytes | None) -> Any:
    assert raw is not None
    return _decoder.decode(raw)


def _evses(loc: dict[str, Any]) -> list[tuple[str, str, int, list[str]]]:
    return [(e["evse_uid"], e["status"], e["active_sessions"], [s["id"] for s in e["sessions"]]) for e in loc["evses"]]


@pytest.fixture(scope="module")
def cpo(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("monitoring"), "cpo")
    try:
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        inst.cli("import", "locations", str(DEMO / "locations.json"), "--no-progress")
        inst.start()
        yield inst
    finally:
        inst.drop()


async def _write(dsn: str, *docs: dict[str, Any]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for doc in docs:
                await write_session(conn, doc)
    finally:
        await conn.close()


def test_view_follows_sessions_and_evse_changes(cpo: Instance) -> None:
    locations = json.loads((DEMO / "locations.json").read_text())
    evse_count = sum(len(loc.get("evses", [])) for loc in locations)

    async def go() -> None:
        pool = await asyncpg.create_pool(cpo.dsn, min_size=1, max_size=3)
        view = LiveView()
        try:
            assert await view.refresh(pool) == (0, evse_count)
            page = decode(view.locations())
            assert page["total"] == len(locations) and page["active_sessions"] == 0
            assert await view.refresh(pool) == (0, 0)  # nothing changed: nothing applied

            await _write(cpo.dsn,
                         session_doc("S1", kwh="3.25", excl="1.1", incl="1.331"),
                         # ids compare case-insensitively: this one is at LOC-00001 too
                         session_doc("S2", location_id="loc-00001", evse_uid="loc-00001-1", connector_id="1",
                                     kwh="1.5", excl="0.5", incl="0.605"),
                         session_doc("S3", location_id="LOC-00002", evse_uid="LOC-00002-3", kwh="10", excl=None))
            assert await view.refresh(pool) == (3, 0)
            loc1 = decode(view.location("NL", "EXA", "LOC-00001"))
            assert (loc1["active_sessions"], loc1["kwh"]) == (2, Decimal("4.75"))
            assert loc1["cost"] == [{"currency": "EUR", "excl_vat": Decimal("1.6"), "incl_vat": Decimal("1.936")}]
            assert _evses(loc1) == [("LOC-00001-1", "AVAILABLE", 2, ["S1", "S2"])]
            page = decode(view.locations("nl", "exa", 0, 2))
            assert [(p["location_id"], p["active_sessions"]) for p in page["locations"]] == [("LOC-00001", 2), ("LOC-00002", 1)]
            assert page["active_sessions"] == 3 and page["kwh"] == Decimal("14.75")
            assert page["cost"] == [{"currency": "EUR", "excl_vat": None, "incl_vat": None}]  # S3 has no cost yet

            # Totals move, a session completes and leaves the view; read again, unchanged rows are not re-sent.
            await _write(cpo.dsn, session_doc("S1", kwh="4", excl="1.5", incl="1.815", minute=5),
                         session_doc("S3", location_id="LOC-00002", evse_uid="LOC-00002-3", kwh="11", excl="2",
                                     incl="2.42", status="COMPLETED", minute=6))
            assert await view.refresh(pool) == (2, 0)
            assert await view.refresh(pool) == (0, 0)
            assert len(view) == 2
            loc1 = decode(view.location("NL", "EXA", "LOC-00001"))
            assert loc1["kwh"] == Decimal("5.5") and loc1["cost"][0]["excl_vat"] == Decimal("2.0")
            loc2 = decode(view.location("NL", "EXA", "LOC-00002"))
            assert loc2["active_sessions"] == 0 and all(e["sessions"] == [] for e in loc2["evses"])

            # An EVSE status change: only that location's EVSEs are read again.
            await set_evse_status(pool, "LOC-00002", "LOC-00002-3", "OUTOFORDER")
            loc2_evses = len(next(loc for loc in locations if loc["id"] == "LOC-00002")["evses"])
            assert await view.refresh(pool) == (0, loc2_evses)
            assert ("LOC-00002-3", "OUTOFORDER", 0, []) in _evses(decode(view.location("NL", "EXA", "LOC-00002")))
            # An EVSE gone from its location is REMOVED from the view.
            await pool.execute("""UPDATE locations SET data = json_build_object('country_code', 'NL', 'party_id', 'EXA',
                                      'id', 'LOC-00002', 'evses', '[]'::json), last_updated = now()
                                  WHERE id = 'LOC-00002' AND peer_id IS NULL""")
            assert await view.refresh(pool) == (0, loc2_evses)
            assert view.location("NL", "EXA", "LOC-00002") is None
        finally:
            await pool.close()

    run(go())


def test_a_change_committed_late_is_not_lost(cpo: Instance) -> None:
    """A transaction that took its change_seq before another one committed, and commits after the view moved
    past that one, still reaches the view."""

    async def go() -> None:
        pool = await asyncpg.create_pool(cpo.dsn, min_size=1, max_size=3)
        slow = await asyncpg.connect(cpo.dsn)
        view = LiveView()
        try:
            await view.refresh(pool)
            tx = slow.transaction()
            await tx.start()
            await write_session(slow, session_doc("LATE", location_id="LOC-00003", evse_uid="LOC-00003-1", kwh="2"))
            await _write(cpo.dsn, session_doc("EARLY", location_id="LOC-00003", evse_uid="LOC-00003-1", kwh="1"))
            seq = "SELECT change_seq FROM charging_sessions WHERE session_id = $1"
            late_seq, early_seq = await slow.fetchval(seq, "LATE"), await pool.fetchval(seq, "EARLY")
            assert late_seq < early_seq
            assert await view.refresh(pool) == (1, 0)
            assert await view.refresh(pool) == (0, 0)
            await tx.commit()
            assert await view.refresh(pool) == (1, 0)
            loc = decode(view.location("NL", "EXA", "LOC-00003"))
            assert loc["active_sessions"] == 2 and loc["kwh"] == Decimal("3")
            assert await view.refresh(pool) == (0, 0)
        finally:
            await slow.close()
            await pool.close()

    run(go())


# --- the API ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def key(cpo: Instance) -> str:
    return cpo.cli("apikey", "create", "--label", "monitoring").stdout.strip()


def test_api_needs_a_key_and_serves_the_view(cpo: Instance, key: str) -> None:
    run(_write(cpo.dsn, session_doc("API1", location_id="LOC-00010", evse_uid="LOC-00010-1", kwh="7.125",
                                    excl="2.5", incl="3.025")))
    url = f"{cpo.url}/api/v1/monitoring/locations"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url + "/NL/EXA/LOC-00010").status_code == 401
    auth = {"Authorization": f"Bearer {key}"}
    page = httpx.get(url, params={"country_code": "NL", "party_id": "EXA", "limit": 1000}, headers=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("application/json")
    body = decode(page.content)
    mine = next(p for p in body["locations"] if p["location_id"] == "LOC-00010")
    assert (mine["active_sessions"], mine["kwh"]) == (1, Decimal("7.125"))
    assert body["total"] == len(body["locations"])
    detail = httpx.get(url + "/nl/exa/loc-00010", headers=auth)
    assert detail.status_code == 200
    sessions = [s for e in decode(detail.content)["evses"] for s in e["sessions"]]
    assert [(s["id"], s["kwh"], s["excl_vat"], s["incl_vat"]) for s in sessions] == [
        ("API1", Decimal("7.125"), Decimal("2.5"), Decimal("3.025"))]
    assert decode(httpx.get(url, params={"country_code": "DE"}, headers=auth).content)["total"] == 0

    missing = httpx.get(url + "/NL/EXA/NOPE", headers=auth)
    assert missing.status_code == 404 and missing.json()["field"] == "location_id"
    assert "NOPE" in missing.json()["error"]
    bad = httpx.get(url, params={"country_code": "NLD"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["field"] == "country_code"
    bad = httpx.get(url, params={"limit": "0"}, headers=auth)
    assert bad.status_code == 400 and "limit" in json.dumps(bad.json())

    # active=true: only the locations with an active session; the totals are those of all locations.
    every = decode(httpx.get(url, params={"limit": 1000}, headers=auth).content)
    busy = [p for p in every["locations"] if p["active_sessions"] > 0]
    assert len(busy) < every["total"]  # the demo's idle locations are listed without the filter
    for value in ("true", "1", "TRUE"):
        active = decode(httpx.get(url, params={"active": value, "limit": 1000}, headers=auth).content)
        assert active["locations"] == busy and active["total"] == len(busy)
        assert (active["active_sessions"], active["kwh"], active["cost"]) == (
            every["active_sessions"], every["kwh"], every["cost"])
    for value in ("false", "0"):
        assert decode(httpx.get(url, params={"active": value, "limit": 1000}, headers=auth).content) == every
    page = decode(httpx.get(url, params={"active": "true", "country_code": "NL", "party_id": "EXA", "offset": 1},
                            headers=auth).content)
    assert page["locations"] == busy[1:101] and page["total"] == len(busy)
    for value in ("yes", "", "2"):
        bad = httpx.get(url, params={"active": value}, headers=auth)
        assert bad.status_code == 400 and bad.json()["field"] == "active", value


def test_openapi_documents_the_monitoring_routes(cpo: Instance) -> None:
    schema = httpx.get(f"{cpo.url}/schema/openapi.json").json()
    listing = schema["paths"]["/api/v1/monitoring/locations"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"country_code", "party_id", "active", "offset", "limit"}
    active = next(p for p in listing["parameters"] if p["name"] == "active")
    assert active["in"] == "query" and active["schema"]["type"] == "boolean" and "active session" in active["description"]
    assert "LocationPage" in json.dumps(listing["responses"]["200"])
    detail = schema["paths"]["/api/v1/monitoring/locations/{country_code}/{party_id}/{location_id}"]["get"]
    assert set(detail["responses"]) >= {"200", "404"}


# --- the CLI ------------------------------------------------------------------------------------------

def test_watch_once(cpo: Instance) -> None:
    run(_write(cpo.dsn, session_doc("CLI1", location_id="LOC-00020", evse_uid="LOC-00020-2", connector_id="1",
                                    kwh="12.5", excl="4.125", incl="4.99")))
    out = cpo.cli("sessions", "watch", "--once").stdout
    assert out.count("\x1b") == 0  # not a terminal: no screen clearing
    lines = out.splitlines()
    active = sum(1 for r in cpo.query("SELECT 1 FROM charging_sessions WHERE status = 'ACTIVE'"))
    busy = sorted(r[0] for r in cpo.query("SELECT DISTINCT upper(location_id) FROM charging_sessions WHERE status = 'ACTIVE'"))
    assert 0 < len(busy) < 50
    # By default only the locations with an active session, and how many there are in all.
    assert lines[0].startswith(f"{len(busy)} locations with active sessions (364 locations in all, --all lists them), "
                               f"{active} active sessions")
    listed = [line.split()[0] for line in lines[3:]]
    assert listed == [f"NL/EXA/{b}" for b in busy]
    row = next(line for line in lines if line.startswith("NL/EXA/LOC-00020 "))
    assert row.split()[1:4] == ["1", "12.500", "EUR"] and "4.13" in row  # cost shown to the cent

    every = cpo.cli("sessions", "watch", "--once", "--all").stdout.splitlines()
    assert every[0].startswith(f"364 locations, {active} active sessions")
    assert len(every) == 3 + 50 + 1 and every[-1] == "... 314 more (--limit)"
    assert every[3].startswith("NL/EXA/LOC-00001 ")
    idle = next(line for line in every[3:-1] if line.split()[0].split("/")[2] not in busy)
    assert idle.split()[1] == "0"
    as_json = json.loads(cpo.cli("sessions", "watch", "--once", "--json").stdout)
    assert as_json["total"] == len(busy) and len(as_json["locations"]) == len(busy)
    assert json.loads(cpo.cli("sessions", "watch", "--once", "--json", "--all").stdout)["total"] == 364

    detail = cpo.cli("sessions", "watch", "--once", "--location", "nl/exa/loc-00020").stdout
    assert detail.splitlines()[0].startswith("NL/EXA/LOC-00020: 1 active sessions, 12.500 kWh")
    assert "session CLI1" in detail and "EUR 4.13 (4.99 incl. VAT)" in detail

    as_json = json.loads(cpo.cli("sessions", "watch", "--once", "--json", "--location", "NL/EXA/LOC-00020").stdout)
    assert as_json["active_sessions"] == 1 and as_json["kwh"] == 12.5

    unknown = cpo.cli("sessions", "watch", "--once", "--location", "NL/EXA/NOPE", check=False)
    assert unknown.returncode == 2 and "no location NL/EXA/NOPE" in unknown.stderr
    bad = cpo.cli("sessions", "watch", "--once", "--location", "LOC-00020", check=False)
    assert bad.returncode == 2 and "COUNTRY/PARTY/LOCATION_ID" in bad.stderr


def test_watch_refreshes_until_interrupted(cpo: Instance) -> None:
    import signal
    import subprocess
    import time

    from tests.service import CLI

    proc = subprocess.Popen([*CLI, "sessions", "watch", "--interval", "0.2"], env=cpo.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
    assert out.count("locations in all, ") >= 2  # refreshed, each table printed in full


# --- 100,000 active sessions ------------------------------------------------------------------------

def test_hundred_thousand_active_sessions(pg_admin_dsn: str, tmp_path: Path) -> None:
    inst = Instance(pg_admin_dsn, tmp_path, "big")
    try:
        inst.cli("party", "list")  # migrated

        async def go() -> None:
            pool = await asyncpg.create_pool(inst.dsn, min_size=1, max_size=2)
            try:
                # 1,000 locations x 4 EVSEs, 25 sessions per location; session i: kWh i/1000, cost i/100.
                await pool.execute("""
                    INSERT INTO charging_sessions (session_id, country_code, party_id, emsp_country_code, emsp_party_id,
                        status, header, location_id, evse_uid, connector_id, kwh, cost_excl, cost_incl, currency,
                        started_at, last_event_at)
                    SELECT 'S' || i, 'NL', 'EXA', 'NL', 'MSP', 'ACTIVE', '\\x7b7d', 'L' || (i % 1000),
                           'L' || (i % 1000) || '-' || (i / 1000 % 4), '1', i / 1000.0, i / 100.0, i / 100.0 * 1.21, 'EUR',
                           now(), now()
                    FROM generate_series(1, 100000) i""")
                view = LiveView()
                assert await view.refresh(pool) == (100000, 0)
                assert len(view) == 100000
                page = decode(view.locations(None, None, 0, 10))
                # sum of i/1000 for i = 1..100000
                assert page["total"] == 1000 and page["active_sessions"] == 100000
                assert page["kwh"] == Decimal(100000 * 100001 // 2) / 1000
                assert page["cost"][0]["excl_vat"] == Decimal(100000 * 100001 // 2) / 100
                loc = decode(view.location("NL", "EXA", "L7"))
                ids = {i for i in range(1, 100001) if i % 1000 == 7}
                assert loc["active_sessions"] == 100 and loc["kwh"] == Decimal(sum(ids)) / 1000
                assert [e["active_sessions"] for e in loc["evses"]] == [25, 25, 25, 25]

                # 1,000 changes: 500 sessions move on, 500 complete.
                await pool.execute("""UPDATE charging_sessions SET kwh = kwh + 1, change_seq = nextval('charging_change_seq')
                                      WHERE session_id IN (SELECT 'S' || i FROM generate_series(1, 500) i)""")
                await pool.execute("""UPDATE charging_sessions SET status = 'COMPLETED',
                                          change_seq = nextval('charging_change_seq')
                                      WHERE session_id IN (SELECT 'S' || i FROM generate_series(501, 1000) i)""")
                assert await view.refresh(pool) == (1000, 0)
                assert len(view) == 99500
                page = decode(view.locations(None, None, 0, 10))
                completed = sum(range(501, 1001))
                assert page["active_sessions"] == 99500
                assert page["kwh"] == (Decimal(100000 * 100001 // 2) - completed) / 1000 + 500
                assert await view.refresh(pool) == (0, 0)
            finally:
                await pool.close()

        asyncio.run(go())
    finally:
        inst.drop()
