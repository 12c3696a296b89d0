"""The `ocpi-engine` command line: pricing commands (thin shells over `app.rating` and `rust_core`) and the
service commands of `app.service_cli`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app import __version__
from app.rating import PricingOptions, TariffFileError, load_tariff_files, price_file
from rust_core import PricingError, TariffSet, price_cdr_json

DEMO_DIR = Path(__file__).parent / "demo" / "data"


def _options(args: argparse.Namespace, breakdown: bool) -> PricingOptions:
    return PricingOptions(
        time_zone=args.time_zone,
        split=args.split,
        decimals=args.decimals,
        rounding=args.rounding,
        tariff_type=args.tariff_type,
        breakdown=breakdown,
        version=args.ocpi_version,
        strict=args.strict,
        missing_vat=args.missing_vat,
    )


def _add_pricing_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-zone", metavar="TZ", help="IANA zone of the location (e.g. Europe/Amsterdam) when the CDR has none")
    p.add_argument("--split", choices=["boundaries", "period_start"], default="boundaries",
                   help="split periods at restriction boundaries (default) or evaluate each period at its start")
    p.add_argument("--decimals", type=int, default=4, help="decimals of output numbers (default 4)")
    p.add_argument("--rounding", choices=["half_up", "half_even", "down", "up"], default="half_up", help="output rounding (default half_up)")
    p.add_argument("--tariff-type", metavar="TYPE", help="session tariff type when choosing among tariffs (default REGULAR)")
    p.add_argument("--ocpi-version", choices=["2.1.1", "2.2.1", "2.3.0"], help="write results in this version's shape (default: the CDR's)")
    p.add_argument("--strict", action="store_true",
                   help="refuse what is otherwise priced with a warning: a tariff dimension OCPI does not define, "
                        "a bare-number min/max_price, a date-time without zero padding, a CDR without id")
    p.add_argument("--missing-vat", choices=["no_vat", "unknown"], default="no_vat",
                   help="a price component without vat: no VAT applies, incl_vat = excl_vat (no_vat, default; "
                        "2.3.0 wording) or the VAT is unknown and incl_vat is left out (unknown)")


def _fail(message: str, code: int = 1) -> int:
    print(f"ocpi-engine: error: {message}", file=sys.stderr)
    return code


def cmd_price(args: argparse.Namespace) -> int:
    try:
        cdr = args.cdr.read_bytes()
    except OSError as exc:
        return _fail(f"{args.cdr}: cannot read: {exc.strerror or exc}", 2)
    try:
        tariffs = load_tariff_files(args.tariff, strict=args.strict) if args.tariff else None
        result = price_cdr_json(cdr, tariffs, **_options(args, breakdown=not args.no_breakdown).kwargs())
    except TariffFileError as exc:
        return _fail(str(exc))
    except PricingError as exc:
        return _fail(f"{args.cdr}: {exc}")
    if args.compact:
        sys.stdout.write(result.decode() + "\n")
    else:
        json.dump(json.loads(result, parse_float=_keep_number), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0


class _Number(float):
    """A JSON number kept as its text, so pretty-printing never alters a digit."""

    def __new__(cls, text: str) -> "_Number":
        obj = super().__new__(cls, text)
        obj.text = text  # type: ignore[attr-defined]
        return obj

    def __repr__(self) -> str:
        return self.text  # type: ignore[attr-defined, no-any-return]


def _keep_number(text: str) -> _Number:
    return _Number(text)


def cmd_price_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.dask:
        return _price_on_dask(args)
    if len(args.cdrs) != 1:
        return _fail("several input files need --dask (or price them one at a time)", 2)
    args.cdrs = args.cdrs[0]
    if not args.cdrs.is_file():
        return _fail(f"{args.cdrs}: no such file", 2)
    try:
        tariffs = load_tariff_files(args.tariffs, strict=args.strict)
    except TariffFileError as exc:
        return _fail(str(exc))
    if args.format == "parquet":
        from app.rating.parquet import MissingExtra, require_pyarrow

        try:
            require_pyarrow()
        except MissingExtra as exc:
            return _fail(str(exc), 2)
    errors_out = args.errors or args.out.with_name(args.out.name + ".errors.jsonl")
    total = args.cdrs.stat().st_size
    with tqdm(total=total, unit="B", unit_scale=True, desc="pricing", disable=args.no_progress or None, file=sys.stderr) as bar:
        summary = price_file(args.cdrs, tariffs, args.out, _options(args, breakdown=args.breakdown),
                             errors_out=errors_out, chunk_bytes=args.chunk_mb * 1024 * 1024, progress=bar.update,
                             out_format=args.format)
    print(
        f"{summary.records} records, {summary.priced} priced, {summary.errors} errors "
        f"in {summary.seconds:.2f} s ({summary.per_second:,.0f} CDRs/s) -> {args.out}",
        file=sys.stderr,
    )
    if summary.errors:
        for line, rec_id, field, message in summary.first_errors:
            where = f"line {line}" + (f" (id {rec_id})" if rec_id else "")
            print(f"  {where}: {field + ': ' if field else ''}{message}", file=sys.stderr)
        if summary.errors > len(summary.first_errors):
            print(f"  ... {summary.errors - len(summary.first_errors)} more", file=sys.stderr)
        print(f"  all errors: {errors_out}", file=sys.stderr)
    elif errors_out.exists() and errors_out.stat().st_size == 0:
        errors_out.unlink()
    return 1 if summary.errors else 0


def _price_on_dask(args: argparse.Namespace) -> int:
    """`price-batch --dask ADDRESS|local[:N]`: the partitions of the inputs priced on a Dask cluster, one output
    part per partition in the directory --out."""
    from app.rating.dask import connect, price_on_dask
    from app.rating.tariffs import compile_tariffs, read_tariff_files
    from app.rating.parquet import MissingExtra

    try:
        tariffs_json, origin = read_tariff_files(args.tariffs)  # checked here, shipped as JSON to the workers
        tariffs = compile_tariffs(tariffs_json, origin, strict=args.strict)
        client, cluster = connect(args.dask)
    except TariffFileError as exc:
        return _fail(str(exc))
    except MissingExtra as exc:
        return _fail(str(exc), 2)
    except (OSError, ValueError) as exc:
        return _fail(f"--dask {args.dask}: {exc}", 2)
    try:
        summary = price_on_dask(client, args.cdrs, tariffs_json, args.out, _options(args, breakdown=args.breakdown),
                                out_format=args.format, blocksize=args.chunk_mb * 1024 * 1024)
    except FileNotFoundError as exc:
        return _fail(str(exc), 2)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"{summary.records} records, {summary.priced} priced, {summary.errors} errors in {len(summary.parts)} "
          f"partitions ({len(tariffs)} tariffs) in {summary.seconds:.2f} s ({summary.per_second:,.0f} CDRs/s) "
          f"-> {args.out}", file=sys.stderr)
    for part in summary.parts:
        for line, rec_id, field, message in part.first_errors:
            where = f"{part.partition.name} line {line}" + (f" (id {rec_id})" if rec_id else "")
            print(f"  {where}: {field + ': ' if field else ''}{message}", file=sys.stderr)
        if part.failure:
            print(f"  {part.partition.name}: not priced: {part.failure}", file=sys.stderr)
    if summary.errors:
        print(f"  all errors: {args.out}/part-*.errors.jsonl", file=sys.stderr)
    return 1 if summary.errors or summary.failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Price the bundled sample CDRs and print a summary (the quick look at the engine)."""
    import tempfile

    from decimal import Decimal

    from rust_core import decode_result

    tariffs = TariffSet((DEMO_DIR / "tariffs.json").read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "priced.jsonl"
        summary = price_file(DEMO_DIR / "cdrs.jsonl", tariffs, out, PricingOptions(time_zone="Europe/Amsterdam"),
                             errors_out=Path(tmp) / "errors.jsonl")
        revenue = Decimal(0)
        energy = Decimal(0)
        warned = 0
        for line in out.read_bytes().splitlines():
            r = decode_result(line)
            revenue += r.total_cost.amount if not isinstance(r.total_cost, Decimal) else r.total_cost
            energy += r.total_energy
            warned += bool(r.warnings)
    print(f"ocpi-engine {__version__}: priced {summary.priced} of {summary.records} sample CDRs "
          f"({len(tariffs)} tariffs, Europe/Amsterdam) in {summary.seconds * 1000:.1f} ms")
    print(f"  energy {energy:,.3f} kWh, revenue excl. VAT EUR {revenue:,.2f}, {warned} CDRs with warnings, {summary.errors} errors")
    print(f"  try: ocpi-engine price --cdr CDR.json --tariff {DEMO_DIR / 'tariffs.json'} --time-zone Europe/Amsterdam")
    return 0 if summary.errors == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpi-engine", description="OCPI rating engine and platform.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("price", help="price one CDR and print the result as JSON",
                       description="Price one OCPI CDR. Without --tariff, the CDR's own `tariffs` are used.")
    p.add_argument("--cdr", type=Path, required=True, metavar="CDR.json")
    p.add_argument("--tariff", type=Path, action="append", default=[], metavar="TARIFF.json",
                   help="a tariff object or array of tariffs (repeatable)")
    _add_pricing_flags(p)
    p.add_argument("--no-breakdown", action="store_true", help="totals only, no per-period breakdown")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.set_defaults(func=cmd_price)

    b = sub.add_parser("price-batch", help="price a JSON Lines file of CDRs in constant memory",
                       description="Price every CDR of a JSON Lines file on all cores; bad records are listed, never fatal.")
    b.add_argument("cdrs", type=Path, nargs="+", metavar="CDRS.jsonl",
                   help="the CDRs, one JSON object a line (with --dask: several files, globs, or .parquet files)")
    b.add_argument("--tariffs", type=Path, action="append", required=True, metavar="TARIFFS.json", help="tariff file (repeatable)")
    b.add_argument("--out", type=Path, required=True, metavar="PRICED.jsonl",
                   help="the results file (with --dask: a directory of part-NNNNN files, one per partition)")
    b.add_argument("--dask", metavar="SCHEDULER|local[:N]",
                   help="price partitions on a Dask cluster: a scheduler address (tcp://host:8786) or local[:N] for "
                        "a LocalCluster of N processes; partitions are --chunk-mb of JSON Lines or a Parquet row "
                        "group (needs `pip install ocpi-engine[dask]`)")
    b.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                   help="results as JSON Lines (default) or typed Parquet: decimal128 amounts, UTC timestamps, "
                        "the breakdown as a JSON string column (needs `pip install ocpi-engine[parquet]`)")
    b.add_argument("--errors", type=Path, metavar="ERRORS.jsonl", help="bad records (default: PRICED.jsonl.errors.jsonl)")
    _add_pricing_flags(b)
    b.add_argument("--breakdown", action="store_true", help="include the per-period breakdown in each result")
    b.add_argument("--chunk-mb", type=int, default=16, help="input read per call into the engine (default 16 MiB)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_price_batch)

    d = sub.add_parser("demo", help="price the bundled sample CDRs and print a summary")
    d.set_defaults(func=cmd_demo)

    from app.service_cli import add_commands

    add_commands(sub)
    from app.bench.cli import add_command as add_bench

    add_bench(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
