"""The rating core of ocpi-engine: exact OCPI tariff evaluation and CDR pricing in Rust.

`price_cdr` returns a typed `PricedCdr`; `price_cdr_json` the same result as JSON bytes;
`price_batch` prices many CDRs in one call across all cores with the GIL released.
`StoredBatch` re-rates stored CDRs from COPY rows to COPY rows, each with the tariff versions chosen for it
(`app/reprice`).
`Monitor` is the operators' live view of active sessions and EVSE statuses.
`Courier` is the delivery send loop: pooled keep-alive HTTP/1.1 on a tokio runtime, batches in and out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from rust_core._native import (
    ApplyResult,
    BatchResult,
    Courier,
    EventBatch,
    Monitor,
    PricingError,
    REPRICE_COLUMNS,
    SessionEngine,
    StoredBatch,
    TariffSet,
    __version__,
    copy_cut,
    json_guard,
    parse_only,
    price_batch,
)
from rust_core._native import price_cdr as price_cdr_json

__all__ = [
    "ApplyResult",
    "BatchResult",
    "Courier",
    "DimensionLine",
    "EventBatch",
    "Monitor",
    "PricedCdr",
    "PricedPeriod",
    "Price",
    "PricingError",
    "REPRICE_COLUMNS",
    "SessionEngine",
    "StoredBatch",
    "TariffSet",
    "TaxAmount",
    "__version__",
    "copy_cut",
    "decode_result",
    "json_guard",
    "parse_only",
    "price_batch",
    "price_cdr",
    "price_cdr_json",
]


class TaxAmount(msgspec.Struct, frozen=True):
    name: str
    percentage: Decimal
    amount: Decimal


class Price(msgspec.Struct, frozen=True):
    """A Price: 2.2.1 `excl_vat`/`incl_vat`, or 2.3.0 `before_taxes`/`taxes`."""

    excl_vat: Decimal | None = None
    incl_vat: Decimal | None = None
    before_taxes: Decimal | None = None
    taxes: list[TaxAmount] | None = None

    @property
    def amount(self) -> Decimal:
        """The amount before tax, whatever the version shape."""
        value = self.excl_vat if self.excl_vat is not None else self.before_taxes
        assert value is not None
        return value


class DimensionLine(msgspec.Struct, frozen=True):
    type: Literal["ENERGY", "TIME", "PARKING_TIME", "RESERVATION_TIME", "FLAT"]
    element_index: int
    component_index: int
    price: Decimal
    step_size: int
    volume: Decimal
    billed_volume: Decimal
    cost: Price | Decimal
    vat: Decimal | None = None
    reservation: bool = False


class PricedPeriod(msgspec.Struct, frozen=True):
    charging_period: int
    start_date_time: str
    end_date_time: str
    tariff_id: str
    reservation: bool
    dimensions: list[DimensionLine]


class PricedCdr(msgspec.Struct, frozen=True):
    version: str
    currency: str
    start_date_time: str
    end_date_time: str
    tariff_ids: list[str]
    total_cost: Price | Decimal
    total_fixed_cost: Price | Decimal
    total_energy_cost: Price | Decimal
    total_time_cost: Price | Decimal
    total_parking_cost: Price | Decimal
    total_reservation_cost: Price | Decimal
    total_energy: Decimal
    total_time: Decimal
    total_parking_time: Decimal
    min_price_applied: bool
    max_price_applied: bool
    warnings: list[str]
    id: str | None = None
    """The CDR's id; None only for a CDR without one (priced leniently, with a warning)."""
    line: int | None = None
    """In a batch, the line of a CDR without id (its name there)."""
    country_code: str | None = None
    party_id: str | None = None
    credit: bool = False
    periods: list[PricedPeriod] = []


_decoder = msgspec.json.Decoder(PricedCdr, float_hook=Decimal)


def decode_result(json: bytes) -> PricedCdr:
    """Decode one result line (of `price_cdr_json` or a batch output) with exact decimals."""
    return _decoder.decode(json)


def price_cdr(
    cdr: bytes | str,
    tariffs: TariffSet | bytes | str | None = None,
    *,
    time_zone: str | None = None,
    split: Literal["boundaries", "period_start"] = "boundaries",
    decimals: int = 4,
    rounding: Literal["half_up", "half_even", "down", "up"] = "half_up",
    tariff_type: str | None = None,
    breakdown: bool = True,
    version: Literal["2.1.1", "2.2.1", "2.3.0"] | None = None,
    strict: bool = False,
    missing_vat: Literal["no_vat", "unknown"] = "no_vat",
) -> PricedCdr:
    """Price one CDR (OCPI JSON). Raises `PricingError` naming the bad field.

    What other pricers accept is priced with a warning saying how it was read: a tariff dimension
    OCPI does not define (that component is ignored), a bare-number `min_price`/`max_price` (read
    as excl_vat), a date-time without zero padding, a CDR without `id`; `strict=True` refuses them.
    `missing_vat`: a component without `vat` means no VAT applies (`"no_vat"`: incl_vat = excl_vat)
    or that the VAT is not known (`"unknown"`: incl_vat left out of the totals it adds to).
    """
    return decode_result(
        price_cdr_json(
            cdr,
            tariffs,
            time_zone=time_zone,
            split=split,
            decimals=decimals,
            rounding=rounding,
            tariff_type=tariff_type,
            breakdown=breakdown,
            version=version,
            strict=strict,
            missing_vat=missing_vat,
        )
    )
