# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Fixtures: real servers on loopback (SeaweedFS for s3://, a static HTTP server for http://) and
small releases whose "PEX files" are plain PEP 441 zipapps, which is all pexrun needs to run one."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from pex_release.manifest import Blob, DepsBlob, ReleaseManifest
from pex_release.repository import Repository, open_repository

S3_SERVER = Path("build-support/s3-server").resolve()

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


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    env: dict[str, str]

    def new_bucket(self) -> str:
        import boto3

        name = f"releases-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.endpoint, **self.credentials).create_bucket(Bucket=name)
        return name

    @property
    def credentials(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.env["AWS_SECRET_ACCESS_KEY"],
            "region_name": "us-east-1",
        }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    state = tmp_path_factory.mktemp("s3")
    started = subprocess.run(
        [sys.executable, str(S3_SERVER), "start", "--dir", str(state)], capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr
    try:
        server = json.loads((state / "server.json").read_text())
        env = {
            "AWS_ACCESS_KEY_ID": server["access_key"],
            "AWS_SECRET_ACCESS_KEY": server["secret_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        yield S3Server(server["endpoint"], env)
    finally:
        subprocess.run([sys.executable, str(S3_SERVER), "stop", "--dir", str(state)], check=True)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture(params=["file", "s3"])
def writable_repository(request: pytest.FixtureRequest, tmp_path: Path) -> Repository:
    if request.param == "file":
        return open_repository(f"file://{tmp_path / 'repository'}")
    server: S3Server = request.getfixturevalue("s3_env")
    return open_repository(f"s3://{server.new_bucket()}/releases", s3_endpoint_url=server.endpoint)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback: (directory, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/releases"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def pexrun(*args: str, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs pexrun as its own process: `run` execs, replacing the process."""
    return subprocess.run(
        [sys.executable, "-m", "pexrun.main", "--cache-dir", str(cache), *args],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
