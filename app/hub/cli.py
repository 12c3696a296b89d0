"""`ocpi-engine hub parties|rules|allow|deny|unrule`: the hub's registry and its allow/deny lists."""

from __future__ import annotations

import argparse
from typing import Any

from app.config import Settings


def cmd_parties(args: argparse.Namespace) -> int:
    from app.hub import registry
    from app.service_cli import _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        found = await registry.entries(pool)
        print(f"{'PARTY':<8} {'ROLE':<6} {'PEER':>5}  STATUS")
        for e in found:
            print(f"{e.country_code}*{e.party_id:<4} {e.role:<6} {e.peer_id:>5}  {e.status}")
        return 0

    return _run(args, work)


def cmd_rules(args: argparse.Namespace) -> int:
    from app.hub import rules
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            party = rules.parse_party(args.party) if args.party else None
        except rules.RuleError as exc:
            return _fail(str(exc), 2)
        found = await rules.list_rules(pool, party)
        print(f"{'ID':>4}  {'PARTY':<8} {'LIST':<5}  OTHER")
        for r in found:
            print(f"{r.id:>4}  {rules.label(r.party):<8} {r.kind:<5}  {rules.label(r.other)}")
        return 0

    return _run(args, work)


def _add(args: argparse.Namespace, kind: str) -> int:
    from app.hub import rules
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            party, other = rules.parse_party(args.party), rules.parse_party(args.other)
            rule, new = await rules.add(pool, party, kind, other)
        except rules.RuleError as exc:
            return _fail(str(exc), 2)
        state = "added" if new else "already there"
        print(f"rule {rule.id}: {rules.label(other)} on {rules.label(party)}'s {kind.lower()} list ({state})")
        return 0

    return _run(args, work)


def cmd_unrule(args: argparse.Namespace) -> int:
    from app.hub import rules
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        if not await rules.remove(pool, args.rule_id):
            return _fail(f"no rule {args.rule_id} (see `ocpi-engine hub rules`)", 2)
        print(f"rule {args.rule_id} removed")
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    g = groups["hub"]
    g.add_parser("parties", parents=[common], help="every party reachable through this hub and its status"
                 ).set_defaults(func=cmd_parties)
    r = g.add_parser("rules", parents=[common], help="list allow and deny lists")
    r.add_argument("party", nargs="?", metavar="CC/PID", help="only this party's lists")
    r.set_defaults(func=cmd_rules)
    for kind, text in (("allow", "only parties on PARTY's allow list may send to it"),
                       ("deny", "no message between PARTY and OTHER, either way")):
        p = g.add_parser(kind, parents=[common], help=f"put OTHER on PARTY's {kind} list: {text}")
        p.add_argument("party", metavar="PARTY", help="CC/PID, e.g. NL/MSP")
        p.add_argument("other", metavar="OTHER", help="CC/PID")
        p.set_defaults(func=lambda a, k=kind.upper(): _add(a, k))
    u = g.add_parser("unrule", parents=[common], help="remove a rule (ids: `ocpi-engine hub rules`)")
    u.add_argument("rule_id", type=int, metavar="RULE_ID")
    u.set_defaults(func=cmd_unrule)
