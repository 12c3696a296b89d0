from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import iter_cdr_lines, make_tariffs  # noqa: E402

import json  # noqa: E402


@pytest.fixture(scope="session")
def bench_tariffs() -> list[dict]:
    return make_tariffs(random.Random(42))


@pytest.fixture(scope="session")
def bench_tariffs_json(bench_tariffs: list[dict]) -> bytes:
    return json.dumps(bench_tariffs).encode()


@pytest.fixture(scope="session")
def bench_cdrs(bench_tariffs: list[dict]) -> list[bytes]:
    return [line.encode() for line in iter_cdr_lines(10_000, 42, bench_tariffs)]
