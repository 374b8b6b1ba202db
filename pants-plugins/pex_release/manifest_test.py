# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from pex_release.manifest import (
    AbbreviatedPlatform,
    Blob,
    CompletePlatform,
    DepsBlob,
    Distribution,
    ManifestError,
    ReleaseManifest,
)

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64

MANIFEST = ReleaseManifest(
    app="api",
    version="1.4.0",
    revision="0123abc",
    entry_point="apps.api.main",
    scripts={"api-admin": "apps.api.admin:main"},
    interpreter_constraints=("CPython==3.12.*",),
    env={"ACME_ENV": "prod"},
    args=("--port", "8080"),
    deps=DepsBlob(
        file="deps-0123456789abcdef.pex",
        sha256=SHA_A,
        size=10,
        subset_key="0123456789abcdef" * 4,
        distributions=(Distribution("fastapi", "0.165.0", SHA_C),),
    ),
    sources=Blob(file="api-srcs.pex", sha256=SHA_B, size=5),
)


def test_round_trip_is_byte_identical() -> None:
    data = MANIFEST.dumps()
    assert ReleaseManifest.loads(data, origin="test") == MANIFEST
    assert ReleaseManifest.loads(data, origin="test").dumps() == data
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed) and parsed["schema"] == 1
    assert "single_file" not in parsed


def test_blobs_lists_every_pex() -> None:
    single = Blob(file="api.pex", sha256=SHA_C, size=15)
    assert [b.file for b in MANIFEST.blobs] == ["deps-0123456789abcdef.pex", "api-srcs.pex"]
    with_single = ReleaseManifest.loads(
        json.dumps({**MANIFEST.to_json(), "single_file": {"file": "api.pex", "sha256": SHA_C, "size": 15}}), origin="t"
    )
    assert with_single.single_file == single and len(with_single.blobs) == 3


def test_not_json() -> None:
    with pytest.raises(ManifestError, match="apps/api/1.4.0.json is not valid JSON"):
        ReleaseManifest.loads(b"{not json", origin="apps/api/1.4.0.json")


def test_unknown_schema() -> None:
    with pytest.raises(ManifestError, match="has manifest schema 2; this version of pex-release reads schema 1"):
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), "schema": 2}), origin="m.json")


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"app": None}, "expected a string, got None"),
        ({"sources": {"file": "x", "sha256": "nothex", "size": 1}}, "'nothex' is not a sha256 hex digest"),
        ({"sources": {"file": "x", "sha256": SHA_B, "size": -1}}, "expected a size in bytes, got -1"),
        ({"deps": {"file": "x", "sha256": SHA_A, "size": 1}}, "KeyError: 'subset_key'"),
    ],
)
def test_schema_violations_are_named(change: dict, problem: str) -> None:
    with pytest.raises(ManifestError, match="does not follow manifest schema 1") as exc:
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), **change}), origin="m.json")
    assert problem in str(exc.value)


CP39 = CompletePlatform(
    file="platforms/linux-py39.json",
    sha256=SHA_C,
    implementation="CPython",
    python_version="3.9.18",
    tag="cp39-cp39-manylinux_2_17_x86_64",
)


def test_complete_platforms_are_optional_in_schema_1() -> None:
    # Manifests without complete platforms keep their bytes (and so their sha256) ...
    assert "complete_platforms" not in json.loads(MANIFEST.dumps())
    # ... and with them, the summary round-trips; older readers ignore the key.
    manifest = dataclasses.replace(MANIFEST, complete_platforms=(CP39,), platforms=("macosx_11_0_arm64-cp-3.12.1-cp312",))
    data = manifest.dumps()
    assert json.loads(data)["complete_platforms"] == [dataclasses.asdict(CP39)]
    assert ReleaseManifest.loads(data, origin="test") == manifest
    assert manifest.platform_tags == ("cp312-cp312-macosx_11_0_arm64", "cp39-cp39-manylinux_2_17_x86_64")


@pytest.mark.parametrize(
    "platform, python, tag",
    [
        ("manylinux2014_x86_64-cp-39-cp39", ("CPython", (3, 9)), "cp39-cp39-manylinux2014_x86_64"),
        ("macosx_11_0_arm64-cp-3.12.1-cp312", ("CPython", (3, 12)), "cp312-cp312-macosx_11_0_arm64"),
        ("linux_x86_64-pp-310-pypy310_pp73", ("PyPy", (3, 10)), "pp310-pypy310_pp73-linux_x86_64"),
    ],
)
def test_abbreviated_platforms_are_read_as_pex_reads_them(platform: str, python: tuple, tag: str) -> None:
    parsed = AbbreviatedPlatform.parse(platform)
    assert ((parsed.implementation, parsed.python), parsed.tag, str(parsed)) == (python, tag, platform)


def test_a_complete_platform_file_is_summarized() -> None:
    data = json.dumps(
        {
            "compatible_tags": ["cp39-cp39-manylinux_2_17_x86_64", "py3-none-any"],
            "marker_environment": {"platform_python_implementation": "CPython", "python_full_version": "3.9.18"},
        }
    ).encode()
    summary = CompletePlatform.from_json("platforms/linux-py39.json", data)
    assert summary == dataclasses.replace(CP39, sha256=hashlib.sha256(data).hexdigest())
    assert summary.python == (3, 9)
    with pytest.raises(ValueError, match=r"platforms/x.json is not a complete platform \(KeyError: 'marker_environment'\)"):
        CompletePlatform.from_json("platforms/x.json", b'{"compatible_tags": []}')


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"platforms": ["linux-x86_64"]}, "'linux-x86_64' is not a pex platform"),
        ({"complete_platforms": [{**dataclasses.asdict(CP39), "tag": "\x1b[2J"}]}, "does not name a Python implementation"),
    ],
)
def test_platforms_in_a_manifest_are_checked(change: dict, problem: str) -> None:
    with pytest.raises(ManifestError, match="does not follow manifest schema 1") as exc:
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), **change}), origin="m.json")
    assert problem in str(exc.value)
