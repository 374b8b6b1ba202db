# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""What scenario 8's figures rest on: the base-only layout, the Containerfile, and the bytes counted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from images import (
    base_layout, client_uploaded_bytes, entrypoint_python, layout_blobs, new_blob_bytes, stored_blob_bytes,
    two_pex_containerfile,
)

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def _put(layout: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs/sha256" / digest[7:]).write_bytes(data)
    return digest


def _image(layout: Path, roles: tuple[str, ...]) -> dict:
    """A layout of made-up layers with the given roles, and its .image.json summary."""
    layers = [{"mediaType": LAYER_MEDIA_TYPE, "digest": _put(layout, f"{role} {i}".encode()), "size": len(f"{role} {i}")}
              for i, role in enumerate(roles)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/opt/python/bin/python3", "/app/srcs.pex"],
                   "Env": ["PATH=/opt/python/bin:/usr/bin", "PEX_PATH=/app/deps.pex", "PEX_ROOT=/tmp/.pex"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i:064x}" for i in range(len(roles))]},
        "history": [{"created_by": role} for role in roles],
    }
    config_digest = _put(layout, json.dumps(config).encode())
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": config_digest}, "layers": layers}).encode()
    summary_layers = [{"role": role, "digest": layer["digest"]} for role, layer in zip(roles, layers)]
    return {"manifest": {"digest": _put(layout, manifest), "size": len(manifest)}, "layers": summary_layers}


def _blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs/sha256" / digest[7:]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest[7:]  # every blob is stored under its own digest
    return data


def test_base_layout_holds_the_base_layers_only(tmp_path: Path) -> None:
    summary = _image(tmp_path / "api.oci", ("base", "base", "bootstrap", "wheel", "sources"))
    reference = base_layout(tmp_path / "api.oci", summary, tmp_path / "base.oci")

    assert reference == f"oci:{tmp_path / 'base.oci'}:base"
    (entry,) = json.loads((tmp_path / "base.oci/index.json").read_text())["manifests"]
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "base"}
    manifest = json.loads(_blob(tmp_path / "base.oci", entry["digest"]))
    assert [layer["digest"] for layer in manifest["layers"]] == [layer["digest"] for layer in summary["layers"][:2]]
    assert [_blob(tmp_path / "base.oci", layer["digest"]) for layer in manifest["layers"]] == [b"base 0", b"base 1"]
    config = json.loads(_blob(tmp_path / "base.oci", manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [f"sha256:{i:064x}" for i in range(2)]
    assert config["history"] == [{"created_by": "base"}] * 2
    assert config["config"] == {"Env": ["PATH=/opt/python/bin:/usr/bin"]}  # no PEX_* variables, no entrypoint
    assert json.loads((tmp_path / "base.oci/oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert entrypoint_python(tmp_path / "api.oci", summary) == "/opt/python/bin/python3"


def test_base_layout_needs_base_layers_first(tmp_path: Path) -> None:
    summary = _image(tmp_path / "api.oci", ("bootstrap", "base", "sources"))
    with pytest.raises(ValueError, match="the base layers are not the first layers of the image"):
        base_layout(tmp_path / "api.oci", summary, tmp_path / "base.oci")


def test_two_pex_containerfile_copies_deps_then_sources() -> None:
    text = two_pex_containerfile("oci:/b:base", "/opt/python/bin/python3", "/tmp/.pex")
    assert text.splitlines() == [
        "FROM oci:/b:base",
        "ENV PEX_PATH=/app/deps.pex PEX_ROOT=/tmp/.pex",
        "WORKDIR /app",
        "COPY deps.pex /app/deps.pex",
        "COPY srcs.pex /app/srcs.pex",
        'ENTRYPOINT ["/opt/python/bin/python3", "/app/srcs.pex"]',
    ]


def test_stored_blob_bytes_counts_blob_data_only(tmp_path: Path) -> None:
    assert stored_blob_bytes(tmp_path) == 0  # nothing pushed yet
    blobs = tmp_path / "docker/registry/v2/blobs/sha256"
    for hex_digest, size in (("ab" + "1" * 62, 1000), ("cd" + "2" * 62, 234)):
        (blobs / hex_digest[:2] / hex_digest).mkdir(parents=True)
        (blobs / hex_digest[:2] / hex_digest / "data").write_bytes(b"x" * size)
    link = tmp_path / "docker/registry/v2/repositories/acme/api/_layers/sha256/" / ("ab" + "1" * 62)
    link.mkdir(parents=True)
    (link / "link").write_text("sha256:" + "ab" + "1" * 62)  # a repository's link, not a blob
    assert stored_blob_bytes(tmp_path) == 1234


def test_client_uploaded_bytes_sums_the_uploaded_blobs_and_the_manifest() -> None:
    output = (
        f"  uploaded sha256:{'a' * 64} (15,921 bytes)\n"
        f"  uploaded sha256:{'b' * 64} (2,100 bytes)\n"
        f"pushed 2 blobs (18,021 bytes), skipped 17 blobs (22,000,000 bytes); 127.0.0.1:5000/acme/api@sha256:{'c' * 64}\n"
    )
    assert client_uploaded_bytes(output, manifest_size=3201) == 15_921 + 2_100 + 3_201
    assert client_uploaded_bytes("pushed 0 blobs (0 bytes), skipped 19 blobs\n", manifest_size=3201) == 3201


def test_new_blob_bytes_counts_the_blobs_a_rebuilt_layout_gained(tmp_path: Path) -> None:
    assert layout_blobs(tmp_path / "api.oci") == {}  # not built yet
    _image(tmp_path / "api.oci", ("base", "sources"))
    before = layout_blobs(tmp_path / "api.oci")
    new_layer = _put(tmp_path / "api.oci", b"edited sources layer")
    after = layout_blobs(tmp_path / "api.oci")
    assert set(after) - set(before) == {new_layer[7:]}
    assert new_blob_bytes(before, after) == len(b"edited sources layer")
