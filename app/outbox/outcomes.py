"""What a peer's answer to a push means (issue 9 §1), as a pure function of the answer: delivered; refused (the
peer understood and said no: resending cannot help, so it is recorded and blocks nothing); unknown object (a
PATCH of something the peer lacks: send the whole object); re-authenticate (401: try the other token form); or
retry (the peer could not answer: transport failure, timeout, 5xx, OCPI 3xxx, 408/429, no OCPI envelope)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec

from app.outbox.courier import Answer

UNKNOWN_OBJECT_CODES = frozenset({2003, 2004})
"""Unknown Location (and the other objects), Unknown Token (tokens use 2004 for an unknown object, §12.1.2)."""
RETRY_HTTP = frozenset({401, 408, 425, 429})
RETRY_HUB = frozenset({4002, 4003})
"""Hub errors that pass: a forwarded request timed out, the receiver is not connected now (§1.4)."""


class Kind(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    RETRY = "retry"
    UNKNOWN_OBJECT = "put_after_unknown"
    REAUTH = "reauth"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    reason: str | None = None


class _Envelope(msgspec.Struct):
    status_code: int
    status_message: str | None = None


def _envelope(body: bytes) -> _Envelope | None:
    try:
        env = msgspec.json.decode(body, type=_Envelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return env


def classify(method: str, answer: Answer, *, reauth_tried: bool = False) -> Outcome:
    """The outcome of one answer to a push sent with `method`. `reauth_tried`: this answer is to the retry with the
    other token form (a second 401 is then retried later, not re-authenticated again)."""
    if answer.http_status is None:
        return Outcome(Kind.RETRY, answer.error or "no answer")
    http = answer.http_status
    env = _envelope(answer.body)
    what = f"HTTP {http}" + (f", OCPI status {env.status_code}" if env else ", not an OCPI response") + (
        f": {env.status_message}" if env and env.status_message else "")
    if http == 401:
        return Outcome(Kind.RETRY if reauth_tried else Kind.REAUTH, what)
    if http in RETRY_HTTP or http >= 500:
        return Outcome(Kind.RETRY, what)
    if method == "PATCH" and (http == 404 or (env is not None and env.status_code in UNKNOWN_OBJECT_CODES)):
        return Outcome(Kind.UNKNOWN_OBJECT, what)
    if 400 <= http < 500 or 300 <= http < 400:
        return Outcome(Kind.REFUSED, what)  # a plain 4xx (no envelope) too: the peer refused; a redirect is not followed
    if env is None:
        return Outcome(Kind.RETRY, what)  # 2xx without an envelope: not an answer we can trust
    code = env.status_code
    if 1000 <= code < 2000 and 200 <= http < 300:
        return Outcome(Kind.DELIVERED)
    if 2000 <= code < 3000 or (4000 <= code < 5000 and code not in RETRY_HUB):
        return Outcome(Kind.REFUSED, what)
    return Outcome(Kind.RETRY, what)  # 3xxx, hub 4002/4003, codes outside the spec
