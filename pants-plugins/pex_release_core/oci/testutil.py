# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Small OCI images and layouts for the tests: a root filesystem with a stand-in Python, a base
image of it, the files of a layout."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any, Mapping

from pex_release_core.oci.model import OciImage, Platform
from pex_release_core.oci.reading import read_image
from pex_release_core.oci.writing import image_from_rootfs

AMD64 = Platform.parse("linux/amd64")
FIX_PYTHON = "To fix, set the target's `python` field to the path of a Python 3.12 in the image"
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    root.mkdir(parents=True, exist_ok=True)
    return root


def make_rootfs(
    root: Path, *, version: str = "3.12", python_mode: int = 0o755, link: str = "/opt/python/bin/python3.12"
) -> Path:
    """A root filesystem with the files find_python looks at: a `python3` symlink, the
    interpreter (a stand-in) and its standard library's os.py."""
    write_tree(root, {f"opt/python/bin/python{version}": "#!fake\n", f"opt/python/lib/python{version}/os.py": ""})
    (root / f"opt/python/bin/python{version}").chmod(python_mode)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").symlink_to(link)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    return root


def make_base(
    tmp_path: Path,
    name: str = "base",
    *,
    platform: str = "linux/amd64",
    env: Mapping[str, str] = BASE_ENV,
    **rootfs: Any,
) -> Path:
    image_from_rootfs(
        tmp_path / name,
        make_rootfs(tmp_path / f"{name}-rootfs", **rootfs),
        platform=Platform.parse(platform),
        env=env,
        created_by="test base",
        tags=["3.12"],
    )
    return tmp_path / name


def base_image(tmp_path: Path, reference: str = "base:3.12", **kwargs: Any) -> OciImage:
    return read_image(make_base(tmp_path, **kwargs), reference=reference, platform=AMD64)


def layout_files(layout: Path) -> dict[str, bytes]:
    return {str(p.relative_to(layout)): p.read_bytes() for p in sorted(layout.rglob("*")) if p.is_file()}


def tar_names(blob: Path) -> list[str]:
    with tarfile.open(blob, "r:gz") as tar:
        return tar.getnames()
