"""One CDR's check, without I/O: the document we price (the CDR with OUR tariff versions and OUR time zone in place
of what the CPO embedded) and the outcome of comparing our result with the CPO's totals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.checks.tariff_history import TariffVersion
from app.modules.common import Doc, load_doc
from app.ocpi.transport import encode
from app.schemas.types import format_datetime, to_utc

AGREED, DISPUTED, UNVERIFIABLE, PENDING = "AGREED", "DISPUTED", "UNVERIFIABLE", "PENDING"
STATUSES = (PENDING, AGREED, DISPUTED, UNVERIFIABLE)

MONEY = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
         "total_reservation_cost")
VOLUMES = ("total_energy", "total_time", "total_parking_time")
# What the pricer says when a tariff has time restrictions and no zone is known (rust_core pricing::time_zone).
NO_TIME_ZONE = "no time zone given"
# ... and when a tariff's currency is not the CDR's (pricing::select): amounts in two currencies do not compare.
OTHER_CURRENCY = " but the CDR is in "


@dataclass(slots=True)
class Outcome:
    status: str
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    currency: str | None = None
    their_total: Decimal | None = None
    our_total: Decimal | None = None
    difference: Decimal | None = None
    """Their total_cost.excl_vat minus ours (positive: the CPO charged more)."""
    ours: bytes | None = None
    theirs: bytes | None = None
    differences: bytes | None = None

    @property
    def note(self) -> str | None:
        return "; ".join(self.notes) or None


def needed_tariffs(cdr: Doc) -> list[str]:
    """The tariff ids that price this CDR, upper-cased: those its charging periods name, else (no period names
    one) the ids of the tariffs it embeds (the pricer picks the session tariff among them)."""
    named = [str(p["tariff_id"]) for p in cdr.get("charging_periods") or [] if p.get("tariff_id")]
    if not named:
        named = [str(t["id"]) for t in cdr.get("tariffs") or [] if isinstance(t, dict) and t.get("id")]
    return list(dict.fromkeys(i.upper() for i in named))


def start_of(cdr: Doc) -> dt.datetime:
    return to_utc(str(cdr["start_date_time"]))


@dataclass(slots=True)
class Prepared:
    """A CDR ready to be priced (`document`), or already decided (`outcome`: nothing to price it with)."""

    cdr: Doc
    document: bytes | None = None
    outcome: Outcome | None = None
    notes: list[str] = field(default_factory=list)


def unpriceable(country_code: str, party_id: str, ids: list[str], versions: Mapping[str, object | None]) -> str | None:
    """Why a CDR naming tariffs `ids` cannot be priced with `versions` (ours, by id), or None. Re-rating words the same
    reasons in rust_core (`reprice/stored_batch.rs`); tests/test_reprice_fast.py checks both say them alike."""
    if not ids:
        return "the CDR names no tariff (no charging_periods[].tariff_id, no tariffs)"
    missing = [i for i in ids if versions.get(i) is None]
    if missing:
        return f"we hold no tariff {', '.join(missing)} of {country_code.upper()}*{party_id.upper()}"
    return None


def prepare(cdr: Doc, versions: Mapping[str, TariffVersion | None], time_zone: str | None) -> Prepared:
    """Replace the CDR's embedded tariffs by our versions of the tariffs it names, and its time zone (if any) by
    the one of our copy of its Location (`time_zone`; None: we hold no such Location)."""
    ids = needed_tariffs(cdr)
    reason = unpriceable(str(cdr['country_code']), str(cdr['party_id']), ids, versions)
    if reason:
        return Prepared(cdr, outcome=Outcome(UNVERIFIABLE, reason))
    notes = []
    ours: list[Doc] = []
    for i in ids:
        v = versions[i]
        assert v is not None
        if v.newer:
            notes.append(f"tariff {i}: every version we hold is newer than the session start "
                         f"{cdr['start_date_time']}; checked with the oldest (last_updated {format_datetime(v.last_updated)})")
        ours.append(load_doc(v.data))
    doc = dict(cdr)
    doc["tariffs"] = ours
    location = dict(doc.get("cdr_location") or {})
    location.pop("time_zone", None)  # never the CPO's word for it
    if time_zone:
        location["time_zone"] = time_zone
    doc["cdr_location"] = location
    return Prepared(cdr, document=encode(doc), notes=notes)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _amounts(name: str, value: Any) -> list[tuple[str, Decimal | None]]:
    """A total as (field path, amount) pairs: a Price gives excl_vat and incl_vat, a number itself."""
    if isinstance(value, dict):
        return [(f"{name}.excl_vat", _dec(value.get("excl_vat"))), (f"{name}.incl_vat", _dec(value.get("incl_vat")))]
    return [(name, _dec(value))]


def theirs_of(cdr: Doc) -> Doc:
    """The CPO's figures: its totals and its charging periods."""
    out = {k: cdr[k] for k in ("currency", *MONEY, *VOLUMES, "charging_periods") if k in cdr}
    out["tariff_ids"] = [str(t.get("id")) for t in cdr.get("tariffs") or [] if isinstance(t, dict)]
    return out


def judge(prepared: Prepared, priced: bytes | None, error: str | None, tolerance: Decimal, *,
          time_zone_known: bool) -> Outcome:
    """The outcome of one CDR from its pricing result (`priced`, the JSON line with breakdown) or error."""
    cdr = prepared.cdr
    if prepared.outcome is not None:
        outcome = prepared.outcome
    elif priced is None:
        outcome = Outcome(UNVERIFIABLE, f"the CDR cannot be priced: {error}")
    else:
        outcome = _compare(cdr, priced, tolerance, time_zone_known)
    outcome.notes[:0] = prepared.notes
    outcome.currency = str(cdr.get("currency") or "") or None
    outcome.theirs = encode(theirs_of(cdr))
    if outcome.their_total is None:
        outcome.their_total = _dec((cdr.get("total_cost") or {}).get("excl_vat"))
    return outcome


def _compare(cdr: Doc, priced: bytes, tolerance: Decimal, time_zone_known: bool) -> Outcome:
    ours = load_doc(priced)
    warnings: list[str] = [str(w) for w in ours.get("warnings") or []]
    our_total = _dec((ours.get("total_cost") or {}).get("excl_vat"))
    base = Outcome(UNVERIFIABLE, ours=priced, our_total=our_total)
    if any(w.startswith(NO_TIME_ZONE) for w in warnings):
        base.reason = ("a tariff has time restrictions and we hold no Location "
                       f"{cdr.get('cdr_location', {}).get('id')} of {cdr['country_code']}*{cdr['party_id']} "
                       "to take the time zone from" if not time_zone_known else "no time zone to price with")
        return base
    currency = [w for w in warnings if OTHER_CURRENCY in w]
    if currency:
        base.reason = "; ".join(currency)
        return base
    base.notes.extend(f"pricing: {w}" for w in warnings)
    differences: list[Doc] = []
    beyond: list[str] = []
    for name in (*MONEY, *VOLUMES):
        if cdr.get(name) is None:
            continue  # an optional total the CPO left out
        mine = dict(_amounts(name, ours.get(name)))
        for path, their in _amounts(name, cdr[name]):
            our = mine.get(path)
            if their is None or our is None:
                continue
            diff = their - our
            differences.append({"field": path, "theirs": their, "ours": our, "difference": diff})
            if abs(diff) > tolerance:
                beyond.append(f"{path}: theirs {their}, ours {our}")
    base.differences = encode(differences)
    their_total = _dec((cdr.get("total_cost") or {}).get("excl_vat"))
    base.their_total = their_total
    if their_total is not None and our_total is not None:
        base.difference = their_total - our_total
    if beyond:
        base.status = DISPUTED
        base.reason = f"differences beyond {tolerance}: " + "; ".join(beyond)
    else:
        base.status = AGREED
    return base
