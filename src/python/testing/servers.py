# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Real servers on loopback for tests: SeaweedFS (S3) through build-support/s3-server, and an HTTP
server for a directory, which can also answer chosen paths badly (redirect, trickle, stall, send too
much). Every server started here is stopped on the way out."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import socket
import subprocess
import sys
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

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


@dataclass(frozen=True)
class Reply:
    """How the server answers GET and HEAD of one path, instead of serving a file."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"Location": ...} for a redirect
    body: bytes = b""  # Content-Length is its length
    byte_interval: float = 0.0  # seconds between the body's bytes: a trickle (or, long, a stall)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str  # as in the request line, query included
    headers: Mapping[str, str]


@dataclass
class HttpServer:
    url: str  # http://127.0.0.1:<port>
    port: int
    replies: dict[str, Reply]  # by path (without the query); other paths are served from the directory
    requests: list[ReceivedRequest]  # every request received, in order
    stopping: threading.Event


class _Handler(http.server.SimpleHTTPRequestHandler):
    test_server: HttpServer

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        self.test_server.requests.append(ReceivedRequest(self.command, self.path, dict(self.headers)))
        reply = self.test_server.replies.get(urllib.parse.urlsplit(self.path).path)
        if reply is None:
            return super().do_GET() if send_body else super().do_HEAD()
        self.send_response(reply.status)
        for name, value in {"Content-Length": str(len(reply.body)), **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        step = 1 if reply.byte_interval else 1 << 16
        try:
            for start in range(0, len(reply.body), step):
                self.wfile.write(reply.body[start : start + step])
                self.wfile.flush()
                if reply.byte_interval and self.test_server.stopping.wait(reply.byte_interval):
                    return
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading, as it should
            pass

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[HttpServer]:
    """Serves `root` on loopback, except for the paths given replies in the yielded server's
    `replies`, which a test may set at any time."""
    state = HttpServer(url="", port=0, replies={}, requests=[], stopping=threading.Event())
    handler = type("Handler", (_Handler,), {"test_server": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()


# In a test sandbox, from the test target's dependency on `//build-support:oci-registry`.
OCI_REGISTRY_SCRIPT = Path("build-support/oci-registry")


@dataclass(frozen=True)
class OciRegistry:
    address: str  # 127.0.0.1:<port>, the host part of image references
    data_dir: Path  # the registry's storage: tests may damage a blob there
    username: str | None = None  # the basic-auth user it requires, if any
    password: str | None = None


@contextlib.contextmanager
def oci_registry(
    state_dir: Path,
    *,
    username: str | None = None,
    password: str | None = None,
    token_realm: str | None = None,
    token_cert: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> Iterator[OciRegistry]:
    """Debian's docker-registry on loopback through build-support/oci-registry: with htpasswd auth
    when given a user and password (test values), or bearer-token auth when given the URL of a token
    server and the certificate of its signing key; over https when given a certificate and key."""
    script = OCI_REGISTRY_SCRIPT.resolve()
    auth = ["--htpasswd-user", username, "--htpasswd-password", password] if username and password else []
    if token_realm and token_cert:
        auth = ["--token-realm", token_realm, "--token-cert", str(token_cert)]
    if tls_cert and tls_key:
        auth += ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key)]
    started = subprocess.run(
        [sys.executable, str(script), "start", "--dir", str(state_dir), *auth], capture_output=True, text=True
    )
    assert started.returncode == 0, f"build-support/oci-registry start failed:\n{started.stderr}"
    try:
        state = json.loads((state_dir / "server.json").read_text())
        yield OciRegistry(state["address"], Path(state["data_dir"]), username, password)
    finally:
        subprocess.run([sys.executable, str(script), "stop", "--dir", str(state_dir)], check=True)
