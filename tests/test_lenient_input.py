"""Real CDRs and tariffs (issue 7 §5): what other pricers accept is priced with a warning saying how it
was read, `strict` refuses it as the spec demands; a component without `vat` means no VAT (digest §4.6);
a stated TIME volume of 0 is never billed (§4.5)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rust_core import PricedCdr, PricingError, TariffSet, decode_result, price_batch, price_cdr
from tests.conftest import VECTORS, load_vector

V1 = load_vector(VECTORS / "V01_energy_only.json")  # ENERGY 0.25 vat 10, 20 kWh: 5.00 / 5.50


def v1_cdr(**changes: object) -> dict:
    cdr = json.loads(json.dumps(V1["cdr"]))
    cdr.update(changes)
    return cdr


def v1_tariff(**changes: object) -> dict:
    tariff = json.loads(json.dumps(V1["tariffs"][0]))
    tariff.update(changes)
    return tariff


def priced_with(tariff: dict, cdr: dict | None = None, **options: Any) -> PricedCdr:
    doc = json.dumps({**(cdr or v1_cdr()), "tariffs": [tariff]})
    return price_cdr(doc, **options)


def test_an_unknown_tariff_dimension_is_ignored_with_a_warning() -> None:
    tariff = v1_tariff()
    tariff["elements"][0]["price_components"].insert(0, {"type": "CO2_EMISSION", "price": 9, "step_size": 1})
    result = priced_with(tariff, breakdown=True)
    assert result.total_cost.excl_vat == Decimal("5") and result.total_cost.incl_vat == Decimal("5.5")
    assert result.periods[0].dimensions[0].component_index == 1
    warning = 'tariff 16: elements[0].price_components[0].type: unknown TariffDimensionType "CO2_EMISSION"'
    assert any(w.startswith(warning) and w.endswith("; this price component is ignored")
               for w in result.warnings), result.warnings
    with pytest.raises(PricingError) as exc:
        priced_with(tariff, strict=True)
    assert exc.value.field == "tariffs[0].elements[0].price_components[0].type"
    with pytest.raises(PricingError) as exc:
        TariffSet(json.dumps([tariff]), strict=True)
    assert exc.value.field == "[0].elements[0].price_components[0].type"
    assert len(TariffSet(json.dumps([tariff]))) == 1


def test_a_bare_number_min_price_is_read_as_excl_vat() -> None:
    # 1.2 kWh costs 0.30 / 0.33; the floor 0.50 raises excl only (no incl_vat given).
    cdr = v1_cdr()
    cdr["charging_periods"][0]["dimensions"][0]["volume"] = 1.2
    result = priced_with(v1_tariff(min_price=0.5), cdr)
    assert result.total_cost.excl_vat == Decimal("0.5")
    assert result.total_cost.incl_vat == Decimal("0.33")
    assert result.min_price_applied
    assert ("tariff 16: min_price: expected a Price object {excl_vat, incl_vat}, found the bare number 0.5; "
            "read as excl_vat (incl_vat not given)") in result.warnings
    with pytest.raises(PricingError) as exc:
        priced_with(v1_tariff(min_price=0.5), cdr, strict=True)
    assert exc.value.field == "tariffs[0].min_price" and "bare number 0.5" in exc.value.reason


def test_date_times_without_zero_padding_are_read_with_one_warning() -> None:
    padded = price_cdr(json.dumps(v1_cdr()))
    cdr = v1_cdr(start_date_time="2024-3-5T10:00:00Z", end_date_time="2024-3-5T10:30:00Z")
    cdr["charging_periods"][0]["start_date_time"] = "2024-3-5T10:00:00Z"
    result = price_cdr(json.dumps(cdr))
    assert result.total_cost == padded.total_cost
    assert result.start_date_time == "2024-03-05T10:00:00Z"
    assert ('start_date_time: date-time "2024-3-5T10:00:00Z" lacks zero padding; read as 2024-03-05T10:00:00Z '
            "(2 more date-times like it)") in result.warnings
    with pytest.raises(PricingError) as exc:
        price_cdr(json.dumps(cdr), strict=True)
    assert exc.value.field == "start_date_time"
    # A date-time that is wrong in another way stays an error in both modes.
    with pytest.raises(PricingError):
        price_cdr(json.dumps(v1_cdr(end_date_time="2024-3-35T10:30:00Z")))


def test_a_cdr_without_id_is_priced_and_named_by_its_line_in_a_batch() -> None:
    result = price_cdr(json.dumps(v1_cdr(id=None)))
    assert result.id is None and result.total_cost.excl_vat == Decimal("5")
    assert any(w.startswith("id: required field is missing; priced without one") for w in result.warnings)
    with pytest.raises(PricingError) as exc:
        price_cdr(json.dumps(v1_cdr(id=None)), strict=True)
    assert exc.value.field == "id"

    lines = [json.dumps(v1_cdr()), json.dumps({k: v for k, v in v1_cdr().items() if k != "id"})]
    batch = price_batch("\n".join(lines) + "\n", first_line=7)
    assert (batch.records, batch.priced, batch.errors) == (2, 2, [])
    named, unnamed = (decode_result(x) for x in batch.output.splitlines())
    assert (named.id, named.line) == ("CDR-V01", None)
    assert (unnamed.id, unnamed.line) == (None, 8)
    strict = price_batch("\n".join(lines) + "\n", first_line=7, strict=True)
    assert strict.priced == 1 and [(e[0], e[2], e[3]) for e in strict.errors] == [(8, None, "id")]


def test_a_component_without_vat_means_no_vat_unless_missing_vat_is_unknown() -> None:
    tariff = v1_tariff()
    del tariff["elements"][0]["price_components"][0]["vat"]
    result = priced_with(tariff)
    assert (result.total_cost.excl_vat, result.total_cost.incl_vat) == (Decimal("5"), Decimal("5"))
    result = priced_with(tariff, missing_vat="unknown")
    assert (result.total_cost.excl_vat, result.total_cost.incl_vat) == (Decimal("5"), None)
    assert result.total_fixed_cost.incl_vat == Decimal("0")
    with pytest.raises(ValueError, match="missing_vat"):
        priced_with(tariff, missing_vat="maybe")


def test_a_stated_time_volume_of_zero_is_never_billed() -> None:
    # A 150 ms period with TIME 0 under a 60 s step used to bill one whole step (§4.5 S1/S3).
    tariff = v1_tariff(elements=[{"price_components": [{"type": "TIME", "price": 6, "vat": 10, "step_size": 60}]}])
    cdr = v1_cdr(start_date_time="2024-03-05T10:00:00Z", end_date_time="2024-03-05T10:00:00.150Z")
    cdr["charging_periods"] = [{"start_date_time": "2024-03-05T10:00:00Z", "tariff_id": "16",
                                "dimensions": [{"type": "ENERGY", "volume": 0}, {"type": "TIME", "volume": 0}]}]
    result = priced_with(tariff, cdr)
    assert result.total_time_cost.excl_vat == Decimal("0") and result.total_cost.excl_vat == Decimal("0")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120)


def test_cli_strict_and_missing_vat(tmp_path: Path) -> None:
    tariff = v1_tariff(min_price=0.5)
    del tariff["elements"][0]["price_components"][0]["vat"]
    tariff_file = tmp_path / "tariff.json"
    tariff_file.write_text(json.dumps(tariff))
    cdr_file = tmp_path / "cdr.json"
    cdr_file.write_text(json.dumps(v1_cdr(tariffs=[])))

    r = run_cli("price", "--cdr", str(cdr_file), "--tariff", str(tariff_file), "--compact")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout, parse_float=Decimal)
    assert out["total_cost"] == {"excl_vat": Decimal("5"), "incl_vat": Decimal("5")}
    r = run_cli("price", "--cdr", str(cdr_file), "--tariff", str(tariff_file), "--compact", "--missing-vat", "unknown")
    assert json.loads(r.stdout, parse_float=Decimal)["total_cost"] == {"excl_vat": Decimal("5")}
    r = run_cli("price", "--cdr", str(cdr_file), "--tariff", str(tariff_file), "--strict")
    assert r.returncode == 1 and f"{tariff_file}: min_price: expected a Price object" in r.stderr, r.stderr

    cdrs = tmp_path / "cdrs.jsonl"
    cdrs.write_text(json.dumps(v1_cdr()) + "\n" + json.dumps(v1_cdr(id=None)) + "\n")
    out_file = tmp_path / "priced.jsonl"
    plain_tariffs = tmp_path / "plain.json"
    plain_tariffs.write_text(json.dumps(V1["tariffs"]))
    r = run_cli("price-batch", str(cdrs), "--tariffs", str(plain_tariffs), "--out", str(out_file), "--no-progress")
    assert r.returncode == 0 and "2 records, 2 priced, 0 errors" in r.stderr, r.stderr
    assert json.loads(out_file.read_text().splitlines()[1])["line"] == 2
    r = run_cli("price-batch", str(cdrs), "--tariffs", str(plain_tariffs), "--out", str(out_file), "--no-progress", "--strict")
    assert r.returncode == 1 and "2 records, 1 priced, 1 errors" in r.stderr and "line 2: id: required field is missing" in r.stderr
