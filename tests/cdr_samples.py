"""Tariffs, Locations and CDRs for the CDR check tests: CDRs priced right by construction (their totals are what
rust_core prices with the tariff and the zone the CPO used), then altered where a test wants a difference."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

import rust_core

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
CPO = ("NL", "EXA")
EMSP = ("NL", "MSP")
AMSTERDAM = "Europe/Amsterdam"

_enc = msgspec.json.Encoder(decimal_format="number")


def dumps(doc: Any) -> str:
    return _enc.encode(doc).decode()


def demo_location(location_id: str = "LOC-00001") -> dict[str, Any]:
    """A demo Location of NL*EXA (Europe/Amsterdam)."""
    loc: dict[str, Any] = next(l for l in json.loads((DEMO / "locations.json").read_text()) if l["id"] == location_id)
    return copy.deepcopy(loc)


def demo_cdr(cdr_id: str, emsp: tuple[str, str]) -> dict[str, Any]:
    """The first demo CDR of NL*EXA under another id, for a token of the eMSP party `emsp`."""
    doc: dict[str, Any] = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    doc.update(id=cdr_id, cdr_token={**doc["cdr_token"], "country_code": emsp[0], "party_id": emsp[1]})
    return doc


def energy_tariff(tariff_id: str, price: str, last_updated: str) -> dict[str, Any]:
    return {"country_code": CPO[0], "party_id": CPO[1], "id": tariff_id, "currency": "EUR", "type": "REGULAR",
            "elements": [{"price_components": [{"type": "FLAT", "price": Decimal("0.50"), "vat": Decimal("21.0"),
                                                "step_size": 0}]},
                         {"price_components": [{"type": "ENERGY", "price": Decimal(price), "vat": Decimal("21.0"),
                                                "step_size": 1}]}],
            "last_updated": last_updated}


def evening_tariff(tariff_id: str = "TOD-17", last_updated: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    """0.60/kWh from 17:00 to 23:00 local time, 0.30/kWh otherwise."""
    return {"country_code": CPO[0], "party_id": CPO[1], "id": tariff_id, "currency": "EUR", "type": "REGULAR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": Decimal("0.60"), "vat": Decimal("21.0"),
                                                "step_size": 1}],
                          "restrictions": {"start_time": "17:00", "end_time": "23:00"}},
                         {"price_components": [{"type": "ENERGY", "price": Decimal("0.30"), "vat": Decimal("21.0"),
                                                "step_size": 1}]}],
            "last_updated": last_updated}


def cdr(cdr_id: str, tariff_id: str, *, start: str = "2026-11-30T15:30:00Z", end: str = "2026-11-30T16:30:00Z",
        location_id: str = "LOC-00001", periods: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    """An unpriced CDR of NL*EXA for a token of NL*MSP; periods: (start, kWh, hours)."""
    periods = periods or [(start, "11", "0.5"), ("2026-11-30T16:00:00Z", "9", "0.5")]
    loc = demo_location(location_id)
    evse = loc["evses"][0]
    conn = evse["connectors"][0]
    return {
        "country_code": CPO[0], "party_id": CPO[1], "id": cdr_id, "start_date_time": start, "end_date_time": end,
        "session_id": "S-" + cdr_id,
        "cdr_token": {"country_code": EMSP[0], "party_id": EMSP[1], "uid": "057F19B7151FEA", "type": "RFID",
                      "contract_id": "NL-MSP-C09806102-A"},
        "auth_method": "WHITELIST",
        "cdr_location": {"id": location_id, "address": loc["address"], "city": loc["city"], "country": loc["country"],
                         "coordinates": loc["coordinates"], "evse_uid": evse["uid"], "evse_id": evse["evse_id"],
                         "connector_id": conn["id"], "connector_standard": conn["standard"],
                         "connector_format": conn["format"], "connector_power_type": conn["power_type"]},
        "currency": "EUR",
        "charging_periods": [{"start_date_time": s, "dimensions": [{"type": "ENERGY", "volume": Decimal(kwh)},
                                                                   {"type": "TIME", "volume": Decimal(h)}],
                              "tariff_id": tariff_id} for s, kwh, h in periods],
        "total_cost": {"excl_vat": Decimal(0)}, "total_energy": Decimal(0), "total_time": Decimal(0),
        "last_updated": end,
    }


def priced(doc: dict[str, Any], tariffs: list[dict[str, Any]], time_zone: str | None = AMSTERDAM,
           factor: Decimal = Decimal(1)) -> dict[str, Any]:
    """`doc` with the totals rust_core prices it to (times `factor`, rounded to cents like a CPO's invoice) and
    the tariffs embedded, as a CPO would send it."""
    result = rust_core.price_cdr(dumps({**doc, "tariffs": tariffs}), time_zone=time_zone)
    out = copy.deepcopy(doc)
    cent = Decimal("0.01")

    def money(p: Any) -> dict[str, Decimal]:
        m = {"excl_vat": (p.excl_vat * factor).quantize(cent)}
        if p.incl_vat is not None:
            m["incl_vat"] = (p.incl_vat * factor).quantize(cent)
        return m

    out.update(total_cost=money(result.total_cost), total_energy_cost=money(result.total_energy_cost),
               total_time_cost=money(result.total_time_cost), total_fixed_cost=money(result.total_fixed_cost),
               total_energy=result.total_energy, total_time=result.total_time, tariffs=tariffs)
    return out
