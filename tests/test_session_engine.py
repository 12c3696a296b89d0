"""The session engine (rust_core.SessionEngine) over generated event streams: the CDR it issues at a
stop prices from scratch (`price_cdr`) to exactly the totals it states, the last session update
agrees with the CDR, and events shuffled within the reorder window give the same CDR."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rust_core import EventBatch, SessionEngine, price_cdr

TZ = "Europe/Amsterdam"
NOW = "2026-01-01T00:00:00Z"
WINDOW = 900
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("3"), places=3)
steps = st.sampled_from([1, 60, 300, 900, 100, 1000])
vats = st.one_of(st.none(), st.sampled_from([Decimal(9), Decimal(21)]))


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def tariffs(draw: st.DrawFn) -> dict[str, Any]:
    def comp(kind: str) -> dict[str, Any]:
        c: dict[str, Any] = {"type": kind, "price": str(draw(prices)), "step_size": draw(steps)}
        vat = draw(vats)
        if vat is not None:
            c["vat"] = str(vat)
        return c

    elements = []
    for _ in range(draw(st.integers(0, 3))):
        restrictions = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "start_time": st.sampled_from(["07:00", "17:00", "18:30"]),
                    "end_time": st.sampled_from(["00:00", "17:00", "20:00"]),
                    "min_kwh": st.sampled_from([2, 5, Decimal("7.5")]),
                    "max_kwh": st.sampled_from([5, 10, 20]),
                    "min_power": st.sampled_from([7, 11, 22]),
                    "max_power": st.sampled_from([11, 22, 50]),
                    "max_duration": st.sampled_from([900, 3600]),
                },
            )
        )
        kinds = draw(st.lists(st.sampled_from(["ENERGY", "TIME", "PARKING_TIME"]), min_size=1, max_size=3, unique=True))
        elements.append({"price_components": [comp(k) for k in kinds], "restrictions": {k: str(v) if isinstance(v, Decimal) else v for k, v in restrictions.items()}})
    tail = [comp("ENERGY"), comp("TIME"), comp("PARKING_TIME")]
    if draw(st.booleans()):
        tail.append(comp("FLAT"))
    elements.append({"price_components": tail})
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": "T1",
        "currency": "EUR",
        "elements": elements,
        "last_updated": "2025-01-01T00:00:00Z",
    }


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One session's events in time order: start, readings, stop."""
    t = datetime(2025, 3, 29, 14, 0, tzinfo=timezone.utc) + timedelta(seconds=draw(st.integers(0, 6 * 3600)))
    wh = draw(st.integers(0, 10**6))
    events: list[dict[str, Any]] = [
        {"event_id": "e0", "session_id": "S", "type": "session_started", "time": ts(t), "location_id": "L1",
         "evse_uid": "E1", "connector_id": "1", "token_uid": "TOK", "meter_wh": wh}
    ]
    for i in range(draw(st.integers(0, 25))):
        t += timedelta(seconds=draw(st.integers(1, 1500)))  # one reading per instant: their order is then the time order
        wh += draw(st.integers(0, 4000))
        e: dict[str, Any] = {"event_id": f"e{i + 1}", "session_id": "S", "type": "meter", "time": ts(t), "meter_wh": str(wh)}
        e["state"] = draw(st.sampled_from(["CHARGING", "CHARGING", "SUSPENDED_EV", "SUSPENDED_EVSE"]))
        power = draw(st.one_of(st.none(), st.integers(0, 50_000)))
        if power is not None:
            e["power_w"] = power
            e["current_a"] = draw(st.integers(0, 64))
        events.append(e)
    t += timedelta(seconds=draw(st.integers(0, 1500)))
    wh += draw(st.integers(0, 4000))
    events.append({"event_id": "stop", "session_id": "S", "type": "session_stopped", "time": ts(t), "meter_wh": wh})
    return events


def header(tariff: dict[str, Any]) -> bytes:
    return json.dumps({
        "country_code": "NL", "party_id": "CPO", "id": "S",
        "cdr_token": {"country_code": "NL", "party_id": "EMS", "uid": "TOK", "type": "RFID", "contract_id": "NL-EMS-C1"},
        "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR",
        "time_zone": TZ,
        "cdr_location": {"id": "L1", "address": "Main 1", "city": "Amsterdam", "country": "NLD",
                         "coordinates": {"latitude": "52.37", "longitude": "4.89"}, "evse_uid": "E1", "evse_id": "NL*CPO*E1",
                         "connector_id": "1", "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET",
                         "connector_power_type": "AC_3_PHASE"},
        "tariffs": [tariff],
    }).encode()


def run(tariff: dict[str, Any], batches: list[list[dict[str, Any]]]) -> tuple[bytes, list[Any]]:
    """Feed the batches; returns the CDR and the last session update."""
    engine = SessionEngine(reorder_window=WINDOW)
    headers = {"S": header(tariff)}
    cdrs: list[bytes] = []
    last: list[Any] = []
    for batch in batches:
        eb = EventBatch("\n".join(json.dumps(e) for e in batch))
        assert eb.errors == []
        result = engine.apply(eb, headers=headers, now=NOW)
        assert result.errors == [], result.errors
        assert sorted(result.accepted) == sorted(i for i, *_ in eb.events)
        for u in result.sessions:
            last = list(u)
        cdrs.extend(c for _, c, _ in result.cdrs)
    assert len(cdrs) == 1 and len(engine) == 0
    return cdrs[0], last


def shuffled(events: list[dict[str, Any]], rnd: random.Random) -> list[list[dict[str, Any]]]:
    """Deliver each meter event up to WINDOW - 1 s late (so none falls outside the window), in random batches."""
    def late(e: dict[str, Any]) -> float:
        return datetime.fromisoformat(e["time"]).timestamp() + rnd.uniform(0, WINDOW - 1)

    order = [events[0], *sorted(events[1:-1], key=late), events[-1]]
    batches: list[list[dict[str, Any]]] = []
    i = 0
    while i < len(order):
        n = rnd.randint(1, 4)
        batches.append(order[i : i + n])
        i += n
    return batches


@SETTINGS
@given(tariff=tariffs(), events=streams(), seed=st.integers(0, 2**32))
def test_cdr_reprices_from_scratch_and_ignores_order_within_the_window(tariff: dict[str, Any], events: list[dict[str, Any]], seed: int) -> None:
    cdr_json, last = run(tariff, [events])
    cdr = json.loads(cdr_json, parse_float=Decimal)
    priced = price_cdr(cdr_json, time_zone=TZ)
    assert cdr["total_cost"]["excl_vat"] == priced.total_cost.excl_vat
    assert cdr["total_cost"].get("incl_vat") == priced.total_cost.incl_vat
    for name in ["total_energy_cost", "total_time_cost", "total_parking_cost", "total_fixed_cost"]:
        assert cdr[name]["excl_vat"] == getattr(priced, name).excl_vat, name
        assert cdr[name].get("incl_vat") == getattr(priced, name).incl_vat, name
    for name in ["total_energy", "total_time", "total_parking_time"]:
        assert cdr[name] == getattr(priced, name), name
    # Energy adds up to the meter difference; periods are in time order inside the session.
    assert sum(Decimal(str(d["volume"])) for p in cdr["charging_periods"] for d in p["dimensions"] if d["type"] == "ENERGY") == (
        Decimal(events[-1]["meter_wh"]) - Decimal(events[0]["meter_wh"])
    ) / 1000
    starts = [datetime.fromisoformat(p["start_date_time"]) for p in cdr["charging_periods"]]
    assert starts == sorted(starts) and starts[0] == datetime.fromisoformat(events[0]["time"])
    # The last session update is the completed session, with the CDR's totals.
    session_id, status, session_json, closed, kwh, cost_excl, cost_incl, last_time, changed = last
    assert (session_id, status, changed, last_time) == ("S", "COMPLETED", True, events[-1]["time"])
    assert Decimal(kwh) == cdr["total_energy"]
    assert Decimal(cost_excl) == cdr["total_cost"]["excl_vat"]
    assert (cost_incl and Decimal(cost_incl)) == cdr["total_cost"].get("incl_vat")
    session = json.loads(session_json, parse_float=Decimal)
    assert closed == len(session["charging_periods"]) == len(cdr["charging_periods"])
    assert session["total_cost"] == cdr["total_cost"]
    # The same events, shuffled within the reorder window and cut into batches: the same CDR.
    again, _ = run(tariff, shuffled(events, random.Random(seed)))
    assert again == cdr_json


def test_bad_events_are_named_and_good_ones_pass() -> None:
    good = {"event_id": "a", "session_id": "S", "type": "meter", "time": "2025-01-01T10:00:00+01:00", "meter_wh": "12.5"}
    bad = [
        {**good, "meter_wh": -1},
        {**good, "time": "01/01/2025"},
        {**good, "type": "unplugged"},
        {**good, "state": "IDLE"},
        {k: v for k, v in good.items() if k != "session_id"},
    ]
    batch = EventBatch(json.dumps([good, *bad]))
    assert len(batch) == 6
    assert batch.events == [(0, "a", "S", "meter", "2025-01-01T09:00:00Z")]
    assert [(i, eid, field) for i, eid, field, _ in batch.errors] == [
        (1, "a", "meter_wh"), (2, "a", "time"), (3, "a", "type"), (4, "a", "state"), (5, "a", "session_id")
    ]
    assert json.loads(batch.records()[0])["meter_wh"] == 12.5


def test_session_life_through_the_binding() -> None:
    tariff = {"country_code": "NL", "party_id": "CPO", "id": "T1", "currency": "EUR", "last_updated": "2025-01-01T00:00:00Z",
              "elements": [{"price_components": [{"type": "ENERGY", "price": "0.25", "vat": 21, "step_size": 1}]}]}
    engine = SessionEngine()
    start = {"event_id": "1", "session_id": "S", "type": "session_started", "time": "2025-01-10T10:00:00Z",
             "location_id": "L1", "evse_uid": "E1", "connector_id": "1", "token_uid": "TOK", "meter_wh": 0,
             "authorization_reference": "AUTH1"}
    batch = EventBatch(json.dumps(start))
    assert batch.starts == [(0, {"location_id": "L1", "evse_uid": "E1", "connector_id": "1", "token_uid": "TOK",
                                 "token_type": "RFID", "authorization_reference": "AUTH1"})]
    refused = engine.apply(batch, now=NOW)
    assert refused.errors == [(0, "session_id", "not authorized")] and len(engine) == 0
    r = engine.apply(batch, headers={"S": header(tariff)}, now=NOW)
    assert r.accepted == [0] and engine.session_ids() == ["S"]
    meter = {**start, "event_id": "2", "type": "meter", "time": "2025-01-10T10:30:00Z", "meter_wh": 4000}
    r = engine.apply(EventBatch(json.dumps(meter)), now=NOW)
    (sid, status, _, closed, kwh, excl, incl, last, changed) = r.sessions[0]
    assert (sid, status, closed, kwh, excl, incl, last, changed) == ("S", "ACTIVE", 0, "4", "1", "1.21", "2025-01-10T10:30:00Z", False)
    engine.drop(["S"])
    assert len(engine) == 0
    r = engine.apply(EventBatch(json.dumps(meter)), now=NOW)
    assert r.errors == [(0, "session_id", 'unknown session "S"')]
