"""The service commands: precise errors, and an import with bad records that stores the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import Instance

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"


@pytest.fixture(scope="module")
def inst(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    instance = Instance(pg_admin_dsn, tmp_path_factory.mktemp("cli"), "cli")
    try:
        yield instance
    finally:
        instance.drop()


@pytest.mark.parametrize("command", [["serve"], ["party", "add"], ["peer", "register"], ["import"], ["pull"],
                                     ["evse-status"]])
def test_help(command: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "app", *command, "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: ocpi-engine")


def test_party_add_validates(inst: Instance) -> None:
    bad = inst.cli("party", "add", "NLD", "EXA", "CPO", "--name", "x", check=False)
    assert bad.returncode == 2 and "country code 'NLD' must be two letters" in bad.stderr
    bad = inst.cli("party", "add", "NL", "EXA", "DRIVER", "--name", "x", check=False)
    assert bad.returncode == 2 and "role 'DRIVER' must be one of" in bad.stderr
    assert "added party NL*EXA (CPO)" in inst.cli("party", "add", "nl", "exa", "cpo", "--name", "Example").stdout
    assert "updated party NL*EXA (CPO)" in inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example 2").stdout
    assert inst.cli("party", "list").stdout.split("\n")[0] == "NL\tEXA\tCPO\tExample 2"


def test_import_reports_bad_records_and_stores_the_rest(inst: Instance, tmp_path: Path) -> None:
    inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example")
    docs = json.loads((DEMO / "locations.json").read_text())[:5]
    docs[1]["coordinates"]["latitude"] = "north"
    docs[3]["party_id"] = "OTH"
    lines = [json.dumps(d) for d in docs]
    lines.insert(2, "{not json")
    path = tmp_path / "locations.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = inst.cli("import", "locations", str(path), "--no-progress", check=False)
    assert result.returncode == 1
    assert "3 locations stored, 0 unchanged, 3 rejected" in result.stdout
    assert f"record 1 ({docs[1]['id']}): invalid record:" in result.stderr and "$.coordinates.latitude" in result.stderr
    assert "record 2: the record is not valid JSON" in result.stderr
    assert "NL*OTH is not a CPO party of this deployment" in result.stderr
    rows = inst.query("SELECT id FROM locations ORDER BY seq")
    assert [r["id"] for r in rows] == [docs[0]["id"], docs[2]["id"], docs[4]["id"]]


def test_missing_file_and_unknown_peer(inst: Instance, tmp_path: Path) -> None:
    r = inst.cli("import", "tariffs", str(tmp_path / "none.json"), check=False)
    assert r.returncode == 2 and "none.json: cannot read" in r.stderr
    r = inst.cli("peer", "update", "99", check=False)
    assert r.returncode == 2 and "no peer 99" in r.stderr
    r = inst.cli("evse-status", "NOPE", "E1", "AVAILABLE", check=False)
    assert r.returncode == 2 and "no location 'NOPE' of ours" in r.stderr
    r = inst.cli("peer", "register", "http://127.0.0.1:9/ocpi/versions", "tokenA", check=False)
    assert r.returncode == 1 and "cannot read the versions at http://127.0.0.1:9/ocpi/versions" in r.stderr


def test_generated_tokens_never_look_like_options() -> None:
    from app.secrets_vault import new_token

    tokens = [new_token() for _ in range(2000)]
    assert all(not t.startswith("-") and len(t) == 43 for t in tokens) and len(set(tokens)) == 2000
