"""CDRs the engine issues when a session stops: stored as our own CDRs (the CDR id is the session id, so a
replayed stop makes no second CDR), their per-period breakdown kept next to them for support questions, and POSTed
to the token's eMSP through the outbox, all in the caller's transaction. `ocpi-engine cdrs explain ID` shows
the breakdown."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from app.config import Settings
from app.db import objects
from app.modules import cdrs as cdr_module
from app.modules.owned import announce_many
from app.schemas.types import to_utc
from rust_core import PricedCdr, decode_result


class Party(msgspec.Struct):
    country_code: str
    party_id: str


class Head(msgspec.Struct):
    """What storing and announcing a Session or CDR the engine wrote reads of it (`announce` finds the eMSP in
    `cdr_token`)."""

    country_code: str
    party_id: str
    id: str
    last_updated: str
    cdr_token: Party

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.country_code, self.party_id, self.id)

    @property
    def emsp(self) -> tuple[str, str]:
        return (self.cdr_token.country_code, self.cdr_token.party_id)


read_head = msgspec.json.Decoder(Head).decode


async def store(conn: asyncpg.Connection, issued: list[tuple[str, bytes, bytes]]) -> int:
    """Store each new CDR with its breakdown and queue its POST; returns how many were new."""
    stored: list[tuple[Head, bytes, bytes]] = []
    for _session_id, cdr_json, breakdown_json in issued:
        head = read_head(cdr_json)
        if await objects.insert_new(conn, cdr_module.MODULE.table, head.key, cdr_json.decode(),
                                    to_utc(head.last_updated), None, head.emsp):
            stored.append((head, cdr_json, breakdown_json))
    if not stored:
        return 0
    keys = [objects.normalize_key(head.key) for head, _, _ in stored]
    await conn.execute(
        """INSERT INTO cdr_breakdowns (country_code, party_id, id, breakdown)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::json[])""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [b.decode() for _, _, b in stored])
    await announce_many(conn, cdr_module.MODULE, [(head, "POST", "", cdr_json) for head, cdr_json, _ in stored])
    return len(stored)


# --- explain --------------------------------------------------------------------------------------------------

def _cost(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    excl = value.excl_vat if value.excl_vat is not None else value.before_taxes
    incl = value.incl_vat
    return f"{excl}" + (f" ({incl} incl. VAT)" if incl is not None and incl != excl else "")


def explain_text(cdr_id: str, owner: tuple[str, str], priced: PricedCdr) -> str:
    """The breakdown as a table, one line per priced dimension of each period, then the totals."""
    head = ["PERIOD", "START - END", "TARIFF/ELEMENT", "DIMENSION", "VOLUME", "BILLED", "PRICE", "COST"]
    rows = []
    for p in priced.periods:
        span = f"{p.start_date_time} - {p.end_date_time}"
        for d in p.dimensions:
            rows.append([str(p.charging_period + 1), span, f"{p.tariff_id}/{d.element_index}.{d.component_index}",
                         d.type, str(d.volume), str(d.billed_volume), str(d.price), _cost(d.cost)])
            span = ""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [f"CDR {owner[0]}*{owner[1]} {cdr_id}: {priced.start_date_time} - {priced.end_date_time}, "
             f"{priced.currency}, tariffs {', '.join(priced.tariff_ids)}", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines += ["", f"energy {priced.total_energy} kWh, charging time {priced.total_time} h, "
                  f"parking time {priced.total_parking_time} h",
              f"fixed {_cost(priced.total_fixed_cost)}, energy {_cost(priced.total_energy_cost)}, "
              f"time {_cost(priced.total_time_cost)}, parking {_cost(priced.total_parking_cost)}",
              f"total {_cost(priced.total_cost)} {priced.currency}"
              + (" (min_price applied)" if priced.min_price_applied else "")
              + (" (max_price applied)" if priced.max_price_applied else "")]
    return "\n".join(lines)


async def find_breakdowns(conn: asyncpg.Connection | asyncpg.Pool, cdr_id: str,
                          owner: tuple[str, str] | None) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        """SELECT country_code, party_id, breakdown::text AS breakdown FROM cdr_breakdowns
           WHERE id = $1 AND ($2::text IS NULL OR (country_code = $2 AND party_id = $3)) ORDER BY created_at LIMIT 2""",
        cdr_id.upper(), owner[0].upper() if owner else None, owner[1].upper() if owner else None))


def cmd_explain(args: argparse.Namespace) -> int:
    from app.charging.assignments import _pair
    from app.service_cli import _fail, _run

    owner = _pair(args.party, "--party") if args.party else None

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        rows = await find_breakdowns(pool, args.cdr_id, owner)
        if not rows:
            return _fail(f"no CDR {args.cdr_id!r} issued here" + (f" by {owner[0]}*{owner[1]}" if owner else ""), 2)
        if len(rows) > 1:
            return _fail(f"CDR {args.cdr_id!r} was issued by several of our parties "
                         f"({', '.join(r['country_code'] + '*' + r['party_id'] for r in rows)}); name one with --party", 2)
        row = rows[0]
        if args.json:
            sys.stdout.write(row["breakdown"] + "\n")
        else:
            print(explain_text(args.cdr_id, (row["country_code"], row["party_id"]), decode_result(row["breakdown"].encode())))
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    e = groups["cdrs"].add_parser("explain", parents=[common], help="the per-period price breakdown of a CDR we issued")
    e.add_argument("cdr_id", metavar="ID")
    e.add_argument("--party", metavar="CC/PID", help="our CPO party that issued it (when several did)")
    e.add_argument("--json", action="store_true", help="print the breakdown as JSON")
    e.set_defaults(func=cmd_explain)
