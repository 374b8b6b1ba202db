# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Writing layers and images, byte-reproducibly: sorted tar entries, fixed times, owners and modes,
a gzip with a fixed header, JSON with sorted keys."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from pex_release_core.oci.filesystem import normalized
from pex_release_core.oci.model import (
    BASE_DIGEST_ANNOTATION,
    CONFIG_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    LAYER_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    OCI_LAYER_MEDIA_TYPES,
    REF_NAME_ANNOTATION,
    Descriptor,
    ImageError,
    Layer,
    OciImage,
    Platform,
    check_tag,
    json_bytes,
    source_date_epoch,
)

_GZIP_LEVEL = 6


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
    image_dir = normalized(image_dir)
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
    config_descriptor = _write_blob(blobs, json_bytes(config), CONFIG_MEDIA_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config_descriptor.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    descriptor = _write_blob(blobs, json_bytes(manifest), MANIFEST_MEDIA_TYPE)
    entries = [
        {**descriptor.to_json(), "annotations": {REF_NAME_ANNOTATION: tag}} for tag in dict.fromkeys(tags)
    ] or [descriptor.to_json()]
    _write_file(out / "oci-layout", json_bytes({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}
    _write_file(out / "index.json", json_bytes(index))
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
    config = json.loads(json_bytes(base.config))
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
        Descriptor(OCI_LAYER_MEDIA_TYPES[d.media_type], d.digest, d.size) for d in base.layers
    ] + [layer.descriptor for layer in layers]
    return _write_layout(out, config, descriptors, tags, {BASE_DIGEST_ANNOTATION: base.manifest.digest})
