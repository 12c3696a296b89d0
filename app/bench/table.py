"""The one table `ocpi-engine bench` prints: each figure beside its same-run baseline and the ratio, and with
--compare the earlier ratio, the change and REGRESSION where it got worse by more than the tolerance."""

from __future__ import annotations

from typing import Any

from app.bench.compare import Verdict, key
from app.bench.runner import Outcome


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def _grid(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def render(outcomes: dict[str, Outcome], environment: dict[str, Any] | None = None,
           verdicts: dict[tuple[str, str, str], Verdict] | None = None, tolerance: float = 0.0,
           seconds: float | None = None) -> str:
    header = ["benchmark", "figure", "value", "unit", "same-run baseline", "baseline", "ratio"]
    if verdicts is not None:
        header += ["old ratio", "change", ""]
    rows = [header]
    notes = []
    for name, o in outcomes.items():
        if o.status == "skipped" or (o.status == "failed" and not o.figures):
            rows.append([name, f"({o.status})", "", "", "", "", ""] + (["", "", ""] if verdicts is not None else []))
            notes.append(f"{name}: {o.status}: {o.note.strip()}")
            continue
        if o.status == "failed":
            notes.append(f"{name}: failed: {o.note.strip()}")
        for f in o.figures:
            ratio = f.ratio
            row = [name, f.name, number(f.value), f.unit, f.baseline_name or "(none)", number(f.baseline),
                   "-" if ratio is None else f"{ratio:.3f}"]
            if verdicts is not None:
                v = verdicts.get(key(name, f))
                if v is None:
                    row += ["-", "", "new"]
                elif v.change is None:
                    row += ["-", "", "not judged"]
                else:
                    assert v.old.ratio is not None
                    row += [f"{v.old.ratio:.3f}", f"{v.change * 100:+.1f} %", "REGRESSION" if v.regression else "ok"]
            rows.append(row)
    lines = []
    if environment:
        e = environment
        lines.append(f"ocpi-engine {e.get('ocpi_engine', '?')} benchmarks, {e.get('cpu_count')} CPUs "
                     f"({e.get('cpu_model', '?')}), load average {' '.join(map(str, e.get('loadavg', [])))}, "
                     f"commit {str(e.get('git_commit', 'unknown'))[:12]}"
                     + (f", {seconds:.0f} s" if seconds is not None else ""))
    lines += _grid(rows, right={2, 5, 6, 7, 8})
    lines.append("ratio = value / same-run baseline (for times in ms lower is better); "
                 + ("--compare judges the ratios only"
                    + (f", tolerance {tolerance * 100:g} %" if verdicts is not None else "") + "."))
    lines += notes
    return "\n".join(lines)
