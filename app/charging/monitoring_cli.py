"""`ocpi-engine sessions watch`: the live view as a table, refreshed every interval (or printed once)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

import msgspec

from app.config import Settings

CLEAR = "\x1b[H\x1b[2J"
_decode = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


def _location_arg(text: str) -> tuple[str, str, str]:
    parts = text.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected COUNTRY/PARTY/LOCATION_ID, e.g. NL/EXA/LOC-00001, not {text!r}")
    return parts[0], parts[1], parts[2]


def _interval_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("the interval must be between 0.1 and 3600 seconds")
    return value


def _limit_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 10000, not {text!r}")
    return int(text)


def _num(value: Decimal | int | None, places: int) -> str:
    """For reading only (the JSON keeps the exact figures): rounded half up to `places`."""
    if value is None:
        return "-"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"


def _costs(costs: list[dict[str, Any]]) -> str:
    """`EUR 12.34` per currency (excl. VAT), `?` while some session has no cost yet."""
    out = [f"{c['currency']} {_num(c['excl_vat'], 2) if c['excl_vat'] is not None else '?'}" for c in costs]
    return ", ".join(out) or "-"


def _statuses(evses: dict[str, int]) -> str:
    return " ".join(f"{status}:{n}" for status, n in sorted(evses.items())) or "-"


def render_locations(page: dict[str, Any], in_all: int | None = None) -> str:
    """The location list; `in_all` (every location listed) when the page holds only the active ones."""
    which = f"{page['total']} locations"
    if in_all is not None:
        which += f" with active sessions ({in_all} locations in all, --all lists them)"
    lines = [f"{which}, {page['active_sessions']} active sessions, "
             f"{_num(page['kwh'], 3)} kWh, cost so far (excl. VAT): {_costs(page['cost'])}", ""]
    lines.append(f"{'LOCATION':<30} {'ACTIVE':>7} {'KWH':>14} {'COST (EXCL. VAT)':<22} EVSES")
    for loc in page["locations"]:
        name = f"{loc['country_code']}/{loc['party_id']}/{loc['location_id']}"
        lines.append(f"{name:<30} {loc['active_sessions']:>7} {_num(loc['kwh'], 3):>14} {_costs(loc['cost']):<22} "
                     f"{_statuses(loc['evses'])}")
    shown = len(page["locations"])
    if shown < page["total"]:
        lines.append(f"... {page['total'] - shown} more (--limit)")
    return "\n".join(lines)


def render_location(loc: dict[str, Any]) -> str:
    lines = [f"{loc['country_code']}/{loc['party_id']}/{loc['location_id']}: {loc['active_sessions']} active sessions, "
             f"{_num(loc['kwh'], 3)} kWh, cost so far (excl. VAT): {_costs(loc['cost'])}", ""]
    lines.append(f"{'EVSE':<24} {'STATUS':<12} {'ACTIVE':>6} {'KWH':>12}  COST (EXCL. VAT)")
    for evse in loc["evses"]:
        lines.append(f"{evse['evse_uid']:<24} {evse['status']:<12} {evse['active_sessions']:>6} "
                     f"{_num(evse['kwh'], 3):>12}  {_costs(evse['cost'])}")
        for s in evse["sessions"]:
            cost = f"{s['currency']} {_num(s['excl_vat'], 2)}" + (
                f" ({_num(s['incl_vat'], 2)} incl. VAT)" if s["incl_vat"] is not None else "")
            lines.append(f"  session {s['id']:<36} connector {s['connector_id']:<4} since {s['started_at']:<28} "
                         f"{_num(s['kwh'], 3):>10} kWh  {cost}")
    return "\n".join(lines)


def render(view: Any, args: argparse.Namespace) -> str | None:
    """The text (or JSON) of one refresh; None when --location names no location in the view."""
    if args.location:
        body = view.location(*args.location)
        if body is None:
            return None
        return body.decode() if args.json else render_location(_decode.decode(body))
    body = view.locations(None, None, 0, args.limit, active_only=not args.all)
    if args.json:
        return body.decode()
    # An empty page of every location: its total, at no cost.
    in_all = None if args.all else _decode.decode(view.locations(None, None, 0, 0))["total"]
    return render_locations(_decode.decode(body), in_all)


async def watch(pool: Any, args: argparse.Namespace, out: TextIO) -> int:
    from app.charging.monitoring import LiveView
    from app.service_cli import _fail

    view = LiveView()
    live = not args.once
    clear = live and out.isatty() and not args.json
    while True:
        await view.refresh(pool)
        text = render(view, args)
        if text is None:
            where = "/".join(args.location)
            if not live:
                return _fail(f"no location {where} in the live view (no active session and no EVSE status)", 2)
            text = f"{where}: no active session and no EVSE status"
        out.write((CLEAR if clear else "") + text + "\n")
        out.flush()
        if not live:
            return 0
        await asyncio.sleep(args.interval)


def cmd_watch(args: argparse.Namespace) -> int:
    from app.service_cli import _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        return await watch(pool, args, sys.stdout)

    try:
        return _run(args, work)
    except KeyboardInterrupt:  # Ctrl-C ends the watch; not an error
        return 0


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    w = groups["sessions"].add_parser(
        "watch", parents=[common], help="live view: active sessions, kWh, cost and EVSE statuses per location",
        description="Per location with an active session (--all: every location): active sessions, energy, cost so "
                    "far and EVSE statuses; with --location, per EVSE and session. Refreshed every --interval "
                    "seconds until Ctrl-C; --once prints once.")
    w.add_argument("--location", type=_location_arg, metavar="CC/PID/ID", help="one location in detail")
    w.add_argument("--interval", type=_interval_arg, default=2.0, metavar="S", help="seconds between refreshes (default 2)")
    w.add_argument("--all", action="store_true",
                   help="list every location (with an active session or a known EVSE status), not only the active ones")
    w.add_argument("--limit", type=_limit_arg, default=50, help="locations listed (default 50)")
    w.add_argument("--once", action="store_true", help="print once and exit")
    w.add_argument("--json", action="store_true", help="print the view as JSON (as the API serves it)")
    w.set_defaults(func=cmd_watch)
