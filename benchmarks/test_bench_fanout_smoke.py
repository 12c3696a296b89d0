"""Smoke test of the fan-out macro benchmark (benchmarks/macro_fanout.py): a hub, a CPO and 4 receivers (one slow)
on loopback, 120 EVSE changes; every healthy and slow receiver must end with the CPO's final state of every EVSE."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "macro_fanout.py"


def test_macro_fanout_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--receivers", "4", "--slow", "1", "--updates", "120", "--evses", "30",
         "--drivers", "2", "--ceiling-requests", "200", "--base-port", "19761", "--settle", "60", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    r = json.loads(out.read_text())["result"]
    assert r["changes"] == 120 and r["lost"] == 0 and r["slow_converged"] is True
    # Each of the three healthy receivers got at least the last change of each of the 30 EVSEs (which nothing
    # supersedes); lost == 0 says every other change was delivered or superseded.
    assert r["latency_samples"] >= 3 * 30
    assert 0 < r["p50_ms"] <= r["p99_ms"] == r["slow_p99_ms"]
    assert r["deliveries_per_s"] > 0 and r["raw_client_per_s"] > 0 and r["raw_sockets_per_s"] > 0
    assert r["raw_client"]["failed"] == 0
    assert "deliveries/s" in proc.stdout
