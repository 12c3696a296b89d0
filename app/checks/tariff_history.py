"""Which version of a tariff was in force at a moment: `tariff_versions` keeps every version we stored (written by
a trigger on `tariffs`, migration 0005), keyed by (country_code, party_id, id, last_updated)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from app.db.objects import normalize_key


@dataclass(frozen=True, slots=True)
class TariffVersion:
    id: str
    """The tariff id as stored in the key (upper-cased)."""
    data: str
    """The tariff document (JSON text) of this version."""
    last_updated: dt.datetime
    newer: bool
    """Every stored version is newer than the moment asked for: this is the oldest one."""


Wanted = tuple[str, str, str, dt.datetime]
"""(country_code, party_id, tariff_id, at)."""

# Per wanted tariff: the newest version with last_updated <= at, else (all newer) the oldest one. Re-rating applies the
# same rule to cached timelines in rust_core (`StoredBatch.choose`); tests/test_reprice_fast.py checks the two agree.
_FIND = """
SELECT w.i, v.id, v.data::text AS data, v.last_updated, v.last_updated > w.at AS newer
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS w(cc, pid, tid, at, i)
CROSS JOIN LATERAL (
    SELECT t.id, t.data, t.last_updated FROM tariff_versions t
    WHERE t.country_code = w.cc AND t.party_id = w.pid AND t.id = w.tid
    ORDER BY t.last_updated <= w.at DESC,
             CASE WHEN t.last_updated <= w.at THEN t.last_updated END DESC NULLS LAST,
             t.last_updated
    LIMIT 1) v"""


async def find_versions(conn: asyncpg.Connection | asyncpg.Pool, wanted: Sequence[Wanted]) -> list[TariffVersion | None]:
    """The version of each wanted tariff at its moment (None: no version of that tariff is stored), in one query."""
    if not wanted:
        return []
    keys = [normalize_key((cc, pid, tid)) for cc, pid, tid, _ in wanted]
    rows = await conn.fetch(_FIND, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                            [w[3] for w in wanted])
    found: list[TariffVersion | None] = [None] * len(wanted)
    for r in rows:
        found[r["i"] - 1] = TariffVersion(r["id"], r["data"], r["last_updated"], r["newer"])
    return found


VersionKey = tuple[str, str, str, dt.datetime]
"""(country_code, party_id, id, last_updated): one stored version."""


async def version_data(conn: asyncpg.Connection | asyncpg.Pool, key: VersionKey) -> str:
    """The document (JSON text) of one stored version."""
    data = await conn.fetchval("SELECT data::text FROM tariff_versions WHERE country_code = $1 AND party_id = $2 "
                               "AND id = $3 AND last_updated = $4", *key)
    if data is None:
        raise LookupError(f"no tariff version {key}")
    return str(data)


async def versions_at(conn: asyncpg.Connection | asyncpg.Pool, country_code: str, party_id: str,
                      tariff_ids: Sequence[str], at: dt.datetime) -> list[tuple[str, str]]:
    """(id, JSON) of each of the party's tariffs `tariff_ids` as in force at `at`: the newest version with
    last_updated <= at, or the oldest one when every version is newer. Tariffs never stored are left out."""
    found = await find_versions(conn, [(country_code, party_id, t, at) for t in tariff_ids])
    return [(v.id, v.data) for v in found if v is not None]


async def timelines(conn: asyncpg.Connection | asyncpg.Pool,
                    keys: Sequence[tuple[str, str, str]]) -> list[list[dt.datetime]]:
    """The `last_updated` of every stored version of each tariff (country_code, party_id, id), ascending; empty
    when none is stored. Re-rating chooses among them in rust_core (`StoredBatch.choose`) by `_FIND`'s rule."""
    if not keys:
        return []
    norm = [normalize_key(k) for k in keys]
    rows = await conn.fetch(
        "SELECT k.i, t.last_updated FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(cc, pid, tid, i) "
        "JOIN tariff_versions t ON t.country_code = k.cc AND t.party_id = k.pid AND t.id = k.tid "
        "ORDER BY k.i, t.last_updated", [k[0] for k in norm], [k[1] for k in norm], [k[2] for k in norm])
    found: list[list[dt.datetime]] = [[] for _ in keys]
    for r in rows:
        found[r["i"] - 1].append(r["last_updated"])
    return found
