# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Sequence

import pytest

from pex_release_core.oci.filesystem import find_python, image_filesystem
from pex_release_core.oci.model import (
    DOCKER_CONFIG_MEDIA_TYPE,
    DOCKER_LAYER_MEDIA_TYPE,
    DOCKER_MANIFEST_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    LAYER_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    REF_NAME_ANNOTATION,
    Descriptor,
    ImageError,
    Platform,
)
from pex_release_core.oci.reading import read_image
from pex_release_core.oci.testutil import AMD64, BASE_ENV, make_base, make_rootfs
from pex_release_core.oci.writing import image_from_rootfs, write_image


def test_read_image_reads_a_layout_and_a_tarball_of_one(tmp_path: Path) -> None:
    layout = make_base(tmp_path)
    tarball = tmp_path / "base.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(layout, arcname=".")

    for path in (layout, tarball):
        image = read_image(path, reference="registry.example.com/acme/python:3.12", platform=AMD64)
        assert (image.platform, image.env, len(image.layers)) == (AMD64, BASE_ENV, 1)
        assert image.manifest.digest == json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
        assert find_python(image, "python3", "3.12") == "/usr/bin/python3"
        # Modes are normalized, but a sticky directory keeps 1777: /tmp stays writable for every user.
        modes = {path: entry.mode for path, entry in image_filesystem(image).items()}
        assert (modes["tmp"], modes["opt/python/bin/python3.12"], modes["opt/python/lib/python3.12/os.py"]) == (
            0o1777,
            0o755,
            0o644,
        )


def multi_platform_layout(tmp_path: Path, platforms: Sequence[str]) -> Path:
    """An image index over one image per platform, as a multi-arch pull writes it."""
    layout = tmp_path / "multi"
    (layout / "blobs/sha256").mkdir(parents=True)
    entries = []
    for platform in platforms:
        single = make_base(tmp_path, platform.replace("/", "-"), platform=platform)
        for blob in (single / "blobs/sha256").iterdir():
            shutil.copy(blob, layout / "blobs/sha256" / blob.name)
        (entry,) = json.loads((single / "index.json").read_text())["manifests"]
        entries.append({**entry, "annotations": {}, "platform": Platform.parse(platform).to_json()})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}).encode()
    digest = hashlib.sha256(index).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(index)
    top = Descriptor(INDEX_MEDIA_TYPE, f"sha256:{digest}", len(index)).to_json()
    top["annotations"] = {REF_NAME_ANNOTATION: "3.12"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return layout


def test_read_image_picks_the_platforms_image_from_an_index(tmp_path: Path) -> None:
    layout = multi_platform_layout(tmp_path, ["linux/amd64", "linux/arm64"])

    for wanted in ("linux/arm64", "linux/arm64/v8", "linux/amd64"):
        image = read_image(layout, reference="python:3.12", platform=Platform.parse(wanted))
        assert image.platform.architecture == Platform.parse(wanted).architecture


def test_read_image_accepts_docker_schema_2_and_write_image_gives_its_layers_oci_media_types(tmp_path: Path) -> None:
    layout = make_base(tmp_path)
    blobs = layout / "blobs/sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    manifest["mediaType"] = DOCKER_MANIFEST_MEDIA_TYPE
    manifest["config"]["mediaType"] = DOCKER_CONFIG_MEDIA_TYPE
    manifest["layers"][0]["mediaType"] = DOCKER_LAYER_MEDIA_TYPE
    data = json.dumps(manifest).encode()
    (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    index["manifests"][0].update(
        mediaType=DOCKER_MANIFEST_MEDIA_TYPE, digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data)
    )
    (layout / "index.json").write_text(json.dumps(index))

    base = read_image(layout, reference="base:3.12", platform=AMD64)
    assert base.layers[0].media_type == DOCKER_LAYER_MEDIA_TYPE
    written = write_image(
        tmp_path / "image", base=base, layers=[], entrypoint=["x"], working_dir="/", env={}, labels={}, tags=["1"]
    )

    image = json.loads((tmp_path / "image/blobs/sha256" / written.hex).read_bytes())
    assert image["mediaType"] == MANIFEST_MEDIA_TYPE
    assert [layer["mediaType"] for layer in image["layers"]] == [LAYER_MEDIA_TYPE]
    assert image["layers"][0]["digest"] == base.layers[0].digest


def read_error(path: Path, reference: str = "base:3.12", platform: Platform = AMD64) -> str:
    with pytest.raises(ImageError) as error:
        read_image(path, reference=reference, platform=platform)
    return str(error.value)


def test_read_image_refuses_an_image_for_another_platform(tmp_path: Path) -> None:
    assert read_error(make_base(tmp_path, platform="linux/arm64")) == (
        "Base image base:3.12 is for linux/arm64, not linux/amd64. To fix, use a base image built for linux/amd64 "
        "(or a multi-platform one that includes it), or build for linux/arm64."
    )


def test_read_image_lists_the_platforms_of_an_index_without_the_wanted_one(tmp_path: Path) -> None:
    layout = multi_platform_layout(tmp_path, ["linux/s390x", "linux/arm64"])

    assert read_error(layout, "python:3.12") == (
        "Base image python:3.12 has no image for linux/amd64; it has images for: linux/arm64, linux/s390x. "
        "To fix, use a base image built for linux/amd64, or build for one of those platforms."
    )


def test_read_image_lists_the_tags_when_the_reference_names_another(tmp_path: Path) -> None:
    layout = make_base(tmp_path)

    assert read_error(layout, "base:3.13") == (
        f"Base image base:3.13: {layout} has no image with the tag '3.13'; it has: 3.12. "
        "To fix, name one of those in the reference (`...:TAG`)."
    )


def test_read_image_asks_for_a_tag_when_the_layout_holds_several_images(tmp_path: Path) -> None:
    layout = tmp_path / "two"
    image_from_rootfs(layout, make_rootfs(tmp_path / "rootfs"), platform=AMD64, env={}, created_by="t", tags=["a", "b"])

    assert read_error(layout, str(layout)) == (
        f"Base image {layout}: {layout} holds 2 images (a, b), and the reference does not say which. "
        "To fix, add one's tag to the reference (`...:TAG`)."
    )
    assert read_image(layout, reference=f"{layout}:b", platform=AMD64).reference == f"{layout}:b"


def test_read_image_verifies_every_blob(tmp_path: Path) -> None:
    layout = make_base(tmp_path)
    layer = read_image(layout, reference="base:3.12", platform=AMD64).layers[0]
    blob = layout / "blobs/sha256" / layer.hex
    data = bytearray(blob.read_bytes())
    data[-20] ^= 0xFF
    blob.write_bytes(bytes(data))

    message = read_error(layout)

    assert message.startswith(f"Base image base:3.12: layer 0 blob {layer.digest} in {layout} is corrupt: its bytes ")
    assert message.endswith(
        f" ({layer.size} bytes), not {layer.digest} ({layer.size} bytes). To fix, fetch or export the base image again."
    )
    blob.unlink()
    assert read_error(layout) == (
        f"Base image base:3.12: layer 0 blob {layer.digest} is missing from {layout}. "
        "To fix, fetch or export the base image again."
    )


def test_read_image_refuses_what_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image\n")
    fix = "To fix, point to an OCI image layout directory or a tarball of one"

    assert read_error(tmp_path / "empty").startswith(
        f"Base image base:3.12: {tmp_path}/empty is not an OCI image layout (it has no oci-layout and index.json). "
        + fix
    )
    assert read_error(tmp_path / "notes.txt").startswith(
        f"Base image base:3.12: {tmp_path}/notes.txt is neither a directory nor a tarball. {fix}"
    )
    missing = tmp_path / "missing"
    assert read_error(missing).startswith(f"Base image base:3.12: {missing} does not exist. {fix}")
