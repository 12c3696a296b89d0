"""`ocpi-engine cdrs disputes [--json] [--all]`: the received CDRs whose re-pricing did not agree."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import Any

from app.config import Settings

_HEADER = ("CDR", "CPO", "STATUS", "THEIR TOTAL", "OUR TOTAL", "DIFFERENCE", "REASON")


def _amount(value: Decimal | None, currency: str | None) -> str:
    return "-" if value is None else f"{value:f} {currency or ''}".strip()


def cmd_disputes(args: argparse.Namespace) -> int:
    from app.checks import disputes
    from app.service_cli import _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        found = await disputes.page(pool, None if args.all else list(disputes.DISPUTES), 0, args.limit)
        if args.json:
            sys.stdout.buffer.write(disputes.encode(found.items) + b"\n")
            return 0
        rows = [(f"{c.country_code}/{c.party_id}/{c.cdr_id}", c.cpo, c.status, _amount(c.their_total, c.currency),
                 _amount(c.our_total, c.currency), _amount(c.difference, c.currency), c.reason or "")
                for c in found.items]
        widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER) - 1)]
        for r in [_HEADER, *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1])
        what = "checks" if args.all else "disputed or unverifiable CDRs"
        more = f" (showing {len(rows)}; --limit)" if found.total > len(rows) else ""
        print(f"{found.total} {what}{more}", file=sys.stderr)
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    p = groups["cdrs"].add_parser("disputes", parents=[common],
                                  help="received CDRs our re-pricing disputes or cannot verify")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.add_argument("--all", action="store_true", help="also list AGREED and PENDING checks")
    p.add_argument("--limit", type=int, default=1000, help="at most this many, newest first (default 1000)")
    p.set_defaults(func=cmd_disputes)
