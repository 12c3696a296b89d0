"""Command groups of the charging flow and the operator API: `sessions`, `cdrs`, `tariffs`, `apikey`.

Each command lives in the module that does its work; that module's `add_cli(groups, common)` adds it here."""

from __future__ import annotations

import argparse
from importlib import import_module
from typing import Any

GROUPS = {
    "sessions": "charging sessions priced live: replay events, watch, generate demo events, list stored sessions",
    "cdrs": "CDRs we issued and received: list, show, explain a price, list disputes, re-rate",
    "tariffs": "tariffs: which tariff applies to whom, stored versions",
    "apikey": "operator API keys for /api/v1 (the charging backend, monitoring)",
    "hub": "the hub role: parties, routing rules, service grants",
    "outbox": "the pushes queued for a peer: show, retry refused ones, resync",
}

# Modules with an `add_cli(groups: dict[str, subparsers], common: ArgumentParser) -> None`.
MODULES = [
    "app.operator_api.keys_cli",
    "app.charging.generator",
    "app.charging.stored_lists",
    "app.charging.replay",
    "app.charging.cdrs",
    "app.charging.assignments",
    "app.charging.monitoring_cli",
    "app.checks.cli",
    "app.checks.history_cli",
    "app.reprice.cli",
    "app.hub.cli",
    "app.hub.grants_cli",
    "app.outbox.cli",
]


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    groups = {name: sub.add_parser(name, help=text).add_subparsers(dest="action", required=True, metavar="ACTION")
              for name, text in GROUPS.items()}
    for name in MODULES:
        import_module(name).add_cli(groups, common)
