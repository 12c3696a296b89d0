"""Priced results as typed Parquet (the `[parquet]` extra): what analytics tools load without parsing JSON.

One row per priced CDR, one row group per engine batch, so writing stays in constant memory. Amounts are
`decimal128(38, decimals)` built from the engine's JSON number text (never through a float), date-times are UTC
timestamps, and the per-period breakdown is kept verbatim as a JSON string column (its shape varies with the
OCPI version; a string keeps every digit and loads anywhere).

The columns do not depend on the OCPI version of the results: `total_cost` is the amount before tax (2.2.1
`excl_vat`, 2.3.0 `before_taxes`, 2.1.1's bare number) and `total_cost_incl_vat` the amount with tax (2.2.1
`incl_vat`, 2.3.0 `before_taxes` plus its `taxes`, null in 2.1.1 or when the VAT is unknown); likewise for the
other five totals.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from rust_core import Price, PricedCdr

INSTALL_HINT = "pip install ocpi-engine[parquet]"
TOTALS = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
          "total_reservation_cost")
QUANTITIES = ("total_energy", "total_time", "total_parking_time")
FORMATS = ("jsonl", "parquet")


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message says which extra to install."""


def require_pyarrow(extra: str = "parquet") -> Any:
    """`pyarrow`, or MissingExtra naming the extra that brings it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (the writer lives in a submodule)
    except ImportError as exc:
        raise MissingExtra(f"Parquet needs pyarrow, which is not installed ({exc}): "
                           f"pip install ocpi-engine[{extra}]") from None
    return pyarrow


def _split(price: Price) -> tuple[Decimal | None, Decimal | None]:
    """(before tax, including tax) of a 2.2.1 or a 2.3.0 Price."""
    if price.before_taxes is not None:
        return price.before_taxes, price.before_taxes + sum((t.amount for t in price.taxes or ()), Decimal(0))
    return price.excl_vat, price.incl_vat


class _Row(PricedCdr, frozen=True):
    """A result line as the engine writes it, its breakdown kept as raw JSON text (a column of its own)."""

    periods: msgspec.Raw = msgspec.Raw(b"")  # type: ignore[assignment]  # absent without --breakdown


_rows = msgspec.json.Decoder(list[_Row], float_hook=Decimal)


def schema(decimals: int) -> Any:
    """The Arrow schema of priced results whose numbers have at most `decimals` decimals."""
    pa = require_pyarrow()
    money = pa.decimal128(38, decimals)
    ts = pa.timestamp("us", tz="UTC")
    fields = [("id", pa.string()), ("line", pa.int64()), ("country_code", pa.string()), ("party_id", pa.string()),
              ("version", pa.string()), ("currency", pa.string()), ("start_date_time", ts), ("end_date_time", ts),
              ("tariff_ids", pa.list_(pa.string()))]
    for name in TOTALS:
        fields += [(name, money), (f"{name}_incl_vat", money)]
    fields += [(name, money) for name in QUANTITIES]
    fields += [("min_price_applied", pa.bool_()), ("max_price_applied", pa.bool_()), ("credit", pa.bool_()),
               ("warnings", pa.list_(pa.string())), ("breakdown", pa.string())]
    return pa.schema(fields)


def to_table(output: bytes, arrow_schema: Any) -> Any:
    """The engine's JSON Lines output (one batch) as an Arrow table of `arrow_schema`."""
    pa = require_pyarrow()
    rows = _rows.decode(b"[" + b",".join(output.splitlines()) + b"]") if output.strip() else []
    cols: dict[str, list[Any]] = {f.name: [] for f in arrow_schema}
    for r in rows:
        for name in ("id", "line", "country_code", "party_id", "version", "currency", "start_date_time",
                     "end_date_time", "tariff_ids", *QUANTITIES, "min_price_applied", "max_price_applied", "credit",
                     "warnings"):
            cols[name].append(getattr(r, name))
        for name in TOTALS:
            v = getattr(r, name)
            excl, incl = _split(v) if isinstance(v, Price) else (v, None)
            cols[name].append(excl)
            cols[f"{name}_incl_vat"].append(incl)
        cols["breakdown"].append(bytes(r.periods).decode() if r.periods else None)
    arrays = []
    for f in arrow_schema:
        if pa.types.is_timestamp(f.type):
            # ISO 8601 text with its offset, parsed by Arrow into UTC.
            arrays.append(pa.array(cols[f.name], pa.string()).cast(f.type))
        else:
            arrays.append(pa.array(cols[f.name], f.type))
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


class ParquetSink:
    """Writes engine output batches to one Parquet file, a row group per batch."""

    def __init__(self, path: Path, decimals: int) -> None:
        pa = require_pyarrow()
        self.schema = schema(decimals)
        self._writer = pa.parquet.ParquetWriter(str(path), self.schema, compression="zstd")

    def write(self, output: bytes) -> None:
        table = to_table(output, self.schema)
        if table.num_rows:
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
