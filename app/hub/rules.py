"""Per-party allow and deny lists the hub operator keeps (issue 9 §2). A message from A to B is blocked when B
denies A, when B has an allow list without A, or when A denies B. They apply to direct and open routing, to each
receiver of a broadcast, and to copies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from app.db.parties import PartyError, parse_code

ALLOW, DENY = "ALLOW", "DENY"
Key = tuple[str, str]


class RuleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    party: Key
    kind: str
    other: Key
    created_at: dt.datetime


def label(party: Key) -> str:
    return f"{party[0]}*{party[1]}"


def parse_party(text: str) -> Key:
    """`CC/PID` or `CC*PID` (e.g. NL/MSP), as the operator writes a party."""
    try:
        return parse_code(text)
    except PartyError as exc:
        raise RuleError(str(exc)) from None


class Rules:
    """The lists of some parties, read once for one routing decision."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._lists: dict[tuple[Key, str], set[Key]] = {}
        for r in rules:
            self._lists.setdefault((r.party, r.kind), set()).add(r.other)

    def blocked(self, sender: Key, receiver: Key) -> str | None:
        """Why a message from `sender` to `receiver` is blocked, or None."""
        if sender in self._lists.get((receiver, DENY), ()):
            return f"{label(receiver)}'s deny list blocks {label(sender)}"
        allow = self._lists.get((receiver, ALLOW))
        if allow is not None and sender not in allow:
            return f"{label(sender)} is not on {label(receiver)}'s allow list"
        if receiver in self._lists.get((sender, DENY), ()):
            return f"{label(sender)}'s deny list blocks {label(receiver)}"
        return None


_COLUMNS = "id, country_code, party_id, kind, other_country_code, other_party_id, created_at"


def _rule(r: asyncpg.Record) -> Rule:
    return Rule(r["id"], (r["country_code"], r["party_id"]), r["kind"], (r["other_country_code"], r["other_party_id"]),
                r["created_at"])


async def load(conn: asyncpg.Connection | asyncpg.Pool, parties: Iterable[Key]) -> Rules:
    """The lists of `parties` (a sender and its receivers)."""
    keys = sorted(set(parties))
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM hub_rules
            WHERE (country_code, party_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
        [k[0] for k in keys], [k[1] for k in keys])
    return Rules(_rule(r) for r in rows)


async def blocked(conn: asyncpg.Connection | asyncpg.Pool, sender: Key, receiver: Key) -> str | None:
    return (await load(conn, [sender, receiver])).blocked(sender, receiver)


async def list_rules(conn: asyncpg.Connection | asyncpg.Pool, party: Key | None = None) -> list[Rule]:
    rows = await conn.fetch(f"""SELECT {_COLUMNS} FROM hub_rules WHERE $1::text IS NULL
                                OR (country_code = $1 AND party_id = $2) ORDER BY id""",
                            party[0] if party else None, party[1] if party else None)
    return [_rule(r) for r in rows]


async def add(conn: asyncpg.Connection | asyncpg.Pool, party: Key, kind: str, other: Key) -> tuple[Rule, bool]:
    """Add `other` to `party`'s ALLOW or DENY list; returns the rule and whether it is new."""
    kind = kind.upper()
    if kind not in (ALLOW, DENY):
        raise RuleError(f"kind {kind!r} must be ALLOW or DENY")
    if party == other:
        raise RuleError(f"a party's list cannot name the party itself ({label(party)})")
    row = await conn.fetchrow(
        f"""INSERT INTO hub_rules (country_code, party_id, kind, other_country_code, other_party_id)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}""",
        party[0], party[1], kind, other[0], other[1])
    if row is not None:
        return _rule(row), True
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM hub_rules WHERE country_code = $1 AND party_id = $2 AND kind = $3
            AND other_country_code = $4 AND other_party_id = $5""", party[0], party[1], kind, other[0], other[1])
    return _rule(row), False


async def remove(conn: asyncpg.Connection | asyncpg.Pool, rule_id: int) -> bool:
    return bool(await conn.fetchval("DELETE FROM hub_rules WHERE id = $1 RETURNING true", rule_id))
