"""Tariff files: each holds one OCPI tariff object or a JSON array of them."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from rust_core import PricingError, TariffSet


class TariffFileError(ValueError):
    """A tariff file that cannot be read or compiled; the message names the file and field."""


_INDEX = re.compile(r"^\[(\d+)\]\.?")


def load_tariff_files(paths: list[Path], *, strict: bool = False) -> TariffSet:
    """Read and compile the tariffs of every file into one set (`strict`: see `TariffSet`)."""
    return compile_tariffs(*read_tariff_files(paths), strict=strict)


def read_tariff_files(paths: list[Path]) -> tuple[bytes, list[tuple[Path, int | None]]]:
    """The tariffs of every file as one JSON array (their text kept as it is, so numbers stay exact), and
    where each came from."""
    docs: list[msgspec.Raw] = []
    origin: list[tuple[Path, int | None]] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TariffFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        try:
            if data.lstrip()[:1] == b"[":
                items = msgspec.json.decode(data, type=list[msgspec.Raw])
                docs.extend(items)
                origin.extend((path, i) for i in range(len(items)))
            else:
                docs.append(msgspec.json.decode(data, type=msgspec.Raw))
                origin.append((path, None))
        except msgspec.DecodeError as exc:
            raise TariffFileError(f"{path}: invalid JSON: {exc}") from exc
    if not docs:
        raise TariffFileError("no tariffs given")
    return b"[" + b",".join(bytes(d) for d in docs) + b"]", origin


def compile_tariffs(array: bytes, origin: list[tuple[Path, int | None]], *, strict: bool = False) -> TariffSet:
    """A `read_tariff_files` array compiled, an error naming the file and index of the bad tariff."""
    try:
        return TariffSet(array, strict=strict)
    except PricingError as exc:
        match = _INDEX.match(exc.field)
        if not match:
            raise TariffFileError(str(exc)) from exc
        path, index = origin[int(match.group(1))]
        where = f"{path}" if index is None else f"{path}[{index}]"
        field = exc.field[match.end():]
        raise TariffFileError(f"{where}: {field + ': ' if field else ''}{exc.reason}") from exc
