"""Which tariff of one of our CPO parties applies to the tokens of one eMSP, instead of the connector's
`tariff_ids` (`ocpi-engine tariffs assign TARIFF --party CC/PID --emsp CC/PID [--remove]`)."""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg

from app.config import Settings


async def assigned(conn: asyncpg.Connection | asyncpg.Pool, cpo: tuple[str, str], emsp: tuple[str, str]) -> str | None:
    value = await conn.fetchval(
        """SELECT tariff_id FROM tariff_assignments WHERE country_code = $1 AND party_id = $2
           AND emsp_country_code = $3 AND emsp_party_id = $4""", cpo[0].upper(), cpo[1].upper(),
        emsp[0].upper(), emsp[1].upper())
    return None if value is None else str(value)


async def assign(conn: asyncpg.Connection | asyncpg.Pool, cpo: tuple[str, str], emsp: tuple[str, str],
                 tariff_id: str) -> None:
    await conn.execute(
        """INSERT INTO tariff_assignments (country_code, party_id, emsp_country_code, emsp_party_id, tariff_id)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (country_code, party_id, emsp_country_code, emsp_party_id)
           DO UPDATE SET tariff_id = EXCLUDED.tariff_id""",
        cpo[0].upper(), cpo[1].upper(), emsp[0].upper(), emsp[1].upper(), tariff_id.upper())


async def unassign(conn: asyncpg.Connection | asyncpg.Pool, cpo: tuple[str, str], emsp: tuple[str, str],
                   tariff_id: str) -> bool:
    status = await conn.execute(
        """DELETE FROM tariff_assignments WHERE country_code = $1 AND party_id = $2 AND emsp_country_code = $3
           AND emsp_party_id = $4 AND tariff_id = $5""",
        cpo[0].upper(), cpo[1].upper(), emsp[0].upper(), emsp[1].upper(), tariff_id.upper())
    return bool(status.endswith(" 1"))


def _pair(text: str, option: str) -> tuple[str, str]:
    from app.db.parties import PartyError, validate

    cc, _, pid = text.partition("/")
    try:
        return validate(cc, pid, "CPO")[:2]
    except PartyError as exc:
        raise SystemExit(f"ocpi-engine: error: {option} {text!r}: {exc} (write CC/PID, e.g. NL/EXA)") from None


def cmd_assign(args: argparse.Namespace) -> int:
    from app.db import objects
    from app.modules import tariffs
    from app.service_cli import _fail, _run

    cpo, emsp = _pair(args.party, "--party"), _pair(args.emsp, "--emsp")

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        if args.remove:
            if not await unassign(pool, cpo, emsp, args.tariff_id):
                return _fail(f"tariff {args.tariff_id} is not assigned to eMSP {emsp[0]}*{emsp[1]} for "
                             f"{cpo[0]}*{cpo[1]}", 2)
            print(f"tariff {args.tariff_id} no longer assigned to eMSP {emsp[0]}*{emsp[1]} for {cpo[0]}*{cpo[1]}; "
                  "new sessions use the connectors' tariff_ids")
            return 0
        stored = await objects.get(pool, tariffs.MODULE.table, (*cpo, args.tariff_id))
        if stored is None or stored.peer_id is not None:
            return _fail(f"{cpo[0]}*{cpo[1]} has no tariff {args.tariff_id!r} (import it with "
                         "`ocpi-engine import tariffs FILE`)", 2)
        await assign(pool, cpo, emsp, args.tariff_id)
        print(f"tariff {args.tariff_id} of {cpo[0]}*{cpo[1]} now applies to new sessions of eMSP {emsp[0]}*{emsp[1]}")
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    a = groups["tariffs"].add_parser("assign", parents=[common], help="apply one tariff to the tokens of one eMSP",
                                     description="Sessions of the eMSP's tokens that start at the CPO party's "
                                                 "locations are priced with this tariff instead of the connector's "
                                                 "tariff_ids.")
    a.add_argument("tariff_id", metavar="TARIFF")
    a.add_argument("--party", required=True, metavar="CC/PID", help="our CPO party that owns the tariff")
    a.add_argument("--emsp", required=True, metavar="CC/PID", help="the eMSP whose tokens it applies to")
    a.add_argument("--remove", action="store_true", help="remove the assignment")
    a.set_defaults(func=cmd_assign)
