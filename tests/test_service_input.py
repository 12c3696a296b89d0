"""Input from the real world on one running instance (issue 7 §3): what peers send that has a clear meaning is
accepted and stored in one normal form (nulls as absent fields, date-times in UTC, OCPI 2.3.0 enum values with a
warning); everything else is refused with 2001 or HTTP 400/2000, one log line, and no stored data changed."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service import Instance, serving
from tests.test_service_protocol import DEMO, LOC, Client, _session, error, location, ok, stored

DATETIME_WE_SEND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")  # ≤ 25 characters, UTC (§1.10)
TABLES = ("locations", "tariffs", "sessions", "cdrs", "tokens")


@pytest.fixture(scope="module")
def node(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with serving((Instance(pg_admin_dsn, tmp_path_factory.mktemp("input"), "input"), [
            ("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging"),
            ("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility"),
            ("import", "locations", str(DEMO / "locations.json"), "--no-progress")])) as (inst,):
        yield inst


@pytest.fixture(scope="module")
def peer(node: Instance) -> Iterator[Client]:
    with Client(node, node.client_token("abc", [("DE", "ABC", "CPO"), ("DE", "ABE", "EMSP")])) as client:
        yield client


def snapshot(node: Instance) -> dict[str, list[tuple[Any, ...]]]:
    return {t: [tuple(r) for r in node.query(f"SELECT country_code, party_id, id, last_updated, data::text FROM {t} "
                                             "ORDER BY country_code, party_id, id")] for t in TABLES}


def session(**changes: Any) -> dict[str, Any]:
    return _session(**{"id": "S-IN", **changes})  # its token is of our eMSP NL*MSP


def token(**changes: Any) -> dict[str, Any]:
    doc = {"country_code": "DE", "party_id": "ABE", "uid": "TOK-IN", "type": "RFID", "contract_id": "DE-ABE-2",
           "issuer": "ABE", "valid": True, "whitelist": "ALWAYS", "last_updated": "2026-03-01T00:00:00Z"}
    doc.update(changes)
    return doc


# --- accepted: a clear meaning ---------------------------------------------------------------------------

def test_null_in_optional_fields_is_absent_and_numbers_stay_exact(node: Instance, peer: Client) -> None:
    doc = location("LOC-NULL", postal_code=None, facilities=None, operator=None, images=None, opening_times=None,
                   x_vendor={"note": None, "price": "PLACEHOLDER"})
    for evse in doc["evses"]:
        evse.update(status_schedule=None, capabilities=None, directions=None)  # the independent peer's CPO sends these
    raw = json.dumps(doc).replace('"PLACEHOLDER"', "0.10").encode()  # an exact decimal in an unknown field
    ok(peer("PUT", "/receiver/locations/DE/ABC/LOC-NULL", raw=raw), 201)
    text = node.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-NULL'")[0]["d"]
    assert "null" not in text and '"price":0.10' in text
    got = stored(peer, "/receiver/locations/DE/ABC/LOC-NULL")
    assert not {"postal_code", "facilities", "operator", "images", "opening_times"} & got.keys()
    assert got["x_vendor"] == {"price": 0.1} and all("status_schedule" not in e for e in got["evses"])
    # A PATCH's null still removes a field (§1.6); a null item in a list is no object and refused.
    ok(peer("PATCH", "/receiver/locations/DE/ABC/LOC-NULL", {"name": None, "last_updated": "2026-02-01T00:00:00Z"}))
    assert "name" not in stored(peer, "/receiver/locations/DE/ABC/LOC-NULL")
    error(peer("PUT", "/receiver/locations/DE/ABC/LOC-NULL", location("LOC-NULL", evses=[None])), 200, 2001, "$.evses[0]")


def test_offset_datetimes_are_stored_and_served_as_utc(node: Instance, peer: Client) -> None:
    doc = location("LOC-TZ", last_updated="2026-01-01T01:30:00.123456+01:30")
    doc["evses"][0]["last_updated"] = "2025-12-31T20:00:00-04:00"
    doc["evses"][0]["status_schedule"] = [{"period_begin": "2026-01-02T00:00:00+02:00", "status": "BLOCKED"}]
    ok(peer("PUT", "/receiver/locations/DE/ABC/LOC-TZ", doc), 201)
    got = stored(peer, "/receiver/locations/DE/ABC/LOC-TZ")
    assert got["last_updated"] == "2026-01-01T00:00:00.123Z"
    assert got["evses"][0]["last_updated"] == "2026-01-01T00:00:00Z"
    assert got["evses"][0]["status_schedule"] == [{"period_begin": "2026-01-01T22:00:00Z", "status": "BLOCKED"}]
    row = node.query("SELECT last_updated, data::text AS d FROM locations WHERE id = 'LOC-TZ'")[0]
    assert "+01:30" not in row["d"] and row["last_updated"].isoformat().startswith("2026-01-01T00:00:00.123")
    # PATCH, EVSE PUT and sessions too.
    ok(peer("PATCH", "/receiver/locations/DE/ABC/LOC-TZ", {"name": "TZ", "last_updated": "2026-01-05T12:00:00+12:00"}))
    assert stored(peer, "/receiver/locations/DE/ABC/LOC-TZ")["last_updated"] == "2026-01-05T00:00:00Z"
    ok(peer("PUT", "/receiver/sessions/DE/ABC/S-TZ", session(id="S-TZ", start_date_time="2026-03-01T11:00:00+01:00",
                                                             last_updated="2026-03-01t10:05:00z")), 201)
    got = stored(peer, "/receiver/sessions/DE/ABC/S-TZ")
    assert (got["start_date_time"], got["last_updated"]) == ("2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z")


def test_values_of_ocpi_2_3_0_are_accepted_with_a_warning(node: Instance, peer: Client) -> None:
    doc = location("LOC-MCS")
    doc["evses"][0]["connectors"][0]["standard"] = "MCS"
    doc["evses"][0]["parking_restrictions"] = ["TAXIS"]
    r = peer("PUT", "/receiver/locations/DE/ABC/LOC-MCS", doc)
    message = ok(r, 201)["status_message"]
    assert "'MCS' is an OCPI 2.3.0 value" in message and "'TAXIS'" in message
    assert stored(peer, "/receiver/locations/DE/ABC/LOC-MCS")["evses"][0]["connectors"][0]["standard"] == "MCS"
    message = ok(peer("PUT", "/receiver/tokens/DE/ABE/EMAID-1?type=EMAID", token(uid="EMAID-1", type="EMAID")), 201)["status_message"]
    assert "'EMAID' is an OCPI 2.3.0 value" in message
    assert '"accepted with warnings"' in node.log_path.read_text()
    # A value no OCPI version defines is still refused.
    doc["evses"][0]["connectors"][0]["standard"] = "NO_SUCH_PLUG"
    error(peer("PUT", "/receiver/locations/DE/ABC/LOC-MCS", doc), 200, 2001, "$.evses[0].connectors[0].standard")


def test_import_reads_nulls_offsets_and_later_values_the_same_way(node: Instance, tmp_path: Path) -> None:
    doc = copy.deepcopy(json.loads((DEMO / "locations.json").read_text())[0])
    doc.update(id="LOC-IMP", postal_code=None, last_updated="2026-04-01T02:00:00+02:00")
    doc["evses"][0].update(status_schedule=None)
    doc["evses"][0]["connectors"][0]["standard"] = "SAE_J3400"
    path = tmp_path / "one.json"
    path.write_text(json.dumps([doc]))
    result = node.cli("import", "locations", str(path), "--no-progress")
    assert "1 locations stored" in result.stdout and "'SAE_J3400' is an OCPI 2.3.0 value" in result.stderr
    got = json.loads(node.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-IMP'")[0]["d"])
    assert got["last_updated"] == "2026-04-01T00:00:00Z" and "postal_code" not in got
    assert "status_schedule" not in got["evses"][0]


# --- refused: no clear meaning, and nothing changes ----------------------------------------------------------

def _refusals(evse_uid: str) -> list[tuple[str, str, bytes | dict[str, Any] | None, dict[str, str], int, int, str]]:
    """(method, path, body, headers, HTTP status, OCPI status, words of the message) of each refused class."""
    stamp = "2026-11-02T00:00:00Z"
    tariff = json.loads((DEMO / "tariffs.json").read_text())[0]
    tariff.update(country_code="DE", party_id="ABC", id="TAR-IN")
    dup_key = json.dumps(tariff).replace('"party_id": "ABC"', '"party_id": "XYZ", "party_id": "ABC"').encode()
    dup_inner = json.dumps(location()).replace('"status": ', '"status": "CHARGING", "status": ', 1).encode()
    kwh = json.dumps(session())
    assert '"kwh": 1.5' in kwh
    kwh = kwh.replace('"kwh": 1.5', '"kwh": KWH')
    return [
        ("PUT", "/receiver/tariffs/DE/ABC/TAR-IN", {**tariff, "last_updated": "0001-01-01T00:00:00+01:00"}, {}, 200, 2001,
         "out of range"),
        ("PUT", LOC, location(last_updated="9999-12-31T23:59:59-01:00"), {}, 200, 2001, "out of range"),
        ("GET", "/sender/locations?date_from=0001-01-01T00:00:00%2B01:00", None, {}, 200, 2001, "date_from"),
        ("GET", "/sender/locations?date_to=9999-12-31T23:59:59-01:00", None, {}, 200, 2001, "date_to"),
        ("GET", "/sender/locations?offset=9223372036854775808", None, {}, 200, 2001, "offset"),
        ("GET", "/sender/locations?offset=%D9%A3", None, {}, 200, 2001, "offset"),
        ("GET", "/sender/locations?limit=1_0", None, {}, 200, 2001, "limit"),
        ("GET", "/sender/locations?limit=" + "9" * 5000, None, {}, 200, 2001, "limit"),
        ("GET", "/sender/locations/a%00b", None, {}, 400, 2000, "control characters"),
        ("GET", "/receiver/tokens/DE/ABE/%00", None, {}, 400, 2000, "control characters"),
        ("GET", "/sender/locations/LOC-00001%2FLOC-00001-1", None, {}, 400, 2000, "%2F"),
        ("PUT", "/receiver/tariffs/DE/ABC/a%2Fb", tariff, {}, 400, 2000, "%2F"),
        ("PUT", "/receiver/tariffs/DE/ABC/TAR-IN", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, {}, 400, 2000, "nested"),
        ("PATCH", LOC, {"evses": ["x"], "last_updated": stamp}, {}, 200, 2001, "$.evses[0]"),
        ("PATCH", LOC, {"evses": 5, "last_updated": stamp}, {}, 200, 2001, "$.evses"),
        ("PATCH", LOC, {"evses": [{"uid": evse_uid, "status": "BOGUS"}], "last_updated": stamp}, {}, 200, 2001,
         "$.evses[0].status"),
        ("PATCH", LOC, {"publish": "yes", "last_updated": stamp}, {}, 200, 2001, "$.publish"),
        ("PATCH", LOC, ["not", "an", "object"], {}, 200, 2001, "JSON object"),
        ("PATCH", f"{LOC}/{evse_uid}", {"connectors": [1], "last_updated": stamp}, {}, 200, 2001, "$.connectors[0]"),
        ("PATCH", f"{LOC}/{evse_uid}", {"connectors": None, "last_updated": stamp}, {}, 200, 2001, "cannot remove"),
        ("PATCH", LOC, {"evses": None, "last_updated": stamp}, {}, 200, 2001, "cannot remove `evses`"),
        ("PATCH", "/receiver/sessions/DE/ABC/S-IN", {"charging_periods": 5, "last_updated": stamp}, {}, 200, 2001,
         "$.charging_periods"),
        ("PATCH", "/receiver/sessions/DE/ABC/S-IN", {"kwh": "lots", "last_updated": stamp}, {}, 200, 2001, "$.kwh"),
        ("PUT", "/receiver/tariffs/DE/ABC/TAR-IN", dup_key, {}, 200, 2001, "'party_id' appears more than once"),
        ("PUT", LOC, dup_inner, {}, 200, 2001, "'status' appears more than once"),
        ("PUT", "/receiver/sessions/DE/ABC/S-IN", kwh.replace("KWH", "1e999999").encode(), {}, 200, 2001, "out of range"),
        ("PUT", "/receiver/sessions/DE/ABC/S-IN", kwh.replace("KWH", "1e-999999").encode(), {}, 200, 2001, "out of range"),
        ("PUT", "/receiver/sessions/DE/ABC/S-IN", kwh.replace("KWH", "123456789012345678901234567890.5").encode(), {},
         200, 2001, "out of range"),
        ("PUT", "/receiver/tariffs/DE/ABC/TAR-IN", tariff, {"Content-Type": "text/plain"}, 400, 2000, "Content-Type"),
        ("POST", "/receiver/cdrs", b"{}", {"Content-Type": "application/x-www-form-urlencoded"}, 400, 2000, "Content-Type"),
    ]


def test_refused_input_is_a_clear_error_one_log_line_and_changes_nothing(node: Instance, peer: Client) -> None:
    doc = location()
    assert peer("PUT", LOC, doc).json()["status_code"] == 1000
    assert peer("PUT", "/receiver/sessions/DE/ABC/S-IN", session()).json()["status_code"] == 1000
    before = snapshot(node)
    log_start = node.log_path.stat().st_size
    cases = _refusals(doc["evses"][0]["uid"])
    for method, path, body, headers, http, code, words in cases:
        kw: dict[str, Any] = {"raw": body} if isinstance(body, bytes) else {"body": body}
        r = peer(method, path, headers=headers, **kw)
        message = error(r, http, code, words)
        assert DATETIME_WE_SEND.match(r.json()["timestamp"]), (path, message)
        assert snapshot(node) == before, (method, path, message)
    lines = node.log_path.read_bytes()[log_start:].decode().splitlines()
    assert "Traceback" not in "\n".join(lines)
    requests = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(requests) == len(lines) == len(cases)  # one access line each, nothing else
    assert all(line["msg"] == "request" and line["status"] < 500 for line in requests)


def test_timestamps_we_send_are_utc_z_and_at_most_25_characters(peer: Client) -> None:
    r = peer("GET", "/sender/locations?limit=1&date_from=2000-01-01T01:00:00.123456%2B01:00&date_to=2100-01-01T00:00:00")
    assert DATETIME_WE_SEND.match(ok(r)["timestamp"])
    link = r.headers["link"]
    assert "date_from=2000-01-01T00%3A00%3A00.123Z" in link and "date_to=2100-01-01T00%3A00%3A00Z" in link
