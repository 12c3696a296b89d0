"""The header of a session (contract §2): everything the engine needs besides the events, fixed at session start:
the CdrToken, our Location/EVSE/Connector as a CdrLocation, the time zone, and the tariffs in force at start
(the tariff assigned to the token's eMSP, else the connector's `tariff_ids`) with their currency."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from app.charging import assignments
from app.charging.authorization import Authorized, Refused
from app.db import objects, parties
from app.modules import locations, tariffs
from app.modules.common import Doc, load_doc
from app.ocpi.transport import encode
from app.schemas.types import to_utc

CDR_LOCATION_FIELDS = ("name", "address", "city", "postal_code", "state", "country", "coordinates")


@dataclass(frozen=True, slots=True)
class Place:
    """One of our connectors, as the start event named it."""

    cpo: tuple[str, str]
    location: Doc
    evse: Doc
    connector: Doc

    @property
    def location_id(self) -> str:
        return str(self.location["id"])

    @property
    def evse_uid(self) -> str:
        return str(self.evse["uid"])

    @property
    def connector_id(self) -> str:
        return str(self.connector["id"])


@dataclass(slots=True)
class Resolver:
    """Looks up places and tariffs for the starts of one batch; what it read once it does not read again."""

    conn: asyncpg.Connection | asyncpg.Pool
    _cpos: list[tuple[str, str]] | None = None
    _locations: dict[tuple[str, tuple[tuple[str, str], ...]], list[objects.Stored]] = field(default_factory=dict)
    _tariffs: dict[tuple[str, str, str], tuple[Doc, str] | None] = field(default_factory=dict)
    _assigned: dict[tuple[str, str, str, str], str | None] = field(default_factory=dict)
    _docs: dict[str, Doc] = field(default_factory=dict)
    """Location documents by their stored text (many sessions start at one location)."""

    async def prefetch(self, starts: list[dict[str, str]]) -> None:
        """Read the locations of many starts that name no CPO party in one query (the common case)."""
        plain = [s["location_id"] for s in starts if not (s.get("country_code") and s.get("party_id"))]
        if not plain:
            return
        try:
            owners = await self._owners({})
        except Refused:
            return  # no CPO party: each start is refused by `place`
        found = await objects.find_own_many(self.conn, locations.MODULE.table, plain, owners)
        for location_id in plain:
            self._locations[(location_id.upper(), tuple(owners))] = found.get(location_id.upper(), [])

    async def place(self, start: dict[str, str]) -> Place:
        owners = await self._owners(start)
        location_id = start["location_id"]
        key = (location_id.upper(), tuple(owners))
        if key not in self._locations:
            self._locations[key] = await objects.find_own_among(self.conn, locations.MODULE.table, location_id, owners)
        found = self._locations[key]
        if not found:
            raise Refused("location_id", f"no location {location_id!r} of our CPO parties "
                                         f"({', '.join('*'.join(o) for o in owners)})")
        if len(found) > 1:
            raise Refused("location_id", f"location {location_id!r} exists for several of our parties "
                                         f"({', '.join('*'.join(s.owner or ()) for s in found)}); name one with "
                                         "country_code and party_id")
        stored = found[0]
        doc = self._docs.get(stored.data)
        if doc is None:
            doc = self._docs[stored.data] = load_doc(stored.data)
        evse = _by_id(doc.get("evses", []), "uid", start["evse_uid"])
        if evse is None:
            raise Refused("evse_uid", f"location {doc['id']} has no EVSE {start['evse_uid']!r}")
        connector = _by_id(evse.get("connectors", []), "id", start["connector_id"])
        if connector is None:
            raise Refused("connector_id", f"EVSE {evse['uid']} of location {doc['id']} has no connector "
                                          f"{start['connector_id']!r}")
        if not evse.get("evse_id"):
            raise Refused("evse_uid", f"EVSE {evse['uid']} of location {doc['id']} has no evse_id, which its CDRs "
                                      "need (set it in the Location)")
        assert stored.owner is not None
        return Place(stored.owner, doc, evse, connector)

    async def _owners(self, start: dict[str, str]) -> list[tuple[str, str]]:
        if self._cpos is None:
            self._cpos = [p.key for p in await parties.list_all(self.conn) if p.role == "CPO"]
        cc, pid = start.get("country_code"), start.get("party_id")
        if cc and pid:
            owner = (cc.upper(), pid.upper())
            if owner not in self._cpos:
                raise Refused("party_id", f"{owner[0]}*{owner[1]} is not a CPO party of this deployment")
            return [owner]
        if not self._cpos:
            raise Refused("location_id", "this deployment hosts no CPO party (add one with `ocpi-engine party add`)")
        return self._cpos

    async def tariffs_for(self, place: Place, emsp: tuple[str, str], at: dt.datetime) -> tuple[list[Doc], list[str]]:
        """The tariffs in force at `at` for the token's eMSP at this connector: (documents, stored JSON texts)."""
        assigned_key = (*place.cpo, *emsp)
        if assigned_key not in self._assigned:
            self._assigned[assigned_key] = await assignments.assigned(self.conn, place.cpo, emsp)
        assigned = self._assigned[assigned_key]
        if assigned is not None:
            ids, source = [assigned], f"the tariff assigned to eMSP {emsp[0]}*{emsp[1]}"
        else:
            ids = [str(t) for t in place.connector.get("tariff_ids") or []]
            source = f"the tariff_ids of connector {place.connector_id} (EVSE {place.evse_uid})"
        if not ids:
            raise Refused("connector_id", f"no tariff applies: connector {place.connector_id} of EVSE {place.evse_uid} "
                                          f"at location {place.location_id} has no tariff_ids, and no tariff is "
                                          f"assigned to eMSP {emsp[0]}*{emsp[1]} (`ocpi-engine tariffs assign`)")
        docs, texts = [], []
        for tariff_id in ids:
            found = await self._tariff(place.cpo, tariff_id)
            if found is None:
                raise Refused("connector_id", f"tariff {tariff_id!r} ({source}) is not a tariff of "
                                              f"{place.cpo[0]}*{place.cpo[1]}")
            doc, text = found
            if _in_force(doc, at):
                docs.append(doc)
                texts.append(text)
        if not docs:
            raise Refused("time", f"none of the tariffs {', '.join(ids)} ({source}) is in force at {at.isoformat()}")
        currencies = {str(d["currency"]) for d in docs}
        if len(currencies) > 1:
            raise Refused("connector_id", f"the tariffs {', '.join(ids)} ({source}) have different currencies "
                                          f"({', '.join(sorted(currencies))})")
        return docs, texts

    async def _tariff(self, cpo: tuple[str, str], tariff_id: str) -> tuple[Doc, str] | None:
        key = (*cpo, tariff_id.upper())
        if key not in self._tariffs:
            stored = await objects.get(self.conn, tariffs.MODULE.table, key)
            self._tariffs[key] = None if stored is None or stored.peer_id is not None else (load_doc(stored.data), stored.data)
        return self._tariffs[key]


def _by_id(items: list[Doc], name: str, wanted: str) -> Doc | None:
    """CiString ids compare case-insensitively (§1.10)."""
    return next((i for i in items if str(i.get(name, "")).upper() == wanted.upper()), None)


def _in_force(tariff: Doc, at: dt.datetime) -> bool:
    start, end = tariff.get("start_date_time"), tariff.get("end_date_time")
    return (start is None or to_utc(str(start)) <= at) and (end is None or at < to_utc(str(end)))


def cdr_token(token: Doc) -> Doc:
    return {name: token[name] for name in ("country_code", "party_id", "uid", "type", "contract_id")}


def cdr_location(place: Place) -> Doc:
    loc, evse, conn = place.location, place.evse, place.connector
    out: Doc = {"id": loc["id"], **{f: loc[f] for f in CDR_LOCATION_FIELDS if loc.get(f) is not None}}
    out.update(evse_uid=evse["uid"], evse_id=evse["evse_id"], connector_id=conn["id"],
               connector_standard=conn["standard"], connector_format=conn["format"],
               connector_power_type=conn["power_type"])
    return out


def build(session_id: str, start: dict[str, str], place: Place, authorized: Authorized, tariff_texts: list[str],
          currency: str) -> bytes:
    """The header JSON of a session starting at `place` for an authorized token."""
    header: dict[str, Any] = {
        "country_code": place.cpo[0], "party_id": place.cpo[1], "id": session_id,
        "cdr_token": cdr_token(authorized.token),
        "auth_method": start.get("auth_method") or authorized.auth_method,
        "location_id": place.location_id, "evse_uid": place.evse_uid, "connector_id": place.connector_id,
        "currency": currency, "time_zone": place.location["time_zone"],
        "cdr_location": cdr_location(place),
        "tariffs": [msgspec.Raw(t.encode()) for t in tariff_texts],
    }
    reference = authorized.authorization_reference or start.get("authorization_reference")
    if reference:
        header["authorization_reference"] = reference
    return encode(header)
