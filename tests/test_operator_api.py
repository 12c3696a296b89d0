"""Operator API keys: created on the CLI, shown once, stored as a fingerprint, checked on every /api/v1 route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service import Instance, serving


@pytest.fixture(scope="module")
def cpo(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    root = tmp_path_factory.mktemp("apikeys")
    with serving((Instance(pg_admin_dsn, root, "cpo"), [("party", "add", "NL", "EXA", "CPO", "--name", "Example")])) as (cpo,):
        yield cpo


def _create(cpo: Instance, label: str) -> str:
    result = cpo.cli("apikey", "create", "--label", label)
    key = result.stdout.strip()
    assert key.startswith("oek_") and len(key) > 40
    assert "shown only now" in result.stderr
    return key


def test_keys_are_stored_as_fingerprints_only(cpo: Instance) -> None:
    key = _create(cpo, "backend")
    rows = cpo.query("SELECT label, key_hash FROM api_keys WHERE label = 'backend'")
    assert len(rows) == 1
    assert key.encode() not in bytes(rows[0]["key_hash"]) and len(rows[0]["key_hash"]) == 32
    listing = cpo.cli("apikey", "list").stdout
    assert "backend" in listing and key not in listing and "live" in listing


def test_api_routes_need_a_live_key(cpo: Instance) -> None:
    key = _create(cpo, "monitor")
    url = f"{cpo.url}/api/v1/whoami"
    missing = httpx.get(url)
    assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
    assert "apikey create" in missing.json()["error"]
    wrong = httpx.get(url, headers={"Authorization": "Bearer oek_not-a-key"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "unknown or revoked operator API key"}
    # An OCPI credentials token is never an operator key.
    token = cpo.client_token("peer", [("NL", "MSP", "EMSP")])
    assert httpx.get(url, headers={"Authorization": f"Token {token}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    ok = httpx.get(url, headers={"Authorization": f"Bearer {key}"})
    key_id = cpo.query("SELECT id FROM api_keys WHERE label = 'monitor'")[0]["id"]
    assert ok.status_code == 200 and ok.json() == {"key_id": key_id, "label": "monitor"}
    assert cpo.query("SELECT last_used FROM api_keys WHERE id = $1", key_id)[0]["last_used"] is not None
    cpo.cli("apikey", "revoke", str(key_id))
    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    again = cpo.cli("apikey", "revoke", str(key_id), check=False)
    assert again.returncode == 2 and f"no live API key {key_id}" in again.stderr


def test_openapi_documents_the_key_scheme(cpo: Instance) -> None:
    schema = httpx.get(f"{cpo.url}/schema/openapi.json").json()
    assert schema["components"]["securitySchemes"]["operatorKey"]["scheme"] == "bearer"


def test_cli_help_lists_the_groups(tmp_path: Path) -> None:
    from app.cli import build_parser

    text = build_parser().format_help()
    for group in ("sessions", "cdrs", "tariffs", "apikey"):
        assert group in text
