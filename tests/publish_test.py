"""`./pants publish` uploads releases to a repository (real S3 on loopback, and file://), and
`pexrun.pyz` runs them from there."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from conftest import PackagedRepo, PantsRun, python, python312
from testing.servers import S3Server


def publish(packaged: PackagedRepo, repository: str, *targets: str, check: bool = True, **env: str) -> PantsRun:
    return packaged.repo.pants(
        "publish", *targets, check=check, env={"PANTS_PEX_RELEASES_REPOSITORY": repository, **env}
    )


def pexrun(packaged: PackagedRepo, interpreter: str, *args: str, cache: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [interpreter, str(packaged.repo.root / "dist" / "pexrun.pyz"), *args[:1], "--cache-dir", str(cache), *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def uploaded_files(run: PantsRun) -> list[str]:
    """The files the publisher says it uploaded or repaired, as `<pex>/<path in its tree>`."""
    return [line.split()[1] for line in run.stdout.splitlines() if line.startswith(("  uploaded ", "  repaired "))]


def sbom_blob(manifest: dict) -> dict[str, str]:
    """sha256 -> file of the release's SBOM, which publish uploads as a blob too."""
    return {manifest["sbom"]["sha256"]: manifest["sbom"]["file"]}


def tree_blobs(manifest: dict, role: str) -> dict[str, str]:
    """sha256 -> `<pex>/<path>` of the tree's files (the first file of equal ones)."""
    pex = manifest[role]
    blobs: dict[str, str] = {}
    for f in pex["files"]:
        blobs.setdefault(f["sha256"], f"{pex['file']}/{f['path']}")
    return blobs


def test_publish_to_s3_stores_a_shared_deps_tree_once(packaged_repo: PackagedRepo, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    run = publish(
        packaged_repo,
        f"s3://{bucket}/releases",
        "src/python/apps/api:release",
        "src/python/apps/api_twin:release",
        PANTS_PEX_RELEASES_S3_ENDPOINT_URL=s3.endpoint,
        **s3.env,
    )
    api, twin = packaged_repo.manifest("api"), packaged_repo.manifest("api_twin")
    assert api["deps"] == twin["deps"]
    uploaded = uploaded_files(run)
    deps = api["deps"]["file"]
    # Every deps file once, wheels included, whichever release's publish ran first.
    assert sorted(f for f in uploaded if f.startswith(f"{deps}/")) == sorted(tree_blobs(api, "deps").values())
    assert any(f.startswith(f"{deps}/.deps/fastapi-") and f.endswith(".whl") for f in uploaded)
    assert len(uploaded) == len(set(uploaded))
    client = boto3.session.Session(
        aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key, region_name="us-east-1"
    ).client("s3", endpoint_url=s3.endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    stored = {k.rsplit("/", 1)[1] for k in keys if k.startswith("releases/blobs/sha256/")}
    everything = {
        **tree_blobs(api, "deps"), **tree_blobs(api, "sources"), **tree_blobs(twin, "sources"), **sbom_blob(api), **sbom_blob(twin)
    }  # fmt: skip
    assert stored == set(everything)
    assert f"releases/apps/api/{api['version']}.json" in keys
    # Secrets never reach the output.
    assert s3.secret_key not in run.stdout + run.stderr


def test_wrong_s3_credentials_fail_the_publish_without_the_secret(packaged_repo: PackagedRepo, s3: S3Server) -> None:
    run = publish(
        packaged_repo,
        f"s3://{s3.new_bucket()}/releases",
        "src/python/apps/cli:release",
        check=False,
        PANTS_PEX_RELEASES_S3_ENDPOINT_URL=s3.endpoint,
        **{**s3.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-7d1e"},
    )
    assert run.returncode != 0
    assert "the credentials are wrong or lack permission" in run.stderr
    assert "not-the-secret-7d1e" not in run.stdout + run.stderr


def test_an_http_repository_is_refused_as_read_only(packaged_repo: PackagedRepo) -> None:
    run = publish(packaged_repo, "https://releases.example.com/prod", "src/python/apps/cli:release", check=False)
    assert run.returncode != 0
    assert "The repository https://releases.example.com/prod is served over HTTP, which is read-only" in run.stderr


@dataclass(frozen=True)
class TeamKey:
    private: Path
    public: Path
    keyid: str


@pytest.fixture(scope="module")
def team_key(tmp_path_factory: pytest.TempPathFactory) -> TeamKey:
    """A key pair made as README.md says."""
    keys = tmp_path_factory.mktemp("keys")
    private, public = keys / "release.key", keys / "release.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private)], check=True)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER"], check=True, capture_output=True)
    return TeamKey(private, public, hashlib.sha256(der.stdout).hexdigest())


@pytest.fixture(scope="module")
def file_repository(packaged_repo: PackagedRepo, team_key: TeamKey, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file:// repository holding api_twin and cli, signed with the team's key and promoted to
    `canary` as published."""
    repository = f"file://{tmp_path_factory.mktemp('published') / 'repository'}"
    published = publish(
        packaged_repo,
        repository,
        "src/python/apps/api_twin:release",
        "src/python/apps/cli:release",
        PANTS_PEX_RELEASES_CHANNEL="canary",
        PANTS_PEX_RELEASES_SIGNING_KEY_FILE=str(team_key.private),
    )
    for app in ("api_twin", "cli"):
        assert f"{app} {packaged_repo.manifest(app)['version']}: promoted to canary (entry 1)" in published.stdout
    assert published.stdout.count(f"  signed its manifest and provenance with key {team_key.keyid}\n") == 2
    return repository


def test_signed_releases_verify_on_a_host_without_cryptography_and_the_key_is_nowhere(
    packaged_repo: PackagedRepo, file_repository: str, team_key: TeamKey, tmp_path: Path
) -> None:
    root = packaged_repo.repo.root
    # pyenv's 3.9 has no cryptography: pexrun.pyz checks with the ecdsa it carries.
    assert subprocess.run([python("3.9"), "-c", "import cryptography"], capture_output=True).returncode == 1
    cli = f"cli@{packaged_repo.manifest('cli')['version']}"
    trusted = ("--trusted-key", str(team_key.public))
    verified = pexrun(packaged_repo, python("3.9"), "verify", file_repository, cli, *trusted, cache=tmp_path / "cache")
    assert verified.stdout == f"{cli.replace('@', ' ')}: signed by {team_key.keyid} ({team_key.public})\n", verified.stderr
    slug = pexrun(
        packaged_repo, python("3.9"), "run", file_repository, "cli", "--python", python312(), *trusted,
        "--script", "acme-slugify", "--", "Signed", "Release", cache=tmp_path / "cache",
    )  # fmt: skip
    assert slug.stdout == "signed-release\n", slug.stderr
    provenance = pexrun(packaged_repo, python("3.9"), "info", file_repository, cli, "--provenance", *trusted, cache=tmp_path / "cache")
    statement = json.loads(provenance.stdout)
    lockfile = (root / "3rdparty/python/default.lock").read_bytes()
    assert {"name": "3rdparty/python/default.lock", "digest": {"sha256": hashlib.sha256(lockfile).hexdigest()}} in (
        statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    )
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["revision"] == packaged_repo.manifest("cli")["revision"]
    sbom = pexrun(packaged_repo, python("3.9"), "sbom", file_repository, cli, *trusted, cache=tmp_path / "cache")
    assert sbom.stdout == (root / "dist/releases/cli.cdx.json").read_text(), sbom.stderr
    # The private key's bytes are in no output, no stored release and no process input: Pants'
    # store holds every input of every process it ran, and is all a remote cache is sent.
    body = "".join(team_key.private.read_text().splitlines()[1:-1])
    der = base64.b64decode(body)
    places = [root / "dist", Path(file_repository.removeprefix("file://")), packaged_repo.repo.store]
    for place in places:
        for path in (p for p in place.rglob("*") if p.is_file()):
            content = path.read_bytes()
            assert body.encode() not in content and der not in content, path


def test_pexrun_runs_published_releases_on_any_python(packaged_repo: PackagedRepo, file_repository: str, tmp_path: Path) -> None:
    repository = file_repository
    cache = tmp_path / "cache"
    twin = pexrun(packaged_repo, python312(), "run", repository, "api_twin", cache=cache)
    assert twin.returncode == 0, twin.stderr
    assert twin.stdout.startswith("twin of api, on fastapi ")
    slug = pexrun(
        packaged_repo, python312(), "run", repository, "cli", "--channel", "canary", "--script", "acme-slugify", "--", "Any", "Host", cache=cache
    )
    assert slug.stdout == "any-host\n", slug.stderr
    # From a venv of its deps, compiled once by this Python whatever PYTHONDONTWRITEBYTECODE says; a
    # warm run of an exact version replays its launch record, without even importing pexrun.main.
    cli = f"cli@{packaged_repo.manifest('cli')['version']}"
    no_bytecode = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cold = pexrun(packaged_repo, python312(), "run", repository, cli, "--", "slugify", "Cold", cache=cache, env=no_bytecode)
    warm = subprocess.run(
        [python312(), "-X", "importtime", str(packaged_repo.repo.root / "dist/pexrun.pyz"), "run", "--cache-dir", str(cache),
         repository, cli, "--", "slugify", "Warm"],
        env=no_bytecode, capture_output=True, text=True, timeout=120,
    )
    assert (cold.stdout, warm.stdout) == ("cold\n", "warm\n"), cold.stderr + warm.stderr
    assert "| pexrun.start" in warm.stderr and "pexrun.main" not in warm.stderr
    # With no option of its own, pexrun's interpreter becomes the release: one interpreter starts.
    became = subprocess.run(
        [python312(), str(packaged_repo.repo.root / "dist/pexrun.pyz"), "run", "--cache-dir", str(cache), repository, cli,
         "--", "slugify", "In Process"],
        env={**no_bytecode, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True, timeout=120,
    )
    assert became.stdout == "in-process\n", became.stderr
    assert became.stderr.count("| encodings\n") == 1 and " click\n" in became.stderr and "pexrun.main" not in became.stderr
    assert list((cache / "venvs").glob("*/*/lib/python3.12/site-packages/click/__pycache__/core.cpython-312.pyc"))
    # pexrun itself runs on 3.9, and says which Python the release needs.
    on_39 = pexrun(packaged_repo, python("3.9"), "run", repository, "cli", cache=cache)
    assert on_39.returncode == 1
    assert "needs Python CPython==3.12.*, but this is CPython 3.9" in on_39.stderr
    listed = pexrun(packaged_repo, python("3.9"), "list", repository, cache=cache)
    assert listed.stdout.split() == [f"api_twin@{packaged_repo.manifest('api_twin')['version']}", f"cli@{packaged_repo.manifest('cli')['version']}"]
    # boto3 is not bundled: a host without it gets a clear message for s3://.
    no_boto3 = pexrun(packaged_repo, python("3.9"), "list", "s3://bucket/releases", cache=cache)
    assert no_boto3.returncode == 1 and "needs boto3: install it (`pip install boto3`)" in no_boto3.stderr


def test_pexrun_wheel_installs_with_pip_and_runs_a_release(
    packaged_repo: PackagedRepo, file_repository: str, team_key: TeamKey, tmp_path: Path
) -> None:
    root = packaged_repo.repo.root
    (version,) = re.findall(r'^__version__ = "(.+)"$', (root / "src/python/pexrun/__init__.py").read_text(), re.M)
    wheel = root / "dist" / f"pexrun-{version}-py3-none-any.whl"
    venv = tmp_path / "venv"
    subprocess.run([python("3.9"), "-m", "venv", str(venv)], check=True)
    # Its requirements, packaging, installer and ecdsa (which checks signatures: six is its
    # requirement), come from the package index.
    install = subprocess.run([str(venv / "bin/pip"), "install", "--disable-pip-version-check", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = subprocess.run([str(venv / "bin/pip"), "list", "--format=freeze"], capture_output=True, text=True)
    expected = ["ecdsa", "installer", "packaging", "pexrun", "pip", "setuptools", "six"]
    assert sorted(line.split("==")[0] for line in installed.stdout.split()) == expected
    script = str(venv / "bin/pexrun")
    # One version for the wheel and the .pyz.
    assert subprocess.run([script, "--version"], capture_output=True, text=True).stdout == f"pexrun {version}\n"
    pyz = subprocess.run([python("3.9"), str(root / "dist/pexrun.pyz"), "--version"], capture_output=True, text=True)
    assert pyz.stdout == f"pexrun {version}\n"
    slug = subprocess.run(
        [script, "run", "--cache-dir", str(tmp_path / "cache"), "--python", python312(), "--trusted-key", str(team_key.public),
         file_repository, "cli", "--script", "acme-slugify", "--", "From", "A Wheel"],
        capture_output=True, text=True, timeout=120,
    )
    assert slug.stdout == "from-a-wheel\n", slug.stderr


def test_pexrun_daemon_is_the_exec_d_process_and_stops_on_sigterm(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    repository = f"file://{tmp_path / 'repository'}"
    publish(packaged_repo, repository, "src/python/apps/worker:release")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "job.json").write_text(json.dumps({"text": "one two two"}))
    worker = subprocess.Popen(
        [python312(), str(packaged_repo.repo.root / "dist/pexrun.pyz"), "run", "--cache-dir", str(tmp_path / "cache"),
         repository, "worker", "--", "--spool", str(spool), "--interval", "0.1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (spool / "job.result.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert json.loads((spool / "job.result.json").read_text())["words"] == 3
        # pexrun exec'd: the pid it was started as is the worker's, which titles itself, run from the
        # venv of its deps (though built with execution_mode="venv", for pex's own venv).
        assert Path(f"/proc/{worker.pid}/cmdline").read_bytes().startswith(b"acme-worker: idle")
        assert Path(f"/proc/{worker.pid}/exe").resolve() == Path(python312()).resolve()
        deps = packaged_repo.manifest("worker")["deps"]["sha256"]
        assert [p.name for p in (tmp_path / "cache" / "venvs").iterdir()] == [deps]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        worker.kill()
        _, stderr = worker.communicate()
    version = packaged_repo.manifest("worker")["version"]
    assert f'"release": "{version}"' in stderr  # PEXRUN_VERSION reached the app
    assert '"msg": "stopped"' in stderr.splitlines()[-1]


def test_source_only_change_uploads_only_the_changed_files(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    repository = f"file://{tmp_path / 'repository'}"
    before = packaged_repo.manifest("worker")
    first = publish(packaged_repo, repository, "src/python/apps/worker:release")
    everything_before = {**tree_blobs(before, "deps"), **tree_blobs(before, "sources"), **sbom_blob(before)}
    assert sorted(uploaded_files(first)) == sorted(everything_before.values())
    main = packaged_repo.repo.root / "src/python/apps/worker/main.py"
    original = main.read_text()
    main.write_text(original + "\n# A comment: a source-only change.\n")
    try:
        second = publish(packaged_repo, repository, "src/python/apps/worker:release")
    finally:
        main.write_text(original)
    # `publish` builds without writing dist/: the new release is the other manifest in the repository.
    published = [p for p in (tmp_path / "repository/apps/worker").glob("*.json") if p.name != "index.json"]
    assert len(published) == 2  # the derived version changed with the working tree
    (after,) = [m for m in (json.loads(p.read_text()) for p in published) if m["version"] != before["version"]]
    assert after["deps"] == before["deps"]
    changed = {
        sha256: file for sha256, file in {**tree_blobs(after, "sources"), **sbom_blob(after)}.items() if sha256 not in everything_before
    }  # fmt: skip
    # The edited module, the few pex files that embed the PEX's hash, and the SBOM, which names the
    # new version: nothing of the deps tree.
    assert "worker-srcs.pex/apps/worker/main.py" in changed.values() and "worker.cdx.json" in changed.values()
    assert sorted(uploaded_files(second)) == sorted(changed.values())
    sizes = {f["sha256"]: f["size"] for f in after["sources"]["files"]} | {after["sbom"]["sha256"]: after["sbom"]["size"]}
    uploaded_bytes = sum(sizes[sha256] for sha256 in changed)
    assert uploaded_bytes < 64_000
    assert f": uploaded {len(changed)} file{'s' if len(changed) > 1 else ''} ({uploaded_bytes:,} bytes), skipped " in second.stdout


def test_a_published_version_is_never_overwritten_but_is_repaired(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    # A query on a file:// URL means nothing to the repository, but is a secret for the output.
    repository = f"file://{tmp_path / 'repository'}?token=e2e-s3cr3t"
    first = publish(packaged_repo, repository, "src/python/apps/api:release")
    published = (tmp_path / "repository/apps/api/1.4.0.json").read_bytes()
    manifest = packaged_repo.manifest("api")
    app_py = next(f for f in manifest["sources"]["files"] if f["path"] == "apps/api/app.py")
    blob = tmp_path / "repository/blobs/sha256" / app_py["sha256"]
    blob.unlink()  # lost, or deleted by hand
    again = publish(packaged_repo, repository, "src/python/apps/api:release")
    assert "api 1.4.0: already published with identical content; repaired 1 file (" in again.stdout
    assert uploaded_files(again) == ["api-srcs.pex/apps/api/app.py"]
    assert blob.read_bytes() == (packaged_repo.path("api", "sources") / "apps/api/app.py").read_bytes()
    assert all("e2e-s3cr3t" not in run.stdout + run.stderr for run in (first, again))
    app = packaged_repo.repo.root / "src/python/apps/api/app.py"
    original = app.read_text()
    app.write_text(original + "\n# changed, but still version 1.4.0\n")
    try:
        refused = publish(packaged_repo, repository, "src/python/apps/api:release", check=False)
    finally:
        app.write_text(original)
    assert refused.returncode != 0
    assert "api 1.4.0 is already published in" in refused.stderr and "To fix, release a new `version`" in refused.stderr
    assert (tmp_path / "repository/apps/api/1.4.0.json").read_bytes() == published


def test_a_signing_key_that_cannot_be_used_stops_publish_before_anything_is_published(
    packaged_repo: PackagedRepo, team_key: TeamKey, tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    missing = publish(
        packaged_repo, f"file://{repository}", "src/python/apps/cli:release", check=False,
        PANTS_PEX_RELEASES_SIGNING_KEY_FILE="keys/nowhere.key",
    )  # fmt: skip
    assert missing.returncode != 0
    assert (
        f"[pex-releases].signing_key_file is 'keys/nowhere.key', and there is no file at {packaged_repo.repo.root}/keys/nowhere.key"
    ) in missing.stderr
    # The public key where the private one belongs: refused by the publisher, which says how to make a key.
    public = publish(
        packaged_repo, f"file://{repository}", "src/python/apps/cli:release", check=False,
        PANTS_PEX_RELEASES_SIGNING_KEY_FILE=str(team_key.public),
    )  # fmt: skip
    assert public.returncode != 0
    assert f"publisher: error: The signing key {team_key.public} is not a private key in PEM" in public.stderr
    assert "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256" in public.stderr
    assert not repository.exists() or not list(repository.rglob("*.json"))
