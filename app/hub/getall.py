"""GET All via the hub (digest §1.9): a GET of a module's Sender list addressed to the hub's own party answers the
objects of every connected owner party (CPOs for locations, tariffs, sessions and CDRs; eMSPs for tokens) as one
list the hub pages itself: the owners in a fixed order (country code, party id), each asked only for the part of
the requested window it holds, following its own Links when it caps the page. Objects pass through undecoded. An
owner refusing the asker (OCPI 2xxx) contributes nothing; one failing otherwise fails the GET (4000, 4002, 4003)."""

from __future__ import annotations

from urllib.parse import urlencode

import logging

import msgspec

from app.hub import forward
from app.hub.routing import Direct, GetAll, Message, label
from app.ocpi.client import OcpiClient
from app.ocpi.pagination import PageRequest
from app.ocpi.transport import HUB_ERROR, OcpiError
from app.schemas.types import format_datetime
from app.secrets_vault import TokenVault

log = logging.getLogger(__name__)


class _Page(msgspec.Struct):
    status_code: int
    status_message: str | None = None
    data: list[msgspec.Raw] | None = None


_page = msgspec.json.Decoder(_Page)


async def _ask(client: OcpiClient, vault: TokenVault, timeout: float, msg: Message, owner: Direct,
               window: dict[str, str], offset: int, limit: int) -> tuple[list[msgspec.Raw], int]:
    """One page of one owner: its objects and its X-Total-Count."""
    query = urlencode({**window, "offset": str(offset), "limit": str(limit)})
    relayed = await forward.relay(client, vault, timeout, msg, owner, None, query)
    content = await relayed.read()
    who = label(owner.to)
    try:
        page = _page.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise OcpiError(HUB_ERROR, f"GET all: {who} answered HTTP {relayed.http_status} without an OCPI list") from None
    if 2000 <= page.status_code < 3000:  # not for this asker (e.g. a CPO reading another CPO's locations)
        log.info("hub GET all: owner refused", extra={"owner": who, "sender": label(msg.sender),
                                                      "status": page.status_code, "error": page.status_message})
        return [], 0
    if not 1000 <= page.status_code < 2000:
        raise OcpiError(HUB_ERROR, f"GET all: {who} answered OCPI {page.status_code}: {page.status_message or ''}")
    try:
        return page.data or [], int(relayed.headers.get("x-total-count", ""))
    except ValueError:
        raise OcpiError(HUB_ERROR, f"GET all: {who} answered a list without X-Total-Count") from None


async def collect(client: OcpiClient, vault: TokenVault, timeout: float, msg: Message, target: GetAll,
                  page: PageRequest) -> tuple[bytes, int, int]:
    """The window `page` of the owners' lists laid end to end: the JSON array, how many objects it holds, and the
    sum of the owners' totals."""
    window = {k: format_datetime(v) for k, v in (("date_from", page.date_from), ("date_to", page.date_to)) if v}
    skip, need, total = page.offset, page.limit, 0
    items: list[msgspec.Raw] = []
    for owner in target.owners:
        if need <= 0:  # past the window: only its count matters
            total += (await _ask(client, vault, timeout, msg, owner, window, 0, 1))[1]
            continue
        got, count = await _ask(client, vault, timeout, msg, owner, window, skip, need)
        while got and need > 0:
            items += got[:need]
            need -= len(got[:need])
            skip += len(got)
            if need <= 0 or skip >= count:
                break
            got, count = await _ask(client, vault, timeout, msg, owner, window, skip, need)
        skip = max(0, skip - count)
        total += count
    return b"[" + b",".join(bytes(i) for i in items) + b"]", len(items), total
