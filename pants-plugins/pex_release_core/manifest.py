# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The release manifest: the JSON document that names a release's PEXes and their blobs.

Pure Python (3.9+, standard library only): the Pants plugin writes manifests, and the publisher and
`pexrun` read them, all through this one module.

Schema 2 describes each PEX either as one file (the zipapp layout) or as a tree (the packed and
loose layouts: a directory): every file with its path, sha256, size and mode, and every symlink with
its target. Every file is a blob, stored by its sha256, so releases share the bytes they have in
common: pex's `.bootstrap`, each wheel, each unchanged source file. Paths are checked here, where
every manifest is built or read, so a reader that writes `<root>/<path>` for each entry, in order,
never writes outside `<root>`, and no symlink it writes leads outside it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

SCHEMA = 2

LAYOUTS = ("packed", "loose", "zipapp")  # pex's `--layout`: the first two are trees, zipapp one file
TREE_FILE_MODES = ("0644", "0755")  # Pants digests record only whether a file is executable.
# The most symlinks one path may go through, as on Linux (MAXSYMLINKS; more is ELOOP): a tree's
# symlink that needs more, a loop included, is refused.
MAX_SYMLINKS = 40

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
    sha256: str  # Of the artifact the lockfile pins: the wheel the deps PEX holds, or the sdist pex built it from.
    file: str  # That artifact's file name.


@dataclass(frozen=True)
class Blob:
    """Bytes stored under their sha256: a zipapp PEX, or one file of a tree."""

    file: str  # Relative to the manifest's directory: `<pex>` or `<pex>/<path in its tree>`.
    sha256: str
    size: int


@dataclass(frozen=True)
class TreeFile:
    path: str  # Relative to the tree's root, `/`-separated.
    sha256: str
    size: int
    mode: str = "0644"  # One of TREE_FILE_MODES.

    @property
    def executable(self) -> bool:
        return self.mode == "0755"


@dataclass(frozen=True)
class TreeSymlink:
    path: str
    target: str  # Relative to the link's directory, and inside the tree.


def tree_sha256(files: tuple[TreeFile, ...], symlinks: tuple[TreeSymlink, ...]) -> str:
    """The identity of a tree: a hash over its entries, sorted by path."""
    lines = [
        *((f.path, f"file {f.path}\0{f.sha256}\0{f.mode}\n") for f in files),
        *((s.path, f"link {s.path}\0{s.target}\n") for s in symlinks),
    ]
    return hashlib.sha256("".join(line for _, line in sorted(lines)).encode()).hexdigest()


@dataclass(frozen=True)
class ReleasePex:
    """One PEX of the release: a zipapp file, or a tree of files and symlinks."""

    file: str  # Its name in the manifest's directory (a directory for a tree).
    layout: str  # One of LAYOUTS.
    sha256: str  # A zipapp's sha256, or a tree's `tree_sha256`.
    size: int  # A zipapp's size, or the sum of a tree's file sizes.
    files: tuple[TreeFile, ...] = ()
    symlinks: tuple[TreeSymlink, ...] = ()

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def tree(
        cls, file: str, layout: str, files: tuple[TreeFile, ...], symlinks: tuple[TreeSymlink, ...] = (), **extra: Any
    ) -> ReleasePex:
        """A tree, with its digest and size computed from its entries (sorted by path)."""
        files = tuple(sorted(files, key=lambda f: f.path))
        symlinks = tuple(sorted(symlinks, key=lambda s: s.path))
        return cls(
            file=file,
            layout=layout,
            sha256=tree_sha256(files, symlinks),
            size=sum(f.size for f in files),
            files=files,
            symlinks=symlinks,
            **extra,
        )

    @property
    def is_tree(self) -> bool:
        return self.layout != "zipapp"

    @property
    def blobs(self) -> tuple[Blob, ...]:
        if not self.is_tree:
            return (Blob(self.file, self.sha256, self.size),)
        return tuple(Blob(f"{self.file}/{f.path}", f.sha256, f.size) for f in self.files)

    def check(self) -> None:
        """Raises ValueError naming what is wrong: a bad name, path, symlink, digest or size."""
        _check_component(self.file, "PEX file name")
        if self.layout not in LAYOUTS:
            raise ValueError(f"{self.file}: layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        _sha256(self.sha256)
        _size(self.size)
        if not self.is_tree:
            if self.files or self.symlinks:
                raise ValueError(f"{self.file}: a zipapp PEX is one file; it lists no files or symlinks")
            return
        _check_tree(self.file, self.files, self.symlinks)
        if (self.sha256, self.size) != (tree_sha256(self.files, self.symlinks), sum(f.size for f in self.files)):
            raise ValueError(
                f"{self.file}: its sha256 {self.sha256} and size {self.size} are not the digest and total size "
                "of the files and symlinks it lists"
            )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.is_tree:
            del data["files"], data["symlinks"]
        return data


@dataclass(frozen=True)
class DepsPex(ReleasePex):
    subset_key: str = ""
    distributions: tuple[Distribution, ...] = ()

    def wheel_mismatches(self) -> tuple[tuple[str, str, str], ...]:
        """(path, sha256 the lockfile pins, the file's sha256) of each `.deps/` wheel that differs
        from the artifact the lockfile pins under its name; wheels pex built from an sdist have none."""
        locked = {d.file: d.sha256 for d in self.distributions}
        return tuple(
            (f.path, locked[name], f.sha256)
            for f in self.files
            for directory, name in [posixpath.split(f.path)]
            if directory == ".deps" and name in locked and locked[name] != f.sha256
        )


def _check_component(name: Any, what: str) -> None:
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or not _printable_path(name):
        raise ValueError(f"{name!r} is not a valid {what}: one path component, printable, not `.` or `..`")


def _printable_path(path: str) -> bool:
    return path.isprintable() and "\\" not in path


def _check_path(pex: str, path: Any, what: str) -> None:
    if not isinstance(path, str) or not path or not _printable_path(path):
        raise ValueError(f"{pex}: the {what} path {path!r} is empty or has a control character or backslash")
    if path.startswith("/") or posixpath.normpath(path) != path or ".." in path.split("/"):
        raise ValueError(f"{pex}: the {what} path {path!r} is not a normalized relative path inside the PEX")


def _check_tree(pex: str, files: tuple[TreeFile, ...], symlinks: tuple[TreeSymlink, ...]) -> None:
    for f in files:
        _check_path(pex, f.path, "file")
        _sha256(f.sha256)
        _size(f.size)
        if f.mode not in TREE_FILE_MODES:
            raise ValueError(f"{pex}: {f.path} has mode {f.mode!r}, not one of {', '.join(TREE_FILE_MODES)}")
    for s in symlinks:
        _check_path(pex, s.path, "symlink")
        target = s.target
        if not isinstance(target, str) or not target or not _printable_path(target) or target.startswith("/"):
            raise ValueError(f"{pex}: the symlink {s.path} points to {target!r}, which is not a relative path")
    paths = sorted([*(f.path for f in files), *(s.path for s in symlinks)])
    for path, following in zip(paths, paths[1:]):
        if following == path or following.startswith(path + "/"):
            # Two entries at one path, or an entry below a file or symlink (writing it would follow the link).
            raise ValueError(f"{pex}: {following} is listed below or at {path}, which is a file or symlink")
    _check_symlink_resolution(pex, {s.path: s.target for s in symlinks})


def _check_symlink_resolution(pex: str, targets: Mapping[str, str]) -> None:
    """Refuses a symlink that leads outside its tree, or through more than MAX_SYMLINKS symlinks.

    Each target is resolved as the kernel resolves it, one component at a time, against the tree
    as a whole: a component that is one of the tree's symlinks leads where that one leads. A target
    checked on its own is not enough: with `a/b/up -> ../..`, `escape -> a/b/up/../..` stays in the
    tree as text, yet leads two levels above it. Any other component is taken as a directory: no
    less strict than the kernel, which stops at a file or a missing one.
    """
    leads_to: dict[str, tuple[tuple[str, ...], int]] = {}  # each link resolved: where, through how many links

    def resolve(link: str, budget: int) -> tuple[str, ...] | None:
        """Where link leads, or None if that takes more than `budget` links (itself included). A link that
        leads out of the tree, in itself or through those it follows, is refused naming them."""
        if link not in leads_to:
            at, used = link.split("/")[:-1], 1
            followed: list[str] = []  # the other links on the way, for the error
            for name in targets[link].split("/"):
                if name == "..":
                    if not at:
                        via = f" through {', '.join(f'{p} -> {targets[p]!r}' for p in followed)}" if followed else ""
                        raise ValueError(f"{pex}: the symlink {link} points to {targets[link]!r}, outside the PEX{via}")
                    at.pop()
                elif name not in ("", "."):
                    at.append(name)
                    path = "/".join(at)
                    if path in targets:
                        followed.append(path)
                        resolved = resolve(path, budget - used) if used < budget else None
                        if resolved is None:
                            return None
                        at, used = list(resolved), used + leads_to[path][1]
            leads_to[link] = (tuple(at), used)
        where, used = leads_to[link]
        return where if used <= budget else None

    for link, target in targets.items():
        if resolve(link, MAX_SYMLINKS) is None:
            raise ValueError(
                f"{pex}: the symlink {link} points to {target!r}, and resolving it follows more than {MAX_SYMLINKS} "
                "symlinks (a loop, or a chain longer than Linux follows)"
            )


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
    deps: DepsPex
    sources: ReleasePex
    scripts: Mapping[str, str] = field(default_factory=dict)
    interpreter_constraints: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    # Optional in schema 1: absent from manifests without complete platforms (older pexruns ignore it).
    complete_platforms: tuple[CompletePlatform, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    single_file: ReleasePex | None = None  # A zipapp.
    # The CycloneDX SBOM of the app and its deps PEX's distributions (`<app>.cdx.json`); absent from
    # releases built before pex-release wrote one (older pexruns ignore it).
    sbom: Blob | None = None
    schema: int = SCHEMA

    @property
    def pexes(self) -> tuple[ReleasePex, ...]:
        return tuple(p for p in (self.deps, self.sources, self.single_file) if p is not None)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Every blob of the release, once each (the first file with those bytes names it)."""
        by_sha256: dict[str, Blob] = {}
        for pex in self.pexes:
            for blob in pex.blobs:
                by_sha256.setdefault(blob.sha256, blob)
        if self.sbom is not None:
            by_sha256.setdefault(self.sbom.sha256, self.sbom)
        return tuple(by_sha256.values())

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
        data.update((role, pex.to_json()) for role, pex in (("deps", self.deps), ("sources", self.sources)))
        # Optional keys stay out when unset, so manifests without them keep their bytes.
        if self.single_file:
            data["single_file"] = self.single_file.to_json()
        for optional in ("single_file", "complete_platforms", "sbom"):
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
        except RecursionError:
            raise ManifestError(f"{origin} is not a release manifest: its JSON nests deeper than Python's parser allows.") from None
        return cls.from_json(parsed, origin=origin)

    @classmethod
    def from_json(cls, data: Any, *, origin: str) -> ReleaseManifest:
        if not isinstance(data, dict):
            raise ManifestError(f"{origin} is not a release manifest: expected a JSON object.")
        schema = data.get("schema")
        if schema == 1:
            raise ManifestError(
                f"{origin} has manifest schema 1, written by an older pex-release that published whole PEX files; "
                f"this version reads schema {SCHEMA} (release trees). Rebuild and publish the release with this "
                "pex-release (`./pants publish`), or run it with the pexrun of the pex-release that published it."
            )
        if schema != SCHEMA:
            raise ManifestError(
                f"{origin} has manifest schema {schema!r}; this version of pex-release reads "
                f"schema {SCHEMA}. Upgrade pexrun (or rebuild the release) so the two match."
            )
        try:
            single_file = data.get("single_file")
            sbom = data.get("sbom")
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
                deps=DepsPex(
                    **_pex(data["deps"]),
                    subset_key=_sha256(data["deps"]["subset_key"]),
                    distributions=tuple(
                        Distribution(
                            name=_str(d["name"]), version=_str(d["version"]), sha256=_sha256(d["sha256"]), file=_str(d["file"])
                        )
                        for d in _list(data["deps"]["distributions"])
                    ),
                ),
                sources=ReleasePex(**_pex(data["sources"])),
                single_file=ReleasePex(**_pex(single_file)) if single_file is not None else None,
                sbom=_sbom(sbom) if sbom is not None else None,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ManifestError(f"{origin} does not follow manifest schema {SCHEMA}: {type(e).__name__}: {e}") from None


def _sbom(data: Any) -> Blob:
    file = _str(data["file"])
    _check_component(file, "SBOM file")  # a plain file name beside the manifest
    return Blob(file=file, sha256=_sha256(data["sha256"]), size=_size(data["size"]))


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


def _size(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a size in bytes, got {value!r}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return value


def _pex(data: Any) -> dict[str, Any]:
    """The fields of a ReleasePex; constructing it checks them."""
    return {
        "file": _str(data["file"]),
        "layout": _str(data["layout"]),
        "sha256": _str(data["sha256"]),
        "size": data["size"],
        "files": tuple(
            TreeFile(path=_str(f["path"]), sha256=_str(f["sha256"]), size=f["size"], mode=_str(f["mode"]))
            for f in _list(data.get("files", []))
        ),
        "symlinks": tuple(TreeSymlink(path=_str(s["path"]), target=_str(s["target"])) for s in _list(data.get("symlinks", []))),
    }
