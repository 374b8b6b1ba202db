# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun's commands, each run as its own process: `run` execs, replacing the process."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from pex_release.manifest import CompletePlatform, ReleaseManifest
from pex_release.repository import FileRepository, open_repository, publish
from pex_release.testutil import make_release, python_env
from pexrun.launch_test import HOST_TAG, PY, host_platform
from pexrun.main import main
from testing.servers import S3Server, http_server


def pexrun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pexrun.main", *args],
        env={**python_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ran(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """What the release reported about how it was started."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def failed(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert (result.returncode, result.stdout) == (code, ""), result
    assert result.stderr.startswith("pexrun: error: "), result.stderr
    return result.stderr


@pytest.fixture
def repository(tmp_path: Path) -> FileRepository:
    """api 1.0.0, 1.9.0, 1.10.0 and 2.0.0rc1 (all one deps blob), and worker 0.1.0."""
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    assert isinstance(repository, FileRepository)
    for app, version in (("api", "1.0.0"), ("api", "1.9.0"), ("api", "1.10.0"), ("api", "2.0.0rc1"), ("worker", "0.1.0")):
        publish(repository, make_release(tmp_path / "dist" / app / version, app, version, sources=version))
    return repository


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def manifest_of(repository: FileRepository, app: str, version: str) -> ReleaseManifest:
    return ReleaseManifest.loads(repository.read_manifest(app, version), origin="test")


def test_run_execs_the_highest_release_with_its_deps(repository: FileRepository, cache: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pexrun.main", "run", repository.url, "api", "--cache-dir", str(cache), "--", "--port", "8080", "--", "-x"],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    report = json.loads(out)
    manifest = manifest_of(repository, "api", "1.10.0")  # the highest, not the pre-release 2.0.0rc1
    assert report == {
        "argv0": str(cache / "run" / "api@1.10.0" / "api.pex"),  # so `ps` names the release
        "args": ["--port", "8080", "--", "-x"],
        "pid": process.pid,  # exec'd: the release is the process pexrun started as, no wrapper
        "deps": "shared",
        "pex_path": str(cache / "blobs" / "sha256" / manifest.deps.sha256),
        "pex_module": None,
        "app": "api",
        "version": "1.10.0",
    }
    assert (cache / "run" / "api@1.10.0" / "api.pex").resolve() == cache / "blobs" / "sha256" / manifest.sources.sha256


def test_a_warm_cache_runs_without_the_repository_blobs(repository: FileRepository, cache: Path) -> None:
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["version"] == "1.0.0"
    shutil.rmtree(repository.root / "blobs")  # only the manifest is read now
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["version"] == "1.0.0"


def test_the_cache_dir_from_the_environment(repository: FileRepository, cache: Path) -> None:
    report = ran(pexrun("run", repository.url, "worker", env={"PEXRUN_CACHE_DIR": str(cache)}))
    assert report["argv0"] == str(cache / "run" / "worker@0.1.0" / "worker.pex")


def test_a_script(repository: FileRepository, cache: Path) -> None:
    report = ran(pexrun("run", repository.url, "api@1.9.0", "--script", "report", "--cache-dir", str(cache)))
    assert (report["version"], report["pex_module"]) == ("1.9.0", "api.report:main")


def test_an_unknown_script_lists_the_scripts_and_fetches_nothing(repository: FileRepository, cache: Path) -> None:
    error = failed(pexrun("run", repository.url, "api@1.9.0", "--script", "nope", "--cache-dir", str(cache)))
    assert error == "pexrun: error: api 1.9.0 has no script 'nope' (its scripts: report).\n"
    assert not (cache / "blobs").exists()


def test_a_corrupt_cached_blob_is_refused_deleted_and_refetched_on_the_next_run(
    repository: FileRepository, cache: Path
) -> None:
    deps = Path(ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["pex_path"])
    deps.chmod(0o644)
    deps.write_bytes(b"corrupted")
    error = failed(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))
    assert f"The cached copy of deps-shared.pex (sha256:{deps.name}) in {deps.parent} is corrupt" in error
    assert "pexrun refused to run it and deleted it; run again to fetch it anew." in error
    assert not deps.exists()
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["version"] == "1.0.0"


def test_an_interpreter_outside_the_constraints(tmp_path: Path, cache: Path) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    publish(repository, make_release(tmp_path / "dist", "legacy", "1.0", interpreter_constraints=("CPython==2.7.*",)))
    error = failed(pexrun("run", repository.url, "legacy", "--cache-dir", str(cache)))
    assert f"legacy 1.0 needs Python CPython==2.7.*, but this is CPython {sys.version.split()[0]}" in error
    assert "Pass --python /path/to/python3, or run pexrun itself with that Python" in error
    assert not (cache / "blobs").exists()


def test_another_python_is_checked_by_running_it(repository: FileRepository, cache: Path, tmp_path: Path) -> None:
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    report = ran(pexrun("run", repository.url, "worker", "--python", str(wrapper), "--cache-dir", str(cache)))
    assert report["version"] == "0.1.0"


def publish_for_platforms(tmp_path: Path, **platforms: Any) -> FileRepository:
    """A repository with api 1.0.0 built for `platforms` and/or `complete_platforms` (and for any
    Python, so only the platform is checked)."""
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    assert isinstance(repository, FileRepository)
    path = make_release(tmp_path / "dist", "api", "1.0.0", interpreter_constraints=())
    manifest = ReleaseManifest.loads(path.read_bytes(), origin=str(path))
    path.write_bytes(dataclasses.replace(manifest, **platforms).dumps())
    publish(repository, path)
    return repository


@pytest.mark.parametrize(
    "platform",
    [
        f"macosx_11_0_arm64-cp-{PY}-cp{PY}",
        f"musllinux_1_1_x86_64-cp-{PY}-cp{PY}",
        "manylinux2014_x86_64-cp-38-cp38",  # another Python: pexrun's tests run on 3.9 and newer
    ],
)
def test_a_release_for_another_platform_is_refused_before_any_download(tmp_path: Path, cache: Path, platform: str) -> None:
    repository = publish_for_platforms(tmp_path, platforms=(platform,))
    error = failed(pexrun("run", repository.url, "api", "--cache-dir", str(cache)))
    assert error.startswith(f"pexrun: error: api 1.0.0 is built for {platform} (wheel tags "), error
    assert f"the most specific wheel tag of CPython {sys.version.split()[0]} ({sys.executable}) here is {HOST_TAG}" in error
    assert not (cache / "blobs").exists()


def test_a_release_for_this_platform_runs(tmp_path: Path, cache: Path) -> None:
    repository = publish_for_platforms(tmp_path, platforms=(host_platform(),))
    assert ran(pexrun("run", repository.url, "api", "--cache-dir", str(cache)))["version"] == "1.0.0"


@pytest.mark.parametrize(
    "release, message",
    [
        ("nope", "nope is not published in {url}. Published apps: api, worker.\n"),
        ("api@9.9.9", "api 9.9.9 is not published in {url}. Published versions of api: 1.0.0, 1.9.0, 1.10.0, 2.0.0rc1.\n"),
        ("nope@1.0", "nope is not published in {url}. Published apps: api, worker.\n"),
    ],
)
def test_what_is_not_published(repository: FileRepository, cache: Path, release: str, message: str) -> None:
    error = failed(pexrun("run", repository.url, release, "--cache-dir", str(cache)))
    assert error == "pexrun: error: " + message.format(url=repository.url)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "apps/api/3.0.0.json in {url} is not valid JSON"),
        (b'{"schema": 99}', "apps/api/3.0.0.json in {url} has manifest schema 99; this version of pex-release reads schema 1"),
        (b'{"schema": 1, "app": "api"}', "apps/api/3.0.0.json in {url} does not follow manifest schema 1"),
    ],
)
def test_bad_manifests(repository: FileRepository, cache: Path, content: bytes, message: str) -> None:
    (repository.root / "apps" / "api" / "3.0.0.json").write_bytes(content)
    assert message.format(url=repository.url) in failed(pexrun("run", repository.url, "api@3.0.0", "--cache-dir", str(cache)))
    assert not (cache / "blobs").exists()


def test_unreachable_and_misnamed_repositories(tmp_path: Path, cache: Path) -> None:
    missing = failed(pexrun("run", f"file://{tmp_path}/nowhere", "api", "--cache-dir", str(cache)))
    assert f"The repository file://{tmp_path}/nowhere does not exist" in missing
    closed = failed(pexrun("run", "http://127.0.0.1:9/releases", "api", "--cache-dir", str(cache)))
    assert "The repository http://127.0.0.1:9/releases is unreachable" in closed
    assert "is not a repository URL" in failed(pexrun("list", "releases.example.com/x"))


def test_fetch_prints_the_local_paths(repository: FileRepository, cache: Path) -> None:
    fetched = pexrun("fetch", repository.url, "api@1.9.0", "--cache-dir", str(cache))
    assert fetched.returncode == 0, fetched.stderr
    manifest = manifest_of(repository, "api", "1.9.0")
    assert fetched.stdout.splitlines() == [
        f"api 1.9.0: verified in {cache}",
        f"  deps     {cache / 'blobs' / 'sha256' / manifest.deps.sha256}",
        f"  sources  {cache / 'run' / 'api@1.9.0' / 'api.pex'}",
    ]


def test_list(repository: FileRepository) -> None:
    everything = pexrun("list", repository.url)
    assert everything.stdout.split() == ["api@1.0.0", "api@1.9.0", "api@1.10.0", "api@2.0.0rc1", "worker@0.1.0"]
    assert pexrun("list", repository.url, "worker").stdout == "worker@0.1.0\n"


def test_info(repository: FileRepository) -> None:
    info = pexrun("info", repository.url, "api@1.9.0")
    assert info.returncode == 0, info.stderr
    manifest = manifest_of(repository, "api", "1.9.0")
    lines = info.stdout.splitlines()
    assert lines[:11] == [
        "app:                     api",
        "version:                 1.9.0",
        "revision:                0123456789abcdef0123456789abcdef01234567",
        "entry point:             api.main",
        "script:                  report = api.report:main",
        "interpreter constraints: CPython>=3.9",
        "platforms:               the build host's",
        "injected env:            none",
        "injected args:           none",
        f"subset key:              {manifest.deps.subset_key}",
        f"deps:                    deps-shared.pex  sha256:{manifest.deps.sha256}  {manifest.deps.size:,} bytes",
    ]
    assert lines[-1] == "distributions (0):"
    assert failed(pexrun("info", repository.url, "api"), code=2).endswith("info needs an exact release: api@<version> (`pexrun list` shows them).\n")


def test_info_shows_complete_platforms(tmp_path: Path) -> None:
    alpine = CompletePlatform("platforms/alpine.json", "f" * 64, "CPython", "3.12.1", "cp312-cp312-musllinux_1_2_x86_64")
    repository = publish_for_platforms(tmp_path, complete_platforms=(alpine,))
    info = pexrun("info", repository.url, "api@1.0.0")
    assert info.returncode == 0, info.stderr
    assert (
        "platforms:               cp312-cp312-musllinux_1_2_x86_64 (CPython 3.12.1, platforms/alpine.json sha256:ffffffffffffffff)"
        in info.stdout.splitlines()
    )


def test_gc(repository: FileRepository, cache: Path) -> None:
    for version in ("1.0.0", "1.9.0"):
        assert pexrun("fetch", repository.url, f"api@{version}", "--cache-dir", str(cache)).returncode == 0
    gc = pexrun("gc", "--keep", "1", "--cache-dir", str(cache))
    removed_sources = manifest_of(repository, "api", "1.0.0").sources.size
    assert gc.stdout.splitlines() == [
        "removed api@1.0.0",
        f"kept the 1 most recently used releases of each app in {cache}: removed 1 releases and 1 blobs, freed "
        f"{removed_sources:,} bytes",
    ]
    assert "expected a number of releases" in pexrun("gc", "--keep", "-1").stderr


@pytest.fixture
def served(repository: FileRepository, tmp_path: Path) -> Iterator[str]:
    with http_server(repository.root.parent) as base_url:
        yield f"{base_url}/{repository.root.name}"


def test_run_and_list_over_http(served: str, cache: Path) -> None:
    assert pexrun("list", served, "api").stdout.split() == ["api@1.0.0", "api@1.9.0", "api@1.10.0", "api@2.0.0rc1"]
    assert ran(pexrun("run", served, "api", "--cache-dir", str(cache)))["version"] == "1.10.0"


def test_run_from_s3(s3_env: S3Server, tmp_path: Path, cache: Path) -> None:
    url = f"s3://{s3_env.new_bucket()}/releases"
    publish(open_repository(url, s3_endpoint_url=s3_env.endpoint), make_release(tmp_path, "api", "1.0.0"))
    report = ran(pexrun("run", url, "api", "--s3-endpoint-url", s3_env.endpoint, "--cache-dir", str(cache)))
    assert report["version"] == "1.0.0"
    from_env = pexrun("list", url, env={"PEXRUN_S3_ENDPOINT_URL": s3_env.endpoint})
    assert from_env.stdout == "api@1.0.0\n", from_env.stderr
    wrong = failed(
        pexrun("list", url, "--s3-endpoint-url", s3_env.endpoint, env={"AWS_SECRET_ACCESS_KEY": "wrong-8d2f"})
    )
    assert "(SignatureDoesNotMatch): the credentials are wrong or lack permission" in wrong
    assert "wrong-8d2f" not in wrong


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "file:///x", "@1.0"]) == 2
    assert capsys.readouterr().err == "pexrun: error: '@1.0' is not a release: use <app> or <app>@<version>.\n"
    with pytest.raises(SystemExit) as missing_keep:
        main(["gc"])
    assert missing_keep.value.code == 2 and "--keep" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stray_args:
        main(["list", "file:///x", "--", "extra"])
    assert stray_args.value.code == 2 and "only `run` takes arguments after `--`" in capsys.readouterr().err
