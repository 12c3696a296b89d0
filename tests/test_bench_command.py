"""`ocpi-engine bench`: the table and the comparison on recorded results, where the benchmarks are found, and one
real run of the fastest benchmark end to end, judged against an earlier run it fell behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.bench import compare, registry, runner, table
from app.bench.figures import Figure
from app.bench.runner import Outcome

ROOT = Path(__file__).resolve().parent.parent


def recorded(pricing_ratio: float = 0.8, view_ms: float = 250.0) -> dict[str, Outcome]:
    """What `bench --json` records: pricing beside orjson, the live view in ms beside a bare fetch, a skipped one."""
    data: dict[str, Any] = {"format": 1, "benchmarks": {
        "pricing": {"status": "ok", "seconds": 4.5, "figures": [
            Figure("price-batch end to end", "CDRs/s", 40_000 * pricing_ratio, "orjson parse-only, 1 thread",
                   40_000).to_json(),
            Figure("price-batch end to end", "CDRs/s", 40_000 * pricing_ratio, "rust_core parse-only, all cores",
                   160_000).to_json()]},
        "live_view": {"status": "ok", "seconds": 4.0, "figures": [
            Figure("live view initial load", "ms", view_ms, "bare asyncpg fetch, same rows", 125.0,
                   higher_is_better=False).to_json(),
            Figure("live view refresh, nothing changed", "ms", 2.2, higher_is_better=False).to_json()]},
        "reprice": {"status": "skipped", "note": "macro_reprice.py not found"},
    }}
    return {name: Outcome.from_json(name, o) for name, o in json.loads(json.dumps(data))["benchmarks"].items()}


def test_table_shows_each_figure_beside_its_baseline_and_the_ratio() -> None:
    text = table.render(recorded(), {"cpu_count": 2, "loadavg": [1.0, 0.5, 0.2], "git_commit": "abc"})
    lines = text.splitlines()
    orjson = next(line for line in lines if "orjson" in line).split()
    assert orjson[:2] == ["pricing", "price-batch"] and "32,000" in orjson and "40,000" in orjson
    assert orjson[-1] == "0.800"
    view = next(line for line in lines if "initial load" in line)
    assert "250" in view and "125" in view and view.endswith("2.000")
    assert next(line for line in lines if "nothing changed" in line).endswith("-")  # no baseline: no ratio
    assert any(line.startswith("reprice") and "(skipped)" in line for line in lines)
    assert "reprice: skipped: macro_reprice.py not found" in text
    assert "2 CPUs" in lines[0] and "commit abc" in lines[0]


def test_compare_judges_ratios_against_the_tolerance() -> None:
    old = recorded(pricing_ratio=0.8, view_ms=250)
    # Pricing vs orjson 0.8 -> 0.7 (-12.5 %): a regression; the live view 250 -> 270 ms (+8 %): within 10 %.
    verdicts = compare.compare(recorded(pricing_ratio=0.7, view_ms=270), old)
    flagged = compare.regressions(verdicts)
    assert ("pricing", "price-batch end to end", "orjson parse-only, 1 thread") in flagged
    assert not any(k[0] == "live_view" for k in flagged)
    # Times: lower is better, so a slower initial load (+20 %) regresses, a faster one never does.
    assert compare.regressions(compare.compare(recorded(view_ms=300), old)) == [
        ("live_view", "live view initial load", "bare asyncpg fetch, same rows")]
    assert compare.regressions(compare.compare(recorded(pricing_ratio=2.0, view_ms=100), old)) == []
    # A looser tolerance lets the pricing change pass; the figure without a baseline is never judged.
    assert compare.regressions(compare.compare(recorded(pricing_ratio=0.7), old, tolerance=0.2)) == []
    unjudged = verdicts[("live_view", "live view refresh, nothing changed", "")]
    assert (unjudged.change, unjudged.regression) == (None, False)


def test_table_with_compare_marks_regressions() -> None:
    new, old = recorded(pricing_ratio=0.6), recorded(pricing_ratio=0.8)
    del old["live_view"]
    text = table.render(new, None, compare.compare(new, old), 0.1)
    row = next(line for line in text.splitlines() if "orjson" in line)
    assert row.split()[-4:] == ["0.800", "-25.0", "%", "REGRESSION"]
    assert next(line for line in text.splitlines() if "initial load" in line).endswith("new")
    assert "tolerance 10 %" in text


def test_benchmarks_folder_is_found_or_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCPI_ENGINE_BENCHMARKS", raising=False)
    assert runner.find_benchmarks(None) == ROOT / "benchmarks"  # the checkout `app` is imported from
    with pytest.raises(runner.BenchError, match="not a benchmarks folder"):
        runner.find_benchmarks(tmp_path)
    monkeypatch.setattr(runner, "PACKAGE_ROOT", tmp_path)  # as if installed without the repository
    monkeypatch.chdir(tmp_path)
    with pytest.raises(runner.BenchError, match="not part of the installed package.*--benchmarks DIR"):
        runner.find_benchmarks(None)
    monkeypatch.setenv("OCPI_ENGINE_BENCHMARKS", str(ROOT / "benchmarks"))
    assert runner.find_benchmarks(None) == ROOT / "benchmarks"


def test_a_missing_benchmark_script_is_skipped_with_its_note(tmp_path: Path) -> None:
    out = runner.run_one(registry.by_name("reprice"), tmp_path, runner.Options(quick=True), tmp_path)
    assert out.status == "skipped" and "macro_reprice.py not found" in out.note and "not in this checkout" in out.note


def test_figures_are_read_from_each_benchmarks_report() -> None:
    reprice = registry.by_name("reprice").figures({
        "copy_out_only": {"cdrs": 20000, "cdrs_per_s": 400_000},
        "reprice": [{"source": "copy", "cdrs_per_s": 50_000}, {"source": "copy:totals", "cdrs_per_s": 40_000}]})
    assert [(f.name, f.ratio) for f in reprice] == [("re-rating stored CDRs (copy)", 0.125),
                                                     ("re-rating stored CDRs (copy:totals)", 0.1)]
    [fanout, p99] = registry.by_name("fanout").figures({"result": {"deliveries_per_s": 500, "raw_client_per_s": 10_000,
                                                                   "p99_ms": 80}})
    assert (fanout.ratio, p99.ratio, p99.higher_is_better) == (0.05, None, False)
    [pages] = registry.by_name("http").figures({"scenarios": {"locations_pages": {"requests_per_s": 300,
                                                                                 "bare_requests_per_s": 1200}}})
    assert pages.ratio == 0.25
    # A report without the figure: the value is None, which the runner reports as a failure.
    assert [f.value for f in registry.by_name("reprice").figures({})] == [None]


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_bench_quick_end_to_end_and_a_regression_fails(tmp_path: Path) -> None:
    first = _bench("--quick", "--only", "session", "--json", str(tmp_path / "first.json"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "1/1 session:" in first.stderr and "session: ok in" in first.stderr  # progress lines
    row = next(line for line in first.stdout.splitlines() if line.startswith("session"))
    assert "msgspec parse-only" in row
    result = json.loads((tmp_path / "first.json").read_text())
    assert result["quick"] is True and result["environment"]["cpu_count"] == os.cpu_count()
    assert {"loadavg", "python", "ocpi_engine", "git_commit"} <= result["environment"].keys()
    session = result["benchmarks"]["session"]
    assert session["status"] == "ok" and "--seed" in session["command"]
    [figure] = session["figures"]
    assert figure["value"] > 0 and figure["baseline"] > 0 and figure["ratio"] > 0

    # An earlier run whose ratio was twice as good: this run is a regression, exit status 1.
    figure["value"] *= 2
    figure["ratio"] *= 2
    (tmp_path / "old.json").write_text(json.dumps(result))
    second = _bench("--quick", "--only", "session", "--compare", str(tmp_path / "old.json"), cwd=tmp_path)
    assert second.returncode == 1, second.stdout + second.stderr
    row = next(line for line in second.stdout.splitlines() if line.startswith("session"))
    assert row.endswith("REGRESSION")


def test_bench_usage_errors_are_precise(tmp_path: Path) -> None:
    bad = _bench("--benchmarks", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "not a benchmarks folder" in bad.stderr
    (tmp_path / "old.json").write_text("[]")
    bad = _bench("--compare", str(tmp_path / "old.json"), cwd=tmp_path)
    assert bad.returncode == 2 and "not a result of `ocpi-engine bench --json`" in bad.stderr
