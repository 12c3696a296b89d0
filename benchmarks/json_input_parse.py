"""µs per `app.ocpi.json_input.parse()`: the stdlib pass and Python walk it had before (reproduced here) against
msgspec's Decoder plus the Rust `json_guard`, in one run. `python benchmarks/json_input_parse.py`"""

from __future__ import annotations

import json
import timeit
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from app.ocpi import json_input
from app.ocpi.json_input import MAX_DECIMALS, MAX_DEPTH, MAX_INTEGER, JsonInputError
from rust_core import json_guard

CDRS = Path(__file__).parent.parent / "app" / "demo" / "data" / "cdrs.jsonl"


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise JsonInputError("duplicate key")
    return obj


def _number_ok(value: int | Decimal) -> bool:
    if isinstance(value, int):
        return abs(value) <= MAX_INTEGER
    if abs(value) > MAX_INTEGER:
        return False
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    kept = len(digits)
    while kept > 1 and digits[kept - 1] == 0:
        kept -= 1
    return exponent + (len(digits) - kept) >= -MAX_DECIMALS


def _check_tree(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= MAX_DEPTH:
                    raise JsonInputError("too deep", syntax=True)
                stack.append((child, depth + 1))
            elif (kind is int or kind is Decimal) and not _number_ok(child):
                raise JsonInputError("out of range")


def parse_before(raw: bytes) -> Any:
    """`json_input.parse` before json_guard (commit c71ea54), error messages shortened."""
    msgspec.json.decode(raw)
    value = json.loads(raw, object_pairs_hook=_object, parse_float=Decimal)
    if type(value) is dict or type(value) is list:
        _check_tree(value)
    elif (type(value) is int or type(value) is Decimal) and not _number_ok(value):
        raise JsonInputError("out of range")
    return value


def per_call_us(fn: Any, raw: bytes) -> float:
    timer = timeit.Timer(lambda: fn(raw))
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=7, number=number)) / number * 1e6


def main() -> None:
    lines = CDRS.read_bytes().splitlines()
    cdr = lines[0]
    big, size = [], 2
    for line in lines * 2:
        if size >= 1_000_000:
            break
        big.append(line)
        size += len(line) + 1
    mb = b"[" + b",".join(big) + b"]"
    for name, raw in ((f"1 CDR ({len(cdr):,} B)", cdr), (f"{len(big)} CDRs in one array ({len(mb):,} B)", mb)):
        assert parse_before(raw) == json_input.parse(raw)
        before, after = per_call_us(parse_before, raw), per_call_us(json_input.parse, raw)
        decode = per_call_us(json_input._decoder.decode, raw)
        guard = per_call_us(lambda r: json_guard(r, MAX_DEPTH, MAX_DECIMALS), raw)
        print(f"{name}: before {before:,.1f} µs, after {after:,.1f} µs ({before / after:.2f}x); "
              f"of which msgspec Decoder {decode:,.1f} µs, json_guard {guard:,.1f} µs")


if __name__ == "__main__":
    main()
