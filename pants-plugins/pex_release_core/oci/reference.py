# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Registry references, checked against the distribution spec's grammar: `HOST[:PORT]/NAME`,
`[:TAG]`, `@sha256:<hex>`. The Pants rules check the fields with these, where no registry is reached."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pex_release_core.oci.model import DIGEST_PATTERN, ImageError
from pex_release_core.oci.model import check_tag as check_image_tag

# The distribution spec's grammar (distribution/reference), sha256 digests only.
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"(?P<host>{_HOST})/(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)")
# Docker Hub's API and credential names for the docker.io in references.
DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")


class RegistryError(Exception):
    """A failure with a message for the user: what, which reference, and the fix."""


class InvalidReference(RegistryError, ValueError):
    """A repository, reference or tag that the distribution spec does not allow."""


def check_tag(tag: str) -> None:
    """The image builder's tag rule (`oci.check_tag`), as a reference error."""
    try:
        check_image_tag(tag)
    except ImageError as e:
        raise InvalidReference(str(e)) from None


@dataclass(frozen=True)
class Repository:
    host: str  # as written: HOST[:PORT]
    name: str  # path components: acme/api

    @classmethod
    def parse(cls, text: str, what: str = "repository") -> "Repository":
        match = _REPOSITORY.fullmatch(text)
        host = text.split("/", 1)[0]
        if not match or not ("." in host or ":" in host or host == "localhost"):
            raise InvalidReference(
                f"{what} {text!r} is not HOST[:PORT]/NAME: it must start with the registry's host "
                "(e.g. registry.example.com/acme/api, localhost:5000/api, docker.io/library/python), "
                "then lowercase path components"
            )
        return cls(match["host"], match["name"])

    @property
    def hostname(self) -> str:
        host = self.host.rsplit(":", 1)[0] if not self.host.endswith("]") else self.host
        return host.strip("[]")

    @property
    def api_host(self) -> str:
        return _DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def is_loopback(self) -> bool:
        if self.hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.hostname).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"


@dataclass(frozen=True)
class Reference:
    repository: Repository
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str, *, require_digest: bool = True) -> "Reference":
        rest, at, digest = text.partition("@")
        if not at and require_digest:
            raise InvalidReference(
                f"reference {text!r} has no digest: pin it as {text}@sha256:<hex> (`skopeo inspect "
                "docker://REF` prints it), since a tag moves and the image would not be reproducible"
            )
        if at and not DIGEST_PATTERN.fullmatch(digest):
            raise InvalidReference(f"reference {text!r}: the digest must be sha256: and 64 lowercase hex digits")
        name, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:
            name, tag = rest, None
        if tag is not None:
            check_tag(tag)
        return cls(Repository.parse(name, "reference"), tag, digest or None)

    def __str__(self) -> str:
        return f"{self.repository}{':' + self.tag if self.tag else ''}{'@' + self.digest if self.digest else ''}"
