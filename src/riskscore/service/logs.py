"""Structured JSON logs without personal data.

Only whitelisted fields are written: a log line can never carry a student id, a key or a raw path
by accident because a caller passed it in ``extra``. Routes are logged as templates
(``/v1/students/{student_id}/score``), and uvicorn's access log (raw paths) is switched off by
`riskscore serve`.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER_NAME = "riskscore.api"
#: the only extra fields a log line may carry
SAFE_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "role", "model_version", "event",
               "error_type", "n_students", "outcome", "frames")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; exception *messages* are dropped (they may quote input), frames kept."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            data["error_type"] = record.exc_info[0].__name__
            data["frames"] = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(record.exc_info[2])][-8:]
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None) -> logging.Logger:
    """Attach one JSON handler to the API logger (idempotent: repeated create_app calls add none)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper())
    if not any(getattr(h, "_riskscore_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._riskscore_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
