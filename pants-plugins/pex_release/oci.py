# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""OCI images without a daemon: read a base image from an OCI layout, write layers and images.

An OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):

    oci-layout                  {"imageLayoutVersion": "1.0.0"}
    index.json                  the image index: one manifest descriptor per tag
    blobs/sha256/<hex>          manifests, configs and layers, named by the sha256 of their bytes

What this module writes is byte-reproducible: layers are tars with sorted entries, fixed times,
owners and modes, gzipped with a fixed header; JSON is written with sorted keys and compact
separators. So equal inputs give the same image digest on any machine. Reading also accepts
Docker's schema 2 manifests, manifest lists and layers (as skopeo and registries hand them out).
Pure Python 3.9+ with the standard library: the image builder (build_image.py, run with the
release's Python) and the registry client share this module.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform as _platform
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

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
_OCI_LAYER_MEDIA_TYPES = {
    LAYER_MEDIA_TYPE: LAYER_MEDIA_TYPE,
    UNCOMPRESSED_LAYER_MEDIA_TYPE: UNCOMPRESSED_LAYER_MEDIA_TYPE,
    DOCKER_LAYER_MEDIA_TYPE: LAYER_MEDIA_TYPE,
}

# The distribution spec's tag grammar (https://github.com/opencontainers/distribution-spec, "Pulling manifests").
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
_CHUNK_BYTES = 1 << 20
# What a shell searches when the image's config sets no PATH (Docker's and Podman's default).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# As Linux gives up on a path (ELOOP).
_MAX_SYMLINK_HOPS = 40
_GZIP_LEVEL = 6
_WHITEOUT = ".wh."
_OPAQUE_WHITEOUT = ".wh..wh..opq"


class ImageError(Exception):
    """A user-facing message naming the image (reference or file), what is wrong, and the fix."""


def check_tag(tag: str) -> None:
    if not _TAG.fullmatch(tag):
        raise ImageError(
            f"{tag!r} is not a valid image tag: a tag is 1 to 128 characters, letters, digits, `_`, `.` and `-`, "
            "and does not start with `.` or `-` (the distribution spec's [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}). "
            "To fix, change the tag, e.g. `1.4.0` or `1.4.0-py312`."
        )


def _json_bytes(value: Any) -> bytes:
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


# --- Reading --------------------------------------------------------------------------------------


def _reference_tag_and_digest(reference: str) -> tuple[Optional[str], Optional[str]]:
    """`host:5000/repo:tag@sha256:...` -> (tag, digest); a path without `:TAG` has neither."""
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    return (last.rpartition(":")[2] if ":" in last else None), (digest or None)


def _layout_error(reference: str, path: Path, problem: str) -> ImageError:
    return ImageError(
        f"Base image {reference}: {path} {problem}. To fix, point to an OCI image layout directory or a "
        "tarball of one (e.g. made with `skopeo copy docker://IMAGE oci:DIR:TAG` or `oci-archive:FILE:TAG`)."
    )


def _extract_layout(tarball: Path, into: Path, reference: str) -> Path:
    """Extracts the regular files and directories of a layout tarball; refuses anything else."""
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                name = posixpath.normpath(member.name.lstrip("/"))
                if name == ".":
                    continue
                if name.startswith("../") or name == ".." or not (member.isfile() or member.isdir()):
                    raise _layout_error(reference, tarball, f"has an entry {member.name!r} that no image layout has")
                target = into / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK_BYTES)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise _layout_error(reference, tarball, f"is not a readable tarball ({e})") from None
    return into


def _verify_blob(layout: Path, descriptor: Descriptor, what: str, reference: str) -> Path:
    path = layout / "blobs" / "sha256" / descriptor.hex
    fix = "To fix, fetch or export the base image again."
    if not path.is_file():
        raise ImageError(f"Base image {reference}: {what} blob {descriptor.digest} is missing from {layout}. {fix}")
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    if (f"sha256:{digest.hexdigest()}", size) != (descriptor.digest, descriptor.size):
        raise ImageError(
            f"Base image {reference}: {what} blob {descriptor.digest} in {layout} is corrupt: its bytes have "
            f"sha256:{digest.hexdigest()} ({size} bytes), not {descriptor.digest} ({descriptor.size} bytes). {fix}"
        )
    return path


def _read_json_blob(layout: Path, descriptor: Descriptor, what: str, reference: str) -> Mapping[str, Any]:
    path = _verify_blob(layout, descriptor, what, reference)
    try:
        value = json.loads(path.read_bytes())
    except ValueError as e:
        raise ImageError(f"Base image {reference}: {what} blob {descriptor.digest} is not JSON ({e}).") from None
    if not isinstance(value, dict):
        raise ImageError(f"Base image {reference}: {what} blob {descriptor.digest} is not a JSON object.")
    return value


def _entry_names(entries: Sequence[Mapping[str, Any]]) -> str:
    names = [e.get("annotations", {}).get(REF_NAME_ANNOTATION) or e.get("digest", "?") for e in entries]
    return ", ".join(names)


def _pick_entry(index: Mapping[str, Any], reference: str, layout: Path) -> Mapping[str, Any]:
    """The index.json entry that `reference` names: by digest, else by tag, else the only one."""
    entries = index.get("manifests") or []
    tag, digest = _reference_tag_and_digest(reference)
    if digest:
        chosen = [e for e in entries if e.get("digest") == digest]
        wanted = f"the digest {digest}"
    elif tag and any(REF_NAME_ANNOTATION in e.get("annotations", {}) for e in entries):
        chosen = [e for e in entries if e.get("annotations", {}).get(REF_NAME_ANNOTATION) in (tag, reference)]
        wanted = f"the tag {tag!r}"
    else:
        # No tag asked for, or a layout without tag annotations (as a registry pull may write one).
        chosen, wanted = entries, "a tag"
    if len(chosen) == 1:
        return chosen[0]
    if not entries:
        raise _layout_error(reference, layout, "holds no image (its index.json lists no manifests)")
    if not chosen:
        raise ImageError(
            f"Base image {reference}: {layout} has no image with {wanted}; it has: {_entry_names(entries)}. "
            "To fix, name one of those in the reference (`...:TAG`)."
        )
    raise ImageError(
        f"Base image {reference}: {layout} holds {len(chosen)} images ({_entry_names(chosen)}), and the "
        "reference does not say which. To fix, add one's tag to the reference (`...:TAG`)."
    )


def _resolve_manifest(
    layout: Path, descriptor: Descriptor, platform: Platform, reference: str
) -> tuple[Descriptor, Mapping[str, Any]]:
    """The manifest for `platform`, following image indexes (multi-platform images)."""
    while descriptor.media_type in INDEX_MEDIA_TYPES:
        index = _read_json_blob(layout, descriptor, "image index", reference)
        entries = [e for e in index.get("manifests") or [] if isinstance(e.get("platform"), dict)]
        matching = [e for e in entries if platform.matches(Platform.of(e["platform"]))]
        if not matching:
            found = ", ".join(sorted({str(Platform.of(e["platform"])) for e in entries})) or "none"
            raise ImageError(
                f"Base image {reference} has no image for {platform}; it has images for: {found}. "
                f"To fix, use a base image built for {platform}, or build for one of those platforms."
            )
        descriptor = Descriptor.from_json(matching[0], what=f"Base image {reference}'s {platform} entry")
    if descriptor.media_type not in MANIFEST_MEDIA_TYPES:
        raise ImageError(
            f"Base image {reference}: manifest {descriptor.digest} has media type {descriptor.media_type!r}, "
            f"not an image manifest ({', '.join(sorted(MANIFEST_MEDIA_TYPES))})."
        )
    return descriptor, _read_json_blob(layout, descriptor, "manifest", reference)


def read_image(path: Path, *, reference: str, platform: Platform, extract_into: Optional[Path] = None) -> OciImage:
    """Reads and verifies the image `reference` names in an OCI layout directory or a tarball of one.

    A tarball is extracted into `extract_into` (which the caller then owns) or else into a temporary
    directory that lives as long as the returned image. Every blob the image uses is checked
    against its descriptor's size and sha256.
    """
    if not path.exists():
        raise _layout_error(reference, path, "does not exist")
    temporary = None
    if path.is_dir():
        layout = path
    elif tarfile.is_tarfile(path):
        if extract_into is None:
            temporary = tempfile.TemporaryDirectory(prefix="oci-layout-")
            extract_into = Path(temporary.name)
        layout = _extract_layout(path, extract_into, reference)
    else:
        raise _layout_error(reference, path, "is neither a directory nor a tarball")
    if not (layout / "oci-layout").is_file() or not (layout / "index.json").is_file():
        raise _layout_error(reference, path, "is not an OCI image layout (it has no oci-layout and index.json)")
    try:
        index = json.loads((layout / "index.json").read_bytes())
    except ValueError as e:
        raise _layout_error(reference, path, f"has an index.json that is not JSON ({e})") from None

    entry = _pick_entry(index, reference, path)
    descriptor = Descriptor.from_json(entry, what=f"Base image {reference}'s index.json entry")
    descriptor, manifest = _resolve_manifest(layout, descriptor, platform, reference)
    config_descriptor = Descriptor.from_json(manifest.get("config", {}), what=f"Base image {reference}'s config")
    config = _read_json_blob(layout, config_descriptor, "config", reference)
    image_platform = Platform.of(config)
    if not platform.matches(image_platform):
        raise ImageError(
            f"Base image {reference} is for {image_platform}, not {platform}. To fix, use a base image built "
            f"for {platform} (or a multi-platform one that includes it), or build for {image_platform}."
        )
    layers = tuple(
        Descriptor.from_json(layer, what=f"Base image {reference}'s layer {i}")
        for i, layer in enumerate(manifest.get("layers") or [])
    )
    for i, layer in enumerate(layers):
        if layer.media_type not in _OCI_LAYER_MEDIA_TYPES:
            raise ImageError(
                f"Base image {reference}: layer {i} ({layer.digest}) has media type {layer.media_type!r}; "
                "only tar and gzipped tar layers are supported. To fix, convert it (e.g. "
                "`skopeo copy --dest-compress-format gzip ...`) or use another base image."
            )
        _verify_blob(layout, layer, f"layer {i}", reference)
    image = OciImage(reference, layout / "blobs" / "sha256", descriptor, config, layers, temporary)
    if len(image.diff_ids) != len(layers):
        raise ImageError(
            f"Base image {reference}: its manifest has {len(layers)} layers but its config lists "
            f"{len(image.diff_ids)} diff_ids. To fix, fetch or export the base image again."
        )
    return image


# --- The image's files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """A path of an image's merged filesystem (no leading `/`)."""

    path: str
    kind: str  # "file", "dir", "symlink" or "other" (devices, fifos)
    mode: int  # permission bits
    target: Optional[str] = None  # a symlink's target, as written

    @property
    def executable(self) -> bool:
        return self.kind == "file" and bool(self.mode & 0o111)


def _entry(path: str, member: tarfile.TarInfo, hardlink: Optional[FileEntry]) -> FileEntry:
    if member.islnk():
        return FileEntry(path, hardlink.kind if hardlink else "file", hardlink.mode if hardlink else member.mode)
    kind = "file" if member.isfile() else "dir" if member.isdir() else "symlink" if member.issym() else "other"
    return FileEntry(path, kind, member.mode & 0o7777, member.linkname if member.issym() else None)


def _normalized(name: str) -> str:
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


def _remove_tree(files: dict[str, FileEntry], path: str, *, keep_top: bool = False) -> None:
    prefix = path + "/"
    for name in [n for n in files if n.startswith(prefix) or (n == path and not keep_top)]:
        del files[name]


def _layer_members(image: OciImage, index: int, layer: Descriptor) -> Iterator[tarfile.TarInfo]:
    try:
        with open(image.blob(layer), "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
            yield from tar
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise ImageError(
            f"Base image {image.reference}: layer {index} ({layer.digest}) is not a readable tar ({e}). "
            "To fix, fetch or export the base image again."
        ) from None


def image_filesystem(image: OciImage) -> Mapping[str, FileEntry]:
    """The image's files: its layers applied in order, with whiteouts (`.wh.NAME`, `.wh..wh..opq`)
    removing what lower layers had, and directories that layers imply but do not list."""
    files: dict[str, FileEntry] = {}
    for index, layer in enumerate(image.layers):
        added: dict[str, FileEntry] = {}
        for member in _layer_members(image, index, layer):
            path = _normalized(member.name)
            directory, name = posixpath.split(path)
            if name == _OPAQUE_WHITEOUT:
                _remove_tree(files, directory, keep_top=True)
            elif name.startswith(_WHITEOUT):
                _remove_tree(files, posixpath.join(directory, name[len(_WHITEOUT) :]))
            elif path:
                link = _normalized(member.linkname) if member.islnk() else None
                added[path] = _entry(path, member, added.get(link) or files.get(link) if link else None)
        for path, entry in added.items():
            lower = files.get(path)
            if lower is not None and lower.kind == "dir" and entry.kind != "dir":
                _remove_tree(files, path)  # a file replacing a directory hides what was under it
            files[path] = entry
            parent = posixpath.dirname(path)
            while parent and parent not in files:
                files[parent] = FileEntry(parent, "dir", 0o755)
                parent = posixpath.dirname(parent)
    return files


class _SymlinkLoop(Exception):
    pass


def _lookup(files: Mapping[str, FileEntry], path: str) -> tuple[str, Optional[FileEntry]]:
    """Follows `path` through the image's symlinks: (the real path, its entry or None if missing)."""
    parts = [p for p in path.split("/") if p]
    parts.reverse()
    resolved: list[str] = []
    hops = 0
    while parts:
        name = parts.pop()
        if name == ".":
            continue
        if name == "..":
            resolved = resolved[:-1]
            continue
        entry = files.get("/".join([*resolved, name]))
        if entry is None or (parts and entry.kind not in ("dir", "symlink")):
            return "/" + "/".join([*resolved, name]), None
        if entry.kind == "symlink":
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                raise _SymlinkLoop(f"/{entry.path} -> {entry.target}")
            target = entry.target or ""
            if target.startswith("/"):
                resolved = []
            parts.extend(reversed([p for p in target.split("/") if p]))
            continue
        resolved.append(name)
    return "/" + "/".join(resolved), files.get("/".join(resolved))


def find_python(image: OciImage, python: str, version: str) -> str:
    """The path of the image's Python `version` for the entrypoint: `python` itself if absolute,
    else where the image's PATH finds it. It must resolve to an executable file whose prefix holds
    that version's standard library (`<prefix>/lib/python<version>/os.py`)."""
    reference = image.reference
    fix = (
        f"To fix, set the target's `python` field to the path of a Python {version} in the image, "
        f"or use a base image that has one."
    )
    files = image_filesystem(image)
    if python.startswith("/"):
        candidates = [python]
    elif "/" in python or not python:
        raise ImageError(
            f"The `python` {python!r} for base image {reference} is neither an absolute path nor a command "
            f"name. {fix}"
        )
    else:
        search = image.env.get("PATH", DEFAULT_PATH)
        candidates = [posixpath.join(d, python) for d in search.split(":") if d.startswith("/")]
    for candidate in candidates:
        try:
            real, entry = _lookup(files, candidate)
        except _SymlinkLoop as e:
            raise ImageError(
                f"Base image {reference}: {candidate} does not resolve: its symlinks loop (more than "
                f"{_MAX_SYMLINK_HOPS} hops, at {e}). {fix}"
            ) from None
        if entry is not None:
            break
    else:
        where = "" if python.startswith("/") else f" on its PATH ({image.env.get('PATH', DEFAULT_PATH)})"
        raise ImageError(f"Base image {reference} has no {python}{where}. {fix}")

    via = f" (a symlink to {real})" if real != candidate else ""
    if not entry.executable:
        what = "a directory" if entry.kind == "dir" else f"not executable (mode {entry.mode:04o})"
        raise ImageError(f"Base image {reference}: {candidate}{via} is {what}. {fix}")
    prefix = posixpath.dirname(posixpath.dirname(real))
    stdlib = posixpath.join(prefix, "lib", f"python{version}", "os.py")
    if _lookup(files, stdlib)[1] is None:
        stdlibs = re.compile(re.escape(posixpath.join(prefix, "lib").lstrip("/")) + r"/python(3\.\d+)/os\.py")
        found = sorted((m.group(1), m.group()) for m in map(stdlibs.fullmatch, files) if m)
        has = ", ".join(f"the standard library of Python {v} (/{p})" for v, p in found) or "no standard library"
        raise ImageError(
            f"Base image {reference}: {candidate}{via} has {has}, not Python {version} "
            f"({stdlib} is missing). {fix}"
        )
    return candidate


# --- Writing --------------------------------------------------------------------------------------


class _HashingWriter:
    """Passes bytes on to `out` (if any), keeping their sha256 and count."""

    def __init__(self, out: Optional[Any] = None) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        if self.out is not None:
            self.out.write(data)
        return len(data)

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256.hexdigest()}"


def _tar_member(name: str, kind: bytes, mode: int, mtime: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname, info.mtime = kind, mode, size, linkname, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _walk(directory: Path, exclude: Sequence[str] = (), rel: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """The entries under directory, depth first in name order, as (path relative to it, entry)."""
    with os.scandir(directory) as scan:
        entries = sorted((e for e in scan if e.name not in exclude), key=lambda e: e.name)
    for entry in entries:
        yield rel + entry.name, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), rel=f"{rel}{entry.name}/")


def _check_symlink(image_path: str, target: str, image_dir: str, source: str) -> None:
    """Refuses a symlink that would point out of image_dir once in the image."""
    resolved = posixpath.normpath(posixpath.join("/" + posixpath.dirname(image_path), target))
    top = "/" + image_dir
    if image_dir and resolved != top and not resolved.startswith(top + "/"):
        raise ImageError(
            f"{source} is a symlink to {target}, which would point out of /{image_dir} in the image. "
            "To fix, make it a relative link to a file inside the directory, or replace it by the file."
        )


def write_layer(
    blobs: Path, root: Path, image_dir: str, *, created_by: str, exclude: Sequence[str] = ()
) -> Layer:
    """A gzipped tar layer of the tree `root` placed at `image_dir` ("" for the root filesystem),
    written to blobs/<hex>.

    Byte-reproducible: entries in name order with one entry per parent directory of image_dir,
    mtime from SOURCE_DATE_EPOCH, owner 0:0 without names, modes 0755 for directories (1777 for
    sticky ones, such as /tmp) and files with an x bit, else 0644; symlinks as they are (none may
    point out of image_dir); gzip without name or time. `exclude`: top-level names of root to leave out.
    """
    image_dir = _normalized(image_dir)
    mtime = source_date_epoch()
    blobs.mkdir(parents=True, exist_ok=True)
    prefix = image_dir + "/" if image_dir else ""
    parts = image_dir.split("/") if image_dir else []
    parents = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    fd, temporary = tempfile.mkstemp(dir=blobs, prefix=".layer-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            compressed = _HashingWriter(out)
            with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=_GZIP_LEVEL, mtime=0) as gz:
                uncompressed = _HashingWriter(gz)
                with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for parent in parents:
                        tar.addfile(_tar_member(parent, tarfile.DIRTYPE, 0o755, mtime))
                    for rel, entry in _walk(root, exclude):
                        _add_entry(tar, prefix + rel, entry, image_dir, mtime)
        digest = compressed.digest
        _publish(temporary, blobs / digest.split(":", 1)[1])
    except BaseException:
        os.unlink(temporary)
        raise
    return Layer(Descriptor(LAYER_MEDIA_TYPE, digest, compressed.size), uncompressed.digest, created_by)


def _add_entry(tar: tarfile.TarFile, name: str, entry: os.DirEntry[str], image_dir: str, mtime: int) -> None:
    info = entry.stat(follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(entry.path)
        _check_symlink(name, target, image_dir, entry.path)
        tar.addfile(_tar_member(name, tarfile.SYMTYPE, 0o777, mtime, linkname=target))
    elif stat.S_ISDIR(info.st_mode):
        mode = 0o1777 if info.st_mode & stat.S_ISVTX else 0o755
        tar.addfile(_tar_member(name, tarfile.DIRTYPE, mode, mtime))
    elif stat.S_ISREG(info.st_mode):
        mode = 0o755 if info.st_mode & 0o111 else 0o644
        with open(entry.path, "rb") as f:
            tar.addfile(_tar_member(name, tarfile.REGTYPE, mode, mtime, size=info.st_size), f)
    else:
        raise ImageError(
            f"{entry.path} is neither a file, a directory nor a symlink; an image layer holds only those. "
            "To fix, remove it from the tree."
        )


def _created(mtime: int) -> str:
    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_blob(blobs: Path, data: bytes, media_type: str) -> Descriptor:
    digest = hashlib.sha256(data).hexdigest()
    _write_file(blobs / digest, data)
    return Descriptor(media_type, f"sha256:{digest}", len(data))


def _write_file(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    _publish(temporary, path)


def _publish(temporary: str, path: Path) -> None:
    os.chmod(temporary, 0o644)  # mkstemp's 0600 would keep other users from reading the layout
    os.replace(temporary, path)


def _write_layout(
    out: Path,
    config: Mapping[str, Any],
    layers: Sequence[Descriptor],
    tags: Sequence[str],
    annotations: Mapping[str, str],
) -> Descriptor:
    """Writes the config, the manifest, then index.json (last: until then `out` is no layout)."""
    for tag in tags:
        check_tag(tag)
    blobs = out / "blobs" / "sha256"
    config_descriptor = _write_blob(blobs, _json_bytes(config), CONFIG_MEDIA_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config_descriptor.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    descriptor = _write_blob(blobs, _json_bytes(manifest), MANIFEST_MEDIA_TYPE)
    entries = [
        {**descriptor.to_json(), "annotations": {REF_NAME_ANNOTATION: tag}} for tag in dict.fromkeys(tags)
    ] or [descriptor.to_json()]
    _write_file(out / "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}
    _write_file(out / "index.json", _json_bytes(index))
    return descriptor


def _env_list(env: Mapping[str, str]) -> list[str]:
    return [f"{name}={value}" for name, value in env.items()]


def image_from_rootfs(
    out: Path,
    rootfs: Path,
    *,
    platform: Platform,
    env: Mapping[str, str],
    created_by: str,
    tags: Sequence[str] = (),
) -> Descriptor:
    """Writes a one-layer image of a root filesystem directory as an OCI layout at `out`."""
    layer = write_layer(out / "blobs" / "sha256", rootfs, "", created_by=created_by)
    created = _created(source_date_epoch())
    config = {
        **platform.to_json(),
        "created": created,
        "config": {"Env": _env_list(env)},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": created, "created_by": created_by}],
    }
    return _write_layout(out, config, [layer.descriptor], tags, {})


def link_or_copy(source: str, destination: str) -> None:
    """Hard-links source to destination, or copies it (with its mode) across file systems."""
    if os.path.lexists(destination):
        return
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def write_image(
    out: Path,
    *,
    base: OciImage,
    layers: Sequence[Layer],
    entrypoint: Sequence[str],
    cmd: Sequence[str] = (),
    working_dir: str,
    env: Mapping[str, str],
    labels: Mapping[str, str],
    tags: Sequence[str],
) -> Descriptor:
    """Writes the base image plus `layers` as an OCI layout at `out`; returns its manifest's descriptor.

    The layers' blobs must already be in out/blobs/sha256 (write_layer them there); the base's are
    hard-linked (else copied) there. The config is the base's with Env merged by name (ours win),
    Labels merged, Entrypoint, Cmd (the base's is dropped: it would become the app's arguments) and
    WorkingDir set, and rootfs and history extended.
    """
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for descriptor in base.layers:
        link_or_copy(str(base.blob(descriptor)), str(blobs / descriptor.hex))
    for layer in layers:
        if not (blobs / layer.descriptor.hex).is_file():
            raise ValueError(f"Layer {layer.descriptor.digest} ({layer.created_by}) is not in {blobs}: write it there.")
    mtime = source_date_epoch()
    created = _created(mtime)
    config = json.loads(_json_bytes(base.config))
    container = config.setdefault("config", {})
    container["Env"] = _env_list({**base.env, **env})
    container["Entrypoint"] = list(entrypoint)
    container.pop("Cmd", None)
    if cmd:
        container["Cmd"] = list(cmd)
    container["WorkingDir"] = working_dir
    container["Labels"] = {**(container.get("Labels") or {}), **labels}
    config["created"] = created
    config["rootfs"] = {"type": "layers", "diff_ids": [*base.diff_ids, *(layer.diff_id for layer in layers)]}
    config["history"] = [*base.history, *({"created": created, "created_by": layer.created_by} for layer in layers)]
    descriptors = [
        Descriptor(_OCI_LAYER_MEDIA_TYPES[d.media_type], d.digest, d.size) for d in base.layers
    ] + [layer.descriptor for layer in layers]
    return _write_layout(out, config, descriptors, tags, {BASE_DIGEST_ANNOTATION: base.manifest.digest})
