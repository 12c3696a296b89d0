"""One measured figure beside its same-run baseline. The machines are shared and noisy, so the ratio (figure /
baseline, both measured in the same run) is what a comparison judges; the absolute figures are shown beside it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    value: float | None
    baseline_name: str = ""
    baseline: float | None = None
    higher_is_better: bool = True  # of the value, so of the ratio too (a time in ms: lower is better)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": None if self.ratio is None else round(self.ratio, 4)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        return cls(name=data["name"], unit=data.get("unit", ""), value=data.get("value"),
                   baseline_name=data.get("baseline_name", ""), baseline=data.get("baseline"),
                   higher_is_better=data.get("higher_is_better", True))
