"""Every worked example of the spec digest (§4.9, §4.5, §4.3) through the Python API."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from rust_core import Price, TariffSet, price_cdr
from tests.conftest import load_vector, vector_files

MONEY = ["total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost", "total_reservation_cost"]
VOLUMES = ["total_energy", "total_time", "total_parking_time"]


def test_all_vectors_are_present() -> None:
    stems = {p.stem.split("_")[0] for p in vector_files()}
    want = {f"V{n:02d}" for n in range(1, 9)} | {"V10", "V11a", "V11b", "V12", "V13", "V14", "V15", "V16", "V17a", "V17b", "V17c",
            "V18", "V19", "V20", "V21", "V22", "F01", "F02"} | {f"S{n:02d}" for n in range(1, 10)}
    assert want <= stems, want - stems


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    v = load_vector(path)
    opts = {k: v["options"][k] for k in ("time_zone", "decimals", "rounding", "version", "missing_vat") if k in v["options"]}
    result = price_cdr(json.dumps(v["cdr"]), TariffSet(json.dumps(v["tariffs"])), **opts)
    want = v["expected"]
    for key in MONEY:
        got = getattr(result, key)
        assert isinstance(got, Price), key
        exp = want[key]
        if "before_taxes" in exp:
            assert got.before_taxes == Decimal(exp["before_taxes"]), key
            assert len(got.taxes or []) == len(exp["taxes"]), key
            continue
        assert got.excl_vat == Decimal(exp["excl_vat"]), f"{key}.excl_vat"
        if exp["incl_vat"] is None:
            assert got.incl_vat is None, f"{key}.incl_vat should be absent"
        else:
            assert got.incl_vat == Decimal(exp["incl_vat"]), f"{key}.incl_vat"
    for key in VOLUMES:
        assert getattr(result, key) == Decimal(want[key]), key
