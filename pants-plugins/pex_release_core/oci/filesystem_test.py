# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from pathlib import Path

import pytest

from pex_release_core.oci.filesystem import find_python, image_filesystem
from pex_release_core.oci.model import (
    ImageError,
    OciImage,
)
from pex_release_core.oci.reading import read_image
from pex_release_core.oci.testutil import AMD64, FIX_PYTHON, base_image, make_rootfs, write_tree
from pex_release_core.oci.writing import image_from_rootfs, write_image, write_layer


def test_image_filesystem_applies_whiteouts(tmp_path: Path) -> None:
    lower = write_tree(tmp_path / "lower", {"etc/a": "", "etc/b": "", "data/x": "", "data/sub/y": "", "old/file": ""})
    image_from_rootfs(tmp_path / "base", lower, platform=AMD64, env={}, created_by="lower", tags=["1"])
    base = read_image(tmp_path / "base", reference="base:1", platform=AMD64)
    upper = write_tree(tmp_path / "upper", {"etc/.wh.a": "", "data/.wh..wh..opq": "", "data/new": "", "old": "a file"})
    out = tmp_path / "image"
    layer = write_layer(out / "blobs/sha256", upper, "", created_by="upper")
    write_image(out, base=base, layers=[layer], entrypoint=["/bin/true"], working_dir="/", env={}, labels={}, tags=[])

    files = image_filesystem(read_image(out, reference="image", platform=AMD64))

    assert {path: entry.kind for path, entry in files.items()} == {
        "data": "dir",
        "data/new": "file",
        "etc": "dir",
        "etc/b": "file",
        "old": "file",
    }


def python_error(image: OciImage, python: str = "python3", version: str = "3.12") -> str:
    with pytest.raises(ImageError) as error:
        find_python(image, python, version)
    return str(error.value)


def test_find_python_follows_relative_and_absolute_symlinks(tmp_path: Path) -> None:
    rootfs = make_rootfs(tmp_path / "rootfs", link="../../opt/python/bin/python3.12")
    (rootfs / "bin").symlink_to("usr/bin")  # a merged /usr
    image_from_rootfs(tmp_path / "base", rootfs, platform=AMD64, env={"PATH": "/bin"}, created_by="t")
    image = read_image(tmp_path / "base", reference="base", platform=AMD64)

    assert find_python(image, "python3", "3.12") == "/bin/python3"
    assert find_python(image, "/usr/bin/python3", "3.12") == "/usr/bin/python3"
    assert find_python(image, "/opt/python/bin/python3.12", "3.12") == "/opt/python/bin/python3.12"


def test_find_python_names_a_missing_python(tmp_path: Path) -> None:
    image = base_image(tmp_path)

    assert python_error(image, "/usr/local/bin/python3.12") == (
        f"Base image base:3.12 has no /usr/local/bin/python3.12. {FIX_PYTHON}, or use a base image that has one."
    )


def test_find_python_searches_the_images_path(tmp_path: Path) -> None:
    image = base_image(tmp_path, env={"PATH": "/usr/local/bin:/sbin"})

    assert python_error(image) == (
        f"Base image base:3.12 has no python3 on its PATH (/usr/local/bin:/sbin). {FIX_PYTHON}, or use a base image "
        "that has one."
    )
    assert find_python(base_image(tmp_path / "default", env={}), "python3", "3.12") == "/usr/bin/python3"


def test_find_python_refuses_a_file_that_is_not_executable(tmp_path: Path) -> None:
    image = base_image(tmp_path, python_mode=0o644)

    assert python_error(image) == (
        "Base image base:3.12: /usr/bin/python3 (a symlink to /opt/python/bin/python3.12) is not executable "
        f"(mode 0644). {FIX_PYTHON}, or use a base image that has one."
    )


def test_find_python_names_the_version_it_found(tmp_path: Path) -> None:
    image = base_image(tmp_path, version="3.11")

    assert python_error(image, "/opt/python/bin/python3.11") == (
        "Base image base:3.12: /opt/python/bin/python3.11 has the standard library of Python 3.11 "
        "(/opt/python/lib/python3.11/os.py), not Python 3.12 (/opt/python/lib/python3.12/os.py is missing). "
        f"{FIX_PYTHON}, or use a base image that has one."
    )


def test_find_python_reports_a_symlink_loop(tmp_path: Path) -> None:
    image = base_image(tmp_path, link="python3")

    assert python_error(image) == (
        "Base image base:3.12: /usr/bin/python3 does not resolve: its symlinks loop (more than 40 hops, at "
        f"/usr/bin/python3 -> python3). {FIX_PYTHON}, or use a base image that has one."
    )
