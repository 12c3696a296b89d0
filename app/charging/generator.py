"""Seeded charging-event streams (contract §1 format) for demos, tests and benchmarks.

`generate(connectors, tokens, options)` yields JSON Lines: the events of `options.sessions` sessions on the given
connectors and tokens, interleaved across sessions in time order, then shuffled within a bounded window; same
inputs and options, same bytes. Sessions run in `concurrency` lanes: a lane runs its sessions one after another
with an idle gap, so at most `concurrency` sessions overlap, and no connector ever has two at once.

Per session: a vehicle (AC and DC power limits) on a free connector, an energy need, charging at
min(connector, vehicle) power — constant, or a DC-like taper — with a `meter` reading every `meter_interval`
seconds, optionally a parking tail (`SUSPENDED_EV` readings once the battery is full), then `session_stopped`.
A share of sessions is placed so that `cross_time` local (17:00, where the demo tariff changes price) falls
inside the charging; every other session is placed so that it does not cross it at all. Energy is computed in
whole Wh with integer arithmetic; each connector's meter register carries on from session to session.

Injected on request: duplicates (an event repeated byte for byte, a little later), out-of-order delivery (an
event delayed by at most `shuffle_window` seconds, never past its session's stop), and bad events, each an extra
event carrying `"_bad_field": FIELD`, the field the service must name when it refuses it (unknown fields are
ignored by the format, so the marker itself is harmless).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec

DEMO_DATA = Path(__file__).resolve().parent.parent / "demo" / "data"
USABLE_EVSE_STATUSES = frozenset({"AVAILABLE", "CHARGING"})
PowerProfile = Literal["auto", "constant", "taper"]
POWER_PROFILES: tuple[PowerProfile, ...] = ("auto", "constant", "taper")

# (AC limit W, DC limit W) of the vehicles drawn per session.
VEHICLES = ((7_400, 50_000), (11_000, 120_000), (11_000, 170_000), (22_000, 250_000))
AC_VOLTS = 230
DC_VOLTS = 400
MAX_CHARGE_SECONDS = 16 * 3600  # bounds every session well below a day (one crossing decision per day)
TAPER_FULL_FIFTHS = 3  # taper: full power for the first 3/5 of the charge, then down to 30 % at the end
_encode = msgspec.json.Encoder(decimal_format="number").encode


@dataclass(frozen=True, slots=True)
class Connector:
    """One connector of one of our Locations, as the events name it."""

    country_code: str
    party_id: str
    location_id: str
    evse_uid: str
    connector_id: str
    power_type: str
    max_power_w: int
    time_zone: str


@dataclass(frozen=True, slots=True)
class TokenRef:
    uid: str
    type: str = "RFID"


@dataclass(frozen=True, slots=True)
class Options:
    sessions: int = 100
    seed: int = 1
    start: datetime = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday 13:00 in Amsterdam
    meter_interval: int = 300  # seconds between readings
    power_profile: PowerProfile = "auto"  # auto: AC constant, DC taper
    min_kwh: int = 5
    max_kwh: int = 45
    parking_share: float = 0.3  # sessions with a SUSPENDED_EV tail after the battery is full
    parking_minutes: tuple[int, int] = (15, 120)
    cross_share: float = 0.25  # sessions charging across `cross_time` local; the others do not cross it
    cross_time: time = time(17, 0)
    concurrency: int = 10  # lanes: at most this many sessions overlap
    shuffle_window: int = 0  # seconds an event may be delivered late (0: in time order)
    shuffle_share: float = 0.2  # share of events delivered late when shuffle_window > 0
    duplicate_share: float = 0.0
    bad_share: float = 0.0  # extra bad events, per good event
    id_prefix: str | None = None  # default: derived from the options, so different runs do not share ids
    # Only the events delivered in [deliver_from, deliver_until): one stream split into files replayed one after
    # the other (the first leaves sessions running). Not part of the id prefix: the parts share their sessions.
    deliver_from: datetime | None = None
    deliver_until: datetime | None = None

    def check(self) -> None:
        """ValueError naming the option when one is out of range."""
        shares = {"parking_share": self.parking_share, "cross_share": self.cross_share,
                  "shuffle_share": self.shuffle_share, "duplicate_share": self.duplicate_share,
                  "bad_share": self.bad_share}
        for name, value in shares.items():
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.sessions < 0:
            raise ValueError("sessions must be >= 0")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.meter_interval < 1:
            raise ValueError("meter_interval must be >= 1 second")
        if not 0 < self.min_kwh <= self.max_kwh:
            raise ValueError("min_kwh and max_kwh: need 0 < min_kwh <= max_kwh")
        if not 0 <= self.parking_minutes[0] <= self.parking_minutes[1] <= 24 * 60:
            raise ValueError("parking_minutes: need 0 <= min <= max <= 1440")
        if self.shuffle_window < 0:
            raise ValueError("shuffle_window must be >= 0")
        for name in ("start", "deliver_from", "deliver_until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a UTC offset")
        if self.power_profile not in POWER_PROFILES:
            raise ValueError(f"power_profile must be one of {', '.join(POWER_PROFILES)}")
        if self.id_prefix is not None and not 0 < len(self.id_prefix) <= 20:
            raise ValueError("id_prefix: 1 to 20 characters")

    def prefix(self) -> str:
        if self.id_prefix:
            return self.id_prefix
        described = {k: str(v) for k, v in asdict(self).items()
                     if k not in ("id_prefix", "deliver_from", "deliver_until")}
        return "G" + hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(slots=True)
class Summary:
    sessions: int = 0
    events: int = 0  # lines written, duplicates and bad events included
    duplicates: int = 0
    bad: int = 0
    delayed: int = 0
    crossing: int = 0
    parking: int = 0
    bad_fields: dict[str, int] = field(default_factory=dict)


# --- inputs ------------------------------------------------------------------------------------------------

def connectors_of(locations: Iterable[dict[str, Any]], *, city: str | None = None,
                  statuses: frozenset[str] = USABLE_EVSE_STATUSES) -> list[Connector]:
    """The connectors of `locations` (OCPI Location objects) in `city` (any when None), on EVSEs in `statuses`."""
    out = []
    for loc in locations:
        if city is not None and loc.get("city") != city:
            continue
        for evse in loc.get("evses") or ():
            if evse.get("status") not in statuses:
                continue
            for c in evse.get("connectors") or ():
                power = c.get("max_electric_power") or c["max_voltage"] * c["max_amperage"] * _phases(c["power_type"])
                out.append(Connector(loc["country_code"], loc["party_id"], loc["id"], evse["uid"], c["id"],
                                     c["power_type"], int(power), loc.get("time_zone") or "UTC"))
    return out


def tokens_of(tokens: Iterable[dict[str, Any]], *, valid_only: bool = True) -> list[TokenRef]:
    return [TokenRef(t["uid"], t.get("type", "RFID")) for t in tokens if t.get("valid", True) or not valid_only]


def read_objects(path: Path) -> list[dict[str, Any]]:
    """A JSON array or JSON Lines file of objects."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON array")
        return data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def demo_inputs(city: str | None = "Amsterdam") -> tuple[list[Connector], list[TokenRef]]:
    """The demo data set's connectors (in `city`) and valid tokens: no database needed."""
    return (connectors_of(read_objects(DEMO_DATA / "locations.json"), city=city),
            tokens_of(read_objects(DEMO_DATA / "tokens.json")))


def _phases(power_type: str) -> int:
    return 3 if power_type == "AC_3_PHASE" else 2 if power_type.startswith("AC_2") else 1


# --- one session -------------------------------------------------------------------------------------------

def _fmt(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_local(t: int, at: time, tz: ZoneInfo) -> int:
    """The first instant >= t (epoch seconds) that is `at` o'clock local time in `tz`."""
    day: date = datetime.fromtimestamp(t, tz).date()
    while True:
        edge = int(datetime.combine(day, at, tzinfo=tz).timestamp())
        if edge >= t:
            return edge
        day += timedelta(days=1)


class _Curve:
    """Power over the charge (`seconds` long) at full power `watts`; energy in whole Wh, by integer arithmetic."""

    def __init__(self, watts: int, seconds: int, taper: bool) -> None:
        self.watts, self.seconds = watts, seconds
        self.full = seconds * TAPER_FULL_FIFTHS // 5 if taper else seconds

    @classmethod
    def for_energy(cls, watts: int, wh: int, taper: bool) -> _Curve:
        # constant: E = P*T/3600; taper: E = 0.86*P*T/3600 (full power 3/5 of T, then linear down to 30 %)
        seconds = -(-wh * 3600 * (100 if taper else 1) // (watts * (86 if taper else 1)))
        return cls(watts, max(60, min(seconds, MAX_CHARGE_SECONDS)), taper)

    def _tail(self) -> int:
        return self.seconds - self.full

    def wh(self, t: int) -> int:
        """Energy delivered `t` seconds into the charge, rounded down."""
        if t <= self.full:
            return self.watts * t // 3600
        d, rest = t - self.full, self._tail()
        # P*full + P*(d - 0.35*d*d/rest), over 3600 s/h
        return self.watts * (self.full * 20 * rest + 20 * rest * d - 7 * d * d) // (20 * rest * 3600)

    def power_w(self, t: int) -> int:
        if t < self.full:
            return self.watts
        return self.watts - 7 * self.watts * (t - self.full) // (10 * self._tail())


@dataclass(slots=True)
class _Item:
    key: int  # delivery order, in ms
    line: bytes


class _Session:
    """Plans one session at or after `cursor` on a connector and token, and renders its events."""

    def __init__(self, index: int, sid: str, rng: random.Random, o: Options) -> None:
        self.index, self.sid, self.rng, self.o = index, sid, rng, o
        ac_w, dc_w = rng.choice(VEHICLES)
        self.vehicle = (ac_w, dc_w)
        self.need_wh = rng.randint(o.min_kwh * 1000, o.max_kwh * 1000)
        self.crossing = rng.random() < o.cross_share
        self.parking_s = rng.randint(o.parking_minutes[0] * 60, o.parking_minutes[1] * 60) \
            if rng.random() < o.parking_share else 0

    def place(self, cursor: int, conn: Connector, token: TokenRef, register_wh: int) -> int:
        """Fix the start time (at or after `cursor`), connector, token and start reading; the stop time."""
        o, rng = self.o, self.rng
        self.conn, self.token, self.start_wh = conn, token, register_wh
        dc = conn.power_type == "DC"
        watts = max(1_000, min(conn.max_power_w, self.vehicle[1] if dc else self.vehicle[0]))
        taper = o.power_profile == "taper" or (o.power_profile == "auto" and dc)
        self.curve = _Curve.for_energy(watts, self.need_wh, taper)
        charge, total = self.curve.seconds, self.curve.seconds + self.parking_s
        tz = ZoneInfo(conn.time_zone)
        if self.crossing:
            margin = min(o.meter_interval, charge // 4)
            edge = _next_local(cursor + margin, o.cross_time, tz)
            start = cursor if edge + margin <= cursor + charge else edge - charge // 2
        else:
            edge = _next_local(cursor + 1, o.cross_time, tz)
            start = cursor if edge >= cursor + total else edge + rng.randint(60, 600)
        self.start = start
        self.full_at = start + charge
        self.stop = self.full_at + self.parking_s
        return self.stop

    def volts(self) -> int:
        return DC_VOLTS if self.conn.power_type == "DC" else AC_VOLTS * _phases(self.conn.power_type)

    def events(self) -> list[dict[str, Any]]:
        """The good events in time order."""
        c, sid, interval = self.conn, self.sid, self.o.meter_interval
        out: list[dict[str, Any]] = [{
            "type": "session_started", "time": self.start, "location_id": c.location_id, "evse_uid": c.evse_uid,
            "connector_id": c.connector_id, "token_uid": self.token.uid, "token_type": self.token.type,
            "meter_wh": self.start_wh, "country_code": c.country_code, "party_id": c.party_id}]
        volts = self.volts()
        t = self.start + interval
        while t < self.full_at:
            w = self.curve.power_w(t - self.start)
            out.append({"type": "meter", "time": t, "meter_wh": self.start_wh + self.curve.wh(t - self.start),
                        "power_w": w, "current_a": (Decimal(w) / volts).quantize(Decimal("0.1")),
                        "state": "CHARGING"})
            t += interval
        end_wh = self.start_wh + self.curve.wh(self.curve.seconds)
        if self.parking_s:
            t = self.full_at
            while t < self.stop:
                out.append({"type": "meter", "time": t, "meter_wh": end_wh, "power_w": 0,
                            "current_a": Decimal("0.0"), "state": "SUSPENDED_EV"})
                t = self.full_at + ((t - self.full_at) // interval + 1) * interval
        out.append({"type": "session_stopped", "time": self.stop, "meter_wh": end_wh})
        for n, e in enumerate(out, 1):
            e["event_id"] = f"{sid}-{n}"
            e["session_id"] = sid
        return out

    def end_wh(self) -> int:
        return self.start_wh + self.curve.wh(self.curve.seconds)


def _line(e: dict[str, Any]) -> bytes:
    head = {"event_id": e.pop("event_id"), "session_id": e.pop("session_id"), "type": e.pop("type"),
            "time": _fmt(e.pop("time")) if isinstance(e["time"], int) else e.pop("time")}
    return _encode({**head, **e})


# --- bad events ----------------------------------------------------------------------------------------------
# Each kind: (announced field, how to make it) from the session and a reading of it. The ones marked "history"
# are well-formed and refused by the engine from the session's history; the others break the format.

def _meter_like(s: _Session, ev: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": f"{ev['event_id']}-bad", "session_id": s.sid, "type": "meter", "time": ev["time"],
            "meter_wh": ev["meter_wh"], "state": "CHARGING"}


def _start_like(s: _Session, ev: dict[str, Any]) -> dict[str, Any]:
    start = dict(s.events()[0])
    start.update(event_id=f"{ev['event_id']}-bad", session_id=f"{s.sid}-b{ev['event_id'].rsplit('-', 1)[1]}")
    start["time"] = ev["time"]
    return start


def _without(e: dict[str, Any], name: str) -> dict[str, Any]:
    e.pop(name)
    return e


BadMaker = Callable[[_Session, dict[str, Any]], tuple[dict[str, Any], int]]


def _bad_kinds() -> list[tuple[str, str, BadMaker]]:
    """(kind, field, maker); maker returns the event and its delivery key in ms."""
    def at(e: dict[str, Any], ev: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return e, ev["time"] * 1000

    return [
        ("negative", "meter_wh", lambda s, ev: at({**_meter_like(s, ev), "meter_wh": "-1"}, ev)),
        ("not a number", "meter_wh", lambda s, ev: at({**_meter_like(s, ev), "meter_wh": "12a"}, ev)),
        ("missing", "meter_wh", lambda s, ev: at(_without(_meter_like(s, ev), "meter_wh"), ev)),
        ("history: decreases", "meter_wh", lambda s, ev: at({**_meter_like(s, ev), "meter_wh": s.start_wh - 1}, ev)),
        ("no such date", "time", lambda s, ev: at({**_meter_like(s, ev), "time": "2026-02-30T10:00:00Z"}, ev)),
        ("not a time", "time", lambda s, ev: at({**_meter_like(s, ev), "time": "yesterday"}, ev)),
        ("history: before start", "time",
         lambda s, ev: ({**_meter_like(s, ev), "time": s.start - 120, "meter_wh": s.start_wh}, s.start * 1000)),
        ("unknown type", "type", lambda s, ev: at({**_meter_like(s, ev), "type": "session_paused"}, ev)),
        ("too long", "event_id", lambda s, ev: at({**_meter_like(s, ev), "event_id": f"{ev['event_id']}-{'x' * 64}"[:65]}, ev)),
        ("too long", "session_id", lambda s, ev: at({**_meter_like(s, ev), "session_id": "S" * 37}, ev)),
        ("history: unknown session", "session_id",
         lambda s, ev: at({**_meter_like(s, ev), "session_id": f"{s.sid}-u"}, ev)),
        ("history: completed", "session_id",
         lambda s, ev: ({**_meter_like(s, ev), "time": s.stop + 60, "meter_wh": s.end_wh()}, (s.stop + 60) * 1000)),
        ("unknown state", "state", lambda s, ev: at({**_meter_like(s, ev), "state": "PARKING"}, ev)),
        ("negative", "power_w", lambda s, ev: at({**_meter_like(s, ev), "power_w": -5}, ev)),
        ("not a number", "current_a", lambda s, ev: at({**_meter_like(s, ev), "current_a": "many"}, ev)),
        ("empty", "token_uid", lambda s, ev: at({**_start_like(s, ev), "token_uid": ""}, ev)),
        ("too long", "location_id", lambda s, ev: at({**_start_like(s, ev), "location_id": "L" * 37}, ev)),
        ("missing", "evse_uid", lambda s, ev: at(_without(_start_like(s, ev), "evse_uid"), ev)),
        ("empty", "connector_id", lambda s, ev: at({**_start_like(s, ev), "connector_id": ""}, ev)),
        ("unknown", "token_type", lambda s, ev: at({**_start_like(s, ev), "token_type": "CARD"}, ev)),
        ("unknown", "auth_method", lambda s, ev: at({**_start_like(s, ev), "auth_method": "PIN"}, ev)),
    ]


BAD_KINDS = _bad_kinds()
BAD_FIELDS = sorted({f for _, f, _ in BAD_KINDS})
BAD_MARKER = "_bad_field"


# --- the stream -----------------------------------------------------------------------------------------------

class _Pool:
    """Objects free from a time on: take a random free one at time t (O(1)); busy ones come back when released."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.free = list(range(len(items)))
        self.busy: list[tuple[int, int]] = []
        self.items = items

    def take(self, t: int, rng: random.Random) -> tuple[int, Any] | None:
        while self.busy and self.busy[0][0] <= t:
            self.free.append(heapq.heappop(self.busy)[1])
        if not self.free:
            return None
        i = rng.randrange(len(self.free))
        self.free[i], self.free[-1] = self.free[-1], self.free[i]
        idx = self.free.pop()
        return idx, self.items[idx]

    def hold(self, idx: int, until: int) -> None:
        heapq.heappush(self.busy, (until, idx))


def generate(connectors: Sequence[Connector], tokens: Sequence[TokenRef], options: Options,
             summary: Summary | None = None) -> Iterator[bytes]:
    """JSON Lines (each line without its newline), deterministic in the inputs and options."""
    summary = summary if summary is not None else Summary()
    low = int(options.deliver_from.timestamp() * 1000) if options.deliver_from else None
    high = int(options.deliver_until.timestamp() * 1000) if options.deliver_until else None
    for key, line in _stream(connectors, tokens, options, summary):
        if (low is None or key >= low) and (high is None or key < high):
            summary.events += 1
            yield line


def _stream(connectors: Sequence[Connector], tokens: Sequence[TokenRef], o: Options,
            summary: Summary) -> Iterator[tuple[int, bytes]]:
    """Every line with its delivery key (ms), in delivery order."""
    o.check()
    if not connectors:
        raise ValueError("no connectors to generate sessions on")
    if not tokens:
        raise ValueError("no tokens to generate sessions for")
    if o.concurrency > len(connectors):
        raise ValueError(f"concurrency {o.concurrency} exceeds the {len(connectors)} connectors: "
                         "two sessions would share a connector")
    prefix, t0 = o.prefix(), int(o.start.timestamp())
    lanes = [(t0 + random.Random(f"{o.seed}/lane/{n}").randrange(3600), n) for n in range(o.concurrency)]
    heapq.heapify(lanes)
    conn_pool, token_pool = _Pool(connectors), _Pool(tokens)
    registers = [1_000_000 + random.Random(f"{o.seed}/meter/{i}").randrange(50_000_000) for i in range(len(connectors))]
    pending: list[tuple[int, int, bytes]] = []  # (delivery key ms, sequence, line)
    seq = 0

    def push(key: int, line: bytes) -> None:
        nonlocal seq
        heapq.heappush(pending, (key, seq, line))
        seq += 1

    for index in range(o.sessions):
        cursor, lane = heapq.heappop(lanes)
        # deliver everything due before this session can start (its events all come at or after `cursor`)
        while pending and pending[0][0] < cursor * 1000:
            key, _, line = heapq.heappop(pending)
            yield key, line
        rng = random.Random(f"{o.seed}/session/{index}")
        s = _Session(index, f"{prefix}-{index + 1:06d}", rng, o)
        taken = conn_pool.take(cursor, rng)
        assert taken is not None  # concurrency <= connectors
        ci, conn = taken
        tok = token_pool.take(cursor, rng)
        ti, token = tok if tok is not None else (-1, tokens[rng.randrange(len(tokens))])
        stop = s.place(cursor, conn, token, registers[ci])
        conn_pool.hold(ci, stop)
        if ti >= 0:
            token_pool.hold(ti, stop)
        registers[ci] = s.end_wh()
        heapq.heappush(lanes, (stop + rng.randint(300, 3600), lane))
        summary.sessions += 1
        summary.crossing += s.crossing
        summary.parking += bool(s.parking_s)
        for key, line in _deliveries(s, rng, summary):
            push(key, line)
    while pending:
        key, _, line = heapq.heappop(pending)
        yield key, line


def _deliveries(s: _Session, rng: random.Random, summary: Summary) -> list[tuple[int, bytes]]:
    """The session's lines with their delivery keys (ms): in time order, some late, some twice, some bad."""
    o = s.o
    events = s.events()
    window_ms = o.shuffle_window * 1000
    stop = events[-1]
    stop_key = stop["time"] * 1000
    if window_ms and rng.random() < o.shuffle_share:
        stop_key += rng.randint(1, window_ms)
        summary.delayed += 1
    out: list[tuple[int, bytes]] = []
    bad: list[tuple[int, bytes]] = []
    for n, ev in enumerate(events):
        key = ev["time"] * 1000
        if ev is stop:
            key = stop_key
        elif n and window_ms and rng.random() < o.shuffle_share:
            # late, but never after its session's stop (a reading after the stop would be refused)
            key = min(key + rng.randint(1, window_ms), stop_key - 1)
            summary.delayed += 1
        if o.bad_share and n < len(events) - 1 and rng.random() < o.bad_share:
            kind, name, make = BAD_KINDS[rng.randrange(len(BAD_KINDS))]
            raw, bad_key = make(s, dict(ev) if n else {**ev, "time": ev["time"] + 1})
            if kind == "history: completed":  # only once the stop is in, however late it is delivered
                bad_key = max(bad_key, stop_key + 1)
            raw[BAD_MARKER] = name
            bad.append((bad_key, _line(raw)))
            summary.bad += 1
            summary.bad_fields[name] = summary.bad_fields.get(name, 0) + 1
        line = _line(dict(ev))
        out.append((key, line))
        if o.duplicate_share and rng.random() < o.duplicate_share:
            out.append((key + rng.randint(1, max(window_ms, o.meter_interval * 1000)), line))
            summary.duplicates += 1
    return out + bad


def write(path: Path | None, lines: Iterable[bytes]) -> None:
    """JSON Lines to `path`, or stdout when None."""
    sink = path.open("wb") if path is not None else sys.stdout.buffer
    try:
        for line in lines:
            sink.write(line + b"\n")
    finally:
        if path is not None:
            sink.close()
        else:
            sink.flush()


# --- `ocpi-engine sessions generate` ------------------------------------------------------------------------

def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share between 0 and 1, not {text}")
    return value


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a local time HH:MM, not {text!r}") from None


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"an RFC 3339 date-time with offset, not {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset (Z or +01:00)")
    return value


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"MIN:MAX in whole numbers, not {text!r}") from None


def cmd_generate(args: argparse.Namespace) -> int:
    d = Options()
    kwh = args.kwh or (d.min_kwh, d.max_kwh)
    options = Options(
        sessions=args.sessions, seed=args.seed, start=args.start or d.start, meter_interval=args.meter_interval,
        power_profile=args.power_profile, min_kwh=kwh[0], max_kwh=kwh[1], parking_share=args.parking_share,
        parking_minutes=args.parking_minutes or d.parking_minutes, cross_share=args.cross_share,
        cross_time=args.cross_time, concurrency=args.concurrency, shuffle_window=args.shuffle_window,
        shuffle_share=args.shuffle_share, duplicate_share=args.duplicates, bad_share=args.bad,
        id_prefix=args.id_prefix, deliver_from=args.deliver_from, deliver_until=args.deliver_until)
    city = None if args.city in ("", "any") else args.city
    try:
        locations = read_objects(args.locations or DEMO_DATA / "locations.json")
        tokens = read_objects(args.tokens or DEMO_DATA / "tokens.json")
        summary = Summary()
        out = None if str(args.out) == "-" else args.out
        write(out, generate(connectors_of(locations, city=city), tokens_of(tokens), options, summary))
    except (OSError, ValueError) as exc:
        print(f"ocpi-engine: {exc}", file=sys.stderr)
        return 2
    bad = ", ".join(f"{k} {v}" for k, v in sorted(summary.bad_fields.items()))
    print(f"wrote {summary.events} events of {summary.sessions} sessions to {args.out} (seed {options.seed}, ids "
          f"{options.prefix()}-*): {summary.crossing} crossing {options.cross_time:%H:%M} local, {summary.parking} "
          f"with a parking tail, {summary.delayed} delivered late, {summary.duplicates} duplicates, "
          f"{summary.bad} bad{f' ({bad})' if bad else ''}", file=sys.stderr)
    return 0


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    d = Options()
    p = groups["sessions"].add_parser(
        "generate", parents=[common], help="write a seeded charging-event file (JSON Lines) for demos and benchmarks",
        description="Write charging events for sessions on our demo Locations and Tokens (no database needed), or "
                    "on the Locations/Tokens files given. Same options and seed, same bytes. Bad events carry "
                    f"\"{BAD_MARKER}\": the field the service must name when refusing them.")
    p.add_argument("--out", type=Path, required=True, help="output file, JSON Lines ('-': stdout)")
    p.add_argument("--sessions", type=int, default=d.sessions, help="sessions (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed (default %(default)s)")
    p.add_argument("--start", type=_instant, help=f"first session start, RFC 3339 (default {d.start:%Y-%m-%dT%H:%M:%SZ})")
    p.add_argument("--meter-interval", type=int, default=d.meter_interval, metavar="SECONDS",
                   help="seconds between meter readings (default %(default)s)")
    p.add_argument("--power-profile", choices=POWER_PROFILES, default=d.power_profile,
                   help="constant power, a DC-like taper, or auto: AC constant, DC taper (default %(default)s)")
    p.add_argument("--kwh", type=_range, metavar="MIN:MAX", help=f"energy per session (default {d.min_kwh}:{d.max_kwh})")
    p.add_argument("--parking-share", type=_share, default=d.parking_share,
                   help="share of sessions with a SUSPENDED_EV parking tail (default %(default)s)")
    p.add_argument("--parking-minutes", type=_range, metavar="MIN:MAX",
                   help=f"length of a parking tail (default {d.parking_minutes[0]}:{d.parking_minutes[1]})")
    p.add_argument("--cross-share", type=_share, default=d.cross_share,
                   help="share of sessions charging across --cross-time local (default %(default)s)")
    p.add_argument("--cross-time", type=_clock, default=d.cross_time, metavar="HH:MM",
                   help="local time of the tariff change (default 17:00)")
    p.add_argument("--concurrency", type=int, default=d.concurrency,
                   help="at most this many sessions overlap (default %(default)s)")
    p.add_argument("--shuffle-window", type=int, default=d.shuffle_window, metavar="SECONDS",
                   help="deliver some events up to this many seconds late (default %(default)s: in order)")
    p.add_argument("--shuffle-share", type=_share, default=d.shuffle_share,
                   help="share of events delivered late (default %(default)s)")
    p.add_argument("--duplicates", type=_share, default=d.duplicate_share, metavar="SHARE",
                   help="share of events sent twice (default %(default)s)")
    p.add_argument("--bad", type=_share, default=d.bad_share, metavar="SHARE",
                   help="extra bad events per good event (default %(default)s)")
    p.add_argument("--from", dest="deliver_from", type=_instant, metavar="TIME",
                   help="only the events delivered at or after TIME (RFC 3339)")
    p.add_argument("--until", dest="deliver_until", type=_instant, metavar="TIME",
                   help="only the events delivered before TIME: with --from, split one stream into parts replayed "
                        "one after the other (sessions running at TIME stay ACTIVE in between)")
    p.add_argument("--id-prefix", help="session id prefix (default: derived from the options)")
    p.add_argument("--locations", type=Path, help="Locations file, JSON array or Lines (default: the demo set)")
    p.add_argument("--tokens", type=Path, help="Tokens file (default: the demo set); valid tokens are used")
    p.add_argument("--city", default="Amsterdam",
                   help="only Locations in this city ('any': all; default %(default)s, where TRF-AMS applies)")
    p.set_defaults(func=cmd_generate)
