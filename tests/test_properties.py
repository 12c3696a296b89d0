"""Property tests (hypothesis): invariants of pricing over generated tariffs and sessions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rust_core import Price, price_cdr

START = datetime(2025, 3, 28, 20, 0, tzinfo=timezone.utc)  # spans a DST change in Europe/Amsterdam
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=3)
steps = st.sampled_from([1, 60, 300, 900, 1800, 100, 500, 1000])
vats = st.one_of(st.none(), st.sampled_from([Decimal(0), Decimal(9), Decimal(21)]))


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def tariffs(draw: st.DrawFn, restricted: bool = True) -> dict:
    def comp(kind: str) -> dict:
        c = {"type": kind, "price": str(draw(prices)), "step_size": draw(steps)}
        vat = draw(vats)
        if vat is not None:
            c["vat"] = str(vat)
        return c

    elements = []
    if restricted:
        for _ in range(draw(st.integers(0, 3))):
            r = draw(st.fixed_dictionaries({}, optional={
                "start_time": st.sampled_from(["07:00", "17:00", "22:00"]),
                "end_time": st.sampled_from(["00:00", "06:00", "20:00"]),
                "day_of_week": st.just(["SATURDAY", "SUNDAY"]),
                "max_duration": st.sampled_from([900, 3600]),
                "min_kwh": st.sampled_from([5, 20]),
                "max_power": st.sampled_from([11, 50]),
            }))
            elements.append({"price_components": [comp(draw(st.sampled_from(["ENERGY", "TIME", "PARKING_TIME"])))], "restrictions": r})
    elements.append({"price_components": [comp("FLAT"), comp("ENERGY"), comp("TIME"), comp("PARKING_TIME")]})
    t = {"country_code": "NL", "party_id": "EXA", "id": "T", "currency": "EUR", "elements": elements,
         "last_updated": "2025-01-01T00:00:00Z"}
    if draw(st.booleans()):
        lo = draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=2))
        hi = lo + draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2))
        t["min_price"] = {"excl_vat": str(lo)}
        t["max_price"] = {"excl_vat": str(hi)}
    return t


@st.composite
def sessions(draw: st.DrawFn) -> list[tuple[int, Decimal, bool]]:
    """Periods as (seconds, kWh, parking)."""
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        parking = i > 0 and draw(st.booleans())
        secs = draw(st.integers(60, 3 * 3600))
        kwh = Decimal(0) if parking else draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("40"), places=3))
        out.append((secs, kwh, parking))
    return out


def make_cdr(periods: list[tuple[int, Decimal, bool]], tariff: dict, start: datetime = START) -> str:
    t = start
    cps = []
    for secs, kwh, parking in periods:
        hours = Decimal(secs) / Decimal(3600)
        dims = [{"type": "ENERGY", "volume": str(kwh)}, {"type": "PARKING_TIME" if parking else "TIME", "volume": str(round(hours, 8))}]
        if not parking:
            power = kwh / hours
            dims += [{"type": "MIN_POWER", "volume": str(round(power, 3))}, {"type": "MAX_POWER", "volume": str(round(power, 3))}]
        cps.append({"start_date_time": ts(t), "dimensions": dims, "tariff_id": "T"})
        t += timedelta(seconds=secs)
    cdr = {"country_code": "NL", "party_id": "EXA", "id": "P", "start_date_time": ts(start), "end_date_time": ts(t),
           "currency": "EUR", "tariffs": [tariff], "charging_periods": cps, "total_cost": {"excl_vat": 0},
           "total_energy": 0, "total_time": 0, "last_updated": ts(t)}
    return json.dumps(cdr, default=str)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXACT = {"decimals": 12, "time_zone": "Europe/Amsterdam"}


def excl(p: object) -> Decimal:
    assert isinstance(p, Price)
    return p.amount


@SETTINGS
@given(tariffs(), sessions())
def test_step_rounding_never_lowers_a_cost(tariff: dict, periods: list) -> None:
    r = price_cdr(make_cdr(periods, tariff), **EXACT)
    for period in r.periods:
        for line in period.dimensions:
            assert line.billed_volume >= line.volume
    unclamped = sum((excl(getattr(r, k)) for k in ["total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost"]), Decimal(0))
    unrounded = sum(
        (line.price * line.volume for p in r.periods for line in p.dimensions),
        Decimal(0),
    )
    # breakdown hours carry 6 decimals, hence the tolerance
    assert unclamped >= unrounded - Decimal("0.0001")


@SETTINGS
@given(tariffs(), sessions())
def test_min_max_price_clamps_hold(tariff: dict, periods: list) -> None:
    r = price_cdr(make_cdr(periods, tariff), **EXACT)
    total = excl(r.total_cost)
    if "min_price" in tariff:
        assert total >= Decimal(tariff["min_price"]["excl_vat"])
        assert total <= Decimal(tariff["max_price"]["excl_vat"])
    else:
        assert not r.min_price_applied and not r.max_price_applied


@SETTINGS
@given(tariffs(restricted=False), sessions(), st.data())
def test_splitting_where_nothing_changes_leaves_the_price(tariff: dict, periods: list, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(periods) - 1))
    secs, kwh, parking = periods[i]
    cut = data.draw(st.integers(1, secs - 1))
    first = (kwh * cut / secs).quantize(Decimal("0.000001"))
    split = periods[:i] + [(cut, first, parking), (secs - cut, kwh - first, parking)] + periods[i + 1:]
    a = price_cdr(make_cdr(periods, tariff), breakdown=False, **EXACT)
    b = price_cdr(make_cdr(split, tariff), breakdown=False, **EXACT)
    for key in ["total_cost", "total_energy_cost", "total_time_cost", "total_parking_cost", "total_fixed_cost"]:
        assert getattr(a, key) == getattr(b, key), key


@SETTINGS
@given(tariffs(restricted=False), sessions())
def test_split_modes_agree_when_no_restriction_can_switch(tariff: dict, periods: list) -> None:
    cdr = make_cdr(periods, tariff)
    a = price_cdr(cdr, breakdown=False, **EXACT)
    b = price_cdr(cdr, breakdown=False, split="period_start", **EXACT)
    assert a == b
