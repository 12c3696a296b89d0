"""`app.ocpi.json_input`: the strict reading of incoming JSON and the normal form stored (issue 7 §3)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from app.ocpi import json_input
from app.ocpi.json_input import MAX_DEPTH, JsonInputError
from app.schemas.v2_2_1 import CDR, EVSE, Connector, Location, Session

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"


@pytest.mark.parametrize("raw, words", [
    (b'{"a": 1, "a": 2}', "'a' appears more than once"),
    (b'{"x": [{"b": 1, "c": {"d": 1, "d": 1}}]}', "'d' appears more than once"),
    (b'{"a": 1, "\\u0061": 2}', "'a' appears more than once"),  # the same key once unescaped
    (b'{' + b",".join(b'"k%d": %d' % (i, i) for i in range(100)) + b', "k50": 0}', "'k50' appears more than once"),
    (b'{"k": 1e-999999}', "out of range"),
    (b'{"k": 1e999999}', "out of range"),
    (b'{"k": -1e999999}', "out of range"),
    (b'{"k": 0E-999999}', "out of range"),
    (b'{"k": 0.000000000000000000001}', "out of range"),  # 21 decimals
    (b'{"k": 123456789012345678901234567890.5}', "out of range"),
    (b'{"k": 9223372036854775808}', "out of range"),
    (b'{"k": 9223372036854775807.5}', "out of range"),
    (b'{"k": 1E19}', "out of range"),
    (b'{"k": [1e-21]}', "out of range"),
    (b'{"k": 18446744073709551616}', "out of range"),
    (b'{"k": -9223372036854775808.0}', "out of range"),
    (b'{"k": ' + b"1" * 5000 + b"}", "out of range"),
])
def test_content_refused_as_2001(raw: bytes, words: str) -> None:
    with pytest.raises(JsonInputError, match=words) as info:
        json_input.parse(raw)
    assert not info.value.syntax


@pytest.mark.parametrize("raw", [
    b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
    b"[" * 10_000 + b"]" * 10_000,
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),  # deeper than allowed, not as deep as msgspec's own limit
    b"[" * 1_000_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b'{"k": NaN}',
    b"\xef\xbb\xbf{}",
    b'{"a": 1} x',
])
def test_not_json_or_too_deep_is_a_syntax_error(raw: bytes) -> None:
    with pytest.raises(JsonInputError) as info:
        json_input.parse(raw)
    assert info.value.syntax


def test_numbers_within_bounds_are_kept_digit_for_digit() -> None:
    deepest = b'{"a":' * (MAX_DEPTH - 1) + b"[]" + b"}" * (MAX_DEPTH - 1)
    assert json_input.parse(deepest)
    doc = json_input.parse(b'{"a": 0.30000000000000004, "b": 12.50, "c": 9223372036854775807, "d": 1.000000000000000000000000}')
    assert doc == {"a": Decimal("0.30000000000000004"), "b": Decimal("12.50"), "c": 2**63 - 1, "d": Decimal("1")}
    assert str(doc["b"]) == "12.50"
    doc = json_input.parse(b'[1e-20, 0e999999, 1.5e3, -9223372036854775807, 9223372036854775807.000, {"a": {"a": 1}, "\\u0062": 2}]')
    assert doc == [Decimal("1e-20"), 0, 1500, -(2**63 - 1), 2**63 - 1, {"a": {"a": 1}, "b": 2}]
    assert type(doc[2]) is Decimal and type(doc[3]) is int


def test_nulls_are_dropped_from_objects_not_from_lists() -> None:
    assert json_input.drop_nulls({"a": None, "b": [None, {"c": None, "d": 1}], "e": {"f": None}}) == {
        "b": [None, {"d": 1}], "e": {}}


def test_the_stored_form_keeps_unknown_fields_numbers_and_order_and_writes_utc() -> None:
    doc = json.loads((DEMO / "locations.json").read_text())[0]
    raw = json.dumps({"x_first": {"n": "PLACEHOLDER", "z": None}, **doc, "last_updated": "2026-06-01T02:00:00.5+02:00",
                      "postal_code": None}).replace('"PLACEHOLDER"', "1.10").encode()
    decoded = json_input.decode(raw, Location)
    assert decoded.text.startswith('{"x_first":{"n":1.10},"country_code":')
    stored = json.loads(decoded.text)
    assert stored["last_updated"] == "2026-06-01T00:00:00.5Z" and "postal_code" not in stored
    assert {k for k in stored if k not in doc} == {"x_first"} and decoded.warnings == ()
    # a number sent as a string is stored as the number (msgspec reads both; one form is stored)
    session = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    with pytest.raises(msgspec.ValidationError):
        json_input.decode(json.dumps(session).encode(), Session)  # a CDR is no Session: the schema still applies


def test_the_normal_form_reaches_every_nested_date_time_and_number_and_leaves_normal_documents_alone() -> None:
    cdr = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    normal = json_input.decode(json.dumps(cdr).encode(), CDR)
    assert normal.text == json.dumps(cdr, separators=(",", ":"))  # the demo CDR is already in normal form
    doc = json_input.parse(json.dumps(cdr).encode())
    assert json_input._normal(doc, normal.obj) is doc  # nothing to rewrite: not even copied

    sloppy = json.loads(json.dumps(cdr))
    sloppy["start_date_time"] = "2026-06-01T02:00:00+02:00"
    sloppy["charging_periods"][-1]["start_date_time"] = "2026-06-01T00:00:00.120000z"
    sloppy["total_energy"] = str(cdr["total_energy"])
    sloppy["total_cost"]["excl_vat"] = str(cdr["total_cost"]["excl_vat"])
    stored = json.loads(json_input.decode(json.dumps(sloppy).encode(), CDR).text)
    assert stored["start_date_time"] == "2026-06-01T00:00:00Z"
    assert stored["charging_periods"][-1]["start_date_time"] == "2026-06-01T00:00:00.12Z"
    assert stored["total_energy"] == cdr["total_energy"] and stored["total_cost"] == cdr["total_cost"]
    assert {k: v for k, v in stored.items() if k not in ("start_date_time", "charging_periods")} == {
        k: v for k, v in cdr.items() if k not in ("start_date_time", "charging_periods")}


def test_patch_fields_are_checked_against_the_schema() -> None:
    partial = {"evses": EVSE, "connectors": Connector}
    json_input.check_fields({"name": None, "x_unknown": [1], "evses": [{"uid": "E1", "status": "CHARGING"}],
                             "last_updated": "2026-01-01T00:00:00Z"}, Location, partial)
    for patch, where in (({"publish": "yes"}, "`$.publish`"), ({"evses": [5]}, "`$.evses[0]`"),
                         ({"evses": [{"connectors": [{"max_voltage": "high"}]}]}, "`$.evses[0].connectors[0].max_voltage`"),
                         ({"coordinates": {"latitude": "x"}}, "`$.coordinates"), ({"evses": None}, "`$.evses`"),
                         ({"evses": [{"uid": "E1", "connectors": None}]}, "`$.evses[0].connectors`")):
        with pytest.raises(msgspec.ValidationError, match=where.replace("$", r"\$").replace("[", r"\[").replace("]", r"\]")):
            json_input.check_fields(patch, Location, partial)


def test_the_rust_guard_names_what_it_refuses() -> None:
    from rust_core import json_guard

    assert json_guard(b'{"a": [1, 2.50, "\\u0062"], "b": {"a": 1}}', MAX_DEPTH, 20) is None
    assert json_guard(bytearray(b'{"\\u00e9": 1, "\xc3\xa9": 2}'), MAX_DEPTH, 20) == ("duplicate_key", "é")
    assert json_guard(memoryview(b"[1e-21]"), MAX_DEPTH, 20) == ("number", "1e-21")
    assert json_guard("[[[]]]", 2, 20) == ("depth", "JSON nested deeper than 2 levels")
    assert json_guard(b"[1,]", MAX_DEPTH, 20) == ("syntax", "expected a value at byte 3")
    with pytest.raises(TypeError):
        json_guard(5, MAX_DEPTH, 20)  # type: ignore[arg-type]
