"""A real-time authorization answer decides whose session it is (the token's party), so it must be about the token
and the eMSP party that were asked: a platform cannot claim another eMSP's tokens (and have that eMSP's sessions and
CDRs sent to it). The eMSP here is a loopback HTTP server answering what a test sets."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet

from app.charging.authorization import Authorizer, Request, Unreachable
from app.charging.settings import ChargingSettings
from app.db.peers import Peer
from app.ocpi.client import OcpiClient
from app.peer_addresses import AddressPolicy, parse_networks
from app.secrets_vault import TokenVault


class _Emsp(BaseHTTPRequestHandler):
    token_party = ("NL", "MSP")
    seen: list[tuple[str, dict[str, str]]] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Emsp.seen.append((self.path, dict(self.headers.items())))
        token = {"country_code": self.token_party[0], "party_id": self.token_party[1], "uid": "TOK1", "type": "RFID",
                 "contract_id": "NL-MSP-1", "issuer": "MSP", "valid": True, "whitelist": "NEVER",
                 "last_updated": "2026-01-01T00:00:00Z"}
        body = json.dumps({"data": {"allowed": "ALLOWED", "token": token, "authorization_reference": "REF1"},
                           "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def emsp_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Emsp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _ask(emsp_url: str, token_party: tuple[str, str]) -> object:
    _Emsp.token_party = token_party
    vault = TokenVault(Fernet.generate_key())
    peer = Peer(id=1, status="REGISTERED", label="emsp", versions_url=None, version="2.2.1", auth_base64=True,
                endpoints=[{"identifier": "tokens", "role": "SENDER", "url": f"{emsp_url}/tokens"}],
                token_out_enc=vault.encrypt("secret"))

    async def go() -> object:
        client = OcpiClient(5.0, AddressPolicy(parse_networks("127.0.0.0/8")))
        try:
            authorizer = Authorizer(None, vault, client, ChargingSettings.from_env({}))  # type: ignore[arg-type]
            return await authorizer._ask(peer, ("NL", "MSP"), Request("TOK1", "RFID", ("NL", "EXA"), "LOC1", "E1"))
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_the_answer_of_the_party_asked_authorizes(emsp_url: str) -> None:
    answer = _ask(emsp_url, ("NL", "MSP"))
    assert isinstance(answer, tuple) and answer[0].allowed == "ALLOWED" and answer[0].authorization_reference == "REF1"
    path, headers = _Emsp.seen[-1]
    assert path == "/tokens/TOK1/authorize?type=RFID"
    assert (headers["OCPI-to-country-code"], headers["OCPI-to-party-id"]) == ("NL", "MSP")


def test_an_answer_about_another_partys_token_is_not_taken(emsp_url: str) -> None:
    with pytest.raises(Unreachable, match=r"answered about token TOK1 \(RFID\) of NL\*OTH, not TOK1 \(RFID\) of NL\*MSP"):
        _ask(emsp_url, ("NL", "OTH"))
