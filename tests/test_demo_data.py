"""Demo Locations/Tokens (`app.demo.dataset`) and the synthetic generator (`app.demo.synthetic`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.demo import dataset, synthetic
from tests.conftest import DEMO

# --------------------------------------------------------------------------------------------------------------
# A small local OCPI 2.2.1 checker (digest §1.10, §3.1, §3.5): required fields, no unknown fields, lengths,
# CiString/string character sets, enums, DateTime and GeoLocation patterns.
# --------------------------------------------------------------------------------------------------------------
CI_RE = re.compile(r"[\x20-\x7E]*")
STR_RE = re.compile(r"[^\x00-\x1F\x7F]*")
DT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
LAT_RE = re.compile(r"-?[0-9]{1,2}\.[0-9]{5,7}")
LON_RE = re.compile(r"-?[0-9]{1,3}\.[0-9]{5,7}")
HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")

STATUS = {"AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED",
          "UNKNOWN"}
CAPABILITY = {"CHARGING_PROFILE_CAPABLE", "CHARGING_PREFERENCES_CAPABLE", "CHIP_CARD_SUPPORT",
              "CONTACTLESS_CARD_SUPPORT", "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "PED_TERMINAL",
              "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "START_SESSION_CONNECTOR_REQUIRED",
              "TOKEN_GROUP_CAPABLE", "UNLOCK_CAPABLE"}
CONNECTOR_TYPE = {"CHADEMO", "CHAOJI", "GBT_AC", "GBT_DC", "IEC_60309_2_single_16", "IEC_60309_2_three_16",
                  "IEC_60309_2_three_32", "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO",
                  "IEC_62196_T2", "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30",
                  "NEMA_6_50", "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP",
                  "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S"} | {f"DOMESTIC_{c}" for c in "ABCDEFGHIJKLMNO"}
CONNECTOR_FORMAT = {"SOCKET", "CABLE"}
POWER_TYPE = {"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"}
PARKING_TYPE = {"ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET", "UNDERGROUND_GARAGE"}
PARKING_RESTRICTION = {"EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"}
FACILITY = {"HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE", "MUSEUM",
            "BIKE_SHARING", "BUS_STOP", "TAXI_STAND", "TRAM_STOP", "METRO_STATION", "TRAIN_STATION", "AIRPORT",
            "PARKING_LOT", "CARPOOL_PARKING", "FUEL_STATION", "WIFI"}
ENERGY_SOURCE = {"NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"}
TOKEN_TYPE = {"AD_HOC_USER", "APP_USER", "OTHER", "RFID"}
WHITELIST = {"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"}
PROFILE_TYPE = {"CHEAP", "FAST", "GREEN", "REGULAR"}

Check = Callable[[Any, str], None]


def ci(n: int) -> Check:
    def check(v: Any, path: str) -> None:
        assert isinstance(v, str) and len(v) <= n and CI_RE.fullmatch(v), f"{path}: not CiString({n}): {v!r}"
    return check


def string(n: int) -> Check:
    def check(v: Any, path: str) -> None:
        assert isinstance(v, str) and len(v) <= n and STR_RE.fullmatch(v), f"{path}: not string({n}): {v!r}"
    return check


def enum(values: set[str]) -> Check:
    def check(v: Any, path: str) -> None:
        assert v in values, f"{path}: {v!r} not in enum"
    return check


def regex(r: re.Pattern[str], n: int) -> Check:
    def check(v: Any, path: str) -> None:
        assert isinstance(v, str) and len(v) <= n and r.fullmatch(v), f"{path}: {v!r} does not match {r.pattern}"
    return check


def boolean(v: Any, path: str) -> None:
    assert isinstance(v, bool), f"{path}: not a boolean: {v!r}"


def integer(v: Any, path: str) -> None:
    assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"{path}: not an int: {v!r}"


def number(v: Any, path: str) -> None:
    assert isinstance(v, (int, float)) and not isinstance(v, bool), f"{path}: not a number: {v!r}"


def date_time(v: Any, path: str) -> None:
    regex(DT_RE, 25)(v, path)
    datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")  # a real date


def many(item: Check, min_len: int = 0) -> Check:
    def check(v: Any, path: str) -> None:
        assert isinstance(v, list) and len(v) >= min_len, f"{path}: not a list of >= {min_len}: {v!r}"
        for i, x in enumerate(v):
            item(x, f"{path}[{i}]")
    return check


def obj(fields: dict[str, tuple[bool, Check]], extra: Callable[[dict[str, Any], str], None] | None = None) -> Check:
    """`fields`: name -> (required, check). Unknown fields are errors (they catch typos)."""
    def check(v: Any, path: str) -> None:
        assert isinstance(v, dict), f"{path}: not an object"
        unknown = set(v) - set(fields)
        assert not unknown, f"{path}: unknown fields {sorted(unknown)}"
        for name, (required, c) in fields.items():
            if name in v:
                assert v[name] is not None, f"{path}.{name}: null"
                c(v[name], f"{path}.{name}")
            else:
                assert not required, f"{path}: missing required {name}"
        if extra is not None:
            extra(v, path)
    return check


def _hours_order(v: dict[str, Any], path: str) -> None:
    assert v["period_end"] > v["period_begin"], f"{path}: period_end not after period_begin"


def _weekday(v: Any, path: str) -> None:
    assert isinstance(v, int) and 1 <= v <= 7, f"{path}: bad weekday {v!r}"


def _publish_token(v: dict[str, Any], path: str) -> None:
    assert {"uid", "visual_number", "group_id"} & set(v), f"{path}: needs uid, visual_number or group_id"
    assert "uid" not in v or "type" in v, f"{path}: uid without type"
    assert "visual_number" not in v or "issuer" in v, f"{path}: visual_number without issuer"


def _location_rules(v: dict[str, Any], path: str) -> None:
    assert not (v["publish"] and v.get("publish_allowed_to")), f"{path}: publish_allowed_to with publish=true"
    uids = [e["uid"] for e in v.get("evses", [])]
    assert len(uids) == len(set(uids)), f"{path}: duplicate EVSE uid"
    for e in v.get("evses", []):
        cids = [c["id"] for c in e["connectors"]]
        assert len(cids) == len(set(cids)), f"{path}: duplicate connector id in {e['uid']}"
        # a parent's last_updated is bumped when a child changes
        assert e["last_updated"] <= v["last_updated"], f"{path}: EVSE {e['uid']} newer than its Location"
        for c in e["connectors"]:
            assert c["last_updated"] <= e["last_updated"], f"{path}: connector newer than EVSE {e['uid']}"
            if "max_electric_power" in c:
                phases = 3 if c["power_type"] == "AC_3_PHASE" else 2 if c["power_type"].startswith("AC_2") else 1
                assert c["max_electric_power"] <= c["max_voltage"] * c["max_amperage"] * phases, f"{path}: power"


GEO = obj({"latitude": (True, regex(LAT_RE, 10)), "longitude": (True, regex(LON_RE, 11))})
DISPLAY_TEXT = obj({"language": (True, string(2)), "text": (True, string(512))})
IMAGE = obj({"url": (True, string(255)), "thumbnail": (False, string(255)), "category": (True, string(16)),
             "type": (True, ci(4)), "width": (False, integer), "height": (False, integer)})
BUSINESS = obj({"name": (True, string(100)), "website": (False, string(255)), "logo": (False, IMAGE)})
CONNECTOR = obj({
    "id": (True, ci(36)), "standard": (True, enum(CONNECTOR_TYPE)), "format": (True, enum(CONNECTOR_FORMAT)),
    "power_type": (True, enum(POWER_TYPE)), "max_voltage": (True, integer), "max_amperage": (True, integer),
    "max_electric_power": (False, integer), "tariff_ids": (False, many(ci(36))),
    "terms_and_conditions": (False, string(255)), "last_updated": (True, date_time),
})
EVSE = obj({
    "uid": (True, ci(36)), "evse_id": (False, ci(48)), "status": (True, enum(STATUS)),
    "status_schedule": (False, many(obj({"period_begin": (True, date_time), "period_end": (False, date_time),
                                         "status": (True, enum(STATUS))}))),
    "capabilities": (False, many(enum(CAPABILITY))), "connectors": (True, many(CONNECTOR, 1)),
    "floor_level": (False, string(4)), "coordinates": (False, GEO), "physical_reference": (False, string(16)),
    "directions": (False, many(DISPLAY_TEXT)), "parking_restrictions": (False, many(enum(PARKING_RESTRICTION))),
    "images": (False, many(IMAGE)), "last_updated": (True, date_time),
})
HOURS = obj({
    "twentyfourseven": (True, boolean),
    "regular_hours": (False, many(obj({"weekday": (True, _weekday), "period_begin": (True, regex(HHMM_RE, 5)),
                                       "period_end": (True, regex(HHMM_RE, 5))}, _hours_order))),
    "exceptional_openings": (False, many(obj({"period_begin": (True, date_time), "period_end": (True, date_time)}))),
    "exceptional_closings": (False, many(obj({"period_begin": (True, date_time), "period_end": (True, date_time)}))),
})
ENERGY_MIX = obj({
    "is_green_energy": (True, boolean),
    "energy_sources": (False, many(obj({"source": (True, enum(ENERGY_SOURCE)), "percentage": (True, number)}))),
    "environ_impact": (False, many(obj({"category": (True, enum({"NUCLEAR_WASTE", "CARBON_DIOXIDE"})),
                                        "amount": (True, number)}))),
    "supplier_name": (False, string(64)), "energy_product_name": (False, string(64)),
})
PUBLISH_TOKEN = obj({"uid": (False, ci(36)), "type": (False, enum(TOKEN_TYPE)), "visual_number": (False, string(64)),
                     "issuer": (False, string(64)), "group_id": (False, ci(36))}, _publish_token)
LOCATION = obj({
    "country_code": (True, ci(2)), "party_id": (True, ci(3)), "id": (True, ci(36)), "publish": (True, boolean),
    "publish_allowed_to": (False, many(PUBLISH_TOKEN)), "name": (False, string(255)),
    "address": (True, string(255)), "city": (True, string(45)), "postal_code": (False, string(10)),
    "state": (False, string(45)), "country": (True, regex(re.compile("[A-Z]{3}"), 3)), "coordinates": (True, GEO),
    "related_locations": (False, many(GEO)), "parking_type": (False, enum(PARKING_TYPE)),
    "evses": (False, many(EVSE)), "directions": (False, many(DISPLAY_TEXT)), "operator": (False, BUSINESS),
    "suboperator": (False, BUSINESS), "owner": (False, BUSINESS), "facilities": (False, many(enum(FACILITY))),
    "time_zone": (True, regex(re.compile(r"[A-Za-z_]+/[A-Za-z_]+"), 255)), "opening_times": (False, HOURS),
    "charging_when_closed": (False, boolean), "images": (False, many(IMAGE)), "energy_mix": (False, ENERGY_MIX),
    "last_updated": (True, date_time),
}, _location_rules)
TOKEN = obj({
    "country_code": (True, ci(2)), "party_id": (True, ci(3)), "uid": (True, ci(36)), "type": (True, enum(TOKEN_TYPE)),
    "contract_id": (True, ci(36)), "visual_number": (False, string(64)), "issuer": (True, string(64)),
    "group_id": (False, ci(36)), "valid": (True, boolean), "whitelist": (True, enum(WHITELIST)),
    "language": (False, regex(re.compile("[a-z]{2}"), 2)), "default_profile_type": (False, enum(PROFILE_TYPE)),
    "energy_contract": (False, obj({"supplier_name": (True, string(64)), "contract_id": (False, string(64))})),
    "last_updated": (True, date_time),
})


def check_all(objects: Iterable[dict[str, Any]], check: Check, key: str) -> int:
    n = 0
    for o in objects:
        check(o, f"{o.get(key)}")
        n += 1
    return n


def test_checker_catches_mistakes() -> None:
    loc = next(synthetic.iter_locations(1))
    LOCATION(loc, "ok")
    bad: list[dict[str, Any]] = [
        {**loc, "id": "X" * 37},
        {**loc, "coordinates": {"latitude": "52.1", "longitude": "4.123456"}},
        {**loc, "time_zone": None},
        {k: v for k, v in loc.items() if k != "time_zone"},
        {**loc, "last_updated": "2026-01-15T10:00:00+00:00"},
        {**loc, "parking_type": "parking_lot"},
        {**loc, "evses": [{**loc["evses"][0], "connectors": []}]},
        {**loc, "evses": [{**loc["evses"][0], "status": "FREE"}]},
        {**loc, "evses": [{**loc["evses"][0], "connectors": [{**loc["evses"][0]["connectors"][0],
                                                              "max_voltage": 230.0}]}]},
        {**loc, "colour": "green"},
    ]
    for b in bad:
        with pytest.raises(AssertionError):
            LOCATION(b, "bad")


# --------------------------------------------------------------------------------------------------------------
# Demo data set
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cdrs() -> list[dict[str, Any]]:
    return dataset.read_cdrs(DEMO / "cdrs.jsonl")


@pytest.fixture(scope="module")
def tariffs() -> list[dict[str, Any]]:
    return dataset.read_tariffs(DEMO / "tariffs.json")


@pytest.fixture(scope="module")
def locations() -> list[dict[str, Any]]:
    data = json.loads((DEMO / "locations.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def tokens() -> list[dict[str, Any]]:
    data = json.loads((DEMO / "tokens.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_demo_files_are_what_the_builder_makes(cdrs: list[dict[str, Any]], tariffs: list[dict[str, Any]]) -> None:
    locs = dataset.build_locations(cdrs, tariffs)
    toks = dataset.build_tokens(cdrs)
    assert (DEMO / "locations.json").read_bytes() == dataset.dumps(locs).encode("utf-8")
    assert (DEMO / "tokens.json").read_bytes() == dataset.dumps(toks).encode("utf-8")
    # and the builder does not depend on CDR order
    assert dataset.build_locations(list(reversed(cdrs)), tariffs) == locs
    assert dataset.build_tokens(list(reversed(cdrs))) == toks


def test_dataset_main_is_byte_reproducible(tmp_path: Path) -> None:
    outs = []
    for run in ("a", "b"):
        loc_out, tok_out = tmp_path / f"{run}-locations.json", tmp_path / f"{run}-tokens.json"
        assert dataset.main(["--locations-out", str(loc_out), "--tokens-out", str(tok_out)]) == 0
        outs.append((loc_out.read_bytes(), tok_out.read_bytes()))
    assert outs[0] == outs[1]
    assert outs[0] == ((DEMO / "locations.json").read_bytes(), (DEMO / "tokens.json").read_bytes())
    assert outs[0][0].endswith(b"}\n]\n")


def test_demo_locations_are_valid_ocpi(locations: list[dict[str, Any]], cdrs: list[dict[str, Any]]) -> None:
    assert check_all(locations, LOCATION, "id") == len({c["cdr_location"]["id"] for c in cdrs}) == 364
    assert [loc["id"] for loc in locations] == sorted(loc["id"] for loc in locations)
    for loc in locations:
        assert (loc["country_code"], loc["party_id"]) == ("NL", "EXA")
        assert loc["time_zone"] == "Europe/Amsterdam"
        assert loc["publish"] is True
        assert loc["evses"], loc["id"]
        for e in loc["evses"]:
            assert e["status"] not in ("REMOVED", "PLANNED")  # every EVSE has CDRs
    # the demo locations predate every CDR referencing them
    earliest: dict[str, str] = {}
    for c in cdrs:
        lid = c["cdr_location"]["id"]
        earliest[lid] = min(earliest.get(lid, c["start_date_time"]), c["start_date_time"])
    for loc in locations:
        assert loc["last_updated"] < earliest[loc["id"]]


def test_every_cdr_location_exists(locations: list[dict[str, Any]], cdrs: list[dict[str, Any]]) -> None:
    by_id = {loc["id"]: loc for loc in locations}
    for c in cdrs:
        cl = c["cdr_location"]
        loc = by_id[cl["id"]]
        assert (loc["country_code"], loc["party_id"]) == (c["country_code"], c["party_id"])
        for f in ("name", "address", "city", "postal_code", "country", "coordinates"):
            assert loc[f] == cl[f], (cl["id"], f)
        evse = next(e for e in loc["evses"] if e["uid"] == cl["evse_uid"])
        assert evse["evse_id"] == cl["evse_id"]
        conn = next(x for x in evse["connectors"] if x["id"] == cl["connector_id"])
        assert (conn["standard"], conn["format"], conn["power_type"]) == (
            cl["connector_standard"], cl["connector_format"], cl["connector_power_type"])
        for p in c["charging_periods"]:
            if "tariff_id" in p and loc["city"] not in dataset.FLOW_TARIFFS:
                assert p["tariff_id"] in conn["tariff_ids"], (c["id"], p["tariff_id"])
            for d in p["dimensions"]:  # the CDR never reports more power than the connector can deliver
                if d["type"] in ("MAX_POWER", "MIN_POWER"):
                    assert d["volume"] * 1000 <= conn["max_electric_power"] * 1.01, (c["id"], d)
    # and nothing else: every EVSE / connector of the demo locations is used by some CDR
    used = {(c["cdr_location"]["evse_uid"], c["cdr_location"]["connector_id"]) for c in cdrs}
    assert used == {(e["uid"], x["id"]) for loc in locations for e in loc["evses"] for x in e["connectors"]}


def test_connector_tariff_ids_exist(locations: list[dict[str, Any]], tariffs: list[dict[str, Any]]) -> None:
    known = {(t["country_code"], t["party_id"], t["id"]) for t in tariffs}
    n = 0
    for loc in locations:
        for e in loc["evses"]:
            for c in e["connectors"]:
                assert c["tariff_ids"], (loc["id"], e["uid"], c["id"])
                for tid in c["tariff_ids"]:
                    assert (loc["country_code"], loc["party_id"], tid) in known
                    n += 1
    assert n >= 467


def test_every_msp_token_of_the_cdrs_exists(tokens: list[dict[str, Any]], cdrs: list[dict[str, Any]]) -> None:
    assert check_all(tokens, TOKEN, "uid") == len(tokens) == 90
    assert [t["uid"] for t in tokens] == sorted(t["uid"] for t in tokens)
    by_key = {(t["uid"], t["type"]): t for t in tokens}
    assert len(by_key) == len(tokens)
    msp = [c["cdr_token"] for c in cdrs]
    msp = [ct for ct in msp if (ct["country_code"], ct["party_id"]) == ("NL", "MSP")]
    assert msp
    for ct in msp:
        t = by_key[(ct["uid"], ct["type"])]
        assert (t["country_code"], t["party_id"], t["contract_id"]) == ("NL", "MSP", ct["contract_id"])
    assert {(ct["uid"], ct["type"]) for ct in msp} == set(by_key)  # no tokens of other parties
    for t in tokens:
        assert t["issuer"] == "MSP Mobility"
    assert 0 < sum(not t["valid"] for t in tokens) < 15
    whitelist = [t["whitelist"] for t in tokens]
    assert whitelist.count("ALLOWED") > len(tokens) / 2
    assert set(whitelist) == WHITELIST
    # every whitelist type has valid tokens, for the charging flow's authorization cases
    assert {t["whitelist"] for t in tokens if t["valid"]} == WHITELIST


def test_flow_tariff_on_amsterdam_connectors(locations: list[dict[str, Any]], tariffs: list[dict[str, Any]]) -> None:
    """The charging-flow demo: connectors in Amsterdam carry one tariff with a 17:00 local time-of-day change, a
    kWh threshold and a parking fee; elsewhere the tariffs of the historical CDRs stay."""
    (city, tariff_id), = dataset.FLOW_TARIFFS.items()
    tariff = next(t for t in tariffs if t["id"] == tariff_id)
    assert (tariff["country_code"], tariff["party_id"], tariff["currency"]) == ("NL", "EXA", "EUR")
    restrictions = [e.get("restrictions", {}) for e in tariff["elements"]]
    components = [c["type"] for e in tariff["elements"] for c in e["price_components"]]
    assert any(r.get("start_time") == "17:00" or r.get("end_time") == "17:00" for r in restrictions)
    assert any("max_kwh" in r or "min_kwh" in r for r in restrictions)
    assert "PARKING_TIME" in components and "ENERGY" in components
    # the tariff predates the sessions the generator makes by default, and is valid without a date range
    assert tariff["last_updated"] < "2026-11-23" and "start_date_time" not in tariff
    here = [loc for loc in locations if loc["city"] == city]
    assert len(here) >= 10
    for loc in locations:
        ids = {tid for e in loc["evses"] for c in e["connectors"] for tid in c["tariff_ids"]}
        assert (ids == {tariff_id}) == (loc["city"] == city), loc["id"]
        assert loc["time_zone"] == "Europe/Amsterdam"
    usable = [e for loc in here for e in loc["evses"] if e["status"] in ("AVAILABLE", "CHARGING")]
    assert len(usable) >= 15  # room for the generator's default concurrency


def test_connector_rating_table() -> None:
    assert dataset.connector_rating("AC_3_PHASE", "IEC_62196_T2", 10.9) == (230, 16, 11040)
    assert dataset.connector_rating("AC_3_PHASE", "IEC_62196_T2", 21.9) == (230, 32, 22080)
    assert dataset.connector_rating("AC_1_PHASE", "IEC_62196_T2", 7.4) == (230, 32, 7360)
    assert dataset.connector_rating("DC", "CHADEMO", 49.9) == (500, 125, 50000)
    assert dataset.connector_rating("DC", "IEC_62196_T2_COMBO", 348.3) == (920, 500, 350000)
    assert dataset.connector_rating("DC", "IEC_62196_T2_COMBO", 999) == (920, 500, 350000)


# --------------------------------------------------------------------------------------------------------------
# Synthetic generator
# --------------------------------------------------------------------------------------------------------------
N_LOC = 3000
N_TOK = 5000


@pytest.fixture(scope="module")
def synth_locations() -> list[dict[str, Any]]:
    return list(synthetic.iter_locations(N_LOC, seed=7))


@pytest.fixture(scope="module")
def synth_tokens() -> list[dict[str, Any]]:
    return list(synthetic.iter_tokens(N_TOK, seed=7))


def test_synthetic_is_deterministic(synth_locations: list[dict[str, Any]], synth_tokens: list[dict[str, Any]]) -> None:
    assert list(synthetic.iter_locations(N_LOC, seed=7)) == synth_locations
    assert list(synthetic.iter_tokens(N_TOK, seed=7)) == synth_tokens
    other = list(synthetic.iter_locations(50, seed=8))
    assert [x["id"] for x in other] == [x["id"] for x in synth_locations[:50]]
    assert other != synth_locations[:50]
    assert list(synthetic.iter_tokens(50, seed=8)) != synth_tokens[:50]
    # object i does not depend on the batch it is generated in (given the same `total`)
    part = list(synthetic.iter_locations(10, seed=7, start=101, total=N_LOC))
    assert part == synth_locations[100:110]
    tpart = list(synthetic.iter_tokens(10, seed=7, start=4001, total=N_TOK))
    assert tpart == synth_tokens[4000:4010]


def test_synthetic_locations_valid_and_unique(synth_locations: list[dict[str, Any]]) -> None:
    assert check_all(synth_locations, LOCATION, "id") == N_LOC
    ids = [x["id"] for x in synth_locations]
    assert ids == [f"LOC-{i:06d}" for i in range(1, N_LOC + 1)]
    evse_uids = [e["uid"] for x in synth_locations for e in x["evses"]]
    assert len(evse_uids) == len(set(evse_uids))
    evse_ids = [e["evse_id"] for x in synth_locations for e in x["evses"] if "evse_id" in e]
    assert len(evse_ids) == len(set(evse_ids))
    tariff_ids = set(synthetic.DEFAULT_TARIFF_IDS)
    power_types: set[str] = set()
    for x in synth_locations:
        assert (x["country_code"], x["party_id"]) == ("NL", "EXA")
        assert 1 <= len(x["evses"]) <= 6
        assert 47.0 < float(x["coordinates"]["latitude"]) < 55.1
        assert 2.5 < float(x["coordinates"]["longitude"]) < 15.1
        assert x["country"] in ("NLD", "BEL", "DEU")
        for e in x["evses"]:
            assert 1 <= len(e["connectors"]) <= 2
            for c in e["connectors"]:
                assert set(c["tariff_ids"]) <= tariff_ids
                power_types.add(c["power_type"])
    assert {"AC_1_PHASE", "AC_3_PHASE", "DC"} <= power_types
    assert {x["parking_type"] for x in synth_locations} == PARKING_TYPE
    assert {x["country"] for x in synth_locations} == {"NLD", "BEL", "DEU"}
    assert any("regular_hours" in x.get("opening_times", {}) for x in synth_locations)
    assert any(x.get("facilities") for x in synth_locations)
    stamps = [x["last_updated"] for x in synth_locations]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert "2025-01-01T00:00:00Z" <= stamps[0] < "2025-02-01" and "2026-12-01" < stamps[-1] < "2027"
    avg = sum(len(json.dumps(x, ensure_ascii=False, separators=(",", ":")).encode()) for x in synth_locations) / N_LOC
    assert 1200 <= avg <= 2000, avg


def test_synthetic_tokens_valid_and_unique(synth_tokens: list[dict[str, Any]]) -> None:
    assert check_all(synth_tokens, TOKEN, "uid") == N_TOK
    assert len({t["uid"] for t in synth_tokens}) == N_TOK
    assert len({t["contract_id"] for t in synth_tokens}) == N_TOK
    for t in synth_tokens:
        assert (t["country_code"], t["party_id"], t["issuer"]) == ("NL", "MSP", "MSP Mobility")
        if t["type"] in ("APP_USER", "AD_HOC_USER"):
            assert t["whitelist"] == "NEVER"
    assert {t["type"] for t in synth_tokens} == TOKEN_TYPE
    assert {t["whitelist"] for t in synth_tokens} == WHITELIST
    assert 0 < sum(not t["valid"] for t in synth_tokens) < N_TOK / 10
    stamps = [t["last_updated"] for t in synth_tokens]
    assert stamps == sorted(stamps)
    other = list(synthetic.iter_tokens(20, seed=7, country_code="be", party_id="abc"))
    assert all((t["country_code"], t["party_id"]) == ("BE", "ABC") for t in other)


def test_synthetic_parameters() -> None:
    locs = list(synthetic.iter_locations(5, country_code="DE", party_id="XYZ", tariff_ids=["T-AC"], start=42))
    assert [x["id"] for x in locs] == [f"LOC-{i:06d}" for i in range(42, 47)]
    for x in locs:
        LOCATION(x, x["id"])
        assert (x["country_code"], x["party_id"]) == ("DE", "XYZ")
        for e in x["evses"]:
            assert e.get("evse_id", "DE*XYZ*").startswith("DE*XYZ*")
            assert all(c["tariff_ids"] == ["T-AC"] for c in e["connectors"])
    no_tariffs = list(synthetic.iter_locations(5, tariff_ids=()))
    assert all("tariff_ids" not in c for x in no_tariffs for e in x["evses"] for c in e["connectors"])
    assert list(synthetic.iter_locations(0)) == []


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.demo.synthetic", *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent.parent)


def test_synthetic_cli(tmp_path: Path) -> None:
    r = _run_cli("--help")
    assert r.returncode == 0 and "--locations" in r.stdout and "--jsonl" in r.stdout
    out = tmp_path / "locs.json"
    r = _run_cli("--locations", "40", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == list(synthetic.iter_locations(40))
    out2 = tmp_path / "tokens.jsonl"
    r = _run_cli("--tokens", "30", "--seed", "3", "--jsonl", "--out", str(out2))
    assert r.returncode == 0, r.stderr
    lines = out2.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(synthetic.iter_tokens(30, seed=3))
    r = _run_cli("--out", str(out))
    assert r.returncode != 0


# --------------------------------------------------------------------------------------------------------------
# Decoding with the msgspec schemas of app.schemas.v2_2_1 (when that package is available)
# --------------------------------------------------------------------------------------------------------------
def _schema(name: str) -> Any:
    try:
        import app.schemas.v2_2_1 as schemas
    except ImportError as exc:  # pragma: no cover - depends on the state of app.schemas
        pytest.skip(f"app.schemas.v2_2_1 not importable: {exc}")
    typ = getattr(schemas, name, None)
    if typ is None:  # pragma: no cover
        pytest.skip(f"app.schemas.v2_2_1.{name} not defined yet")
    return typ


def test_msgspec_decodes_locations(locations: list[dict[str, Any]], synth_locations: list[dict[str, Any]]) -> None:
    import msgspec

    location_t = _schema("Location")
    decoder = msgspec.json.Decoder(location_t)
    for x in [*locations, *synth_locations]:
        decoded = decoder.decode(json.dumps(x).encode())
        assert decoded.id == x["id"]


def test_msgspec_decodes_tokens(tokens: list[dict[str, Any]], synth_tokens: list[dict[str, Any]]) -> None:
    import msgspec

    token_t = _schema("Token")
    decoder = msgspec.json.Decoder(token_t)
    for x in [*tokens, *synth_tokens]:
        decoded = decoder.decode(json.dumps(x).encode())
        assert decoded.uid == x["uid"]


def test_flow_tariff_prices_as_described(tariffs: list[dict[str, Any]]) -> None:
    """TRF-AMS priced by rust_core: €0.39/kWh up to 20 kWh then €0.32, €0.59 from 17:00 local, parking €2.40/h."""
    from decimal import Decimal

    import rust_core

    tariff = next(t for t in tariffs if t["id"] == "TRF-AMS")
    cdr = json.loads((DEMO / "cdrs.jsonl").read_text(encoding="utf-8").splitlines()[0])
    periods = [  # local (UTC+1): 14:00-17:00 25 kWh, 17:00-17:30 5 kWh, then parked until 18:00
        ("2026-11-23T13:00:00Z", [("ENERGY", 25), ("TIME", 3)]),
        ("2026-11-23T16:00:00Z", [("ENERGY", 5), ("TIME", 0.5)]),
        ("2026-11-23T16:30:00Z", [("PARKING_TIME", 0.5)]),
    ]
    cdr.update(start_date_time="2026-11-23T13:00:00Z", end_date_time="2026-11-23T17:00:00Z", tariffs=[tariff],
               charging_periods=[{"start_date_time": s, "dimensions": [{"type": k, "volume": v} for k, v in dims]}
                                 for s, dims in periods])
    priced = rust_core.price_cdr(json.dumps(cdr).encode(), time_zone="Europe/Amsterdam")
    assert priced.total_energy_cost is not None and priced.total_parking_cost is not None
    assert priced.total_energy_cost.excl_vat == Decimal("20") * Decimal("0.39") + 5 * Decimal("0.32") + 5 * Decimal("0.59")
    assert priced.total_parking_cost.excl_vat == Decimal("1.2")
    assert priced.total_cost.excl_vat == Decimal("12.35") + Decimal("0.35") + Decimal("1.2")
    assert priced.total_cost.incl_vat == (Decimal("13.90") * Decimal("1.21")).quantize(Decimal("0.0001"))
