# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Fixtures: real servers on loopback (SeaweedFS for s3://, a static HTTP server for http://), and
small releases whose "PEX files" are plain PEP 441 zipapps, which is all pexrun needs to run one."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from pex_release.manifest import Blob, DepsBlob, ReleaseManifest
from pex_release.repository import Repository, open_repository
from testing.servers import S3Server, http_server, s3_server

# The sources "PEX": reports how pexrun started it.
REPORTER = """\
import json, os, sys
print(json.dumps({
    "argv0": os.path.basename(sys.argv[0]),
    "args": sys.argv[1:],
    "pex_path": os.environ.get("PEX_PATH"),
    "pex_module": os.environ.get("PEX_MODULE"),
    "app": os.environ.get("PEXRUN_APP"),
    "version": os.environ.get("PEXRUN_VERSION"),
}))
"""


def zipapp(path: Path, main: str, marker: str = "") -> Path:
    # A fixed timestamp: equal content must give equal bytes, as PEX builds do.
    entry = zipfile.ZipInfo("__main__.py", date_time=(2026, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(entry, main + f"# {marker}\n")
    return path


def blob(path: Path) -> Blob:
    data = path.read_bytes()
    return Blob(file=path.name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def make_release(
    directory: Path,
    app: str,
    version: str,
    *,
    deps: str = "deps-v1",
    sources: str | None = None,
    interpreter_constraints: tuple[str, ...] = ("CPython>=3.9",),
) -> Path:
    """Writes `<app>.release.json` and its two blobs into `directory`; returns the manifest path."""
    directory.mkdir(parents=True, exist_ok=True)
    deps_file = zipapp(directory / f"deps-{deps}.pex", "print('deps')\n", marker=deps)
    sources_file = zipapp(directory / f"{app}-srcs.pex", REPORTER, marker=sources or f"{app} {version}")
    manifest = ReleaseManifest(
        app=app,
        version=version,
        revision="0" * 40,
        entry_point=f"{app}.main",
        scripts={"report": f"{app}.report:main"},
        interpreter_constraints=interpreter_constraints,
        deps=DepsBlob(**dataclasses.asdict(blob(deps_file)), subset_key=hashlib.sha256(deps.encode()).hexdigest()),
        sources=blob(sources_file),
    )
    path = directory / f"{app}.release.json"
    path.write_bytes(manifest.dumps())
    return path


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture(params=["file", "s3"])
def writable_repository(request: pytest.FixtureRequest, tmp_path: Path) -> Repository:
    if request.param == "file":
        return open_repository(f"file://{tmp_path / 'repository'}")
    server: S3Server = request.getfixturevalue("s3_env")
    return open_repository(f"s3://{server.new_bucket()}/releases", s3_endpoint_url=server.endpoint)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback: (directory, repository URL under it)."""
    root = tmp_path / "served"
    root.mkdir()
    with http_server(root) as url:
        yield root, f"{url}/releases"


def pexrun(*args: str, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs pexrun as its own process: `run` execs, replacing the process."""
    return subprocess.run(
        [sys.executable, "-m", "pexrun.main", "--cache-dir", str(cache), *args],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
