"""`ocpi-engine bench [--quick] [--json OUT] [--compare OLD.json] [--only NAME ...]`.

Exit status: 0; 1 a regression against --compare; 2 bad usage (no benchmarks folder, unreadable --compare file);
3 a benchmark failed (its figures are missing from the table; the note says why)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.bench import compare, registry, runner, table


def cmd_bench(args: argparse.Namespace) -> int:
    if not 0 <= args.tolerance < 1:
        return _fail("--tolerance is a fraction between 0 and 1 (0.1: 10 %)")
    try:
        folder = runner.find_benchmarks(args.benchmarks)
        old = runner.load(args.compare) if args.compare else None
    except runner.BenchError as exc:
        return _fail(str(exc))
    benches = [b for b in registry.BENCHMARKS if not args.only or b.name in args.only]
    opts = runner.Options(quick=args.quick, base_port=args.base_port, work_dir=args.work_dir, timeout=args.timeout)
    try:
        result = runner.run_all(benches, folder, opts)
    except KeyboardInterrupt:
        runner.progress("interrupted; the running benchmark was stopped")
        return 130
    outcomes = {name: runner.Outcome.from_json(name, o) for name, o in result["benchmarks"].items()}
    verdicts = compare.compare(outcomes, old, args.tolerance) if old is not None else None
    print(table.render(outcomes, result["environment"], verdicts, args.tolerance, result["seconds"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        runner.progress(f"results written to {args.json}")
    if verdicts is not None and compare.regressions(verdicts):
        return 1
    return 3 if any(o.status == "failed" for o in outcomes.values()) else 0


def _fail(message: str) -> int:
    print(f"ocpi-engine bench: error: {message}", file=sys.stderr)
    return 2


def add_command(sub: Any) -> None:
    names = [b.name for b in registry.BENCHMARKS]
    p = sub.add_parser(
        "bench", help="run the macro benchmarks and print one table (figures beside same-run baselines)",
        description="Run every macro benchmark of the repository's benchmarks/ folder with fixed seeds, each as a "
                    "subprocess, and print one table: each figure beside its same-run baseline and the ratio. "
                    "The benchmarks are not in the installed package: they are found with --benchmarks DIR, "
                    "$OCPI_ENGINE_BENCHMARKS, or the benchmarks/ folder of the checkout `app` is imported from. "
                    "Exit status: 1 a regression against --compare, 2 bad usage, 3 a benchmark failed.")
    p.add_argument("--quick", action="store_true", help="short variants (under two minutes on 2 cores)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results and the environment as JSON to OUT")
    p.add_argument("--compare", type=Path, metavar="OLD.json",
                   help="mark figures whose ratio got worse than in OLD.json (an earlier --json) by more than "
                        "--tolerance; exit status 1 when there is one")
    p.add_argument("--tolerance", type=float, default=compare.DEFAULT_TOLERANCE, metavar="FRACTION",
                   help="how much worse a ratio may get before it is a regression (default 0.1: 10 %%)")
    p.add_argument("--only", nargs="+", action="extend", choices=names, metavar="NAME",
                   help=f"run only these benchmarks: {', '.join(names)}")
    p.add_argument("--benchmarks", type=Path, metavar="DIR", help="the repository's benchmarks/ folder")
    p.add_argument("--base-port", type=int, metavar="PORT",
                   help="first port of the benchmarks that listen on fixed ports (fan-out receivers)")
    p.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="keep work files and generated data here, reused by later runs (default: a temporary "
                        "folder, removed)")
    p.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                   help="stop a benchmark that runs longer (default 900)")
    p.set_defaults(func=cmd_bench)
