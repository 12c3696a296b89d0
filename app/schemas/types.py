"""OCPI types shared by every version (digest §1.10): CiString, string, DateTime, number, URL, the Struct base."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import decimal
import functools
from collections.abc import Iterator
from typing import Annotated, Any, TypeAlias

import msgspec

__all__ = [
    "CI_STRING_PATTERN",
    "END",
    "STRING_PATTERN",
    "URL",
    "UTC",
    "CiString",
    "CiString2",
    "CiString3",
    "CiString4",
    "CiString32",
    "CiString36",
    "CiString39",
    "CiString48",
    "CiString255",
    "DateTime",
    "NonNegativeInt",
    "Number",
    "OcpiObject",
    "String",
    "String2",
    "String3",
    "String4",
    "String5",
    "String10",
    "String16",
    "String20",
    "String45",
    "String64",
    "String100",
    "String255",
    "String512",
    "String5000",
    "collect_warnings",
    "format_datetime",
    "to_utc",
    "warn",
]

# msgspec checks `pattern` with `re.search`, and `$` also matches just before a final "\n", so `^[a]*$` would let
# "a\n" through. END matches only at the true end of the string; unlike `\Z` it is also valid ECMA-262, so the
# patterns stay usable in the generated JSON Schema / OpenAPI.
END = r"(?![\s\S])"
CI_STRING_PATTERN = r"^[\x20-\x7E]*" + END
"""CiString: printable ASCII (space to `~`), no CR/LF/TAB."""
STRING_PATTERN = r"^[^\x00-\x1F\x7F]*" + END
"""string: any Unicode except the C0 control characters and DEL."""


@functools.cache
def _ci_meta(n: int) -> msgspec.Meta:
    return msgspec.Meta(max_length=n, pattern=CI_STRING_PATTERN, description=f"CiString({n})")


@functools.cache
def _str_meta(n: int) -> msgspec.Meta:
    return msgspec.Meta(max_length=n, pattern=STRING_PATTERN, description=f"string({n})")


def CiString(n: int) -> Any:  # noqa: N802  (named after the spec type)
    """`CiString(n)`: case-insensitive printable ASCII, at most `n` characters.

    For use at runtime (`msgspec.convert(x, CiString(8))`); in annotations use the `CiStringN` aliases, which type
    checkers understand.
    """
    return Annotated[str, _ci_meta(n)]


def String(n: int) -> Any:  # noqa: N802
    """`string(n)`: case-sensitive Unicode without control characters, at most `n` characters (not bytes)."""
    return Annotated[str, _str_meta(n)]


# The lengths the OCPI objects use, as aliases a type checker accepts (each equals `CiString(n)` / `String(n)`).
CiString2: TypeAlias = Annotated[str, _ci_meta(2)]
CiString3: TypeAlias = Annotated[str, _ci_meta(3)]
CiString4: TypeAlias = Annotated[str, _ci_meta(4)]
CiString32: TypeAlias = Annotated[str, _ci_meta(32)]
CiString36: TypeAlias = Annotated[str, _ci_meta(36)]
CiString39: TypeAlias = Annotated[str, _ci_meta(39)]
CiString48: TypeAlias = Annotated[str, _ci_meta(48)]
CiString255: TypeAlias = Annotated[str, _ci_meta(255)]

String2: TypeAlias = Annotated[str, _str_meta(2)]
String3: TypeAlias = Annotated[str, _str_meta(3)]
String4: TypeAlias = Annotated[str, _str_meta(4)]
String5: TypeAlias = Annotated[str, _str_meta(5)]
String10: TypeAlias = Annotated[str, _str_meta(10)]
String16: TypeAlias = Annotated[str, _str_meta(16)]
String20: TypeAlias = Annotated[str, _str_meta(20)]
String45: TypeAlias = Annotated[str, _str_meta(45)]
String64: TypeAlias = Annotated[str, _str_meta(64)]
String100: TypeAlias = Annotated[str, _str_meta(100)]
String255: TypeAlias = Annotated[str, _str_meta(255)]
String512: TypeAlias = Annotated[str, _str_meta(512)]
String5000: TypeAlias = Annotated[str, _str_meta(5000)]

URL: TypeAlias = String255
"""URL: string(255). Not checked further (peers send relative paths and odd schemes in the wild)."""

Number: TypeAlias = decimal.Decimal
"""OCPI number. msgspec decodes a JSON number into a Decimal digit for digit (no float rounding), and also accepts a
number written as a JSON string. Encode with `msgspec.json.Encoder(decimal_format="number")` to write numbers."""

NonNegativeInt: TypeAlias = Annotated[int, msgspec.Meta(ge=0)]

UTC = dt.UTC

DateTime: TypeAlias = dt.datetime
"""OCPI DateTime, decoded by msgspec's own RFC 3339 parser, which takes every form OCPI peers send:
`2015-06-29T20:39:09Z`; no `Z` (decoded naive, meaning UTC); 1 to 9 or more fractional digits (rounded to the
microsecond); lower-case `z`; explicit offsets such as `+01:00` (the spec forbids them; we accept and convert). Not
accepted: a date alone, a time without seconds. The Structs of `app.schemas.v2_2_1` turn every DateTime field into an
aware UTC datetime in `__post_init__` (naive → UTC, offset → converted), so consumers always get `tzinfo=UTC`, and
msgspec encodes them back with `Z`."""


def to_utc(value: dt.datetime | str) -> dt.datetime:
    """An aware UTC datetime: naive means UTC, an offset is converted; a string is parsed as an OCPI DateTime
    (raises `msgspec.ValidationError` if it is not one). A date-time whose UTC value falls outside the years
    1..9999 (e.g. `0001-01-01T00:00:00+01:00`) raises ValueError, which msgspec reports as a validation error."""
    if isinstance(value, str):
        value = msgspec.convert(value, dt.datetime)
    tz = value.tzinfo
    if tz is dt.UTC:
        return value
    if tz is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"date-time {value.isoformat()} is out of range in UTC (years 1 to 9999)") from None


MAX_DATETIME_LENGTH = 25
"""OCPI DateTime is string(25) (digest §1.10): what we write has at most millisecond precision."""


def format_datetime(value: dt.datetime) -> str:
    """RFC 3339 in UTC with `Z`, e.g. `2026-11-23T12:00:00Z`; `.fff` (trailing zeros dropped) only when there are
    milliseconds; finer digits are cut, so the text never exceeds the 25 characters of OCPI's DateTime (§1.10)."""
    d = to_utc(value)
    text = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    if d.microsecond >= 1000:
        text += "." + f"{d.microsecond // 1000:03d}".rstrip("0")
    return text + "Z"


# --- warnings raised while decoding (values a later OCPI version added, accepted) ------------------------

_warnings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("ocpi_decode_warnings", default=None)


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Collect the `warn` calls of the Structs decoded inside the block (each request/record its own list)."""
    found: list[str] = []
    token = _warnings.set(found)
    try:
        yield found
    finally:
        _warnings.reset(token)


def warn(message: str) -> None:
    found = _warnings.get()
    if found is not None and message not in found:
        found.append(message)


class OcpiObject(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every OCPI object: defaults left out when encoding, unknown JSON fields ignored.

    msgspec applies `kw_only` only to the fields a class itself defines, so every subclass repeats `kw_only=True`
    (which lets required fields follow optional ones, in the spec's field order); `omit_defaults` is inherited.
    """
