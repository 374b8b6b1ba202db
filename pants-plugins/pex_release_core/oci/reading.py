# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Reading an image from an OCI layout (a directory, or a tarball of one), for the platform wanted,
every blob checked against its descriptor."""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pex_release_core.oci.model import (
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_LAYER_MEDIA_TYPES,
    REF_NAME_ANNOTATION,
    Descriptor,
    ImageError,
    OciImage,
    Platform,
)

_CHUNK_BYTES = 1 << 20


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
        if layer.media_type not in OCI_LAYER_MEDIA_TYPES:
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
