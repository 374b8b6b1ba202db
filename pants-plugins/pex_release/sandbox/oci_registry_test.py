# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The registry client against a real registry on loopback (Debian's docker-registry, started by
build-support/oci-registry): pushes upload only what is missing, pulls verify every byte, and each
error says what went wrong, for which reference, and the fix, without printing a secret."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from pex_release.sandbox import oci_registry
from pex_release_core.redaction import redact_text
from testing.servers import OciRegistry, free_port
from testing.servers import oci_registry as start_oci_registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
USER, PASSWORD = "ci-bot", "hunter2-not-a-real-secret"


# --- Layouts made by hand: one gzipped tar layer per file, a config, a manifest, index.json ---------


def _write_blob(layout: Path, content: bytes) -> dict:
    digest = hashlib.sha256(content).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(content)
    return {"digest": f"sha256:{digest}", "size": len(content)}


def _layer(path: str, content: bytes) -> tuple[bytes, str]:
    """A gzipped tar holding one file, and its diff_id."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(path)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return gzip.compress(tar.getvalue(), mtime=0), f"sha256:{hashlib.sha256(tar.getvalue()).hexdigest()}"


def make_layout(layout: Path, files: Mapping[str, bytes], tags: tuple[str, ...] = ("v1",), arch: str = "amd64") -> dict:
    """Writes an OCI layout of one image (a layer per file); returns its manifest's descriptor."""
    layers, diff_ids = [], []
    for path, content in files.items():
        blob, diff_id = _layer(path, content)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_write_blob(layout, blob)})
        diff_ids.append(diff_id)
    config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}}
    config_descriptor = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        **_write_blob(layout, json.dumps(config, sort_keys=True).encode()),
    }
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_descriptor, "layers": layers}
    descriptor = {"mediaType": OCI_MANIFEST, **_write_blob(layout, json.dumps(manifest, sort_keys=True).encode())}
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{**descriptor, "annotations": {"org.opencontainers.image.ref.name": t}} for t in tags]
        or [descriptor],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return descriptor


def blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def manifest_of(layout: Path) -> dict:
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    return json.loads(blob_path(layout, digest).read_bytes())


# --- Fixtures and helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with start_oci_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with start_oci_registry(tmp_path_factory.mktemp("auth-registry"), username=USER, password=PASSWORD) as server:
        yield server


# A token server of the distribution spec's token auth (what Docker Hub, GHCR or Harbor use): it gives
# USER a JWT for the scopes asked, signed with a key whose certificate the registry trusts.
TOKEN_SERVICE = "pex-release-test"  # build-support/oci-registry's service and issuer


@dataclass
class TokenServer:
    url: str
    cert: Path
    scopes: list[str]  # the scopes of the tokens given, in order
    expired_tokens: int = 0  # how many of the next tokens to give already expired


def _openssl(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def self_signed(directory: Path, name: str, *extra: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key, for a TLS server or a token signer."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", f"/CN={name}", *extra)  # fmt: skip
    return cert, key


@contextlib.contextmanager
def token_server(key_dir: Path) -> Iterator[TokenServer]:
    cert, key = self_signed(key_dir, TOKEN_SERVICE)
    public_der = _openssl(
        "pkey", "-pubin", "-outform", "DER", stdin=_openssl("x509", "-in", str(cert), "-pubkey", "-noout")
    )
    # The registry finds the key by its libtrust key ID: base32 of the first 240 bits of its sha256.
    key_id = base64.b32encode(hashlib.sha256(public_der).digest()[:30]).decode()
    state = TokenServer("", cert, [])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.end_headers()
                return
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            scopes = query.get("scope", [])
            state.scopes.extend(scopes)
            now = int(time.time())
            if state.expired_tokens:
                state.expired_tokens -= 1
                now -= 3600
            claims = {
                "iss": TOKEN_SERVICE,
                "sub": USER,
                "aud": TOKEN_SERVICE,
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": [
                    {"type": kind, "name": name, "actions": actions.split(",")}
                    for kind, name, actions in (scope.split(":") for scope in scopes)
                ],
            }
            header = {"typ": "JWT", "alg": "RS256", "kid": ":".join(key_id[i : i + 4] for i in range(0, 48, 4))}
            signed = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
            signature = _openssl("dgst", "-sha256", "-sign", str(key), stdin=signed.encode())
            body = json.dumps({"token": f"{signed}.{_b64url(signature)}", "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    with token_server(tmp_path_factory.mktemp("token-server")) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory, tokens: TokenServer) -> Iterator[OciRegistry]:
    with start_oci_registry(
        tmp_path_factory.mktemp("token-registry"), token_realm=tokens.url, token_cert=tokens.cert
    ) as server:
        yield server


@pytest.fixture(params=["auth_registry", "token_registry"])  # basic auth, bearer tokens
def secured_registry(request: pytest.FixtureRequest) -> OciRegistry:
    return request.getfixturevalue(request.param)


@pytest.fixture(autouse=True)
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No auth file unless a test writes one: $DOCKER_CONFIG is an empty directory."""
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    return docker_config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    try:
        code = oci_registry.main(list(args))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def push(capsys: pytest.CaptureFixture[str], layout: Path, repository: str, *extra: str) -> tuple[int, list[str], str]:
    return run(capsys, "push", "--layout", str(layout), "--repository", repository, *extra)


def pull(
    capsys: pytest.CaptureFixture[str], reference: str, output: Path, platform: str = "linux/amd64"
) -> tuple[int, list[str], str]:
    return run(capsys, "pull", "--reference", reference, "--platform", platform, "--output", str(output))


def registry_get(
    server: OciRegistry, path: str, method: str = "GET", accept: str = OCI_MANIFEST
) -> tuple[int, Mapping[str, str], bytes]:
    request = urllib.request.Request(f"http://{server.address}{path}", method=method, headers={"Accept": accept})
    if server.username:
        token = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def tag_digest(server: OciRegistry, name: str, tag: str) -> str | None:
    status, headers, _ = registry_get(server, f"/v2/{name}/manifests/{tag}", method="HEAD")
    return headers["Docker-Content-Digest"] if status == 200 else None


def uploaded(lines: list[str]) -> set[str]:
    return {m[1] for line in lines if (m := re.fullmatch(r"  uploaded (sha256:[0-9a-f]{64}) \([\d,]+ bytes\)", line))}


def blobs_of(layout: Path) -> list[dict]:
    manifest = manifest_of(layout)
    return [*manifest["layers"], manifest["config"]]


def summary(pushed: list[dict], skipped: list[dict], image: str, tags: str) -> str:
    def count(blobs: list[dict]) -> str:
        return f"{len(blobs)} blob{'' if len(blobs) == 1 else 's'} ({sum(b['size'] for b in blobs):,} bytes)"

    return f"pushed {count(pushed)}, skipped {count(skipped)}; {image} {tags}"


def write_auth_file(path: Path, host: str, entry: dict, **extra: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {host: entry}, **extra}))
    return path


def basic(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- push ----------------------------------------------------------------------------------------------


def test_push_uploads_every_blob_then_the_manifest_and_each_tag(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "image"
    descriptor = make_layout(layout, {"app/a.txt": b"a" * 1000, "app/b.txt": b"b"}, tags=("1.0.0", "latest"))
    repository = f"{registry.address}/acme/first"

    code, lines, err = push(capsys, layout, repository)

    assert (code, err) == (0, "")
    blobs = blobs_of(layout)
    assert uploaded(lines[:-1]) == {b["digest"] for b in blobs} and len(lines) == len(blobs) + 1
    assert lines[-1] == summary(blobs, [], f"{repository}@{descriptor['digest']}", "tagged 1.0.0, latest")
    assert tag_digest(registry, "acme/first", "1.0.0") == descriptor["digest"]
    assert tag_digest(registry, "acme/first", "latest") == descriptor["digest"]
    _, _, served = registry_get(registry, f"/v2/acme/first/manifests/{descriptor['digest']}")
    assert served == blob_path(layout, descriptor["digest"]).read_bytes()


def test_pushing_again_uploads_nothing(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "image"
    descriptor = make_layout(layout, {"app/a.txt": b"a", "app/b.txt": b"b"})
    repository = f"{registry.address}/acme/again"
    assert push(capsys, layout, repository)[0] == 0

    code, lines, err = push(capsys, layout, repository, "--tag", "stable")

    assert (code, err) == (0, "")
    assert lines == [summary([], blobs_of(layout), f"{repository}@{descriptor['digest']}", "tagged stable")]
    assert tag_digest(registry, "acme/again", "stable") == descriptor["digest"]


def test_a_changed_layer_uploads_only_it_and_the_config(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = f"{registry.address}/acme/edit"
    make_layout(tmp_path / "v1", {"app/deps.txt": b"wheels" * 1000, "app/srcs.py": b"print(1)\n"}, tags=("v1",))
    assert push(capsys, tmp_path / "v1", repository)[0] == 0
    descriptor = make_layout(
        tmp_path / "v2", {"app/deps.txt": b"wheels" * 1000, "app/srcs.py": b"print(2)\n"}, tags=("v2",)
    )

    code, lines, _ = push(capsys, tmp_path / "v2", repository)

    deps, srcs, config = blobs_of(tmp_path / "v2")
    assert code == 0
    assert uploaded(lines) == {srcs["digest"], config["digest"]}
    assert lines[-1] == summary([srcs, config], [deps], f"{repository}@{descriptor['digest']}", "tagged v2")


def test_a_layout_without_tags_is_pushed_by_digest(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    descriptor = make_layout(tmp_path / "image", {"a": b"a"}, tags=())
    code, lines, _ = push(capsys, tmp_path / "image", f"{registry.address}/acme/untagged")
    assert code == 0 and lines[-1].endswith(f"@{descriptor['digest']} untagged")
    assert registry_get(registry, f"/v2/acme/untagged/manifests/{descriptor['digest']}")[0] == 200


def test_an_invalid_tag_is_refused_before_anything_is_uploaded(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_layout(tmp_path / "image", {"a": b"invalid tag"})

    code, lines, err = push(capsys, tmp_path / "image", f"{registry.address}/acme/badtag", "--tag", "-1.0")

    assert (code, lines) == (1, [])
    assert err.startswith("oci_registry: error: '-1.0' is not a valid image tag: a tag is 1 to 128 characters")
    config = manifest_of(tmp_path / "image")["config"]["digest"]
    assert registry_get(registry, f"/v2/acme/badtag/blobs/{config}", method="HEAD")[0] == 404


def test_a_damaged_layout_blob_is_named(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_layout(tmp_path / "image", {"a": b"original"})
    layer = blob_path(tmp_path / "image", manifest_of(tmp_path / "image")["layers"][0]["digest"])
    damaged = bytearray(layer.read_bytes())
    damaged[-1] ^= 0xFF
    layer.write_bytes(bytes(damaged))

    code, _, err = push(capsys, tmp_path / "image", f"{registry.address}/acme/damaged")

    assert code == 1
    assert "DIGEST_INVALID" in err and f"{layer} does not match its digest: rebuild the layout" in err
    assert tag_digest(registry, "acme/damaged", "v1") is None


def test_a_layout_naming_a_digest_that_is_not_one_is_refused(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_layout(tmp_path / "image", {"a": b"a"})
    index = json.loads((tmp_path / "image" / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../etc/passwd"
    (tmp_path / "image" / "index.json").write_text(json.dumps(index))

    code, _, err = push(capsys, tmp_path / "image", f"{registry.address}/acme/baddigest")

    assert code == 1
    assert err == (
        f"oci_registry: error: --layout {tmp_path / 'image'}: index.json names the digest 'sha256:../../../etc/passwd', "
        "which is not sha256: and 64 lowercase hex digits\n"
    )


def test_an_interrupted_push_leaves_no_tag_and_a_rerun_completes_it(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "image"
    descriptor = make_layout(layout, {"a": b"a" * 5000, "b": b"b" * 5000, "stalls": b"c" * 5000})
    *others, stalling, config = blobs_of(layout)
    # The third layer's blob becomes a FIFO: its upload blocks on it, so the push is surely midway
    # (the other blobs uploaded, the manifest not yet) when it is killed.
    stalling_blob = blob_path(layout, stalling["digest"])
    content = stalling_blob.read_bytes()
    stalling_blob.unlink()
    os.mkfifo(stalling_blob)
    repository = f"{registry.address}/acme/interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", oci_registry.__name__, "push", "--layout", str(layout), "--repository", repository],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    lines = [process.stdout.readline().rstrip("\n") for _ in range(len(others) + 1)]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert uploaded(lines) == {b["digest"] for b in (*others, config)}
    assert tag_digest(registry, "acme/interrupted", "v1") is None
    assert registry_get(registry, f"/v2/acme/interrupted/manifests/{descriptor['digest']}")[0] == 404

    stalling_blob.unlink()
    stalling_blob.write_bytes(content)
    code, lines, _ = push(capsys, layout, repository)

    assert code == 0
    assert lines == [
        f"  uploaded {stalling['digest']} ({stalling['size']:,} bytes)",
        summary([stalling], [*others, config], f"{repository}@{descriptor['digest']}", "tagged v1"),
    ]
    assert tag_digest(registry, "acme/interrupted", "v1") == descriptor["digest"]


def test_a_repository_must_name_its_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_layout(tmp_path / "image", {"a": b"a"})
    code, _, err = push(capsys, tmp_path / "image", "acme/api")
    assert code == 1
    assert err == (
        "oci_registry: error: --repository 'acme/api' is not HOST[:PORT]/NAME: it must start with the registry's host "
        "(e.g. registry.example.com/acme/api, localhost:5000/api, docker.io/library/python), then lowercase path "
        "components\n"
    )


# --- pull ----------------------------------------------------------------------------------------------


def test_pull_by_digest_writes_a_layout_of_the_same_blobs(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "image"
    descriptor = make_layout(source, {"a": b"a" * 3000, "b": b"b"})
    assert push(capsys, source, f"{registry.address}/acme/pulled")[0] == 0
    reference = f"{registry.address}/acme/pulled:v1@{descriptor['digest']}"

    code, lines, err = pull(capsys, reference, tmp_path / "out")

    assert (code, err) == (0, "")
    assert lines == [
        f"pulled {reference} for linux/amd64 into {tmp_path / 'out'}: manifest {descriptor['digest']}, 2 layers"
    ]
    pulled = sorted(p.name for p in (tmp_path / "out" / "blobs" / "sha256").iterdir())
    assert pulled == sorted(p.name for p in (source / "blobs" / "sha256").iterdir())
    for name in pulled:
        assert (tmp_path / "out" / "blobs" / "sha256" / name).read_bytes() == (
            source / "blobs" / "sha256" / name
        ).read_bytes()
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"] == [{**descriptor, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]
    assert json.loads((tmp_path / "out" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def skopeo(*args: str) -> str:
    # From the test target's dependency on //build-support:oci-registry, which holds os-packages.
    subprocess.run(["build-support/os-packages", "skopeo"], check=True)
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, check=True).stdout


def test_pull_reads_a_docker_format_image_and_skopeo_reads_the_layout(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_layout(tmp_path / "image", {"a": b"docker", "b": b"format"})
    destination = f"docker://{registry.address}/acme/docker-format:v1"
    skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{tmp_path / 'image'}:v1", destination)
    digest = json.loads(skopeo("inspect", "--tls-verify=false", destination))["Digest"]

    code, _, err = pull(capsys, f"{registry.address}/acme/docker-format@{digest}", tmp_path / "out")

    assert (code, err) == (0, "")
    (entry,) = json.loads((tmp_path / "out" / "index.json").read_text())["manifests"]
    assert (entry["digest"], entry["mediaType"]) == (digest, "application/vnd.docker.distribution.manifest.v2+json")
    pulled = json.loads(skopeo("inspect", f"oci:{tmp_path / 'out'}"))
    assert (pulled["Digest"], pulled["Layers"]) == (
        digest,
        [b["digest"] for b in manifest_of(tmp_path / "image")["layers"]],
    )


def _push_index(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str], name: str
) -> tuple[str, dict]:
    """Pushes an amd64 and an arm64 image and an index of both; returns the index digest and the arm64 descriptor."""
    entries = []
    for arch in ("amd64", "arm64"):
        descriptor = make_layout(tmp_path / arch, {"arch.txt": arch.encode()}, tags=(arch,), arch=arch)
        assert push(capsys, tmp_path / arch, f"{registry.address}/{name}")[0] == 0
        entries.append(
            {
                **descriptor,
                "platform": {"os": "linux", "architecture": arch, **({"variant": "v8"} if arch == "arm64" else {})},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    digest = f"sha256:{hashlib.sha256(index).hexdigest()}"
    request = urllib.request.Request(
        f"http://{registry.address}/v2/{name}/manifests/{digest}",
        data=index,
        method="PUT",
        headers={"Content-Type": OCI_INDEX},
    )
    urllib.request.urlopen(request).close()
    return digest, entries[1]


def test_pull_of_an_index_takes_the_platforms_manifest(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    index_digest, arm64 = _push_index(tmp_path, registry, capsys, "acme/multi")
    output = tmp_path / "out"

    code, _, err = pull(capsys, f"{registry.address}/acme/multi@{index_digest}", output, "linux/arm64")

    assert (code, err) == (0, "")
    assert json.loads((output / "index.json").read_text())["manifests"] == [arm64]
    layer = manifest_of(output)["layers"][0]["digest"]
    assert blob_path(output, layer).read_bytes() == blob_path(tmp_path / "arm64", layer).read_bytes()


def test_pull_of_an_index_without_the_platform_names_those_it_has(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    index_digest, _ = _push_index(tmp_path, registry, capsys, "acme/nos390x")
    reference = f"{registry.address}/acme/nos390x@{index_digest}"

    code, _, err = pull(capsys, reference, tmp_path / "out", "linux/s390x")

    assert code == 1
    assert err == (
        f"oci_registry: error: {reference}: the image has no linux/s390x variant (it has: linux/amd64, linux/arm64/v8); "
        "pick an image for linux/s390x\n"
    )
    assert not (tmp_path / "out").exists()


def test_pull_of_an_image_for_another_architecture_is_refused(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    descriptor = make_layout(tmp_path / "image", {"a": b"arm"}, arch="arm64")
    assert push(capsys, tmp_path / "image", f"{registry.address}/acme/arm")[0] == 0
    reference = f"{registry.address}/acme/arm@{descriptor['digest']}"

    code, _, err = pull(capsys, reference, tmp_path / "out")

    assert code == 1
    assert (
        err
        == f"oci_registry: error: {reference}: the image is for linux/arm64, not linux/amd64; pick an image for linux/amd64\n"
    )
    assert not (tmp_path / "out").exists() and list(tmp_path.glob(".out.partial-*")) == []


def test_pull_refuses_a_reference_without_a_digest(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = f"{registry.address}/acme/api:1.0"
    code, _, err = pull(capsys, reference, tmp_path / "out")
    assert code == 1
    assert err == (
        f"oci_registry: error: reference '{reference}' has no digest: pin it as {reference}@sha256:<hex> "
        "(`skopeo inspect docker://REF` prints it), since a tag moves and the image would not be reproducible\n"
    )


def test_pull_does_not_write_over_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("mine")
    reference = f"127.0.0.1:{free_port()}/acme/api@sha256:{'0' * 64}"
    code, _, err = pull(capsys, reference, tmp_path / "out")
    assert code == 1
    assert err == (
        f"oci_registry: error: --output {tmp_path / 'out'} already exists and is not empty; remove it or choose another\n"
    )
    assert (tmp_path / "out" / "kept.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["acme/never-pushed", "acme/pulled-unknown"])
def test_pull_of_an_unknown_repository_or_digest_says_not_found(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    if name == "acme/pulled-unknown":  # the repository exists, the digest does not
        make_layout(tmp_path / "image", {"a": b"known"})
        assert push(capsys, tmp_path / "image", f"{registry.address}/{name}")[0] == 0
    reference = f"{registry.address}/{name}@sha256:{'0' * 64}"

    code, _, err = pull(capsys, reference, tmp_path / "out")

    assert code == 1
    assert re.fullmatch(
        rf"oci_registry: error: {re.escape(reference)}: not found in {re.escape(registry.address)} "
        r"\(HTTP 404 (MANIFEST_UNKNOWN|NAME_UNKNOWN): [^)]*\); check the repository name and the digest\n",
        err,
    ), err


def test_pull_verifies_every_blob_and_leaves_nothing_behind(
    tmp_path: Path, registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    descriptor = make_layout(tmp_path / "image", {"a": b"served damaged"})
    assert push(capsys, tmp_path / "image", f"{registry.address}/acme/rotten")[0] == 0
    layer = manifest_of(tmp_path / "image")["layers"][0]
    hex_digest = layer["digest"].split(":", 1)[1]
    stored = registry.data_dir / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
    stored.write_bytes(b"X" + stored.read_bytes()[1:])  # the registry's disk rots
    reference = f"{registry.address}/acme/rotten@{descriptor['digest']}"

    code, _, err = pull(capsys, reference, tmp_path / "out")

    assert code == 1
    assert err.startswith(
        f"oci_registry: error: {reference}: blob {layer['digest']} arrived damaged ({layer['size']:,} bytes with digest sha256:"
    )
    assert not (tmp_path / "out").exists() and list(tmp_path.glob(".out.partial-*")) == []


# --- Reaching the registry -----------------------------------------------------------------------------


def test_an_unreachable_registry_is_named_with_the_os_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_layout(tmp_path / "image", {"a": b"a"})
    address = f"127.0.0.1:{free_port()}"  # nothing listens there

    code, _, err = push(capsys, tmp_path / "image", f"{address}/acme/api")

    assert code == 1
    assert err == (
        f"oci_registry: error: {address}/acme/api: cannot reach the registry at {address} (https: [Errno 111] "
        "Connection refused; http: [Errno 111] Connection refused); check the host and port, and that the registry "
        "runs\n"
    )


def test_a_registry_not_on_loopback_gets_plain_http_only_with_insecure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_layout(tmp_path / "image", {"a": b"a"})
    prefix = "oci_registry: error: registry.invalid/acme/api: cannot reach the registry at registry.invalid"

    code, _, err = push(capsys, tmp_path / "image", "registry.invalid/acme/api")
    assert code == 1
    assert re.fullmatch(
        rf"{prefix} \(https: [^;]+\); check the host and port, and that the registry runs, a plain-http registry "
        r"that is not on loopback needs --insecure\n",
        err,
    ), err

    code, _, err = push(capsys, tmp_path / "image", "registry.invalid/acme/api", "--insecure")
    assert code == 1
    assert re.fullmatch(
        rf"{prefix} \(https: [^;]+; http: [^;]+\); check the host and port, and that the registry runs\n", err
    ), err


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OciRegistry, Path]]:
    """A registry serving https only, with a self-signed certificate for 127.0.0.1 (yielded too)."""
    state = tmp_path_factory.mktemp("tls-registry")
    cert, key = self_signed(state, "127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
    with start_oci_registry(state / "registry", tls_cert=cert, tls_key=key) as server:
        yield server, cert


def test_https_with_the_ca_bundle_in_ssl_cert_file(
    tmp_path: Path,
    tls_registry: tuple[OciRegistry, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, cert = tls_registry
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    descriptor = make_layout(tmp_path / "image", {"a": b"over https"})
    repository = f"{server.address}/acme/tls"

    code, lines, err = push(capsys, tmp_path / "image", repository)

    assert (code, err) == (0, "")
    assert lines[-1] == summary(blobs_of(tmp_path / "image"), [], f"{repository}@{descriptor['digest']}", "tagged v1")
    assert pull(capsys, f"{repository}@{descriptor['digest']}", tmp_path / "out")[0] == 0


def test_an_untrusted_certificate_is_named_with_the_fix(
    tmp_path: Path,
    tls_registry: tuple[OciRegistry, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = tls_registry
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    make_layout(tmp_path / "image", {"a": b"untrusted"})

    code, _, err = push(capsys, tmp_path / "image", f"{server.address}/acme/untrusted")

    assert code == 1
    # https fails on the certificate; plain http, tried since the host is loopback, gets an https server's 400.
    assert re.fullmatch(
        rf"oci_registry: error: {re.escape(server.address)}/acme/untrusted: cannot reach the registry at "
        rf"{re.escape(server.address)} \(https: [^;]*CERTIFICATE_VERIFY_FAILED[^;]*; http: HTTP 400 on /v2/\); check "
        r"the host and port, and that the registry runs, if its certificate comes from a private CA, set SSL_CERT_FILE "
        r"to a bundle holding it\n",
        err,
    ), err


# --- Credentials ---------------------------------------------------------------------------------------


def test_credentials_from_the_docker_config_let_a_push_and_a_pull_through_unprinted(
    tmp_path: Path, secured_registry: OciRegistry, no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = secured_registry
    write_auth_file(no_credentials / "config.json", server.address, basic(USER, PASSWORD))
    descriptor = make_layout(tmp_path / "image", {"a": b"authorized", "b": b"private"})
    repository = f"{server.address}/acme/authorized"

    code, pushed, err = push(capsys, tmp_path / "image", repository)

    assert (code, err) == (0, "")
    assert pushed[-1] == summary(blobs_of(tmp_path / "image"), [], f"{repository}@{descriptor['digest']}", "tagged v1")
    reference = f"{repository}@{descriptor['digest']}"
    code, pulled, err = pull(capsys, reference, tmp_path / "out")
    assert (code, err) == (0, "")
    for blob in blobs_of(tmp_path / "image"):
        assert (
            blob_path(tmp_path / "out", blob["digest"]).read_bytes()
            == blob_path(tmp_path / "image", blob["digest"]).read_bytes()
        )
    assert PASSWORD not in "\n".join(pushed + pulled)


def test_registry_auth_file_comes_first_and_may_hold_username_and_password(
    tmp_path: Path,
    auth_registry: OciRegistry,
    no_credentials: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_auth_file(no_credentials / "config.json", auth_registry.address, basic(USER, "wrong"))
    auth_file = write_auth_file(
        tmp_path / "auth.json", f"http://{auth_registry.address}", {"username": USER, "password": PASSWORD}
    )
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    make_layout(tmp_path / "image", {"a": b"auth file"})

    code, _, err = push(capsys, tmp_path / "image", f"{auth_registry.address}/acme/authfile")

    assert (code, err) == (0, "")


def test_refused_credentials_name_the_host_and_their_source_but_not_the_secret(
    tmp_path: Path, secured_registry: OciRegistry, no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = secured_registry
    wrong = "wrong-" + PASSWORD
    auth_file = write_auth_file(no_credentials / "config.json", server.address, basic(USER, wrong))
    make_layout(tmp_path / "image", {"a": b"refused"})

    code, lines, err = push(capsys, tmp_path / "image", f"{server.address}/acme/refused")

    assert (code, lines) == (1, [])
    assert err == (
        f"oci_registry: error: {server.address}/acme/refused: {server.address} refused the credentials of "
        f"'{USER}' from {auth_file}; renew them with `docker login {server.address}` (or "
        f"`podman login --authfile $REGISTRY_AUTH_FILE {server.address}`)\n"
    )
    assert wrong not in err and basic(USER, wrong)["auth"] not in err
    # Any other message (an unexpected error's) is printed redacted too.
    assert redact_text(f"header Basic {basic(USER, wrong)['auth']} for {wrong}") == "header Basic *** for ***"


def test_no_credentials_for_a_registry_that_requires_them(
    tmp_path: Path, auth_registry: OciRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_layout(tmp_path / "image", {"a": b"anonymous"})
    code, _, err = push(capsys, tmp_path / "image", f"{auth_registry.address}/acme/anonymous")
    assert code == 1
    assert err == (
        f"oci_registry: error: {auth_registry.address}/acme/anonymous: {auth_registry.address} requires credentials and "
        "there are none for it in REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json (none exists); "
        f"run `docker login {auth_registry.address}`\n"
    )


def test_a_credential_helper_is_refused_with_the_fix(
    tmp_path: Path, auth_registry: OciRegistry, no_credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = no_credentials / "config.json"
    config.write_text(json.dumps({"auths": {}, "credHelpers": {auth_registry.address: "ecr-login"}}))
    make_layout(tmp_path / "image", {"a": b"helper"})

    code, _, err = push(capsys, tmp_path / "image", f"{auth_registry.address}/acme/helper")

    assert code == 1
    assert err == (
        f"oci_registry: error: {auth_registry.address}/acme/helper: {auth_registry.address} requires credentials, and "
        f"{config} names the credential helper 'ecr-login' for it, which is not supported: use an auth file instead, "
        f"e.g. `podman login --authfile FILE {auth_registry.address}` and REGISTRY_AUTH_FILE=FILE\n"
    )


def test_an_expired_token_is_renewed(
    tmp_path: Path,
    token_registry: OciRegistry,
    tokens: TokenServer,
    no_credentials: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_auth_file(no_credentials / "config.json", token_registry.address, basic(USER, PASSWORD))
    descriptor = make_layout(tmp_path / "image", {"a": b"expired"})
    tokens.scopes.clear()
    tokens.expired_tokens = 1

    code, lines, err = push(capsys, tmp_path / "image", f"{token_registry.address}/acme/expired")

    assert (code, err) == (0, "")
    assert lines[-1].endswith(f"@{descriptor['digest']} tagged v1")
    # One token for all of the push's actions, asked for again when the registry refused it.
    assert tokens.scopes[:2] == ["repository:acme/expired:pull,push"] * 2
