"""Batch pricing on a Dask cluster (the `[dask]` extra): partitions of JSON Lines or Parquet files, each priced
with one `price_batch` call on a worker and written there as one output part.

    from dask.distributed import Client
    from app.rating.dask import price_on_dask
    summary = price_on_dask(Client("tcp://scheduler:8786"), ["s3-mounted/cdrs-*.jsonl"], tariffs_json, "out/")

A JSON Lines file is cut into byte ranges of `blocksize` (a partition owns the lines that start in its range, as
`dask.bag.read_text` does); a Parquet file gives one partition per row group. The tariffs are scattered once to
every worker and compiled once per worker process. A bad record is reported with its partition and line and
never stops the run; a partition that cannot be read at all is reported and the others are still priced.
Inputs and the output directory must be paths every worker can reach (a shared or mounted file system).
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from app.rating.options import PricingOptions
from app.rating.parquet import MissingExtra, ParquetSink, require_pyarrow
from rust_core import TariffSet, price_batch

DEFAULT_BLOCKSIZE = 64 * 1024 * 1024


def require_dask() -> Any:
    """`distributed`, or MissingExtra naming the extra that brings it (with pyarrow)."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtra(f"Dask pricing needs dask.distributed, which is not installed ({exc}): "
                           "pip install ocpi-engine[dask]") from None
    require_pyarrow("dask")
    return distributed


class Partition(msgspec.Struct, frozen=True):
    """A piece of one input file: bytes [start, end) of JSON Lines, or row group `start` of a Parquet file."""

    index: int
    path: str
    kind: str  # "jsonl" | "parquet"
    start: int
    end: int

    @property
    def name(self) -> str:
        where = f"bytes {self.start}-{self.end}" if self.kind == "jsonl" else f"row group {self.start}"
        return f"{self.path} ({where})"


@dataclass
class PartResult:
    partition: Partition
    records: int = 0
    priced: int = 0
    errors: int = 0
    output: str | None = None
    first_errors: list[tuple[int, str | None, str, str]] = field(default_factory=list)
    failure: str | None = None  # the partition could not be read or written


@dataclass
class DaskSummary:
    parts: list[PartResult]
    seconds: float

    @property
    def records(self) -> int:
        return sum(p.records for p in self.parts)

    @property
    def priced(self) -> int:
        return sum(p.priced for p in self.parts)

    @property
    def errors(self) -> int:
        return sum(p.errors for p in self.parts)

    @property
    def failed(self) -> list[PartResult]:
        return [p for p in self.parts if p.failure is not None]

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def expand(inputs: Sequence[str | Path]) -> list[str]:
    """Input paths with glob patterns expanded, in a stable order."""
    found: list[str] = []
    for item in inputs:
        text = str(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise FileNotFoundError(f"{text}: no file matches")
        found += matches
    return found


def partitions(paths: Sequence[str], blocksize: int = DEFAULT_BLOCKSIZE) -> list[Partition]:
    """The partitions of the input files (Parquet by the `.parquet`/`.pq` suffix, JSON Lines otherwise)."""
    parts: list[Partition] = []
    for path in paths:
        if path.endswith((".parquet", ".pq")):
            groups = require_pyarrow("dask").parquet.ParquetFile(path).num_row_groups
            parts += [Partition(len(parts) + g, path, "parquet", g, g + 1) for g in range(groups)]
            continue
        size = os.path.getsize(path)
        for start in range(0, max(size, 1), blocksize):
            parts.append(Partition(len(parts), path, "jsonl", start, min(start + blocksize, size)))
    return parts


def read_partition(part: Partition) -> bytes:
    """The CDRs of one partition as JSON Lines."""
    if part.kind == "parquet":
        return _parquet_lines(part)
    with open(part.path, "rb") as f:
        # A partition owns the lines that start inside it: skip the line in progress at `start`, read on past
        # `end` to finish the last line.
        if part.start > 0:
            f.seek(part.start - 1)
            f.readline()
        data = bytearray()
        while f.tell() < part.end:
            line = f.readline()
            if not line:
                break
            data += line
        return bytes(data)


_encode = msgspec.json.Encoder(decimal_format="number").encode


def _parquet_lines(part: Partition) -> bytes:
    """A row group as JSON Lines: a file with one string column holds the CDR documents as they are; other
    files hold the CDR fields as columns (nested structs and lists), written back as OCPI JSON with exact
    decimal numbers and UTC date-times."""
    pa = require_pyarrow("dask")
    table = pa.parquet.ParquetFile(part.path).read_row_group(part.start)
    if table.num_columns == 1 and (pa.types.is_string(table.schema[0].type) or pa.types.is_binary(table.schema[0].type)
                                   or pa.types.is_large_string(table.schema[0].type)):
        docs = table.column(0).to_pylist()
        return b"".join((d.encode() if isinstance(d, str) else d) + b"\n" for d in docs if d is not None)
    return b"".join(_encode({k: v for k, v in row.items() if v is not None}) + b"\n" for row in table.to_pylist())


_compiled: dict[str, TariffSet] = {}


def _tariffs(tariffs_json: bytes, strict: bool) -> TariffSet:
    """The tariffs compiled once per worker process (the bytes arrive once per worker: they are scattered)."""
    key = hashlib.sha256(tariffs_json).hexdigest() + ("/strict" if strict else "")
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = TariffSet(tariffs_json, strict=strict)
    return found


def price_partition(part: Partition, tariffs_json: bytes, options: PricingOptions, out_dir: str, out_format: str,
                    keep_errors: int = 20) -> PartResult:
    """Price one partition with one `price_batch` call; write `part-NNNNN.<format>` (and its bad records to
    `part-NNNNN.errors.jsonl`) into `out_dir`. Runs on a worker."""
    res = PartResult(part)
    try:
        data = read_partition(part)
        result = price_batch(data, _tariffs(tariffs_json, options.strict), **options.kwargs())
        out = Path(out_dir) / f"part-{part.index:05d}.{out_format}"
        if out_format == "parquet":
            with ParquetSink(out, options.decimals) as sink:
                sink.write(result.output)
        else:
            out.write_bytes(result.output)
        if result.errors:
            (Path(out_dir) / f"part-{part.index:05d}.errors.jsonl").write_bytes(result.errors_jsonl())
    except (OSError, ValueError, RuntimeError) as exc:  # unreadable file, bad Parquet, a disk full: this part only
        res.failure = f"{type(exc).__name__}: {exc}"
        return res
    res.records, res.priced, res.errors, res.output = result.records, result.priced, len(result.errors), str(out)
    res.first_errors = [(line, rec_id, fld, msg) for line, _i, rec_id, fld, msg in result.errors[:keep_errors]]
    return res


def price_on_dask(
    client: Any,
    inputs: Sequence[str | Path],
    tariffs_json: bytes,
    out_dir: str | Path,
    options: PricingOptions | None = None,
    *,
    out_format: str = "parquet",
    blocksize: int = DEFAULT_BLOCKSIZE,
) -> DaskSummary:
    """Price every partition of `inputs` on the cluster of `client` (a `dask.distributed.Client`), writing one
    output part per partition into `out_dir`. Returns when every partition is priced or has failed."""
    if out_format not in ("jsonl", "parquet"):
        raise ValueError(f"unknown output format {out_format!r} (jsonl or parquet)")
    require_dask()
    options = options or PricingOptions()
    TariffSet(tariffs_json, strict=options.strict)  # a bad tariff file fails here, not once per partition
    started = time.perf_counter()
    parts = partitions(expand(inputs), blocksize)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    shipped = client.scatter(tariffs_json, broadcast=True)
    futures = [client.submit(price_partition, p, shipped, options, str(out_dir), out_format, pure=False,
                             key=f"ocpi-price-{p.index}-{os.urandom(4).hex()}") for p in parts]
    results: list[PartResult] = client.gather(futures)
    return DaskSummary(sorted(results, key=lambda r: r.partition.index), time.perf_counter() - started)


def connect(address: str) -> tuple[Any, Any]:
    """A client for `--dask ADDRESS` (a scheduler, e.g. tcp://10.0.0.5:8786) or `local[:N]` (a LocalCluster
    of N worker processes, one thread each: the engine already uses every core of a call). Returns
    (client, cluster or None); close both."""
    distributed = require_dask()
    if address == "local" or address.startswith("local:"):
        n = int(address.partition(":")[2] or os.cpu_count() or 1)
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        return distributed.Client(cluster), cluster
    return distributed.Client(address), None
