"""A lightweight OCPI peer for tests: an HTTP server on a loopback port that records every request and answers with
a success envelope; a real-time authorize is allowed, about the token and party asked (OCPI-to)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.service import Instance, free_port

PORTS = range(19400, 19500)
"""Stream C's test ports (issue 9 contract)."""


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    server: "Recorder"

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.lock:
            self.server.seen.append(seen)
        data: Any = None
        url = urlsplit(self.path)
        if self.command == "POST" and url.path.endswith("/authorize"):
            uid = unquote(url.path.split("/")[-2])
            token = {"country_code": seen.headers.get("ocpi-to-country-code"), "party_id": seen.headers.get("ocpi-to-party-id"),
                     "uid": uid, "type": parse_qs(url.query).get("type", ["RFID"])[0], "contract_id": "C-1",
                     "issuer": "hub test", "valid": True, "whitelist": "NEVER", "last_updated": "2026-01-01T00:00:00Z"}
            data = {"allowed": "ALLOWED", "token": token}
        out = json.dumps({"data": data, "status_code": 1000, "status_message": "Success",
                          "timestamp": "2026-01-01T00:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def requests(self, method: str | None = None, prefix: str = "") -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if (method is None or s.method == method) and s.path.startswith(prefix)]

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def endpoints(self, *pairs: tuple[str, str]) -> list[dict[str, str]]:
        """Endpoint entries (module, interface) all served here, below /{module}/{interface}."""
        return [{"identifier": m, "role": i, "url": f"{self.url}/{m}/{i.lower()}"} for m, i in pairs]


def on_port(instance: Instance, port: int) -> Instance:
    """Move a not yet started Instance to a port of our range."""
    instance.port = port
    instance.url = f"http://127.0.0.1:{port}"
    instance.versions_url = f"{instance.url}/ocpi/versions"
    instance.env["OCPI_ENGINE_PORT"] = str(port)
    return instance


def ports(offset: int, count: int, base: range = PORTS) -> list[int]:
    """`count` ports of a range (default stream C's) from `offset` (each test file its own offset), falling back
    to any free port when one is taken."""
    import socket

    out = []
    for port in base[offset:offset + count]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                port = free_port()
        out.append(port)
    return out
