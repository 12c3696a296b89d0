"""OCPI 2.2.1 msgspec schemas (app/schemas): valid objects decode, violations name the field path."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.schemas.types import CiString, String, format_datetime, to_utc
from app.schemas.v2_2_1 import (
    CDR,
    AuthorizationInfo,
    Credentials,
    Location,
    Session,
    Tariff,
    Token,
    Version,
    VersionDetails,
)

UTC = dt.UTC
DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"

# -- realistic examples (written for these tests) ---------------------------------------------------------------

LOCATION: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EXA",
    "id": "LOC-ARNHEM-0042",
    "publish": True,
    "name": "P+R Arnhem Centraal",
    "address": "Stationsplein 12",
    "city": "Arnhem",
    "postal_code": "6811 KL",
    "country": "NLD",
    "coordinates": {"latitude": "51.984592", "longitude": "5.899781"},
    "related_locations": [
        {"latitude": "51.985010", "longitude": "5.900120", "name": {"language": "nl", "text": "Ingang P+R"}}
    ],
    "parking_type": "PARKING_GARAGE",
    "evses": [
        {
            "uid": "ARN42-1",
            "evse_id": "NL*EXA*E0042*1",
            "status": "AVAILABLE",
            "status_schedule": [
                {"period_begin": "2026-12-01T06:00:00Z", "period_end": "2026-12-01T10:00:00Z", "status": "BLOCKED"}
            ],
            "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE", "CHARGING_PREFERENCES_CAPABLE"],
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2_COMBO",
                    "format": "CABLE",
                    "power_type": "DC",
                    "max_voltage": 920,
                    "max_amperage": 250,
                    "max_electric_power": 150000,
                    "tariff_ids": ["TRF-DC-REG", "TRF-DC-FAST"],
                    "last_updated": "2026-11-20T08:15:00Z",
                },
                {
                    "id": "2",
                    "standard": "CHADEMO",
                    "format": "CABLE",
                    "power_type": "DC",
                    "max_voltage": 500,
                    "max_amperage": 125,
                    "tariff_ids": ["TRF-DC-REG"],
                    "terms_and_conditions": "https://exa.example.com/terms",
                    "last_updated": "2026-11-20T08:15:00Z",
                },
            ],
            "floor_level": "-1",
            "coordinates": {"latitude": "51.984600", "longitude": "5.899790"},
            "physical_reference": "A1",
            "directions": [{"language": "en", "text": "Level -1, next to the lifts"}],
            "parking_restrictions": ["EV_ONLY"],
            "last_updated": "2026-11-20T08:15:00Z",
        },
        {
            "uid": "ARN42-2",
            "evse_id": "NL*EXA*E0042*2",
            "status": "CHARGING",
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2",
                    "format": "SOCKET",
                    "power_type": "AC_3_PHASE",
                    "max_voltage": 230,
                    "max_amperage": 32,
                    "max_electric_power": 22080,
                    "tariff_ids": ["TRF-AC-REG"],
                    "last_updated": "2026-11-21T17:02:44Z",
                }
            ],
            "images": [
                {
                    "url": "https://exa.example.com/img/arn42-2.jpg",
                    "thumbnail": "https://exa.example.com/img/arn42-2-t.jpg",
                    "category": "CHARGER",
                    "type": "jpeg",
                    "width": 800,
                    "height": 600,
                }
            ],
            "last_updated": "2026-11-21T17:02:44Z",
        },
    ],
    "directions": [{"language": "nl", "text": "Volg de borden P+R"}],
    "operator": {
        "name": "EXA Charging",
        "website": "https://exa.example.com",
        "logo": {"url": "https://exa.example.com/logo.png", "category": "OPERATOR", "type": "png"},
    },
    "owner": {"name": "Gemeente Arnhem"},
    "facilities": ["TRAIN_STATION", "CAFE"],
    "time_zone": "Europe/Amsterdam",
    "opening_times": {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": 1, "period_begin": "06:00", "period_end": "24:00"},
            {"weekday": 6, "period_begin": "08:00", "period_end": "20:00"},
        ],
        "exceptional_closings": [{"period_begin": "2026-12-25T00:00:00Z", "period_end": "2026-12-26T00:00:00Z"}],
    },
    "charging_when_closed": True,
    "energy_mix": {
        "is_green_energy": False,
        "energy_sources": [{"source": "WIND", "percentage": 60.5}, {"source": "GAS", "percentage": 39.5}],
        "environ_impact": [{"category": "CARBON_DIOXIDE", "amount": 172}],
        "supplier_name": "Groene Stroom BV",
    },
    "last_updated": "2026-11-21T17:02:44Z",
}

TARIFF: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EXA",
    "id": "TRF-DC-REG",
    "currency": "EUR",
    "type": "REGULAR",
    "tariff_alt_text": [{"language": "en", "text": "Evening discount after 20:00"}],
    "tariff_alt_url": "https://exa.example.com/tariffs/dc",
    "min_price": {"excl_vat": 0.50, "incl_vat": 0.605},
    "max_price": {"excl_vat": 80},
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.35, "vat": 21.0, "step_size": 1}]},
        {
            "price_components": [{"type": "ENERGY", "price": 0.39, "vat": 21.0, "step_size": 1}],
            "restrictions": {"start_time": "20:00", "end_time": "07:00", "day_of_week": ["MONDAY", "FRIDAY"]},
        },
        {"price_components": [{"type": "ENERGY", "price": 0.59, "vat": 21.0, "step_size": 1}]},
        {
            "price_components": [{"type": "PARKING_TIME", "price": 6.00, "vat": 21.0, "step_size": 300}],
            "restrictions": {"min_duration": 3600, "start_date": "2026-01-01", "end_date": "2027-01-01"},
        },
        {
            "price_components": [{"type": "TIME", "price": 2.40, "step_size": 60}],
            "restrictions": {"reservation": "RESERVATION", "max_kwh": 12.5, "min_power": 50},
        },
    ],
    "start_date_time": "2026-01-01T00:00:00Z",
    "end_date_time": "2027-01-01T00:00:00",
    "energy_mix": {"is_green_energy": True},
    "last_updated": "2025-12-15T09:30:00Z",
}

CDR_TOKEN = {"country_code": "DE", "party_id": "MSP", "uid": "04A1B2C3D4E5F6", "type": "RFID",
             "contract_id": "DE-MSP-C12345678-X"}

CDR_EXAMPLE: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EXA",
    "id": "CDR-2026-000123",
    "start_date_time": "2026-11-22T18:45:10Z",
    "end_date_time": "2026-11-22T20:12:40Z",
    "session_id": "SES-2026-000123",
    "cdr_token": CDR_TOKEN,
    "auth_method": "AUTH_REQUEST",
    "authorization_reference": "AUTH-77f1c0",
    "cdr_location": {
        "id": "LOC-ARNHEM-0042",
        "name": "P+R Arnhem Centraal",
        "address": "Stationsplein 12",
        "city": "Arnhem",
        "postal_code": "6811 KL",
        "country": "NLD",
        "coordinates": {"latitude": "51.984592", "longitude": "5.899781"},
        "evse_uid": "ARN42-1",
        "evse_id": "NL*EXA*E0042*1",
        "connector_id": "1",
        "connector_standard": "IEC_62196_T2_COMBO",
        "connector_format": "CABLE",
        "connector_power_type": "DC",
    },
    "meter_id": "MTR-99812",
    "currency": "EUR",
    "tariffs": [TARIFF],
    "charging_periods": [
        {
            "start_date_time": "2026-11-22T18:45:10Z",
            "dimensions": [{"type": "ENERGY", "volume": 21.337}, {"type": "TIME", "volume": 0.3575},
                           {"type": "MAX_POWER", "volume": 98.2}],
            "tariff_id": "TRF-DC-REG",
        },
        {
            "start_date_time": "2026-11-22T19:06:37Z",
            "dimensions": [{"type": "ENERGY", "volume": 9.1}, {"type": "TIME", "volume": 0.25}],
            "tariff_id": "TRF-DC-REG",
        },
        {
            "start_date_time": "2026-11-22T19:21:37Z",
            "dimensions": [{"type": "PARKING_TIME", "volume": 0.8472}],
            "tariff_id": "TRF-DC-REG",
        },
    ],
    "signed_data": {
        "encoding_method": "OCMF",
        "encoding_method_version": 1,
        "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
        "signed_values": [
            {"nature": "Start", "plain_data": "OCMF|{\"RD\":[{\"RV\":1234.5}]}", "signed_data": "MEUCIQDa"},
            {"nature": "End", "plain_data": "OCMF|{\"RD\":[{\"RV\":1264.9}]}", "signed_data": "MEYCIQCb"},
        ],
    },
    "total_cost": {"excl_vat": 23.8474, "incl_vat": 28.8554},
    "total_fixed_cost": {"excl_vat": 0.35, "incl_vat": 0.4235},
    "total_energy": 30.437,
    "total_energy_cost": {"excl_vat": 17.9578, "incl_vat": 21.7289},
    "total_time": 1.4575,
    "total_time_cost": {"excl_vat": 0.0, "incl_vat": 0.0},
    "total_parking_time": 0.8500,
    "total_parking_cost": {"excl_vat": 5.5, "incl_vat": 6.655},
    "remark": "Parking fee applies after charging",
    "invoice_reference_id": "INV-2026-11-0042",
    "home_charging_compensation": False,
    "last_updated": "2026-11-22T20:15:00Z",
}

SESSION: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EXA",
    "id": "SES-2026-000123",
    "start_date_time": "2026-11-22T18:45:10Z",
    "kwh": 21.337,
    "cdr_token": CDR_TOKEN,
    "auth_method": "AUTH_REQUEST",
    "authorization_reference": "AUTH-77f1c0",
    "location_id": "LOC-ARNHEM-0042",
    "evse_uid": "ARN42-1",
    "connector_id": "1",
    "currency": "EUR",
    "charging_periods": CDR_EXAMPLE["charging_periods"][:1],
    "total_cost": {"excl_vat": 12.94, "incl_vat": 15.66},
    "status": "ACTIVE",
    "last_updated": "2026-11-22T19:06:37Z",
}

TOKEN: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "MSP",
    "uid": "04A1B2C3D4E5F6",
    "type": "RFID",
    "contract_id": "DE-MSP-C12345678-X",
    "visual_number": "DE-MSP-C12345678-X",
    "issuer": "MSP Mobility GmbH",
    "group_id": "FLEET-77",
    "valid": True,
    "whitelist": "ALLOWED",
    "language": "de",
    "default_profile_type": "GREEN",
    "energy_contract": {"supplier_name": "Stadtwerke Beispiel", "contract_id": "SWB-0099812"},
    "last_updated": "2026-10-01T12:00:00Z",
}

CREDENTIALS: dict[str, Any] = {
    "token": "ebf3b399-779f-4497-9b9d-ac6ad3cc44d2",
    "url": "https://ocpi.exa.example.com/ocpi/versions",
    "roles": [
        {"role": "CPO", "business_details": {"name": "EXA Charging"}, "party_id": "EXA", "country_code": "NL"},
        {
            "role": "EMSP",
            "business_details": {"name": "EXA Mobility", "website": "https://mobility.exa.example.com"},
            "party_id": "EXM",
            "country_code": "NL",
        },
    ],
}

VERSION_DETAILS: dict[str, Any] = {
    "version": "2.2.1",
    "endpoints": [
        {"identifier": "credentials", "role": "SENDER", "url": "https://ocpi.exa.example.com/2.2.1/credentials"},
        {"identifier": "locations", "role": "SENDER", "url": "https://ocpi.exa.example.com/2.2.1/locations"},
        {"identifier": "tokens", "role": "RECEIVER", "url": "https://ocpi.exa.example.com/2.2.1/tokens"},
        {"identifier": "nltnm-tokens", "role": "RECEIVER", "url": "https://ocpi.exa.example.com/2.2.1/x-tokens"},
    ],
}


def raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def decode_error(obj: Any, typ: type) -> str:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.json.decode(raw(obj), type=typ)
    return str(info.value)


# -- valid objects ----------------------------------------------------------------------------------------------


def test_location_decodes() -> None:
    loc = msgspec.json.decode(raw(LOCATION), type=Location)
    assert loc.id == "LOC-ARNHEM-0042"
    assert [e.uid for e in loc.evses] == ["ARN42-1", "ARN42-2"]
    assert [c.standard for c in loc.evses[0].connectors] == ["IEC_62196_T2_COMBO", "CHADEMO"]
    assert loc.evses[0].connectors[1].max_electric_power is None
    assert loc.evses[1].images[0].width == 800
    assert loc.operator is not None and loc.operator.logo is not None and loc.operator.logo.type == "png"
    assert loc.suboperator is None
    assert loc.opening_times is not None and loc.opening_times.regular_hours[0].period_end == "24:00"
    assert loc.energy_mix is not None and loc.energy_mix.energy_sources[0].percentage == Decimal("60.5")
    assert loc.last_updated == dt.datetime(2026, 11, 21, 17, 2, 44, tzinfo=UTC)
    assert loc.publish_allowed_to == [] and loc.images == []


def test_tariff_decodes_with_exact_numbers() -> None:
    tariff = msgspec.json.decode(raw(TARIFF), type=Tariff)
    assert len(tariff.elements) == 5
    energy = tariff.elements[1]
    assert energy.restrictions is not None
    assert energy.restrictions.start_time == "20:00" and energy.restrictions.day_of_week == ["MONDAY", "FRIDAY"]
    assert energy.price_components[0].price == Decimal("0.39")
    assert tariff.elements[4].price_components[0].vat is None
    assert tariff.elements[4].restrictions is not None and tariff.elements[4].restrictions.max_kwh == Decimal("12.5")
    assert tariff.min_price is not None and tariff.min_price.incl_vat == Decimal("0.605")
    assert tariff.max_price is not None and tariff.max_price.incl_vat is None
    # naive `end_date_time` means UTC
    assert tariff.end_date_time == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert tariff.end_date_time.tzinfo is UTC


def test_cdr_decodes() -> None:
    cdr = msgspec.json.decode(raw(CDR_EXAMPLE), type=CDR)
    assert cdr.id == "CDR-2026-000123"
    assert cdr.cdr_token.contract_id == "DE-MSP-C12345678-X"
    assert cdr.cdr_location.connector_power_type == "DC"
    assert cdr.tariffs[0].id == "TRF-DC-REG"
    assert [p.dimensions[0].type for p in cdr.charging_periods] == ["ENERGY", "ENERGY", "PARKING_TIME"]
    assert cdr.charging_periods[0].dimensions[0].volume == Decimal("21.337")
    assert cdr.charging_periods[1].start_date_time == dt.datetime(2026, 11, 22, 19, 6, 37, tzinfo=UTC)
    assert cdr.total_cost.excl_vat == Decimal("23.8474")
    assert cdr.total_parking_time == Decimal("0.8500")
    assert cdr.signed_data is not None and cdr.signed_data.signed_values[1].nature == "End"
    assert cdr.credit is None and cdr.credit_reference_id is None
    assert cdr.home_charging_compensation is False


def test_session_token_credentials_versions_decode() -> None:
    session = msgspec.json.decode(raw(SESSION), type=Session)
    assert session.status == "ACTIVE" and session.end_date_time is None and session.kwh == Decimal("21.337")

    token = msgspec.json.decode(raw(TOKEN), type=Token)
    assert token.whitelist == "ALLOWED"
    assert token.energy_contract is not None and token.energy_contract.supplier_name == "Stadtwerke Beispiel"

    info = msgspec.json.decode(
        raw({"allowed": "ALLOWED", "token": TOKEN, "location": {"location_id": "LOC-1", "evse_uids": ["E1"]},
             "authorization_reference": "AUTH-1", "info": {"language": "en", "text": "Welcome"}}),
        type=AuthorizationInfo,
    )
    assert info.location is not None and info.location.evse_uids == ["E1"]

    creds = msgspec.json.decode(raw(CREDENTIALS), type=Credentials)
    assert [r.role for r in creds.roles] == ["CPO", "EMSP"]
    assert creds.roles[1].business_details.website == "https://mobility.exa.example.com"

    details = msgspec.json.decode(raw(VERSION_DETAILS), type=VersionDetails)
    assert details.endpoints[3].identifier == "nltnm-tokens"
    # a version we do not know does not make the list unreadable
    versions = msgspec.json.decode(
        raw([{"version": "2.1.1", "url": "https://x/2.1.1"}, {"version": "2.3.1", "url": "https://x/2.3.1"}]),
        type=list[Version],
    )
    assert [v.version for v in versions] == ["2.1.1", "2.3.1"]


def test_round_trip_and_omitted_defaults() -> None:
    encoder = msgspec.json.Encoder(decimal_format="number")
    for example, typ in [(LOCATION, Location), (CDR_EXAMPLE, CDR), (SESSION, Session), (TOKEN, Token),
                         (TARIFF, Tariff), (CREDENTIALS, Credentials)]:
        obj = msgspec.json.decode(raw(example), type=typ)
        again = msgspec.json.decode(encoder.encode(obj), type=typ)
        assert again == obj
    minimal = {k: v for k, v in TOKEN.items() if k not in {"visual_number", "group_id", "language",
                                                            "default_profile_type", "energy_contract"}}
    encoded = json.loads(encoder.encode(msgspec.json.decode(raw(minimal), type=Token)))
    assert encoded == minimal  # no nulls, no empty lists, DateTime written back with Z
    cdr = json.loads(encoder.encode(msgspec.json.decode(raw(CDR_EXAMPLE), type=CDR)))
    assert cdr["total_cost"] == {"excl_vat": 23.8474, "incl_vat": 28.8554}  # numbers, not strings


@pytest.mark.skipif(not (DEMO / "locations.json").exists(), reason="demo data not present")
def test_demo_data_decodes() -> None:
    assert msgspec.json.decode((DEMO / "locations.json").read_bytes(), type=list[Location])
    assert msgspec.json.decode((DEMO / "tariffs.json").read_bytes(), type=list[Tariff])
    assert msgspec.json.decode((DEMO / "tokens.json").read_bytes(), type=list[Token])
    for line in (DEMO / "cdrs.jsonl").read_bytes().splitlines()[:200]:
        msgspec.json.decode(line, type=CDR)


# -- violations name the field ----------------------------------------------------------------------------------


def test_too_long_strings() -> None:
    loc = copy.deepcopy(LOCATION)
    loc["id"] = "L" * 37
    assert "length <= 36" in (msg := decode_error(loc, Location)) and "`$.id`" in msg

    loc = copy.deepcopy(LOCATION)
    loc["evses"][1]["connectors"][0]["tariff_ids"] = ["T" * 37]
    assert "`$.evses[1].connectors[0].tariff_ids[0]`" in decode_error(loc, Location)

    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr["id"] = "C" * 39  # CDR ids may be 39 long (credit CDRs)
    msgspec.json.decode(raw(cdr), type=CDR)
    cdr["id"] = "C" * 40
    assert "length <= 39" in (msg := decode_error(cdr, CDR)) and "`$.id`" in msg

    token = dict(TOKEN, issuer="I" * 65)
    assert "length <= 64" in (msg := decode_error(token, Token)) and "`$.issuer`" in msg

    creds = dict(CREDENTIALS, token="t" * 65)
    assert "`$.token`" in decode_error(creds, Credentials)


def test_lengths_are_characters_not_bytes() -> None:
    loc = dict(LOCATION, city="ü" * 45)  # 90 bytes of UTF-8
    assert msgspec.json.decode(raw(loc), type=Location).city == "ü" * 45
    loc["city"] = "ü" * 46
    assert "`$.city`" in decode_error(loc, Location)


def test_address_and_state_follow_the_erratum() -> None:
    loc = dict(LOCATION, address="A" * 255, state="S" * 45)
    assert msgspec.json.decode(raw(loc), type=Location).address == "A" * 255
    assert "`$.address`" in decode_error(dict(loc, address="A" * 256), Location)
    assert "`$.state`" in decode_error(dict(loc, state="S" * 46), Location)
    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr["cdr_location"].update(address="A" * 255, state="S" * 45)  # copied from such a Location: accepted
    msgspec.json.decode(raw(cdr), type=CDR)
    cdr["cdr_location"]["address"] = "A" * 256
    assert "`$.cdr_location.address`" in decode_error(cdr, CDR)


def test_wrong_types() -> None:
    loc = dict(LOCATION, publish="yes")
    assert "Expected `bool`, got `str` - at `$.publish`" in decode_error(loc, Location)

    loc = copy.deepcopy(LOCATION)
    loc["evses"][0]["connectors"][0]["max_voltage"] = "920"
    assert "Expected `int`, got `str` - at `$.evses[0].connectors[0].max_voltage`" in decode_error(loc, Location)

    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr["total_cost"]["excl_vat"] = True
    assert "`$.total_cost.excl_vat`" in decode_error(cdr, CDR)

    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr["charging_periods"] = {"start_date_time": "2026-11-22T18:45:10Z"}
    assert "Expected `array`, got `object` - at `$.charging_periods`" in decode_error(cdr, CDR)

    session = dict(SESSION, start_date_time="yesterday")
    assert "`$.start_date_time`" in decode_error(session, Session)


def test_bad_enum_values() -> None:
    loc = copy.deepcopy(LOCATION)
    loc["evses"][1]["status"] = "available"  # enums are case-sensitive
    assert "Invalid enum value 'available' - at `$.evses[1].status`" in decode_error(loc, Location)

    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr["charging_periods"][2]["dimensions"][0]["type"] = "FLAT"  # no FLAT CdrDimensionType in 2.2.x
    assert "`$.charging_periods[2].dimensions[0].type`" in decode_error(cdr, CDR)

    tariff = copy.deepcopy(TARIFF)
    tariff["elements"][1]["restrictions"]["day_of_week"] = ["MON"]
    assert "`$.elements[1].restrictions.day_of_week[0]`" in decode_error(tariff, Tariff)

    assert "`$.whitelist`" in decode_error(dict(TOKEN, whitelist="SOMETIMES"), Token)
    assert "`$.roles[0].role`" in decode_error(
        dict(CREDENTIALS, roles=[dict(CREDENTIALS["roles"][0], role="cpo")]), Credentials
    )
    assert "`$.endpoints[0].role`" in decode_error(
        {"version": "2.2.1", "endpoints": [{"identifier": "cdrs", "role": "BOTH", "url": "https://x"}]},
        VersionDetails,
    )


def test_missing_required_fields() -> None:
    loc = copy.deepcopy(LOCATION)
    del loc["time_zone"]
    assert "Object missing required field `time_zone`" in decode_error(loc, Location)

    loc = copy.deepcopy(LOCATION)
    del loc["evses"][0]["connectors"][1]["standard"]
    msg = decode_error(loc, Location)
    assert "missing required field `standard` - at `$.evses[0].connectors[1]`" in msg

    cdr = copy.deepcopy(CDR_EXAMPLE)
    del cdr["cdr_location"]["evse_id"]
    assert "`evse_id` - at `$.cdr_location`" in decode_error(cdr, CDR)

    tariff = copy.deepcopy(TARIFF)
    del tariff["elements"][0]["price_components"][0]["step_size"]
    assert "`step_size` - at `$.elements[0].price_components[0]`" in decode_error(tariff, Tariff)


def test_empty_plus_lists_are_rejected() -> None:
    loc = copy.deepcopy(LOCATION)
    loc["evses"][1]["connectors"] = []
    assert "Expected `array` of length >= 1 - at `$.evses[1].connectors`" in decode_error(loc, Location)
    assert "`$.charging_periods`" in decode_error(dict(CDR_EXAMPLE, charging_periods=[]), CDR)
    assert "`$.elements`" in decode_error(dict(TARIFF, elements=[]), Tariff)
    assert "`$.elements[0].price_components`" in decode_error(dict(TARIFF, elements=[{"price_components": []}]),
                                                                Tariff)
    assert "`$.roles`" in decode_error(dict(CREDENTIALS, roles=[]), Credentials)
    assert "`$.endpoints`" in decode_error({"version": "2.2.1", "endpoints": []}, VersionDetails)
    # `*` lists may be empty
    assert msgspec.json.decode(raw(dict(LOCATION, evses=[])), type=Location).evses == []


def test_unknown_fields_are_ignored() -> None:
    loc = copy.deepcopy(LOCATION)
    loc["x_vendor"] = {"anything": [1, 2, 3]}
    loc["evses"][0]["connectors"][0]["x_plug_and_charge"] = True
    assert msgspec.json.decode(raw(loc), type=Location) == msgspec.json.decode(raw(LOCATION), type=Location)
    cdr = dict(CDR_EXAMPLE, total_vat=5.0)  # 2.3.0-style extra field
    assert msgspec.json.decode(raw(cdr), type=CDR).id == CDR_EXAMPLE["id"]


# -- string types -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["ab\tc", "abc\n", "\nabc", "a\rb", "Straße", "\x00", "\x7f", "ab\u00a0c"])
def test_cistring_rejects_non_printable_and_non_ascii(bad: str) -> None:
    loc = dict(LOCATION, id=bad)
    assert "`$.id`" in decode_error(loc, Location)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(bad, CiString(36))


def test_cistring_accepts_printable_ascii() -> None:
    every_printable = "".join(chr(c) for c in range(0x20, 0x7F))
    assert msgspec.convert(every_printable, CiString(95)) == every_printable
    assert msgspec.convert("", CiString(3)) == ""


def test_string_rejects_control_characters_but_not_unicode() -> None:
    assert msgspec.convert("Café Zürich – 北京 ⚡", String(45)) == "Café Zürich – 北京 ⚡"
    for bad in ["line\nbreak", "tab\there", "trailing\n", "\x1b[31m", "del\x7f"]:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, String(45))
    assert "`$.name`" in decode_error(dict(LOCATION, name="P+R\nArnhem"), Location)


def test_credentials_token_is_non_whitespace_ascii() -> None:
    for bad in ["has space", "", "tok\n", "tökèn"]:
        assert "`$.token`" in decode_error(dict(CREDENTIALS, token=bad), Credentials)


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("latitude", "51.984592", True),
        ("latitude", "-5.98459", True),
        ("latitude", "51.9845921", True),
        ("latitude", "51.9845", False),  # at least 5 decimals
        ("latitude", "151.984592", False),
        ("latitude", "51,984592", False),
        ("longitude", "-126.104965", True),
        ("longitude", "5.8997", False),
        ("longitude", "5.899781\n", False),
    ],
)
def test_geolocation_patterns(field: str, value: str, ok: bool) -> None:
    loc = copy.deepcopy(LOCATION)
    loc["coordinates"][field] = value
    if ok:
        msgspec.json.decode(raw(loc), type=Location)
    else:
        assert f"`$.coordinates.{field}`" in decode_error(loc, Location)


def test_time_and_date_formats() -> None:
    tariff = copy.deepcopy(TARIFF)
    tariff["elements"][1]["restrictions"]["end_time"] = "24:00"  # spec: write 00:00; the rating core rejects 24:00
    assert "`$.elements[1].restrictions.end_time`" in decode_error(tariff, Tariff)
    tariff["elements"][1]["restrictions"]["end_time"] = "7:00"
    assert "`$.elements[1].restrictions.end_time`" in decode_error(tariff, Tariff)
    tariff = copy.deepcopy(TARIFF)
    tariff["elements"][3]["restrictions"]["start_date"] = "2026-13-01"
    assert "`$.elements[3].restrictions.start_date`" in decode_error(tariff, Tariff)
    tariff = copy.deepcopy(TARIFF)
    tariff["elements"][0]["price_components"][0]["step_size"] = -1
    assert "`$.elements[0].price_components[0].step_size`" in decode_error(tariff, Tariff)

    loc = copy.deepcopy(LOCATION)
    loc["opening_times"]["regular_hours"][0]["weekday"] = 8
    assert "`$.opening_times.regular_hours[0].weekday`" in decode_error(loc, Location)
    loc = copy.deepcopy(LOCATION)
    loc["opening_times"]["regular_hours"][0]["period_begin"] = "24:00"  # only an end may be 24:00
    assert "`$.opening_times.regular_hours[0].period_begin`" in decode_error(loc, Location)


# -- DateTime ---------------------------------------------------------------------------------------------------

BASE = dt.datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-06-29T20:39:09Z", BASE),
        ("2015-06-29T20:39:09", BASE),
        ("2015-06-29T20:39:09.2Z", BASE.replace(microsecond=200000)),
        ("2015-06-29T20:39:09.2", BASE.replace(microsecond=200000)),
        ("2015-06-29T20:39:09.123Z", BASE.replace(microsecond=123000)),
        ("2015-06-29T20:39:09.123", BASE.replace(microsecond=123000)),
        ("2015-06-29T20:39:09.123456Z", BASE.replace(microsecond=123456)),
        ("2015-06-29T20:39:09.123456", BASE.replace(microsecond=123456)),
        ("2015-06-29T20:39:09.123456789Z", BASE.replace(microsecond=123457)),
        ("2015-06-29T20:39:09.123456789", BASE.replace(microsecond=123457)),
        ("2015-06-29T20:39:09+00:00", BASE),
        ("2015-06-29T21:39:09+01:00", BASE),
        ("2015-06-29T18:09:09.5-02:30", BASE.replace(microsecond=500000)),
    ],
)
def test_datetime_forms(text: str, expected: dt.datetime) -> None:
    token = msgspec.json.decode(raw(dict(TOKEN, last_updated=text)), type=Token)
    assert token.last_updated == expected
    assert token.last_updated.tzinfo is UTC  # always normalised to aware UTC

    plain = msgspec.json.decode(raw(text), type=dt.datetime)  # what msgspec itself gives (naive or offset)
    assert to_utc(plain) == expected and to_utc(plain).tzinfo is UTC
    assert to_utc(text) == expected and to_utc(text).tzinfo is UTC


@pytest.mark.parametrize("text", ["2015-06-29", "2015-06-29T20:39", "29-06-2015T20:39:09Z", "2015-06-29T25:00:00Z", ""])
def test_datetime_rejects_garbage(text: str) -> None:
    assert "`$.last_updated`" in decode_error(dict(TOKEN, last_updated=text), Token)
    with pytest.raises(msgspec.ValidationError):
        to_utc(text)


def test_every_datetime_field_is_normalised() -> None:
    loc = copy.deepcopy(LOCATION)
    loc["last_updated"] = "2026-11-21T18:02:44+01:00"
    loc["evses"][0]["last_updated"] = "2026-11-20T08:15:00"
    loc["evses"][0]["connectors"][0]["last_updated"] = "2026-11-20T09:15:00+01:00"
    loc["evses"][0]["status_schedule"][0]["period_end"] = "2026-12-01T10:00:00"
    loc["opening_times"]["exceptional_closings"][0]["period_begin"] = "2026-12-25T01:00:00+01:00"
    decoded = msgspec.json.decode(raw(loc), type=Location)
    evse = decoded.evses[0]
    closing = decoded.opening_times.exceptional_closings[0] if decoded.opening_times else None
    assert closing is not None
    stamps = [decoded.last_updated, evse.last_updated, evse.connectors[0].last_updated,
              evse.status_schedule[0].period_end, closing.period_begin]
    assert all(s is not None and s.tzinfo is UTC for s in stamps)
    assert decoded.last_updated == dt.datetime(2026, 11, 21, 17, 2, 44, tzinfo=UTC)
    assert closing.period_begin == dt.datetime(2026, 12, 25, tzinfo=UTC)

    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr["start_date_time"] = "2026-11-22T18:45:10"
    cdr["charging_periods"][0]["start_date_time"] = "2026-11-22T19:45:10+01:00"
    decoded_cdr = msgspec.json.decode(raw(cdr), type=CDR)
    assert decoded_cdr.start_date_time == decoded_cdr.charging_periods[0].start_date_time
    assert decoded_cdr.charging_periods[0].start_date_time.tzinfo is UTC
    # comparing fields is safe: none is naive
    assert decoded_cdr.start_date_time < decoded_cdr.end_date_time


def test_format_datetime() -> None:
    assert format_datetime(dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)) == "2026-11-23T12:00:00Z"
    assert format_datetime(dt.datetime(2026, 11, 23, 12, 0)) == "2026-11-23T12:00:00Z"  # naive = UTC
    assert format_datetime(dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == (
        "2026-11-23T12:00:00Z"
    )
    assert format_datetime(dt.datetime(2026, 11, 23, 12, 0, 5, 120000, tzinfo=UTC)) == "2026-11-23T12:00:05.12Z"
    # OCPI DateTime is string(25) (§1.10): milliseconds at most, finer digits cut
    assert format_datetime(dt.datetime(2026, 11, 23, 12, 0, 5, 7, tzinfo=UTC)) == "2026-11-23T12:00:05Z"
    assert format_datetime(dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "9999-12-31T23:59:59.999Z"
    assert to_utc(format_datetime(BASE.replace(microsecond=123456))) == BASE.replace(microsecond=123000)


def test_offsets_outside_the_datetime_range_are_a_validation_error() -> None:
    """`0001-01-01T00:00:00+01:00` is a year 0 in UTC: a validation error (2001 on the wire), not an OverflowError."""
    tariff = json.loads((DEMO / "tariffs.json").read_text())[0]
    for stamp in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(msgspec.ValidationError, match="out of range"):
            msgspec.json.decode(json.dumps({**tariff, "last_updated": stamp}), type=Tariff)
        with pytest.raises(ValueError, match="out of range"):
            to_utc(stamp)


# -- numbers ----------------------------------------------------------------------------------------------------


def test_numbers_are_exact_decimals() -> None:
    cdr = copy.deepcopy(CDR_EXAMPLE)
    cdr_raw = raw(cdr).replace(b'"total_energy": 30.437', b'"total_energy": 30.1234567890123456789')
    decoded = msgspec.json.decode(cdr_raw, type=CDR)
    assert decoded.total_energy == Decimal("30.1234567890123456789")
    # msgspec also takes a number written as a JSON string (lenient; some peers do this)
    assert msgspec.json.decode(raw(dict(CDR_EXAMPLE, total_energy="12.50")), type=CDR).total_energy == Decimal("12.50")
    periods = [p.dimensions[0].volume for p in msgspec.json.decode(raw(CDR_EXAMPLE), type=CDR).charging_periods[:2]]
    assert periods[0] + periods[1] == Decimal("30.437")  # 21.337 + 9.1, no float error


# -- cross-field rules ------------------------------------------------------------------------------------------


def test_publish_allowed_to_rules() -> None:
    allowed = [{"uid": "04A1B2C3D4E5F6", "type": "RFID"}, {"visual_number": "DE-MSP-1", "issuer": "MSP"},
               {"group_id": "FLEET-77"}]
    loc = msgspec.json.decode(raw(dict(LOCATION, publish=False, publish_allowed_to=allowed)), type=Location)
    assert [p.group_id for p in loc.publish_allowed_to] == [None, None, "FLEET-77"]

    assert "publish_allowed_to" in decode_error(dict(LOCATION, publish=True, publish_allowed_to=allowed), Location)
    for bad, why in [({"uid": "X"}, "type is required"), ({"visual_number": "V"}, "issuer is required"),
                     ({"type": "RFID", "issuer": "MSP"}, "one of uid, visual_number or group_id")]:
        msg = decode_error(dict(LOCATION, publish=False, publish_allowed_to=[bad]), Location)
        assert why in msg and "`$.publish_allowed_to[0]`" in msg


def test_credit_cdr_needs_reference() -> None:
    credit = dict(CDR_EXAMPLE, id="CDR-2026-000123-C", credit=True, credit_reference_id="CDR-2026-000123",
                  total_cost={"excl_vat": -23.8474, "incl_vat": -28.8554})
    assert msgspec.json.decode(raw(credit), type=CDR).credit_reference_id == "CDR-2026-000123"
    del credit["credit_reference_id"]
    assert "credit_reference_id is required" in decode_error(credit, CDR)
    assert msgspec.json.decode(raw(dict(CDR_EXAMPLE, credit=False)), type=CDR).credit is False


def test_credentials_roles_unique() -> None:
    dup = dict(CREDENTIALS)
    dup["roles"] = [CREDENTIALS["roles"][0], dict(CREDENTIALS["roles"][0], party_id="exa")]  # CiString: same party
    assert "listed twice" in decode_error(dup, Credentials)
    white_label = [CREDENTIALS["roles"][0], dict(CREDENTIALS["roles"][0], party_id="EXB")]
    assert len(msgspec.json.decode(raw(dict(CREDENTIALS, roles=white_label)), type=Credentials).roles) == 2


def test_structs_built_in_python_are_checked_too() -> None:
    with pytest.raises(ValueError, match="credit_reference_id"):
        msgspec.convert(dict(CDR_EXAMPLE, credit=True), CDR)
    token = Token(
        country_code="DE", party_id="MSP", uid="U1", type="APP_USER", contract_id="C1", issuer="MSP",
        valid=True, whitelist="NEVER", last_updated=dt.datetime(2026, 1, 1, 12, 0),
    )
    assert token.last_updated.tzinfo is UTC
    assert msgspec.json.encode(token).endswith(b'"last_updated":"2026-01-01T12:00:00Z"}')
