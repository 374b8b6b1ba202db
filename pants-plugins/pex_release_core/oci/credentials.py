# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Registry credentials, as `docker login` and `podman login` store them, kept out of every message."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pex_release_core.oci.reference import DOCKER_HUB, DOCKER_HUB_ALIASES, RegistryError, Repository
from pex_release_core.redaction import remember_secrets


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # the auth file they come from


@dataclass(frozen=True)
class CredentialLookup:
    credentials: Credentials | None
    source: str | None  # the auth file read, if any
    helper: str | None  # a credential helper the file names for the host, which this tool does not run


def auth_file() -> Path | None:
    """REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json; None if absent."""
    named = os.environ.get("REGISTRY_AUTH_FILE")
    if named:
        if not Path(named).is_file():
            raise RegistryError(f"REGISTRY_AUTH_FILE names {named}, which is not a file: fix or unset it")
        return Path(named)
    docker_config = os.environ.get("DOCKER_CONFIG")
    path = Path(docker_config) / "config.json" if docker_config else Path.home() / ".docker" / "config.json"
    return path if path.is_file() else None


def _registry_key(key: str) -> str:
    """An `auths` key as docker writes it (host, https://host, https://index.docker.io/v1/) -> host."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def find_credentials(repository: Repository) -> CredentialLookup:
    path = auth_file()
    if path is None:
        return CredentialLookup(None, None, None)
    try:
        config = json.loads(path.read_text())
        auths = config.get("auths") or {}
        entry = next((v for k, v in auths.items() if _registry_key(k) == repository.host), None)
        helper = (config.get("credHelpers") or {}).get(repository.host) or config.get("credsStore")
    except (OSError, ValueError, AttributeError):
        raise RegistryError(f"cannot read the registry credentials in {path}: it is not a JSON auth file") from None
    if not entry or not isinstance(entry, dict):
        return CredentialLookup(None, str(path), helper)
    if entry.get("auth"):
        try:
            username, colon, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, TypeError):
            colon = ""
        if not colon:
            raise RegistryError(
                f"{path}: auths.{repository.host}.auth is not base64 of user:password; run `docker login {repository.host}`"
            )
    elif entry.get("username") and entry.get("password"):
        username, password = entry["username"], entry["password"]
    else:
        return CredentialLookup(None, str(path), helper)
    # Kept out of every message this tool prints (redaction.redact_text).
    remember_secrets(password, entry.get("auth"), base64.b64encode(f"{username}:{password}".encode()).decode())
    return CredentialLookup(Credentials(username, password, str(path)), str(path), helper)
