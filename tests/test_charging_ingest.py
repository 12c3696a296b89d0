"""Charging events into a CPO over real HTTP, with a real eMSP instance on loopback: per-event answers, duplicates,
out-of-order events, authorization by whitelist type (real-time questions to the eMSP, a refusal, an unreachable
eMSP), CDRs stored once and POSTed, the engine rebuilt after a restart, a failed transaction leaving no trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service import Instance, wait_for

LOCATION = {
    "country_code": "NL", "party_id": "EXA", "id": "LOC1", "publish": True, "name": "Depot",
    "address": "Stationsplein 1", "city": "Utrecht", "postal_code": "3511ED", "country": "NLD",
    "coordinates": {"latitude": "52.08900", "longitude": "5.11000"}, "time_zone": "Europe/Amsterdam",
    "evses": [
        {"uid": "E1", "evse_id": "NL*EXA*E1", "status": "AVAILABLE", "connectors": [
            {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
             "max_voltage": 230, "max_amperage": 32, "tariff_ids": ["ENERGY"], "last_updated": "2026-01-01T00:00:00Z"}],
         "last_updated": "2026-01-01T00:00:00Z"},
        {"uid": "E2", "evse_id": "NL*EXA*E2", "status": "AVAILABLE", "connectors": [
            {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
             "max_voltage": 230, "max_amperage": 32, "last_updated": "2026-01-01T00:00:00Z"}],
         "last_updated": "2026-01-01T00:00:00Z"},
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}


def _tariff(tariff_id: str, price: str) -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "EXA", "id": tariff_id, "currency": "EUR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": price, "vat": 21, "step_size": 1}]}],
            "last_updated": "2026-01-01T00:00:00Z"}


def _token(uid: str, whitelist: str, valid: bool = True, party: str = "MSP") -> dict[str, Any]:
    return {"country_code": "NL", "party_id": party, "uid": uid, "type": "RFID", "contract_id": f"NL-{party}-{uid}",
            "issuer": "MSP Mobility", "valid": valid, "whitelist": whitelist, "last_updated": "2026-01-01T00:00:00Z"}


TOKENS = [_token("ALLOWED1", "ALLOWED"), _token("NEVER1", "NEVER"), _token("ALWAYS1", "ALWAYS"),
          _token("BLOCKED1", "NEVER", valid=False), _token("OFFLINE1", "ALLOWED_OFFLINE")]


def _write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(items))
    return path


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, str]]:
    root = tmp_path_factory.mktemp("charging")
    cpo, emsp = Instance(pg_admin_dsn, root, "cpo"), Instance(pg_admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        cpo.cli("import", "tariffs", str(_write(root / "t.json", [_tariff("ENERGY", "0.25"), _tariff("CHEAP", "0.10")])),
                "--no-progress")
        cpo.cli("import", "locations", str(_write(root / "l.json", [LOCATION])), "--no-progress")
        cpo.start()
        emsp.start()
        emsp.cli("peer", "register", "--label", "cpo", "--", cpo.versions_url, cpo.invite("msp", "NL/MSP/EMSP"))
        # Pushed to the CPO's token cache; UNKNOWN1 only the eMSP knows (asked about in real time).
        emsp.cli("import", "tokens", str(_write(root / "tk.json", TOKENS)), "--no-progress")
        emsp.cli("import", "tokens", str(_write(root / "tk2.json", [_token("UNKNOWN1", "ALLOWED")])), "--no-push",
                 "--no-progress")
        wait_for(lambda: len(cpo.query("SELECT 1 FROM tokens")) == len(TOKENS), 20, "tokens pushed to the CPO")
        key = cpo.cli("apikey", "create", "--label", "backend").stdout.strip()
        yield cpo, emsp, key
    finally:
        for instance in (cpo, emsp):
            instance.drop()


def _post(cpo: Instance, key: str, events: list[dict[str, Any]] | bytes,
          media: str = "application/x-ndjson") -> httpx.Response:
    body = events if isinstance(events, bytes) else "\n".join(json.dumps(e) for e in events).encode()
    return httpx.post(f"{cpo.url}/api/v1/charging-events", content=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": media})


def _start(sid: str, token: str = "ALLOWED1", time: str = "2026-11-30T10:00:00Z", evse: str = "E1",
           **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{sid}-start", "session_id": sid, "type": "session_started", "time": time,
            "location_id": "LOC1", "evse_uid": evse, "connector_id": "1", "token_uid": token, "meter_wh": 1000, **extra}


def _meter(sid: str, n: int, time: str, wh: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{sid}-m{n}", "session_id": sid, "type": "meter", "time": time, "meter_wh": wh, **extra}


def _stop(sid: str, time: str, wh: int) -> dict[str, Any]:
    return {"event_id": f"{sid}-stop", "session_id": sid, "type": "session_stopped", "time": time, "meter_wh": wh}


def _results(response: httpx.Response) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, response.text
    return [(r["result"], r.get("field")) for r in response.json()["results"]]


def test_openapi_documents_the_endpoint(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, _ = pair
    operation = httpx.get(f"{cpo.url}/schema/openapi.json").json()["paths"]["/api/v1/charging-events"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/x-ndjson", "application/jsonl", "application/json"}
    assert "session_started" in operation["description"] and "meter_wh" in content["application/x-ndjson"]["schema"]["properties"]
    assert {"200", "400", "401", "413", "415", "503"} <= set(operation["responses"])
    problem = operation["responses"]["503"]["content"]["application/json"]["schema"]
    assert problem["$ref"].endswith("/Problem")


def test_needs_an_operator_key_and_a_known_format(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, key = pair
    url = f"{cpo.url}/api/v1/charging-events"
    assert httpx.post(url, content=b"[]", headers={"Content-Type": "application/json"}).status_code == 401
    r = _post(cpo, key, b"[]", media="text/plain")
    assert r.status_code == 415 and "application/x-ndjson" in r.json()["error"]
    for body in (b"", b"this is not json", b"{\"event_id\": ", b"42"):
        r = _post(cpo, key, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]
    r = _post(cpo, key, b'{"a": 1}', media="application/json")
    assert r.status_code == 400 and "JSON array" in r.json()["error"]


def test_session_lifecycle_cdr_stored_once_and_sent(pair: tuple[Instance, Instance, str]) -> None:
    cpo, emsp, key = pair
    events = [_start("S1"), _meter("S1", 1, "2026-11-30T10:30:00Z", 6000), _stop("S1", "2026-11-30T11:00:00Z", 11000)]
    r = _post(cpo, key, json.dumps(events).encode(), media="application/json")
    assert _results(r) == [("accepted", None)] * 3
    assert r.json()["accepted"] == 3 and r.json()["duplicates"] == 0 and r.json()["refused"] == 0
    [row] = cpo.query("SELECT status, kwh, cost_excl, emsp_party_id FROM charging_sessions WHERE session_id = 'S1'")
    assert row["status"] == "COMPLETED" and row["kwh"] == Decimal(10) and row["emsp_party_id"] == "MSP"
    assert row["cost_excl"] == Decimal("2.5")
    [cdr] = cpo.query("SELECT data::text AS d FROM cdrs WHERE id = 'S1' AND peer_id IS NULL")
    doc = json.loads(cdr["d"])
    assert doc["session_id"] == "S1" and Decimal(str(doc["total_cost"]["excl_vat"])) == Decimal("2.5")
    assert doc["cdr_location"]["evse_id"] == "NL*EXA*E1" and doc["auth_method"] == "WHITELIST"
    assert len(cpo.query("SELECT 1 FROM cdr_breakdowns WHERE id = 'S1'")) == 1
    # The eMSP gets the session (PUT) and the CDR (POST) through the outbox.
    wait_for(lambda: emsp.query("SELECT 1 FROM cdrs WHERE id = 'S1'"), 20, "the CDR at the eMSP")
    wait_for(lambda: emsp.query("SELECT 1 FROM sessions WHERE id = 'S1'"), 20, "the session at the eMSP")
    # Replaying the stop (same id: duplicate; new id: the session is completed) makes no second CDR.
    again = _post(cpo, key, events)
    assert _results(again) == [("duplicate", None)] * 3
    late = _post(cpo, key, [{**events[2], "event_id": "S1-stop-2"}])
    assert _results(late) == [("refused", "session_id")] and "completed" in late.json()["results"][0]["message"]
    assert len(cpo.query("SELECT 1 FROM cdrs WHERE id = 'S1'")) == 1
    assert len(cpo.query("SELECT 1 FROM outbox WHERE module = 'cdrs'")) == 1
    explain = cpo.cli("cdrs", "explain", "S1")
    assert "ENERGY" in explain.stdout and "total 2.5" in explain.stdout
    assert json.loads(cpo.cli("cdrs", "explain", "S1", "--json").stdout)["currency"] == "EUR"


def test_duplicates_and_out_of_order_change_nothing(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, key = pair
    in_order = [_start("S2"), _meter("S2", 1, "2026-11-30T10:10:00Z", 3000), _meter("S2", 2, "2026-11-30T10:20:00Z", 5000)]
    assert _results(_post(cpo, key, [in_order[0], in_order[2]])) == [("accepted", None)] * 2
    # The earlier reading arrives late (within the window) and twice in one batch.
    r = _post(cpo, key, [in_order[1], in_order[1], in_order[2]])
    assert _results(r) == [("accepted", None), ("duplicate", None), ("duplicate", None)]
    # A reading that contradicts the stored ones (lower than an earlier one) is refused, precisely.
    r = _post(cpo, key, [_meter("S2", 3, "2026-11-30T10:25:00Z", 4000)])
    assert _results(r) == [("refused", "meter_wh")]
    [row] = cpo.query("SELECT kwh, status FROM charging_sessions WHERE session_id = 'S2'")
    assert row["kwh"] == Decimal(4) and row["status"] == "ACTIVE"
    assert len(cpo.query("SELECT 1 FROM charging_events WHERE session_id = 'S2'")) == 3


def test_bad_fields_are_refused_by_name(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, key = pair
    bad = [
        (_start("B1", evse="NOPE"), "evse_uid"),
        ({**_start("B2"), "location_id": "NOWHERE"}, "location_id"),
        ({**_start("B3"), "connector_id": "9"}, "connector_id"),
        (_start("B4", evse="E2"), "connector_id"),  # no tariff_ids and no assignment
        ({**_start("B5"), "meter_wh": -1}, "meter_wh"),
        ({**_start("B6"), "time": "yesterday"}, "time"),
        (_meter("NOSUCH", 1, "2026-11-30T10:00:00Z", 5), "session_id"),
        (_start("B7", token="NOBODY"), "token_uid"),
    ]
    r = _post(cpo, key, [e for e, _ in bad])
    assert _results(r) == [("refused", field) for _, field in bad]
    assert all(x["message"] for x in r.json()["results"])
    assert not cpo.query("SELECT 1 FROM charging_sessions WHERE session_id LIKE 'B%'")


def test_authorization_by_whitelist_type(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, key = pair
    # An eMSP whose platform cannot be reached, with tokens in our cache.
    offline = cpo.client_token("offline-emsp", [("NL", "OFF", "EMSP")],
                               endpoints=[{"identifier": "tokens", "role": "SENDER", "url": "http://127.0.0.1:9/tokens"}])
    for token in (_token("OFFNEVER", "NEVER", party="OFF"), _token("OFFOK", "ALLOWED_OFFLINE", party="OFF")):
        put = httpx.put(f"{cpo.url}/ocpi/2.2.1/receiver/tokens/NL/OFF/{token['uid']}", json=token,
                        headers={"Authorization": f"Token {offline}"})
        assert put.json()["status_code"] == 1000, put.text
    events = [_start("A1", "NEVER1"), _start("A2", "ALWAYS1"), _start("A3", "BLOCKED1"), _start("A4", "UNKNOWN1"),
              _start("A5", "OFFLINE1"), _start("A6", "OFFNEVER"), _start("A7", "OFFOK")]
    r = _post(cpo, key, events)
    assert _results(r) == [("accepted", None), ("accepted", None), ("refused", "token_uid"), ("accepted", None),
                           ("accepted", None), ("refused", "token_uid"), ("accepted", None)]
    results = r.json()["results"]
    assert "BLOCKED" in results[2]["message"]
    assert "could not be asked" in results[5]["message"]
    rows = {x["session_id"]: json.loads(bytes(x["header"])) for x in cpo.query(
        "SELECT session_id, header FROM charging_sessions WHERE session_id LIKE 'A%'")}
    assert rows["A1"]["auth_method"] == "AUTH_REQUEST" and rows["A1"].get("authorization_reference")
    assert rows["A4"]["auth_method"] == "AUTH_REQUEST" and rows["A4"]["cdr_token"]["uid"] == "UNKNOWN1"
    assert rows["A2"]["auth_method"] == "WHITELIST" and "authorization_reference" not in rows["A2"]
    assert rows["A5"]["auth_method"] == "AUTH_REQUEST"
    assert rows["A7"]["auth_method"] == "WHITELIST" and rows["A7"]["cdr_token"]["party_id"] == "OFF"
    # The eMSP's authorization_reference reaches the OCPI Session.
    [session] = cpo.query("SELECT data::text AS d FROM sessions WHERE id = 'A1'")
    assert json.loads(session["d"])["authorization_reference"] == rows["A1"]["authorization_reference"]


def test_tariff_assigned_to_the_emsp(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, key = pair
    missing = cpo.cli("tariffs", "assign", "NOPE", "--party", "NL/EXA", "--emsp", "NL/MSP", check=False)
    assert missing.returncode == 2 and "no tariff 'NOPE'" in missing.stderr
    cpo.cli("tariffs", "assign", "CHEAP", "--party", "NL/EXA", "--emsp", "NL/MSP")
    try:
        events = [_start("T1", evse="E2"), _stop("T1", "2026-11-30T11:00:00Z", 11000)]
        assert _results(_post(cpo, key, events)) == [("accepted", None)] * 2
        [row] = cpo.query("SELECT cost_excl FROM charging_sessions WHERE session_id = 'T1'")
        assert row["cost_excl"] == Decimal("1.0")
    finally:
        cpo.cli("tariffs", "assign", "CHEAP", "--party", "NL/EXA", "--emsp", "NL/MSP", "--remove")


def test_failed_transaction_leaves_no_trace(pair: tuple[Instance, Instance, str]) -> None:
    cpo, _, key = pair
    cpo.query("""CREATE FUNCTION refuse_cdr() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN IF NEW.id = 'F1' THEN RAISE EXCEPTION 'test: refused'; END IF; RETURN NEW; END $$""")
    cpo.query("CREATE TRIGGER refuse_cdr BEFORE INSERT ON cdrs FOR EACH ROW EXECUTE FUNCTION refuse_cdr()")
    events = [_start("F1"), _meter("F1", 1, "2026-11-30T10:30:00Z", 6000), _stop("F1", "2026-11-30T11:00:00Z", 11000)]
    try:
        assert _results(_post(cpo, key, events[:2])) == [("accepted", None)] * 2
        r = _post(cpo, key, events[2:])
        assert r.status_code == 503 and "nothing of it was kept" in r.json()["error"]
        assert not cpo.query("SELECT 1 FROM charging_events WHERE event_id = 'F1-stop'")
        [row] = cpo.query("SELECT status FROM charging_sessions WHERE session_id = 'F1'")
        assert row["status"] == "ACTIVE" and not cpo.query("SELECT 1 FROM cdrs WHERE id = 'F1'")
    finally:
        cpo.query("DROP TRIGGER refuse_cdr ON cdrs")
    # The engine dropped the session and rebuilds it from PostgreSQL: the retry is accepted once.
    assert _results(_post(cpo, key, events[2:])) == [("accepted", None)]
    [row] = cpo.query("SELECT status, cost_excl FROM charging_sessions WHERE session_id = 'F1'")
    assert row["status"] == "COMPLETED" and row["cost_excl"] == Decimal("2.5")


def test_rebuild_after_kill_gives_the_same_totals(pair: tuple[Instance, Instance, str], tmp_path: Path) -> None:
    cpo, _, key = pair

    def stream(sid: str) -> list[dict[str, Any]]:
        return [_start(sid, evse="E1"), _meter(sid, 1, "2026-11-30T10:20:00Z", 4000, state="SUSPENDED_EV"),
                _meter(sid, 2, "2026-11-30T10:40:00Z", 4000), _meter(sid, 3, "2026-11-30T11:00:00Z", 9000),
                _stop(sid, "2026-11-30T11:30:00Z", 12500)]

    straight, restarted = stream("R1"), stream("R2")
    assert _results(_post(cpo, key, straight)) == [("accepted", None)] * 5
    assert _results(_post(cpo, key, restarted[:3])) == [("accepted", None)] * 3
    assert cpo.proc is not None
    cpo.proc.kill()  # kill -9: nothing accepted may be lost
    cpo.proc.wait(10)
    cpo.start()
    # The rest through the CLI, a separate process with its own engine.
    path = tmp_path / "rest.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in restarted[3:]))
    out = cpo.cli("sessions", "replay", str(path), "--no-progress")
    assert "2 accepted, 0 duplicates, 0 refused, 1 CDRs issued" in out.stdout
    again = cpo.cli("sessions", "replay", str(path), "--no-progress")
    assert "0 accepted, 2 duplicates, 0 refused, 0 CDRs issued" in again.stdout
    cdrs = {r["id"]: json.loads(r["d"]) for r in cpo.query("SELECT id, data::text AS d FROM cdrs WHERE id IN ('R1', 'R2')")}
    for name in ("total_cost", "total_energy", "total_time", "total_parking_time"):
        assert cdrs["R1"].get(name) == cdrs["R2"].get(name), name
    # And the server process, whose engine held R2 before the CLI completed it, answers correctly.
    late = _post(cpo, key, [_meter("R2", 9, "2026-11-30T11:31:00Z", 13000)])
    assert _results(late) == [("refused", "session_id")]


def test_replay_reports_refusals(pair: tuple[Instance, Instance, str], tmp_path: Path) -> None:
    cpo, _, _ = pair
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in [_start("P1"), _meter("NOSUCH", 1, "2026-11-30T10:00:00Z", 5)])
                    + "\n\n" + json.dumps(_stop("P1", "2026-11-30T11:00:00Z", 2000)) + "\n")
    errors = tmp_path / "errors.jsonl"
    out = cpo.cli("sessions", "replay", str(path), "--batch", "2", "--errors", str(errors), "--no-progress", check=False)
    assert out.returncode == 1
    assert "2 accepted, 0 duplicates, 1 refused, 1 CDRs issued" in out.stdout
    assert "line 2 (NOSUCH-m1): session_id:" in out.stderr
    assert json.loads(errors.read_text())["line"] == 2
