"""One-line JSON logs, so every service's output can be parsed the same way."""

from __future__ import annotations

import json
import logging
import sys

from libs.common.settings import Settings


class JsonFormatter(logging.Formatter):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._static = {"service": settings.service, "env": settings.environment, "release": settings.release}

    def format(self, record: logging.LogRecord) -> str:
        entry = {**self._static, "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, sort_keys=True)


def configure_logging(settings: Settings, stream=None) -> logging.Logger:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(settings))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    return logging.getLogger(settings.service)
