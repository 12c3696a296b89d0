"""A CPO and an eMSP connected over real HTTP, with the demo tariffs and Locations at the CPO (pushed to the eMSP)
and the demo tokens at the eMSP (pulled by the CPO): what generated charging events need."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.cdr_samples import DEMO
from tests.service import Instance, wait_for


@contextmanager
def charging_pair(admin_dsn: str, root: Path, cpo_workers: int = 1) -> Iterator[tuple[Instance, Instance]]:
    cpo, emsp = Instance(admin_dsn, root, "cpo", workers=cpo_workers), Instance(admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        cpo.start()
        emsp.start()
        token_a = emsp.invite("cpo", "NL/EXA/CPO")
        cpo.cli("peer", "register", "--party", "NL/MSP/EMSP", "--", emsp.versions_url, token_a)
        cpo.cli("import", "tariffs", str(DEMO / "tariffs.json"), "--no-progress")
        cpo.cli("import", "locations", str(DEMO / "locations.json"), "--no-progress")
        emsp.cli("import", "tokens", str(DEMO / "tokens.json"), "--no-progress")
        tariffs = len(json.loads((DEMO / "tariffs.json").read_text()))
        wait_for(lambda: len(emsp.query("SELECT 1 FROM tariff_versions")) == tariffs, 60, "tariffs at the eMSP")
        wait_for(lambda: not cpo.query("SELECT 1 FROM outbox WHERE state = 'PENDING'"), 120, "pushes delivered")
        wait_for(lambda: cpo.query("SELECT 1 FROM tokens LIMIT 1"), 60, "tokens at the CPO")
        yield cpo, emsp
    finally:
        for instance in (cpo, emsp):
            instance.drop()
