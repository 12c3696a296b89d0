"""Pricing one batch of stored CDRs, the fast way: the bytes COPY read out of `cdrs` go to rust_core's
`StoredBatch`, and out come the bytes COPY writes into `reprice_results`, with no Python object per CDR.
Python answers the batch's questions, once per distinct key and cached per worker: which versions each tariff
has (`tariff_history.timelines`), the documents of the versions chosen, our Locations' time zones.

Same prices as `checks.checker.price` (tests/test_reprice_fast.py). A worker reads each tariff's timeline once,
so a version stored after it started is used by the workers that start after it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence

import asyncpg

from app.checks.checker import time_zones
from app.checks.tariff_history import VersionKey, timelines, version_data
from app.reprice.runs import Stats
from rust_core import REPRICE_COLUMNS, StoredBatch, TariffSet

COLUMNS: tuple[str, ...] = tuple(REPRICE_COLUMNS)
"""The `reprice_results` columns of the rows `price_copy` returns."""

_MAX_ZONES = 100_000
"""Location time zones remembered per worker (then forgotten all at once: constant memory)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)

TariffKey = tuple[str, str, str]
VersionRef = tuple[int, str] | str


class Versions:
    """Our tariff versions a worker has met: each tariff's timeline (read once), and the versions chosen so far,
    compiled into one TariffSet (rebuilt when a new one is chosen, which is rare: a run meets a handful of
    versions per tariff)."""

    def __init__(self) -> None:
        self._timelines: dict[TariffKey, list[dt.datetime]] = {}
        self._micros: dict[TariffKey, list[int]] = {}
        self._refs: dict[VersionKey, VersionRef] = {}
        self._docs: list[str] = []
        self._set: TariffSet | None = None

    async def timelines(self, conn: asyncpg.Connection, keys: Sequence[TariffKey]) -> list[list[int]]:
        """Per tariff key, the last_updated of its versions as µs since the epoch, ascending."""
        unknown = [k for k in keys if k not in self._timelines]
        for key, line in zip(unknown, await timelines(conn, unknown), strict=True):
            self._timelines[key] = line
            self._micros[key] = [(t - _EPOCH) // _MICRO for t in line]
        return [self._micros[k] for k in keys]

    async def refs(self, conn: asyncpg.Connection, chosen: Sequence[tuple[TariffKey, int]]) -> list[VersionRef]:
        """Per chosen (tariff key, position in its timeline): (its index in `set`, its `tariff_versions` entry),
        or why it cannot be used (its document does not compile: that fails the CDRs it prices, not the run)."""
        out: list[VersionRef] = []
        added = False
        for key, pos in chosen:
            vkey: VersionKey = (*key, self._timelines[key][pos])
            ref = self._refs.get(vkey)
            if ref is None:
                data = await version_data(conn, vkey)
                try:
                    TariffSet(data)
                except ValueError as exc:
                    ref = str(exc)
                else:
                    ref = (len(self._docs), json.dumps({"id": key[2], "last_updated": vkey[3].isoformat()}))
                    self._docs.append(data)
                    added = True
                self._refs[vkey] = ref
            out.append(ref)
        if added:
            self._set = TariffSet("[" + ",".join(self._docs) + "]")
        return out

    @property
    def set(self) -> TariffSet:
        return self._set or TariffSet("[]")


class Zones:
    """Our Locations' time zones by `checker.location_key`, asked once per worker."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str], str | None] = {}

    async def of(self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str]]) -> list[str | None]:
        unknown = list(dict.fromkeys(k for k in keys if k not in self._known))
        if unknown:
            if len(self._known) > _MAX_ZONES:
                self._known.clear()
            self._known.update(zip(unknown, await time_zones(conn, unknown), strict=True))
        return [self._known[k] for k in keys]


async def price_copy(conn: asyncpg.Connection, run_id: int, engine: str, copy: bytes, stats: Stats,
                     versions: Versions, zones: Zones, *, breakdown: bool = True) -> tuple[bytes, int]:
    """The result rows (COPY binary format, `COLUMNS`) of the CDR rows `copy` (`COPY (SELECT seq, country_code,
    party_id, id, data ...) TO STDOUT (FORMAT binary)`, whole rows) and how many there are, adding them to `stats`; `conn` answers
    the lookups. `breakdown`: each row keeps the priced JSON with its breakdown (else totals only)."""
    batch = await asyncio.to_thread(StoredBatch, copy)
    keys = batch.tariff_keys
    chosen = batch.choose(await versions.timelines(conn, keys))
    refs = await versions.refs(conn, [(keys[k], pos) for k, pos in chosen])
    tz = await zones.of(conn, batch.location_keys)
    payload, found = await asyncio.to_thread(batch.price, refs, tz, versions.set, run_id=run_id, engine=engine,
                                             breakdown=breakdown)
    stats.add_batch(*found)
    return payload, len(batch)
