"""OCPI 2.1.1 documents are converted on input; 2.3.0 results use before_taxes/taxes."""

from __future__ import annotations

import json
from decimal import Decimal

from rust_core import Price, price_cdr

TARIFF_211 = {
    "id": "11",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "TIME", "price": "2.00", "step_size": 300}], "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
        {"price_components": [{"type": "TIME", "price": "1.00", "step_size": 300}]},
    ],
    "last_updated": "2019-01-01T00:00:00Z",
}

CDR_211 = {
    "id": "CDR-211",
    "start_date_time": "2019-06-03T17:00:00Z",
    "stop_date_time": "2019-06-03T19:00:00Z",
    "auth_id": "DE8ACC12E46L89",
    "auth_method": "WHITELIST",
    "location": {"id": "LOC1", "type": "ON_STREET", "address": "a", "city": "b", "postal_code": "1", "country": "DEU",
                 "coordinates": {"latitude": "52.5", "longitude": "13.4"}, "time_zone": "Europe/Berlin", "last_updated": "2019-01-01T00:00:00Z"},
    "currency": "EUR",
    "tariffs": [TARIFF_211],
    "charging_periods": [{"start_date_time": "2019-06-03T17:00:00Z", "dimensions": [{"type": "TIME", "volume": 2}, {"type": "FLAT", "volume": 1}]}],
    "total_cost": 3.0,
    "total_energy": 20,
    "total_time": 2,
    "last_updated": "2019-06-03T19:05:00Z",
}


def test_211_cdr_uses_its_location_time_zone_and_answers_in_211_shape() -> None:
    # 17:00-19:00Z is 19:00-21:00 in Berlin (CEST): one hour at 2.00 (until 20:00 local), one at 1.00.
    r = price_cdr(json.dumps(CDR_211))
    assert r.version == "2.1.1"
    assert r.total_cost == Decimal("3")
    assert r.total_time_cost == Decimal("3")
    assert [p.dimensions[0].price for p in r.periods] == [Decimal(2), Decimal(1)]


def test_211_cdr_can_be_answered_in_221_shape() -> None:
    r = price_cdr(json.dumps(CDR_211), version="2.2.1")
    # 2.1.1 components have no VAT: the amount incl. VAT is unknown, so absent.
    assert r.total_cost == Price(excl_vat=Decimal("3"))


def test_230_tariff_with_vat_reports_tax_lines() -> None:
    tariff = {"country_code": "NL", "party_id": "EXA", "id": "23", "currency": "EUR", "tax_included": "NO",
              "elements": [{"price_components": [{"type": "ENERGY", "price": 0.5, "vat": 21, "step_size": 1}]}],
              "last_updated": "2025-01-01T00:00:00Z"}
    cdr = {"country_code": "NL", "party_id": "EXA", "id": "C23", "start_date_time": "2025-06-02T10:00:00Z",
           "end_date_time": "2025-06-02T11:00:00Z", "currency": "EUR", "tariffs": [tariff],
           "charging_periods": [{"start_date_time": "2025-06-02T10:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 10}]}],
           "total_cost": {"before_taxes": 5, "taxes": []}}
    r = price_cdr(json.dumps(cdr))
    assert r.version == "2.3.0"
    assert isinstance(r.total_cost, Price)
    assert r.total_cost.before_taxes == Decimal("5")
    assert r.total_cost.taxes is not None
    assert [(t.name, t.percentage, t.amount) for t in r.total_cost.taxes] == [("VAT", Decimal(21), Decimal("1.05"))]
