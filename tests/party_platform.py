"""A lightweight OCPI platform for tests: one party on a loopback port, serving versions, version details and the
module endpoints it is given, recording every request. It registers with a hub through the normal credentials
handshake (POST credentials with the hub's token A) and can be told to answer slowly or with errors, or be stopped
and started again."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from app.ocpi.auth import authorization_header, token_candidates


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: httpx.Headers
    """Case-insensitive, as HTTP header names are."""
    body: Any

    def header(self, name: str) -> str | None:
        """A request header, whatever its case on the wire."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def envelope(data: Any = None, status_code: int = 1000) -> dict[str, Any]:
    out: dict[str, Any] = {"status_code": status_code, "status_message": "Success", "timestamp": "2026-01-01T00:00:00Z"}
    if data is not None:
        out["data"] = data
    return out


@dataclass
class PartyPlatform:
    port: int
    country_code: str
    party_id: str
    role: str
    modules: list[tuple[str, str]]
    """(identifier, SENDER|RECEIVER) endpoints at /{interface}/{identifier}."""
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The token the hub calls us with."""
    hub_token: str | None = None
    """The token we call the hub with, after registration."""
    locations: list[dict[str, Any]] = field(default_factory=list)
    """Served paginated on GET /sender/locations (and one by one)."""
    delay: float = 0.0
    failing: int = 0
    """When set, module calls (not versions) are answered with this HTTP status and OCPI 3000: a broken platform."""
    requests: list[Recorded] = field(default_factory=list)
    results: list[httpx.Response] = field(default_factory=list)
    """The hub's answers to the command results we posted."""
    _connections: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def party(self) -> str:
        return f"{self.country_code}/{self.party_id}/{self.role}"

    def received(self, method: str | None = None, prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix)]

    # --- serving ---------------------------------------------------------------------------------

    def start(self) -> None:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                platform._connections.add(self.connection)

            def finish(self) -> None:
                platform._connections.discard(self.connection)
                super().finish()

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the hub gave up waiting (timeout tests)
                    pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(self.command, parts.path, parse_qs(parts.query), httpx.Headers(list(self.headers.items())),
                               json.loads(raw) if raw else None)
                if platform.token not in token_candidates(self.headers.get("Authorization")):
                    self._answer(401, envelope(status_code=2000))
                    return
                platform.requests.append(rec)
                if platform.delay:
                    time.sleep(platform.delay)
                if platform.failing and parts.path not in ("/versions", "/2.2.1"):
                    self._answer(platform.failing, envelope(status_code=3000))
                    return
                status, body, headers = platform.route(rec, parts.query)
                self._answer(status, body, headers)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections: the platform is gone."""
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def route(self, rec: Recorded, query: str) -> tuple[int, Any, dict[str, str]]:
        if rec.path == "/versions":
            return 200, envelope([{"version": "2.2.1", "url": f"{self.url}/2.2.1"}]), {}
        if rec.path == "/2.2.1":
            endpoints = [{"identifier": "credentials", "role": "RECEIVER", "url": f"{self.url}/credentials"}]
            endpoints += [{"identifier": m, "role": i, "url": f"{self.url}/{i.lower()}/{m}"} for m, i in self.modules]
            return 200, envelope({"version": "2.2.1", "endpoints": endpoints}), {}
        routing = {"OCPI-to-country-code": rec.headers.get("OCPI-from-country-code", ""),
                   "OCPI-to-party-id": rec.headers.get("OCPI-from-party-id", ""),
                   "OCPI-from-country-code": self.country_code, "OCPI-from-party-id": self.party_id}
        if rec.method == "GET" and rec.path == "/sender/locations":
            offset, limit = int(rec.query.get("offset", ["0"])[0]), int(rec.query.get("limit", ["2"])[0])
            page = self.locations[offset:offset + limit]
            headers = {**routing, "X-Total-Count": str(len(self.locations)), "X-Limit": "2"}
            if offset + len(page) < len(self.locations):
                headers["Link"] = f'<{self.url}/sender/locations?offset={offset + len(page)}&limit={limit}>; rel="next"'
            return 200, envelope(page), headers
        if rec.method == "GET" and rec.path.startswith("/sender/locations/"):
            wanted = rec.path.rsplit("/", 1)[1]
            found = [loc for loc in self.locations if loc["id"] == wanted]
            if not found:
                return 404, envelope(status_code=2003), routing
            return 200, envelope(found[0]), routing
        if rec.method == "POST" and rec.path.startswith("/receiver/commands/"):
            response_url = rec.body["response_url"]
            threading.Thread(target=self._post_result, args=(response_url, rec), daemon=True).start()
            return 200, envelope({"result": "ACCEPTED", "timeout": 30}), routing
        return 200, envelope(), routing

    def _post_result(self, response_url: str, rec: Recorded) -> None:
        time.sleep(0.2)
        assert self.hub_token is not None
        self.results.append(httpx.post(response_url, json={"result": "ACCEPTED"}, timeout=30, headers={
            "Authorization": authorization_header(self.hub_token),
            "X-Correlation-ID": rec.headers.get("X-Correlation-ID", ""),
            "OCPI-to-country-code": rec.headers["OCPI-from-country-code"],
            "OCPI-to-party-id": rec.headers["OCPI-from-party-id"],
            "OCPI-from-country-code": self.country_code, "OCPI-from-party-id": self.party_id}))

    # --- calling the hub ---------------------------------------------------------------------------

    def call(self, hub_url: str, method: str, path: str, *, to: str | None = None, frm: str | None = None,
             body: Any = None, headers: dict[str, str] | None = None, token: str | None = None) -> httpx.Response:
        """A request to the hub (`path` below `hub_url`, or a whole URL such as a Link) with our token (or `token`),
        from our party (or `frm`, CC/PID) to `to` (CC/PID) when given."""
        h = {"Authorization": authorization_header(token or self.hub_token or ""), **(headers or {})}
        h["OCPI-from-country-code"], h["OCPI-from-party-id"] = (frm or f"{self.country_code}/{self.party_id}").split("/")
        if to is not None:
            h["OCPI-to-country-code"], h["OCPI-to-party-id"] = to.split("/")
        url = path if path.startswith("http") else f"{hub_url}{path}"
        return httpx.request(method, url, headers=h, timeout=30, content=None if body is None else json.dumps(body))

    # --- registering -----------------------------------------------------------------------------

    def register(self, hub_url: str, token_a: str) -> None:
        """The credentials handshake with the hub: our token and versions URL for its token C."""
        body = {"token": self.token, "url": f"{self.url}/versions", "roles": [{
            "role": self.role, "country_code": self.country_code, "party_id": self.party_id,
            "business_details": {"name": self.party}}]}
        r = httpx.post(f"{hub_url}/ocpi/2.2.1/credentials", json=body, timeout=30,
                       headers={"Authorization": authorization_header(token_a)})
        assert r.status_code == 200 and r.json()["status_code"] == 1000, r.text
        self.hub_token = r.json()["data"]["token"]
