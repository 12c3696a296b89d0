"""Pagination of every list GET (digest §1.5): offset, limit capped by the server (X-Limit), the
date_from (inclusive) / date_to (exclusive) window on last_updated, Link to the next page, X-Total-Count."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request

from app.ocpi.transport import INVALID_PARAMETERS, OcpiError
from app.schemas.types import DateTime, format_datetime, to_utc


@dataclass(frozen=True, slots=True)
class PageRequest:
    offset: int
    limit: int
    date_from: dt.datetime | None
    date_to: dt.datetime | None


def parse_query_datetime(name: str, raw: str | None) -> dt.datetime | None:
    if raw is None or raw == "":
        return None
    try:
        return to_utc(msgspec.convert(raw, type=DateTime))
    except ValueError as exc:  # not a DateTime (msgspec.ValidationError), or out of range once in UTC
        reason = str(exc) if not isinstance(exc, msgspec.ValidationError) else "not an OCPI DateTime"
        raise OcpiError(INVALID_PARAMETERS, f"query parameter {name}={raw[:40]!r} is {reason} "
                                            "(e.g. 2026-01-31T12:00:00Z)") from None


MAX_OFFSET = 2**63 - 1
"""PostgreSQL's bigint: a larger offset cannot be asked for (and no table holds that many rows)."""


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _int(name: str, raw: str | None, default: int, maximum: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    try:
        if not _INTEGER.fullmatch(raw):  # ASCII digits only: int() would also take "٣" or "1_000"
            raise ValueError(raw)
        value = int(raw)  # ValueError beyond 4,300 digits
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, f"query parameter {name}={raw[:40]!r} is not an integer") from None
    if value < 0:
        raise OcpiError(INVALID_PARAMETERS, f"query parameter {name}={raw[:40]!r} must not be negative")
    if maximum is not None and value > maximum:
        raise OcpiError(INVALID_PARAMETERS, f"query parameter {name}={raw[:40]!r} exceeds {maximum}")
    return value


def parse(request: Request[Any, Any, Any]) -> PageRequest:
    settings = request.app.state.settings
    q = request.query_params
    limit = _int("limit", q.get("limit"), settings.default_page)
    return PageRequest(
        offset=_int("offset", q.get("offset"), 0, MAX_OFFSET),
        limit=min(limit, settings.page_limit),
        date_from=parse_query_datetime("date_from", q.get("date_from")),
        date_to=parse_query_datetime("date_to", q.get("date_to")),
    )


def headers(request: Request[Any, Any, Any], page: PageRequest, total: int, returned: int) -> dict[str, str]:
    settings = request.app.state.settings
    out = {"X-Total-Count": str(total), "X-Limit": str(settings.page_limit)}
    next_offset = page.offset + returned
    if returned and next_offset < total:
        # the window as we read it, written as UTC `Z` (a date-time we send is at most 25 characters, §1.10)
        params = {k: format_datetime(v) for k, v in (("date_from", page.date_from), ("date_to", page.date_to)) if v}
        params.update(offset=str(next_offset), limit=str(page.limit))
        out["Link"] = f'<{settings.public_url}{request.url.path.rstrip("/")}?{urlencode(params)}>; rel="next"'
    return out
