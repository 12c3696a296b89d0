"""Batch and single pricing agree; periods priced in order; the demo set prices cleanly."""

from __future__ import annotations

from rust_core import TariffSet, price_batch, price_cdr_json


def test_batch_equals_single(demo_tariffs: bytes, demo_cdr_lines: list[bytes]) -> None:
    ts = TariffSet(demo_tariffs)
    lines = demo_cdr_lines[:200]
    batch = price_batch(b"\n".join(lines), ts, time_zone="Europe/Amsterdam")
    assert batch.errors == []
    singles = [price_cdr_json(c, ts, time_zone="Europe/Amsterdam", breakdown=False) for c in lines]
    assert batch.output.splitlines() == singles
    docs = price_batch(lines, ts, time_zone="Europe/Amsterdam")
    assert docs.output == batch.output
