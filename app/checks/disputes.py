"""Reading the outcomes of the CDR checks: pages of them (by status) and one with both breakdowns. The API and
`ocpi-engine cdrs disputes` both answer from here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from app.checks.compare import DISPUTED, STATUSES, UNVERIFIABLE
from app.schemas.types import format_datetime

DISPUTES = (DISPUTED, UNVERIFIABLE)
"""What `cdrs disputes` lists by default: what needs a person's attention."""

_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder(float_hook=Decimal)


class CheckSummary(msgspec.Struct, kw_only=True):
    """One received CDR's check. Amounts are total_cost excl. VAT in `currency`; `difference` is theirs minus
    ours (positive: the CPO charged more than its tariff gives)."""

    country_code: str
    party_id: str
    cdr_id: str
    cpo: str
    status: str
    currency: str | None
    their_total: Decimal | None
    our_total: Decimal | None
    difference: Decimal | None
    reason: str | None
    note: str | None
    received_at: str
    checked_at: str | None


class CheckDetail(CheckSummary, kw_only=True):
    """A check with both breakdowns: `ours` (our pricing result with its per-period breakdown), `theirs` (the CDR's
    totals and charging periods) and `differences` (each compared total: theirs, ours, difference)."""

    ours: dict[str, Any] | None
    theirs: dict[str, Any] | None
    differences: list[dict[str, Any]] | None


class CheckPage(msgspec.Struct):
    total: int
    offset: int
    limit: int
    items: list[CheckSummary]


def encode(value: Any) -> bytes:
    """JSON with exact decimal numbers (never floats, never strings)."""
    return _encoder.encode(value)


def parse_statuses(text: str | None) -> list[str] | None:
    """`DISPUTED,UNVERIFIABLE` -> the statuses (None: every one); an unknown status raises ValueError."""
    if not text:
        return None
    wanted = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise ValueError(f"unknown status {', '.join(unknown)}; one or more of {', '.join(STATUSES)}")
    return wanted or None


_COLUMNS = ("country_code, party_id, id, status, currency, their_total, our_total, difference, reason, note, "
            "received_at, checked_at")


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


def _summary_fields(r: asyncpg.Record) -> dict[str, Any]:
    return dict(country_code=r["country_code"], party_id=r["party_id"], cdr_id=r["id"],
                cpo=f"{r['country_code']}*{r['party_id']}", status=r["status"], currency=r["currency"],
                their_total=r["their_total"], our_total=r["our_total"], difference=r["difference"],
                reason=r["reason"], note=r["note"], received_at=_time(r["received_at"]) or "",
                checked_at=_time(r["checked_at"]))


async def page(conn: asyncpg.Connection | asyncpg.Pool, statuses: Sequence[str] | None, offset: int,
               limit: int) -> CheckPage:
    """Checks with these statuses (None: all), newest received first."""
    where, args = ("", []) if statuses is None else (" WHERE status = ANY($1::text[])", [list(statuses)])
    n = len(args)
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM cdr_checks{where} "
                            f"ORDER BY received_at DESC, country_code, party_id, id OFFSET ${n + 1} LIMIT ${n + 2}",
                            *args, offset, limit)
    total = await conn.fetchval(f"SELECT count(*) FROM cdr_checks{where}", *args)
    return CheckPage(int(total), offset, limit, [CheckSummary(**_summary_fields(r)) for r in rows])


async def one(conn: asyncpg.Connection | asyncpg.Pool, country_code: str, party_id: str, cdr_id: str) -> CheckDetail | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS}, ours::text AS ours, theirs::text AS theirs, "
                            "differences::text AS differences FROM cdr_checks "
                            "WHERE country_code = $1 AND party_id = $2 AND id = $3",
                            country_code.upper(), party_id.upper(), cdr_id.upper())
    if r is None:
        return None

    def doc(text: str | None) -> Any:
        return None if text is None else _decoder.decode(text)

    return CheckDetail(**_summary_fields(r), ours=doc(r["ours"]), theirs=doc(r["theirs"]),
                       differences=doc(r["differences"]))
