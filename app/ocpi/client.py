"""The one OCPI HTTP client every outgoing call goes through: auth header (Base64, raw as fallback),
request/correlation ids, routing headers, timeouts, envelope checks and one log line per call.
Tokens are never logged."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from app.logs import correlation_id
from app.ocpi.auth import authorization_header
from app.ocpi.routing import PartyRef
from app.ocpi.routing import headers as routing_headers
from app.peer_addresses import AddressPolicy, AddressRefused

log = logging.getLogger("app.ocpi.client")


class _Envelope(msgspec.Struct):
    status_code: int
    status_message: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")  # kept undecoded: its type depends on the call
    timestamp: str | None = None


@dataclass(slots=True)
class Reply:
    http_status: int
    status_code: int
    message: str | None
    data: msgspec.Raw | None
    headers: httpx.Headers
    used_base64: bool

    def decode(self, type_: type[Any]) -> Any:
        if self.data is None:
            raise OcpiCallError(f"the reply has no data (status {self.status_code})")
        return msgspec.json.decode(self.data, type=type_)


class Relayed:
    """An answer being relayed (`OcpiClient.relay`): status and headers at once, the body as it arrives. Either
    `read()` it or iterate `stream()`; both close the connection when done."""

    __slots__ = ("_response", "used_base64")

    def __init__(self, response: httpx.Response, used_base64: bool) -> None:
        self._response = response
        self.used_base64 = used_base64

    @property
    def http_status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        finally:
            await self._response.aclose()

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


class OcpiCallError(Exception):
    """A peer could not be reached, did not answer OCPI, or answered with an error. `str()` is the full
    story for our logs and the operator; `public` is what a remote caller may be told: it never quotes what
    the URL answered (nor a URL read from an answer), and is the same whether the address was refused,
    unreachable, slow, or not OCPI."""

    def __init__(self, message: str, reply: Reply | None = None, public: str | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.reply = reply
        self.public = public or message
        self.timed_out = timed_out
        """No answer within the timeout (a hub answers 4002 for it, 4003 for other failures to reach the peer)."""

    @property
    def detail(self) -> str:
        return str(self)


NO_OCPI_ANSWER = "no usable OCPI answer (unreachable, not allowed by our peer address policy, or not OCPI)"


class OcpiClient:
    def __init__(self, timeout: float = 15.0, addresses: AddressPolicy | None = None) -> None:
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._addresses = addresses or AddressPolicy()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, url: str, token: str, *, base64: bool = True, body: bytes | None = None,
                   params: dict[str, str] | None = None, to: PartyRef | None = None, from_: PartyRef | None = None,
                   check: bool = True) -> Reply:
        """One OCPI call. A 401 with a Base64 header is retried once with the raw token (digest A-19);
        `Reply.used_base64` tells the caller which form the peer accepted. With `check`, any answer other
        than HTTP 2xx and status 1xxx raises OcpiCallError."""
        reply = await self._send(method, url, token, base64, body, params, to, from_)
        if reply.http_status == 401 and base64:
            retry = await self._send(method, url, token, False, body, params, to, from_)
            if retry.http_status != 401:
                reply = retry
        if check and not (200 <= reply.http_status < 300 and 1000 <= reply.status_code < 2000):
            status = f"HTTP {reply.http_status}, OCPI status {reply.status_code}"
            raise OcpiCallError(f"{method} {url}: {status}" + (f": {reply.message}" if reply.message else ""), reply,
                                public=f"answered {status}")
        return reply

    async def relay(self, method: str, url: str, token: str, *, base64: bool = True, body: bytes | None = None,
                    to: PartyRef | None = None, from_: PartyRef | None = None) -> Relayed:
        """A call a hub forwards: the answer as received, whatever it is; its body is streamed, never decoded (a
        page of thousands of objects passes through as bytes). The 401 retry with the raw token as in `call`.
        Raises OcpiCallError only when no answer came (`timed_out` when none came in time)."""
        response = await self._open(method, url, token, base64, body, None, to, from_, stream=True)
        if response.status_code == 401 and base64:
            retry = await self._open(method, url, token, False, body, None, to, from_, stream=True)
            if retry.status_code != 401:
                await response.aclose()
                return Relayed(retry, used_base64=False)
            await retry.aclose()
        return Relayed(response, used_base64=base64)

    async def _open(self, method: str, url: str, token: str, base64: bool, body: bytes | None,
                    params: dict[str, str] | None, to: PartyRef | None, from_: PartyRef | None,
                    stream: bool = False) -> httpx.Response:
        request_id = str(uuid.uuid4())
        headers = {"Authorization": authorization_header(token, base64), "X-Request-ID": request_id,
                   "X-Correlation-ID": correlation_id.get() or request_id, **routing_headers(to, from_)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            await self._addresses.check(url)
            request = self._http.build_request(method, url, content=body, params=params, headers=headers)
            response = await self._http.send(request, stream=stream)
        except (httpx.HTTPError, AddressRefused) as exc:
            log.warning("ocpi call failed", extra={"method": method, "url": url, "error": str(exc) or type(exc).__name__})
            raise OcpiCallError(f"{method} {url}: {type(exc).__name__}: {exc}", public=NO_OCPI_ANSWER,
                                timed_out=isinstance(exc, httpx.TimeoutException)) from exc
        ms = round((time.perf_counter() - started) * 1000, 2)
        log.info("ocpi call", extra={"method": method, "url": url, "status": response.status_code, "ms": ms,
                                     "out_request_id": request_id})
        return response

    async def _send(self, method: str, url: str, token: str, base64: bool, body: bytes | None,
                    params: dict[str, str] | None, to: PartyRef | None, from_: PartyRef | None) -> Reply:
        response = await self._open(method, url, token, base64, body, params, to, from_)
        try:
            env = msgspec.json.decode(response.content, type=_Envelope)
        except msgspec.DecodeError:
            if response.status_code == 401:
                return Reply(401, 2000, "unauthorized", None, response.headers, base64)
            # What the URL answered stays out of the message: it may be an internal page (issue 7 §1).
            log.warning("ocpi call: not an OCPI response", extra={"method": method, "url": url,
                                                                  "status": response.status_code})
            raise OcpiCallError(f"{method} {url}: HTTP {response.status_code}, not an OCPI response",
                                public=NO_OCPI_ANSWER) from None
        data = None if bytes(env.data) == b"null" else env.data
        return Reply(response.status_code, env.status_code, env.status_message, data, response.headers, base64)
