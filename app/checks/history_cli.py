"""`ocpi-engine tariffs history ID [--party CC/PID] [--json]`: the stored versions of a tariff (`tariff_versions`),
keyed by last_updated: the one in force at a session's start prices it (`tariff_history.find_versions`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.config import Settings

_VERSIONS = """
SELECT country_code, party_id, id, last_updated, stored_at, peer_id, data::text AS data
FROM tariff_versions WHERE id = upper($1) AND ($2::text IS NULL OR (country_code = $2 AND party_id = $3))
ORDER BY country_code, party_id, last_updated"""


def cmd_history(args: argparse.Namespace) -> int:
    from app.charging.assignments import _pair
    from app.service_cli import _fail, _run

    owner = _pair(args.party, "--party") if args.party else None

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        rows = await pool.fetch(_VERSIONS, args.tariff_id, *(owner or (None, None)))
        if not rows:
            return _fail(f"no stored version of tariff {args.tariff_id!r}" + (f" of {owner[0]}*{owner[1]}" if owner else ""), 2)
        if args.json:
            sys.stdout.write(json.dumps([{"country_code": r["country_code"], "party_id": r["party_id"], "id": r["id"],
                                          "last_updated": r["last_updated"].isoformat(),
                                          "stored_at": r["stored_at"].isoformat(), "peer_id": r["peer_id"],
                                          "tariff": json.loads(r["data"])} for r in rows]) + "\n")
            return 0
        head = ("PARTY", "TARIFF", "LAST_UPDATED (in force from)", "STORED", "FROM", "CURRENCY", "ELEMENTS")
        table = [head]
        for r in rows:
            doc = json.loads(r["data"])
            table.append((f"{r['country_code']}*{r['party_id']}", r["id"], r["last_updated"].isoformat(),
                          r["stored_at"].strftime("%Y-%m-%d %H:%M:%S"),
                          "ours" if r["peer_id"] is None else f"peer {r['peer_id']}", str(doc.get("currency", "-")),
                          str(len(doc.get("elements") or []))))
        widths = [max(len(t[i]) for t in table) for i in range(len(head))]
        for t in table:
            print("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)).rstrip())
        return 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    h = groups["tariffs"].add_parser("history", parents=[common], help="the stored versions of a tariff",
                                     description="Every version of the tariff we stored (ours and our peers'), "
                                                 "oldest first. A session is priced with the newest version whose "
                                                 "last_updated is not after its start.")
    h.add_argument("tariff_id", metavar="ID")
    h.add_argument("--party", metavar="CC/PID", help="the CPO party that owns it (when several have this id)")
    h.add_argument("--json", action="store_true", help="print the versions (with their documents) as JSON")
    h.set_defaults(func=cmd_history)
