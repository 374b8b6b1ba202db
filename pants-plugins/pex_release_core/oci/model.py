# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""OCI images without a daemon: the model (media types, platforms, descriptors, images) that the
other modules of this package share. `reading` reads a base image from an OCI layout, `filesystem`
walks an image's files, `writing` writes layers and images; `reference`, `credentials`, `registry`
and `transfers` are the registry client.

An OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):

    oci-layout                  {"imageLayoutVersion": "1.0.0"}
    index.json                  the image index: one manifest descriptor per tag
    blobs/sha256/<hex>          manifests, configs and layers, named by the sha256 of their bytes

What this package writes is byte-reproducible: layers are tars with sorted entries, fixed times,
owners and modes, gzipped with a fixed header; JSON is written with sorted keys and compact
separators. So equal inputs give the same image digest on any machine. Reading also accepts
Docker's schema 2 manifests, manifest lists and layers (as skopeo and registries hand them out).
Pure Python 3.9+ with the standard library (the registry client: oras-py and requests, where it
uses them): the image builder (the sandbox program `build_image`, run with the release's Python)
and the registry tool share it.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
UNCOMPRESSED_LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest"

MANIFEST_MEDIA_TYPES = frozenset({MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE})
INDEX_MEDIA_TYPES = frozenset({INDEX_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE})
# Layer media types as an OCI manifest names them: Docker's gzipped layer is the same bytes.
OCI_LAYER_MEDIA_TYPES = {
    LAYER_MEDIA_TYPE: LAYER_MEDIA_TYPE,
    UNCOMPRESSED_LAYER_MEDIA_TYPE: UNCOMPRESSED_LAYER_MEDIA_TYPE,
    DOCKER_LAYER_MEDIA_TYPE: LAYER_MEDIA_TYPE,
}

# The distribution spec's tag grammar (https://github.com/opencontainers/distribution-spec, "Pulling manifests").
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")


class ImageError(Exception):
    """A user-facing message naming the image (reference or file), what is wrong, and the fix."""


def check_tag(tag: str) -> None:
    if not _TAG.fullmatch(tag):
        raise ImageError(
            f"{tag!r} is not a valid image tag: a tag is 1 to 128 characters, letters, digits, `_`, `.` and `-`, "
            "and does not start with `.` or `-` (the distribution spec's [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}). "
            "To fix, change the tag, e.g. `1.4.0` or `1.4.0-py312`."
        )


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def source_date_epoch() -> int:
    """The time that layers and configs record: SOURCE_DATE_EPOCH (reproducible-builds.org), else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not value.isdigit():
        raise ImageError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds; to fix, set it to e.g. `0`.")
    return int(value)


# --- Platforms ------------------------------------------------------------------------------------

# platform.machine() names of the CPUs, as OCI names them (GOARCH, variant).
_MACHINES = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", None),
    "arm64": ("arm64", None),
    "armv7l": ("arm", "v7"),
    "i686": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: Optional[str] = None

    @classmethod
    def parse(cls, s: str) -> Platform:
        parts = s.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ImageError(f"{s!r} is not a platform: write os/architecture[/variant], e.g. `linux/amd64`.")
        return cls(*parts)

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        architecture, variant = _MACHINES.get(machine, (machine, None))
        return cls(_platform.system().lower(), architecture, variant)

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Platform:
        """The platform of an image config, or of an index entry's `platform`."""
        return cls(str(spec.get("os", "?")), str(spec.get("architecture", "?")), spec.get("variant") or None)

    def matches(self, other: Platform) -> bool:
        """Whether an image for `other` runs here; a variant counts only when both name one (arm64 is v8)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        mine, theirs = self._variant(), other._variant()
        return mine is None or theirs is None or mine == theirs

    def _variant(self) -> Optional[str]:
        return self.variant or ("v8" if self.architecture == "arm64" else None)

    def to_json(self) -> dict[str, str]:
        spec = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            spec["variant"] = self.variant
        return spec

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


# --- The model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    @classmethod
    def from_json(cls, value: Mapping[str, Any], *, what: str) -> Descriptor:
        try:
            descriptor = cls(str(value["mediaType"]), str(value["digest"]), int(value["size"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ImageError(f"{what} is not a valid descriptor ({e!r} in {value!r}).") from None
        if not DIGEST_PATTERN.fullmatch(descriptor.digest):
            raise ImageError(f"{what} has digest {descriptor.digest!r}; only sha256 digests are supported.")
        return descriptor

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Layer:
    descriptor: Descriptor
    diff_id: str  # the sha256 of the uncompressed tar, as the config's rootfs.diff_ids lists it
    created_by: str  # the history entry's text


@dataclass(frozen=True)
class OciImage:
    reference: str  # what the user wrote (for messages)
    blobs: Path  # the blobs/sha256 directory holding its blobs
    manifest: Descriptor
    config: Mapping[str, Any]  # the parsed config JSON
    layers: tuple[Descriptor, ...]
    # The directory a tarball was extracted into when read_image made one: removed when the image
    # is garbage collected.
    _extracted: Any = field(default=None, repr=False, compare=False)

    @property
    def platform(self) -> Platform:
        return Platform.of(self.config)

    @property
    def env(self) -> dict[str, str]:
        pairs = (entry.partition("=") for entry in self.config.get("config", {}).get("Env") or ())
        return {name: value for name, _, value in pairs}

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(self.config.get("rootfs", {}).get("diff_ids", ()))

    @property
    def history(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.config.get("history", ()))

    def blob(self, descriptor: Descriptor) -> Path:
        return self.blobs / descriptor.hex
