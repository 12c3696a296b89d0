"""JSON that comes in from peers and files (request bodies, pulled pages, imports), read strictly and stored in one
normal form.

Refused: what is not JSON (msgspec's parser: UTF-8, no NaN/Infinity, nothing after the value), nesting deeper than
`MAX_DEPTH`, a key that appears twice in one object (readers would disagree on its value), and numbers outside
`MAX_INTEGER` or with more than `MAX_DECIMALS` decimals (`1e999999`, `1e-999999`: not a quantity, and PostgreSQL's
numeric could not hold them).

Accepted as meaning something: null in an optional field is the field left out (digest §1.2; peers in the field send
`"status_schedule": null`), and a date-time with an offset is converted to UTC. The document stored is the one
received without its null fields, with every DateTime field written as UTC `Z` (at most 25 characters, §1.10);
unknown fields and every number are kept as received, digit for digit.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

import msgspec

from app.schemas.types import collect_warnings, format_datetime
from rust_core import json_guard

T = TypeVar("T")

MAX_DEPTH = 32
"""Objects and arrays nested in one another (an OCPI Location needs 5; unknown fields get room to spare)."""
MAX_INTEGER = 2**63 - 1
"""Largest magnitude of any number: a signed 64-bit integer, so a peer's 64-bit ids in extra fields still pass
(`rust_core.json_guard` checks this bound; it is not a parameter there)."""
MAX_DECIMALS = 20
"""Most significant digits after the decimal point (trailing zeros do not count); a double's shortest form of a
realistic value (`0.30000000000000004`) has 17."""

_encoder = msgspec.json.Encoder(decimal_format="number")


class JsonInputError(ValueError):
    """Input refused before its schema is checked. `syntax`: not JSON at all (HTTP 400), else well-formed JSON
    whose content is refused (2001)."""

    def __init__(self, message: str, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.syntax = syntax


_BOUNDS = f"numbers are limited to ±{MAX_INTEGER} with at most {MAX_DECIMALS} decimals"


def _out_of_range(text: str) -> JsonInputError:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return JsonInputError(f"number {shown} is out of range ({_BOUNDS})")


_decoder = msgspec.json.Decoder(float_hook=Decimal)
"""Integers as int, numbers with a fraction or exponent as the Decimal of their text."""


def parse(raw: bytes) -> Any:
    """Any JSON value, checked as the module docstring says; numbers with a fraction or exponent as Decimal.
    Nulls are kept (a PATCH's null removes a field)."""
    try:
        # msgspec reads the value and is the syntax check, with its precise messages; `json_guard` (Rust, one pass
        # over the same bytes) then finds what msgspec does not refuse: duplicate keys, depth and number bounds.
        value = _decoder.decode(raw)
    except RecursionError:  # msgspec's own limit (about 1,000 levels)
        raise JsonInputError(f"JSON nested deeper than {MAX_DEPTH} levels", syntax=True) from None
    except msgspec.DecodeError as exc:
        if "out of range" in str(exc):  # well-formed, but beyond what msgspec reads (an integer of 5,000 digits)
            raise JsonInputError(f"a number is out of range ({_BOUNDS}): {exc}") from None
        raise JsonInputError(str(exc), syntax=True) from None
    refused = json_guard(raw, MAX_DEPTH, MAX_DECIMALS)
    if refused is not None:
        kind, detail = refused
        if kind == "duplicate_key":
            raise JsonInputError(f"key {detail!r} appears more than once in one object")
        if kind == "number":
            raise _out_of_range(detail)
        if kind == "depth":
            raise JsonInputError(f"JSON nested deeper than {MAX_DEPTH} levels", syntax=True)
        raise JsonInputError(detail, syntax=True)  # not reached: msgspec refused it first
    return value


def drop_nulls(value: Any) -> Any:
    """Object fields that are null are left out, at every level (items of arrays stay: `[null]` is no list of
    objects and is refused by the schema)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


Normal = Callable[[Any, Any], Any]
"""(received value, value as the schema decoded it) -> the value to store; the received object when unchanged."""


def _datetime(received: Any, decoded: Any) -> Any:
    if len(received) == 20 and received[19] == "Z" and received[10] == "T":
        return received  # already `YYYY-MM-DDTHH:MM:SSZ`, the form most peers send
    text = format_datetime(decoded)
    return received if received == text else text


def _number(received: Any, decoded: Any) -> Any:
    return decoded if type(received) is str else received  # "0.25" sent as a string is the number 0.25


def _items(each: Normal) -> Normal:
    def normal(received: Any, decoded: Any) -> Any:
        if type(received) is not list or len(received) != len(decoded):
            return received
        out = received
        for i, (r, d) in enumerate(zip(received, decoded, strict=True)):
            if d is not None and (n := each(r, d)) is not r:
                if out is received:
                    out = list(received)
                out[i] = n
        return out

    return normal


def _fields(plan: tuple[tuple[str, str, Normal], ...]) -> Normal:
    def normal(received: Any, decoded: Any) -> Any:
        if type(received) is not dict:
            return received
        out = received
        for name, attr, each in plan:
            r = received.get(name)
            if r is not None and (d := getattr(decoded, attr)) is not None and (n := each(r, d)) is not r:
                if out is received:
                    out = dict(received)
                out[name] = n
        return out

    return normal


def _normal_of(tp: Any) -> Normal | None:
    """How a value of schema type `tp` is normalised, or None when it is stored as received."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, UnionType):
        kinds = [a for a in get_args(tp) if a is not type(None)]
        if len(kinds) != 1:
            return None
        return _normal_of(kinds[0])
    if tp is dt.datetime:
        return _datetime
    if tp is Decimal:
        return _number
    if get_origin(tp) is list:
        each = _normal_of(get_args(tp)[0])
        return _items(each) if each is not None else None
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _struct_normal(tp)
    return None


@functools.cache
def _struct_normal(type_: type[msgspec.Struct]) -> Normal | None:
    """The fields of a Struct that have a normal form, found once per type (OCPI types are not recursive)."""
    hints = get_type_hints(type_, include_extras=True)
    plan = tuple((f.encode_name, f.name, n) for f in msgspec.structs.fields(type_)
                 if (n := _normal_of(hints[f.name])) is not None)
    return _fields(plan) if plan else None


def _normal(received: Any, decoded: Any) -> Any:
    """The received document with what the schema decoded written back where it has a normal form: date-times as
    UTC `Z`, numbers sent as strings as numbers. Everything else (unknown fields, numbers, key order) as received;
    only the fields of the schema that can differ are visited."""
    normal = _struct_normal(type(decoded)) if isinstance(decoded, msgspec.Struct) else None
    return received if normal is None else normal(received, decoded)


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    obj: T
    """The object as the schema reads it."""
    text: str
    """The document to store and serve (see the module docstring)."""
    warnings: tuple[str, ...]
    """Values accepted although only a later OCPI version defines them."""


def validate(doc: Any, type_: type[T], nulls: bool = True, raw: bytes | None = None) -> Decoded[T]:
    """Check an already parsed document against `type_` (nulls dropped first, unless `nulls` says there are
    none); `raw`, the text `doc` was parsed from, saves encoding it again when there are no nulls. Raises
    msgspec.ValidationError."""
    if nulls:
        doc = drop_nulls(doc)
        raw = None
    with collect_warnings() as warnings:
        obj = msgspec.json.decode(raw if raw is not None else _encoder.encode(doc), type=type_)
    return Decoded(obj, _encoder.encode(_normal(doc, obj)).decode(), tuple(warnings))


def decode(raw: bytes, type_: type[T]) -> Decoded[T]:
    """Parse and validate one document; raises JsonInputError or msgspec.ValidationError."""
    return validate(parse(raw), type_, nulls=b"null" in raw, raw=raw)


def check_fields(patch: dict[str, Any], type_: type[Any], partial: dict[str, type[Any]]) -> None:
    """A PATCH's fields, each against its type in `type_` (digest §1.6), before anything is merged: a null removes
    the field and unknown fields are kept, so both pass. The fields named in `partial` hold lists of partial child
    objects merged by id (a Location's `evses`, an EVSE's `connectors`): each item must be an object whose own fields
    are checked the same way, and the list cannot be null (a Location PATCH only adds or changes, §1.6). Raises
    msgspec.ValidationError naming the field."""
    types = {f.encode_name: f.type for f in msgspec.structs.fields(type_)}
    for name, value in patch.items():
        child = partial.get(name)
        if value is None and child is not None:
            raise msgspec.ValidationError(f"a PATCH cannot remove `{name}` (it only adds or changes them, §1.6) "
                                          f"- at `$.{name}`")
        if value is None or name not in types:
            continue
        if child is not None and isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise msgspec.ValidationError(f"Expected `object`, got `{type(item).__name__}` - at `$.{name}[{i}]`")
                try:
                    check_fields(item, child, partial)
                except msgspec.ValidationError as exc:
                    raise msgspec.ValidationError(str(exc).replace("- at `$", f"- at `$.{name}[{i}]", 1)) from None
            continue
        try:
            msgspec.json.decode(_encoder.encode(value), type=types[name])
        except msgspec.ValidationError as exc:
            text = str(exc)
            raise msgspec.ValidationError(
                text.replace("- at `$", f"- at `$.{name}", 1) if "- at `$" in text else f"{text} - at `$.{name}`") from None
