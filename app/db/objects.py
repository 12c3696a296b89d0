"""One repository for every module's OCPI objects: stored as their JSON text, found by upper-cased keys.

Table names come from `ObjectTable` constants, never from requests; every value is a parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg


@dataclass(frozen=True, slots=True)
class ObjectTable:
    name: str
    keys: tuple[str, ...] = ("country_code", "party_id", "id")
    by_emsp: bool = False
    """Sessions and CDRs carry the eMSP of their token, which alone may see them."""


@dataclass(frozen=True, slots=True)
class Stored:
    data: str
    last_updated: dt.datetime
    peer_id: int | None
    owner: tuple[str, str] | None = None
    """(country_code, party_id), where the query read it."""


@dataclass(slots=True)
class Filter:
    """What one caller may see of a table, plus the request's date window (§1.5)."""

    own: bool | None = None
    """True: objects of our parties; False: objects pushed by peers; None: both."""
    peer_id: int | None = None
    owners: list[tuple[str, str]] = field(default_factory=list)
    emsps: list[tuple[str, str]] = field(default_factory=list)
    restrict_emsps: bool = False
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None

    def where(self, table: ObjectTable) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.own is True:
            clauses.append("peer_id IS NULL")
        elif self.own is False:
            clauses.append("peer_id IS NOT NULL")
        if self.peer_id is not None:
            clauses.append(f"peer_id = {arg(self.peer_id)}")
        if self.owners:
            clauses.append(f"(country_code, party_id) IN (SELECT * FROM unnest({arg([o[0] for o in self.owners])}::text[], "
                           f"{arg([o[1] for o in self.owners])}::text[]))")
        if self.restrict_emsps and table.by_emsp:
            clauses.append(f"(emsp_country_code, emsp_party_id) IN (SELECT * FROM unnest({arg([e[0] for e in self.emsps])}::text[], "
                           f"{arg([e[1] for e in self.emsps])}::text[]))")
        if self.date_from is not None:
            clauses.append(f"last_updated >= {arg(self.date_from)}")
        if self.date_to is not None:
            clauses.append(f"last_updated < {arg(self.date_to)}")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _key_where(table: ObjectTable, start: int = 1) -> str:
    return " AND ".join(f"{k} = ${i}" for i, k in enumerate(table.keys, start))


def normalize_key(key: tuple[str, ...]) -> tuple[str, ...]:
    """CiString ids compare case-insensitively (§1.10): keys are stored upper-cased."""
    return tuple(k.upper() for k in key)


def _row(table: ObjectTable, key: tuple[str, ...], data: str, last_updated: dt.datetime, peer_id: int | None,
         emsp: tuple[str, str] | None) -> tuple[list[str], list[object]]:
    cols = [*table.keys, "last_updated", "peer_id", "data"]
    values: list[object] = [*normalize_key(key), last_updated, peer_id, data]
    if table.by_emsp:
        if emsp is None:
            raise ValueError(f"{table.name} rows need the eMSP of their token")
        cols += ["emsp_country_code", "emsp_party_id"]
        values += [emsp[0].upper(), emsp[1].upper()]
    return cols, values


async def get(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, key: tuple[str, ...],
              for_update: bool = False) -> Stored | None:
    row = await conn.fetchrow(
        f"SELECT data::text AS data, last_updated, peer_id FROM {table.name} WHERE {_key_where(table)}"
        + (" FOR UPDATE" if for_update else ""), *normalize_key(key))
    return None if row is None else Stored(row["data"], row["last_updated"], row["peer_id"])


async def put(conn: asyncpg.Connection, table: ObjectTable, key: tuple[str, ...], data: str,
              last_updated: dt.datetime, peer_id: int | None, emsp: tuple[str, str] | None = None) -> bool:
    """Create or replace; returns True when created. Replacing keeps `seq`, so page order is stable."""
    cols, values = _row(table, key, data, last_updated, peer_id, emsp)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in table.keys)
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    created = await conn.fetchval(
        f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(table.keys)}) DO UPDATE SET {updates} RETURNING (xmax = 0)", *values)
    return bool(created)


async def insert_new(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, key: tuple[str, ...], data: str,
                     last_updated: dt.datetime, peer_id: int | None, emsp: tuple[str, str] | None = None) -> bool:
    """Insert unless the key exists (CDRs are immutable); returns False for an existing key."""
    cols, values = _row(table, key, data, last_updated, peer_id, emsp)
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    status = await conn.execute(
        f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING", *values)
    return status.endswith(" 1")


async def delete(conn: asyncpg.Connection, table: ObjectTable, key: tuple[str, ...]) -> bool:
    status = await conn.execute(f"DELETE FROM {table.name} WHERE {_key_where(table)}", *normalize_key(key))
    return status.endswith(" 1")


async def page(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, flt: Filter, offset: int,
               limit: int) -> list[str]:
    """One page of objects' JSON, oldest-created first. The offset is walked in the `seq` index only
    (an index-only scan), then the page's rows are read from there."""
    where, args = flt.where(table)
    n = len(args)
    if offset:
        cond = f"{where + ' AND' if where else ' WHERE'} seq >= (SELECT seq FROM {table.name}{where} ORDER BY seq " \
               f"OFFSET ${n + 2} LIMIT 1)"
        args = [*args, limit, offset]
    else:
        cond = where
        args = [*args, limit]
    rows = await conn.fetch(f"SELECT data::text AS data FROM {table.name}{cond} ORDER BY seq LIMIT ${n + 1}", *args)
    return [r["data"] for r in rows]


async def count(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, flt: Filter) -> int:
    where, args = flt.where(table)
    return int(await conn.fetchval(f"SELECT count(*) FROM {table.name}{where}", *args))


async def analyze(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable) -> None:
    """After a bulk load (autovacuum may take a minute to notice): planner statistics, and the visibility
    map that lets pages walk their offset in the index alone."""
    await conn.execute(f"VACUUM (ANALYZE) {table.name}")


async def find_own(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, object_id: str,
                   owner: tuple[str, str] | None = None, token_type: str | None = None,
                   for_update: bool = False) -> Stored | None:
    """One of our own objects by id alone (a Sender URL has no country/party), optionally of one owner;
    tokens also by type. `for_update` locks the row until the transaction ends (read-modify-write)."""
    found = await find_own_among(conn, table, object_id, [owner] if owner else None, token_type, limit=1,
                                 for_update=for_update)
    return found[0] if found else None


async def find_own_among(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, object_id: str,
                         owners: list[tuple[str, str]] | None, token_type: str | None = None,
                         limit: int = 2, for_update: bool = False) -> list[Stored]:
    """Our own objects with this id (of `owners` when given; tokens also by type), oldest first, at most
    `limit`: two tell the caller the id is ambiguous."""
    args: list[object] = [object_id.upper(), limit]
    where = "peer_id IS NULL AND id = $1"
    if owners is not None:
        args += [[o[0].upper() for o in owners], [o[1].upper() for o in owners]]
        where += " AND (country_code, party_id) IN (SELECT * FROM unnest($3::text[], $4::text[]))"
    if token_type is not None:
        args.append(token_type.upper())
        where += f" AND type = ${len(args)}"
    rows = await conn.fetch(f"SELECT data::text AS data, last_updated, peer_id, country_code, party_id FROM {table.name} "
                            f"WHERE {where} ORDER BY seq LIMIT $2" + (" FOR UPDATE" if for_update else ""), *args)
    return [Stored(r["data"], r["last_updated"], r["peer_id"], (r["country_code"], r["party_id"])) for r in rows]


async def find_own_many(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, object_ids: list[str],
                        owners: list[tuple[str, str]], limit: int = 2) -> dict[str, list[Stored]]:
    """`find_own_among` for many ids in one query: by upper-cased id, the objects of `owners`, oldest first, at
    most `limit` each (ids with none are absent)."""
    rows = await conn.fetch(
        f"""SELECT id, data::text AS data, last_updated, peer_id, country_code, party_id FROM (
              SELECT *, row_number() OVER (PARTITION BY id ORDER BY seq) AS n FROM {table.name}
              WHERE peer_id IS NULL AND id = ANY($1::text[])
                AND (country_code, party_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))) t
            WHERE n <= $4 ORDER BY id, n""",
        sorted({i.upper() for i in object_ids}), [o[0].upper() for o in owners], [o[1].upper() for o in owners], limit)
    out: dict[str, list[Stored]] = {}
    for r in rows:
        out.setdefault(r["id"], []).append(
            Stored(r["data"], r["last_updated"], r["peer_id"], (r["country_code"], r["party_id"])))
    return out


Row = tuple[tuple[str, ...], str, dt.datetime, int | None, tuple[str, str] | None]
"""key, JSON text, last_updated, peer_id, eMSP."""


async def put_many(conn: asyncpg.Connection, table: ObjectTable, rows: Sequence[Row]) -> None:
    """`put` for many objects in one pipelined statement (imports)."""
    if not rows:
        return
    cols, _ = _row(table, *rows[0])
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in table.keys)
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    await conn.executemany(
        f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(table.keys)}) DO UPDATE SET {updates}", [_row(table, *r)[1] for r in rows])


_ARRAY_TYPES = {"last_updated": "timestamptz", "peer_id": "int", "data": "json"}


async def put_unique(conn: asyncpg.Connection, table: ObjectTable, rows: Sequence[Row]) -> None:
    """`put_many` for rows whose keys all differ: one INSERT from arrays, which PostgreSQL runs as one statement
    (a batch of sessions the engine changed), not one per row."""
    if not rows:
        return
    cols, _ = _row(table, *rows[0])
    columns = list(zip(*(_row(table, *r)[1] for r in rows), strict=True))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in table.keys)
    arrays = ", ".join(f"${i + 1}::{_ARRAY_TYPES.get(c, 'text')}[]" for i, c in enumerate(cols))
    await conn.execute(
        f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(table.keys)}) DO UPDATE SET {updates}", *(list(c) for c in columns))


async def delete_unseen(conn: asyncpg.Connection | asyncpg.Pool, table: ObjectTable, peer_id: int,
                        seen: set[tuple[str, ...]]) -> int:
    """Remove the peer's objects whose (normalized) keys are not in `seen`; returns how many."""
    columns = [[key[i] for key in seen] for i in range(len(table.keys))]
    casts = ", ".join(f"${i + 2}::text[]" for i in range(len(table.keys)))
    status = await conn.execute(
        f"DELETE FROM {table.name} WHERE peer_id = $1 AND ({', '.join(table.keys)}) NOT IN "
        f"(SELECT * FROM unnest({casts}))", peer_id, *columns)
    return int(status.split()[-1])
