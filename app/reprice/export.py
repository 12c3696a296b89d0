"""`ocpi-engine cdrs runs --run ID --export FILE [--format jsonl|parquet]`: a run's results, out of PostgreSQL
through a server-side cursor in batches (constant memory), as JSON Lines or typed Parquet (one row group a batch;
amounts `decimal128(38, 10)` from PostgreSQL's numeric, never through a float)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

QUERY = """SELECT seq, country_code, party_id, id, status, currency, old_total, new_total, new_total_incl, change,
tariff_ids, tariff_versions::text AS tariff_versions, breakdown::text AS breakdown, reason, engine_version
FROM reprice_results WHERE run_id = $1 ORDER BY seq"""
TEXT = ("country_code", "party_id", "id", "status", "currency")
AMOUNTS = ("old_total", "new_total", "new_total_incl", "change")
JSON_TEXT = ("tariff_versions", "breakdown")

_encode = msgspec.json.Encoder(decimal_format="number").encode


def _schema() -> Any:
    from app.rating.parquet import require_pyarrow

    pa = require_pyarrow()
    money = pa.decimal128(38, 10)
    return pa.schema([("run_id", pa.int64()), ("seq", pa.int64()), *((n, pa.string()) for n in TEXT),
                      *((n, money) for n in AMOUNTS), ("tariff_ids", pa.list_(pa.string())),
                      *((n, pa.string()) for n in JSON_TEXT), ("reason", pa.string()),
                      ("engine_version", pa.string())])


async def export_run(pool: Any, run_id: int, path: Path, out_format: str, batch: int = 5000) -> int:
    """Write the results of run `run_id` to `path`; the number of rows written."""
    schema = _schema() if out_format == "parquet" else None
    rows = 0
    async with pool.acquire() as conn, conn.transaction():
        cursor = await conn.cursor(QUERY, run_id)
        if schema is not None:
            import pyarrow.parquet as pq

            with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
                while chunk := await cursor.fetch(batch):
                    cols = {f.name: [run_id] * len(chunk) if f.name == "run_id" else [r[f.name] for r in chunk]
                            for f in schema}
                    writer.write_table(_table(cols, schema))
                    rows += len(chunk)
        else:
            with path.open("wb") as f:
                while chunk := await cursor.fetch(batch):
                    f.write(b"".join(_encode({"run_id": run_id, **dict(r)}) + b"\n" for r in chunk))
                    rows += len(chunk)
    return rows


def _table(cols: dict[str, list[Any]], schema: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_arrays([pa.array(cols[f.name], f.type) for f in schema], schema=schema)
