"""Coalescing (issue 9 §1): while a push waits, a newer update of the same object replaces it or folds into it,
so a slow or offline peer's queue is bounded by its number of objects, not its number of updates. Pure functions
over the open (PENDING) rows of one peer and one object key; `queue.enqueue_many` applies the result in SQL.

Rules: a PUT or DELETE of the top-level object supersedes every pending row of it. A PATCH (or a PUT of a
sub-object, e.g. an EVSE) at path P, scanning newest first: a PUT at P or an ancestor of P takes it (the patch is
merged into the sub-object found by `uid`/`id` in `evses`/`connectors`); a PATCH at exactly P takes it (fields
replaced, `charging_periods` appended: a session PATCH's periods are appended by the receiver, §3.3); any other
row at an overlapping path stops the scan (order matters there) and the update is queued as its own row; rows at
disjoint paths are passed over. Rows fold only into rows with the same route (parties, headers, URL)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import msgspec

TOP_LEVEL = 3
"""Path segments of a top-level object below a module endpoint (`/cc/pid/id`)."""
SUB_OBJECTS = (("evses", "uid"), ("connectors", "id"))
"""Where the sub-object of each level below the top is found, and its id field (Location → EVSE → Connector)."""
APPENDED = frozenset({"charging_periods"})

_decoder = msgspec.json.Decoder(float_hook=Decimal)  # numbers kept exactly
_encoder = msgspec.json.Encoder(decimal_format="number")


def segments(path: str) -> list[str]:
    """The path's ids (query dropped), upper-cased: CiStrings compare case-insensitively."""
    return [s.upper() for s in path.split("?", 1)[0].split("/") if s]


def is_top_level(path: str) -> bool:
    return len(segments(path)) <= TOP_LEVEL


def _overlap(a: list[str], b: list[str]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def merge_fields(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for name, value in patch.items():
        old = target.get(name)
        if name in APPENDED and isinstance(old, list) and isinstance(value, list):
            target[name] = old + value
        else:
            target[name] = value


def _child(parent: dict[str, Any], level: int, seg: str) -> dict[str, Any] | None:
    if level >= len(SUB_OBJECTS):
        return None
    name, id_field = SUB_OBJECTS[level]
    items = parent.get(name)
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and quote(str(item.get(id_field, "")), safe="").upper() == seg:
            return item
    return None


def fold_into_put(put_body: bytes, below: list[str], method: str, body: bytes) -> bytes | None:
    """The PUT's body with the update at `below` (the path below the PUT's) applied; None when it cannot take it
    (the sub-object is not in the body, or a body is not a JSON object)."""
    try:
        doc = _decoder.decode(put_body)
        update = _decoder.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(update, dict):
        return None
    chain = [doc]
    for level, seg in enumerate(below):
        child = _child(chain[-1], level, seg)
        if child is None:
            return None
        chain.append(child)
    target = chain[-1]
    if method == "PATCH":
        merge_fields(target, update)
    else:  # a PUT of the sub-object replaces it
        target.clear()
        target.update(update)
    stamp = update.get("last_updated")
    if stamp is not None:
        for parent in chain[:-1]:  # a changed EVSE changes its Location (§8.3.2)
            parent["last_updated"] = stamp
    return _encoder.encode(doc)


def merge_patches(older: bytes, newer: bytes) -> bytes | None:
    try:
        doc, update = _decoder.decode(older), _decoder.decode(newer)
    except msgspec.DecodeError:
        return None
    if not isinstance(doc, dict) or not isinstance(update, dict):
        return None
    merge_fields(doc, update)
    return _encoder.encode(doc)


@dataclass(slots=True, eq=False)
class Entry:
    """One open row of an object's queue: an existing row (`ref` = its id) or one being queued (`ref` < 0)."""

    ref: int
    method: str
    path: str
    body: bytes | None
    route: Hashable
    coalesced: int = 0
    changed: bool = False
    """Its body or count changed (an existing row to update)."""


@dataclass(slots=True)
class ObjectQueue:
    """The open rows of one peer's object, oldest first, as updates are added."""

    entries: list[Entry]
    superseded: list[Entry] = field(default_factory=list)
    """Rows taken out by a newer PUT/DELETE of the object (existing ones become COALESCED)."""

    def add(self, new: Entry) -> Entry:
        """Apply the rules to one new update; returns the entry that now carries it (`new` itself when queued)."""
        segs = segments(new.path)
        if new.method in ("PUT", "DELETE") and len(segs) <= TOP_LEVEL:
            gone = [e for e in self.entries if e.route == new.route]
            self.entries = [e for e in self.entries if e.route != new.route]
            self.superseded += gone
            new.coalesced += sum(e.coalesced for e in gone) + len(gone)
            self.entries.append(new)
            return new
        if new.method in ("PATCH", "PUT") and new.body is not None:
            for old in reversed(self.entries):
                if old.route != new.route:
                    continue
                old_segs = segments(old.path)
                if not _overlap(old_segs, segs):
                    continue
                merged: bytes | None = None
                if old.method == "PUT" and old.body is not None and len(old_segs) <= len(segs):
                    merged = fold_into_put(old.body, segs[len(old_segs):], new.method, new.body)
                elif old.method == "PATCH" == new.method and old_segs == segs and old.body is not None:
                    merged = merge_patches(old.body, new.body)
                if merged is None:
                    break  # overlapping but cannot take it: order matters, queue it after
                old.body = merged
                old.coalesced += 1 + new.coalesced
                old.changed = True
                return old
        self.entries.append(new)
        return new
