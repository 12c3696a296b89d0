"""Pricing options as one value, passed as keyword arguments to `rust_core`."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class PricingOptions(msgspec.Struct, frozen=True, kw_only=True):
    time_zone: str | None = None
    split: Literal["boundaries", "period_start"] = "boundaries"
    decimals: int = 4
    rounding: Literal["half_up", "half_even", "down", "up"] = "half_up"
    tariff_type: str | None = None
    breakdown: bool = False
    version: Literal["2.1.1", "2.2.1", "2.3.0"] | None = None
    strict: bool = False
    missing_vat: Literal["no_vat", "unknown"] = "no_vat"

    def kwargs(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)
