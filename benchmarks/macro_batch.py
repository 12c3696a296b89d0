"""Macro benchmark: price N generated CDRs end to end through the batch path.

JSON Lines in (read from disk in chunks), priced JSON Lines out (written to disk), exactly what
`ocpi-engine price-batch` does, beside two same-run baselines over the same file:
- rust_core parse-only (the ceiling: validating every line as JSON on all cores, no pricing, no output);
- orjson parse-only (what Python merely parsing the lines costs: `orjson.loads` of each line, one thread);
  `price_vs_orjson` is the issue-10 figure (price-batch end to end / orjson parse-only).
In memory, over the first `--in-memory` CDRs (200,000 by default) held as 16 MB chunks: `price_batch` on all cores
against orjson parsing the same lines (`in_memory_vs_orjson`, the other issue-10 figure).

    python benchmarks/macro_batch.py --cdrs 1000000 [--seed 42] [--work-dir bench-data] [--json OUT] [--quick]

Peak memory is the process's max RSS (the file itself is never held in memory).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import generate  # noqa: E402

from app.rating import PricingOptions, price_file  # noqa: E402
from rust_core import TariffSet, parse_only, price_batch  # noqa: E402


def orjson_parse_only(path: Path) -> tuple[int, float]:
    """Lines parsed by orjson and the seconds it took (orjson: `pip install ocpi-engine[bench]`)."""
    import orjson

    loads = orjson.loads
    t0 = time.perf_counter()
    records = 0
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                loads(line)
                records += 1
    return records, time.perf_counter() - t0


def in_memory(path: Path, n: int, tariffs: TariffSet, chunk_mb: int) -> dict[str, float]:
    """`price_batch` over the first n lines held in memory, beside orjson parsing the same lines in memory."""
    import orjson

    from app.rating.batch import iter_chunks

    chunks: list[bytes] = []
    held = 0
    with path.open("rb") as f:
        for chunk in iter_chunks(f, chunk_mb * 1024 * 1024):
            lines = chunk.count(b"\n")
            if held + lines > n:
                chunk = b"".join(chunk.splitlines(keepends=True)[: n - held])
                lines = n - held
            chunks.append(chunk)
            held += lines
            if held >= n:
                break
    lines_list = [line for c in chunks for line in c.splitlines() if line.strip()]
    loads = orjson.loads
    t0 = time.perf_counter()
    for line in lines_list:
        loads(line)
    orjson_s = time.perf_counter() - t0
    del lines_list
    t0 = time.perf_counter()
    priced = errors = 0
    for c in chunks:
        result = price_batch(c, tariffs, time_zone="Europe/Amsterdam")
        priced += result.priced
        errors += len(result.errors)
    price_s = time.perf_counter() - t0
    return {"in_memory_cdrs": priced + errors, "in_memory_cdrs_per_s": (priced + errors) / price_s,
            "in_memory_orjson_cdrs_per_s": held / orjson_s, "in_memory_vs_orjson": orjson_s / price_s * (priced + errors) / held}


def run(n: int, seed: int, work: Path, chunk_mb: int = 16, memory_n: int = 200_000) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    tariffs_path, cdrs_path = work / "tariffs.json", work / "cdrs.jsonl"
    marker = work / f"generated-{n}-{seed}"
    if not marker.exists():
        t0 = time.perf_counter()
        generate(n, seed, work)
        marker.touch()
        print(f"generated {n} CDRs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    size = cdrs_path.stat().st_size

    # Baseline: parse only, same chunking.
    t0 = time.perf_counter()
    records = 0
    with cdrs_path.open("rb") as f:
        from app.rating.batch import iter_chunks

        for chunk in iter_chunks(f, chunk_mb * 1024 * 1024):
            records += parse_only(chunk)[0]
    parse_s = time.perf_counter() - t0
    orjson_records, orjson_s = orjson_parse_only(cdrs_path)

    tariffs = TariffSet(tariffs_path.read_bytes())
    out = work / "priced.jsonl"
    summary = price_file(cdrs_path, tariffs, out, PricingOptions(time_zone="Europe/Amsterdam"),
                         errors_out=work / "errors.jsonl", chunk_bytes=chunk_mb * 1024 * 1024)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "cdrs": summary.records,
        "errors": summary.errors,
        "input_mib": size / 2**20,
        "parse_only_cdrs_per_s": records / parse_s,
        "parse_only_mib_per_s": size / 2**20 / parse_s,
        "price_cdrs_per_s": summary.per_second,
        "price_mib_per_s": size / 2**20 / summary.seconds,
        "price_vs_parse": summary.per_second / (records / parse_s),
        "orjson_parse_only_cdrs_per_s": orjson_records / orjson_s,
        "price_vs_orjson": summary.per_second / (orjson_records / orjson_s),
        "peak_rss_mib": peak_mib,
        "output_mib": out.stat().st_size / 2**20,
    }
    if memory_n > 0:
        result |= in_memory(cdrs_path, min(n, memory_n), tariffs, chunk_mb)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cdrs", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work-dir", type=Path, default=Path("bench-data"))
    ap.add_argument("--chunk-mb", type=int, default=16)
    ap.add_argument("--in-memory", type=int, default=200_000, metavar="N",
                    help="CDRs priced in memory beside orjson over the same lines (default 200,000; 0: skip)")
    ap.add_argument("--quick", action="store_true", help="50,000 CDRs (a few seconds)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON to OUT")
    args = ap.parse_args()
    if args.quick:
        args.cdrs = min(args.cdrs, 50_000)
    result = run(args.cdrs, args.seed, args.work_dir, args.chunk_mb, args.in_memory)
    text = json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
