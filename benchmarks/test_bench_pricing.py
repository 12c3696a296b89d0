"""Micro benchmarks of the pricing paths (pytest-benchmark). Targets live here, not in tests:
run `pytest benchmarks --benchmark-only` on a release build (what `pip install` builds)."""

from __future__ import annotations

import msgspec
import pytest

from rust_core import TariffSet, decode_result, parse_only, price_batch, price_cdr_json

TZ = "Europe/Amsterdam"


@pytest.fixture(scope="module")
def tariff_set(bench_tariffs_json: bytes) -> TariffSet:
    return TariffSet(bench_tariffs_json)


def test_compile_tariffs(benchmark, bench_tariffs_json: bytes) -> None:
    ts = benchmark(TariffSet, bench_tariffs_json)
    assert len(ts) == 40


def test_price_one_cdr(benchmark, tariff_set: TariffSet, bench_cdrs: list[bytes]) -> None:
    out = benchmark(price_cdr_json, bench_cdrs[0], tariff_set, time_zone=TZ)
    assert decode_result(out).total_cost is not None


def test_price_one_cdr_totals_only(benchmark, tariff_set: TariffSet, bench_cdrs: list[bytes]) -> None:
    benchmark(price_cdr_json, bench_cdrs[1], tariff_set, time_zone=TZ, breakdown=False)


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_price_batch_jsonl(benchmark, tariff_set: TariffSet, bench_cdrs: list[bytes], n: int) -> None:
    buf = b"\n".join(bench_cdrs[:n]) + b"\n"
    result = benchmark(price_batch, buf, tariff_set, time_zone=TZ)
    assert (result.records, result.priced) == (n, n)


def test_price_batch_documents(benchmark, tariff_set: TariffSet, bench_cdrs: list[bytes]) -> None:
    docs = bench_cdrs[:1_000]
    result = benchmark(price_batch, docs, tariff_set, time_zone=TZ)
    assert result.priced == 1_000


def test_parse_only_baseline(benchmark, bench_cdrs: list[bytes]) -> None:
    buf = b"\n".join(bench_cdrs) + b"\n"
    assert benchmark(parse_only, buf) == (10_000, 0)


def test_msgspec_decode_baseline(benchmark, bench_cdrs: list[bytes]) -> None:
    """Untyped msgspec decode of the same CDRs, one thread: the Python-side reference."""
    decode = msgspec.json.decode
    benchmark(lambda: [decode(c) for c in bench_cdrs[:1_000]])
