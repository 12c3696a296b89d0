"""Smoke test of the ingest macro benchmark (benchmarks/macro_ingest.py): tiny numbers, both paths (rust_core alone,
and HTTP on a real server with a fresh database); every event must be accepted and the report complete."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "macro_ingest.py"
SESSIONS = 400


def test_macro_ingest_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--sessions", str(SESSIONS), "--rust-batch", "100", "--rust-rounds", "2",
         "--batch", "100", "--start-batch", "150", "--rounds", "2", "--duration", "2", "--tokens", "50",
         "--json", str(out)],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())

    rust = report["rust_core"]
    assert rust["sessions"] == SESSIONS and rust["events"] == 2 * SESSIONS
    assert rust["events_per_sec"] > 0 and rust["baseline_events_per_sec"] > 0 and rust["ratio_to_baseline"] > 0
    assert 0 < rust["batch_p50_ms"] <= rust["batch_p99_ms"]

    http = report["http"]
    assert http["active_sessions"] == SESSIONS and http["tokens"] == 50
    assert http["outbox_queued_by_starts"] == SESSIONS  # one PUT per session for the registered eMSP
    starts, meter = http["starts"], http["meter"]
    # Setup: every session started, 150 + 150 + 100 per request.
    assert starts["events_accepted"] == SESSIONS and starts["requests"] == 3 and starts["errors"] == 0
    # Measured: every reading accepted (the run ends at 2 s or when the 800 prepared readings are sent).
    assert meter["errors"] == 0, meter["error_samples"]
    assert 0 < meter["events_accepted"] <= 2 * SESSIONS and meter["events_accepted"] == 100 * meter["requests"]
    assert meter["events_per_s"] > 0 and meter["baseline_events_per_s"] > meter["events_per_s"]
    lat = meter["request_latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert meter["cpu"].get("available") is False or len(meter["cpu"]["server_workers_pct"]) == 1
    assert "Charging-event ingest" in proc.stdout and "HTTP meter" in proc.stdout
