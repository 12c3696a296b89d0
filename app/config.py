"""Service settings: environment variables first, then per-user defaults (nothing to configure to start)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from app.peer_addresses import LOOPBACK, AddressPolicy, parse_networks


def default_data_dir() -> Path:
    """Per-user data folder (XDG on Linux), where the embedded database and the key file live."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ocpi-engine"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    """Any PostgreSQL; None starts the embedded server in `data_dir`."""
    data_dir: Path = Path()
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = None
    """Public URL peers use to reach us; default http://host:port."""
    workers: int = 1
    secret_key: str | None = None
    """Fernet key (urlsafe base64) for credentials tokens at rest; default: a generated key file in data_dir."""
    max_body_bytes: int = 4 * 1024 * 1024
    page_limit: int = 1000
    """Largest page a GET list serves (advertised in X-Limit)."""
    default_page: int = 100
    pool_min: int = 2
    pool_max: int = 10
    request_timeout: float = 15.0
    """Seconds an outgoing OCPI call may take."""
    log_level: str = "INFO"
    allowed_peer_networks: str = ""
    """CIDR list outgoing calls may reach beyond public addresses (default: loopback with the embedded database)."""
    auth_failures: int = 30
    """Failed authentications per client address and window before answering 429."""
    auth_window: int = 60
    """Seconds of that window."""
    session_patch_interval: int = 60
    """Seconds between two PATCHes of one charging session to its eMSP (status changes are pushed at once)."""
    dispute_tolerance: Decimal = Decimal("0.01")
    """A received CDR whose totals differ from our re-pricing by more than this (in its currency, kWh or hours) is
    disputed."""
    delivery_window: int = 16
    """Pushes in flight to one peer at once (different objects; one object's updates go in order). A peer's own
    `peers.delivery_window` overrides it."""
    delivery_offline_after: int = 5
    """Consecutive failed deliveries (transport, timeout, 5xx) after which a peer is OFFLINE and only probed."""
    delivery_backoff_cap: float = 60.0
    """Longest pause in seconds between two attempts of a push (and between probes of an OFFLINE peer)."""
    courier: str = "rust"
    """What sends pushes: `python` (httpx) or `rust` (rust_core's send loop)."""
    hub_alive_after: int = 300
    """Seconds of silence (no request from a peer, no delivery to it) after which a hub checks that the peer is still
    alive (GET its versions); a failed check marks it OFFLINE."""
    hub_response_ttl: int = 86400
    """Seconds a response_url the hub rewrote (commands, charging profiles) accepts its result; older ones are
    refused as unknown and deleted."""
    initial_sync: str = "push"
    """A newly registered peer gets a PUT of every object of ours it may see (`push`), or is expected to pull our
    Sender interfaces (`pull`)."""
    metrics_public: bool = False
    """`/metrics` answers without an operator API key (a scraper on a private network)."""

    @property
    def peer_addresses(self) -> AddressPolicy:
        return AddressPolicy(parse_networks(self.allowed_peer_networks))

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        e = os.environ if env is None else env

        def num(name: str, default: int) -> int:
            raw = e.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise SystemExit(f"ocpi-engine: error: {name}={raw!r} is not an integer") from None

        def decimal(name: str, default: Decimal) -> Decimal:
            raw = e.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = Decimal(raw)
            except InvalidOperation:
                value = Decimal(-1)
            if not value.is_finite() or value < 0:
                raise SystemExit(f"ocpi-engine: error: {name}={raw!r} is not a decimal number >= 0")
            return value

        def positive(name: str, default: int) -> int:
            value = num(name, default)
            if value < 1:
                raise SystemExit(f"ocpi-engine: error: {name}={value} must be at least 1")
            return value

        courier = e.get("OCPI_ENGINE_COURIER") or "rust"
        if courier not in ("python", "rust"):
            raise SystemExit(f"ocpi-engine: error: OCPI_ENGINE_COURIER={courier!r} must be python or rust")
        def flag(name: str) -> bool:
            raw = e.get(name, "").strip().lower()
            if raw in ("", "0", "false", "no", "off"):
                return False
            if raw in ("1", "true", "yes", "on"):
                return True
            raise SystemExit(f"ocpi-engine: error: {name}={raw!r} is not a boolean (1/0, true/false)")

        initial_sync = e.get("OCPI_ENGINE_INITIAL_SYNC", "push").strip().lower() or "push"
        if initial_sync not in ("push", "pull"):
            raise SystemExit(f"ocpi-engine: error: OCPI_ENGINE_INITIAL_SYNC={initial_sync!r} must be push or pull")

        networks = e.get("OCPI_ENGINE_ALLOWED_PEER_NETWORKS")
        if networks is None:  # a local setup (embedded database) talks to peers on this machine
            networks = "" if e.get("DATABASE_URL") else LOOPBACK
        try:
            parse_networks(networks)
        except ValueError as exc:
            raise SystemExit(f"ocpi-engine: error: {exc}") from None
        return cls(
            allowed_peer_networks=networks,
            auth_failures=num("OCPI_ENGINE_AUTH_FAILURES", 30),
            auth_window=num("OCPI_ENGINE_AUTH_WINDOW", 60),
            database_url=e.get("DATABASE_URL") or None,
            dispute_tolerance=decimal("OCPI_ENGINE_DISPUTE_TOLERANCE", Decimal("0.01")),
            data_dir=Path(e.get("OCPI_ENGINE_DATA_DIR") or default_data_dir()),
            host=e.get("OCPI_ENGINE_HOST", "127.0.0.1"),
            initial_sync=initial_sync,
            metrics_public=flag("OCPI_ENGINE_METRICS_PUBLIC"),
            port=num("OCPI_ENGINE_PORT", 8000),
            base_url=e.get("OCPI_ENGINE_BASE_URL") or None,
            workers=num("OCPI_ENGINE_WORKERS", 1),
            secret_key=e.get("OCPI_ENGINE_SECRET_KEY") or None,
            max_body_bytes=num("OCPI_ENGINE_MAX_BODY_BYTES", 4 * 1024 * 1024),
            page_limit=num("OCPI_ENGINE_PAGE_LIMIT", 1000),
            pool_max=num("OCPI_ENGINE_POOL_MAX", 10),
            log_level=e.get("OCPI_ENGINE_LOG_LEVEL", "INFO").upper(),
            request_timeout=float(decimal("OCPI_ENGINE_REQUEST_TIMEOUT", Decimal("15"))),
            session_patch_interval=num("OCPI_ENGINE_SESSION_PATCH_INTERVAL", 60),
            delivery_window=positive("OCPI_ENGINE_DELIVERY_WINDOW", 16),
            delivery_offline_after=positive("OCPI_ENGINE_DELIVERY_OFFLINE_AFTER", 5),
            delivery_backoff_cap=float(decimal("OCPI_ENGINE_DELIVERY_BACKOFF_CAP", Decimal(60))),
            courier=courier,
            hub_alive_after=num("OCPI_ENGINE_HUB_ALIVE_AFTER", 300),
            hub_response_ttl=positive("OCPI_ENGINE_HUB_RESPONSE_TTL", 86400),
        )

    def to_env(self) -> dict[str, str]:
        """The same settings as environment variables, for server worker processes."""
        env = {
            "OCPI_ENGINE_DATA_DIR": str(self.data_dir),
            "OCPI_ENGINE_HOST": self.host,
            "OCPI_ENGINE_PORT": str(self.port),
            "OCPI_ENGINE_WORKERS": str(self.workers),
            "OCPI_ENGINE_MAX_BODY_BYTES": str(self.max_body_bytes),
            "OCPI_ENGINE_PAGE_LIMIT": str(self.page_limit),
            "OCPI_ENGINE_POOL_MAX": str(self.pool_max),
            "OCPI_ENGINE_LOG_LEVEL": self.log_level,
            "OCPI_ENGINE_REQUEST_TIMEOUT": str(self.request_timeout),
            # Resolved here: workers get DATABASE_URL even for the embedded database.
            "OCPI_ENGINE_ALLOWED_PEER_NETWORKS": self.allowed_peer_networks,
            "OCPI_ENGINE_AUTH_FAILURES": str(self.auth_failures),
            "OCPI_ENGINE_AUTH_WINDOW": str(self.auth_window),
            "OCPI_ENGINE_SESSION_PATCH_INTERVAL": str(self.session_patch_interval),
            "OCPI_ENGINE_DISPUTE_TOLERANCE": str(self.dispute_tolerance),
            "OCPI_ENGINE_DELIVERY_WINDOW": str(self.delivery_window),
            "OCPI_ENGINE_DELIVERY_OFFLINE_AFTER": str(self.delivery_offline_after),
            "OCPI_ENGINE_DELIVERY_BACKOFF_CAP": str(self.delivery_backoff_cap),
            "OCPI_ENGINE_COURIER": self.courier,
            "OCPI_ENGINE_HUB_ALIVE_AFTER": str(self.hub_alive_after),
            "OCPI_ENGINE_HUB_RESPONSE_TTL": str(self.hub_response_ttl),
            "OCPI_ENGINE_INITIAL_SYNC": self.initial_sync,
            "OCPI_ENGINE_METRICS_PUBLIC": "1" if self.metrics_public else "0",
        }
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.base_url:
            env["OCPI_ENGINE_BASE_URL"] = self.base_url
        if self.secret_key:
            env["OCPI_ENGINE_SECRET_KEY"] = self.secret_key
        return env
