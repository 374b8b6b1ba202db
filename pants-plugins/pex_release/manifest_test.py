# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import json

import pytest

from pex_release.manifest import Blob, DepsBlob, Distribution, ManifestError, ReleaseManifest

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
