"""Credentials-token authentication (digest §1.1): `Authorization: Token <base64 of the token>`, raw tokens
accepted too (A-19); the token identifies the peer platform."""

from __future__ import annotations

import base64
import binascii
import math
import time
from typing import Any

from litestar import Request

from app.db import peers
from app.db.peers import Peer
from app.ocpi.transport import CLIENT_ERROR, OcpiError, unauthorized


def token_candidates(header: str | None) -> list[str]:
    """The token as sent and, when that is valid Base64 of printable ASCII, as decoded."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    candidates = [value]
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return candidates
    if decoded and decoded.isprintable() and " " not in decoded and decoded != value:
        candidates.append(decoded)
    return candidates


def authorization_header(token: str, base64_encode: bool = True) -> str:
    return "Token " + (base64.b64encode(token.encode()).decode("ascii") if base64_encode else token)


class PeerCache:
    """Peers by Authorization header, per worker, so a request costs no lookup round trip. Every change to
    a peer's tokens or registration NOTIFYs `peers.CHANNEL` in its transaction and each worker clears its
    cache on it; the TTL only bounds staleness should a notification be lost with its connection. While the
    worker's LISTEN connection is down (`trusted` False) notifications are missed, so the cache is bypassed."""

    __slots__ = ("_entries", "trusted", "ttl")

    def __init__(self, ttl: float = 10.0) -> None:
        self._entries: dict[str, tuple[float, Peer]] = {}
        self.ttl = ttl
        self.trusted = True

    def get(self, header: str) -> Peer | None:
        if not self.trusted:
            return None
        hit = self._entries.get(header)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def put(self, header: str, peer: Peer) -> None:
        if len(self._entries) > 10_000:  # only known tokens are stored; this bounds a flood of rotations
            self._entries.clear()
        self._entries[header] = (time.monotonic(), peer)

    def clear(self, *_: object) -> None:
        self._entries.clear()


class FailedAuthLimiter:
    """Failed authentications per client address, per worker, in fixed windows (issue 7 §1). An address over
    the limit gets 429 for the rest of its window without a lookup, except for Authorization headers that
    authenticated in this worker within the last hour: valid tokens keep working, guessed ones learn nothing.
    Such a header failing later (a token revoked or rotated away, retried by its peer) is not a guess and is
    not counted."""

    TRUST_SECONDS = 3600.0
    _MAX_ENTRIES = 100_000

    def __init__(self, failures: int, window: float) -> None:
        self.failures, self.window = failures, window
        self._windows: dict[str, tuple[float, int]] = {}
        self._trusted: dict[str, float] = {}

    def retry_after(self, address: str, header: str | None) -> int | None:
        """Seconds until `address` may try again, or None when this request may be checked."""
        start, count = self._windows.get(address, (0.0, 0))
        left = start + self.window - time.monotonic()
        if count < self.failures or left <= 0 or self._known(header):
            return None
        return max(1, math.ceil(left))

    def _known(self, header: str | None) -> bool:
        seen = self._trusted.get(header) if header else None
        return seen is not None and time.monotonic() - seen < self.TRUST_SECONDS

    def failed(self, address: str, header: str | None) -> None:
        if self._known(header):
            return
        now = time.monotonic()
        start, count = self._windows.get(address, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if len(self._windows) > self._MAX_ENTRIES:
            self._windows.clear()
        self._windows[address] = (start, count + 1)

    def succeeded(self, header: str) -> None:
        if len(self._trusted) > self._MAX_ENTRIES:
            self._trusted.clear()
        self._trusted[header] = time.monotonic()


def _limiter(state: Any) -> FailedAuthLimiter:
    limiter: FailedAuthLimiter | None = state.get("auth_limiter")
    if limiter is None:
        settings = state.settings
        limiter = state["auth_limiter"] = FailedAuthLimiter(settings.auth_failures, settings.auth_window)
    return limiter


async def provide_caller(request: Request[Any, Any, Any]) -> Peer:
    """Any peer we know the token of, including one still holding its registration token (token A):
    for the versions and credentials modules."""
    header = request.headers.get("authorization")
    state = request.app.state
    cache: PeerCache = state.peer_cache
    peer = cache.get(header) if header else None
    if peer is not None:
        return peer
    limiter = _limiter(state)
    address = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(address, header)
    if wait is not None:
        raise OcpiError(CLIENT_ERROR, f"too many failed authentications from {address}; try again in {wait} s",
                        http_status=429, headers={"Retry-After": str(wait)})
    candidates = token_candidates(header)
    if not candidates:
        limiter.failed(address, header)
        raise unauthorized("missing or malformed Authorization header; expected 'Token <token>'")
    peer = await peers.by_token(state.pool, [state.vault.fingerprint(c) for c in candidates])
    if peer is None:
        limiter.failed(address, header)
        raise unauthorized("unknown credentials token")
    assert header is not None
    cache.put(header, peer)
    limiter.succeeded(header)
    return peer


async def provide_peer(request: Request[Any, Any, Any]) -> Peer:
    """A registered peer: functional modules refuse registration tokens (§1.1)."""
    peer = await provide_caller(request)
    if not peer.registered:
        raise unauthorized("this token may only be used for the versions and credentials modules until registration completes")
    # The app's wiring may watch registered peers' calls (a hub: its still-alive check skips peers that call it).
    on_call = request.app.state.get("on_peer_call")
    if on_call is not None:
        await on_call(request, peer.id)
    return peer
