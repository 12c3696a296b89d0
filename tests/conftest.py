from __future__ import annotations

import json
from collections.abc import Iterator
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
def pg_admin_dsn() -> Iterator[str]:
    """A PostgreSQL server to create test databases on: DATABASE_URL's when set, else an embedded one.

    The embedded one lives outside pytest's temporary folder: as root it runs as its own user, and any pytest
    session starting meanwhile closes /tmp/pytest-of-root to other users (the server would then PANIC)."""
    import os
    import shutil
    import tempfile

    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    from app.db import embedded
    from tests.service import stop_embedded

    root = Path(tempfile.mkdtemp(prefix="ocpi-tests-pg-"))
    try:
        yield embedded.start(root)
    finally:
        stop_embedded(root / "pgdata")
        shutil.rmtree(root, ignore_errors=True)
