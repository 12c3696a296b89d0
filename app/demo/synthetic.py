"""Seeded synthetic OCPI 2.2.1 Locations and Tokens for load tests (standard library only).

Every object is generated from its own ``random.Random`` state, seeded with ``(seed, index)``, so object ``i``
is the same whatever ``n`` and ``start`` are (except ``last_updated``, see below) and generation is cheap
(~50,000 Locations in well under a few seconds).

``last_updated`` grows with the index: the id range ``1 .. total`` (default ``total = start + n - 1``) is spread
evenly over 2025-01-01 .. 2026-12-31 (UTC), one-second resolution, with jitter that never breaks the order,
so ``date_from`` / ``date_to`` windows select proportional, contiguous slices of the ids.  Pass the same
``total`` to several calls (with different ``start``) to generate consistent batches.

CLI::

    python -m app.demo.synthetic --locations 50000 --out locations.json
    python -m app.demo.synthetic --tokens 100000 --jsonl --out tokens.jsonl
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

__all__ = ["DEFAULT_TARIFF_IDS", "iter_locations", "iter_tokens", "main"]

DEFAULT_TARIFF_IDS: tuple[str, ...] = tuple(f"TRF-{i:04d}" for i in range(1, 41))

_T0 = calendar.timegm((2025, 1, 1, 0, 0, 0, 0, 0, 0))
_T1 = calendar.timegm((2027, 1, 1, 0, 0, 0, 0, 0, 0))
_SPAN = _T1 - _T0
_DT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# --------------------------------------------------------------------------------------------------------------
# Small built-in geography: (city, latitude, longitude, postal code prefix / list of postal codes)
# --------------------------------------------------------------------------------------------------------------
_NL_CITIES: tuple[tuple[str, float, float, str], ...] = (
    ("Amsterdam", 52.3676, 4.9041, "10"),
    ("Rotterdam", 51.9244, 4.4777, "30"),
    ("Den Haag", 52.0705, 4.3007, "25"),
    ("Utrecht", 52.0907, 5.1214, "35"),
    ("Eindhoven", 51.4416, 5.4697, "56"),
    ("Groningen", 53.2194, 6.5665, "97"),
    ("Tilburg", 51.5555, 5.0913, "50"),
    ("Almere", 52.3508, 5.2647, "13"),
    ("Breda", 51.5719, 4.7683, "48"),
    ("Nijmegen", 51.8126, 5.8372, "65"),
    ("Apeldoorn", 52.2112, 5.9699, "73"),
    ("Haarlem", 52.3874, 4.6462, "20"),
    ("Arnhem", 51.9851, 5.8987, "68"),
    ("Enschede", 52.2215, 6.8937, "75"),
    ("Amersfoort", 52.1561, 5.3878, "38"),
    ("Zwolle", 52.5168, 6.0830, "80"),
    ("Leeuwarden", 53.2012, 5.7999, "89"),
    ("Maastricht", 50.8514, 5.6910, "62"),
    ("'s-Hertogenbosch", 51.6978, 5.3037, "52"),
    ("Delft", 52.0116, 4.3571, "26"),
    ("Leiden", 52.1601, 4.4970, "23"),
    ("Zaandam", 52.4420, 4.8292, "15"),
)
_BE_CITIES: tuple[tuple[str, float, float, tuple[str, ...]], ...] = (
    ("Brussel", 50.8503, 4.3517, ("1000", "1020", "1030", "1040", "1050", "1060", "1080")),
    ("Antwerpen", 51.2194, 4.4025, ("2000", "2018", "2020", "2030", "2060")),
    ("Gent", 51.0543, 3.7174, ("9000", "9030", "9040", "9050")),
    ("Brugge", 51.2093, 3.2247, ("8000", "8200", "8310")),
    ("Leuven", 50.8798, 4.7005, ("3000", "3001", "3010", "3012")),
    ("Liège", 50.6326, 5.5797, ("4000", "4020", "4030")),
    ("Namur", 50.4674, 4.8718, ("5000", "5020", "5100")),
    ("Hasselt", 50.9307, 5.3325, ("3500", "3510", "3511")),
    ("Mechelen", 51.0259, 4.4776, ("2800", "2801", "2811")),
    ("Charleroi", 50.4108, 4.4446, ("6000", "6001", "6010")),
    ("Kortrijk", 50.8279, 3.2650, ("8500", "8501", "8510")),
)
_DE_CITIES: tuple[tuple[str, float, float, str], ...] = (
    ("Berlin", 52.5200, 13.4050, "10"),
    ("Hamburg", 53.5511, 9.9937, "20"),
    ("München", 48.1351, 11.5820, "80"),
    ("Köln", 50.9375, 6.9603, "50"),
    ("Frankfurt am Main", 50.1109, 8.6821, "60"),
    ("Düsseldorf", 51.2277, 6.7735, "40"),
    ("Aachen", 50.7753, 6.0839, "52"),
    ("Dortmund", 51.5136, 7.4653, "44"),
    ("Essen", 51.4556, 7.0116, "45"),
    ("Münster", 51.9607, 7.6261, "48"),
    ("Stuttgart", 48.7758, 9.1829, "70"),
    ("Hannover", 52.3759, 9.7320, "30"),
    ("Bremen", 53.0793, 8.8017, "28"),
    ("Leipzig", 51.3397, 12.3731, "04"),
    ("Duisburg", 51.4344, 6.7623, "47"),
    ("Osnabrück", 52.2799, 8.0472, "49"),
)
_NL_STREETS = (
    "Kerkstraat", "Stationsweg", "Dorpsstraat", "Molenweg", "Schoolstraat", "Hoofdstraat", "Nieuwstraat",
    "Julianastraat", "Wilhelminastraat", "Beatrixlaan", "Marktplein", "Industrieweg", "Parallelweg",
    "Kastanjelaan", "Eikenlaan", "Havenkade", "Prins Hendrikkade", "Stationsplein", "Van Heutszstraat",
    "Brouwersgracht", "Oranjelaan", "Burgemeester de Withstraat", "Zuiderpark", "Lindelaan", "Rembrandtlaan",
)
_BE_STREETS = (
    "Kerkstraat", "Stationsstraat", "Grote Markt", "Nieuwstraat", "Dorpsstraat", "Molenstraat", "Meir",
    "Kapelstraat", "Steenweg", "Leuvensesteenweg", "Rue de la Station", "Rue Haute", "Chaussée de Bruxelles",
    "Avenue Louise", "Rue de l'Église", "Place du Marché", "Boulevard d'Avroy", "Rue des Guillemins",
)
_DE_STREETS = (
    "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Berliner Straße",
    "Lindenstraße", "Goethestraße", "Schillerstraße", "Kirchstraße", "Friedrichstraße", "Am Markt",
    "Industriestraße", "Parkstraße", "Mühlenweg", "Ringstraße", "Waldstraße", "Kaiserstraße",
)
_NL_POSTAL_LETTERS1 = "ABCDEGHJKLMNPRTVWXZ"
_NL_POSTAL_LETTERS2 = "ABCDEGHJKLMNPRSTVWXZ"

_COUNTRIES = (
    # code, alpha-3, time zone, cities, streets, languages
    ("NL", "NLD", "Europe/Amsterdam", _NL_CITIES, _NL_STREETS, "nl"),
    ("BE", "BEL", "Europe/Brussels", _BE_CITIES, _BE_STREETS, "nl"),
    ("DE", "DEU", "Europe/Berlin", _DE_CITIES, _DE_STREETS, "de"),
)
_COUNTRY_CUM = (60, 80, 100)

# --------------------------------------------------------------------------------------------------------------
# Site kinds: (kind, parking_type, min EVSEs, max EVSEs, DC share, facility pool, hours template or None)
# --------------------------------------------------------------------------------------------------------------
_KINDS: tuple[tuple[str, str, int, int, float, tuple[str, ...], str | None], ...] = (
    ("street", "ON_STREET", 1, 2, 0.0, ("BUS_STOP", "TRAM_STOP", "CAFE", "SUPERMARKET"), None),
    ("garage", "PARKING_GARAGE", 2, 6, 0.05, ("MALL", "METRO_STATION", "TRAIN_STATION", "WIFI"), "garage"),
    ("underground", "UNDERGROUND_GARAGE", 2, 6, 0.0, ("MALL", "HOTEL", "MUSEUM"), "garage"),
    ("lot", "PARKING_LOT", 1, 4, 0.15, ("SPORT", "RECREATION_AREA", "NATURE", "BIKE_SHARING"), None),
    ("pr", "PARKING_LOT", 2, 6, 0.1, ("PARKING_LOT", "BUS_STOP", "TRAIN_STATION", "CARPOOL_PARKING"), None),
    ("retail", "PARKING_LOT", 1, 4, 0.35, ("SUPERMARKET", "MALL", "CAFE", "WIFI"), "retail"),
    ("hotel", "PARKING_LOT", 1, 3, 0.1, ("HOTEL", "RESTAURANT", "WIFI"), None),
    ("hpc", "ALONG_MOTORWAY", 2, 6, 1.0, ("FUEL_STATION", "RESTAURANT", "CAFE", "WIFI"), None),
    ("depot", "ON_DRIVEWAY", 1, 2, 0.0, (), "office"),
)
_KIND_CUM = (30, 40, 44, 58, 64, 76, 82, 96, 100)
_EVSE_COUNT_WEIGHTS = {  # weights for (min..max) EVSE counts, skewed to small sites
    (1, 2): (70, 30),
    (1, 3): (55, 35, 10),
    (1, 4): (45, 35, 12, 8),
    (2, 6): (40, 25, 15, 10, 10),
}
_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "NL": {
        "street": ("Gemeente {city} – {street}", "{city} {street}"),
        "garage": ("Parkeergarage {street}", "Parkeergarage {city} Centrum"),
        "underground": ("Parkeerkelder {street}", "Parkeerkelder {city} Centrum"),
        "lot": ("Parkeerterrein {street}", "Sportpark {street}", "Laadplein {street}"),
        "pr": ("P+R {city}", "P+R {city} Station"),
        "retail": ("Supermarkt {street}", "Winkelcentrum {street}"),
        "hotel": ("Hotel {city}", "Hotel {street}"),
        "hpc": ("Snellaadplein {city} {dir}", "HPC Hub {city}", "Laadplein A{road} {dir}"),
        "depot": ("Bedrijventerrein {street}", "Kantoor {street}"),
    },
    "BE": {
        "street": ("Stad {city} – {street}", "{city} {street}"),
        "garage": ("Parking {street}", "Parking {city} Centrum"),
        "underground": ("Ondergrondse parking {street}", "Parking souterrain {street}"),
        "lot": ("Parking {street}", "Sportcentrum {street}"),
        "pr": ("P+R {city}", "Park & Ride {city} Station"),
        "retail": ("Supermarkt {street}", "Shopping {city}"),
        "hotel": ("Hotel {city}", "Hotel {street}"),
        "hpc": ("Snellaadstation {city} {dir}", "Laadpark E{road} {dir}"),
        "depot": ("Bedrijvenpark {street}", "Kantoor {street}"),
    },
    "DE": {
        "street": ("Stadt {city} – {street}", "{city} {street}"),
        "garage": ("Parkhaus {street}", "Parkhaus {city} Zentrum"),
        "underground": ("Tiefgarage {street}", "Tiefgarage {city} Mitte"),
        "lot": ("Parkplatz {street}", "Sportpark {street}"),
        "pr": ("P+R {city}", "P+R {city} Hbf"),
        "retail": ("Supermarkt {street}", "Einkaufszentrum {city}"),
        "hotel": ("Hotel {city}", "Hotel {street}"),
        "hpc": ("Schnellladepark {city} {dir}", "Autohof A{road} {dir}"),
        "depot": ("Gewerbepark {street}", "Büro {street}"),
    },
}
_DIRECTIONS = {
    "NL": ("Noord", "Oost", "Zuid", "West"),
    "BE": ("Noord", "Oost", "Zuid", "West"),
    "DE": ("Nord", "Ost", "Süd", "West"),
}
_OPERATORS: tuple[tuple[str, str | None], ...] = (
    ("EXA Charging", "https://www.example.com/exa"),
    ("Laadnet Nederland", "https://laadnet.example.nl"),
    ("VoltWay", "https://voltway.example.com"),
    ("GreenPlug Benelux", None),
    ("Stromnetz Laden GmbH", "https://laden.example.de"),
)
_OWNERS = ("Gemeente", "Parkeerbedrijf", "Vastgoed", "Retail Holding")
_ENERGY_SUPPLIERS = (
    ("Windstroom Noord", "100% Hollandse Wind", (("WIND", 100.0),)),
    ("ZonneKracht", "Zon & Wind", (("SOLAR", 45.0), ("WIND", 55.0))),
    ("GrünStrom AG", "ÖkoStrom Plus", (("WATER", 30.0), ("WIND", 50.0), ("SOLAR", 20.0))),
)

# Status weights (cumulative over 100).
_STATUSES = ("AVAILABLE", "CHARGING", "BLOCKED", "RESERVED", "OUTOFORDER", "INOPERATIVE", "UNKNOWN", "PLANNED",
             "REMOVED")
_STATUS_CUM = (60, 85, 87, 88, 92, 94, 98, 99, 100)

# AC connector variants: (standard, format, power_type, max_voltage, max_amperage, max_electric_power), cum %
_AC_CONNECTORS = (
    ("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 16, 11040),
    ("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 230, 32, 22080),
    ("IEC_62196_T2", "CABLE", "AC_3_PHASE", 230, 32, 22080),
    ("IEC_62196_T2", "SOCKET", "AC_1_PHASE", 230, 32, 7360),
    ("IEC_62196_T2", "CABLE", "AC_1_PHASE", 230, 16, 3680),
)
_AC_CUM = (45, 75, 85, 95, 100)
_DC_CONNECTORS = (
    ("IEC_62196_T2_COMBO", "CABLE", "DC", 500, 125, 50000),
    ("IEC_62196_T2_COMBO", "CABLE", "DC", 920, 250, 150000),
    ("IEC_62196_T2_COMBO", "CABLE", "DC", 920, 400, 300000),
    ("IEC_62196_T2_COMBO", "CABLE", "DC", 920, 500, 350000),
)
_DC_CUM = (25, 60, 80, 100)
_CHADEMO = ("CHADEMO", "CABLE", "DC", 500, 125, 50000)
_AC43 = ("IEC_62196_T2", "CABLE", "AC_3_PHASE", 230, 63, 43470)

_HOURS = {
    "retail": (((1, 2, 3, 4, 5, 6), "08:00", "21:00"), ((7,), "12:00", "18:00")),
    "garage": (((1, 2, 3, 4, 5, 6, 7), "06:00", "23:30"),),
    "office": (((1, 2, 3, 4, 5), "07:00", "19:00"),),
}


def _fmt_ts(ts: int, _gm: Any = time.gmtime, _f: Any = time.strftime) -> str:
    return _f(_DT_FORMAT, _gm(ts))


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[int]) -> Any:
    r = rng.random() * cum[-1]
    for item, c in zip(items, cum):
        if r < c:
            return item
    return items[-1]


def _timestamps(index: int, total: int, rng: random.Random) -> int:
    """Location/Token ``last_updated`` for 1-based ``index`` of ``total``: non-decreasing in index."""
    step = _SPAN / total
    base = _T0 + int((index - 1) * step)
    room = int(step) - 1
    return base + (rng.randrange(room) if room > 1 else 0)


def _seed(seed: int, index: int, salt: int) -> int:
    return (seed * 0x9E3779B1 + index) * 4 + salt


def _rating_dict(conn: tuple[str, str, str, int, int, int], cid: str) -> dict[str, Any]:
    return {
        "id": cid,
        "standard": conn[0],
        "format": conn[1],
        "power_type": conn[2],
        "max_voltage": conn[3],
        "max_amperage": conn[4],
        "max_electric_power": conn[5],
    }


def _location(
    rng: random.Random,
    num: int,
    t_loc: int,
    country_code: str,
    party_id: str,
    tariff_ids: Sequence[str],
) -> dict[str, Any]:
    rand = rng.random

    def randrange(a: int, b: int | None = None) -> int:
        # int(random() * k) is ~10x faster than Random.randrange and plenty uniform for k << 2**53
        if b is None:
            return int(rand() * a)
        return a + int(rand() * (b - a))

    def choice(seq: Sequence[Any]) -> Any:
        return seq[int(rand() * len(seq))]

    cc, alpha3, tz, cities, streets, lang = _pick(rng, _COUNTRIES, _COUNTRY_CUM)
    city, clat, clon, postal = choice(cities)
    street = choice(streets)
    kind, parking_type, emin, emax, dc_share, fac_pool, hours = _pick(rng, _KINDS, _KIND_CUM)

    if cc == "NL":
        postal_code = (
            f"{postal}{randrange(100):02d} {choice(_NL_POSTAL_LETTERS1)}{choice(_NL_POSTAL_LETTERS2)}"
        )
    elif cc == "BE":
        postal_code = choice(postal)
    else:
        postal_code = f"{postal}{randrange(1000):03d}"

    name = choice(_NAMES[cc][kind]).format(
        city=city, street=street, dir=choice(_DIRECTIONS[cc]), road=randrange(1, 80)
    )
    loc_id = f"LOC-{num:06d}"
    ccu = country_code.upper()
    pidu = party_id.upper()

    # EVSEs
    weights = _EVSE_COUNT_WEIGHTS[(emin, emax)]
    n_evse = emin + _pick(rng, range(len(weights)), _cum(weights))
    ac_tariff = choice(tariff_ids) if tariff_ids else None
    dc_tariff = choice(tariff_ids) if tariff_ids else None
    garage = parking_type in ("PARKING_GARAGE", "UNDERGROUND_GARAGE")
    floor = ("-1", "-2", "0", "1", "2")[randrange(5)] if garage else None
    restrictions: list[str] | None = None
    r = rand()
    if kind in ("retail", "hotel") and r < 0.5:
        restrictions = ["CUSTOMERS"]
    elif r < 0.3:
        restrictions = ["EV_ONLY"]
    evses: list[dict[str, Any]] = []
    t_max = _T0
    for k in range(1, n_evse + 1):
        t_evse = max(_T0, t_loc - randrange(0, 30 * 86400))
        if t_evse > t_max:
            t_max = t_evse
        ts = _fmt_ts(t_evse)
        is_dc = rand() < dc_share
        if is_dc:
            main = _pick(rng, _DC_CONNECTORS, _DC_CUM)
            connectors = [_rating_dict(main, "1")]
            r2 = rand()
            if main[5] <= 50000 and r2 < 0.6:
                connectors.append(_rating_dict(_CHADEMO, "2"))
            elif r2 < 0.15:
                connectors.append(_rating_dict(_AC43, "2"))
            tariff = dc_tariff
        else:
            main = _pick(rng, _AC_CONNECTORS, _AC_CUM)
            connectors = [_rating_dict(main, "1")]
            if main[1] == "SOCKET" and rand() < 0.15:
                dom = "DOMESTIC_E" if cc == "BE" else "DOMESTIC_F"
                connectors.append(
                    {"id": "2", "standard": dom, "format": "SOCKET", "power_type": "AC_1_PHASE",
                     "max_voltage": 230, "max_amperage": 16, "max_electric_power": 3680}
                )
            tariff = ac_tariff
        for c in connectors:
            if tariff is not None:
                c["tariff_ids"] = [tariff]
            c["last_updated"] = ts
        if is_dc:
            caps = ["CONTACTLESS_CARD_SUPPORT", "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE",
                    "REMOTE_START_STOP_CAPABLE", "RFID_READER"]
        elif connectors[0]["format"] == "SOCKET":
            caps = ["CHARGING_PROFILE_CAPABLE", "REMOTE_START_STOP_CAPABLE", "RFID_READER", "UNLOCK_CAPABLE"]
        else:
            caps = ["CHARGING_PROFILE_CAPABLE", "REMOTE_START_STOP_CAPABLE", "RFID_READER"]
        if rand() < 0.1:
            caps.append("RESERVABLE")
            caps.sort()
        status = _pick(rng, _STATUSES, _STATUS_CUM)
        evse: dict[str, Any] = {"uid": f"{loc_id}-{k}"}
        if status != "REMOVED":
            evse["evse_id"] = f"{ccu}*{pidu}*E{num:06d}*{k}"
        evse["status"] = status
        evse["capabilities"] = caps
        evse["connectors"] = connectors
        if floor is not None:
            evse["floor_level"] = floor
        evse["physical_reference"] = f"{k:02d}" if n_evse > 1 else "1"
        if restrictions is not None:
            evse["parking_restrictions"] = list(restrictions)
        evse["last_updated"] = ts
        evses.append(evse)

    lat = clat + (rand() - 0.5) * 0.08
    lon = clon + (rand() - 0.5) * 0.12
    publish = rand() >= 0.02
    loc: dict[str, Any] = {
        "country_code": ccu,
        "party_id": pidu,
        "id": loc_id,
        "publish": publish,
    }
    if not publish:
        loc["publish_allowed_to"] = [{"group_id": f"FLEET-{randrange(1, 1000):04d}"}]
    loc["name"] = name
    loc["address"] = f"{street} {randrange(1, 300)}"
    loc["city"] = city
    loc["postal_code"] = postal_code
    loc["country"] = alpha3
    loc["coordinates"] = {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"}
    loc["parking_type"] = parking_type
    loc["evses"] = evses
    if garage and rand() < 0.5:
        text = {"nl": "Ingang via de {s}, laadpunten op niveau {f}",
                "de": "Einfahrt über die {s}, Ladepunkte auf Ebene {f}"}[lang]
        loc["directions"] = [{"language": lang, "text": text.format(s=street, f=floor)}]
    op_name, op_site = _OPERATORS[0] if rand() < 0.6 else choice(_OPERATORS)
    operator: dict[str, Any] = {"name": op_name}
    if op_site:
        operator["website"] = op_site
    loc["operator"] = operator
    if kind in ("street", "garage", "pr") and rand() < 0.4:
        loc["owner"] = {"name": f"{_OWNERS[0] if kind == 'street' else choice(_OWNERS)} {city}"}
    n_fac = randrange(0, 4) if fac_pool else 0
    if n_fac:
        loc["facilities"] = rng.sample(fac_pool, min(n_fac, len(fac_pool)))
    loc["time_zone"] = tz
    if hours is not None and rand() < 0.7:
        loc["opening_times"] = {
            "twentyfourseven": False,
            "regular_hours": [
                {"weekday": d, "period_begin": b, "period_end": e} for days, b, e in _HOURS[hours] for d in days
            ],
        }
        loc["charging_when_closed"] = rand() < 0.5
    elif rand() < 0.85:
        loc["opening_times"] = {"twentyfourseven": True}
    if rand() < 0.25:
        supplier, product, sources = choice(_ENERGY_SUPPLIERS)
        loc["energy_mix"] = {
            "is_green_energy": True,
            "energy_sources": [{"source": s, "percentage": p} for s, p in sources],
            "supplier_name": supplier,
            "energy_product_name": product,
        }
    loc["last_updated"] = _fmt_ts(max(t_loc, t_max))
    return loc


_CUM_CACHE: dict[tuple[int, ...], tuple[int, ...]] = {}


def _cum(weights: tuple[int, ...]) -> tuple[int, ...]:
    cum = _CUM_CACHE.get(weights)
    if cum is None:
        acc = 0
        out = []
        for w in weights:
            acc += w
            out.append(acc)
        cum = _CUM_CACHE[weights] = tuple(out)
    return cum


def iter_locations(
    n: int,
    seed: int = 7,
    country_code: str = "NL",
    party_id: str = "EXA",
    tariff_ids: Sequence[str] = DEFAULT_TARIFF_IDS,
    start: int = 1,
    total: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` OCPI 2.2.1 Locations with ids ``LOC-%06d`` from ``start`` (1-based).

    Each Location has 1–6 EVSEs with 1–2 Connectors; connectors reference one of ``tariff_ids`` (AC and DC
    tariffs chosen per site).  ``total`` is the id count spread over 2025–2026 for ``last_updated``
    (default ``start + n - 1``).
    """
    if n < 0 or start < 1:
        raise ValueError("n must be >= 0 and start >= 1")
    tot = max(total if total is not None else start + n - 1, 1)
    rng = random.Random()
    tids = tuple(tariff_ids)
    for num in range(start, start + n):
        rng.seed(_seed(seed, num, 1))
        t_loc = _timestamps(num, max(tot, num), rng)
        yield _location(rng, num, t_loc, country_code, party_id, tids)


# --------------------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------------------
_MASK56 = (1 << 56) - 1
_TOKEN_TYPES = ("RFID", "APP_USER", "AD_HOC_USER", "OTHER")
_TOKEN_TYPE_CUM = (85, 95, 98, 100)
_WHITELIST = ("ALLOWED", "ALWAYS", "ALLOWED_OFFLINE", "NEVER")
_WHITELIST_CUM = (70, 85, 95, 100)
_LANGUAGES = ("nl", "en", "de", "fr")
_LANGUAGE_CUM = (70, 85, 95, 100)
_PROFILES = ("CHEAP", "FAST", "GREEN", "REGULAR")
_CHECK_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_UID_PREFIX = {"APP_USER": "APP", "AD_HOC_USER": "ADHOC", "OTHER": "OTH"}


def _perm56(i: int, key: int) -> int:
    """A bijection on 56-bit integers (odd multiplier, then xor): distinct ``i`` give distinct uids."""
    return ((i * 0x9E3779B97F4A7C15) & _MASK56) ^ key


def iter_tokens(
    n: int,
    seed: int = 7,
    country_code: str = "NL",
    party_id: str = "MSP",
    start: int = 1,
    total: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` OCPI 2.2.1 Tokens of eMSP ``country_code``/``party_id`` with unique uids and contract ids.

    Mostly RFID (7-byte hex uid), some APP_USER / AD_HOC_USER (whitelist NEVER) / OTHER; ~4% not valid.
    ``last_updated`` grows with the index like Locations.  Supports up to 10**8 tokens per seed.
    """
    if n < 0 or start < 1:
        raise ValueError("n must be >= 0 and start >= 1")
    if start + n - 1 > 10**8:
        raise ValueError("at most 10**8 tokens (contract ids are 8 digits)")
    tot = max(total if total is not None else start + n - 1, 1)
    ccu = country_code.upper()
    pidu = party_id.upper()
    key_rng = random.Random(_seed(seed, 0, 2))
    uid_key = key_rng.getrandbits(56)
    contract_key = key_rng.randrange(10**8)
    issuer = f"{pidu} Mobility"
    rng = random.Random()
    for num in range(start, start + n):
        rng.seed(_seed(seed, num, 2))
        rand = rng.random
        t = _timestamps(num, max(tot, num), rng)
        ttype = _pick(rng, _TOKEN_TYPES, _TOKEN_TYPE_CUM)
        p = _perm56(num, uid_key)
        if ttype == "RFID":
            uid = f"{p:014X}"
        else:
            uid = f"{_UID_PREFIX[ttype]}-{p:014x}"
        contract_no = (num * 7919993 + contract_key) % 10**8
        contract_id = f"{ccu}-{pidu}-C{contract_no:08d}-{_CHECK_CHARS[rng.randrange(36)]}"
        token: dict[str, Any] = {
            "country_code": ccu,
            "party_id": pidu,
            "uid": uid,
            "type": ttype,
            "contract_id": contract_id,
        }
        if ttype == "RFID":
            token["visual_number"] = contract_id
        token["issuer"] = issuer
        if rand() < 0.1:
            token["group_id"] = f"{ccu}{pidu}FLEET{rng.randrange(1, 1000):04d}"
        token["valid"] = rand() >= 0.04
        token["whitelist"] = "NEVER" if ttype in ("APP_USER", "AD_HOC_USER") else _pick(
            rng, _WHITELIST, _WHITELIST_CUM
        )
        token["language"] = _pick(rng, _LANGUAGES, _LANGUAGE_CUM)
        if rand() < 0.1:
            token["default_profile_type"] = _PROFILES[rng.randrange(4)]
        if rand() < 0.05:
            token["energy_contract"] = {"supplier_name": "Windstroom Noord", "contract_id": f"WN{contract_no:08d}"}
        token["last_updated"] = _fmt_ts(t)
        yield token


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------
def _write(objs: Iterator[dict[str, Any]], out: IO[str], jsonl: bool) -> int:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    count = 0
    if jsonl:
        for obj in objs:
            out.write(dumps(obj))
            out.write("\n")
            count += 1
        return count
    out.write("[")
    for obj in objs:
        out.write(",\n" if count else "\n")
        out.write(dumps(obj))
        count += 1
    out.write("\n]\n")
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.demo.synthetic",
        description="Generate seeded synthetic OCPI 2.2.1 Locations or Tokens (deterministic for a seed).",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--locations", type=int, metavar="N", help="generate N Locations (ids LOC-%%06d)")
    what.add_argument("--tokens", type=int, metavar="N", help="generate N Tokens")
    parser.add_argument("--out", default="-", metavar="FILE", help="output file ('-' = stdout, the default)")
    parser.add_argument("--jsonl", action="store_true", help="write JSON Lines instead of a JSON array")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    parser.add_argument("--start", type=int, default=1, help="first index (default: %(default)s)")
    parser.add_argument("--total", type=int, default=None,
                        help="index count spread over 2025-2026 for last_updated (default: start+N-1)")
    parser.add_argument("--country-code", default="NL", help="owner country code (default: %(default)s)")
    parser.add_argument("--party-id", default=None, help="owner party id (default: EXA for locations, MSP for tokens)")
    parser.add_argument("--tariff-ids", default=None,
                        help="comma-separated tariff ids for connectors (default: TRF-0001..TRF-0040)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    objs: Iterator[dict[str, Any]]
    if args.locations is not None:
        tariff_ids = DEFAULT_TARIFF_IDS if args.tariff_ids is None else tuple(
            t.strip() for t in args.tariff_ids.split(",") if t.strip()
        )
        objs = iter_locations(args.locations, seed=args.seed, country_code=args.country_code,
                              party_id=args.party_id or "EXA", tariff_ids=tariff_ids, start=args.start,
                              total=args.total)
        label = "locations"
    else:
        objs = iter_tokens(args.tokens, seed=args.seed, country_code=args.country_code,
                           party_id=args.party_id or "MSP", start=args.start, total=args.total)
        label = "tokens"
    try:
        if args.out == "-":
            count = _write(objs, sys.stdout, args.jsonl)
            sys.stdout.flush()
        else:
            with open(args.out, "w", encoding="utf-8", newline="\n") as f:
                count = _write(objs, f, args.jsonl)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {count} {label} to {args.out} in {time.perf_counter() - t0:.2f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
