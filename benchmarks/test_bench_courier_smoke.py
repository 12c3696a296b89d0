"""Smoke test of the courier rate benchmark (benchmarks/courier_rates.py): tiny numbers, every client that can run
answers every request; aiohttp is measured when installed and reported as skipped otherwise."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "courier_rates.py"


def test_courier_rates_smoke(tmp_path: Path) -> None:
    out = tmp_path / "rates.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--requests", "300", "--warmup", "20", "--concurrency", "8",
         "--connections", "4", "--max-seconds", "20", "--json", str(out)],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())

    measured = {"httpx", "rust_adapter", "rust_direct"}
    if importlib.util.find_spec("aiohttp"):
        measured.add("aiohttp")
    else:
        assert report["skipped"] == {"aiohttp": "aiohttp is not installed"}
    assert set(report["results"]) == measured
    for name, r in report["results"].items():
        assert r["errors"] == 0, (name, r["error_samples"])
        assert r["requests"] == r["ok"] == 300 and r["complete"], (name, r)
        assert r["requests_per_s"] > 0 and r["client_cpu_ms_per_1000"] > 0
    assert report["results"]["httpx"]["ratio_to_httpx"] == 1.0
    assert "Courier request rates" in proc.stdout and "rust_direct" in proc.stdout
