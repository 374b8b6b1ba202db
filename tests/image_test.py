"""`./pants package` builds OCI images of the api and cli releases with no Docker daemon; they run
read-only under podman + runc, and `./pants publish` pushes to a real registry (docker-registry on
loopback) only the blobs it lacks."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from conftest import ORIGIN, PackagedRepo, PantsRun, ScratchRepo, wait_for_http

from pex_release_core.oci.model import Platform
from pex_release_core.oci.writing import image_from_rootfs
from testing.containers import Podman, podman_in
from testing.lockfile import index_artifacts, locked_entry, replace_locked_version
from testing.servers import OciRegistry, free_port, oci_registry

IMAGE_APPS = ("api", "cli")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def summary(repo: ScratchRepo, app: str) -> dict:
    return json.loads((repo.root / "dist" / "images" / f"{app}.image.json").read_text())


def layout(repo: ScratchRepo, app: str) -> Path:
    return repo.root / "dist" / "images" / f"{app}.oci"


def layer_digests(image: dict, role: str) -> list[str]:
    return [layer["digest"] for layer in image["layers"] if layer["role"] == role]


def publish_images(repo: ScratchRepo, registry: OciRegistry, *apps: str, check: bool = True, **env: str) -> PantsRun:
    return repo.pants(
        "package",
        "publish",
        *(f"src/python/apps/{app}:image" for app in apps),
        check=check,
        env={"PANTS_PEX_RELEASES_REGISTRY": registry.address, **env},
    )


def pushed_blobs(run: PantsRun) -> set[str]:
    """The digests the registry client says it uploaded."""
    return {line.split()[1] for line in run.stdout.splitlines() if line.startswith("  uploaded sha256:")}


def tagged_digest(registry: OciRegistry, name: str, tag: str) -> str:
    request = urllib.request.Request(f"http://{registry.address}/v2/{name}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers["Docker-Content-Digest"]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with oci_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="session")
def skopeo() -> str:
    """skopeo, installed by build-support/os-packages when missing."""
    subprocess.run(["build-support/os-packages", "skopeo"], check=True)
    return "skopeo"


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    with podman_in(tmp_path_factory.mktemp("podman")) as p:
        yield p


def test_an_image_is_the_base_then_bootstrap_wheels_and_sources(packaged_repo: PackagedRepo, skopeo: str) -> None:
    repo = packaged_repo.repo
    images = {app: summary(repo, app) for app in IMAGE_APPS}
    for app, image in images.items():
        manifest = packaged_repo.manifest(app)
        roles = [layer["role"] for layer in image["layers"]]
        wheels = len(manifest["deps"]["distributions"])
        assert roles == ["base"] * roles.count("base") + ["bootstrap"] + ["wheel"] * wheels + ["deps", "sources"]
        assert sorted(layer["name"] for layer in image["layers"] if layer["role"] == "wheel") == sorted(
            d["file"] for d in manifest["deps"]["distributions"]
        )
        # skopeo reads the layout: the same layers, the labels from the release manifest.
        tag = manifest["version"].replace("+", "-")
        assert image["tags"] == [tag, "latest"]
        inspected = json.loads(
            subprocess.run([skopeo, "inspect", f"oci:{layout(repo, app)}:{tag}"], check=True, capture_output=True, text=True).stdout
        )
        assert inspected["Layers"] == [layer["digest"] for layer in image["layers"]]
        assert inspected["Digest"] == image["manifest"]["digest"]
        labels = inspected["Labels"]
        assert labels["org.opencontainers.image.version"] == manifest["version"]
        assert labels["org.opencontainers.image.revision"] == manifest["revision"]
        assert labels["org.opencontainers.image.title"] == app
        assert labels["org.opencontainers.image.source"] == ORIGIN  # Without the remote's credentials.
    # Both apps build on the same base and pex bootstrap: a host that has one image pulls neither again.
    for role in ("base", "bootstrap"):
        assert layer_digests(images["api"], role) == layer_digests(images["cli"], role)


def test_images_run_read_only_and_install_nothing_at_start(packaged_repo: PackagedRepo, podman: Podman) -> None:
    repo = packaged_repo.repo
    api = podman.load(layout(repo, "api"), "latest")
    port = free_port()
    server = podman.start(api, ["--host", "127.0.0.1", "--port", str(port)], network="host")
    try:
        server.wait_for_port(port)
        health = json.loads(wait_for_http(f"http://127.0.0.1:{port}/healthz"))
        assert health == {"status": "ok", "service": "api", "release": "dev"}
        # The target's `env` rides in the sources PEX, as outside a container.
        assert '"env": "prod"' in server.logs()
    finally:
        server.stop()

    cli = podman.load(layout(repo, "cli"), "latest")
    usage = podman.run(cli, ["--help"])
    assert usage.returncode == 0 and "Acme developer tools" in usage.stdout, usage.stderr
    # pex found every wheel installed in the image: its PEX_ROOT (/tmp/.pex) gets no installed_wheels.
    probe = (
        "import os, subprocess, sys; "
        "subprocess.run([sys.executable, '/app/srcs.pex', '--help'], check=True, capture_output=True); "
        "print(sorted(os.listdir('/tmp/.pex')))"
    )
    listed = podman.run(cli, ["-c", probe], entrypoint="/usr/bin/python3")
    assert listed.returncode == 0, listed.stderr
    assert "installed_wheels" not in listed.stdout and "interpreters" in listed.stdout


@pytest.mark.parametrize(
    "field, message",
    [
        ('image_tags=["v1 final"]', "The `image_tags` field in target src/python/apps/broken:image gives the tag 'v1 final'"),
        ('base_image="python:3.12-slim"', "The `base_image` field in target src/python/apps/broken:image is 'python:3.12-slim'"),
        # Port 9 (discard) on loopback: nothing listens there.
        (f'base_image="127.0.0.1:9/acme/python@sha256:{"0" * 64}"', "127.0.0.1:9"),
        ('base_image="oci:arm64-base"', "linux/arm64"),
        ('base_image="oci:no-python-base"', "python3"),
        # Paths out of the repository, which Pants cannot read: the target and field, not Pants' error.
        ('base_image="oci:../../../../../../etc"', "is 'oci:../../../../../../etc': the path resolves to '../../etc', outside the repository"),
        ('base_image="oci-archive:/etc/passwd"', "is 'oci-archive:/etc/passwd': the path resolves to '/etc/passwd', outside the repository"),
    ],
)
def test_bad_image_input_fails_naming_the_target(packaged_repo: PackagedRepo, field: str, message: str) -> None:
    repo = packaged_repo.repo
    broken = repo.root / "src/python/apps/broken"
    repo.write("src/python/apps/broken/main.py", "print('broken')\n")
    repo.write(
        "src/python/apps/broken/BUILD",
        f'python_sources()\npex_release(name="release", entry_point="main.py", version="1")\n'
        f'pex_release_image(name="image", release=":release", {field})\n',
    )
    for name, platform, with_python in (("arm64-base", "linux/arm64", True), ("no-python-base", "linux/amd64", False)):
        write_base(broken / name, platform, with_python)
    try:
        run = repo.pants("package", "src/python/apps/broken:image", check=False)
    finally:
        shutil.rmtree(broken)
    assert run.returncode != 0
    assert message in " ".join(run.stderr.split()), run.stderr[-3000:]
    assert not (repo.root / "dist/images/broken.oci").exists()


def write_base(out: Path, platform: str, with_python: bool) -> None:
    """A small base image layout: a root file system with (or without) a Python 3.12 layout."""
    rootfs = out.parent / f"{out.name}-rootfs"
    (rootfs / "usr/bin").mkdir(parents=True)
    if with_python:
        (rootfs / "opt/python/lib/python3.12").mkdir(parents=True)
        (rootfs / "opt/python/lib/python3.12/os.py").write_text("")
        (rootfs / "opt/python/bin").mkdir(parents=True)
        (rootfs / "opt/python/bin/python3.12").write_text("")
        (rootfs / "opt/python/bin/python3.12").chmod(0o755)
        (rootfs / "usr/bin/python3").symlink_to("../../opt/python/bin/python3.12")
    image_from_rootfs(out, rootfs, platform=Platform.parse(platform), env={"PATH": "/usr/bin"}, created_by="test")
    shutil.rmtree(rootfs)


def test_a_registry_that_refuses_the_credentials_gets_no_secret_printed(
    packaged_repo: PackagedRepo, tmp_path: Path
) -> None:
    password = "s3cret-Pa55word-never-printed"
    auth_file = tmp_path / "auth.json"
    with oci_registry(tmp_path / "state", username="ci", password="the-right-one") as locked:
        token = base64.b64encode(f"ci:{password}".encode()).decode()
        auth_file.write_text(json.dumps({"auths": {locked.address: {"auth": token}}}))
        run = publish_images(packaged_repo.repo, locked, "cli", check=False, REGISTRY_AUTH_FILE=str(auth_file))
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert password not in output and token not in output
    assert f"{locked.address}" in output and str(auth_file) in output, output[-3000:]


def test_publish_without_a_registry_says_how_to_set_it(packaged_repo: PackagedRepo) -> None:
    run = packaged_repo.repo.pants("publish", "src/python/apps/cli:image", check=False)
    assert run.returncode != 0
    assert (
        "The `repository` field in target src/python/apps/cli:image is '{registry}/acme/cli': it names "
        "`{registry}`, and `[pex-releases].registry` is not set. To fix, set it in pants.toml or as "
        "PANTS_PEX_RELEASES_REGISTRY=host[:port]"
    ) in " ".join(run.stderr.split()), run.stderr[-3000:]


# The tests below change the scratch repository (and put it back), so they run last.


def test_a_source_edit_pushes_only_the_sources_layer(packaged_repo: PackagedRepo, registry: OciRegistry) -> None:
    repo = packaged_repo.repo
    first = publish_images(repo, registry, *IMAGE_APPS)
    before = {app: summary(repo, app) for app in IMAGE_APPS}
    assert pushed_blobs(first) >= {layer["digest"] for layer in before["api"]["layers"]}
    assert tagged_digest(registry, "acme/api", "latest") == before["api"]["manifest"]["digest"]

    app_py = repo.root / "src/python/apps/api/app.py"
    original = app_py.read_text()
    app_py.write_text(original + "\n# A one-line edit.\n")
    try:
        edited = publish_images(repo, registry, "api")
    finally:
        app_py.write_text(original)
    after = summary(repo, "api")
    changed = [l["role"] for l, old in zip(after["layers"], before["api"]["layers"]) if l["digest"] != old["digest"]]
    assert changed == ["sources"]
    assert pushed_blobs(edited) == {*layer_digests(after, "sources"), after["config"]}
    assert tagged_digest(registry, "acme/api", "latest") == after["manifest"]["digest"]


def test_a_wheel_bump_pushes_only_that_wheels_layer(packaged_repo: PackagedRepo, registry: OciRegistry) -> None:
    repo = packaged_repo.repo
    publish_images(repo, registry, "cli")
    before = summary(repo, "cli")
    lock = repo.root / "3rdparty/python/default.lock"
    original = lock.read_text()
    pinned = locked_entry(lock, "click")["version"]
    bumped = "8.1.7" if pinned != "8.1.7" else "8.1.8"
    replace_locked_version(repo.root, "click", bumped, index_artifacts("click", bumped))
    try:
        run = publish_images(repo, registry, "cli")
    finally:
        lock.write_text(original)
    after = summary(repo, "cli")
    (wheel,) = [l for l in after["layers"] if l["role"] == "wheel"]
    assert wheel["name"].startswith(f"click-{bumped}-")
    changed = {l["role"] for l, old in zip(after["layers"], before["layers"]) if l["digest"] != old["digest"]}
    assert changed == {"wheel", "deps"}
    assert pushed_blobs(run) == {wheel["digest"], *layer_digests(after, "deps"), after["config"]}


def registry_get(registry: OciRegistry, name: str, kind: str, reference: str) -> bytes:
    request = urllib.request.Request(f"http://{registry.address}/v2/{name}/{kind}/{reference}", headers={"Accept": MANIFEST})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def keypair(directory: Path, name: str) -> tuple[Path, Path]:
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private)], check=True)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True)
    return private, public


def test_a_signed_publish_pushes_a_cosign_signature_that_the_public_key_verifies(
    packaged_repo: PackagedRepo, registry: OciRegistry, tmp_path: Path
) -> None:
    repo = packaged_repo.repo
    team, rotated = keypair(tmp_path, "team"), keypair(tmp_path, "rotated")
    run = publish_images(repo, registry, "cli", PANTS_PEX_RELEASES_SIGNING_KEY_FILE=str(team[0]))
    digest = summary(repo, "cli")["manifest"]["digest"]
    tag = digest.replace(":", "-") + ".sig"
    assert f"{registry.address}/acme/cli:{tag} signed with key " in run.stdout

    def signatures() -> tuple[dict, list[tuple[dict, bytes]]]:
        manifest = json.loads(registry_get(registry, "acme/cli", "manifests", tag))
        return manifest, [(layer, registry_get(registry, "acme/cli", "blobs", layer["digest"])) for layer in manifest["layers"]]

    def verifies(public: Path, payload: bytes, layer: dict) -> bool:
        key = serialization.load_pem_public_key(public.read_bytes())
        try:
            key.verify(base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]), payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    # cosign's layout: an OCI manifest whose layer is the simple-signing payload, the signature in its annotation.
    manifest, [(layer, payload)] = signatures()
    assert manifest["mediaType"] == MANIFEST and manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert json.loads(payload) == {
        "critical": {
            "identity": {"docker-reference": f"{registry.address}/acme/cli"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    assert verifies(team[1], payload, layer) and not verifies(rotated[1], payload, layer)
    # An identical publish keeps the signature; one with a new key adds its own.
    again = publish_images(repo, registry, "cli", PANTS_PEX_RELEASES_SIGNING_KEY_FILE=str(team[0]))
    assert f"{tag} already holds key " in again.stdout and signatures()[0] == manifest
    publish_images(repo, registry, "cli", PANTS_PEX_RELEASES_SIGNING_KEY_FILE=str(rotated[0]))
    _, layers = signatures()
    assert [verifies(team[1], p, l) for l, p in layers] == [True, False]
    assert [verifies(rotated[1], p, l) for l, p in layers] == [False, True]


@dataclass(frozen=True)
class GpgKeys:
    home: Path  # GNUPGHOME, with the team's secret key
    fingerprint: str
    team: Path  # the public keys, exported as policy.json's keyPath reads them
    other: Path


@pytest.fixture(scope="module")
def gpg_keys() -> Iterator[GpgKeys]:
    # A short path: gpg-agent's socket must fit in a sockaddr_un.
    base = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    try:
        homes = {name: base / name for name in ("team", "other")}
        for name, home in homes.items():
            home.mkdir(mode=0o700)
            subprocess.run(
                ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.com>", "default", "default", "never"],
                env={**os.environ, "GNUPGHOME": str(home)}, check=True, capture_output=True,
            )  # fmt: skip
            exported = subprocess.run(["gpg", "--export"], env={**os.environ, "GNUPGHOME": str(home)}, check=True, capture_output=True)
            (base / f"{name}.gpg").write_bytes(exported.stdout)
        listed = subprocess.run(
            ["gpg", "--list-secret-keys", "--with-colons"], env={**os.environ, "GNUPGHOME": str(homes["team"])},
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
        yield GpgKeys(homes["team"], fingerprint, base / "team.gpg", base / "other.gpg")
    finally:
        for home in (base / "team", base / "other"):
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)}, check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_gpg_signed_images_copy_and_pull_and_the_containers_tools_refuse_the_rest(
    packaged_repo: PackagedRepo, registry: OciRegistry, gpg_keys: GpgKeys, skopeo: str, podman: Podman, tmp_path: Path
) -> None:
    repo, store = packaged_repo.repo, tmp_path / "lookaside"
    signing = {
        "PANTS_PEX_RELEASES_IMAGE_GPG_KEY": gpg_keys.fingerprint,
        "PANTS_PEX_RELEASES_IMAGE_SIGNATURE_STORE": str(store),
        "GNUPGHOME": str(gpg_keys.home),
    }
    run = publish_images(repo, registry, "cli", **signing)
    (signed,) = [line for line in run.stdout.splitlines() if line.startswith("signed ")]
    assert f"{registry.address}/acme/cli:latest" in signed
    assert f" with GPG key {gpg_keys.fingerprint} into {store}/acme/cli@sha256=" in signed
    publish_images(repo, registry, "api")  # unsigned
    cli_digest = summary(repo, "cli")["manifest"]["digest"]
    # The hosts' configuration: a signedBy policy for the registry's acme/ images, and registries.d
    # naming the lookaside store.
    registries_d = tmp_path / "home/.config/containers/registries.d"
    registries_d.mkdir(parents=True)
    (registries_d / "default.yaml").write_text(f"docker:\n  {registry.address}:\n    lookaside: file://{store}\n")

    def policy(key: Path) -> Path:
        path = tmp_path / f"policy-{key.stem}.json"
        requirement = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key)}
        path.write_text(json.dumps({
            "default": [{"type": "reject"}],
            "transports": {"docker": {f"{registry.address}/acme": [requirement]}, "oci": {"": [{"type": "insecureAcceptAnything"}]}},
        }))  # fmt: skip
        return path

    def copy(image: str, key: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [skopeo, "copy", "--remove-signatures", "--src-tls-verify=false", "--policy", str(policy(key)),
             "--registries.d", str(registries_d), f"docker://{registry.address}/{image}", f"oci:{tmp_path / 'copied'}:x"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert copy("acme/cli:latest", gpg_keys.team).returncode == 0
    unsigned = copy("acme/api:latest", gpg_keys.team)
    assert unsigned.returncode != 0 and "A signature was required, but no signature exists" in unsigned.stderr
    other = copy("acme/cli:latest", gpg_keys.other)
    assert other.returncode != 0 and "Invalid GPG signature" in other.stderr
    # podman, with the same files where a host keeps them.
    pull = subprocess.run(
        ["podman", "pull", "--tls-verify=false", "--signature-policy", str(policy(gpg_keys.team)), f"{registry.address}/acme/cli:latest"],
        env={**podman.env, "HOME": str(tmp_path / "home")}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pull.returncode == 0, pull.stderr
    refused = subprocess.run(
        ["podman", "pull", "--tls-verify=false", "--signature-policy", str(policy(gpg_keys.team)), f"{registry.address}/acme/api:latest"],
        env={**podman.env, "HOME": str(tmp_path / "home")}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0 and "A signature was required, but no signature exists" in refused.stderr
    # The tag moved to an unsigned manifest (api's) is refused, then put back.
    accept = tmp_path / "accept.json"
    accept.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))

    def retag(source: str) -> None:
        subprocess.run(
            [skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--policy", str(accept),
             f"docker://{registry.address}/{source}", f"docker://{registry.address}/acme/cli:latest"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    retag("acme/api:latest")
    try:
        moved = copy("acme/cli:latest", gpg_keys.team)
        assert moved.returncode != 0 and "A signature was required, but no signature exists" in moved.stderr
    finally:
        retag(f"acme/cli@{cli_digest}")
    assert tagged_digest(registry, "acme/cli", "latest") == cli_digest
