"""Judge a run against an earlier one: a figure regressed when its ratio to its same-run baseline got worse by more
than the tolerance. Absolute figures move with the machine's load (shared, noisy machines), so they are shown but
never judged; a figure without a baseline is not judged either."""

from __future__ import annotations

from dataclasses import dataclass

from app.bench.figures import Figure
from app.bench.runner import Outcome

DEFAULT_TOLERANCE = 0.10


def key(bench: str, figure: Figure) -> tuple[str, str, str]:
    return bench, figure.name, figure.baseline_name


@dataclass(frozen=True)
class Verdict:
    old: Figure
    change: float | None  # new ratio / old ratio - 1 (None: no ratio on one side)
    regression: bool


def judge(new: Figure, old: Figure, tolerance: float) -> Verdict:
    if new.ratio is None or old.ratio is None or old.ratio == 0:
        return Verdict(old, None, False)
    change = new.ratio / old.ratio - 1
    worse = -change if new.higher_is_better else change
    return Verdict(old, change, worse > tolerance)


def compare(new: dict[str, Outcome], old: dict[str, Outcome], tolerance: float = DEFAULT_TOLERANCE
            ) -> dict[tuple[str, str, str], Verdict]:
    """A verdict for every figure of the new run that the old run has too."""
    before = {key(name, f): f for name, o in old.items() for f in o.figures}
    return {key(name, f): judge(f, before[key(name, f)], tolerance)
            for name, o in new.items() for f in o.figures if key(name, f) in before}


def regressions(verdicts: dict[tuple[str, str, str], Verdict]) -> list[tuple[str, str, str]]:
    return [k for k, v in verdicts.items() if v.regression]
