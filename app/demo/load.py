"""Loading the demo data set into an empty deployment: a CPO (NL*EXA) with locations, tariffs and CDRs, an eMSP
(NL*MSP) with tokens, and a registered demo client whose token can call every module right away."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from app.db import parties, peers
from app.db.peers import PeerParty
from app.modules.owned import MODULES, import_objects, split_records
from app.secrets_vault import TokenVault

DATA = Path(__file__).parent / "data"
DEMO_CLIENT = "demo-client"
FILES = (("tariffs", "tariffs.json"), ("locations", "locations.json"), ("tokens", "tokens.json"), ("cdrs", "cdrs.jsonl"))


@dataclass(frozen=True, slots=True)
class Demo:
    token: str
    loaded: dict[str, int]


async def load(pool: asyncpg.Pool, vault: TokenVault) -> Demo:
    """Idempotent: objects already there are replaced by the same ones; the demo client keeps its token."""
    async with pool.acquire() as conn, conn.transaction():
        await parties.add(conn, "NL", "EXA", "CPO", "Example Charging (demo CPO)", "https://example.com")
        await parties.add(conn, "NL", "MSP", "EMSP", "MSP Mobility (demo eMSP)", "https://example.org")
    loaded = {}
    for module, name in FILES:
        result = await import_objects(pool, MODULES[module], split_records((DATA / name).read_bytes()), push=False)
        if result.errors:
            first = result.errors[0]
            raise RuntimeError(f"demo {name}: record {first.index}: {first.message}")
        loaded[module] = result.stored + result.unchanged
    return Demo(await _demo_client_token(pool, vault), loaded)


async def _demo_client_token(pool: asyncpg.Pool, vault: TokenVault) -> str:
    """A registered eMSP NL*ELN (also a CPO, so it may read tokens): enough to try every Sender with curl."""
    row = await pool.fetchrow("SELECT id, token_in FROM peers WHERE label = $1 AND status = 'REGISTERED'", DEMO_CLIENT)
    if row is not None:
        return vault.decrypt(row["token_in"])
    async with pool.acquire() as conn, conn.transaction():
        return await peers.create_registered(conn, vault, DEMO_CLIENT, [
            (PeerParty("NL", "ELN", "EMSP"), {"name": "Demo eMSP client"}),
            (PeerParty("NL", "ELN", "CPO"), {"name": "Demo CPO client"})])
