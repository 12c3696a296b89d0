#!/usr/bin/env python3
"""Write the hand-made comparison inputs next to this file: tariffs.json and cdrs.jsonl.

Each CDR id names what it shows; docs/ocpi-tariffs-comparison.md refers to them. Price them with
`--time-zone Europe/Amsterdam` (all dates are in winter, UTC+1, unless noted).

    python3 testdata/make_testdata.py
    target/release/compare --cdrs testdata/cdrs.jsonl --tariffs testdata/tariffs.json \
        --runs 1 --report /tmp/hand.jsonl
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]


def pc(kind, price, step, vat=None):
    d = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        d["vat"] = vat
    return d


def tariff(tid, elements, **kw):
    t = {"country_code": "NL", "party_id": "EXA", "id": tid, "currency": "EUR",
         "elements": elements, "last_updated": "2024-01-01T00:00:00Z"}
    t.update(kw)
    return t


def el(*components, **restrictions):
    e = {"price_components": list(components)}
    if restrictions:
        e["restrictions"] = restrictions
    return e


TARIFFS = [
    # digest §4.9 vectors
    tariff("V1", [el(pc("ENERGY", 0.25, 1, 10))]),
    tariff("V4", [el(pc("FLAT", 0.50, 1, 20)), el(pc("ENERGY", 0.25, 1, 10)), el(pc("PARKING_TIME", 2.00, 900, 20))]),
    tariff("V7", [el(pc("TIME", 3.00, 60, 10), pc("PARKING_TIME", 5.00, 300, 20))]),
    tariff("V17", [
        el(pc("TIME", 1.20, 1800), pc("PARKING_TIME", 1.00, 900), start_time="00:00", end_time="17:00"),
        el(pc("TIME", 2.40, 900), pc("PARKING_TIME", 1.00, 900), start_time="17:00", end_time="20:00"),
        el(pc("TIME", 2.40, 900), start_time="20:00", end_time="00:00"),
    ]),
    tariff("MIN", [el(pc("ENERGY", 0.25, 1, 10))], min_price={"excl_vat": 0.50, "incl_vat": 0.55}),
    # class: a component without vat
    tariff("NOVAT", [el(pc("ENERGY", 0.30, 1))]),
    # class: period splitting (time of day) / step surplus on a zero-energy period
    tariff("TOD", [el(pc("ENERGY", 0.25, 1, 10), end_time="17:00"), el(pc("ENERGY", 0.27, 1, 10))]),
    tariff("NIGHT", [el(pc("ENERGY", 0.20, 1, 21), start_time="23:00", end_time="07:00"),
                     el(pc("ENERGY", 0.40, 1, 21), pc("PARKING_TIME", 2.00, 60, 21))]),
    # class: period splitting (duration)
    tariff("FREE2H", [el(pc("TIME", 0.00, 60, 21), max_duration=7200), el(pc("TIME", 3.00, 60, 21))]),
    # class: power restriction read from MIN_POWER vs MAX_POWER
    tariff("POWER", [el(pc("ENERGY", 0.35, 1, 21), max_power=100), el(pc("ENERGY", 0.69, 1, 21))]),
    # class: 6-decimal hour volumes vs timestamps, with a step
    tariff("TIME60", [el(pc("TIME", 3.00, 60, 21))]),
    # class: min/max_price clamp, per part (ours) vs whole Price ordered by excl first (ocpi-tariffs)
    tariff("MAXMIX", [el(pc("ENERGY", 1.00, 1, 21))], max_price={"excl_vat": 10.0, "incl_vat": 11.0}),
    # class: tariff validity window (start_date_time after the session)
    tariff("LATER", [el(pc("ENERGY", 0.30, 1, 21))], start_date_time="2030-01-01T00:00:00Z"),
    # our bug: spurious extra step after splitting (energy / parking)
    tariff("DAYTIME", [el(pc("ENERGY", 0.50, 1, 21), start_time="07:00", end_time="23:00", day_of_week=WEEKDAYS),
                       el(pc("ENERGY", 0.40, 1, 21))]),
    tariff("TT", [el(pc("TIME", 3.0, 300, 21), pc("PARKING_TIME", 6.0, 300, 21),
                     start_time="07:00", end_time="23:00", day_of_week=WEEKDAYS),
                  el(pc("TIME", 2.0, 300, 21), pc("PARKING_TIME", 4.0, 300, 21))]),
    # input other pricers accept (issue 7 §5): a dimension OCPI does not define, a bare-number min_price
    tariff("UNKDIM", [el(pc("CO2_EMISSION", 9.99, 1), pc("ENERGY", 0.30, 1, 21))]),
    tariff("BAREMIN", [el(pc("ENERGY", 0.25, 1, 10))], min_price=0.50),
]


def cdr(cid, start, end, periods, total_time, total_energy, with_totals=True):
    c = {"country_code": "NL", "party_id": "EXA", "id": cid, "start_date_time": start, "end_date_time": end,
         "cdr_token": {"country_code": "NL", "party_id": "EXA", "uid": "T1", "type": "RFID", "contract_id": "NL-EXA-C1"},
         "auth_method": "WHITELIST",
         "cdr_location": {"id": "L1", "address": "a", "city": "c", "country": "NLD",
                          "coordinates": {"latitude": "52.0", "longitude": "4.0"}, "evse_uid": "E1",
                          "evse_id": "NL*EXA*E1", "connector_id": "1", "connector_standard": "IEC_62196_T2",
                          "connector_format": "SOCKET", "connector_power_type": "AC_3_PHASE"},
         "currency": "EUR", "charging_periods": periods, "last_updated": end}
    if with_totals:
        c.update({"total_cost": {"excl_vat": 0}, "total_energy": total_energy, "total_time": total_time})
    return c


def per(start, tid, **dims):
    return {"start_date_time": start, "tariff_id": tid,
            "dimensions": [{"type": k, "volume": v} for k, v in dims.items()]}


def one_period(cid, tid, start, end, hours, kwh):
    """A CDR of one charging period with ENERGY `kwh` and TIME `hours`."""
    return cdr(cid, start, end, [per(start, tid, ENERGY=kwh, TIME=hours)], hours, kwh)


CDRS = [
    cdr("spec-v1", "2024-01-15T10:00:00Z", "2024-01-15T12:00:00Z",
        [per("2024-01-15T10:00:00Z", "V1", ENERGY=20, TIME=2)], 2, 20),
    cdr("spec-v4", "2024-01-15T10:00:00Z", "2024-01-15T12:40:00Z",
        [per("2024-01-15T10:00:00Z", "V4", ENERGY=20, TIME=2),
         per("2024-01-15T12:00:00Z", "V4", PARKING_TIME=0.666667)], 2.666667, 20),
    # no totals: ocpi-tariffs gets placeholders (it requires them)
    cdr("spec-v7-no-totals", "2024-01-15T10:00:00Z", "2024-01-15T13:12:00Z",
        [per("2024-01-15T10:00:00Z", "V7", ENERGY=30, TIME=2.5),
         per("2024-01-15T12:30:00Z", "V7", PARKING_TIME=0.7)], 3.2, 30, with_totals=False),
    cdr("spec-v17a", "2024-01-15T15:55:00Z", "2024-01-15T16:07:00Z",
        [per("2024-01-15T15:55:00Z", "V17", ENERGY=1, TIME=0.0833333),
         per("2024-01-15T16:00:00Z", "V17", ENERGY=1, TIME=0.0833333),
         per("2024-01-15T16:05:00Z", "V17", PARKING_TIME=0.0333333)], 0.2, 2),
    cdr("spec-v17b", "2024-01-15T15:35:00Z", "2024-01-15T16:10:00Z",
        [per("2024-01-15T15:35:00Z", "V17", ENERGY=2, TIME=0.4166667),
         per("2024-01-15T16:00:00Z", "V17", ENERGY=1, TIME=0.1666667)], 0.5833333, 3),
    cdr("spec-min-price", "2024-01-15T10:00:00Z", "2024-01-15T10:30:00Z",
        [per("2024-01-15T10:00:00Z", "MIN", ENERGY=1.0, TIME=0.5)], 0.5, 1),
    cdr("class-vat-absent", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z",
        [per("2024-01-15T10:00:00Z", "NOVAT", ENERGY=7.5, TIME=1)], 1, 7.5),
    # 16:00-18:00 local in one period: 17:00 local switches the energy price
    cdr("class-split-time-of-day", "2024-01-15T15:00:00Z", "2024-01-15T17:00:00Z",
        [per("2024-01-15T15:00:00Z", "TOD", ENERGY=5.4, TIME=2)], 2, 5.4),
    cdr("class-split-time-of-day-presplit", "2024-01-15T15:00:00Z", "2024-01-15T17:00:00Z",
        [per("2024-01-15T15:00:00Z", "TOD", ENERGY=2.7, TIME=1),
         per("2024-01-15T16:00:00Z", "TOD", ENERGY=2.7, TIME=1)], 2, 5.4),
    # second period runs from 1.5 h to 3 h: free TIME ends at 2 h inside it
    cdr("class-split-duration", "2024-01-15T10:00:00Z", "2024-01-15T13:00:00Z",
        [per("2024-01-15T10:00:00Z", "FREE2H", ENERGY=10, TIME=1.5),
         per("2024-01-15T11:30:00Z", "FREE2H", ENERGY=10, TIME=1.5)], 3, 20),
    cdr("class-power-min-vs-max", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z",
        [per("2024-01-15T10:00:00Z", "POWER", ENERGY=100, TIME=1, MIN_POWER=90, MAX_POWER=140)], 1, 100),
    # 37 min of charging written as 0.616667 h (= 2220.0012 s)
    cdr("class-hour-volume-precision", "2024-01-15T10:00:00Z", "2024-01-15T10:37:00Z",
        [per("2024-01-15T10:00:00Z", "TIME60", ENERGY=5, TIME=0.616667)], 0.616667, 5),
    # charging 21:00-23:00 local (0.40/kWh), then a parking period with ENERGY 0 from 23:00 local,
    # where the night element (0.20/kWh) is active: where does the 0.6 Wh step surplus go?
    cdr("class-step-surplus-on-zero-energy-period", "2024-01-15T20:00:00Z", "2024-01-15T22:30:00Z",
        [per("2024-01-15T20:00:00Z", "NIGHT", ENERGY=10.0004, TIME=2),
         per("2024-01-15T22:00:00Z", "NIGHT", ENERGY=0, PARKING_TIME=0.5)], 2.5, 10.0004),
    cdr("class-rounding-midpoint", "2024-01-15T10:00:00Z", "2024-01-15T10:10:00Z",
        [per("2024-01-15T10:00:00Z", "V1", ENERGY=0.125, TIME=0.166667)], 0.166667, 0.125),
    # OUR BUG: 12.000 kWh exactly, but rust_core bills 12.001 kWh after splitting the 2nd period
    # at 23:00 and 00:00 local (Thursday -> Friday)
    cdr("bug-extra-energy-step-after-split", "2026-01-08T20:00:00Z", "2026-01-08T23:14:47Z",
        [per("2026-01-08T20:00:00Z", "DAYTIME", ENERGY=10.0),
         per("2026-01-08T21:00:00Z", "DAYTIME", ENERGY=2.0)], 3.246389, 12.0),
    # OUR BUG: 0.5 h of parking = 6 x 300 s exactly, but rust_core bills 35 min
    cdr("bug-extra-parking-step-after-split", "2026-01-08T20:58:05Z", "2026-01-09T00:04:05Z",
        [per("2026-01-08T20:58:05Z", "TT", ENERGY=5, TIME=0.7, PARKING_TIME=0.3),
         per("2026-01-08T21:58:05Z", "TT", ENERGY=5, TIME=1.9, PARKING_TIME=0.2)], 3.1, 10),
    # excl 9.50 is under the 10.00 cap, incl 11.495 is over the 11.00 cap
    cdr("class-max-price-clamp-per-part", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z",
        [per("2024-01-15T10:00:00Z", "MAXMIX", ENERGY=9.5, TIME=1)], 1, 9.5),
    cdr("class-tariff-not-yet-valid", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z",
        [per("2024-01-15T10:00:00Z", "LATER", ENERGY=10, TIME=1)], 1, 10),
    # issue 7 §5: priced with a warning by rust_core (refused with --strict)
    one_period("lenient-unknown-dimension", "UNKDIM", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z", 1, 10),
    one_period("lenient-bare-number-min-price", "BAREMIN", "2024-01-15T10:00:00Z", "2024-01-15T10:30:00Z", 0.5, 1.0),
    one_period("lenient-unpadded-date-times", "V1", "2024-1-15T9:00:00Z", "2024-1-15T10:00:00Z", 1, 20),
    {k: v for k, v in one_period("lenient-no-id", "V1", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z", 1, 20).items()
     if k != "id"},
    # a stated TIME 0 in a 150 ms period after exactly 30 min: no extra 60 s step (§4.5)
    cdr("zero-time-short-period", "2024-01-15T10:00:00Z", "2024-01-15T10:30:00.150Z",
        [per("2024-01-15T10:00:00Z", "TIME60", ENERGY=5, TIME=0.5),
         per("2024-01-15T10:30:00Z", "TIME60", ENERGY=0, TIME=0)], 0.500042, 5),
    cdr("unknown-tariff-id", "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z",
        [per("2024-01-15T10:00:00Z", "NOPE", ENERGY=1, TIME=1)], 1, 1),
]


def main():
    (HERE / "tariffs.json").write_text(json.dumps(TARIFFS, indent=1) + "\n")
    with open(HERE / "cdrs.jsonl", "w") as f:
        for c in CDRS:
            f.write(json.dumps(c, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
