"""Settings of the charging flow, from the environment (server workers inherit it)."""

from __future__ import annotations

import os
from dataclasses import dataclass

WHITELIST_ALLOWED_MODES = ("cache", "realtime")


@dataclass(frozen=True, slots=True)
class ChargingSettings:
    whitelist_allowed: str = "cache"
    """How a token with whitelist ALLOWED is checked: the token cache, or asking its eMSP in real time."""
    authorize_timeout: float = 5.0
    """Seconds a real-time authorization may take before the eMSP counts as unreachable."""
    reorder_window: int = 900
    """Seconds an event may be late within its session (older ones are refused)."""
    batch: int = 5000
    """Events per batch when replaying a file and sessions per batch when rebuilding."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ChargingSettings":
        e = os.environ if env is None else env
        mode = (e.get("OCPI_ENGINE_WHITELIST_ALLOWED") or "cache").lower()
        if mode not in WHITELIST_ALLOWED_MODES:
            raise SystemExit(f"ocpi-engine: error: OCPI_ENGINE_WHITELIST_ALLOWED={mode!r} must be cache or realtime")

        def number(name: str, default: float) -> float:
            raw = e.get(name)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise SystemExit(f"ocpi-engine: error: {name}={raw!r} is not a number") from None
            if value <= 0:
                raise SystemExit(f"ocpi-engine: error: {name}={raw!r} must be positive")
            return value

        return cls(whitelist_allowed=mode,
                   authorize_timeout=number("OCPI_ENGINE_AUTHORIZE_TIMEOUT", 5.0),
                   reorder_window=int(number("OCPI_ENGINE_REORDER_WINDOW", 900)))
