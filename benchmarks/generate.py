#!/usr/bin/env python3
"""Seeded generator of realistic synthetic OCPI 2.2.1 tariffs and CDRs (macro benchmark input).

Usage::

    python benchmarks/generate.py --cdrs 1000000 --seed 42 --out-dir /tmp/bench

writes ``DIR/tariffs.json`` (JSON array of ~40 Tariff objects) and ``DIR/cdrs.jsonl``
(one CDR object per line, UTF-8, ``\\n`` terminated). The same seed always gives
byte-identical files. Only a one-line summary is printed, on stderr.

Importable API::

    generate(n_cdrs, seed, out_dir) -> (tariffs_path, cdrs_path)
    make_tariffs(rng) -> list[dict]            # rng: random.Random
    iter_cdr_lines(n, seed, tariffs) -> Iterator[str]   # lines WITHOUT the trailing "\\n"

Data model notes (see /work/shared/ocpi/spec-digest.md §3.3, §4):

* Tariffs: country_code "NL", party_id "EXA", currency "EUR", ids "TRF-0001".. . Mixes ENERGY-only,
  FLAT + ENERGY + PARKING_TIME (step 60/300/900), TIME-based, time-of-day (incl. midnight-wrapping
  23:00-07:00 windows), day_of_week, min/max_power tiers, min/max_duration tiers, min/max_kwh tiers,
  min_price/max_price, step_size 1/100/1000 Wh, a few components without ``vat`` and one free tariff.
  Every element list ends with an unrestricted element for each priced dimension (i.e. the last
  element containing a given dimension has no restrictions).
* CDRs: CPO NL/EXA, start over 2025-01-01..2026-12-30 (UTC, ``Z``; everything ends in 2026 at the
  latest), weighted towards Dutch local
  day-time hours, ~3 % deliberately started in the 8 h before an EU DST switch. No ``tariffs``
  array is embedded; every charging period carries the ``tariff_id`` of the CDR's single tariff.
  2..12 periods (uniform), each 300..5400 s (whole seconds), consecutive; the last 0..2 are parking
  periods (ENERGY 0 + PARKING_TIME), the others carry ENERGY (kWh, <= 4 dp), TIME (h, 6 dp),
  MIN_POWER and MAX_POWER (kW, <= 2 dp) with ENERGY / TIME in [3.7, 350] kW.
  total_energy == sum(ENERGY) and total_parking_time == sum(PARKING_TIME) exactly in decimal;
  total_time == (end - start) in hours rounded to 6 dp (so it can differ from the sum of the
  6-dp period values by a few 1e-6 h). total_cost is plausible but NOT a rating of the tariff.

Only the Python standard library is used, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import random
import sys
import time
from pathlib import Path
from typing import Iterator

__all__ = ["generate", "make_tariffs", "iter_cdr_lines", "main"]

COUNTRY_CODE = "NL"
PARTY_ID = "EXA"
CURRENCY = "EUR"

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


def _epoch(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return int((_dt.datetime(y, mo, d, h, mi, s, tzinfo=_UTC) - _EPOCH).total_seconds())


def _iso(ts: int) -> str:
    return (_EPOCH + _dt.timedelta(seconds=ts)).strftime("%Y-%m-%dT%H:%M:%SZ")


# CDR start window: 2025-01-01T00:00:00Z .. 2026-12-30 (local), 729 days, so that even the longest
# session (12 x 90 min) and its last_updated stay within 2025-2026.
_T0 = _epoch(2025, 1, 1)
_N_DAYS = 729
# EU DST switches (01:00 UTC, last Sunday of March / October) for Europe/Amsterdam.
_DST_SWITCHES = (
    _epoch(2025, 3, 30, 1),
    _epoch(2025, 10, 26, 1),
    _epoch(2026, 3, 29, 1),
    _epoch(2026, 10, 25, 1),
)
_SUMMER = ((_DST_SWITCHES[0], _DST_SWITCHES[1]), (_DST_SWITCHES[2], _DST_SWITCHES[3]))

_WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
_WEEKEND = ["SATURDAY", "SUNDAY"]

# --------------------------------------------------------------------------------------------
# Tariffs
# --------------------------------------------------------------------------------------------


def _pc(dim: str, price: float, step: int, vat: float | None = 21.0) -> dict:
    d: dict = {"type": dim, "price": price}
    if vat is not None:
        d["vat"] = vat
    d["step_size"] = step
    return d


def _el(components: list[dict], **restrictions) -> dict:
    el: dict = {"price_components": components}
    if restrictions:
        el["restrictions"] = restrictions
    return el


class _Prices:
    """Plausible excl.-VAT prices; mix of 2-dp list prices and 4-dp 'incl 21 % round' prices."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def _pick(self, lo_cents: int, hi_cents: int) -> float:
        rng = self.rng
        cents = rng.randint(lo_cents, hi_cents)
        if rng.random() < 0.5:  # published incl. VAT price -> 4-dp excl. VAT price
            return round(cents / 121.0, 4)
        return cents / 100

    def energy(self, lo: int = 25, hi: int = 69) -> float:
        return self._pick(lo, hi)

    def time(self, lo: int = 60, hi: int = 300) -> float:  # per hour of charging
        return self._pick(lo, hi)

    def parking(self, lo: int = 100, hi: int = 1200) -> float:  # per hour of parking
        return self._pick(lo, hi)

    def flat(self, lo: int = 20, hi: int = 150) -> float:
        return self._pick(lo, hi)


def _t_energy_only(rng, P):
    return [_el([_pc("ENERGY", P.energy(), 1)])]


def _t_flat_energy_parking(rng, P):
    step = rng.choice((60, 300, 900))
    if rng.random() < 0.5:  # all in one element
        return [_el([_pc("FLAT", P.flat(), 1), _pc("ENERGY", P.energy(), 1), _pc("PARKING_TIME", P.parking(), step)])]
    return [  # spec example style: one element per component
        _el([_pc("FLAT", P.flat(), 0)]),
        _el([_pc("ENERGY", P.energy(), 1)]),
        _el([_pc("PARKING_TIME", P.parking(), step)]),
    ]


def _t_tod_offpeak_wrap(rng, P):
    off = P.energy(22, 40)
    peak = P.energy(45, 75)
    els = [_el([_pc("ENERGY", off, 1)], start_time="23:00", end_time="07:00"), _el([_pc("ENERGY", peak, 1)])]
    if rng.random() < 0.5:
        els[-1]["price_components"].append(_pc("PARKING_TIME", P.parking(), rng.choice((60, 300))))
    return els


def _t_tod_both_windows(rng, P):
    peak = P.energy(45, 75)
    off = P.energy(22, 40)
    start, end = rng.choice((("07:00", "23:00"), ("08:00", "20:00"), ("06:00", "22:00")))
    return [
        _el([_pc("ENERGY", peak, 1)], start_time=start, end_time=end),
        _el([_pc("ENERGY", off, 1)], start_time=end, end_time=start),  # wraps midnight
        _el([_pc("FLAT", P.flat(), 1), _pc("ENERGY", peak, 1)]),
    ]


def _t_weekday_weekend(rng, P):
    wd = P.energy(40, 70)
    we = P.energy(25, 45)
    els = [
        _el([_pc("ENERGY", wd, 1)], day_of_week=list(_WEEKDAYS)),
        _el([_pc("ENERGY", we, 1)], day_of_week=list(_WEEKEND)),
        _el([_pc("ENERGY", wd, 1)]),
    ]
    if rng.random() < 0.5:
        els[0]["price_components"].append(_pc("TIME", P.time(), 60))
        els[-1]["price_components"].append(_pc("TIME", P.time(30, 120), 60))
    return els


def _t_weekday_peak_window(rng, P):
    return [
        _el([_pc("ENERGY", P.energy(50, 79), 1)], start_time="07:00", end_time="23:00", day_of_week=list(_WEEKDAYS)),
        _el([_pc("FLAT", P.flat(), 1)]),
        _el([_pc("ENERGY", P.energy(25, 45), 1)]),
    ]


def _t_power_2tier(rng, P):
    lo = rng.choice((0.39, 0.35, 0.4463, 0.49))
    hi = rng.choice((0.59, 0.55, 0.5702, 0.69))
    thr = rng.choice((50, 50, 22, 100))
    els = [_el([_pc("ENERGY", lo, 1)], max_power=thr), _el([_pc("ENERGY", hi, 1)])]
    if rng.random() < 0.5:
        els[-1]["price_components"].insert(0, _pc("FLAT", P.flat(), 1))
    return els


def _t_power_3tier(rng, P):
    if rng.random() < 0.5:
        return [
            _el([_pc("ENERGY", P.energy(25, 35), 1)], max_power=22),
            _el([_pc("ENERGY", P.energy(40, 55), 1)], max_power=100),
            _el([_pc("ENERGY", P.energy(56, 79), 1)]),
        ]
    return [  # HPC surcharge via min_power
        _el([_pc("ENERGY", P.energy(60, 79), 1)], min_power=150),
        _el([_pc("ENERGY", P.energy(45, 59), 1)], min_power=50, max_power=150),
        _el([_pc("ENERGY", P.energy(30, 44), 1), _pc("PARKING_TIME", P.parking(600, 1500), 60)]),
    ]


def _t_parking_grace(rng, P):
    grace = rng.choice((7200, 7200, 3600, 10800))
    return [
        _el([_pc("PARKING_TIME", 0.0, 60)], max_duration=grace),
        _el([_pc("ENERGY", P.energy(), 1), _pc("PARKING_TIME", P.parking(600, 1500), rng.choice((60, 300, 900)))]),
    ]


def _t_time_blocking_fee(rng, P):
    after = rng.choice((10800, 14400, 7200))
    if rng.random() < 0.5:
        return [
            _el([_pc("TIME", 0.0, 60)], max_duration=after),
            _el([_pc("ENERGY", P.energy(), 1), _pc("TIME", P.time(300, 720), 60)]),
        ]
    return [
        _el([_pc("TIME", P.time(300, 720), 60)], min_duration=after),
        _el([_pc("TIME", 0.0, 60)], max_duration=3600),
        _el([_pc("ENERGY", P.energy(), 1), _pc("TIME", P.time(30, 120), 60)]),
    ]


def _t_kwh_tier(rng, P):
    if rng.random() < 0.5:
        return [_el([_pc("ENERGY", P.energy(22, 35), 1)], max_kwh=rng.choice((10, 20, 30))), _el([_pc("ENERGY", P.energy(40, 60), 1)])]
    return [
        _el([_pc("ENERGY", P.energy(25, 35), 1)], min_kwh=rng.choice((25, 40))),
        _el([_pc("FLAT", P.flat(), 1), _pc("ENERGY", P.energy(40, 60), 1)]),
    ]


def _t_time_ac(rng, P):
    v = rng.randrange(3)
    if v == 0:
        return [_el([_pc("TIME", P.time(), rng.choice((60, 300))), _pc("ENERGY", P.energy(20, 35), 1)])]
    if v == 1:
        return [_el([_pc("TIME", P.time(150, 250), 300)])]
    return [_el([_pc("TIME", P.time(), 60), _pc("PARKING_TIME", P.parking(300, 600), 300)])]


def _t_complex(rng, P):
    # Modelled on the spec's tariff_4 "complex" example, with power instead of current thresholds.
    return [
        _el([_pc("FLAT", P.flat(150, 300), 1, vat=15.0)]),
        _el([_pc("TIME", P.time(80, 120), 900)], max_power=11),
        _el([_pc("TIME", P.time(180, 240), 600)], min_power=11, day_of_week=list(_WEEKDAYS)),
        _el([_pc("TIME", P.time(110, 150), 600)], min_power=11, day_of_week=list(_WEEKEND)),
        _el([_pc("PARKING_TIME", P.parking(400, 600), 300, vat=9.0)], start_time="09:00", end_time="18:00",
            day_of_week=list(_WEEKDAYS)),
        _el([_pc("PARKING_TIME", P.parking(500, 700), 300, vat=9.0)], start_time="10:00", end_time="17:00",
            day_of_week=["SATURDAY"]),
        _el([_pc("TIME", P.time(180, 240), 600), _pc("PARKING_TIME", 0.0, 300)]),
    ]


def _t_free(rng, P):
    return [_el([_pc("FLAT", 0.0, 0)])]


def _t_energy_step_wh(rng, P):
    return [_el([_pc("FLAT", P.flat(), 1), _pc("ENERGY", P.energy(), rng.choice((100, 500, 1000)))])]


def _t_parking_daytime(rng, P):
    # Municipal street parking collected by the CPO: parking fee without VAT.
    return [
        _el([_pc("PARKING_TIME", P.parking(200, 500), 60, vat=None)], start_time="09:00", end_time="23:00",
            day_of_week=list(_WEEKDAYS) + ["SATURDAY"]),
        _el([_pc("ENERGY", P.energy(), 1), _pc("PARKING_TIME", 0.0, 60, vat=None)]),
    ]


def _t_mixed_dc(rng, P):
    return [
        _el([_pc("ENERGY", P.energy(65, 79), 1)], min_power=100, start_time="07:00", end_time="23:00"),
        _el([_pc("ENERGY", P.energy(35, 45), 1)], max_power=50),
        _el([_pc("PARKING_TIME", 0.0, 60)], max_duration=2700),
        _el([_pc("ENERGY", P.energy(50, 64), 1), _pc("PARKING_TIME", P.parking(1200, 2400), 60)]),
    ]


# (builder, count) -> 40 tariffs in total.
_ARCHETYPES = (
    (_t_energy_only, 3),
    (_t_flat_energy_parking, 4),
    (_t_tod_offpeak_wrap, 3),
    (_t_tod_both_windows, 2),
    (_t_weekday_weekend, 3),
    (_t_weekday_peak_window, 2),
    (_t_power_2tier, 3),
    (_t_power_3tier, 3),
    (_t_parking_grace, 3),
    (_t_time_blocking_fee, 3),
    (_t_kwh_tier, 2),
    (_t_time_ac, 3),
    (_t_complex, 2),
    (_t_free, 1),
    (_t_energy_step_wh, 1),
    (_t_parking_daytime, 1),
    (_t_mixed_dc, 1),
)

_ALT_TEXTS = (
    [{"language": "en", "text": "Idle vehicles may be towed after the session ends."},
     {"language": "nl", "text": "Voertuigen die niet laden kunnen worden weggesleept."}],
    [{"language": "en", "text": "Prices are shown excluding VAT; see the app for details."},
     {"language": "nl", "text": "Prijzen excl. btw — zie de app voor details."}],
    [{"language": "nl", "text": "Parkeren volgens gemeentelijk tarief ('s-Hertogenbosch)."}],
)


def make_tariffs(rng: random.Random) -> list[dict]:
    """Return ~40 OCPI 2.2.1 Tariff dicts (ids TRF-0001..), deterministic for a given rng state."""
    P = _Prices(rng)
    schedule = [b for b, count in _ARCHETYPES for _ in range(count)]
    rng.shuffle(schedule)
    tariffs: list[dict] = []
    for i, builder in enumerate(schedule, 1):
        elements = builder(rng, P)
        # A few extra components without VAT (foreign / VAT-exempt operators).
        for el in elements:
            for c in el["price_components"]:
                if "vat" in c and rng.random() < 0.04:
                    del c["vat"]
        t: dict = {"country_code": COUNTRY_CODE, "party_id": PARTY_ID, "id": f"TRF-{i:04d}", "currency": CURRENCY}
        if rng.random() < 0.75:
            t["type"] = "REGULAR"
        if rng.random() < 0.25:
            t["tariff_alt_text"] = rng.choice(_ALT_TEXTS)
        priced = builder is not _t_free
        if priced and rng.random() < 0.2:
            lo = rng.choice((0.5, 1.0, 1.5))
            t["min_price"] = {"excl_vat": lo, "incl_vat": round(lo * 1.21, 4)}
        if priced and rng.random() < 0.2:
            hi = float(rng.choice((15, 25, 40, 60)))
            t["max_price"] = {"excl_vat": hi, "incl_vat": round(hi * 1.21, 4)}
        t["elements"] = elements
        if rng.random() < 0.25:
            t["start_date_time"] = _iso(_epoch(2024, rng.randint(1, 12), 1))
        t["last_updated"] = _iso(_epoch(2024, 12, 1) + rng.randrange(30 * 86400))
        tariffs.append(t)
    return tariffs


# --------------------------------------------------------------------------------------------
# CDRs
# --------------------------------------------------------------------------------------------

_CITIES = (  # name, lat, lon, postal-code range
    ("Amsterdam", 52.3702, 4.8952, 1011, 1109),
    ("Rotterdam", 51.9244, 4.4777, 3011, 3089),
    ("Den Haag", 52.0705, 4.3007, 2491, 2599),
    ("Utrecht", 52.0907, 5.1214, 3511, 3585),
    ("Eindhoven", 51.4416, 5.4697, 5611, 5658),
    ("Groningen", 53.2194, 6.5665, 9711, 9747),
    ("Tilburg", 51.5555, 5.0913, 5011, 5049),
    ("Almere", 52.3508, 5.2647, 1311, 1363),
    ("Breda", 51.5719, 4.7683, 4811, 4845),
    ("Nijmegen", 51.8126, 5.8372, 6511, 6546),
    ("Haarlem", 52.3874, 4.6462, 2011, 2037),
    ("Arnhem", 51.9851, 5.8987, 6811, 6846),
    ("Zwolle", 52.5168, 6.0830, 8011, 8047),
    ("Maastricht", 50.8514, 5.6910, 6211, 6229),
    ("Leeuwarden", 53.2012, 5.7999, 8911, 8939),
    ("'s-Hertogenbosch", 51.6978, 5.3037, 5211, 5237),
)
_STREETS = (
    "Stationsplein", "Kerkstraat", "Dorpsstraat", "Molenweg", "Schoolstraat", "Julianalaan",
    "Beatrixlaan", "Industrieweg", "Parallelweg", "Havenkade", "Coöperatieweg", "Brouwersgracht",
    "Prins Hendrikkade", "Burgemeester de Vlugtlaan", "Van Heutszstraat", "Kröller-Müllerlaan",
    "Energieweg", "Noordersingel", "Zuiderpark", "Oude Rijn", "Laan van Meerdervoort",
)
_NAMES_AC = (
    "Parkeergarage {s}", "{c} Centrum", "Supermarkt {s}", "Sportpark {s}", "P+R {c}", "Hotel {s}",
    "Café 't Hoekje", "Gemeente {c} – {s}", "Bedrijventerrein {s}",
)
_NAMES_DC = ("Snellaadplein {c} {d}", "Laadplein A{n} {d}", "Tankstation {s}", "HPC Hub {c}")


def _fragment(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _build_connectors(rng: random.Random, tariffs: list[dict]):
    """Return (ac_connectors, dc_connectors): tuples (cdr_location_json, max_kw, period_tail_json)."""
    ids = [t["id"] for t in tariffs]

    def _power_threshold(t):
        vals = [r.get(k, 0) for el in t["elements"] for r in [el.get("restrictions") or {}]
                for k in ("min_power", "max_power")]
        return max(vals, default=0)

    dc_pref = [t["id"] for t in tariffs if _power_threshold(t) >= 50] or ids
    ac_pref = [t["id"] for t in tariffs if _power_threshold(t) < 50] or ids

    ac, dc = [], []
    for n_loc in range(1, 801):
        city, lat0, lon0, pc_lo, pc_hi = rng.choice(_CITIES)
        street = rng.choice(_STREETS)
        is_dc = rng.random() < 0.3
        tmpl = rng.choice(_NAMES_DC if is_dc else _NAMES_AC)
        name = tmpl.format(s=street, c=city, d=rng.choice(("Noord", "Zuid", "Oost", "West")), n=rng.randint(1, 99))
        loc_id = f"LOC-{n_loc:05d}"
        base = {
            "id": loc_id,
            "name": name,
            "address": f"{street} {rng.randint(1, 250)}",
            "city": city,
            "postal_code": f"{rng.randint(pc_lo, pc_hi)} {chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}",
            "country": "NLD",
            "coordinates": {
                "latitude": f"{lat0 + rng.uniform(-0.06, 0.06):.6f}",
                "longitude": f"{lon0 + rng.uniform(-0.09, 0.09):.6f}",
            },
        }
        if is_dc:
            site_kw = rng.choice((50, 50, 150, 175, 300, 350))
            n_evse = rng.randint(2, 8)
        else:
            site_kw = rng.choice((11, 11, 22, 22, 22, 7.4))
            n_evse = rng.randint(1, 6)
        for n_evse_i in range(1, n_evse + 1):
            tariff_id = rng.choice(dc_pref if (is_dc and rng.random() < 0.5) else (ids if is_dc else ac_pref))
            if is_dc:
                conns = [("1", "IEC_62196_T2_COMBO", "CABLE", "DC", site_kw)]
                if site_kw == 50 and rng.random() < 0.5:
                    conns.append(("2", "CHADEMO", "CABLE", "DC", 50))
            else:
                ptype = "AC_1_PHASE" if site_kw == 7.4 else "AC_3_PHASE"
                fmt = "CABLE" if rng.random() < 0.15 else "SOCKET"
                conns = [("1", "IEC_62196_T2", fmt, ptype, site_kw)]
            for conn_id, std, fmt, ptype, kw in conns:
                loc = dict(base)
                loc["evse_uid"] = f"{loc_id}-{n_evse_i}"
                loc["evse_id"] = f"NL*EXA*E{n_loc:05d}*{n_evse_i}"
                loc["connector_id"] = conn_id
                loc["connector_standard"] = std
                loc["connector_format"] = fmt
                loc["connector_power_type"] = ptype
                tail = f'],"tariff_id":"{tariff_id}"}}'
                (dc if is_dc else ac).append((_fragment(loc), float(kw), tail))
    return ac, dc


def _build_tokens(rng: random.Random, n: int = 20000) -> list[str]:
    parties = (("NL", "EXA"), ("NL", "EXA"), ("NL", "MSP"), ("NL", "ELN"), ("BE", "BEC"), ("DE", "ABC"))
    toks = []
    for i in range(1, n + 1):
        cc, pid = rng.choice(parties)
        uid = f"{rng.getrandbits(56):014X}"
        contract = f"{cc}-{pid}-C{rng.randrange(10**8):08d}-{chr(65 + rng.randrange(26))}"
        toks.append(_fragment({"country_code": cc, "party_id": pid, "uid": uid, "type": "RFID", "contract_id": contract}))
    return toks


def _hour_table() -> list[int]:
    # Relative session-start frequency per local hour (NL public charging).
    w = (1.0, 0.5, 0.3, 0.3, 0.3, 0.6, 1.5, 3.0, 4.0, 3.5, 3.0, 3.0,
         3.0, 3.0, 3.0, 3.0, 3.5, 4.5, 5.0, 4.0, 3.0, 2.5, 2.0, 1.5)
    tot = sum(w)
    table: list[int] = []
    acc = 0.0
    for h, x in enumerate(w):
        acc += x
        while len(table) < round(acc / tot * 1000):
            table.append(h)
    return table


def iter_cdr_lines(n: int, seed: int, tariffs: list[dict]) -> Iterator[str]:
    """Yield n CDR JSON texts (one line each, no trailing newline), deterministic for (n, seed, tariffs)."""
    rng = random.Random(f"ocpi-engine/benchmarks/cdrs/{seed}")
    ac_conns, dc_conns = _build_connectors(rng, tariffs)
    tokens = _build_tokens(rng)
    n_ac, n_dc, n_tok = len(ac_conns), len(dc_conns), len(tokens)
    hours_of_day = _hour_table()

    # Timestamp fragments: absolute day number -> "YYYY-MM-DDT", second of day -> "HH:MM:SSZ".
    d_first = _T0 // 86400 - 2
    d_last = _T0 // 86400 + _N_DAYS + 4
    days: list = [None] * (d_last + 1)
    for d in range(d_first, d_last + 1):
        days[d] = (_EPOCH + _dt.timedelta(days=d)).strftime("%Y-%m-%dT")
    tod = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86400)]
    # Hours (6 dp) for 0..12*5400 s, and micro-hours for parking sums.
    max_s = 12 * 5400
    uh = [(s * 1_000_000 + 1800) // 3600 for s in range(max_s + 1)]
    hours = [f"{u // 1_000_000}.{u % 1_000_000:06d}" for u in uh]
    # Power in 1/100 kW -> JSON number text (<= 2 dp), 0..350.00 kW.
    kw = [repr(c / 100) for c in range(35001)]

    ac_cars = (3.7, 7.4, 11.0, 11.0, 11.0, 11.0, 22.0)
    dc_cars = (50.0, 100.0, 150.0, 150.0, 175.0, 250.0, 350.0)
    auth = ("AUTH_REQUEST",) * 5 + ("WHITELIST",) * 4 + ("COMMAND",)
    dst = _DST_SWITCHES
    (s1a, s1b), (s2a, s2b) = _SUMMER
    t0_base = _T0
    rand = rng.random
    getrandbits = rng.getrandbits
    head = '{"country_code":"NL","party_id":"EXA","id":"'

    for i in range(1, n + 1):
        if rand() < 0.7:
            loc, cmax, tail = ac_conns[int(rand() * n_ac)]
            car = ac_cars[int(rand() * 7)]
            is_dc = False
        else:
            loc, cmax, tail = dc_conns[int(rand() * n_dc)]
            car = dc_cars[int(rand() * 7)]
            is_dc = True
        pmax = cmax if cmax < car else car
        cmax100 = int(cmax * 100)

        if rand() < 0.03:  # start in the 8 h before a DST switch
            start = dst[int(rand() * 4)] - int(rand() * 28800)
        else:
            start = (t0_base + int(rand() * _N_DAYS) * 86400 + hours_of_day[int(rand() * 1000)] * 3600
                     + int(rand() * 3600) - 3600)
            if s1a <= start < s1b or s2a <= start < s2b:
                start -= 3600
            if start < t0_base:
                start += 86400

        k = 2 + int(rand() * 11)
        r = rand()
        n_park = 0 if r < 0.35 else (1 if r < 0.8 else 2)
        if n_park >= k:
            n_park = k - 1
        m = k - n_park

        parts = []
        t = start
        e_tot = 0
        for j in range(m):
            s = 300 + int(rand() * 5101)
            if is_dc:
                p = pmax * (0.97 - 0.6 * j / m) * (0.9 + 0.1 * rand())
            else:
                p = pmax * (0.88 + 0.12 * rand())
            if p < 3.705:
                p = 3.705
            e = int(p * s * 2.7777777777777777 + 0.5)  # 1e-4 kWh units = p[kW] * s / 3600 * 10000
            e_tot += e
            r = rand()
            mn = int(p * (70 + 28 * r))
            mx = int(p * (112 - 10 * r)) + 1
            if mx > cmax100:
                mx = cmax100
            parts.append(
                f'{{"start_date_time":"{days[t // 86400]}{tod[t % 86400]}","dimensions":['
                f'{{"type":"ENERGY","volume":{e / 10000}}},{{"type":"TIME","volume":{hours[s]}}},'
                f'{{"type":"MIN_POWER","volume":{kw[mn]}}},{{"type":"MAX_POWER","volume":{kw[mx]}}}{tail}'
            )
            t += s
        pu = 0
        for _ in range(n_park):
            s = 300 + int(rand() * 5101)
            pu += uh[s]
            parts.append(
                f'{{"start_date_time":"{days[t // 86400]}{tod[t % 86400]}","dimensions":['
                f'{{"type":"ENERGY","volume":0}},{{"type":"PARKING_TIME","volume":{hours[s]}}}{tail}'
            )
            t += s
        end = t

        # Plausible (not rated!) cost: 0.30-0.69 EUR/kWh + 2.50 EUR/h parking, 21 % VAT.
        cents = (e_tot * (30 + int(rand() * 40)) + 5000) // 10000 + (pu * 250 + 500_000) // 1_000_000
        inc = (cents * 121 + 50) // 100
        sid = f"{getrandbits(128):032x}"
        lu = end + 30 + int(rand() * 7200)
        yield (
            f'{head}CDR-{i:010d}","start_date_time":"{days[start // 86400]}{tod[start % 86400]}",'
            f'"end_date_time":"{days[end // 86400]}{tod[end % 86400]}",'
            f'"session_id":"{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:]}",'
            f'"cdr_token":{tokens[int(rand() * n_tok)]},"auth_method":"{auth[int(rand() * 10)]}",'
            f'"cdr_location":{loc},"currency":"EUR","charging_periods":[{",".join(parts)}],'
            f'"total_cost":{{"excl_vat":{cents // 100}.{cents % 100:02d},"incl_vat":{inc // 100}.{inc % 100:02d}}},'
            f'"total_energy":{e_tot / 10000},"total_time":{hours[end - start]},'
            f'"total_parking_time":{pu // 1_000_000}.{pu % 1_000_000:06d},'
            f'"last_updated":"{days[lu // 86400]}{tod[lu % 86400]}"}}'
        )


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def _write(n_cdrs: int, seed: int, out_dir: Path) -> tuple[Path, Path, int, int]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tariffs = make_tariffs(random.Random(seed))
    tariffs_path = out_dir / "tariffs.json"
    with open(tariffs_path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(tariffs, f, ensure_ascii=False, indent=2)
        f.write("\n")
    cdrs_path = out_dir / "cdrs.jsonl"
    written = 0
    with open(cdrs_path, "wb", buffering=1 << 20) as f:
        buf: list[str] = []
        for line in iter_cdr_lines(n_cdrs, seed, tariffs):
            buf.append(line)
            if len(buf) == 4096:
                buf.append("")
                data = "\n".join(buf).encode("utf-8")
                written += f.write(data)
                buf = []
        if buf:
            buf.append("")
            written += f.write("\n".join(buf).encode("utf-8"))
    return tariffs_path, cdrs_path, written, len(tariffs)


def generate(n_cdrs: int, seed: int, out_dir: Path) -> tuple[Path, Path]:
    """Write out_dir/tariffs.json and out_dir/cdrs.jsonl; return their paths."""
    tariffs_path, cdrs_path, _, _ = _write(n_cdrs, seed, out_dir)
    return tariffs_path, cdrs_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate seeded synthetic OCPI 2.2.1 tariffs + CDRs.")
    ap.add_argument("--cdrs", type=int, default=1000, help="number of CDRs (default 1000)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--out-dir", type=Path, required=True, help="output directory (created if missing)")
    args = ap.parse_args(argv)
    if args.cdrs < 0:
        ap.error("--cdrs must be >= 0")
    t0 = time.perf_counter()
    _, cdrs_path, nbytes, n_tariffs = _write(args.cdrs, args.seed, args.out_dir)
    secs = time.perf_counter() - t0
    avg = nbytes / args.cdrs if args.cdrs else 0.0
    print(f"generate.py: {args.cdrs} CDRs ({n_tariffs} tariffs), {nbytes} bytes ({avg:.0f} B/CDR) "
          f"in {secs:.2f} s -> {cdrs_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
