"""Regressions found by the ocpi-tariffs comparison (docs/ocpi-tariffs-comparison.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rust_core import Price, TariffSet, price_cdr

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("cdr_id", "excl", "incl"),
    [
        # A split period's shares must not make an exact multiple of the step gain a whole step.
        ("bug-extra-energy-step-after-split", "5.889", "7.1257"),
        ("bug-extra-parking-step-after-split", "8.535", "10.3273"),
    ],
)
def test_no_extra_step_after_split(cdr_id: str, excl: str, incl: str) -> None:
    tariffs = TariffSet((DATA / "step_after_split_tariffs.json").read_bytes())
    line = next(x for x in (DATA / "step_after_split.jsonl").read_bytes().splitlines() if cdr_id.encode() in x)
    r = price_cdr(line, tariffs, time_zone="Europe/Amsterdam")
    assert r.total_cost == Price(excl_vat=Decimal(excl), incl_vat=Decimal(incl))
