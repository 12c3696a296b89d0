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


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL server to create test databases on: DATABASE_URL's when set, else an embedded one."""
    import os

    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from app.db import embedded

    return embedded.start(tmp_path_factory.mktemp("embedded-pg"))
