"""Routing headers of functional modules (digest §1.8, §1.9): read on requests, answered in reverse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from app.db.parties import Party
from app.db.peers import Peer


@dataclass(frozen=True, slots=True)
class PartyRef:
    country_code: str
    party_id: str


def _pair(request: Request[Any, Any, Any], side: str) -> PartyRef | None:
    cc = request.headers.get(f"ocpi-{side}-country-code")
    pid = request.headers.get(f"ocpi-{side}-party-id")
    return PartyRef(cc.upper(), pid.upper()) if cc and pid else None


def request_from(request: Request[Any, Any, Any]) -> PartyRef | None:
    return _pair(request, "from")


def request_to(request: Request[Any, Any, Any]) -> PartyRef | None:
    return _pair(request, "to")


def headers(to: PartyRef | None, from_: PartyRef | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if to is not None:
        out["OCPI-to-country-code"], out["OCPI-to-party-id"] = to.country_code, to.party_id
    if from_ is not None:
        out["OCPI-from-country-code"], out["OCPI-from-party-id"] = from_.country_code, from_.party_id
    return out


def reply_headers(request: Request[Any, Any, Any], peer: Peer, own_parties: list[Party], peer_role: str,
                  own_role: str) -> dict[str, str]:
    """The response's headers: to = the requester, from = the party that answered. When the request did not
    say, the peer's party of `peer_role` and our party of `own_role` are used (first of each)."""
    to = request_from(request)
    if to is None:
        mine = peer.parties_with_role(peer_role) or peer.parties
        to = PartyRef(mine[0].country_code, mine[0].party_id) if mine else None
    from_ = request_to(request)
    if from_ is None:
        ours = [p for p in own_parties if p.role == own_role] or own_parties
        from_ = PartyRef(ours[0].country_code, ours[0].party_id) if ours else None
    return headers(to, from_)
