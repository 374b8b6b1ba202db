# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""An image's files, its layers applied in order (whiteouts included), and the Python it names."""

from __future__ import annotations

import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterator, Mapping, Optional

from pex_release_core.oci.model import (
    Descriptor,
    ImageError,
    OciImage,
)

# What a shell searches when the image's config sets no PATH (Docker's and Podman's default).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# As Linux gives up on a path (ELOOP).
_MAX_SYMLINK_HOPS = 40
_WHITEOUT = ".wh."
_OPAQUE_WHITEOUT = ".wh..wh..opq"


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


def normalized(name: str) -> str:
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
            path = normalized(member.name)
            directory, name = posixpath.split(path)
            if name == _OPAQUE_WHITEOUT:
                _remove_tree(files, directory, keep_top=True)
            elif name.startswith(_WHITEOUT):
                _remove_tree(files, posixpath.join(directory, name[len(_WHITEOUT) :]))
            elif path:
                link = normalized(member.linkname) if member.islnk() else None
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
