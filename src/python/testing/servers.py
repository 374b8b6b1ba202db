# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Real servers on loopback for tests: SeaweedFS (S3) through build-support/s3-server, and a
static HTTP server for a directory. Every server started here is stopped on the way out."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# In a test sandbox, from the test target's dependency on `//build-support:s3-server`.
S3_SERVER_SCRIPT = Path("build-support/s3-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    @property
    def env(self) -> dict[str, str]:
        """Client settings, as boto3 reads them from the environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        import boto3  # pants: no-infer-dep

        name = f"releases-{uuid.uuid4().hex[:12]}"
        client = boto3.session.Session(
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key, region_name="us-east-1"
        ).client("s3", endpoint_url=self.endpoint)
        client.create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def s3_server(state_dir: Path) -> Iterator[S3Server]:
    script = S3_SERVER_SCRIPT.resolve()
    started = subprocess.run([sys.executable, str(script), "start", "--dir", str(state_dir)], capture_output=True, text=True)
    assert started.returncode == 0, f"build-support/s3-server start failed:\n{started.stderr}"
    try:
        state = json.loads((state_dir / "server.json").read_text())
        yield S3Server(state["endpoint"], state["access_key"], state["secret_key"])
    finally:
        subprocess.run([sys.executable, str(script), "stop", "--dir", str(state_dir)], check=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Serves `root` on loopback; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
