"""Credentials-token authentication (digest §1.1): `Authorization: Token <base64 of the token>`, raw tokens
accepted too (A-19); the token identifies the peer platform."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar import Request

from app.db import peers
from app.db.peers import Peer
from app.ocpi.transport import unauthorized


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


async def provide_caller(request: Request[Any, Any, Any]) -> Peer:
    """Any peer we know the token of, including one still holding its registration token (token A):
    for the versions and credentials modules."""
    candidates = token_candidates(request.headers.get("authorization"))
    if not candidates:
        raise unauthorized("missing or malformed Authorization header; expected 'Token <token>'")
    vault = request.app.state.vault
    peer = await peers.by_token(request.app.state.pool, [vault.fingerprint(c) for c in candidates])
    if peer is None:
        raise unauthorized("unknown credentials token")
    return peer


async def provide_peer(request: Request[Any, Any, Any]) -> Peer:
    """A registered peer: functional modules refuse registration tokens (§1.1)."""
    peer = await provide_caller(request)
    if not peer.registered:
        raise unauthorized("this token may only be used for the versions and credentials modules until registration completes")
    return peer
