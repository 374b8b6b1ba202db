# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from pex_release_core.oci.model import (
    BASE_DIGEST_ANNOTATION,
    ImageError,
)
from pex_release_core.oci.reading import read_image
from pex_release_core.oci.testutil import AMD64, base_image, write_tree
from pex_release_core.oci.writing import write_image, write_layer


def test_write_layer_places_the_tree_under_its_parents_in_name_order(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"b.py": "", "a/x.py": "", "a-b/y.py": "", "skip/z.py": ""})
    (root / "run").write_text("#!/bin/sh\n")
    (root / "run").chmod(0o700)
    (root / "link").symlink_to("a/x.py")

    layer = write_layer(tmp_path / "blobs", root, "/app/srcs.pex/", created_by="t", exclude=["skip"])

    with tarfile.open(tmp_path / "blobs" / layer.descriptor.hex, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == [
        "app",
        "app/srcs.pex",
        "app/srcs.pex/a",
        "app/srcs.pex/a/x.py",
        "app/srcs.pex/a-b",
        "app/srcs.pex/a-b/y.py",
        "app/srcs.pex/b.py",
        "app/srcs.pex/link",
        "app/srcs.pex/run",
    ]
    assert {name: oct(m.mode) for name, m in members.items() if m.isfile()} == {
        "app/srcs.pex/a/x.py": "0o644",
        "app/srcs.pex/a-b/y.py": "0o644",
        "app/srcs.pex/b.py": "0o644",
        "app/srcs.pex/run": "0o755",
    }
    assert members["app/srcs.pex/link"].linkname == "a/x.py"
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, 0, "", "")}
    gz = (tmp_path / "blobs" / layer.descriptor.hex).read_bytes()
    assert gz[3:8] == bytes(5)  # no flags (so no file name) and no time
    assert layer.descriptor.size == len(gz) and layer.descriptor.digest == f"sha256:{hashlib.sha256(gz).hexdigest()}"


def test_write_layer_takes_its_time_from_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    layer = write_layer(tmp_path / "blobs", write_tree(tmp_path / "tree", {"a.py": ""}), "app", created_by="t")
    with tarfile.open(tmp_path / "blobs" / layer.descriptor.hex, "r:gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


@pytest.mark.parametrize("target", ["../../../etc/passwd", "/etc/passwd"])
def test_write_layer_refuses_a_symlink_out_of_its_directory(tmp_path: Path, target: str) -> None:
    root = write_tree(tmp_path / "tree", {"a.py": ""})
    (root / "escape").symlink_to(target)

    with pytest.raises(ImageError) as error:
        write_layer(tmp_path / "blobs", root, "app/srcs.pex", created_by="t")

    message = str(error.value)
    assert message.startswith(f"{root}/escape is a symlink to {target}, which would point out of /app/srcs.pex ")
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == []


def test_write_image_merges_the_base_config_and_drops_its_cmd(tmp_path: Path) -> None:
    first = write_image(
        tmp_path / "first",
        base=base_image(tmp_path),
        layers=[],
        entrypoint=["/usr/bin/python3"],
        cmd=["-V"],
        working_dir="/",
        env={"LANG": "C"},
        labels={"a": "1", "b": "1"},
        tags=["1"],
    )
    base = read_image(tmp_path / "first", reference="first:1", platform=AMD64)
    assert base.manifest == first and base.config["config"]["Cmd"] == ["-V"]

    write_image(
        tmp_path / "second",
        base=base,
        layers=[],
        entrypoint=["/usr/bin/python3", "/app/srcs.pex"],
        working_dir="/app",
        env={"PATH": "/opt/python/bin:/usr/bin", "PEX_ROOT": "/tmp/.pex"},
        labels={"b": "2"},
        tags=[],
    )

    image = read_image(tmp_path / "second", reference="second", platform=AMD64)
    assert image.config["config"] == {
        "Entrypoint": ["/usr/bin/python3", "/app/srcs.pex"],
        "Env": ["PATH=/opt/python/bin:/usr/bin", "LANG=C", "PEX_ROOT=/tmp/.pex"],
        "Labels": {"a": "1", "b": "2"},
        "WorkingDir": "/app",
    }
    index = json.loads((tmp_path / "second/index.json").read_text())
    assert index["manifests"] == [image.manifest.to_json()]
    manifest = json.loads(image.blob(image.manifest).read_bytes())
    assert manifest["annotations"] == {BASE_DIGEST_ANNOTATION: first.digest}
