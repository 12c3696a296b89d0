"""Charging sessions written straight into a CPO's database, as the ingest stores them: the OCPI Session in
`sessions` (normal form) and its live row in `charging_sessions` (new change_seq on every write). Lets the push
and monitoring tests drive exact states without the event pipeline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg

from app.db import objects
from app.modules import sessions
from app.ocpi.transport import validate_object

CPO = ("NL", "EXA")
EMSP = ("NL", "MSP")
START = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def period(minute: int, kwh: str) -> dict[str, Any]:
    return {"start_date_time": stamp(START + dt.timedelta(minutes=minute)),
            "dimensions": [{"type": "ENERGY", "volume": Decimal(kwh)}, {"type": "TIME", "volume": Decimal("0.25")}]}


def session_doc(session_id: str, *, location_id: str = "LOC-00001", evse_uid: str = "LOC-00001-1",
                connector_id: str = "1", kwh: str = "0", excl: str | None = "0", incl: str | None = "0",
                periods: list[dict[str, Any]] | None = None, status: str = "ACTIVE", minute: int = 0,
                party: tuple[str, str] = CPO, currency: str = "EUR") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "country_code": party[0], "party_id": party[1], "id": session_id, "start_date_time": stamp(START),
        "kwh": Decimal(kwh),
        "cdr_token": {"country_code": EMSP[0], "party_id": EMSP[1], "uid": "057F19B7151FEA", "type": "RFID",
                      "contract_id": "NL-MSP-C09806102-A"},
        "auth_method": "WHITELIST", "location_id": location_id, "evse_uid": evse_uid, "connector_id": connector_id,
        "currency": currency, "charging_periods": periods or [], "status": status,
        "last_updated": stamp(START + dt.timedelta(minutes=minute)),
    }
    if excl is not None:
        doc["total_cost"] = {"excl_vat": Decimal(excl), **({"incl_vat": Decimal(incl)} if incl is not None else {})}
    if status == "COMPLETED":
        doc["end_date_time"] = stamp(START + dt.timedelta(minutes=minute))
    return doc


async def write_session(conn: asyncpg.Connection, doc: dict[str, Any], *, push_due: bool = True) -> str:
    """Store the Session and its charging row (created, or updated with a new change_seq); returns the stored
    normal-form JSON text."""
    decoded = validate_object(doc, sessions.MODULE.schema, what="test session")
    key = (doc["country_code"], doc["party_id"], doc["id"])
    await objects.put(conn, sessions.MODULE.table, key, decoded.text, decoded.obj.last_updated, None, EMSP)
    total = doc.get("total_cost") or {}
    excl, incl = total.get("excl_vat"), total.get("incl_vat")
    await conn.execute(
        """INSERT INTO charging_sessions (session_id, country_code, party_id, emsp_country_code, emsp_party_id, status,
                                          header, location_id, evse_uid, connector_id, kwh, cost_excl, cost_incl,
                                          currency, started_at, last_event_at, closed_periods, push_due)
           VALUES ($1, $2, $3, $4, $5, $6, '\\x7b7d', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, false)
           ON CONFLICT (session_id) DO UPDATE SET status = EXCLUDED.status, kwh = EXCLUDED.kwh,
               cost_excl = EXCLUDED.cost_excl, cost_incl = EXCLUDED.cost_incl, last_event_at = EXCLUDED.last_event_at,
               closed_periods = EXCLUDED.closed_periods, change_seq = nextval('charging_change_seq'), push_due = $17""",
        doc["id"], doc["country_code"], doc["party_id"], EMSP[0], EMSP[1], doc["status"], doc["location_id"],
        doc["evse_uid"], doc["connector_id"], doc["kwh"], excl, incl, doc["currency"], START,
        dt.datetime.fromisoformat(doc["last_updated"]), len(doc["charging_periods"]), push_due)
    return decoded.text
