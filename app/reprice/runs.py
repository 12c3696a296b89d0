"""Re-rating runs in the database (migration 0010): which CDRs a run covers (its params), its partitions, and what
it found (per-partition stats merged into a summary; `diff` of two runs from their results)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

LOCK_CLASS = 0x0C92
"""classid of re-rating workers' session advisory locks (objid: the worker, `reprice_partitions.claimed_by`)."""


@dataclass(frozen=True, slots=True)
class Params:
    party: tuple[str, str] | None = None
    start_from: dt.datetime | None = None
    start_to: dt.datetime | None = None
    tariffs: tuple[str, ...] = ()
    breakdown: bool = True
    """Results keep each CDR's priced JSON with its breakdown (`--no-breakdown`: totals only, about 2x faster)."""

    def to_json(self) -> dict[str, Any]:
        return {"party": "/".join(self.party) if self.party else None,
                "from": self.start_from.isoformat() if self.start_from else None,
                "to": self.start_to.isoformat() if self.start_to else None,
                "tariffs": list(self.tariffs), **({} if self.breakdown else {"breakdown": False})}

    @classmethod
    def of_json(cls, d: dict[str, Any]) -> Params:
        party = tuple(d["party"].split("/", 1)) if d.get("party") else None
        return cls(party=(party[0], party[1]) if party else None,
                   start_from=dt.datetime.fromisoformat(d["from"]) if d.get("from") else None,
                   start_to=dt.datetime.fromisoformat(d["to"]) if d.get("to") else None,
                   tariffs=tuple(d.get("tariffs") or ()), breakdown=bool(d.get("breakdown", True)))

    def where(self, first: int = 1) -> tuple[str, list[Any]]:
        """SQL conditions on `cdrs c` (parameters numbered from `first`) and their values. Only the conditions
        asked for: a CDR with an unreadable start date only matters to a run filtering on dates."""
        conds, args = ["true"], []

        def arg(v: Any) -> str:
            args.append(v)
            return f"${first + len(args) - 1}"

        if self.party:
            conds.append(f"c.country_code = {arg(self.party[0])} AND c.party_id = {arg(self.party[1])}")
        if self.start_from:
            conds.append(f"(c.data->>'start_date_time')::timestamptz >= {arg(self.start_from)}")
        if self.start_to:
            conds.append(f"(c.data->>'start_date_time')::timestamptz < {arg(self.start_to)}")
        if self.tariffs:
            ids = arg(list(self.tariffs))
            # The tariffs its periods name, else those it embeds (as `compare.needed_tariffs` picks them).
            conds.append(f"""(EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(c.data->'charging_periods')
                    = 'array' THEN c.data->'charging_periods' ELSE '[]' END) p WHERE upper(p->>'tariff_id') = ANY({ids}))
                OR EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(c.data->'tariffs') = 'array'
                    THEN c.data->'tariffs' ELSE '[]' END) t WHERE upper(t->>'id') = ANY({ids})))""")
        return " AND ".join(conds), args


async def create(conn: asyncpg.Connection, params: Params, *, dry_run: bool, engine_version: str,
                 partition_size: int) -> int:
    """A new run and its partitions: the CDRs it covers, in `seq` order, cut every `partition_size`."""
    where, args = params.where(2)
    async with conn.transaction():
        run_id: int = await conn.fetchval(
            "INSERT INTO reprice_runs (params, dry_run, engine_version) VALUES ($1::text::json, $2, $3) RETURNING id",
            json.dumps(params.to_json()), dry_run, engine_version)
        await conn.execute(f"""
            INSERT INTO reprice_partitions (run_id, first_seq, last_seq, cdrs)
            SELECT {run_id}, min(seq), max(seq), count(*) FROM (
                SELECT c.seq, (row_number() OVER (ORDER BY c.seq) - 1) / $1 AS g FROM cdrs c WHERE {where}) x
            GROUP BY g""", partition_size, *args)
        await conn.execute("UPDATE reprice_runs SET cdrs = (SELECT coalesce(sum(cdrs), 0) FROM reprice_partitions "
                           "WHERE run_id = $1) WHERE id = $1", run_id)
    return run_id


# --- what a run found -------------------------------------------------------------------------------------

@dataclass(slots=True)
class Group:
    priced: int = 0
    changed: int = 0
    change: Decimal = Decimal(0)
    """Sum of (new total - old total)."""
    moved: Decimal = Decimal(0)
    """Sum of |new total - old total|."""


MAX_FAILURES = 20
"""Failures kept per partition in its stats (every one is in the results unless the run is dry)."""


@dataclass(slots=True)
class Stats:
    priced: int = 0
    failed: int = 0
    changed: int = 0
    groups: dict[tuple[str, str, str], Group] = field(default_factory=dict)
    """By (party CC*PID, tariff id, currency)."""
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add_batch(self, priced: int, failed: int, changed: int,
                  groups: list[tuple[str, str, str, int, int, str, str]], failures: list[tuple[str, str]]) -> None:
        """A batch's counts as rust_core's `StoredBatch.price` gives them (sums as decimal text)."""
        self.priced += priced
        self.failed += failed
        self.changed += changed
        for party, tariff, currency, n, n_changed, change, moved in groups:
            g = self.groups.setdefault((party, tariff, currency), Group())
            g.priced += n
            g.changed += n_changed
            g.change += Decimal(change)
            g.moved += Decimal(moved)
        self.failures.extend(failures[:max(0, MAX_FAILURES - len(self.failures))])

    def merge(self, other: Stats) -> None:
        self.add_batch(other.priced, other.failed, other.changed,
                       [(*k, g.priced, g.changed, str(g.change), str(g.moved)) for k, g in other.groups.items()],
                       other.failures)

    def to_json(self) -> dict[str, Any]:
        return {"priced": self.priced, "failed": self.failed, "changed": self.changed,
                "groups": [{"party": k[0], "tariff": k[1], "currency": k[2], "priced": g.priced, "changed": g.changed,
                            "change": str(g.change), "moved": str(g.moved)} for k, g in sorted(self.groups.items())],
                "failures": [{"cdr": k, "reason": r} for k, r in self.failures]}

    @classmethod
    def of_json(cls, d: dict[str, Any]) -> Stats:
        s = cls(d["priced"], d["failed"], d["changed"])
        for g in d["groups"]:
            s.groups[(g["party"], g["tariff"], g["currency"])] = Group(g["priced"], g["changed"], Decimal(g["change"]),
                                                                       Decimal(g["moved"]))
        s.failures = [(f["cdr"], f["reason"]) for f in d["failures"]]
        return s


@dataclass(slots=True)
class Run:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    params: dict[str, Any]
    dry_run: bool
    state: str
    engine_version: str
    cdrs: int
    done: int
    """CDRs in DONE partitions."""
    stats: Stats

    def to_json(self) -> dict[str, Any]:
        return {"run": self.id, "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None, "params": self.params,
                "dry_run": self.dry_run, "state": self.state, "engine_version": self.engine_version,
                "cdrs": self.cdrs, "done": self.done, **self.stats.to_json()}


_RUNS = """
SELECT r.id, r.started_at, r.finished_at, r.params::text AS params, r.dry_run, r.state, r.engine_version, r.cdrs,
       coalesce(sum(p.cdrs) FILTER (WHERE p.state = 'DONE'), 0) AS done,
       coalesce(json_agg(p.stats) FILTER (WHERE p.state = 'DONE'), '[]')::text AS stats
FROM reprice_runs r LEFT JOIN reprice_partitions p ON p.run_id = r.id
WHERE $1::bigint IS NULL OR r.id = $1
GROUP BY r.id ORDER BY r.id DESC LIMIT $2"""


def _run(r: asyncpg.Record) -> Run:
    stats = Stats()
    for s in json.loads(r["stats"]):
        stats.merge(Stats.of_json(s))
    return Run(r["id"], r["started_at"], r["finished_at"], json.loads(r["params"]), r["dry_run"], r["state"],
               r["engine_version"], r["cdrs"], r["done"], stats)


async def get(conn: asyncpg.Connection | asyncpg.Pool, run_id: int) -> Run | None:
    rows = await conn.fetch(_RUNS, run_id, 1)
    return _run(rows[0]) if rows else None


async def recent(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 50) -> list[Run]:
    return [_run(r) for r in await conn.fetch(_RUNS, None, limit)]


# --- two runs compared -----------------------------------------------------------------------------------

_DIFF = """
SELECT coalesce(a.country_code, b.country_code) AS country_code, coalesce(a.party_id, b.party_id) AS party_id,
       coalesce(a.id, b.id) AS id, coalesce(b.currency, a.currency) AS currency, a.new_total AS total_a,
       b.new_total AS total_b, b.new_total - a.new_total AS difference,
       coalesce(b.tariff_ids, a.tariff_ids) AS tariff_ids, a.status AS status_a, b.status AS status_b
FROM (SELECT * FROM reprice_results WHERE run_id = $1) a
FULL JOIN (SELECT * FROM reprice_results WHERE run_id = $2) b ON a.seq = b.seq
WHERE a.new_total IS DISTINCT FROM b.new_total OR a.status IS DISTINCT FROM b.status
ORDER BY abs(b.new_total - a.new_total) DESC NULLS FIRST, 1, 2, 3"""


async def diff(conn: asyncpg.Connection | asyncpg.Pool, run_a: int, run_b: int) -> list[asyncpg.Record]:
    """The CDRs whose total (or status) differs between two runs; a CDR in one run only shows with a NULL side."""
    return list(await conn.fetch(_DIFF, run_a, run_b))
