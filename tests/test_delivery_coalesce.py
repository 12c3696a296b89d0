"""Coalescing rules (app/outbox/coalesce.py) and ordering keys, as pure functions."""

from __future__ import annotations

import json
from typing import Any

from app.outbox.coalesce import Entry, ObjectQueue, fold_into_put, merge_patches
from app.outbox.queue import object_key

ROUTE = (("NL", "EXA"), ("NL", "MSP"), None, None, "RECEIVER")


def _e(ref: int, method: str, path: str, body: Any = None, route: Any = ROUTE) -> Entry:
    return Entry(ref, method, path, None if body is None else json.dumps(body).encode(), route)


def _location() -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "EXA", "id": "LOC1", "last_updated": "2027-01-01T00:00:00Z",
            "evses": [{"uid": "E1", "status": "AVAILABLE", "last_updated": "2027-01-01T00:00:00Z",
                       "connectors": [{"id": "1", "max_voltage": 230, "last_updated": "2027-01-01T00:00:00Z"}]},
                      {"uid": "E/2", "status": "AVAILABLE", "last_updated": "2027-01-01T00:00:00Z"}]}


def test_object_keys() -> None:
    assert object_key("locations", "PUT", "/NL/EXA/LOC1") == "locations/NL/EXA/LOC1"
    assert object_key("locations", "PATCH", "/nl/exa/loc1/E1/1") == "locations/NL/EXA/LOC1"
    assert object_key("tokens", "PATCH", "/NL/MSP/UID1?type=RFID") == "tokens/NL/MSP/UID1?type=RFID"
    assert object_key("hubclientinfo", "PUT", "/NL/MSP") == "hubclientinfo/NL/MSP"
    assert object_key("cdrs", "POST", "") is None
    assert object_key("sessions", "POST", "/NL/EXA/S1") is None
    assert object_key("commands", "PUT", "") is None


def test_put_of_the_object_supersedes_everything_pending() -> None:
    q = ObjectQueue([_e(1, "PUT", "/NL/EXA/LOC1", _location()), _e(2, "PATCH", "/NL/EXA/LOC1/E1", {"status": "X"})])
    q.entries[0].coalesced = 3
    new = _e(-1, "PUT", "/NL/EXA/LOC1", _location())
    assert q.add(new) is new
    assert [e.ref for e in q.superseded] == [1, 2] and q.entries == [new]
    assert new.coalesced == 3 + 2
    delete = _e(-2, "DELETE", "/NL/EXA/LOC1")
    assert q.add(delete) is delete and q.entries == [delete] and delete.coalesced == 6


def test_patch_folds_into_a_pending_put_of_the_location() -> None:
    put = _e(1, "PUT", "/NL/EXA/LOC1", _location())
    q = ObjectQueue([put])
    assert q.add(_e(-1, "PATCH", "/NL/EXA/LOC1/E%2F2", {"status": "CHARGING", "last_updated": "2027-01-02T00:00:00Z"})) is put
    assert q.add(_e(-2, "PATCH", "/NL/EXA/LOC1/e1/1", {"max_voltage": 400.50, "last_updated": "2027-01-03T00:00:00Z"})) is put
    doc = json.loads(put.body or b"")
    assert doc["evses"][1]["status"] == "CHARGING"
    assert doc["evses"][0]["connectors"][0]["max_voltage"] == 400.50
    # The parents take the newest last_updated (a changed EVSE changes its Location).
    assert doc["last_updated"] == "2027-01-03T00:00:00Z" and doc["evses"][0]["last_updated"] == "2027-01-03T00:00:00Z"
    assert put.coalesced == 2 and put.changed and q.entries == [put]


def test_put_of_an_evse_replaces_it_in_the_pending_location() -> None:
    put = _e(1, "PUT", "/NL/EXA/LOC1", _location())
    q = ObjectQueue([put])
    evse = {"uid": "E1", "status": "REMOVED", "last_updated": "2027-02-01T00:00:00Z"}
    assert q.add(_e(-1, "PUT", "/NL/EXA/LOC1/E1", evse)) is put
    assert json.loads(put.body or b"")["evses"][0] == evse


def test_patches_of_one_path_merge_and_session_periods_append() -> None:
    first = _e(1, "PATCH", "/NL/EXA/S1", {"kwh": 1, "charging_periods": [{"n": 1}], "status": "ACTIVE"})
    q = ObjectQueue([first])
    assert q.add(_e(-1, "PATCH", "/NL/EXA/S1", {"kwh": 2.5, "charging_periods": [{"n": 2}]})) is first
    assert json.loads(first.body or b"") == {"kwh": 2.5, "charging_periods": [{"n": 1}, {"n": 2}], "status": "ACTIVE"}
    put = _e(2, "PUT", "/NL/EXA/S2", {"id": "S2", "kwh": 0, "charging_periods": [{"n": 1}]})
    q2 = ObjectQueue([put])
    assert q2.add(_e(-1, "PATCH", "/NL/EXA/S2", {"kwh": 3, "charging_periods": [{"n": 2}]})) is put
    assert json.loads(put.body or b"") == {"id": "S2", "kwh": 3, "charging_periods": [{"n": 1}, {"n": 2}]}


def test_disjoint_paths_are_passed_over_and_overlapping_rows_stop_the_scan() -> None:
    e1 = _e(1, "PATCH", "/NL/EXA/LOC1/E1", {"status": "A"})
    e2 = _e(2, "PATCH", "/NL/EXA/LOC1/E2", {"status": "B"})
    q = ObjectQueue([e1, e2])
    assert q.add(_e(-1, "PATCH", "/NL/EXA/LOC1/E1", {"status": "C"})) is e1  # past E2, into E1
    assert json.loads(e1.body or b"") == {"status": "C"}
    # A Location-level PATCH overlaps every EVSE: it cannot take an EVSE patch, so what follows it waits behind it.
    loc = _e(3, "PATCH", "/NL/EXA/LOC1", {"name": "x"})
    q = ObjectQueue([e1, loc])
    new = _e(-1, "PATCH", "/NL/EXA/LOC1/E1", {"status": "D"})
    assert q.add(new) is new and q.entries == [e1, loc, new]
    # An EVSE missing from a pending PUT cannot be folded into it.
    put = _e(4, "PUT", "/NL/EXA/LOC1", _location())
    q = ObjectQueue([put])
    new = _e(-1, "PATCH", "/NL/EXA/LOC1/E9", {"status": "D"})
    assert q.add(new) is new and len(q.entries) == 2


def test_rows_of_other_routes_are_left_alone() -> None:
    other = (("NL", "EXA"), ("DE", "OTH"), None, None, "RECEIVER")
    theirs = _e(1, "PATCH", "/NL/EXA/LOC1/E1", {"status": "A"}, route=other)
    q = ObjectQueue([theirs])
    new = _e(-1, "PATCH", "/NL/EXA/LOC1/E1", {"status": "B"})
    assert q.add(new) is new
    put = _e(-2, "PUT", "/NL/EXA/LOC1", _location())
    q.add(put)
    assert q.superseded == [new] and q.entries == [theirs, put]


def test_numbers_are_kept_exactly() -> None:
    body = fold_into_put(b'{"evses":[{"uid":"E1","price":0.1000000000000000055511151231257827}],"n":12345678901234567890}',
                         ["E1"], "PATCH", b'{"x":1.10}')
    assert body is not None
    assert b"0.1000000000000000055511151231257827" in body and b"12345678901234567890" in body and b"1.10" in body
    assert merge_patches(b'{"a": 1.0}', b"not json") is None
