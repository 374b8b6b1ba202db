"""Typed service settings read from environment variables, so one release runs in every environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    service: str
    environment: str
    log_level: str
    release: str

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        log_level = env.get("ACME_LOG_LEVEL", "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(
                f"ACME_LOG_LEVEL={log_level!r} is not one of DEBUG, INFO, WARNING, ERROR."
            )
        return cls(
            service=service,
            environment=env.get("ACME_ENV", "dev"),
            log_level=log_level,
            # pexrun exports the release it runs; a bare PEX or a source checkout reports "dev".
            release=env.get("PEXRUN_VERSION", "dev"),
        )
