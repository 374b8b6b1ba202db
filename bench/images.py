# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Container images of an app, two ways: `pex_release_image` (base, bootstrap, a layer per wheel, deps,
sources) and the Dockerfile-style image of Dagster and the Pants blog (the same base, then `COPY deps.pex`,
then `COPY srcs.pex`). Pure helpers: the base-only layout the Containerfile starts `FROM`, the
Containerfile itself, and what a registry holds and a client says it uploaded."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Mapping

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
BASE_TAG = "base"
# The variables the image rule adds for the PEX files; the Containerfile sets its own.
PEX_ENV = re.compile(r"PEX_\w+=")
# The registry client's line per blob it uploaded (`./pants publish` of a pex_release_image).
UPLOADED = re.compile(r"^\s*uploaded sha256:[0-9a-f]{64} \(([\d,]+) bytes\)$", re.MULTILINE)


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    return layout / "blobs" / algorithm / hex_digest


def _read_json(layout: Path, digest: str) -> dict:
    return json.loads(_blob(layout, digest).read_bytes())


def _write_blob(layout: Path, data: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = _blob(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def base_layout(image: Path, summary: Mapping, dest: Path) -> str:
    """Writes at `dest` an OCI layout, tagged BASE_TAG, of the base image `image` (a pex_release_image's
    layout, described by its `.image.json` summary) was built on: its base layers, its history and
    environment up to them (without PEX_* variables). Returns the `FROM` reference, `oci:DEST:base`."""
    manifest = _read_json(image, summary["manifest"]["digest"])
    config = _read_json(image, manifest["config"]["digest"])
    count = sum(1 for layer in summary["layers"] if layer["role"] == "base")
    if not count or any(layer["role"] != "base" for layer in summary["layers"][:count]):
        raise ValueError(f"{image}: the base layers are not the first layers of the image")
    layers = manifest["layers"][:count]
    shutil.rmtree(dest, ignore_errors=True)
    for layer in layers:
        _blob(dest, layer["digest"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_blob(image, layer["digest"]), _blob(dest, layer["digest"]))
    base_config = {
        "architecture": config["architecture"],
        "os": config["os"],
        "created": config["created"],
        "config": {"Env": [e for e in config["config"].get("Env", []) if not PEX_ENV.match(e)]},
        "rootfs": {"type": "layers", "diff_ids": config["rootfs"]["diff_ids"][:count]},
        "history": config["history"][:count],
    }
    config_descriptor = _write_blob(dest, json.dumps(base_config, sort_keys=True).encode(), CONFIG_MEDIA_TYPE)
    base_manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": config_descriptor, "layers": layers}
    manifest_descriptor = _write_blob(dest, json.dumps(base_manifest, sort_keys=True).encode(), MANIFEST_MEDIA_TYPE)
    index = {"schemaVersion": 2, "manifests": [{**manifest_descriptor, "annotations": {REF_NAME: BASE_TAG}}]}
    (dest / "index.json").write_text(json.dumps(index, sort_keys=True))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{dest}:{BASE_TAG}"


def entrypoint_python(image: Path, summary: Mapping) -> str:
    """The interpreter a pex_release_image's entrypoint runs: the two-PEX image runs its PEX with it too."""
    manifest = _read_json(image, summary["manifest"]["digest"])
    return _read_json(image, manifest["config"]["digest"])["config"]["Entrypoint"][0]


def two_pex_containerfile(base: str, python: str, pex_root: str) -> str:
    """The Dockerfile of Dagster and the Pants blog: the deps PEX, which rarely changes, in a layer under
    the sources PEX, which changes every commit; the sources PEX runs with PEX_PATH naming the deps PEX."""
    return (
        f"FROM {base}\n"
        f"ENV PEX_PATH=/app/deps.pex PEX_ROOT={pex_root}\n"
        "WORKDIR /app\n"
        "COPY deps.pex /app/deps.pex\n"
        "COPY srcs.pex /app/srcs.pex\n"
        f'ENTRYPOINT ["{python}", "/app/srcs.pex"]\n'
    )


def layout_blobs(layout: Path) -> dict[str, int]:
    """The blobs of an OCI layout (none if it is absent): sha256 hex digest -> size."""
    blobs = layout / "blobs/sha256"
    return {p.name: p.stat().st_size for p in blobs.iterdir()} if blobs.is_dir() else {}


def new_blob_bytes(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """The bytes of the blobs in `after` that `before` lacks."""
    return sum(size for digest, size in after.items() if digest not in before)


def stored_blob_bytes(data_dir: Path) -> int:
    """The bytes of every blob (layers, configs, manifests) a docker-registry stores under data_dir."""
    blobs = data_dir / "docker/registry/v2/blobs"
    return sum(p.stat().st_size for p in blobs.rglob("data") if p.is_file()) if blobs.is_dir() else 0


def client_uploaded_bytes(output: str, manifest_size: int) -> int:
    """What the registry client of `./pants publish` says it uploaded: each blob it lists, and the manifest."""
    return sum(int(size.replace(",", "")) for size in UPLOADED.findall(output)) + manifest_size
