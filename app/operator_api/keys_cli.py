"""`ocpi-engine apikey create|list|revoke`."""

from __future__ import annotations

import argparse
from typing import Any

from app.config import Settings


def cmd_create(args: argparse.Namespace) -> int:
    from app.operator_api.keys import create_key
    from app.service_cli import _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        key_id, key = await create_key(pool, vault, args.label)
        print(key)
        print(f"API key {key_id} ({args.label}) created; it is shown only now. Send it as 'Authorization: Bearer <key>'.",
              file=__import__("sys").stderr)
        return 0

    return _run(args, work)


def cmd_list(args: argparse.Namespace) -> int:
    from app.operator_api.keys import list_keys
    from app.service_cli import _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        keys = await list_keys(pool)
        print(f"{'ID':>4}  {'LABEL':<24} {'CREATED':<20} {'LAST USED':<20} STATUS")
        for k in keys:
            used = k.last_used.strftime("%Y-%m-%d %H:%M:%S") if k.last_used else "-"
            status = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "live"
            print(f"{k.id:>4}  {k.label[:24]:<24} {k.created_at:%Y-%m-%d %H:%M:%S}  {used:<20} {status}")
        return 0

    return _run(args, work)


def cmd_revoke(args: argparse.Namespace) -> int:
    from app.operator_api.keys import revoke_key
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        if not await revoke_key(pool, args.key_id):
            return _fail(f"no live API key {args.key_id} (see `ocpi-engine apikey list`)", 2)
        print(f"API key {args.key_id} revoked")
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    g = groups["apikey"]
    c = g.add_parser("create", parents=[common], help="create an operator API key (printed once)")
    c.add_argument("--label", required=True, help="who or what uses the key, e.g. 'charging backend'")
    c.set_defaults(func=cmd_create)
    g.add_parser("list", parents=[common], help="list API keys (never the keys themselves)").set_defaults(func=cmd_list)
    r = g.add_parser("revoke", parents=[common], help="revoke an API key at once")
    r.add_argument("key_id", type=int, metavar="KEY_ID")
    r.set_defaults(func=cmd_revoke)
