"""Structured logs: one JSON object a line, with the record's extra fields, and secrets masked.

Tokens are never passed to a logger on purpose; the mask is the second line of defence, for the text of an
exception or a URL that happens to carry one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

_SECRET = re.compile(r"\b(xox[abposr]-|xapp-)[A-Za-z0-9-]+|(?i:(signature|token|secret)=)[^&\s\"]+")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def mask(text: str) -> str:
    """The text with Slack tokens and `token=`/`secret=`/`signature=` values replaced by `***`."""
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2) + "=") + "***", text)


class JsonFormatter(logging.Formatter):
    """`{"ts":..., "level":..., "logger":..., "msg":..., <extra fields>}` with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return mask(json.dumps(doc, default=str))


def setup(level: int = logging.INFO) -> None:
    """Send the `trail_audit` loggers to stderr as JSON lines (once per process)."""
    logger = logging.getLogger("trail_audit")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
