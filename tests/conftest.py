from __future__ import annotations

import json
from pathlib import Path

import pytest

VECTORS = Path(__file__).parent / "vectors"
DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"


def vector_files() -> list[Path]:
    return sorted(VECTORS.glob("*.json"))


@pytest.fixture(scope="session")
def demo_tariffs() -> bytes:
    return (DEMO / "tariffs.json").read_bytes()


@pytest.fixture(scope="session")
def demo_cdr_lines() -> list[bytes]:
    return (DEMO / "cdrs.jsonl").read_bytes().splitlines()


def load_vector(path: Path) -> dict:
    return json.loads(path.read_text())
