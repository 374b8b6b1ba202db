# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The release manifest: the JSON document that names a release's blobs.

Pure Python (3.9+, standard library only): the Pants plugin writes manifests, and the publisher and
`pexrun` read them, all through this one module.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

SCHEMA = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")


def printable(text: str) -> str:
    """text with its non-printable characters escaped (`\\x1b`, `\\n`, `\\u202e`): a manifest's fields
    come from whoever published it, and must not drive the terminal that shows them."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ManifestError(ValueError):
    """A manifest that is not valid JSON or does not follow the schema."""


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    sha256: str  # Of the artifact (wheel or sdist) the lockfile pins and the deps PEX holds.


@dataclass(frozen=True)
class Blob:
    """A PEX file of the release, stored by its sha256."""

    file: str  # Relative to the manifest's directory.
    sha256: str
    size: int


@dataclass(frozen=True)
class DepsBlob(Blob):
    subset_key: str = ""
    distributions: tuple[Distribution, ...] = ()


@dataclass(frozen=True)
class ReleaseManifest:
    app: str
    version: str
    revision: str
    entry_point: str  # `module[:func]`, or the console script name when `script` is set.
    deps: DepsBlob
    sources: Blob
    scripts: Mapping[str, str] = field(default_factory=dict)
    interpreter_constraints: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    single_file: Blob | None = None
    schema: int = SCHEMA

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return tuple(b for b in (self.deps, self.sources, self.single_file) if b is not None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.single_file is None:
            del data["single_file"]
        return data

    def dumps(self) -> bytes:
        """The canonical bytes: sorted keys, so equal manifests are byte-identical."""
        return (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.dumps()).hexdigest()

    @classmethod
    def loads(cls, data: bytes | str, *, origin: str) -> ReleaseManifest:
        try:
            parsed = json.loads(data)
        except ValueError as e:
            raise ManifestError(f"{origin} is not valid JSON: {e}") from None
        return cls.from_json(parsed, origin=origin)

    @classmethod
    def from_json(cls, data: Any, *, origin: str) -> ReleaseManifest:
        if not isinstance(data, dict):
            raise ManifestError(f"{origin} is not a release manifest: expected a JSON object.")
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ManifestError(
                f"{origin} has manifest schema {schema!r}; this version of pex-release reads "
                f"schema {SCHEMA}. Upgrade pexrun (or rebuild the release) so the two match."
            )
        try:
            single_file = data.get("single_file")
            return cls(
                schema=schema,
                app=_str(data["app"]),
                version=_str(data["version"]),
                revision=_str(data["revision"]),
                entry_point=_str(data["entry_point"]),
                scripts={_str(k): _str(v) for k, v in data.get("scripts", {}).items()},
                interpreter_constraints=tuple(_str(c) for c in data.get("interpreter_constraints", ())),
                platforms=tuple(_str(p) for p in data.get("platforms", ())),
                env={_str(k): _str(v) for k, v in data.get("env", {}).items()},
                args=tuple(_str(a) for a in data.get("args", ())),
                deps=DepsBlob(
                    **_blob(data["deps"]),
                    subset_key=_str(data["deps"]["subset_key"]),
                    distributions=tuple(
                        Distribution(name=_str(d["name"]), version=_str(d["version"]), sha256=_str(d["sha256"]))
                        for d in data["deps"]["distributions"]
                    ),
                ),
                sources=Blob(**_blob(data["sources"])),
                single_file=Blob(**_blob(single_file)) if single_file is not None else None,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ManifestError(f"{origin} does not follow manifest schema {SCHEMA}: {type(e).__name__}: {e}") from None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _blob(data: Any) -> dict[str, Any]:
    sha256 = _str(data["sha256"])
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 hex digest")
    size = data["size"]
    if not isinstance(size, int) or size < 0:
        raise TypeError(f"expected a size in bytes, got {size!r}")
    return {"file": _str(data["file"]), "sha256": sha256, "size": size}
