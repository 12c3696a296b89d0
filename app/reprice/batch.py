"""Pricing one batch of stored CDRs into result rows, the fast way: the CDR texts as COPY read them go to rust_core
twice (`scan_stored`: what choosing tariff versions needs; `price_stored`: each CDR priced with its versions), the
GIL released, rayon across cores. Python does the two queries between (the versions in force at each session's
start, by `tariff_history.find_version_keys`, the same SQL as the CDR check; our Locations' time zones) and builds
the rows. Same prices as `checks.checker.price` (tests/test_reprice_fast.py), without decoding or re-encoding a CDR
in Python."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from app.checks.checker import location_key, time_zones
from app.checks.compare import unpriceable
from app.checks.tariff_history import VersionKey, Wanted, find_version_keys, version_data
from app.reprice.runs import Stats
from app.schemas.types import to_utc
from rust_core import TariffSet, price_stored, scan_stored

Row = tuple[int, str, str, str, bytes]
"""(seq, country_code, party_id, id, CDR JSON) as stored."""

_MAX_ZONES = 100_000
"""Location time zones remembered per worker (then forgotten all at once: constant memory)."""


class Versions:
    """Our tariff versions a worker has met, compiled once into one TariffSet (rebuilt when a new one appears,
    which is rare: a run meets a handful of versions per tariff)."""

    def __init__(self) -> None:
        self._index: dict[VersionKey, int] = {}
        self._docs: list[str] = []
        self._set: TariffSet | None = None
        self._bad: dict[VersionKey, str] = {}

    async def add(self, conn: asyncpg.Connection, keys: set[VersionKey]) -> None:
        new = [k for k in keys if k not in self._index and k not in self._bad]
        for key in new:
            data = await version_data(conn, key)
            try:
                TariffSet(data)  # one that does not compile fails the CDRs it prices, not the set
            except ValueError as exc:
                self._bad[key] = str(exc)
                continue
            self._index[key] = len(self._docs)
            self._docs.append(data)
        if new:
            self._set = TariffSet("[" + ",".join(self._docs) + "]")

    def index(self, key: VersionKey) -> int | str:
        """The version's position in `set`, or why it cannot be used."""
        return self._bad.get(key) or self._index[key]

    @property
    def set(self) -> TariffSet:
        return self._set or TariffSet("[]")


class Zones:
    """Our Locations' time zones by `location_key`, asked once per worker."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str], str | None] = {}

    async def of(self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str]]) -> list[str | None]:
        unknown = list(dict.fromkeys(k for k in keys if k not in self._known))
        if unknown:
            if len(self._known) > _MAX_ZONES:
                self._known.clear()
            self._known.update(zip(unknown, await time_zones(conn, unknown), strict=True))
        return [self._known[k] for k in keys]


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


async def price_rows(conn: asyncpg.Connection, run_id: int, engine: str, batch: list[Row], stats: Stats,
                     versions: Versions, zones: Zones, *, breakdown: bool = True) -> list[tuple[object, ...]]:
    """The result rows of `batch` (adding them to `stats`); `conn` answers the versions' and zones' queries.
    `breakdown`: each row keeps the priced JSON with its breakdown (else no JSON: totals only)."""
    docs = [r[4] for r in batch]
    scanned = await asyncio.to_thread(scan_stored, docs)
    reasons: list[str | None] = [None] * len(batch)
    wanted: list[Wanted] = []
    owner: list[int] = []
    for n, (needs, error) in enumerate(scanned):
        if needs is None:
            reasons[n] = f"the CDR cannot be prepared: {error}"
            continue
        try:
            start = to_utc(needs[2])
        except Exception as exc:  # noqa: BLE001 - as compare.start_of says it for the CDR check
            reasons[n] = f"the CDR cannot be prepared: {exc}"
            continue
        wanted.extend((needs[0], needs[1], t, start) for t in needs[3])
        owner.extend([n] * len(needs[3]))
    found = await find_version_keys(conn, wanted)
    chosen: list[dict[str, VersionKey | None]] = [{} for _ in batch]
    for n, w, f in zip(owner, wanted, found, strict=True):
        chosen[n][w[2]] = f[0] if f is not None else None
    await versions.add(conn, {k for mine in chosen for k in mine.values() if k is not None})

    todo: list[int] = []
    indexes: list[list[int]] = []
    for n, (needs, _e) in enumerate(scanned):
        if reasons[n] is not None or needs is None:
            continue
        mine = chosen[n]
        reasons[n] = unpriceable(needs[0], needs[1], needs[3], mine)
        if reasons[n] is None:
            found_at = [versions.index(k) for k in mine.values() if k is not None]
            bad = [i for i in found_at if isinstance(i, str)]
            if bad:
                reasons[n] = f"the CDR cannot be priced: {bad[0]}"
                continue
            todo.append(n)
            indexes.append([i for i in found_at if isinstance(i, int)])
    keys = [location_key(scanned[n][0][0], scanned[n][0][1], scanned[n][0][4])  # type: ignore[index]
            for n in todo]
    priced = await asyncio.to_thread(price_stored, [docs[n] for n in todo], indexes, await zones.of(conn, keys),
                                     versions.set, breakdown=breakdown, lines=breakdown)
    results = dict(zip(todo, priced, strict=True))

    out: list[tuple[object, ...]] = []
    used_json: dict[tuple[VersionKey, ...], str] = {}
    for n, (seq, cc, pid, cid, _doc) in enumerate(batch):
        party = f"{cc}*{pid}"
        result = results.get(n)
        reason = reasons[n]
        if result is not None and result[0] is None:
            reason = f"the CDR cannot be priced: {result[1]}"
        if reason is not None or result is None or result[0] is None:
            reason = reason or "the CDR cannot be priced"
            stats.add_failed(f"{party}/{cid}", reason)
            out.append((run_id, seq, cc, pid, cid, "FAILED", None, None, None, None, None, [], None, None, reason, engine))
            continue
        needs = scanned[n][0]
        assert needs is not None
        total, incl, line = result[0]
        currency = needs[5] or ""
        new, old = _dec(total), _dec(needs[6])
        change = new - old if new is not None and old is not None else None
        used = {t: k for t, k in chosen[n].items() if k is not None}
        stats.add_priced(party, list(used), currency, change)
        vkey = tuple(used.values())
        versions_json = used_json.get(vkey)
        if versions_json is None:
            versions_json = used_json[vkey] = json.dumps(
                [{"id": t, "last_updated": k[3].isoformat()} for t, k in used.items()])
        out.append((run_id, seq, cc, pid, cid, "PRICED", currency or None, old, new, _dec(incl), change, list(used),
                    versions_json, line.decode() if line is not None else None, None, engine))
    return out
