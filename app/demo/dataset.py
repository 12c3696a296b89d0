"""Build the demo Locations and Tokens (OCPI 2.2.1) from the demo CDRs and Tariffs.

The demo data set has one CPO party (NL/EXA) with Locations, EVSEs, Connectors and Tariffs, and one eMSP
party (NL/MSP) with Tokens.  ``tariffs.json`` and ``cdrs.jsonl`` are the source of truth; this module derives
``locations.json`` and ``tokens.json`` from them, deterministically (no randomness, no clock), so that every
CDR references an existing Location / EVSE / Connector and every NL/MSP token of a CDR exists.

Run ``python -m app.demo.dataset`` to (re)write ``app/demo/data/locations.json`` and ``tokens.json``;
re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

from app.schemas.v2_2_1 import Capability

DATA_DIR = Path(__file__).resolve().parent / "data"
CDRS_FILE = DATA_DIR / "cdrs.jsonl"
TARIFFS_FILE = DATA_DIR / "tariffs.json"
LOCATIONS_FILE = DATA_DIR / "locations.json"
TOKENS_FILE = DATA_DIR / "tokens.json"

TIME_ZONE = "Europe/Amsterdam"
OPERATOR: dict[str, Any] = {"name": "EXA Charging", "website": "https://www.example.com/exa"}
TOKEN_ISSUER = "MSP Mobility"
# The charging-flow demo (README "Charging flow"): every connector in these cities is priced by this one tariff
# (time of day at 17:00, a 20 kWh threshold, a parking fee) instead of the tariffs its historical CDRs name.
FLOW_TARIFFS: dict[str, str] = {"Amsterdam": "TRF-AMS"}

# Connector ratings, smallest first: (nominal kW used for classification, max_voltage V, max_amperage A,
# max_electric_power W).  AC voltages are line-to-neutral (as OCPI requires for 3-phase), so
# max_electric_power = V * A * phases; DC max_electric_power <= V * A.
_AC_1_PHASE = ((3.7, 230, 16, 3680), (7.4, 230, 32, 7360))
_AC_3_PHASE = ((11.0, 230, 16, 11040), (22.0, 230, 32, 22080), (43.0, 230, 63, 43470))
_DC = (
    (50.0, 500, 125, 50000),
    (100.0, 920, 200, 100000),
    (150.0, 920, 250, 150000),
    (175.0, 920, 250, 175000),
    (300.0, 920, 400, 300000),
    (350.0, 920, 500, 350000),
)
_CHADEMO = ((50.0, 500, 125, 50000), (100.0, 500, 200, 100000))
_RATINGS: dict[str, tuple[tuple[float, int, int, int], ...]] = {
    "AC_1_PHASE": _AC_1_PHASE,
    "AC_2_PHASE": ((7.4, 230, 16, 7360), (14.7, 230, 32, 14720)),
    "AC_2_PHASE_SPLIT": ((7.7, 240, 32, 7680), (11.5, 240, 48, 11520)),
    "AC_3_PHASE": _AC_3_PHASE,
    "DC": _DC,
}

# (name prefix, parking_type, facilities) — from the demo location naming scheme.
_SITE_KINDS: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("Parkeergarage", "PARKING_GARAGE", ()),
    ("P+R", "PARKING_LOT", ("PARKING_LOT", "BUS_STOP")),
    ("Laadplein", "ALONG_MOTORWAY", ()),
    ("Snellaadplein", "PARKING_LOT", ()),
    ("HPC Hub", "PARKING_LOT", ("CAFE", "WIFI")),
    ("Tankstation", "ALONG_MOTORWAY", ("FUEL_STATION",)),
    ("Supermarkt", "PARKING_LOT", ("SUPERMARKET",)),
    ("Hotel", "PARKING_LOT", ("HOTEL", "RESTAURANT", "WIFI")),
    ("Café", "ON_STREET", ("CAFE",)),
    ("Sportpark", "PARKING_LOT", ("SPORT",)),
    ("Bedrijventerrein", "PARKING_LOT", ()),
    ("Gemeente", "ON_STREET", ()),
)

# EVSE status by bucket of crc32(uid) % 20: mostly available, some charging, a few faulty.
_STATUS_BUCKETS = (
    ("AVAILABLE",) * 12 + ("CHARGING",) * 4 + ("BLOCKED", "OUTOFORDER", "INOPERATIVE", "UNKNOWN")
)
# Capability enum order (spec order) — used to emit capabilities deterministically.
_CAPABILITY_ORDER = get_args(Capability)

_DT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _parse_dt(value: str) -> datetime:
    """Parse an OCPI DateTime (UTC, optional ``Z``, optional fractional seconds)."""
    v = value[:-1] if value.endswith(("Z", "z")) else value
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _fmt_dt(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime(_DT_FORMAT)


def _natural_key(value: str) -> tuple[Any, ...]:
    """Sort key that orders ``LOC-00001-2`` before ``LOC-00001-10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", value))


def _crc(value: str) -> int:
    return zlib.crc32(value.encode("utf-8"))


def _same_party(obj: dict[str, Any], country_code: str, party_id: str) -> bool:
    return (
        str(obj.get("country_code", "")).upper() == country_code.upper()
        and str(obj.get("party_id", "")).upper() == party_id.upper()
    )


def connector_rating(power_type: str, standard: str, observed_kw: float = 0.0) -> tuple[int, int, int]:
    """Plausible ``(max_voltage, max_amperage, max_electric_power)`` for a connector.

    Picks the smallest standard rating of that power type whose nominal power covers ``observed_kw`` (the
    highest power seen in the connector's CDRs); falls back to the largest rating.
    """
    table = _CHADEMO if standard == "CHADEMO" else _RATINGS.get(power_type, _AC_3_PHASE)
    for nominal_kw, volt, amp, watt in table:
        if observed_kw <= nominal_kw + 1e-9:
            return volt, amp, watt
    _, volt, amp, watt = table[-1]
    return volt, amp, watt


def _site_kind(name: str | None) -> tuple[str | None, tuple[str, ...]]:
    if not name:
        return None, ()
    for prefix, parking_type, facilities in _SITE_KINDS:
        if name.startswith(prefix):
            return parking_type, facilities
    if name.endswith(" Centrum"):
        return "ON_STREET", ()
    return None, ()


def _evse_status(uid: str) -> str:
    return _STATUS_BUCKETS[_crc(uid) % len(_STATUS_BUCKETS)]


def _capabilities(connectors: Sequence[dict[str, Any]]) -> list[str]:
    caps = {"RFID_READER", "REMOTE_START_STOP_CAPABLE"}
    if any(c["format"] == "SOCKET" for c in connectors):
        caps.add("UNLOCK_CAPABLE")
    if any(c["power_type"] == "DC" for c in connectors):
        # AFIR: ad-hoc payment by card on fast chargers.
        caps.update(("CONTACTLESS_CARD_SUPPORT", "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE"))
    else:
        caps.add("CHARGING_PROFILE_CAPABLE")
    return [c for c in _CAPABILITY_ORDER if c in caps]


def _max_power_kw(cdr: dict[str, Any]) -> float:
    best = 0.0
    for period in cdr.get("charging_periods") or ():
        for dim in period.get("dimensions") or ():
            if dim.get("type") in ("MAX_POWER", "MIN_POWER"):
                try:
                    best = max(best, float(dim.get("volume", 0)))
                except (TypeError, ValueError):
                    continue
    return best


class _ConnectorAcc:
    __slots__ = ("id", "standard", "format", "power_type", "tariff_ids", "max_kw")

    def __init__(self, loc: dict[str, Any]) -> None:
        self.id: str = loc["connector_id"]
        self.standard: str = loc["connector_standard"]
        self.format: str = loc["connector_format"]
        self.power_type: str = loc["connector_power_type"]
        self.tariff_ids: set[str] = set()
        self.max_kw = 0.0


class _EvseAcc:
    __slots__ = ("uid", "evse_id", "connectors")

    def __init__(self, loc: dict[str, Any]) -> None:
        self.uid: str = loc["evse_uid"]
        self.evse_id: str | None = loc.get("evse_id")
        self.connectors: dict[str, _ConnectorAcc] = {}


class _LocationAcc:
    __slots__ = ("cdr_location", "country_code", "party_id", "evses", "earliest")

    def __init__(self, cdr: dict[str, Any], start: datetime) -> None:
        self.cdr_location: dict[str, Any] = cdr["cdr_location"]
        self.country_code: str = cdr["country_code"]
        self.party_id: str = cdr["party_id"]
        self.evses: dict[str, _EvseAcc] = {}
        self.earliest = start


def build_locations(
    cdrs: Iterable[dict[str, Any]],
    tariffs: list[dict[str, Any]],
    country_code: str = "NL",
    party_id: str = "EXA",
    flow_tariffs: dict[str, str] = FLOW_TARIFFS,
) -> list[dict[str, Any]]:
    """One OCPI 2.2.1 Location per distinct ``cdr_location.id`` of the CPO's CDRs, sorted by id.

    Address fields, coordinates and name come from the first CDR (in CDR order) at that Location; there is
    an EVSE per distinct ``evse_uid`` and a Connector per distinct ``connector_id`` of that EVSE.  A
    connector's ``tariff_ids`` are the tariff ids found in its CDRs' charging periods that exist in
    ``tariffs`` (for the same party), except in a city of ``flow_tariffs``, where every connector has just
    that city's tariff (when it is in ``tariffs``).  All ``last_updated`` values are the earliest CDR start at the
    Location minus one day, so the demo objects predate every CDR that references them.
    """
    known_tariffs = {
        str(t["id"]).upper(): str(t["id"]) for t in tariffs if _same_party(t, country_code, party_id)
    }
    locations: dict[str, _LocationAcc] = {}
    for cdr in cdrs:
        if not _same_party(cdr, country_code, party_id):
            continue
        loc = cdr["cdr_location"]
        start = _parse_dt(cdr["start_date_time"])
        acc = locations.get(loc["id"])
        if acc is None:
            acc = locations[loc["id"]] = _LocationAcc(cdr, start)
        elif start < acc.earliest:
            acc.earliest = start
        evse_acc = acc.evses.get(loc["evse_uid"])
        if evse_acc is None:
            evse_acc = acc.evses[loc["evse_uid"]] = _EvseAcc(loc)
        conn = evse_acc.connectors.get(loc["connector_id"])
        if conn is None:
            conn = evse_acc.connectors[loc["connector_id"]] = _ConnectorAcc(loc)
        conn.max_kw = max(conn.max_kw, _max_power_kw(cdr))
        for period in cdr.get("charging_periods") or ():
            tid = period.get("tariff_id")
            if tid is not None and str(tid).upper() in known_tariffs:
                conn.tariff_ids.add(known_tariffs[str(tid).upper()])

    out: list[dict[str, Any]] = []
    for loc_id in sorted(locations, key=_natural_key):
        acc = locations[loc_id]
        last_updated = _fmt_dt(acc.earliest - timedelta(days=1))
        src = acc.cdr_location
        flow_tariff = known_tariffs.get(flow_tariffs.get(src["city"], "").upper())
        evses: list[dict[str, Any]] = []
        for uid in sorted(acc.evses, key=_natural_key):
            e = acc.evses[uid]
            connectors: list[dict[str, Any]] = []
            for cid in sorted(e.connectors, key=_natural_key):
                c = e.connectors[cid]
                volt, amp, watt = connector_rating(c.power_type, c.standard, c.max_kw)
                connector: dict[str, Any] = {
                    "id": c.id,
                    "standard": c.standard,
                    "format": c.format,
                    "power_type": c.power_type,
                    "max_voltage": volt,
                    "max_amperage": amp,
                    "max_electric_power": watt,
                }
                if flow_tariff:
                    connector["tariff_ids"] = [flow_tariff]
                elif c.tariff_ids:
                    connector["tariff_ids"] = sorted(c.tariff_ids, key=_natural_key)
                connector["last_updated"] = last_updated
                connectors.append(connector)
            evse: dict[str, Any] = {"uid": e.uid}
            if e.evse_id:
                evse["evse_id"] = e.evse_id
            evse["status"] = _evse_status(e.uid)
            evse["capabilities"] = _capabilities(connectors)
            evse["connectors"] = connectors
            ref = e.uid.rsplit("-", 1)[-1]
            if ref and len(ref) <= 16 and ref != e.uid:
                evse["physical_reference"] = ref
            evse["last_updated"] = last_updated
            evses.append(evse)

        parking_type, facilities = _site_kind(src.get("name"))
        location: dict[str, Any] = {
            "country_code": acc.country_code,
            "party_id": acc.party_id,
            "id": loc_id,
            "publish": True,
        }
        if src.get("name"):
            location["name"] = src["name"]
        location["address"] = src["address"]
        location["city"] = src["city"]
        if src.get("postal_code"):
            location["postal_code"] = src["postal_code"]
        if src.get("state"):
            location["state"] = src["state"]
        location["country"] = src["country"]
        location["coordinates"] = {
            "latitude": src["coordinates"]["latitude"],
            "longitude": src["coordinates"]["longitude"],
        }
        if parking_type:
            location["parking_type"] = parking_type
        location["evses"] = evses
        location["operator"] = dict(OPERATOR)
        if facilities:
            location["facilities"] = list(facilities)
        location["time_zone"] = TIME_ZONE
        location["opening_times"] = {"twentyfourseven": True}
        location["last_updated"] = last_updated
        out.append(location)
    return out


def build_tokens(
    cdrs: Iterable[dict[str, Any]],
    country_code: str = "NL",
    party_id: str = "MSP",
) -> list[dict[str, Any]]:
    """One OCPI 2.2.1 Token per distinct ``cdr_token`` (by uid and type) of the given eMSP, sorted by uid.

    ``uid``, ``type`` and ``contract_id`` come from the CDRs.  Deterministic variety (by position in uid
    order): every 12th token is no longer valid (``last_updated`` = a day after its last CDR ended),
    whitelist is ``ALLOWED`` except every 10th ``ALWAYS``, every 10th (offset 5) ``ALLOWED_OFFLINE`` and every
    10th (offset 8) ``NEVER`` — ``NEVER`` only when no CDR of that token was whitelist-authorized;
    APP_USER/AD_HOC_USER tokens are ``NEVER``.
    Valid tokens have ``last_updated`` = a week before their first CDR started.
    """
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for cdr in cdrs:
        tok = cdr.get("cdr_token")
        if not tok or not _same_party(tok, country_code, party_id):
            continue
        key = (str(tok["uid"]), str(tok.get("type", "RFID")))
        start = _parse_dt(cdr["start_date_time"])
        end = _parse_dt(cdr.get("end_date_time") or cdr["start_date_time"])
        info = seen.get(key)
        if info is None:
            seen[key] = {"tok": tok, "first": start, "last": end, "whitelisted": False}
            info = seen[key]
        else:
            info["first"] = min(info["first"], start)
            info["last"] = max(info["last"], end)
        if cdr.get("auth_method") == "WHITELIST":
            info["whitelisted"] = True

    out: list[dict[str, Any]] = []
    for i, key in enumerate(sorted(seen, key=lambda k: (k[0].upper(), k[1]))):
        info = seen[key]
        tok = info["tok"]
        uid, ttype = key
        valid = i % 12 != 11
        if ttype in ("APP_USER", "AD_HOC_USER"):
            whitelist = "NEVER"
        elif i % 10 == 3:
            whitelist = "ALWAYS"
        elif i % 10 == 5:
            whitelist = "ALLOWED_OFFLINE"
        elif i % 10 == 8 and not info["whitelisted"]:
            whitelist = "NEVER"
        else:
            whitelist = "ALLOWED"
        last_updated = (info["first"] - timedelta(days=7)) if valid else (info["last"] + timedelta(days=1))
        token: dict[str, Any] = {
            "country_code": tok["country_code"],
            "party_id": tok["party_id"],
            "uid": uid,
            "type": ttype,
            "contract_id": tok["contract_id"],
            "visual_number": tok["contract_id"],
            "issuer": TOKEN_ISSUER,
            "valid": valid,
            "whitelist": whitelist,
            "language": "nl",
            "last_updated": _fmt_dt(last_updated),
        }
        out.append(token)
    return out


def read_cdrs(path: Path = CDRS_FILE) -> list[dict[str, Any]]:
    with path.open("r", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_tariffs(path: Path = TARIFFS_FILE) -> list[dict[str, Any]]:
    with path.open("r", encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of Tariff objects")
    return data


def dumps(objects: list[dict[str, Any]]) -> str:
    """The exact text written to the demo files (1-space indent, UTF-8, trailing newline)."""
    return json.dumps(objects, indent=1, ensure_ascii=False) + "\n"


def build_all(
    cdrs_path: Path = CDRS_FILE, tariffs_path: Path = TARIFFS_FILE
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cdrs = read_cdrs(cdrs_path)
    tariffs = read_tariffs(tariffs_path)
    return build_locations(cdrs, tariffs), build_tokens(cdrs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.demo.dataset",
        description="Write the demo locations.json and tokens.json derived from cdrs.jsonl and tariffs.json.",
    )
    parser.add_argument("--cdrs", type=Path, default=CDRS_FILE, help="CDRs, JSON Lines (default: %(default)s)")
    parser.add_argument("--tariffs", type=Path, default=TARIFFS_FILE, help="Tariffs, JSON array")
    parser.add_argument("--locations-out", type=Path, default=LOCATIONS_FILE, help="Locations output file")
    parser.add_argument("--tokens-out", type=Path, default=TOKENS_FILE, help="Tokens output file")
    args = parser.parse_args(argv)

    locations, tokens = build_all(args.cdrs, args.tariffs)
    for path, objs in ((args.locations_out, locations), (args.tokens_out, tokens)):
        path.write_bytes(dumps(objs).encode("utf-8"))
        print(f"wrote {len(objs)} objects to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
