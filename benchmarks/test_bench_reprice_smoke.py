"""Smoke test of the re-rating macro benchmark (benchmarks/macro_reprice.py): a few hundred CDRs loaded with COPY
into a fresh database, both read paths measured, and both end-to-end runs priced every CDR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


SCRIPT = Path(__file__).resolve().parent / "macro_reprice.py"
CDRS = 300


def test_macro_reprice_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cdrs", str(CDRS), "--batch", "100", "--json", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())
    assert report["copy_out_only"]["cdrs"] == report["cursor_only"]["cdrs"] == CDRS
    assert report["copy_out_only"]["cdrs_per_s"] > 0 and report["cursor_only"]["cdrs_per_s"] > 0
    assert [r["source"] for r in report["reprice"]] == ["copy", "copy:totals"]
    for r in report["reprice"]:
        assert (r["cdrs"], r["priced"], r["failed"]) == (CDRS, CDRS, 0)
        assert r["cdrs_per_s"] > 0 and r["peak_rss_mb"] > 0
    assert "COPY out only" in proc.stdout
