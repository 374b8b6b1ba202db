"""`./pants publish` uploads releases to a repository (real S3 on loopback, and file://), and
`pexrun.pyz` runs them from there."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import boto3

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


def blob_lines(run: PantsRun) -> list[str]:
    return [line.split()[0] + " " + line.split()[1] for line in run.stdout.splitlines() if line.startswith("  ")]


def test_publish_to_s3_stores_a_shared_deps_pex_once(packaged_repo: PackagedRepo, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    run = publish(
        packaged_repo,
        f"s3://{bucket}/releases",
        "src/python/apps/api:release",
        "src/python/apps/api_twin:release",
        PANTS_PEX_RELEASES_S3_ENDPOINT_URL=s3.endpoint,
        **s3.env,
    )
    deps = packaged_repo.manifest("api")["deps"]["file"]
    assert sorted(blob_lines(run)) == sorted(
        ["uploaded api-srcs.pex", "uploaded api_twin-srcs.pex", f"uploaded {deps}", f"skipped {deps}"]
    )
    client = boto3.session.Session(
        aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key, region_name="us-east-1"
    ).client("s3", endpoint_url=s3.endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len([k for k in keys if k.startswith("releases/blobs/sha256/")]) == 3
    assert f"releases/apps/api/{packaged_repo.manifest('api')['version']}.json" in keys
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


def test_pexrun_runs_published_releases_on_any_python(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    repository = f"file://{tmp_path / 'repository'}"
    publish(packaged_repo, repository, "src/python/apps/api_twin:release", "src/python/apps/cli:release")
    cache = tmp_path / "cache"
    twin = pexrun(packaged_repo, python312(), "run", repository, "api_twin", cache=cache)
    assert twin.returncode == 0, twin.stderr
    assert twin.stdout.startswith("twin of api, on fastapi ")
    slug = pexrun(packaged_repo, python312(), "run", repository, "cli", "--script", "acme-slugify", "--", "Any", "Host", cache=cache)
    assert slug.stdout == "any-host\n", slug.stderr
    # pexrun itself runs on 3.9, and says which Python the release needs.
    on_39 = pexrun(packaged_repo, python("3.9"), "run", repository, "cli", cache=cache)
    assert on_39.returncode == 1
    assert "needs Python CPython==3.12.*, but this is CPython 3.9" in on_39.stderr
    listed = pexrun(packaged_repo, python("3.9"), "list", repository, cache=cache)
    assert listed.stdout.split() == [f"api_twin@{packaged_repo.manifest('api_twin')['version']}", f"cli@{packaged_repo.manifest('cli')['version']}"]
    # boto3 is not bundled: a host without it gets a clear message for s3://.
    no_boto3 = pexrun(packaged_repo, python("3.9"), "list", "s3://bucket/releases", cache=cache)
    assert no_boto3.returncode == 1 and "needs boto3: install it (`pip install boto3`)" in no_boto3.stderr


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
        # pexrun exec'd: the pid it was started as is the worker's, which titles itself.
        assert Path(f"/proc/{worker.pid}/cmdline").read_bytes().startswith(b"acme-worker: idle")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        worker.kill()
        _, stderr = worker.communicate()
    version = packaged_repo.manifest("worker")["version"]
    assert f'"release": "{version}"' in stderr  # PEXRUN_VERSION reached the app
    assert '"msg": "stopped"' in stderr.splitlines()[-1]


def test_source_only_change_uploads_only_the_sources(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    repository = f"file://{tmp_path / 'repository'}"
    first = publish(packaged_repo, repository, "src/python/apps/worker:release")
    assert blob_lines(first) == [f"uploaded {packaged_repo.manifest('worker')['deps']['file']}", "uploaded worker-srcs.pex"]
    main = packaged_repo.repo.root / "src/python/apps/worker/main.py"
    original = main.read_text()
    main.write_text(original + "\n# A comment: a source-only change.\n")
    try:
        second = publish(packaged_repo, repository, "src/python/apps/worker:release")
    finally:
        main.write_text(original)
    assert blob_lines(second) == [f"skipped {packaged_repo.manifest('worker')['deps']['file']}", "uploaded worker-srcs.pex"]
    assert "worker " in second.stdout and ": uploaded 1 blob (" in second.stdout
    versions = sorted(p.name for p in (tmp_path / "repository/apps/worker").glob("*.json") if p.name != "index.json")
    assert len(versions) == 2  # the derived version changed with the working tree


def test_a_published_version_is_never_overwritten_but_is_repaired(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    # A query on a file:// URL means nothing to the repository, but is a secret for the output.
    repository = f"file://{tmp_path / 'repository'}?token=e2e-s3cr3t"
    first = publish(packaged_repo, repository, "src/python/apps/api:release")
    published = (tmp_path / "repository/apps/api/1.4.0.json").read_bytes()
    sources = tmp_path / "repository/blobs/sha256" / packaged_repo.manifest("api")["sources"]["sha256"]
    sources.unlink()  # lost, or deleted by hand
    again = publish(packaged_repo, repository, "src/python/apps/api:release")
    assert "api 1.4.0: already published with identical content; repaired 1 blob (" in again.stdout
    assert blob_lines(again) == [f"skipped {packaged_repo.manifest('api')['deps']['file']}", "repaired api-srcs.pex"]
    assert sources.read_bytes() == packaged_repo.path("api", "sources").read_bytes()
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
