"""The seeded charging-event generator (`app.charging.generator`), checked from the file it writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

import rust_core
from app.charging import generator as g
from app.charging.event_schema import Meter, SessionStarted, SessionStopped, event_decoder
from app.demo import dataset

AMS = ZoneInfo("Europe/Amsterdam")
ROOT = Path(__file__).resolve().parent.parent
# Every knob turned: enough sessions for each share to show, out of order, duplicated, bad events.
OPTIONS = g.Options(sessions=300, seed=11, concurrency=12, shuffle_window=600, shuffle_share=0.3,
                    duplicate_share=0.03, bad_share=0.03, parking_share=0.35, cross_share=0.3)


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _field_of(error: msgspec.ValidationError) -> str:
    """The field a msgspec error names: `... - at `$.field`` or `missing required field `field``."""
    m = re.search(r"at `\$\.(\w+)`|required field `(\w+)`", str(error))
    assert m, str(error)
    return m.group(1) or m.group(2)


@pytest.fixture(scope="module")
def demo() -> tuple[list[g.Connector], list[g.TokenRef]]:
    return g.demo_inputs()


@pytest.fixture(scope="module")
def run(demo: tuple[list[g.Connector], list[g.TokenRef]]) -> tuple[list[bytes], g.Summary]:
    summary = g.Summary()
    return list(g.generate(*demo, OPTIONS, summary)), summary


@pytest.fixture(scope="module")
def parsed(run: tuple[list[bytes], g.Summary]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run[0]]


@pytest.fixture(scope="module")
def good(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The good events, first delivery of each event id, in delivery order."""
    seen: set[str] = set()
    out = []
    for e in parsed:
        if g.BAD_MARKER not in e and e["event_id"] not in seen:
            seen.add(e["event_id"])
            out.append(e)
    return out


@pytest.fixture(scope="module")
def sessions(good: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each session's good events in time order."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in good:
        by[e["session_id"]].append(e)
    return {sid: sorted(evs, key=lambda e: _ts(e["time"])) for sid, evs in by.items()}


# --- determinism ------------------------------------------------------------------------------------------------

def test_same_seed_same_bytes(demo: tuple[list[g.Connector], list[g.TokenRef]], run: tuple[list[bytes], g.Summary]) -> None:
    assert list(g.generate(*demo, OPTIONS)) == run[0]
    other = list(g.generate(*demo, replace(OPTIONS, seed=12)))
    assert other != run[0]
    # ids differ between runs with different options, so two generated files can be replayed side by side
    assert json.loads(other[0])["session_id"].split("-")[0] != json.loads(run[0][0])["session_id"].split("-")[0]
    assert json.loads(list(g.generate(*demo, replace(OPTIONS, id_prefix="DEMO")))[0])["session_id"].startswith("DEMO-")


def test_cli_writes_the_same_bytes_offline(tmp_path: Path, run: tuple[list[bytes], g.Summary]) -> None:
    out = tmp_path / "events.jsonl"
    args = ["--out", str(out), "--sessions", "300", "--seed", "11", "--concurrency", "12", "--shuffle-window", "600",
            "--shuffle-share", "0.3", "--duplicates", "0.03", "--bad", "0.03", "--parking-share", "0.35",
            "--cross-share", "0.3", "--data-dir", str(tmp_path / "no-database-here")]
    r = subprocess.run([sys.executable, "-m", "app", "sessions", "generate", *args], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == b"".join(line + b"\n" for line in run[0])
    assert f"wrote {len(run[0])} events of 300 sessions" in r.stderr
    assert not (tmp_path / "no-database-here").exists()  # no database was started
    bad = subprocess.run([sys.executable, "-m", "app", "sessions", "generate", "--out", str(out), "--concurrency", "99"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "concurrency 99 exceeds" in bad.stderr


def test_options_are_checked(demo: tuple[list[g.Connector], list[g.TokenRef]]) -> None:
    for wrong, name in [(dict(bad_share=1.5), "bad_share"), (dict(concurrency=0), "concurrency"),
                        (dict(min_kwh=30, max_kwh=20), "min_kwh"), (dict(meter_interval=0), "meter_interval")]:
        with pytest.raises(ValueError, match=name):
            list(g.generate(*demo, replace(OPTIONS, **wrong)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no tokens"):
        list(g.generate(demo[0], [], OPTIONS))


# --- the format -------------------------------------------------------------------------------------------------

def test_every_good_event_is_valid(run: tuple[list[bytes], g.Summary], good: list[dict[str, Any]]) -> None:
    kinds: dict[type, int] = defaultdict(int)
    for line in run[0]:
        if g.BAD_MARKER.encode() in line:
            continue
        event = event_decoder.decode(line)
        kinds[type(event)] += 1
        assert event.time.utcoffset() is not None and line.count(b'"time":"') == 1
        assert len(event.session_id) <= 36 and len(event.event_id) <= 64
    assert kinds[Meter] > 10 * OPTIONS.sessions
    types = defaultdict(int)
    for e in good:
        types[e["type"]] += 1
    assert types["session_started"] == types["session_stopped"] == OPTIONS.sessions
    # event ids are unique (a repeated id is a duplicate: the same bytes)
    assert len({e["event_id"] for e in good}) == len(good)


def test_events_follow_the_demo_data(sessions: dict[str, list[dict[str, Any]]]) -> None:
    locations = {(loc["id"], e["uid"], c["id"]): (loc, e) for loc in g.read_objects(g.DEMO_DATA / "locations.json")
                 for e in loc["evses"] for c in e["connectors"]}
    tokens = {t["uid"]: t for t in g.read_objects(g.DEMO_DATA / "tokens.json")}
    for evs in sessions.values():
        start = evs[0]
        assert start["type"] == "session_started"
        loc, evse = locations[(start["location_id"], start["evse_uid"], start["connector_id"])]
        assert loc["city"] == "Amsterdam" and evse["status"] in g.USABLE_EVSE_STATUSES
        assert (start["country_code"], start["party_id"]) == (loc["country_code"], loc["party_id"])
        token = tokens[start["token_uid"]]
        assert token["valid"] and start["token_type"] == token["type"]


# --- the requested properties -----------------------------------------------------------------------------------

def _crosses(begin: int, end: int) -> bool:
    """A 17:00 Amsterdam instant strictly inside (begin, end)."""
    edge = g._next_local(begin + 1, OPTIONS.cross_time, AMS)
    return edge < end


def test_sessions_cross_17_local_as_asked(sessions: dict[str, list[dict[str, Any]]], run: tuple[list[bytes], g.Summary]) -> None:
    charging_across = 0
    for evs in sessions.values():
        begin, end = _ts(evs[0]["time"]), _ts(evs[-1]["time"])
        suspended = [_ts(e["time"]) for e in evs if e.get("state") == "SUSPENDED_EV"]
        full = suspended[0] if suspended else end
        if _crosses(begin, full):
            charging_across += 1
            # 17:00 falls between two readings of the charge: the engine must cut the period there
            edge = g._next_local(begin + 1, OPTIONS.cross_time, AMS)
            before = [e for e in evs if _ts(e["time"]) < edge]
            assert before[-1].get("state", "CHARGING") == "CHARGING"
        else:
            assert not _crosses(begin, end)  # a session not charging across 17:00 does not touch it at all
    assert charging_across == run[1].crossing
    assert 0.2 * OPTIONS.sessions < charging_across < 0.4 * OPTIONS.sessions


def test_parking_tails(sessions: dict[str, list[dict[str, Any]]], run: tuple[list[bytes], g.Summary]) -> None:
    tails = 0
    for evs in sessions.values():
        states = [e.get("state") for e in evs[1:-1]]
        if "SUSPENDED_EV" not in states:
            continue
        tails += 1
        first = states.index("SUSPENDED_EV")
        assert set(states[first:]) == {"SUSPENDED_EV"}  # parked until the stop, after the battery is full
        tail = evs[1 + first:]
        assert len({e["meter_wh"] for e in tail}) == 1  # no energy while parked
        assert all(e["power_w"] == 0 for e in tail[:-1])
        assert _ts(tail[-1]["time"]) - _ts(tail[0]["time"]) >= OPTIONS.parking_minutes[0] * 60
    assert tails == run[1].parking
    assert 0.25 * OPTIONS.sessions < tails < 0.45 * OPTIONS.sessions


def test_kwh_threshold_crossed_and_meters_rise(sessions: dict[str, list[dict[str, Any]]]) -> None:
    tariff = next(t for t in dataset.read_tariffs() if t["id"] == "TRF-AMS")
    threshold = next(e["restrictions"]["max_kwh"] for e in tariff["elements"] if "max_kwh" in e.get("restrictions", {}))
    energies = []
    for evs in sessions.values():
        readings = [e["meter_wh"] for e in evs]
        assert readings == sorted(readings)
        wh = readings[-1] - readings[0]
        assert OPTIONS.min_kwh * 1000 * 0.9 <= wh <= OPTIONS.max_kwh * 1000
        energies.append(wh)
        for e in evs[1:-1]:
            if e["state"] == "CHARGING":  # power and current agree with the energy between readings
                assert e["power_w"] > 0 and e["current_a"] > 0
    above = sum(wh > threshold * 1000 for wh in energies)
    assert 0.3 * len(energies) < above < 0.9 * len(energies)


def test_connectors_never_shared_and_concurrency_bounded(sessions: dict[str, list[dict[str, Any]]]) -> None:
    spans = [(_ts(evs[0]["time"]), _ts(evs[-1]["time"]), (evs[0]["evse_uid"], evs[0]["connector_id"]))
             for evs in sessions.values()]
    by_connector: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for begin, end, conn in spans:
        by_connector[conn].append((begin, end))
    for conn, runs in by_connector.items():
        runs.sort()
        assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False)), conn
    edges = sorted([(b, 1) for b, _, _ in spans] + [(e, -1) for _, e, _ in spans])
    active = peak = 0
    for _, step in edges:
        active += step
        peak = max(peak, active)
    assert 0.7 * OPTIONS.concurrency <= peak <= OPTIONS.concurrency


def test_shuffle_bounded_by_the_window(parsed: list[dict[str, Any]], good: list[dict[str, Any]],
                                       run: tuple[list[bytes], g.Summary]) -> None:
    latest = 0
    late = 0
    for e in good:
        t = _ts(e["time"])
        assert latest - t <= OPTIONS.shuffle_window  # never later than the window behind anything delivered before
        late += t < latest
        latest = max(latest, t)
    assert late > 0.05 * len(good)  # and the shuffle did happen
    # per session: the start comes first, the stop last
    started: set[str] = set()
    stopped: set[str] = set()
    for e in good:
        sid = e["session_id"]
        assert sid not in stopped, e
        if e["type"] == "session_started":
            started.add(sid)
        assert sid in started, e
        if e["type"] == "session_stopped":
            stopped.add(sid)
    assert run[1].delayed > 0


def test_in_order_without_a_window(demo: tuple[list[g.Connector], list[g.TokenRef]]) -> None:
    lines = list(g.generate(*demo, replace(OPTIONS, shuffle_window=0, bad_share=0, duplicate_share=0)))
    times = [json.loads(line)["time"] for line in lines]
    assert times == sorted(times)


def test_duplicates_are_byte_copies(run: tuple[list[bytes], g.Summary], parsed: list[dict[str, Any]]) -> None:
    first: dict[str, bytes] = {}
    copies = 0
    for line, e in zip(run[0], parsed, strict=True):
        if e["event_id"] in first:
            assert first[e["event_id"]] == line
            copies += 1
        else:
            first[e["event_id"]] = line
    assert copies == run[1].duplicates > 0


# --- bad events -------------------------------------------------------------------------------------------------

def test_bad_events_carry_the_announced_field(parsed: list[dict[str, Any]], run: tuple[list[bytes], g.Summary],
                                              sessions: dict[str, list[dict[str, Any]]]) -> None:
    """A bad event breaks the format at its announced field, or (well-formed) the session rule for that field."""
    bad = [(line, e) for line, e in zip(run[0], parsed, strict=True) if g.BAD_MARKER in e]
    assert len(bad) == run[1].bad > 20
    format_errors = history = 0
    for line, e in bad:
        announced = e[g.BAD_MARKER]
        try:
            event_decoder.decode(line)
        except msgspec.ValidationError as exc:
            assert _field_of(exc) == announced, (line, exc)
            format_errors += 1
            continue
        history += 1
        evs = sessions.get(e["session_id"])
        if evs is None:
            assert announced == "session_id"  # no such session
            continue
        start, stop = _ts(evs[0]["time"]), _ts(evs[-1]["time"])
        t = _ts(e["time"])
        if announced == "time":
            assert t < start
        elif announced == "meter_wh":
            assert e["meter_wh"] < evs[0]["meter_wh"] and start <= t < stop
        else:
            assert announced == "session_id" and t > stop
    assert format_errors and history
    assert {e[g.BAD_MARKER] for _, e in bad} <= set(g.BAD_FIELDS)


def test_every_bad_kind_is_made(demo: tuple[list[g.Connector], list[g.TokenRef]]) -> None:
    summary = g.Summary()
    list(g.generate(*demo, replace(OPTIONS, sessions=150, bad_share=0.5), summary))
    assert set(summary.bad_fields) == set(g.BAD_FIELDS)


def test_rust_event_batch_agrees(run: tuple[list[bytes], g.Summary], parsed: list[dict[str, Any]]) -> None:
    """When the session engine is built in: it reads every good event and refuses each format error by its field."""
    event_batch = getattr(rust_core, "EventBatch", None)
    if event_batch is None:
        pytest.skip("rust_core has no EventBatch yet (engine branch not merged)")
    batch = event_batch(b"\n".join(run[0]))
    assert len(batch) == len(run[0])
    errors = {index: name for index, _, name, _ in batch.errors}
    for index, e in enumerate(parsed):
        if index in errors:
            assert e.get(g.BAD_MARKER) == errors[index], (e, errors[index])
        else:
            assert g.BAD_MARKER not in e or e[g.BAD_MARKER] in ("session_id", "time", "meter_wh"), e


# --- scale ------------------------------------------------------------------------------------------------------

def test_synthetic_locations_at_scale() -> None:
    from app.demo import synthetic

    connectors = g.connectors_of(synthetic.iter_locations(400, seed=3))
    tokens = g.tokens_of(synthetic.iter_tokens(300, seed=3))
    options = g.Options(sessions=2000, concurrency=len(connectors) // 2, meter_interval=900, parking_share=0.1)
    summary = g.Summary()
    lines = list(g.generate(connectors, tokens, options, summary))
    assert summary.sessions == 2000 and summary.events == len(lines)
    starts = {json.loads(line)["session_id"] for line in lines if b'"session_started"' in line}
    assert len(starts) == 2000
    zones = {c.time_zone for c in connectors}
    assert zones and all(ZoneInfo(z) for z in zones)
    assert datetime.fromisoformat(json.loads(lines[0])["time"].replace("Z", "+00:00")) >= options.start.astimezone(UTC)


def test_parts_split_one_stream(demo: tuple[list[g.Connector], list[g.TokenRef]], run: tuple[list[bytes], g.Summary]) -> None:
    """--until/--from cut the same stream (same ids) at a delivery time; the first part leaves sessions running."""
    cut = datetime(2026, 11, 23, 17, 30, tzinfo=AMS)
    first = list(g.generate(*demo, replace(OPTIONS, deliver_until=cut)))
    rest = list(g.generate(*demo, replace(OPTIONS, deliver_from=cut)))
    assert first + rest == run[0]
    assert first and rest
    started = {json.loads(line)["session_id"] for line in first if b'"session_started"' in line}
    stopped = {json.loads(line)["session_id"] for line in first if b'"session_stopped"' in line}
    assert stopped < started  # running at the cut: ACTIVE between the two replays
    later = [json.loads(line) for line in rest]
    assert all(e["time"] >= "2026-11-23T16:20" for e in later if g.BAD_MARKER not in e)  # 16:30Z minus the window


def test_readme_walkthrough_ids(demo: tuple[list[g.Connector], list[g.TokenRef]]) -> None:
    """The README's walkthrough names a session of `sessions generate --sessions 40`: it must stay what it says."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    options = g.Options(sessions=40)
    sid = f"{options.prefix()}-000025"
    assert f"cdrs explain {sid}" in readme and f"ids {options.prefix()}-*" in readme
    events = [json.loads(line) for line in g.generate(*demo, options)]
    mine = [e for e in events if e["session_id"] == sid]
    begin, end = _ts(mine[0]["time"]), _ts(mine[-1]["time"])
    full = next(_ts(e["time"]) for e in mine if e.get("state") == "SUSPENDED_EV")
    assert _crosses(begin, full) and mine[-1]["meter_wh"] - mine[0]["meter_wh"] > 20_000 and full < end
    cut = datetime(2026, 11, 23, 17, 30, tzinfo=AMS)
    assert "--until 2026-11-23T17:30:00+01:00" in readme
    first = [json.loads(line) for line in g.generate(*demo, replace(options, deliver_until=cut))]
    running = {e["session_id"] for e in first if e["type"] == "session_started"} - {
        e["session_id"] for e in first if e["type"] == "session_stopped"}
    assert running
