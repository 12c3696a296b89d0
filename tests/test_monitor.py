"""rust_core.Monitor, the operators' live view, through its Python API: content of both views after
upserts, updates, removals and EVSE status changes, exact decimals, refusals, and 100,000 sessions."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from rust_core import Monitor

T0 = "2026-11-30T10:00:00Z"
Row = tuple[str, str, str, str, str, str, str, str, str | None, str | None, str, str]


_decoder = msgspec.json.Decoder(float_hook=Decimal)


def decode(raw: bytes | None) -> Any:
    """Decimals as Decimal: exactly what was written."""
    assert raw is not None
    return _decoder.decode(raw)


def session(
    sid: str,
    location: str = "LOC1",
    evse: str = "E1",
    kwh: str = "1",
    excl: str | None = "0.5",
    incl: str | None = "0.605",
    currency: str = "EUR",
    status: str = "ACTIVE",
    started_at: str = T0,
    cc: str = "NL",
    party: str = "TNM",
) -> Row:
    return (sid, cc, party, location, evse, "1", status, kwh, excl, incl, currency, started_at)


def test_views_follow_upserts_updates_and_removals() -> None:
    m = Monitor()
    m.upsert_sessions([session("a", kwh="2.5"), session("b", evse="E2", kwh="1.25", excl="1", incl=None), session("c", location="LOC2")])
    m.set_evse_status([("NL", "TNM", "LOC1", "E1", "CHARGING"), ("NL", "TNM", "LOC1", "E3", "AVAILABLE")])
    assert len(m) == 3

    listing = decode(m.locations())
    assert listing["total"] == 2
    assert listing["active_sessions"] == 3
    assert listing["kwh"] == Decimal("4.75")
    assert listing["cost"] == [{"currency": "EUR", "excl_vat": Decimal("2"), "incl_vat": None}]
    first = listing["locations"][0]
    assert (first["location_id"], first["active_sessions"], first["kwh"]) == ("LOC1", 2, Decimal("3.75"))
    assert first["evses"] == {"AVAILABLE": 1, "CHARGING": 1, "UNKNOWN": 1}

    detail = decode(m.location("NL", "TNM", "LOC1"))
    assert [(e["evse_uid"], e["status"], e["active_sessions"]) for e in detail["evses"]] == [
        ("E1", "CHARGING", 1),
        ("E2", "UNKNOWN", 1),
        ("E3", "AVAILABLE", 0),
    ]
    assert detail["evses"][0]["sessions"] == [
        {
            "id": "a",
            "connector_id": "1",
            "kwh": Decimal("2.5"),
            "excl_vat": Decimal("0.5"),
            "incl_vat": Decimal("0.605"),
            "currency": "EUR",
            "started_at": T0,
        }
    ]

    # An update replaces the contribution; a stop removes it.
    m.upsert_sessions([session("a", kwh="10", excl="4", incl="4.84"), session("b", status="COMPLETED", evse="E2")])
    detail = decode(m.location("NL", "TNM", "LOC1"))
    assert (detail["active_sessions"], detail["kwh"]) == (1, Decimal("10"))
    assert detail["cost"] == [{"currency": "EUR", "excl_vat": Decimal("4"), "incl_vat": Decimal("4.84")}]
    assert [e["evse_uid"] for e in detail["evses"]] == ["E1", "E3"]
    m.upsert_sessions([session("c", location="LOC2", status="COMPLETED")])
    assert m.location("NL", "TNM", "LOC2") is None
    assert decode(m.locations())["total"] == 1


def test_filters_and_paging() -> None:
    m = Monitor()
    keys = [("NL", "TNM", f"L{i:02}") for i in range(10)] + [("DE", "ABC", "X"), ("BE", "TNM", "Y")]
    m.upsert_sessions([session(f"s{i}", location=loc, cc=cc, party=party) for i, (cc, party, loc) in enumerate(keys)])
    page = decode(m.locations(offset=2, limit=3))
    assert page["total"] == 12
    assert [loc["location_id"] for loc in page["locations"]] == ["L00", "L01", "L02"]  # BE, DE come first
    nl = decode(m.locations("NL", "TNM", offset=8, limit=5))
    assert (nl["total"], nl["active_sessions"]) == (10, 10)
    assert [loc["location_id"] for loc in nl["locations"]] == ["L08", "L09"]
    assert decode(m.locations(party_id="TNM"))["total"] == 11
    assert decode(m.locations("FR")) == {"total": 0, "active_sessions": 0, "kwh": 0, "cost": [], "locations": []}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (session("x", kwh="1,5"), "rows[1].kwh"),
        (session("x", excl="-0.01"), "rows[1].cost_excl"),
        (session("x", incl="abc"), "rows[1].cost_incl"),
        (session("x", status="STOPPED"), "rows[1].status"),
        (session("x", started_at="2026-13-01T00:00:00Z"), "rows[1].started_at"),
        (session("x", cc="NLD"), "rows[1].country_code"),
        (session("x", location="L" * 37), "rows[1].location_id"),
        (session("x", currency="EURO"), "rows[1].currency"),
    ],
)
def test_a_bad_row_is_named_and_nothing_applies(row: Row, field: str) -> None:
    m = Monitor()
    with pytest.raises(ValueError, match="^" + re.escape(field) + ": "):
        m.upsert_sessions([session("good"), row])
    assert len(m) == 0
    assert decode(m.locations())["total"] == 0


def test_bad_evse_status_and_wrong_types() -> None:
    m = Monitor()
    with pytest.raises(ValueError, match=r"^rows\[0\]\.status: unknown EVSE status 'FREE'|^rows\[0\]\.status: unknown EVSE status \"FREE\""):
        m.set_evse_status([("NL", "TNM", "L", "E1", "FREE")])
    with pytest.raises(TypeError):
        m.upsert_sessions([("a", "NL", "TNM", "L", "E", "1", "ACTIVE", 1.5, None, None, "EUR", T0)])  # type: ignore[list-item]
    assert len(m) == 0


def test_upserts_from_threads_add_up() -> None:
    m = Monitor()

    def feed(prefix: str) -> None:
        for i in range(200):
            m.upsert_sessions([session(f"{prefix}{i}", location=f"L{i % 7}", kwh="0.1", excl="0.01", incl="0.0121")])

    threads = [threading.Thread(target=feed, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    listing = decode(m.locations())
    assert (listing["active_sessions"], listing["kwh"]) == (800, Decimal("80"))
    assert listing["cost"] == [{"currency": "EUR", "excl_vat": Decimal("8"), "incl_vat": Decimal("9.68")}]


def make_rows(n: int, *, bump: int = 0) -> list[Row]:
    """n sessions over 4,000 locations (2,000 per party), 4 EVSEs each; kWh and cost vary per session."""
    rows: list[Row] = []
    for i in range(n):
        party = "TNM" if i % 2 else "ABC"
        loc = f"LOC{(i // 2) % 2000:04}"
        kwh = f"{(i * 7 + bump) % 1000}.{i % 1000:03}"
        excl = f"{(i % 97) + bump}.{i % 10000:04}"
        incl = None if i % 5000 == 4999 else f"{(i % 97) * 2}.{i % 10:01}"
        currency = "EUR" if i % 3 else "USD"
        rows.append(session(f"S{i:06}", location=loc, evse=f"E{(i // 4000) % 4}", kwh=kwh, excl=excl, incl=incl, currency=currency, party=party))
    return rows


def expected_totals(rows: list[Row]) -> dict[tuple[str, str, str], dict[str, Any]]:
    by_loc: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(lambda: {"n": 0, "kwh": Decimal(0), "cost": {}})
    for sid, cc, party, loc, _evse, _conn, _status, kwh, excl, incl, cur, _t in rows:
        agg = by_loc[(cc, party, loc)]
        agg["n"] += 1
        agg["kwh"] += Decimal(kwh)
        c = agg["cost"].setdefault(cur, [Decimal(0), Decimal(0)])
        c[0] = None if c[0] is None or excl is None else c[0] + Decimal(excl)
        c[1] = None if c[1] is None or incl is None else c[1] + Decimal(incl)
    return by_loc


def test_one_hundred_thousand_sessions() -> None:
    m = Monitor()
    rows = make_rows(100_000)
    m.upsert_sessions(rows)
    assert len(m) == 100_000
    expected = expected_totals(rows)

    listing = decode(m.locations(limit=100))
    assert listing["total"] == len(expected) == 4000
    assert listing["active_sessions"] == 100_000
    assert listing["kwh"] == sum((Decimal(r[7]) for r in rows), Decimal(0))
    assert len(listing["locations"]) == 100
    keys = sorted(expected)
    for got, key in zip(listing["locations"], keys[:100], strict=True):
        want = expected[key]
        assert (got["country_code"], got["party_id"], got["location_id"]) == key
        assert (got["active_sessions"], got["kwh"]) == (want["n"], want["kwh"])
        assert {c["currency"]: [c["excl_vat"], c["incl_vat"]] for c in got["cost"]} == want["cost"]
        assert got["evses"] == {"UNKNOWN": 4}

    last_page = decode(m.locations("NL", "TNM", offset=1990, limit=100))
    assert [loc["location_id"] for loc in last_page["locations"]] == [k[2] for k in keys if k[1] == "TNM"][1990:]

    # Re-upsert everything with new figures: totals are replaced, not added to.
    rows2 = make_rows(100_000, bump=1)
    m.upsert_sessions(rows2)
    key = ("NL", "TNM", "LOC1999")
    detail = decode(m.location(*key))
    want = expected_totals(rows2)[key]
    assert (detail["active_sessions"], detail["kwh"]) == (want["n"], want["kwh"])
    assert {c["currency"]: [c["excl_vat"], c["incl_vat"]] for c in detail["cost"]} == want["cost"]
    sessions = [s for e in detail["evses"] for s in e["sessions"]]
    assert len(sessions) == want["n"] == 25
    by_id = {r[0]: r for r in rows2}
    for s in sessions:
        r = by_id[s["id"]]
        assert (s["kwh"], s["excl_vat"], s["currency"]) == (Decimal(r[7]), Decimal(r[8] or "0"), r[10])

    # Stop half of them.
    m.upsert_sessions([session(r[0], status="COMPLETED") for r in rows2[::2]])
    assert len(m) == 50_000
    assert decode(m.locations())["active_sessions"] == 50_000
    assert decode(m.locations(party_id="ABC"))["total"] == 0


def test_active_only_among_many_idle_locations() -> None:
    """100,000 sessions at 4,000 locations among 50,000 idle ones (known only by an EVSE status): the active list
    holds exactly the 4,000, pages through them in order, and loses a location once its last session stops."""
    m = Monitor()
    m.set_evse_status([("NL", "TNM", f"IDLE{i:05}", "E1", "AVAILABLE") for i in range(50_000)])
    rows = make_rows(100_000)
    m.upsert_sessions(rows)
    expected = expected_totals(rows)
    keys = sorted(expected)

    every = decode(m.locations(limit=1))
    active = decode(m.locations(limit=100, active_only=True))
    assert every["total"] == 54_000 and active["total"] == 4000
    assert {k: active[k] for k in ("active_sessions", "kwh", "cost")} == {k: every[k] for k in ("active_sessions", "kwh", "cost")}
    assert active["active_sessions"] == 100_000
    assert [tuple(loc[k] for k in ("country_code", "party_id", "location_id")) for loc in active["locations"]] == keys[:100]
    tnm = [k for k in keys if k[1] == "TNM"]
    page = decode(m.locations("NL", "TNM", offset=1950, limit=100, active_only=True))
    assert page["total"] == 2000 and decode(m.locations("NL", "TNM"))["total"] == 52_000
    assert [loc["location_id"] for loc in page["locations"]] == [k[2] for k in tnm[1950:]]
    with pytest.raises(TypeError):
        m.locations(None, None, 0, 10, True)  # type: ignore[misc]  # keyword only: never mistaken for a limit

    # Stop every session of the first active location: it leaves the active list (and, without an EVSE status,
    # the view).
    first = keys[0]
    gone = [r for r in rows if (r[1], r[2], r[3]) == first]
    m.upsert_sessions([session(r[0], status="COMPLETED") for r in gone])
    active = decode(m.locations(limit=1, active_only=True))
    assert active["total"] == 3999 and active["active_sessions"] == 100_000 - len(gone)
    assert (active["locations"][0]["party_id"], active["locations"][0]["location_id"]) == keys[1][1:]
    assert decode(m.locations(limit=1))["total"] == 53_999
