"""Bad input gets a precise error naming the field; a batch prices the rest."""

from __future__ import annotations

import json

import pytest

from rust_core import PricingError, TariffSet, price_batch, price_cdr
from tests.conftest import VECTORS, load_vector

V1 = load_vector(VECTORS / "V01_energy_only.json")


def cdr_with(**changes: object) -> dict:
    cdr = json.loads(json.dumps(V1["cdr"]))
    cdr.update(changes)
    return cdr


def test_bad_volume_names_the_path() -> None:
    cdr = cdr_with()
    cdr["charging_periods"][0]["dimensions"][0]["volume"] = "lots"
    with pytest.raises(PricingError) as exc:
        price_cdr(json.dumps(cdr))
    assert exc.value.field == "charging_periods[0].dimensions[0].volume"
    assert "expected a number" in exc.value.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_date_time": "tomorrow"}, "end_date_time"),
        ({"start_date_time": None}, "start_date_time"),
        ({"charging_periods": []}, "charging_periods"),
    ],
)
def test_bad_cdr_fields(change: dict, field: str) -> None:
    for strict in (False, True):
        with pytest.raises(PricingError) as exc:
            price_cdr(json.dumps(cdr_with(**change)), strict=strict)
        assert exc.value.field == field


def test_bad_tariff_names_the_path() -> None:
    tariffs = json.loads(json.dumps(V1["tariffs"]))
    tariffs[0]["elements"][0]["price_components"][0]["step_size"] = "many"
    with pytest.raises(PricingError) as exc:
        TariffSet(json.dumps(tariffs))
    assert exc.value.field == "[0].elements[0].price_components[0].step_size"
    tariffs[0]["elements"][0]["price_components"][0].update(step_size=1, type="KWH")
    with pytest.raises(PricingError) as exc:
        TariffSet(json.dumps(tariffs), strict=True)
    assert exc.value.field == "[0].elements[0].price_components[0].type"
    assert "ENERGY" in exc.value.reason


def test_unknown_tariff_id() -> None:
    cdr = cdr_with(tariffs=[])
    cdr["charging_periods"][0]["tariff_id"] = "nope"
    with pytest.raises(PricingError) as exc:
        price_cdr(json.dumps(cdr), TariffSet(json.dumps(V1["tariffs"])))
    assert exc.value.field == "charging_periods[0].tariff_id"


def test_invalid_json_and_time_zone() -> None:
    with pytest.raises(PricingError, match="invalid JSON"):
        price_cdr(b'{"id": ')
    with pytest.raises(ValueError, match="time zone"):
        price_cdr(json.dumps(V1["cdr"]), time_zone="Mars/Olympus")


def test_batch_prices_the_rest_and_reports_the_bad_ones() -> None:
    good = json.dumps(V1["cdr"])
    bad = json.dumps(cdr_with(id="BAD-1", end_date_time="nope"))
    buf = "\n".join([good, bad, "", "{not json", good]) + "\n"
    result = price_batch(buf)
    assert (result.records, result.priced) == (4, 2)
    errors = result.errors
    assert [(e[0], e[2], e[3]) for e in errors] == [(2, "BAD-1", "end_date_time"), (4, None, "")]
    assert len(result.output.splitlines()) == 2
    err_lines = [json.loads(x) for x in result.errors_jsonl().splitlines()]
    assert err_lines[0]["line"] == 2 and err_lines[0]["id"] == "BAD-1"


def test_batch_accepts_a_list_of_documents() -> None:
    result = price_batch([json.dumps(V1["cdr"]).encode(), "{}"])
    assert (result.records, result.priced) == (2, 1)
    assert result.errors[0][0] == 2 and result.errors[0][3] == "start_date_time"


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="rounding"):
        price_cdr(json.dumps(V1["cdr"]), rounding="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="split"):
        price_cdr(json.dumps(V1["cdr"]), split="never")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        price_cdr(42)  # type: ignore[arg-type]


def test_unknown_fields_and_dimension_types_are_warned_with_their_path() -> None:
    cdr = cdr_with(surprise=1)
    cdr["charging_periods"][0]["dimensions"].append({"type": "FOO", "volume": 1, "x": 2})
    warnings = price_cdr(json.dumps(cdr)).warnings
    assert 'unknown field "surprise"' in warnings
    assert 'charging_periods[0].dimensions[2]: unknown field "x"' in warnings
    assert 'charging_periods[0].dimensions[2]: unknown dimension type "FOO" ignored' in warnings
