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
# pex's abbreviated platform: PLATFORM-IMPL-PYVER-ABI, e.g. `manylinux2014_x86_64-cp-39-cp39`.
_ABBREVIATED_PLATFORM = re.compile(
    r"(?P<platform>[a-z0-9_.]+)-(?P<impl>cp|pp)-(?P<version>\d{2,}|\d+(\.\d+)+)-(?P<abi>[a-z0-9_]+)"
)
_IMPLEMENTATIONS = {"cp": "CPython", "pp": "PyPy"}
_TAG = re.compile(r"[a-z0-9_.]+-[a-z0-9_.]+-[a-z0-9_.]+")
_PYTHON_VERSION = re.compile(r"\d+\.\d+(\.\d+)?[a-z0-9.+]*")


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
class AbbreviatedPlatform:
    """A pex abbreviated platform (a release's `platforms` entry), read as pex reads it."""

    value: str  # As written, e.g. `macosx_11_0_arm64-cp-3.12.1-cp312`.
    platform: str  # e.g. `manylinux2014_x86_64`
    implementation: str  # `CPython` or `PyPy`
    python: tuple[int, int]  # (major, minor): pex reads `39` as 3.9, `312` and `3.12.1` as 3.12.
    abi: str

    @classmethod
    def parse(cls, value: str) -> AbbreviatedPlatform:
        match = _ABBREVIATED_PLATFORM.fullmatch(value)
        if not match:
            raise ValueError(f"{value!r} is not a pex platform (PLATFORM-IMPL-PYVER-ABI)")
        version = match["version"]
        major, minor = version.split(".")[:2] if "." in version else (version[0], version[1:])
        return cls(value, match["platform"], _IMPLEMENTATIONS[match["impl"]], (int(major), int(minor)), match["abi"])

    @property
    def tag(self) -> str:
        """Its most specific wheel tag, e.g. `cp39-cp39-manylinux2014_x86_64`."""
        impl = next(short for short, name in _IMPLEMENTATIONS.items() if name == self.implementation)
        return f"{impl}{self.python[0]}{self.python[1]}-{self.abi}-{self.platform.replace('.', '_')}"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CompletePlatform:
    """A `complete_platforms` file the release was built for, summarized (pex reads the whole file)."""

    file: str  # Its path in the source repository.
    sha256: str  # Of the file's bytes.
    implementation: str  # `CPython`, `PyPy`: the file's `platform_python_implementation`.
    python_version: str  # The file's `python_full_version`, e.g. `3.9.18`.
    tag: str  # Its most specific compatible wheel tag (the file's first), e.g. `cp39-cp39-manylinux_2_35_x86_64`.

    @classmethod
    def from_json(cls, file: str, data: bytes) -> CompletePlatform:
        """The summary of a complete platform JSON file, as `pex3 interpreter inspect --markers --tags` writes it."""
        try:
            parsed = json.loads(data)
            markers = parsed["marker_environment"]
            platform = cls(
                file=file,
                sha256=hashlib.sha256(data).hexdigest(),
                implementation=_str(markers["platform_python_implementation"]),
                python_version=_str(markers["python_full_version"]),
                tag=_str(parsed["compatible_tags"][0]),
            )
            platform.check()
            return platform
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ValueError(
                f"{file} is not a complete platform ({type(e).__name__}: {e}): write it with "
                "`pex3 interpreter inspect --markers --tags --indent 2` on a host of that platform."
            ) from None

    def check(self) -> None:
        if not (
            self.implementation.isalpha()
            and _PYTHON_VERSION.fullmatch(self.python_version)
            and _TAG.fullmatch(self.tag)
        ):
            raise ValueError(
                f"{self.file} does not name a Python implementation, version and wheel tag: "
                f"{self.implementation!r}, {self.python_version!r}, {self.tag!r}"
            )

    @property
    def python(self) -> tuple[int, int]:
        major, minor = self.python_version.split(".")[:2]
        return int(major), int(minor)

    def __str__(self) -> str:
        return f"{self.tag} ({self.implementation} {self.python_version}, {self.file} sha256:{self.sha256[:16]})"


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
    # Optional in schema 1: absent from manifests without complete platforms (older pexruns ignore it).
    complete_platforms: tuple[CompletePlatform, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    single_file: Blob | None = None
    schema: int = SCHEMA

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return tuple(b for b in (self.deps, self.sources, self.single_file) if b is not None)

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """The most specific wheel tag of each platform it was built for; none when it was built
        for the build host's interpreter."""
        return (
            *(AbbreviatedPlatform.parse(p).tag for p in self.platforms),
            *(p.tag for p in self.complete_platforms),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # Optional keys stay out when unset, so manifests without them keep their bytes.
        for optional in ("single_file", "complete_platforms"):
            if not data[optional]:
                del data[optional]
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
                platforms=tuple(_platform(p) for p in data.get("platforms", ())),
                complete_platforms=tuple(_complete_platform(p) for p in data.get("complete_platforms", ())),
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


def _platform(value: Any) -> str:
    AbbreviatedPlatform.parse(_str(value))
    return value


def _complete_platform(data: Any) -> CompletePlatform:
    platform = CompletePlatform(
        file=_str(data["file"]),
        sha256=_sha256(data["sha256"]),
        implementation=_str(data["implementation"]),
        python_version=_str(data["python_version"]),
        tag=_str(data["tag"]),
    )
    platform.check()
    return platform


def _sha256(value: Any) -> str:
    sha256 = _str(value)
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 hex digest")
    return sha256


def _blob(data: Any) -> dict[str, Any]:
    sha256 = _sha256(data["sha256"])
    size = data["size"]
    if not isinstance(size, int) or size < 0:
        raise TypeError(f"expected a size in bytes, got {size!r}")
    return {"file": _str(data["file"]), "sha256": sha256, "size": size}
