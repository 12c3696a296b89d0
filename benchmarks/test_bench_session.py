"""Micro benchmark of the session engine (smoke-sized): one batch of meter readings for 1,000
active sessions, parsed and applied with live pricing."""

from __future__ import annotations

from session_events import meter_rounds, starts

from rust_core import EventBatch, SessionEngine


def test_apply_meter_batch(benchmark) -> None:
    n = 1_000
    engine = SessionEngine()
    buf, headers = starts(n)
    assert engine.apply(EventBatch(buf), headers=headers).errors == []
    rounds = iter(meter_rounds(n, 10_000))

    def one_batch() -> None:
        result = engine.apply(EventBatch(b"\n".join(next(rounds))))
        assert len(result.accepted) == n

    benchmark.pedantic(one_batch, rounds=5, iterations=1)
    assert len(engine) == n
