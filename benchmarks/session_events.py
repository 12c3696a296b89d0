"""Generated charging event streams for the session engine benchmarks: N sessions started at once,
then rounds of one meter reading per session (60 s of event time apart), all on one shared tariff
with time-of-day, kWh and power restrictions (so periods are cut as they run)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from app.charging.event_schema import event_decoder

TZ = "Europe/Amsterdam"
T0 = datetime(2025, 1, 10, 15, 0, tzinfo=timezone.utc)
TARIFF = {
    "country_code": "NL", "party_id": "CPO", "id": "BENCH", "currency": "EUR", "last_updated": "2025-01-01T00:00:00Z",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.45", "vat": 21, "step_size": 1}],
         "restrictions": {"start_time": "17:00", "end_time": "20:00"}},
        {"price_components": [{"type": "ENERGY", "price": "0.35", "vat": 21, "step_size": 1}], "restrictions": {"min_power": 22}},
        {"price_components": [{"type": "ENERGY", "price": "0.30", "vat": 21, "step_size": 1}], "restrictions": {"min_kwh": 20}},
        {"price_components": [{"type": "ENERGY", "price": "0.25", "vat": 21, "step_size": 1},
                              {"type": "PARKING_TIME", "price": "3", "vat": 21, "step_size": 300}]},
    ],
}


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def header(sid: str) -> bytes:
    return json.dumps({
        "country_code": "NL", "party_id": "CPO", "id": sid,
        "cdr_token": {"country_code": "NL", "party_id": "EMS", "uid": f"TOK{sid}", "type": "RFID", "contract_id": f"NL-EMS-{sid}"},
        "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR", "time_zone": TZ,
        "cdr_location": {"id": "L1", "address": "Main 1", "city": "Amsterdam", "country": "NLD",
                         "coordinates": {"latitude": "52.37", "longitude": "4.89"}, "evse_uid": "E1", "evse_id": "NL*CPO*E1",
                         "connector_id": "1", "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET",
                         "connector_power_type": "AC_3_PHASE"},
        "tariffs": [TARIFF],
    }).encode()


def starts(n: int) -> tuple[bytes, dict[str, bytes]]:
    lines = [json.dumps({"event_id": f"s{i}", "session_id": f"S{i}", "type": "session_started", "time": ts(T0),
                         "location_id": "L1", "evse_uid": "E1", "connector_id": "1", "token_uid": f"TOK{i}", "meter_wh": 0})
             for i in range(n)]
    return "\n".join(lines).encode(), {f"S{i}": header(f"S{i}") for i in range(n)}


def meter_rounds(n: int, rounds: int, seed: int = 42) -> Iterator[list[bytes]]:
    """Per round, one reading per session (shuffled across sessions); as JSON lines."""
    rnd = random.Random(seed)
    wh = [0] * n
    for k in range(1, rounds + 1):
        t = ts(T0 + timedelta(seconds=60 * k))
        out = []
        for i in range(n):
            power = rnd.choice((7_400, 11_000, 22_000, 50_000, 0))
            wh[i] += power // 60
            state = "CHARGING" if power else "SUSPENDED_EV"
            out.append(json.dumps({"event_id": f"m{i}-{k}", "session_id": f"S{i}", "type": "meter", "time": t,
                                   "meter_wh": wh[i], "power_w": power, "state": state}).encode())
        rnd.shuffle(out)
        yield out


def parse_only(data: bytes) -> int:
    """The baseline every ingest figure is set against: typed msgspec decoding of the same JSON Lines (the event
    schema of app/charging/event_schema.py), nothing applied; returns how many events were read."""
    n = 0
    for line in data.split(b"\n"):
        if line:
            event_decoder.decode(line)
            n += 1
    return n
