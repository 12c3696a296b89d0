"""Streaming batch pricing of JSON Lines files in constant memory.

The input is read in chunks that end on a line break; each chunk crosses into Rust once,
is priced on every core with the GIL released, and its output is written before the next
chunk is read, so memory stays bounded by the chunk size whatever the file size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from app.rating.options import PricingOptions
from rust_core import BatchResult, TariffSet, price_batch

DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024


@dataclass
class BatchSummary:
    records: int = 0
    priced: int = 0
    errors: int = 0
    seconds: float = 0.0
    bytes_in: int = 0
    first_errors: list[tuple[int, str | None, str, str]] = field(default_factory=list)

    def add(self, result: BatchResult, chunk_len: int, keep_errors: int) -> None:
        """Count one priced chunk, keeping the first `keep_errors` errors for display."""
        self.records += result.records
        self.priced += result.priced
        self.errors += len(result.errors)
        self.bytes_in += chunk_len
        for line, _index, rec_id, field_, message in result.errors[: max(0, keep_errors - len(self.first_errors))]:
            self.first_errors.append((line, rec_id, field_, message))

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def iter_chunks(f: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """Yield pieces of `f` that end at a line break (the last may not)."""
    rest = b""
    while True:
        block = f.read(chunk_bytes)
        if not block:
            if rest:
                yield rest
            return
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        rest = block[cut + 1 :]
        yield block[: cut + 1]


def price_file(
    cdrs: Path,
    tariffs: TariffSet,
    out: Path,
    options: PricingOptions,
    *,
    errors_out: Path | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Callable[[int], None] | None = None,
    keep_errors: int = 20,
    out_format: str = "jsonl",
) -> BatchSummary:
    """Price every CDR of a JSON Lines file into `out` (and bad records into `errors_out`).

    `out_format` "parquet" writes typed Parquet (`app.rating.parquet`, the `[parquet]` extra) instead of JSON
    Lines; a missing pyarrow raises `MissingExtra` before anything is read."""
    summary = BatchSummary()
    kwargs = options.kwargs()
    started = time.perf_counter()
    line = 1
    with ExitStack() as stack:
        write = _sink(stack, out, out_format, options.decimals)
        src = stack.enter_context(cdrs.open("rb"))
        err_dst = stack.enter_context(errors_out.open("wb")) if errors_out else None
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))

        def collect(job: Future[BatchResult], chunk_len: int) -> None:
            result = job.result()
            write(result.output)
            if result.errors and err_dst is not None:
                err_dst.write(result.errors_jsonl())
            summary.add(result, chunk_len, keep_errors)
            if progress is not None:
                progress(chunk_len)

        # Pipeline: the engine prices chunk k (GIL released, all cores) on a worker thread while
        # this thread writes the results of chunk k-1 and reads chunk k+1.
        pending: tuple[Future[BatchResult], int] | None = None
        for chunk in iter_chunks(src, chunk_bytes):
            job = pool.submit(price_batch, chunk, tariffs, first_line=line, **kwargs)
            line += chunk.count(b"\n")
            if pending is not None:
                collect(*pending)
            pending = (job, len(chunk))
        if pending is not None:
            collect(*pending)
    summary.seconds = time.perf_counter() - started
    return summary



def _sink(stack: ExitStack, out: Path, out_format: str, decimals: int) -> Callable[[bytes], object]:
    """Where each batch's output goes: the JSON Lines file as it is, or a row group of a Parquet file."""
    if out_format == "parquet":
        from app.rating.parquet import ParquetSink

        return stack.enter_context(ParquetSink(out, decimals)).write
    if out_format != "jsonl":
        raise ValueError(f"unknown output format {out_format!r} (jsonl or parquet)")
    return stack.enter_context(out.open("wb")).write
