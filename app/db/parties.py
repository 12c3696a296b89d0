"""The parties this deployment hosts (country code + party id + role)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")


@dataclass(frozen=True, slots=True)
class Party:
    country_code: str
    party_id: str
    role: str
    name: str
    website: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.country_code, self.party_id)

    def label(self) -> str:
        return f"{self.country_code}*{self.party_id} ({self.role})"


class PartyError(ValueError):
    pass


def validate(country_code: str, party_id: str, role: str) -> tuple[str, str, str]:
    cc, pid, role = country_code.upper(), party_id.upper(), role.upper()
    if len(cc) != 2 or not cc.isascii() or not cc.isalpha():
        raise PartyError(f"country code {country_code!r} must be two letters (ISO 3166-1 alpha-2)")
    if len(pid) != 3 or not pid.isascii() or not pid.isalnum():
        raise PartyError(f"party id {party_id!r} must be three letters or digits")
    if role not in ROLES:
        raise PartyError(f"role {role!r} must be one of {', '.join(ROLES)}")
    return cc, pid, role


def parse_code(text: str, what: str = "party") -> tuple[str, str]:
    """`CC/PID` or `CC*PID` (e.g. NL/MSP) as an operator writes a party: its country code and party id. Errors name
    `what` (e.g. "OWNER")."""
    parts = text.replace("*", "/").split("/")
    if len(parts) != 2:
        raise PartyError(f"{what} {text!r} must be written COUNTRY/PARTY, e.g. NL/MSP")
    try:
        cc, pid, _ = validate(parts[0], parts[1], "OTHER")
    except PartyError as exc:
        raise PartyError(f"{what}: {exc}") from None
    return cc, pid


async def add(conn: asyncpg.Connection, country_code: str, party_id: str, role: str, name: str,
              website: str | None = None) -> tuple[Party, bool]:
    """Add a hosted party; returns it and whether it was new (existing ones get the new name)."""
    cc, pid, role = validate(country_code, party_id, role)
    row = await conn.fetchrow(
        """INSERT INTO parties (country_code, party_id, role, name, website) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (country_code, party_id, role) DO UPDATE SET name = EXCLUDED.name, website = EXCLUDED.website
           RETURNING (xmax = 0) AS inserted""", cc, pid, role, name, website)
    return Party(cc, pid, role, name, website), bool(row["inserted"])


async def list_all(conn: asyncpg.Connection | asyncpg.Pool) -> list[Party]:
    rows = await conn.fetch("SELECT country_code, party_id, role, name, website FROM parties ORDER BY id")
    return [Party(**dict(r)) for r in rows]
