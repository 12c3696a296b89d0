"""`ocpi-engine sessions list`, `cdrs list` and `cdrs show`: the sessions and CDRs this deployment holds, read from
the `sessions` / `cdrs` tables — our own (peer_id NULL) and those peers pushed to our eMSPs (shown with the peer's
label). Numbers are shown exactly as stored: documents are decoded with Decimal, never float."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from typing import Any, get_args

import asyncpg
import msgspec

from app.config import Settings
from app.db.objects import Filter, ObjectTable, normalize_key
from app.schemas.v2_2_1.sessions import SessionStatus

DEFAULT_LIMIT = 50
STAMP = "%Y-%m-%dT%H:%M:%SZ"
STATUSES = get_args(SessionStatus)


# --- reading -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Held:
    """One stored session or CDR: its JSON text as stored, who pushed it (None: ours), and its eMSP."""

    data: str
    peer_id: int | None
    emsp: tuple[str, str]


async def list_held(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, flt: Filter, status: str | None,
                    limit: int) -> tuple[list[Held], int]:
    """The `limit` most recently updated objects that pass `flt` (and have session `status`), and how many pass."""
    where, args = flt.where(table)
    if status is not None:
        args.append(status)
        where += f"{' AND' if where else ' WHERE'} data->>'status' = ${len(args)}"
    total = int(await conn.fetchval(f"SELECT count(*) FROM {table.name}{where}", *args))
    rows = await conn.fetch(
        f"SELECT data::text AS data, peer_id, emsp_country_code, emsp_party_id FROM {table.name}{where} "
        f"ORDER BY last_updated DESC, seq DESC LIMIT ${len(args) + 1}", *args, limit)
    return [Held(r["data"], r["peer_id"], (r["emsp_country_code"], r["emsp_party_id"])) for r in rows], total


async def find_held(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, object_id: str,
                    owner: tuple[str, str] | None) -> list[tuple[tuple[str, str, str], str]]:
    """(key, JSON text) of the objects with this id (of `owner` when given), ours and received, oldest first;
    at most 10, so an ambiguous id can be explained."""
    args: list[object] = [object_id.upper()]
    where = "id = $1"
    if owner is not None:
        args += normalize_key(owner)
        where += " AND country_code = $2 AND party_id = $3"
    rows = await conn.fetch(f"SELECT country_code, party_id, id, data::text AS data FROM {table.name} WHERE {where} "
                            "ORDER BY seq LIMIT 10", *args)
    return [((r["country_code"], r["party_id"], r["id"]), r["data"]) for r in rows]


# --- showing -------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _origin(held: Held, labels: dict[int, str | None]) -> str:
    return "ours" if held.peer_id is None else labels.get(held.peer_id) or f"peer {held.peer_id}"


def _row(doc: dict[str, Any], held: Held, origin: str, with_status: bool) -> list[str]:
    """The columns of a session (with its status) or a CDR, numbers as their stored text."""
    cost = doc.get("total_cost") or {}
    kwh = doc.get("kwh") if with_status else doc.get("total_energy")
    row = ["/".join(str(doc.get(k, "")) for k in ("country_code", "party_id", "id"))]
    if with_status:
        row.append(_text(doc.get("status")))
    return row + [_text(doc.get("start_date_time")), _text(doc.get("end_date_time")), _text(kwh),
                  _text(cost.get("excl_vat")), _text(cost.get("incl_vat")), _text(doc.get("currency")),
                  "*".join(held.emsp), origin]


def format_table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    """Columns as wide as their widest cell; the columns in `right` (numbers) right-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [headers, *rows])
    return "\n".join(line.rstrip() for line in lines)


def print_held(kind: str, held: list[Held], total: int, labels: dict[int, str | None], as_json: bool) -> None:
    from app.modules.common import load_doc

    if as_json:
        for h in held:  # one line per document, its numbers untouched
            sys.stdout.write(msgspec.json.format(h.data, indent=-1) + "\n")
    else:
        sessions = kind == "sessions"
        headers = ["KEY", *(["STATUS"] if sessions else []), "START", "END", "KWH", "EXCL VAT", "INCL VAT", "CUR",
                   "EMSP", "ORIGIN"]
        first_number = 4 if sessions else 3
        rows = [_row(load_doc(h.data), h, _origin(h, labels), sessions) for h in held]
        print(format_table(headers, rows, set(range(first_number, first_number + 3))))
    more = f"; --limit {total} shows all" if total > len(held) else ""
    print(f"{len(held)} of {total} {kind} (most recently updated first{more})", file=sys.stderr)


# --- arguments -----------------------------------------------------------------------------------------

def _party(text: str) -> tuple[str, str]:
    from app.db.parties import PartyError, validate

    cc, _, pid = text.partition("/")
    if not pid or "/" in pid:
        raise argparse.ArgumentTypeError(f"party {text!r} must be written COUNTRY/PARTY, e.g. NL/EXA")
    try:
        cc, pid, _ = validate(cc, pid, "CPO")  # sessions and CDRs are owned by CPOs
    except PartyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return cc, pid


def _when(text: str) -> dt.datetime:
    """An RFC 3339 date-time (no offset: UTC) or a date (its midnight UTC)."""
    from app.schemas.types import to_utc

    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        return to_utc(text)
    except (ValueError, msgspec.ValidationError):
        raise argparse.ArgumentTypeError(f"an RFC 3339 date-time or a date YYYY-MM-DD, not {text!r}") from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return value


# --- commands ------------------------------------------------------------------------------------------

def _table(kind: str) -> ObjectTable:
    from app.modules import cdrs, sessions

    return (sessions if kind == "sessions" else cdrs).MODULE.table


def cmd_list(args: argparse.Namespace) -> int:
    from app.db import peers
    from app.service_cli import _fail, _run

    if args.date_from and args.date_to and args.date_from >= args.date_to:
        return _fail(f"--from {args.date_from:{STAMP}} must be before --to {args.date_to:{STAMP}}", 2)
    flt = Filter(owners=args.party or [], date_from=args.date_from, date_to=args.date_to)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        held, total = await list_held(pool, _table(args.kind), flt, getattr(args, "status", None), args.limit)
        labels = {p.id: p.label for p in await peers.list_all(pool)}
        print_held(args.kind, held, total, labels, args.json)
        return 0

    return _run(args, work)


def cmd_show_cdr(args: argparse.Namespace) -> int:
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        found = await find_held(pool, _table("cdrs"), args.cdr_id, args.party)
        of = f" of {'/'.join(args.party)}" if args.party else ""
        if not found:
            return _fail(f"no CDR {args.cdr_id!r}{of} (see `ocpi-engine cdrs list`)", 2)
        if len(found) > 1:
            keys = ", ".join("/".join(k) for k, _ in found)
            return _fail(f"CDR id {args.cdr_id!r} is held for several parties ({keys}): name one with --party CC/PID", 2)
        print(msgspec.json.format(found[0][1], indent=2))
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    for kind in ("sessions", "cdrs"):
        p = groups[kind].add_parser(
            "list", parents=[common], help=f"list the {kind} held here: ours and those peers sent",
            description=f"List the {kind} held here, most recently updated first: our own and those peers pushed to "
                        "our eMSPs (ORIGIN: 'ours' or the peer's label). Numbers are shown exactly as stored.")
        p.add_argument("--party", action="append", type=_party, metavar="CC/PID",
                       help="only those owned by this CPO party, e.g. NL/EXA (repeatable)")
        if kind == "sessions":
            p.add_argument("--status", type=str.upper, choices=STATUSES, help="only sessions with this status")
        p.add_argument("--from", dest="date_from", type=_when, metavar="TIME",
                       help="only those last updated at or after TIME (RFC 3339 or YYYY-MM-DD, UTC)")
        p.add_argument("--to", dest="date_to", type=_when, metavar="TIME",
                       help="only those last updated before TIME (RFC 3339 or YYYY-MM-DD, UTC)")
        p.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, help="at most this many (default %(default)s)")
        p.add_argument("--json", action="store_true", help="the stored documents as JSON Lines")
        p.set_defaults(func=cmd_list, kind=kind)
    s = groups["cdrs"].add_parser("show", parents=[common], help="print a stored CDR (JSON)")
    s.add_argument("cdr_id", metavar="CDR_ID")
    s.add_argument("--party", type=_party, metavar="CC/PID",
                   help="the CPO party owning it, when the id is not unique")
    s.set_defaults(func=cmd_show_cdr)
