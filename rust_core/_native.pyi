"""Type stubs for the compiled module `rust_core._native` (src/python.rs)."""

from typing import Literal, final

__all__ = [
    "ApplyResult",
    "BatchResult",
    "Courier",
    "EventBatch",
    "Monitor",
    "PricingError",
    "REPRICE_COLUMNS",
    "SessionEngine",
    "StoredBatch",
    "TariffSet",
    "__version__",
    "copy_cut",
    "error_json",
    "json_guard",
    "parse_only",
    "price_batch",
    "price_cdr",
]

__version__: str

class PricingError(ValueError):
    """A CDR or tariff that cannot be priced."""

    field: str
    """JSON path of the offending field, e.g. `charging_periods[2].dimensions[0].volume`."""
    reason: str
    """The message without the path."""

@final
class TariffSet:
    """A compiled set of tariffs, reused across calls."""

    def __new__(cls, json: bytes | str, *, strict: bool = False) -> TariffSet:
        """`strict` refuses a dimension OCPI does not define, a bare-number min/max price and a
        date-time without zero padding (read with a warning otherwise)."""
    def __len__(self) -> int: ...
    @property
    def ids(self) -> list[str]: ...
    @property
    def warnings(self) -> list[tuple[str, str]]: ...

@final
class BatchResult:
    records: int
    priced: int
    @property
    def output(self) -> bytes:
        """Priced results as JSON Lines, in input order; bad records left out."""
    @property
    def errors(self) -> list[tuple[int, int, str | None, str, str]]:
        """Bad records: (line, index, id, field, message)."""
    def errors_jsonl(self) -> bytes: ...

_Split = Literal["boundaries", "period_start"]
_Rounding = Literal["half_up", "half_even", "down", "up"]
_Version = Literal["2.1.1", "2.2.1", "2.3.0"]
_MissingVat = Literal["no_vat", "unknown"]

def price_cdr(
    cdr: bytes | str,
    tariffs: TariffSet | bytes | str | None = None,
    *,
    time_zone: str | None = None,
    split: _Split = "boundaries",
    decimals: int = 4,
    rounding: _Rounding = "half_up",
    tariff_type: str | None = None,
    breakdown: bool = True,
    version: _Version | None = None,
    strict: bool = False,
    missing_vat: _MissingVat = "no_vat",
) -> bytes: ...
def price_batch(
    cdrs: bytes | str | list[bytes] | list[str],
    tariffs: TariffSet | bytes | str | None = None,
    *,
    first_line: int = 1,
    time_zone: str | None = None,
    split: _Split = "boundaries",
    decimals: int = 4,
    rounding: _Rounding = "half_up",
    tariff_type: str | None = None,
    breakdown: bool = False,
    version: _Version | None = None,
    strict: bool = False,
    missing_vat: _MissingVat = "no_vat",
) -> BatchResult: ...
def parse_only(buf: bytes | str) -> tuple[int, int]: ...

# ---- Re-rating (src/reprice/stored_batch.rs): StoredBatch ----

REPRICE_COLUMNS: list[str]
"""The `reprice_results` columns of the rows `StoredBatch.price` returns, in order."""

def copy_cut(copy: bytes | str) -> int:
    """Where the last whole row of binary COPY data ends (header and trailer included): a reader hands that much on
    and keeps the rest for the next piece."""

_Group = tuple[str, str, str, int, int, str, str]
_BatchStats = tuple[int, int, int, list[_Group], list[tuple[str, str]]]

@final
class StoredBatch:
    """One batch of stored CDRs: the rows of `COPY (SELECT seq, country_code, party_id, id, data ...) TO STDOUT
    (FORMAT binary)` (whole rows) in, the rows of `reprice_results` (COPY binary format) out."""

    def __new__(cls, copy: bytes | str) -> StoredBatch:
        """Cut the rows and scan each CDR (GIL released); ValueError when the rows are not 5 fields each."""
    def __len__(self) -> int: ...
    @property
    def tariff_keys(self) -> list[tuple[str, str, str]]:
        """The distinct (country_code, party_id, tariff id) the CDRs name, upper-cased."""
    @property
    def location_keys(self) -> list[tuple[str, str, str]]:
        """The distinct (country_code, party_id, Location id) of the CDRs, upper-cased ("": none given)."""
    def choose(self, timelines: list[list[int]]) -> list[tuple[int, int]]:
        """Per tariff key, the last_updated of its stored versions (µs since the epoch, ascending; empty: none):
        each CDR's version is the newest with last_updated <= its session start, else the oldest. Returns the
        distinct (tariff key index, timeline position) chosen."""
    def price(
        self,
        refs: list[tuple[int, str] | str],
        zones: list[str | None],
        tariffs: TariffSet,
        *,
        run_id: int,
        engine: str,
        breakdown: bool = True,
    ) -> tuple[bytes, _BatchStats]:
        """After `choose`: per chosen version (its index in `tariffs`, its `tariff_versions` JSON entry) or why it
        cannot be used; per Location key our time zone (None: none held). Returns the result rows (COPY binary,
        header and trailer included) and (priced, failed, changed, groups (party CC*PID, tariff, currency,
        priced, changed, sum of changes, sum of |changes|), failures (CC*PID/id, reason))."""

def error_json(message: str, field: str = "", line: int | None = None, id: str | None = None) -> str: ...
def json_guard(
    buf: bytes | bytearray | memoryview | str, max_depth: int, max_decimals: int
) -> tuple[Literal["duplicate_key", "number", "depth", "syntax"], str] | None:
    """Check JSON text in one pass, the GIL released: None when fine, else `(kind, detail)`: a key that appears
    twice in one object (detail: the key, unescaped), a number beyond ±(2**63 - 1) or with more than
    `max_decimals` significant decimals (its text), more than `max_depth` levels of objects and arrays, or not
    JSON (a message with the byte offset)."""

# ---- Session engine (src/session): EventBatch, SessionEngine, ApplyResult ----

_SessionUpdate = tuple[str, str, bytes, int, str, str | None, str | None, str, bool]
"""(session_id, status "ACTIVE"|"COMPLETED", OCPI Session JSON, closed_periods, kwh, cost_excl, cost_incl,
last_event_time, status_changed)."""

@final
class EventBatch:
    """Charging events (JSON Lines or a JSON array) read and validated in one pass, the GIL released."""

    def __new__(cls, data: bytes | str) -> EventBatch: ...
    def __len__(self) -> int:
        """Records read (valid and invalid)."""
    @property
    def events(self) -> list[tuple[int, str, str, str, str]]:
        """Valid events: (index, event_id, session_id, type, time in UTC RFC 3339)."""
    @property
    def starts(self) -> list[tuple[int, dict[str, str]]]:
        """Fields of each valid session_started by index: location_id, evse_uid, connector_id, token_uid,
        token_type, and when given authorization_reference, auth_method, country_code, party_id."""
    @property
    def errors(self) -> list[tuple[int, str | None, str, str]]:
        """Invalid records: (index, event_id or None, field, message)."""
    def records(self) -> list[bytes]:
        """Normal-form JSON of each valid event, aligned with `events`."""

@final
class ApplyResult:
    @property
    def errors(self) -> list[tuple[int, str, str]]:
        """Events refused by the engine: (index, field, message)."""
    @property
    def accepted(self) -> list[int]: ...
    @property
    def sessions(self) -> list[_SessionUpdate]: ...
    @property
    def cdrs(self) -> list[tuple[str, bytes, bytes]]:
        """(session_id, CDR JSON, breakdown JSON) of every session stopped in the batch."""

@final
class SessionEngine:
    """The live state of charging sessions, priced as they run (the CDR pricing rules)."""

    def __new__(
        cls, *, reorder_window: int = 900, decimals: int = 4, rounding: _Rounding = "half_up", missing_vat: _MissingVat = "no_vat"
    ) -> SessionEngine: ...
    def __len__(self) -> int:
        """Active sessions held."""
    def apply(
        self,
        batch: EventBatch,
        *,
        headers: dict[str, bytes] | None = None,
        skip: set[int] | None = None,
        now: str | None = None,
    ) -> ApplyResult:
        """Apply a batch: `headers` are the session headers of sessions started in it, `skip` the indices the
        caller already answered, `now` the last_updated written (default: the clock)."""
    def drop(self, session_ids: list[str]) -> None:
        """Forget sessions (to reload them after a failed commit)."""
    def session_ids(self) -> list[str]: ...
_MonitorSessionRow = tuple[str, str, str, str, str, str, str, str, str | None, str | None, str, str]

@final
class Monitor:
    """The operators' live view: active sessions and EVSE statuses per location and per EVSE, with
    energy and cost so far. Totals are kept incrementally, so a view costs what it shows (plus a
    page's `offset`), whatever the number of sessions held. Safe to share between threads.

    Decimals in the JSON are numbers written exactly (no rounding, no trailing zeros); read them
    with `msgspec.json.Decoder(float_hook=Decimal)`. Costs are totalled per currency,
    `[{"currency", "excl_vat", "incl_vat"}]` sorted by currency; an amount is null while any
    session of that currency does not know it (no cost yet, or VAT unknown)."""

    def __new__(cls) -> Monitor: ...
    def __len__(self) -> int:
        """Active sessions held."""
    def upsert_sessions(self, rows: list[_MonitorSessionRow]) -> None:
        """Rows `(session_id, country_code, party_id, location_id, evse_uid, connector_id, status, kwh,
        cost_excl, cost_incl, currency, started_at)`, applied in order: an ACTIVE row holds or replaces the
        session (its old contribution is taken out of every total first); any other OCPI SessionStatus
        forgets it. Amounts are decimal strings >= 0 (at most 10^15); started_at RFC 3339. Every row is
        checked before any applies: a bad one raises ValueError naming it (`rows[3].kwh: ...`)."""
    def set_evse_status(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        """Rows `(country_code, party_id, location_id, evse_uid, status)` with an OCPI EVSE Status. An EVSE
        known only by its status is listed; REMOVED drops it once it has no active session. An EVSE with
        sessions but no status set shows "UNKNOWN". ValueError naming the row, as `upsert_sessions`."""
    def locations(
        self,
        country_code: str | None = None,
        party_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
        *,
        active_only: bool = False,
    ) -> bytes:
        """One page of the locations with an active session or a known EVSE, sorted by (country_code,
        party_id, location_id), optionally only one country and/or party; with `active_only`, only the
        locations with at least one active session (`total` then counts those; the other top-level
        figures are the same either way, as only active sessions make them up)::

            {"total": <locations of the filter>, "active_sessions": n, "kwh": x, "cost": [...],
             "locations": [{"country_code", "party_id", "location_id", "active_sessions", "kwh",
                            "cost": [...], "evses": {"CHARGING": n, "AVAILABLE": n, ...}}]}

        The top-level totals cover every location of the filter, not only the page; `evses` counts the
        location's EVSEs per status. The locations with an active session are kept as their own sorted set,
        so an `active_only` page costs what it shows, however many idle locations are listed."""
    def location(self, country_code: str, party_id: str, location_id: str) -> bytes | None:
        """One location in detail, None when it has no active session and no known EVSE::

            {"country_code", "party_id", "location_id", "active_sessions", "kwh", "cost": [...],
             "evses": [{"evse_uid", "status", "active_sessions", "kwh", "cost": [...],
                        "sessions": [{"id", "connector_id", "kwh", "excl_vat", "incl_vat", "currency",
                                      "started_at"}]}]}

        EVSEs by uid, sessions by start time then id; a session's excl_vat/incl_vat null when unknown;
        started_at in UTC (`Z`)."""

# ---- Courier: the delivery send loop (src/courier) ----

_Submitted = tuple[int, str, str, list[tuple[str, str]], bytes | None]
"""(id, method, url, headers, body)."""
_Completed = tuple[int, int | None, bytes, list[tuple[str, str]], float, str | None]
"""(id, http status or None, body, response headers (names lower-case), elapsed ms since submit, error or None)."""

@final
class Courier:
    """HTTP/1.1 requests (http and https, rustls) sent from a tokio runtime of its own: pooled keep-alive
    connections, at most `max_connections_per_host` requests in flight per scheme+host+port (the others wait
    for a slot), each bounded by `timeout_s` once it has its slot (connect, send, whole answer)."""

    def __new__(cls, max_connections_per_host: int, timeout_s: float, *, worker_threads: int = 1) -> Courier: ...
    def submit(self, batch: list[_Submitted]) -> None:
        """Start sending every request; returns at once. A request that cannot be sent (bad URL, method or
        header) completes at once with its error. RuntimeError after `close`."""
    def completed(self, max_items: int, wait_s: float) -> list[_Completed]:
        """Up to `max_items` completions; waits up to `wait_s` (the GIL released) for the first one. A request
        without an answer (transport error, timeout, closed) has status None and the error text."""
    def close(self) -> None:
        """Cancel what is in flight (each completes with the error "courier closed"); later submits raise."""
    @property
    def closed(self) -> bool: ...
