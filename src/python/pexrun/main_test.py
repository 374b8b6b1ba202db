# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from pex_release.manifest import ReleaseManifest
from pex_release.repository import open_repository, publish
from pexrun.cache import BlobCache
from pexrun.conftest import make_release, pexrun
from pexrun.main import main
from testing.servers import S3Server


@pytest.fixture
def repository(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'repository'}"
    for version in ("1.0.0", "1.10.0", "1.9.0"):
        publish(open_repository(url), make_release(tmp_path / version, "api", version))
    return url


def report(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_run_fetches_verifies_and_execs_the_highest_version(repository: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ran = report(pexrun("run", repository, "api", "--", "--port", "8080", "--", "x", cache=cache))
    assert ran["version"] == "1.10.0" and ran["app"] == "api"
    assert ran["args"] == ["--port", "8080", "--", "x"]
    assert ran["argv0"] == "api.pex"  # the process is named after the release
    assert Path(ran["pex_path"]).parent == cache / "blobs" / "sha256"
    manifest = ReleaseManifest.loads(open_repository(repository).read_manifest("api", "1.10.0"), origin="t")
    assert Path(ran["pex_path"]).name == manifest.deps.sha256
    assert (cache / "run" / "api@1.10.0" / "api.pex").resolve().name == manifest.sources.sha256


def test_run_an_exact_version_and_a_script(repository: str, tmp_path: Path) -> None:
    ran = report(pexrun("run", repository, "api@1.9.0", "--script", "report", cache=tmp_path / "c"))
    assert (ran["version"], ran["pex_module"]) == ("1.9.0", "api.report:main")
    unknown = pexrun("run", repository, "api@1.9.0", "--script", "nope", cache=tmp_path / "c")
    assert unknown.returncode == 1
    assert "api 1.9.0 has no script 'nope' (its scripts: report)" in unknown.stderr


def test_warm_cache_runs_without_downloading(repository: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    report(pexrun("run", repository, "api@1.0.0", cache=cache))
    blobs = {p: p.stat().st_mtime_ns for p in (cache / "blobs" / "sha256").iterdir()}
    # The repository keeps only the manifest: a warm run needs nothing else from it.
    shutil.rmtree(Path(repository[len("file://") :]) / "blobs")
    assert report(pexrun("run", repository, "api@1.0.0", cache=cache))["version"] == "1.0.0"
    assert {p: p.stat().st_mtime_ns for p in (cache / "blobs" / "sha256").iterdir()} == blobs


def test_corrupt_cached_blob_is_refused_deleted_and_refetched(repository: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ran = report(pexrun("run", repository, "api@1.0.0", cache=cache))
    deps = Path(ran["pex_path"])
    deps.chmod(0o644)
    deps.write_bytes(b"corrupted")
    refused = pexrun("run", repository, "api@1.0.0", cache=cache)
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"The cached blob deps-deps-v1.pex (sha256 {deps.name}) is corrupt" in refused.stderr
    assert "Refusing to run it; the bad copy was deleted" in refused.stderr
    assert not deps.exists()
    assert report(pexrun("run", repository, "api@1.0.0", cache=cache))["version"] == "1.0.0"


def test_corrupt_download_is_refused_and_not_cached(repository: str, tmp_path: Path) -> None:
    manifest = ReleaseManifest.loads(open_repository(repository).read_manifest("api", "1.0.0"), origin="t")
    stored = Path(repository[len("file://") :]) / "blobs" / "sha256" / manifest.sources.sha256
    stored.write_bytes(b"tampered in the repository")
    cache = tmp_path / "cache"
    refused = pexrun("run", repository, "api@1.0.0", cache=cache)
    assert refused.returncode == 1
    assert f"The downloaded from {repository} blob api-srcs.pex (sha256 {manifest.sources.sha256}) is corrupt" in refused.stderr
    assert sorted(p.name for p in (cache / "blobs" / "sha256").iterdir()) == [manifest.deps.sha256]


def test_interpreter_outside_the_constraints(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'repository'}"
    publish(open_repository(url), make_release(tmp_path / "r", "old", "1.0", interpreter_constraints=("CPython==2.7.*",)))
    refused = pexrun("run", url, "old", cache=tmp_path / "c")
    assert refused.returncode == 1
    assert "old 1.0 needs Python CPython==2.7.*, but this is" in refused.stderr
    assert "--python /path/to/python" in refused.stderr


@pytest.mark.parametrize(
    "release, message",
    [
        ("nope", "nope is not published in file://{root} (published apps: api)"),
        ("api@9.9.9", "api 9.9.9 is not published in file://{root} (published versions: 1.0.0, 1.10.0, 1.9.0)"),
    ],
)
def test_not_published(repository: str, tmp_path: Path, release: str, message: str) -> None:
    result = pexrun("run", repository, release, cache=tmp_path / "c")
    assert result.returncode == 1
    assert message.format(root=tmp_path / "repository") in result.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "apps/api/2.0.0.json is not valid JSON"),
        (json.dumps({"schema": 99}).encode(), "has manifest schema 99; this version of pex-release reads schema 1"),
    ],
)
def test_bad_manifests(repository: str, tmp_path: Path, content: bytes, message: str) -> None:
    (Path(repository[len("file://") :]) / "apps" / "api" / "2.0.0.json").write_bytes(content)
    result = pexrun("run", repository, "api@2.0.0", cache=tmp_path / "c")
    assert result.returncode == 1 and message in result.stderr


def test_unreachable_repositories(tmp_path: Path) -> None:
    missing = pexrun("list", f"file://{tmp_path / 'nowhere'}", cache=tmp_path / "c")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    http = pexrun("run", "http://127.0.0.1:9/releases", "api", cache=tmp_path / "c")
    assert http.returncode == 1 and "The repository http://127.0.0.1:9/releases is unreachable" in http.stderr


def test_http_repository(repository: str, http_root: tuple[Path, str], tmp_path: Path) -> None:
    root, url = http_root
    shutil.copytree(repository[len("file://") :], root / "releases")
    listed = pexrun("list", url, cache=tmp_path / "c")
    assert listed.stdout.split() == ["api@1.0.0", "api@1.10.0", "api@1.9.0"]
    assert report(pexrun("run", url, "api", cache=tmp_path / "c"))["version"] == "1.10.0"


def test_s3_repository(s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    env = {**s3.env, "PEXRUN_S3_ENDPOINT_URL": s3.endpoint}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        repository = open_repository(f"s3://{bucket}/p", s3_endpoint_url=s3.endpoint)
        publish(repository, make_release(tmp_path / "r", "api", "1.0.0"))
    ran = report(pexrun("run", f"s3://{bucket}/p", "api", cache=tmp_path / "c", env=env))
    assert ran["version"] == "1.0.0"


def test_info_and_list(repository: str, tmp_path: Path) -> None:
    info = pexrun("info", repository, "api@1.9.0", cache=tmp_path / "c")
    assert info.returncode == 0
    assert "version:      1.9.0" in info.stdout and "script:       report = api.report:main" in info.stdout
    assert "distributions (0):" in info.stdout
    assert pexrun("list", repository, "api", cache=tmp_path / "c").stdout.split() == ["api@1.0.0", "api@1.10.0", "api@1.9.0"]
    needs_version = pexrun("info", repository, "api", cache=tmp_path / "c")
    assert needs_version.returncode == 2 and "info needs an exact release" in needs_version.stderr


def test_gc_keeps_the_most_recently_used(repository: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for version in ("1.0.0", "1.9.0", "1.10.0"):
        fetched = pexrun("fetch", repository, f"api@{version}", cache=cache)
        assert fetched.returncode == 0 and fetched.stdout.startswith(f"api {version}\n"), fetched.stderr
        time.sleep(0.01)  # distinct last-use times
    gc = pexrun("gc", "--keep", "2", cache=cache)
    assert gc.returncode == 0 and gc.stdout.startswith("removed 1 releases (api@1.0.0), freed ")
    kept = {p.name for p in (cache / "manifests" / "api").iterdir()}
    assert kept == {"1.9.0.json", "1.10.0.json"}
    # The shared deps blob stays: the kept releases use it.
    assert len(list((cache / "blobs" / "sha256").iterdir())) == 3
    assert not (cache / "run" / "api@1.0.0").exists()


def test_concurrent_fetches_share_one_cache(repository: str, tmp_path: Path) -> None:
    repo = open_repository(repository)
    manifest = ReleaseManifest.loads(repo.read_manifest("api", "1.0.0"), origin="t")
    cache = BlobCache(tmp_path / "cache")
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            cache.fetch(repo, manifest.deps)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [p.name for p in (tmp_path / "cache" / "blobs" / "sha256").iterdir()] == [manifest.deps.sha256]


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "file:///x", "@1.0"]) == 2
    assert "'@1.0' is not a release: use <app> or <app>@<version>" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["gc"])
    assert exc.value.code == 2 and "--keep" in capsys.readouterr().err
