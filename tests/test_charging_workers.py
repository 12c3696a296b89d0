"""The charging ingest across processes: one event stream spread over two server workers (HTTP, from three client
threads) and a `sessions replay` process at the same time ends in exactly the CDRs and Sessions the same stream
gives through one process; a worker killed mid-stream loses nothing a replay of the file cannot complete.

What the contract guarantees, and so what is fed: a session's events must reach the service in an order within
the reorder window. Each session's events therefore go to one feeder, in file order (the generator delays an
event by at most 600 s < 900 s), one batch at a time per feeder; sessions of different feeders are independent.
A feeder's consecutive requests each open a new connection, so one session's batches land on either worker: each
process must catch up on what the other changed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.charging_pair import charging_pair
from tests.service import CLI, Instance, wait_for

SESSIONS = 30
STREAM = ["--sessions", str(SESSIONS), "--seed", "11", "--shuffle-window", "600", "--shuffle-share", "0.3",
          "--duplicates", "0.05", "--power-profile", "taper", "--parking-share", "0.5"]
BATCH = 20
HTTP_FEEDERS = 3
VARYING = ("id", "session_id", "last_updated", "authorization_reference")
"""Differ between two copies of one stream: ids by prefix; the eMSP gives each real-time authorization its own
reference."""

_doc = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, Path, str]]:
    root = tmp_path_factory.mktemp("workers")
    with charging_pair(pg_admin_dsn, root, cpo_workers=2) as (cpo, emsp):
        cpo.cli("sessions", "generate", *STREAM, "--id-prefix", "R", "--out", str(root / "R.jsonl"))
        out = cpo.cli("sessions", "replay", str(root / "R.jsonl"), "--no-progress").stdout
        assert " 0 refused, 30 CDRs issued" in out, out
        key = cpo.cli("apikey", "create", "--label", "feeders").stdout.strip()
        yield cpo, emsp, root, key


def _comparable(instance: Instance, table: str, prefix: str) -> dict[str, dict[str, Any]]:
    """The CPO's own objects of the sessions `prefix-...`, by their number, without what differs by copy."""
    rows = instance.query(f"SELECT id, data::text AS data FROM {table} WHERE peer_id IS NULL AND id ILIKE $1",
                          f"{prefix}-%")
    return {r["id"].split("-", 1)[1]: {k: v for k, v in _doc.decode(r["data"]).items() if k not in VARYING}
            for r in rows}


def _feeds(path: Path, parts: int) -> list[list[bytes]]:
    """The file's lines split by session into `parts` feeds, each in file order."""
    lines = path.read_bytes().splitlines()
    sessions = sorted({json.loads(line)["session_id"] for line in lines})
    feeder = {sid: n % parts for n, sid in enumerate(sessions)}
    feeds: list[list[bytes]] = [[] for _ in range(parts)]
    for line in lines:
        feeds[feeder[json.loads(line)["session_id"]]].append(line)
    return feeds


def _worker_pids(cpo: Instance) -> list[int]:
    """The server's worker processes: its descendants that listen on its port."""
    assert cpo.proc is not None
    out = subprocess.run(["ss", "-tlnpH", f"( sport = :{cpo.port} )"], capture_output=True, text=True, check=True).stdout
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)} - {cpo.proc.pid})


class _Serving(threading.Thread):
    """Which processes hold our clients' connections to the port (sampled while the feeders run)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.pids, self.done = port, set[int](), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{self.port} )"],
                                 capture_output=True, text=True).stdout
            self.pids |= {int(p) for p in re.findall(r"pid=(\d+)", out)}
            time.sleep(0.01)


class _HttpFeeder(threading.Thread):
    """Posts its feed in batches, one at a time, each on a new connection; stops at the first failed request
    when `give_up` is set (a crashed worker cut it), else fails the test."""

    def __init__(self, url: str, key: str, lines: list[bytes], give_up: bool = False) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.lines, self.give_up = url, key, lines, give_up
        self.answers: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self.cut = False

    def run(self) -> None:
        try:
            for offset in range(0, len(self.lines), BATCH):
                body = b"\n".join(self.lines[offset:offset + BATCH])
                try:
                    with httpx.Client(timeout=60) as client:
                        answer = client.post(f"{self.url}/api/v1/charging-events", content=body, headers={
                            "Authorization": f"Bearer {self.key}", "Content-Type": "application/x-ndjson"})
                except httpx.HTTPError:
                    if not self.give_up:
                        raise
                    self.cut = True
                    return
                assert answer.status_code == 200, answer.text
                self.answers.append(answer.json())
        except BaseException as exc:  # reported by the test thread
            self.failure = exc

    def results(self) -> list[dict[str, Any]]:
        return [r for a in self.answers for r in a["results"]]


def _generate(cpo: Instance, root: Path, prefix: str) -> Path:
    path = root / f"{prefix}.jsonl"
    cpo.cli("sessions", "generate", *STREAM, "--id-prefix", prefix, "--out", str(path))
    return path


def _replay(cpo: Instance, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "sessions", "replay", str(path), "--batch", str(BATCH), "--no-progress"],
                            env=cpo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _counts(out: str) -> tuple[int, int, int]:
    found = re.search(r"(\d+) accepted, (\d+) duplicates, (\d+) refused", out)
    assert found, out
    return int(found[1]), int(found[2]), int(found[3])


def _same_as_reference(cpo: Instance, emsp: Instance, prefix: str) -> None:
    reference_cdrs = _comparable(cpo, "cdrs", "R")
    assert len(reference_cdrs) == SESSIONS
    assert _comparable(cpo, "cdrs", prefix) == reference_cdrs
    assert _comparable(cpo, "sessions", prefix) == _comparable(cpo, "sessions", "R")
    assert not cpo.query("SELECT 1 FROM charging_sessions WHERE session_id LIKE $1 AND status <> 'COMPLETED'",
                         f"{prefix}-%")
    # One CDR POST per session, and the eMSP holds exactly our CDRs.
    posts = cpo.query("SELECT convert_from(body, 'UTF8')::jsonb->>'id' AS id, count(*) AS n FROM outbox "
                      "WHERE module = 'cdrs' AND method = 'POST' AND convert_from(body, 'UTF8')::jsonb->>'id' ILIKE $1 "
                      "GROUP BY 1", f"{prefix}-%")
    assert len(posts) == SESSIONS and {r["n"] for r in posts} == {1}
    wait_for(lambda: len(emsp.query("SELECT 1 FROM cdrs WHERE id ILIKE $1", f"{prefix}-%")) == SESSIONS, 120,
             f"the {prefix} CDRs at the eMSP")
    ours = {r["id"]: _doc.decode(r["data"]) for r in cpo.query(
        "SELECT id, data::text AS data FROM cdrs WHERE peer_id IS NULL AND id ILIKE $1", f"{prefix}-%")}
    theirs = {r["id"]: _doc.decode(r["data"]) for r in emsp.query(
        "SELECT id, data::text AS data FROM cdrs WHERE id ILIKE $1", f"{prefix}-%")}
    assert theirs == ours


def test_events_spread_over_processes_give_the_same_cdrs(pair: tuple[Instance, Instance, Path, str]) -> None:
    cpo, emsp, root, key = pair
    path = _generate(cpo, root, "W")
    *http_feeds, cli_feed = _feeds(path, HTTP_FEEDERS + 1)
    cli_path = root / "W-cli.jsonl"
    cli_path.write_bytes(b"\n".join(cli_feed) + b"\n")
    workers = _worker_pids(cpo)
    assert len(workers) == 2, workers

    serving = _Serving(cpo.port)
    serving.start()
    feeders = [_HttpFeeder(cpo.url, key, feed) for feed in http_feeds]
    replay = _replay(cpo, cli_path)
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join(300)
    out, err = replay.communicate(timeout=300)
    serving.done.set()
    serving.join()
    for feeder in feeders:
        assert not feeder.is_alive() and feeder.failure is None, feeder.failure

    assert replay.returncode == 0, out + err
    results = [r for f in feeders for r in f.results()]
    refused = [r for r in results if r["result"] not in ("accepted", "duplicate")]
    assert not refused, refused[:5]
    accepted = sum(r["result"] == "accepted" for r in results) + _counts(out)[0]
    lines = path.read_bytes().splitlines()
    assert len(results) + sum(_counts(out)) == len(lines)
    assert accepted == len({json.loads(line)["event_id"] for line in lines})  # each event once, duplicates not
    assert serving.pids >= set(workers), (serving.pids, workers)  # both workers took requests
    _same_as_reference(cpo, emsp, "W")


def test_a_killed_worker_loses_nothing_a_replay_cannot_complete(pair: tuple[Instance, Instance, Path, str]) -> None:
    cpo, emsp, root, key = pair
    path = _generate(cpo, root, "K")
    *http_feeds, cli_feed = _feeds(path, HTTP_FEEDERS + 1)
    cli_path = root / "K-cli.jsonl"
    cli_path.write_bytes(b"\n".join(cli_feed) + b"\n")
    victim = _worker_pids(cpo)[0]

    feeders = [_HttpFeeder(cpo.url, key, feed, give_up=True) for feed in http_feeds]
    replay = _replay(cpo, cli_path)
    for feeder in feeders:
        feeder.start()
    total = sum(-(-len(feed) // BATCH) for feed in http_feeds)
    wait_for(lambda: sum(len(f.answers) for f in feeders) >= total // 3, 120, "a third of the batches answered")
    os.kill(victim, signal.SIGKILL)
    for feeder in feeders:
        feeder.join(300)
    out, err = replay.communicate(timeout=300)
    for feeder in feeders:
        assert not feeder.is_alive() and feeder.failure is None, feeder.failure
    assert replay.returncode == 0, out + err  # the replay process did not notice
    results = [r for f in feeders for r in f.results()]
    assert results and all(r["result"] in ("accepted", "duplicate") for r in results)
    # What reached the database before the replay (every accepted answer is in it); with the dead worker replaced
    # at once the feeders may even have got everything through.
    before = len(cpo.query("SELECT 1 FROM charging_events WHERE session_id LIKE 'K-%'"))
    assert before >= sum(1 for r in results if r["result"] == "accepted")

    # The dead worker is replaced while the server serves on; the new one rebuilds its engine from PostgreSQL.
    assert cpo.proc is not None and cpo.proc.poll() is None
    wait_for(lambda: len(_worker_pids(cpo)) == 2 and victim not in _worker_pids(cpo), 60, "the worker to be replaced")
    whole = cpo.cli("sessions", "replay", str(path), "--no-progress").stdout
    accepted, duplicates, refused = _counts(whole)
    assert refused == 0 and accepted == len({json.loads(line)["event_id"] for line in path.read_bytes().splitlines()}) - before
    assert accepted + duplicates == len(path.read_bytes().splitlines())
    _same_as_reference(cpo, emsp, "K")
