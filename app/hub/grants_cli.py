"""`ocpi-engine hub grant OWNER SERVICE --module M [--interface I]`, `hub grants [--revoked]`, `hub revoke-grant ID`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.config import Settings


def cmd_grant(args: argparse.Namespace) -> int:
    from app.hub import grants
    from app.service_cli import _fail, _run

    try:
        owner = grants.parse_party(args.owner, "OWNER")
        service = grants.parse_party(args.service, "SERVICE")
        grants.check_module(args.module, args.interface)
    except grants.GrantError as exc:
        return _fail(str(exc), 2)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            made = await grants.create(pool, owner, service, args.module, args.interface)
        except grants.GrantError as exc:
            return _fail(str(exc))
        print(f"grant {made.id}: {'*'.join(service)} receives copies of {'*'.join(owner)}'s {made.module} "
              f"({made.interface}) messages")
        return 0

    return _run(args, work)


def cmd_grants(args: argparse.Namespace) -> int:
    from app.hub import grants
    from app.service_cli import _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        found = await grants.list_grants(pool, args.revoked)
        print(f"{'ID':>4}  {'OWNER':<7} {'SERVICE':<7} {'MODULE':<16} {'INTERFACE':<9} {'CREATED':<19}  STATUS")
        for g in found:
            status = f"revoked {g.revoked_at:%Y-%m-%d %H:%M}" if g.revoked_at else "live"
            print(f"{g.id:>4}  {'*'.join(g.owner):<7} {'*'.join(g.service):<7} {g.module:<16} {g.interface:<9} "
                  f"{g.created_at:%Y-%m-%d %H:%M:%S}  {status}")
        print(f"{len(found)} grant(s)", file=sys.stderr)
        return 0

    return _run(args, work)


def cmd_revoke(args: argparse.Namespace) -> int:
    from app.hub import grants
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        revoked = await grants.revoke(pool, args.grant_id)
        if revoked is None:
            return _fail(f"no live grant {args.grant_id} (see `ocpi-engine hub grants`)", 2)
        print(f"grant {revoked.id} revoked: {'*'.join(revoked.service)} receives no more copies of "
              f"{'*'.join(revoked.owner)}'s {revoked.module}")
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    from app.hub.grants import INTERFACES, MODULES

    g = groups["hub"]
    p = g.add_parser("grant", parents=[common], help="grant a service party copies of an owner's messages")
    p.add_argument("owner", metavar="OWNER", help="the data owner, COUNTRY/PARTY (e.g. NL/CPO)")
    p.add_argument("service", metavar="SERVICE", help="the service party receiving copies, COUNTRY/PARTY")
    p.add_argument("--module", required=True, help=", ".join(MODULES))
    p.add_argument("--interface", default="RECEIVER", help=f"{' or '.join(INTERFACES)} (default RECEIVER: messages "
                                                           "the owner pushes to its counterparts)")
    p.set_defaults(func=cmd_grant)
    ls = g.add_parser("grants", parents=[common], help="list service grants")
    ls.add_argument("--revoked", action="store_true", help="also list revoked grants")
    ls.set_defaults(func=cmd_grants)
    r = g.add_parser("revoke-grant", parents=[common], help="revoke a service grant at once")
    r.add_argument("grant_id", type=int, metavar="GRANT_ID")
    r.set_defaults(func=cmd_revoke)
