"""Smoke test of the HTTP macro benchmark (benchmarks/macro_http.py): tiny numbers, the built-in load generator
(wrk may not be installed), a real server on a fresh database; the reported results must be clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "macro_http.py"
LOCATIONS = 1050  # 10 full pages and a last page of 50


def test_macro_http_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--locations", str(LOCATIONS), "--duration", "1.5", "--warmup", "0.3",
         "--max-requests", "300", "--concurrency", "4", "--workers", "2", "--cdr-pool", "50",
         "--generator", "builtin", "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())

    assert report["environment"]["generator"].startswith("builtin")
    assert report["environment"]["server_log_level"] == "WARNING"
    assert report["import"]["locations"] == LOCATIONS and report["import"]["locations_per_s"] > 0

    pages = report["scenarios"]["locations_pages"]
    assert pages["errors"] == 0, pages["error_samples"]
    assert 0 < pages["requests"] <= 300 and pages["ok"] == pages["requests"]
    # Every page had 100 objects except the last page of the set (50 here).
    # The built-in generator asks for offsets 0, 100, ..., 1000, 0, ... in order: offset 1000 is the 11th page.
    n = pages["requests"]
    assert pages["page_sizes"] == {k: v for k, v in {"100": n - (n + 1) // 11, "50": (n + 1) // 11}.items() if v}
    assert pages["objects"] == sum(int(k) * n for k, n in pages["page_sizes"].items())
    assert pages["requests_per_s"] > 0 and pages["objects_per_s"] > 0 and pages["mb_per_s"] > 0
    assert 0 < pages["latency_ms"]["p50"] <= pages["latency_ms"]["p99"] <= pages["latency_ms"]["max"]
    assert pages["target_requests_per_s"] == 500 and isinstance(pages["target_met"], bool)

    cdrs = report["scenarios"]["cdr_post"]
    assert cdrs["errors"] == 0, cdrs["error_samples"]
    assert 0 < cdrs["requests"] <= 300 and cdrs["ok"] == cdrs["requests"]
    assert cdrs["cdr_rows_in_database"] == cdrs["ok"]  # every 201 is a new, unique CDR
    assert 0 < cdrs["latency_ms"]["p50"] <= cdrs["latency_ms"]["max"]
    assert cdrs["target_requests_per_s"] == 2000

    for scenario in (pages, cdrs):
        cpu = scenario["cpu"]
        if cpu.get("available"):
            assert len(cpu["server_workers_pct"]) == 2
    assert "OCPI HTTP macro benchmark" in proc.stdout and "locations_pages" in proc.stdout
