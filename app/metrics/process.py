"""Counters across Granian's worker processes: `serve` gives the workers one fresh directory (prometheus_client's
multiprocess mode, PROMETHEUS_MULTIPROC_DIR) where each process writes its samples and from which a scrape in any
worker sums them all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare(data_dir: Path) -> Path:
    """A fresh directory for this server's workers (`data_dir/metrics/<pid>`), set in the environment before any
    worker starts; directories of servers no longer running are removed (a server's samples start at zero, as a
    single process's would)."""
    root = data_dir / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and (not old.name.isdigit() or not _alive(int(old.name))):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    os.environ[ENV] = str(mine)
    return mine


def activate() -> None:
    """In a worker process: write samples to the shared directory. prometheus_client picks its storage when it is
    first imported, which may be in `serve` before the directory is set (building the command line imports the
    delivery metrics), and the workers are forked from there; metric children are made at their first use, in the
    worker, with the storage chosen now."""
    if not os.environ.get(ENV):
        return
    from prometheus_client import values

    values.ValueClass = values.get_value_class()


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def exposition() -> bytes:
    """This process's metrics, or, in multiprocess mode, every worker's summed."""
    # prometheus_client is imported late: it picks its storage (files or memory) from ENV when first imported.
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    directory = os.environ.get(ENV)
    if not directory:
        return generate_latest(REGISTRY)

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, directory)
    return generate_latest(registry)
