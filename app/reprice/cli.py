"""`ocpi-engine cdrs reprice | runs | diff`: re-rating stored CDRs with the tariff versions of their sessions' start.

`cdrs reprice` creates a run (or joins `--run ID`, from any machine on the same database), prices its partitions
(in this process, or `--workers N` local processes each joining the run) and prints what changed."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.config import Settings
from app.reprice import runs
from app.reprice.runs import Params, Run


def _when(text: str, option: str) -> dt.datetime:
    try:
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"ocpi-engine: error: {option} {text!r}: not a date (write 2026-07-01 or "
                         "2026-07-01T00:00:00Z)") from None
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


def _signed(v: Decimal) -> str:
    return f"{v:+f}"


def summary_text(run: Run) -> str:
    s = run.stats
    moved: dict[str, Decimal] = {}
    for (_p, _t, cur), g in s.groups.items():
        moved[cur] = moved.get(cur, Decimal(0)) + g.change
    dry = " (dry run: no results written)" if run.dry_run else ""
    state = run.state if run.done == run.cdrs else f"{run.state}, {run.done} of {run.cdrs} CDRs done"
    lines = [f"run {run.id}{dry}: {state}; {run.cdrs} CDRs, {s.priced} priced, {s.failed} failed, "
             f"{s.changed} totals changed"
             + ("".join(f", {_signed(v)} {c or '?'}" for c, v in sorted(moved.items())) if s.changed else "")]
    head = ("PARTY", "TARIFF", "CURRENCY", "PRICED", "CHANGED", "CHANGE", "|CHANGE|")
    rows = [(p, t, c or "-", str(g.priced), str(g.changed), _signed(g.change), f"{g.moved:f}")
            for (p, t, c), g in sorted(s.groups.items())]
    lines += _table(head, rows)
    if s.failures:
        lines.append(f"failed ({s.failed}" + (f", first {len(s.failures)}" if s.failed > len(s.failures) else "") + "):")
        lines += [f"  {k}: {r}" for k, r in s.failures]
    return "\n".join(lines)


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]


# --- reprice -----------------------------------------------------------------------------------------------

def cmd_reprice(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import rust_core
    from app.charging.assignments import _pair
    from app.reprice.worker import Options, Worker
    from app.service_cli import _fail, _run

    params = Params(party=_pair(args.party, "--party") if args.party else None,
                    start_from=_when(args.start_from, "--from") if args.start_from else None,
                    start_to=_when(args.start_to, "--to") if args.start_to else None,
                    tariffs=tuple(t.upper() for t in args.tariff or ()), breakdown=not args.no_breakdown)
    if args.run is not None and (args.party or args.start_from or args.start_to or args.tariff or args.dry_run
                                 or args.no_breakdown):
        return _fail("--run continues an existing run with its own filters: give no --party/--from/--to/--tariff/"
                     "--dry-run/--no-breakdown with it", 2)
    if args.batch < 1 or args.workers < 1 or args.partition_size < 1:
        return _fail("--batch, --workers and --partition-size must be at least 1", 2)
    engine = rust_core.__version__
    options = Options(batch=args.batch, pause=args.pause)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        dsn = settings.database_url
        assert dsn
        if args.run is None:
            async with pool.acquire() as conn:
                run_id = await runs.create(conn, params, dry_run=args.dry_run, engine_version=engine,
                                           partition_size=args.partition_size)
            if not args.child:
                print(f"run {run_id} started", file=sys.stderr)
        else:
            run_id = args.run
        run = await runs.get(pool, run_id)
        if run is None:
            return _fail(f"no re-rating run {run_id} (see `ocpi-engine cdrs runs`)", 2)
        quiet = args.no_progress or args.child
        with tqdm(total=run.cdrs, initial=run.done, unit="cdr", desc=f"run {run_id}", file=sys.stderr,
                  disable=quiet or None) as bar:
            if args.workers == 1:
                await Worker(dsn, run_id, options, engine, progress=bar.update).run()
            else:
                await _local_workers(args, dsn, run_id, pool, bar)
        if args.child:
            return 0
        run = await runs.get(pool, run_id)
        assert run is not None
        if args.json:
            sys.stdout.write(json.dumps(run.to_json()) + "\n")
        else:
            print(summary_text(run))
            if run.state != "DONE":
                print(f"other workers still hold partitions of run {run_id}; its summary: "
                      f"`ocpi-engine cdrs runs --run {run_id}`", file=sys.stderr)
        return 0 if run.stats.failed == 0 else 1

    return _run(args, work)


async def _local_workers(args: argparse.Namespace, dsn: str, run_id: int, pool: Any, bar: Any) -> None:
    """N processes of `cdrs reprice --run ID` (each a worker of the run, as on other machines); the bar follows
    the DONE partitions."""
    child = [sys.executable, "-m", "app", "cdrs", "reprice", "--run", str(run_id), "--child", "--batch", str(args.batch),
             "--pause", str(args.pause)]
    env = {**os.environ, "DATABASE_URL": dsn}
    procs = [await asyncio.create_subprocess_exec(*child, env=env) for _ in range(args.workers)]
    waiting = asyncio.gather(*(p.wait() for p in procs))
    while not waiting.done():
        await asyncio.wait([waiting], timeout=0.5)
        done = await pool.fetchval("SELECT coalesce(sum(cdrs), 0) FROM reprice_partitions "
                                   "WHERE run_id = $1 AND state = 'DONE'", run_id)
        bar.update(int(done) - bar.n)
    codes = waiting.result()
    if any(codes):
        raise SystemExit(f"ocpi-engine: error: a worker of run {run_id} exited {codes}; continue the run with "
                         f"`ocpi-engine cdrs reprice --run {run_id}`")


# --- runs, diff ----------------------------------------------------------------------------------------------

def cmd_runs(args: argparse.Namespace) -> int:
    from app.service_cli import _fail, _run

    if args.export is not None:
        if args.run is None:
            return _fail("--export needs --run RUN_ID", 2)
        if args.format == "parquet":
            from app.rating.parquet import MissingExtra, require_pyarrow

            try:
                require_pyarrow()
            except MissingExtra as exc:
                return _fail(str(exc), 2)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        if args.export is not None:
            from app.reprice.export import export_run

            if await runs.get(pool, args.run) is None:
                return _fail(f"no re-rating run {args.run}", 2)
            written = await export_run(pool, args.run, args.export, args.format)
            print(f"run {args.run}: {written} results -> {args.export}", file=sys.stderr)
            return 0
        found = [await runs.get(pool, args.run)] if args.run is not None else await runs.recent(pool, args.limit)
        if args.run is not None and found[0] is None:
            return _fail(f"no re-rating run {args.run}", 2)
        listed = [r for r in found if r is not None]
        if args.json:
            sys.stdout.write(json.dumps([r.to_json() for r in listed]) + "\n")
            return 0
        if args.run is not None:
            print(summary_text(listed[0]))
            return 0
        head = ("RUN", "STARTED", "STATE", "CDRS", "DONE", "PRICED", "FAILED", "CHANGED", "PARAMS")
        rows = []
        for r in listed:
            p = ", ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in r.params.items() if v)
            rows.append((str(r.id), r.started_at.strftime("%Y-%m-%d %H:%M:%S"), r.state + (" (dry)" if r.dry_run else ""),
                         str(r.cdrs), str(r.done), str(r.stats.priced), str(r.stats.failed), str(r.stats.changed),
                         p or "all CDRs"))
        print("\n".join(_table(head, rows)))
        return 0

    return _run(args, work)


def cmd_diff(args: argparse.Namespace) -> int:
    from app.service_cli import _fail, _run

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        for r in (args.run_a, args.run_b):
            run = await runs.get(pool, r)
            if run is None:
                return _fail(f"no re-rating run {r}", 2)
            if run.dry_run:
                return _fail(f"run {r} was a dry run: it kept no results to compare", 2)
        found = await runs.diff(pool, args.run_a, args.run_b)
        groups: dict[tuple[str, str, str], list[Decimal]] = {}
        for d in found:
            for t in d["tariff_ids"] or ["-"]:
                g = groups.setdefault((f"{d['country_code']}*{d['party_id']}", t, d["currency"] or "-"),
                                      [Decimal(0), Decimal(0)])
                g[0] += 1
                g[1] += d["difference"] or 0
        if args.json:
            sys.stdout.write(json.dumps({
                "run_a": args.run_a, "run_b": args.run_b, "differing": len(found),
                "cdrs": [{"country_code": d["country_code"], "party_id": d["party_id"], "id": d["id"],
                          "currency": d["currency"], "total_a": _str(d["total_a"]), "total_b": _str(d["total_b"]),
                          "difference": _str(d["difference"]), "tariff_ids": d["tariff_ids"],
                          "status_a": d["status_a"], "status_b": d["status_b"]} for d in found],
                "groups": [{"party": p, "tariff": t, "currency": c, "cdrs": int(g[0]), "difference": str(g[1])}
                           for (p, t, c), g in sorted(groups.items())]}) + "\n")
            return 0
        print(f"runs {args.run_a} -> {args.run_b}: {len(found)} CDRs differ")
        if not found:
            return 0
        print("\n".join(_table(("PARTY", "TARIFF", "CURRENCY", "CDRS", "DIFFERENCE"),
                               [(p, t, c, str(g[0]), _signed(g[1])) for (p, t, c), g in sorted(groups.items())])))
        print()
        shown = found[:args.limit]
        print("\n".join(_table(("CDR", "TARIFFS", f"RUN {args.run_a}", f"RUN {args.run_b}", "DIFFERENCE"), [
            (f"{d['country_code']}*{d['party_id']}/{d['id']}", ",".join(d["tariff_ids"] or []),
             _str(d["total_a"]) or d["status_a"] or "-", _str(d["total_b"]) or d["status_b"] or "-",
             _signed(d["difference"]) if d["difference"] is not None else "-") for d in shown])))
        if len(found) > len(shown):
            print(f"... {len(found) - len(shown)} more (--limit, --json)")
        return 0

    return _run(args, work)


def _str(v: Decimal | None) -> str | None:
    return None if v is None else f"{v:f}"


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    cdrs = groups["cdrs"]
    r = cdrs.add_parser("reprice", parents=[common], help="re-rate stored CDRs with the tariff versions in force "
                                                          "at their sessions' start",
                        description="Prices stored CDRs (ours and received) again, each with the version of its "
                                    "tariffs in force when its session started, and records the results in a run. "
                                    "Runs are resumable and can be shared by workers on several machines.")
    r.add_argument("--party", metavar="CC/PID", help="only the CDRs of this CPO party")
    r.add_argument("--from", dest="start_from", metavar="DATE", help="only sessions starting at or after DATE")
    r.add_argument("--to", dest="start_to", metavar="DATE", help="only sessions starting before DATE")
    r.add_argument("--tariff", action="append", metavar="ID", help="only CDRs priced with this tariff (repeatable)")
    r.add_argument("--dry-run", action="store_true", help="compute and report, write no results")
    r.add_argument("--no-breakdown", action="store_true", help="results keep totals, not each CDR's priced JSON "
                                                               "with its breakdown (about twice as fast)")
    r.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    r.add_argument("--run", type=int, metavar="RUN_ID", help="continue (or join, from another machine) this run")
    r.add_argument("--batch", type=int, default=1000, metavar="N", help="about N CDRs per pricing call (default 1000)")
    r.add_argument("--partition-size", type=int, default=5000, metavar="N",
                   help="CDRs per partition workers claim (default 5000; new runs only)")
    r.add_argument("--pause", type=float, default=0.0, metavar="SECONDS", help="sleep after each batch (go easy "
                                                                              "on a busy database)")
    r.add_argument("--json", action="store_true", help="print the run summary as JSON")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_reprice)

    ls = cdrs.add_parser("runs", parents=[common], help="re-rating runs: state, counts, totals changed")
    ls.add_argument("--run", type=int, metavar="RUN_ID", help="the summary of one run")
    ls.add_argument("--limit", type=int, default=50, help="the newest this many (default 50)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--export", type=Path, metavar="FILE", help="with --run: write the run's results (one per CDR: "
                                                                "old and new totals, tariff versions, breakdown)")
    ls.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                    help="--export as JSON Lines (default) or typed Parquet (`pip install ocpi-engine[parquet]`)")
    ls.set_defaults(func=cmd_runs)

    d = cdrs.add_parser("diff", parents=[common], help="the CDRs whose totals differ between two re-rating runs")
    d.add_argument("run_a", type=int, metavar="RUN_A")
    d.add_argument("run_b", type=int, metavar="RUN_B")
    d.add_argument("--limit", type=int, default=50, help="CDRs listed (default 50; all with --json)")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(func=cmd_diff)
