# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun's commands, each run as its own process: `run` execs, replacing the process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from pex_release_core.manifest import (
    Blob,
    CompletePlatform,
    ReleaseManifest,
    ReleasePex,
    TreeFile,
    TreeSymlink,
    tree_sha256,
)
from pex_release_core.publishing import publish
from pex_release_core.repository.base import blob_key
from pex_release_core.repository.file import FileRepository
from pex_release_core.repository.url import open_repository
from pex_release_core.testutil import REPORTER_MAIN, damage_blob, make_release, python_env
from pexrun.launch import Interpreter
from pexrun.launch_test import HOST_TAG, PY, host_platform
from pexrun.main import main
from pexrun.start import base_python
from pexrun.venvs import VenvCache
from testing.servers import HttpServer, Reply, S3Server, http_server


def pexrun(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pexrun.main", *args],
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


def wheel_of(manifest: ReleaseManifest) -> Blob:
    """The blob of the deps tree's wheel, which no other file shares."""
    return next(blob for blob in manifest.deps.blobs if blob.file.endswith(".whl"))


def release_txt(manifest: ReleaseManifest) -> Blob:
    """The blob of the sources tree's release.txt, which no other release shares."""
    return next(blob for blob in manifest.sources.blobs if blob.file.endswith("/release.txt"))


def not_cached(cache: Path, blob: Blob) -> bool:
    """Whether the cache holds neither the blob nor a part of it, nor any tree (the others' blobs, fetched
    alongside, may be there, verified)."""
    names = [p.name for p in (cache / "blobs" / "sha256").iterdir()]
    return blob.sha256 not in names and not [n for n in names if n.startswith(".")] and not (cache / "trees").exists()


def tree(cache: Path, pex: ReleasePex) -> Path:
    return cache / "trees" / pex.sha256 / "pex"


def venv(cache: Path, manifest: ReleaseManifest) -> Path:
    """The venv pexrun builds of the release's deps for the Python running these tests."""
    return VenvCache(cache).venv_path(manifest.deps, Interpreter.at(base_python()))


def site_packages(cache: Path, manifest: ReleaseManifest) -> Path:
    return venv(cache, manifest) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


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
        "argv0": str(tree(cache, manifest.sources) / "api" / "main.py"),  # a module entry point, run as pex runs it
        "args": ["--port", "8080", "--", "-x"],
        "pid": process.pid,  # exec'd: the release is the process pexrun started as, no wrapper
        "deps": "shared",
        "deps_from": str(site_packages(cache, manifest)),  # installed from the deps tree's wheel
        "entry": "main",
        "pex": os.path.realpath(tree(cache, manifest.sources)),
        "pex_path": None,  # no pex runtime: pex's variables are not set, as pex strips them
        "release_env": {},
        "app": "api",
        "version": "1.10.0",
        "executable": str(venv(cache, manifest) / "bin" / "python"),  # the venv's python, which finds its venv
        "prefix": str(venv(cache, manifest)),
        # The sources first, the venv's site-packages last (the environment's PYTHONPATH between).
        "path": [str(tree(cache, manifest.sources)), *report["path"][1:-1], str(site_packages(cache, manifest))],
    }


def test_a_warm_cache_runs_without_the_repository_blobs(repository: FileRepository, cache: Path) -> None:
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["version"] == "1.0.0"
    shutil.rmtree(repository.root / "blobs")  # only the manifest is read now
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["version"] == "1.0.0"


def test_the_cache_dir_from_the_environment(repository: FileRepository, cache: Path) -> None:
    report = ran(pexrun("run", repository.url, "worker", env={"PEXRUN_CACHE_DIR": str(cache)}))
    assert report["pex"] == str(tree(cache, manifest_of(repository, "worker", "0.1.0").sources))


def test_a_script(repository: FileRepository, cache: Path) -> None:
    report = ran(pexrun("run", repository.url, "api@1.9.0", "--script", "report", "--cache-dir", str(cache)))
    assert (report["version"], report["entry"], report["args"]) == ("1.9.0", "report", [])
    assert report["argv0"] == str(tree(cache, manifest_of(repository, "api", "1.9.0").sources))


def test_an_unknown_script_lists_the_scripts_and_fetches_nothing(repository: FileRepository, cache: Path) -> None:
    error = failed(pexrun("run", repository.url, "api@1.9.0", "--script", "nope", "--cache-dir", str(cache)))
    assert error == "pexrun: error: api 1.9.0 has no script 'nope' (its scripts: report).\n"
    assert not (cache / "blobs").exists()


def test_a_tree_file_modified_in_the_cache_is_put_back_and_the_release_runs(repository: FileRepository, cache: Path) -> None:
    """pexrun notices the change by the file's stat, hashes the tree, replaces the blob it shares its
    inode with, builds the tree again, warns, and runs the release as published."""
    first = ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))
    main = Path(first["argv0"])  # api/main.py
    main.chmod(0o644)
    main.write_text("print('edited in the cache')\n")
    result = pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache))
    assert ran(result) == {**first, "pid": ran(result)["pid"]}
    sources = tree(cache, manifest_of(repository, "api", "1.0.0").sources)
    warnings = result.stderr.splitlines()
    assert warnings[0] == (
        f"pexrun: warning: {sources} (api-srcs.pex) had changed since pexrun built it: a file's bytes, mode or type, "
        "or a symlink, differs from the manifest. pexrun built it again from verified blobs."
    )
    assert warnings[1].startswith("pexrun: warning: The cached copy of api-srcs.pex/api/main.py (sha256:")
    assert len(warnings) == 2
    assert main.read_text() == REPORTER_MAIN
    assert pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)).stderr == ""


def test_a_corrupt_zipapp_blob_is_downloaded_again(tmp_path: Path, cache: Path) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    publish(repository, make_release(tmp_path / "dist", "api", "1.0.0", layout="zipapp"))
    deps = Path(ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["pex_path"])
    assert deps == cache / "blobs" / "sha256" / manifest_of(repository, "api", "1.0.0").deps.sha256
    deps.chmod(0o644)
    deps.write_bytes(b"corrupted")
    result = pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache))
    assert ran(result)["deps"] == "shared"
    assert result.stderr == (
        f"pexrun: warning: The cached copy of deps-shared.pex (sha256:{deps.name}) in {deps.parent} was corrupt: its 9 "
        f"bytes hashed to {hashlib.sha256(b'corrupted').hexdigest()}. pexrun deleted it and downloaded it again.\n"
    )


@pytest.mark.parametrize(
    "change, refused",
    [
        ({"files": [{"path": "../../outside.txt"}]}, "the file path '../../outside.txt' is not a normalized relative path"),
        ({"files": [{"path": "{tmp}/outside.txt"}]}, "the file path '{tmp}/outside.txt' is not a normalized relative path"),
        ({"symlinks": [{"path": "pex", "target": "../../outside"}]}, "the symlink pex points to '../../outside', outside the PEX"),
        ({"symlinks": [{"path": "pex", "target": "{tmp}/outside"}]}, "the symlink pex points to '{tmp}/outside', which is not a relative path"),
    ],
)
def test_a_hand_made_manifest_with_a_path_outside_its_tree_is_refused(
    repository: FileRepository, cache: Path, tmp_path: Path, change: dict[str, list[dict[str, str]]], refused: str
) -> None:
    published = json.loads(repository.read_manifest("api", "1.0.0"))
    sources = published["sources"]
    for key, entries in change.items():
        sources[key][0].update({name: value.format(tmp=tmp_path) for name, value in entries[0].items()})
    assert_refused_by_run_and_fetch(repository, published, cache, tmp_path, refused.format(tmp=tmp_path))


def test_a_symlink_that_leads_out_of_its_tree_through_another_is_refused(
    repository: FileRepository, cache: Path, tmp_path: Path
) -> None:
    # Each link inside the tree as text, but `up` is the tree's root, so `__main__.py` leads four
    # levels above it: out of <cache>/trees/<sha256>/pex, to a program beside the cache.
    (tmp_path / "outside.py").write_text("print('ran a file outside the cache')\n")
    published = json.loads(repository.read_manifest("api", "1.0.0"))
    sources = published["sources"]
    files = [f for f in sources["files"] if f["path"] != "__main__.py"]
    symlinks = [
        *sources["symlinks"],
        {"path": "__main__.py", "target": "q0/q1/q2/up/../../../../outside.py"},
        {"path": "q0/q1/q2/up", "target": "../../.."},
    ]
    # With the digest and size of those entries, so that only the links are wrong.
    entries = (tuple(TreeFile(**f) for f in files), tuple(TreeSymlink(**s) for s in symlinks))
    sources.update(files=files, symlinks=symlinks, sha256=tree_sha256(*entries), size=sum(f["size"] for f in files))
    refused = (
        "the symlink __main__.py points to 'q0/q1/q2/up/../../../../outside.py', outside the PEX through "
        "q0/q1/q2/up -> '../../..'"
    )
    assert_refused_by_run_and_fetch(repository, published, cache, tmp_path, refused)


def assert_refused_by_run_and_fetch(
    repository: FileRepository, published: dict[str, Any], cache: Path, tmp_path: Path, refused: str
) -> None:
    """Publishes the edited manifest by hand as api 6.6.6, and checks that `run` and `fetch` refuse it
    before writing anything."""
    (repository.root / "apps" / "api" / "6.6.6.json").write_text(json.dumps({**published, "version": "6.6.6"}))
    before = sorted(tmp_path.rglob("*"))
    for command in ("run", "fetch"):
        error = failed(pexrun(command, repository.url, "api@6.6.6", "--cache-dir", str(cache)))
        assert f"apps/api/6.6.6.json in {repository.url} does not follow manifest schema 2: ValueError: api-srcs.pex: " in error
        assert refused in error
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, in the cache or anywhere else


def test_a_blob_missing_from_the_repository_is_named_and_a_later_run_completes(
    repository: FileRepository, cache: Path, tmp_path: Path
) -> None:
    manifest = manifest_of(repository, "api", "1.9.0")
    missing = next(f for f in manifest.sources.files if f.path == "release.txt")
    damage_blob(repository, blob_key(missing.sha256), "deleted")
    error = failed(pexrun("run", repository.url, "api@1.9.0", "--cache-dir", str(cache)))
    assert error == (
        f"pexrun: error: api 1.9.0 cannot be fetched. The blob api-srcs.pex/release.txt (sha256:{missing.sha256}) is "
        f"not in the repository {repository.url}, though a manifest names it. Publish the release again to restore it. "
        "A later run completes once it is there.\n"
    )
    assert not (cache / "trees").exists()
    publish(repository, tmp_path / "dist" / "api" / "1.9.0" / "api.release.json")
    assert ran(pexrun("run", repository.url, "api@1.9.0", "--cache-dir", str(cache)))["version"] == "1.9.0"


# `pexrun run`, killed (SIGKILL) once it has placed two files of the first tree it builds.
_KILLED_RUN = """
import os, signal, sys
from pexrun.cache import BlobCache
from pexrun.main import main
place = BlobCache._place
def place_and_die(self, file, path, placed=[]):
    place(self, file, path)
    placed.append(path)
    if len(placed) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
BlobCache._place = place_and_die
main(sys.argv[1:])
"""


def test_a_run_killed_while_building_a_tree_and_the_next_run(repository: FileRepository, cache: Path) -> None:
    argv = ["run", repository.url, "api@1.0.0", "--cache-dir", str(cache)]
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, *argv], env=python_env(), capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert [p.name.startswith(".") for p in (cache / "trees").iterdir()] == [True]  # no tree in place
    assert ran(pexrun(*argv))["deps"] == "shared"
    manifest = manifest_of(repository, "api", "1.0.0")
    assert sorted(p.name for p in (cache / "trees").iterdir() if not p.name.startswith(".")) == sorted(
        [manifest.deps.sha256, manifest.sources.sha256]
    )


def test_eight_runs_building_the_same_trees_at_once(repository: FileRepository, cache: Path) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pexrun.main", "run", repository.url, "api@1.0.0", "--cache-dir", str(cache)],
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(*run.communicate(timeout=120), run.returncode) for run in runs]
    assert [(err, code) for _, err, code in results] == [("", 0)] * 8
    manifest = manifest_of(repository, "api", "1.0.0")
    assert {json.loads(out)["deps_from"] for out, _, _ in results} == {str(site_packages(cache, manifest))}
    # One tree of each and one venv, none half-built, and no temporary download left.
    assert sorted(p.name for p in (cache / "trees").iterdir()) == sorted([manifest.deps.sha256, manifest.sources.sha256])
    assert [p.name for p in (cache / "venvs").iterdir()] == [manifest.deps.sha256]
    assert [p.name for p in (cache / "venvs" / manifest.deps.sha256).iterdir()] == [venv(cache, manifest).name]
    assert sorted(p.name for p in (cache / "blobs" / "sha256").iterdir()) == sorted(b.sha256 for b in manifest.blobs)


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
    assert f"the most specific wheel tag of CPython {sys.version.split()[0]} ({base_python()}) here is {HOST_TAG}" in error
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
        (b'{"schema": 99}', "apps/api/3.0.0.json in {url} has manifest schema 99; this version of pex-release reads schema 2"),
        (b'{"schema": 2, "app": "api"}', "apps/api/3.0.0.json in {url} does not follow manifest schema 2"),
        (
            b'{"schema": 1, "app": "api"}',
            "apps/api/3.0.0.json in {url} has manifest schema 1, written by an older pex-release that published whole "
            "PEX files; this version reads schema 2 (release trees). Rebuild and publish the release with this "
            "pex-release (`./pants publish`), or run it with the pexrun of the pex-release that published it.",
        ),
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
        f"  deps     {tree(cache, manifest.deps)}",
        f"  sources  {tree(cache, manifest.sources)}",
        f"  venv     {venv(cache, manifest)}",
    ]


def test_progress_shows_a_cold_fetch_and_nothing_of_a_warm_start(repository: FileRepository, cache: Path) -> None:
    manifest = manifest_of(repository, "api", "1.9.0")
    blobs = {blob.sha256: blob.size for pex in manifest.pexes for blob in pex.blobs}
    megabytes = f"{sum(blobs.values()) / 1e6:.1f}"
    cold = pexrun("fetch", repository.url, "api@1.9.0", "--cache-dir", str(cache), "--progress", "always")
    assert cold.returncode == 0, cold.stderr
    lines = cold.stderr.splitlines()
    assert lines[0].startswith("pexrun: api 1.9.0: downloaded 1/") and f"/{len(blobs)} files" in lines[0]
    assert f"pexrun: api 1.9.0: downloaded {len(blobs)}/{len(blobs)} files, {megabytes}/{megabytes} MB" in lines
    assert [line for line in lines if "building the tree" in line] == [
        f"pexrun: api 1.9.0: building the tree of {pex.file} ({len(pex.files):,} files)" for pex in manifest.pexes
    ]
    assert lines[-1].startswith("pexrun: api 1.9.0: ready in ") and lines[-1].endswith(f"({len(blobs)} files, {megabytes} MB downloaded)")
    # Warm: nothing to download or build, so nothing shown even when asked.
    warm = pexrun("run", repository.url, "api@1.9.0", "--cache-dir", str(cache), env={"PEXRUN_PROGRESS": "always"})
    assert (warm.returncode, warm.stderr) == (0, "")
    # Another release with the same deps: only its sources are downloaded.
    sources = pexrun("fetch", repository.url, "api@1.10.0", "--cache-dir", str(cache), "--progress", "always")
    new_blobs = {blob.sha256 for blob in manifest_of(repository, "api", "1.10.0").sources.blobs} - set(blobs)
    assert new_blobs and f"pexrun: api 1.10.0: downloaded {len(new_blobs)}/{len(new_blobs)} files" in sources.stderr
    assert "building the tree of api-srcs" in sources.stderr and "deps-shared" not in sources.stderr


def test_progress_is_off_when_stderr_is_not_a_terminal_unless_asked(repository: FileRepository, cache: Path) -> None:
    quiet = pexrun("fetch", repository.url, "api@1.9.0", "--cache-dir", str(cache))
    assert (quiet.returncode, quiet.stderr) == (0, "")
    wrong = pexrun("fetch", repository.url, "api@1.9.0", "--cache-dir", str(cache), env={"PEXRUN_PROGRESS": "yes"})
    assert wrong.returncode == 2
    assert "argument --progress: expected auto, always or never (from --progress or $PEXRUN_PROGRESS), got 'yes'" in wrong.stderr


def test_list(repository: FileRepository) -> None:
    everything = pexrun("list", repository.url)
    assert everything.stdout.split() == ["api@1.0.0", "api@1.9.0", "api@1.10.0", "api@2.0.0rc1", "worker@0.1.0"]
    assert pexrun("list", repository.url, "worker").stdout == "worker@0.1.0\n"


def test_info(repository: FileRepository) -> None:
    info = pexrun("info", repository.url, "api@1.9.0")
    assert info.returncode == 0, info.stderr
    manifest = manifest_of(repository, "api", "1.9.0")
    lines = info.stdout.splitlines()
    assert lines[:12] == [
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
        f"deps:                    deps-shared.pex  packed, 5 files, 1 symlink, {manifest.deps.size:,} bytes  "
        f"sha256:{manifest.deps.sha256}",
        f"sources:                 api-srcs.pex  packed, 7 files, 1 symlink, {manifest.sources.size:,} bytes  "
        f"sha256:{manifest.sources.sha256}",
    ]
    [locked] = manifest.deps.distributions
    assert lines[-2:] == ["distributions (1):", f"  release-deps==1.0  release_deps-1.0-py3-none-any.whl  sha256:{locked.sha256}"]
    assert failed(pexrun("info", repository.url, "api"), code=2).endswith("info needs an exact release: api@<version> (`pexrun list` shows them), or --channel NAME.\n")


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
    removed = manifest_of(repository, "api", "1.0.0").sources
    only_removed = next(f for f in removed.files if f.path == "release.txt").size  # the others are shared with 1.9.0
    record = (tree(cache, removed).parent / "stat.json").stat().st_size
    gc = pexrun("gc", "--keep", "1", "--cache-dir", str(cache))
    assert gc.stdout.splitlines() == [
        "removed api@1.0.0",
        f"kept the 1 most recently used releases of each app in {cache}: removed 1 releases, 1 trees, the venvs of 0 "
        "deps trees and 1 blobs, "
        f"freed {only_removed + record:,} bytes",
    ]
    assert not tree(cache, removed).parent.exists()
    assert "expected a number of releases" in pexrun("gc", "--keep", "-1").stderr


@pytest.fixture
def served(repository: FileRepository, tmp_path: Path) -> Iterator[str]:
    with http_server(repository.root.parent) as server:
        yield f"{server.url}/{repository.root.name}"


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


# --- Hostile servers and repositories -------------------------------------------------------------

SECRET = "s3cr3t-7b2e"


@pytest.fixture
def http_repository(repository: FileRepository) -> Iterator[HttpServer]:
    """The repository fixture's releases, served over HTTP."""
    with http_server(repository.root.parent) as server:
        yield server


def blob_path(server: HttpServer, blob: Blob) -> str:
    return f"/repository/{blob_key(blob.sha256)}"


@pytest.mark.parametrize(
    "query, echoed, elsewhere_host",
    [
        (f"token={SECRET}", f"token={SECRET}&cdn=1", "localhost"),
        (f"token={SECRET}", f"%74oken={SECRET}&cdn=1", "localhost"),
        (f"token={SECRET}", f"token=%73{SECRET[1:]}&cdn=1", "localhost"),
        (f"token={SECRET}%2b1", f"token={SECRET}%2B1&cdn=1", "localhost"),
        (f"token={SECRET}%201", f"token={SECRET}+1&cdn=1", "localhost"),
        (f"token={SECRET}+1", f"token={SECRET}%2B1&cdn=1", "localhost"),
        (f"sig=1&token={SECRET}", f"cdn=1&token={SECRET}&sig=1", "127.0.0.1"),
    ],
    ids=["as-sent", "name-escaped", "value-escaped", "escape-case", "space-as-plus", "plus-as-escape", "port-only"],
)
def test_credentials_are_not_sent_to_another_origin_on_a_redirect(
    repository: FileRepository, http_repository: HttpServer, cache: Path, query: str, echoed: str, elsewhere_host: str
) -> None:
    deps = wheel_of(manifest_of(repository, "api", "1.0.0"))
    with http_server(repository.root.parent) as elsewhere:
        # A CDN, say: the same blob, on another origin (another port, and by default another host
        # name), and a Location that copies the query, as `return 302 http://cdn$request_uri` does,
        # or re-encodes it as a server that decodes the query and encodes it again.
        location = f"http://{elsewhere_host}:{elsewhere.port}{blob_path(http_repository, deps)}?{echoed}"
        http_repository.replies[blob_path(http_repository, deps)] = Reply(302, {"Location": location})
        url = f"http://user:{SECRET}@127.0.0.1:{http_repository.port}/repository?{query}"
        result = pexrun("run", url, "api@1.0.0", "--cache-dir", str(cache))
        assert ran(result)["version"] == "1.0.0"
    assert SECRET not in result.stdout + result.stderr
    sent_home = http_repository.requests
    assert all(r.headers.get("Authorization") and r.path.endswith(f"?{query}") for r in sent_home), sent_home
    assert [(r.method, r.path, r.headers.get("Authorization")) for r in elsewhere.requests] == [
        ("GET", f"{blob_path(http_repository, deps)}?cdn=1", None)
    ]


@pytest.mark.parametrize(
    "url, endpoint, shown",
    [
        (f"http://user:{SECRET}@127.0.0.1:9/releases", None, "The repository http://***@127.0.0.1:9/releases is unreachable"),
        (f"https:///x?token={SECRET}", None, "'https:///x?***' names no host"),
        (f"http://[::1/x?token={SECRET}", None, "'http://[::1/x?***' is not a repository URL (Invalid IPv6 URL)"),
        (f"ftp://user:{SECRET}@host/x?token={SECRET}", None, "'ftp://***@host/x?***' is not a repository URL: use"),
        (f"http://host/my releases?token={SECRET}", None, "'http://host/my releases?***' is not a repository URL: it contains a space"),
        (f"http://host/\x1b[2J?token={SECRET}", None, "'http://host/\\x1b[2J?***' is not a repository URL: it contains"),
        ("s3://bucket/releases", f"http://KEY:{SECRET}@127.0.0.1:9", "s3://bucket/releases (endpoint http://***@127.0.0.1:9) is unreachable"),
        ("s3://bucket/releases", f"http://[::1/?token={SECRET}", "Cannot use the S3 endpoint 'http://[::1/?***' for s3://bucket/releases"),
        # Passwords holding what ends a URL's host, or a quote; an endpoint written without its scheme.
        (f"http://user:pa?{SECRET}@127.0.0.1:9/releases", None, "'http://***@127.0.0.1:9/releases' has a port that is not a number"),
        (f"http://user:pa%23{SECRET}#x@127.0.0.1:9/releases", None, "'http://***@127.0.0.1:9/releases' has a port that is not a number"),
        (f"http://user:it's-{SECRET}@127.0.0.1:9/releases", None, "The repository http://***@127.0.0.1:9/releases is unreachable"),
        ("s3://bucket/releases", f"KEY:{SECRET}@127.0.0.1:9", "Cannot use the S3 endpoint '***@127.0.0.1:9' for s3://bucket/releases"),
    ],
)
def test_secrets_in_urls_are_never_shown(s3_env: S3Server, cache: Path, url: str, endpoint: str | None, shown: str) -> None:
    endpoint_args = ["--s3-endpoint-url", endpoint] if endpoint else []
    for command in (["run", url, "api"], ["list", url], ["info", url, "api@1.0"]):
        result = pexrun(*command, *endpoint_args, "--cache-dir", str(cache))
        assert shown in failed(result)
        assert SECRET not in result.stdout + result.stderr
        assert "\x1b" not in result.stderr


def test_manifest_fields_cannot_drive_the_terminal(repository: FileRepository, cache: Path) -> None:
    published = json.loads(repository.read_manifest("api", "1.0.0"))
    hostile = {
        **published,
        "version": "6.6.6",
        "revision": "\x1b[2J\x1b]0;owned\x07",
        "entry_point": "api.main\x1b[8m",
        "scripts": {"rep\x1bort": "x:y"},
        "env": {"TERM": "\x1b[31mred"},
    }
    (repository.root / "apps" / "api" / "6.6.6.json").write_text(json.dumps(hostile))
    info = pexrun("info", repository.url, "api@6.6.6")
    assert info.returncode == 0, info.stderr
    assert "\x1b" not in info.stdout and "\x07" not in info.stdout
    assert "revision:                \\x1b[2J\\x1b]0;owned\\x07\n" in info.stdout
    assert "script:                  rep\\x1bort = x:y\n" in info.stdout
    assert "injected env:            TERM=\\x1b[31mred\n" in info.stdout
    run = failed(pexrun("run", repository.url, "api@6.6.6", "--script", "nope", "--cache-dir", str(cache)))
    assert run == "pexrun: error: api 6.6.6 has no script 'nope' (its scripts: rep\\x1bort).\n"


def test_listed_versions_cannot_drive_the_terminal(repository: FileRepository, http_repository: HttpServer) -> None:
    (repository.root / "apps" / "worker" / "index.json").write_text(json.dumps(["0.1.0", "0.2\x1b[2J"]))
    listed = pexrun("list", f"{http_repository.url}/repository", "worker")
    assert listed.stdout == "worker@0.1.0\nworker@0.2\\x1b[2J\n", listed.stderr


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_damaged_release_runs_again_once_published_again(
    tmp_path: Path, cache: Path, s3_env: S3Server, damage: str
) -> None:
    for url, endpoint in ((f"file://{tmp_path / 'repository'}", None), (f"s3://{s3_env.new_bucket()}/r", s3_env.endpoint)):
        repository = open_repository(url, s3_endpoint_url=endpoint)
        manifest = make_release(tmp_path / "dist" / url.split(":")[0], "api", "1.0.0")
        publish(repository, manifest)
        damage_blob(repository, blob_key(wheel_of(manifest_of(repository, "api", "1.0.0")).sha256), damage)
        endpoint_args = ["--s3-endpoint-url", endpoint] if endpoint else []
        error = failed(pexrun("run", url, "api@1.0.0", *endpoint_args, "--cache-dir", str(cache)))
        assert "deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl (sha256:" in error
        assert [u.blob.file for u in publish(repository, manifest).blobs if u.uploaded] == [
            "deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl"
        ]
        assert ran(pexrun("run", url, "api@1.0.0", *endpoint_args, "--cache-dir", str(cache)))["version"] == "1.0.0"
        shutil.rmtree(cache)


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_trickling_download_is_given_up_on(
    repository: FileRepository, http_repository: HttpServer, cache: Path, how: str
) -> None:
    deps = wheel_of(manifest_of(repository, "api", "1.0.0"))
    stored = (repository.root / blob_key(deps.sha256)).read_bytes()
    http_repository.replies[blob_path(http_repository, deps)] = Reply(body=stored, byte_interval=0.2)
    timeout = ["--download-timeout", "1"] if how == "option" else []
    result = pexrun(
        "run", f"{http_repository.url}/repository", "api@1.0.0", *timeout, "--cache-dir", str(cache),
        env={"PEXRUN_DOWNLOAD_TIMEOUT": "1" if how == "environment" else "60"},
    )
    error = failed(result)
    assert f"Downloading {deps.file} (sha256:{deps.sha256}) from {http_repository.url}/repository took longer " in error
    assert f"than the 1.0 s allowed for its {deps.size:,} bytes: " in error
    received = int(error.split(" bytes arrived.")[0].rsplit(": ", 1)[1].replace(",", ""))
    assert 0 < received < deps.size
    assert "It was not cached. On a network this slow, allow more time with --download-timeout SECONDS (or " in error
    assert not_cached(cache, deps)


def test_a_download_longer_than_its_blob_is_cut_short(
    repository: FileRepository, http_repository: HttpServer, cache: Path
) -> None:
    deps = wheel_of(manifest_of(repository, "api", "1.0.0"))
    stored = (repository.root / blob_key(deps.sha256)).read_bytes()
    http_repository.replies[blob_path(http_repository, deps)] = Reply(body=stored + b"\0" * (64 << 20))
    error = failed(pexrun("run", f"{http_repository.url}/repository", "api@1.0.0", "--cache-dir", str(cache)))
    assert f"{deps.file} (sha256:{deps.sha256}) from {http_repository.url}/repository is longer than the " in error
    assert f"{deps.size:,} bytes its manifest declares: the download stopped at {deps.size + 1:,} bytes." in error
    assert not_cached(cache, deps)


@pytest.mark.parametrize("key, release", [("apps/api/1.0.0.json", "api@1.0.0"), ("apps/api/index.json", "api")])
def test_a_trickling_manifest_or_index_is_given_up_on(
    repository: FileRepository, http_repository: HttpServer, cache: Path, key: str, release: str
) -> None:
    stored = (repository.root / key).read_bytes()
    http_repository.replies[f"/repository/{key}"] = Reply(body=stored, byte_interval=0.2)
    url = f"{http_repository.url}/repository"
    error = failed(pexrun("run", url, release, "--download-timeout", "1", "--cache-dir", str(cache)))
    assert error.startswith(f"pexrun: error: Reading {key} from {url} took longer than the 1.0 s allowed: "), error
    assert "allow more time with --download-timeout SECONDS (or $PEXRUN_DOWNLOAD_TIMEOUT)." in error
    assert not cache.exists()  # nothing downloaded


def test_a_manifest_over_the_cap_is_refused(repository: FileRepository, http_repository: HttpServer) -> None:
    key = "apps/api/1.0.0.json"
    stored = (repository.root / key).read_bytes()
    # Valid JSON, and the right manifest, but longer than any release's: 24 MiB of trailing spaces.
    http_repository.replies[f"/repository/{key}"] = Reply(body=stored + b" " * (24 << 20))
    url = f"{http_repository.url}/repository"
    assert failed(pexrun("info", url, "api@1.0.0")) == (
        f"pexrun: error: {key} in {url} is larger than 16,777,216 bytes (16 MiB), the most a manifest or an index "
        "may be, so reading it stopped there. No release writes one that large (a 10,000-file release's manifest "
        "takes about 3 MB): check what the repository holds there.\n"
    )


@pytest.mark.parametrize("kind", ["a FIFO", "a device", "a directory"])
def test_a_manifest_that_is_not_a_regular_file_is_refused_unread(repository: FileRepository, cache: Path, kind: str) -> None:
    manifest = repository.root / "apps" / "api" / "1.0.0.json"
    manifest.unlink()
    if kind == "a FIFO":
        os.mkfifo(manifest)  # no writer: opening it would wait for ever
    elif kind == "a device":
        manifest.symlink_to("/dev/zero")  # never ends
    else:
        manifest.mkdir()
    assert failed(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache))) == (
        f"pexrun: error: apps/api/1.0.0.json in the repository {repository.url} is {kind}, not a regular file, so it "
        "was not read. Remove it, and publish the release again.\n"
    )


def test_a_manifest_nested_too_deep_is_a_clear_error(repository: FileRepository, cache: Path) -> None:
    (repository.root / "apps" / "api" / "1.0.0.json").write_text("[" * 100_000)
    assert failed(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache))) == (
        f"pexrun: error: apps/api/1.0.0.json in {repository.url} is not a release manifest: its JSON nests deeper "
        "than Python's parser allows.\n"
    )


def test_a_directory_where_a_cached_blob_belongs_is_replaced(repository: FileRepository, cache: Path) -> None:
    wheel = cache / "blobs" / "sha256" / wheel_of(manifest_of(repository, "api", "1.0.0")).sha256
    (wheel / "inside").mkdir(parents=True)
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["deps"] == "shared"
    assert wheel.is_file()


# Root writes through any mode bits: without these capabilities, it is held to them as anyone is.
AS_ANY_USER = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--") if os.geteuid() == 0 else ()


def test_a_read_only_cache_runs_what_it_holds(repository: FileRepository, cache: Path) -> None:
    assert ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))["version"] == "1.0.0"
    assert ran(pexrun("run", repository.url, "api@2.0.0rc1", "--cache-dir", str(cache)))["version"] == "2.0.0rc1"
    shutil.rmtree(tree(cache, manifest_of(repository, "api", "2.0.0rc1").sources).parent)  # its blobs stay
    in_the_way = cache / "blobs" / "sha256" / release_txt(manifest_of(repository, "api", "1.10.0")).sha256
    in_the_way.mkdir()
    for path in (cache, *(p for p in cache.rglob("*") if not p.is_symlink())):  # a venv's python links outside
        path.chmod(path.stat().st_mode & ~0o222)  # as a read-only mount: no writes, modes otherwise kept
    try:
        assert subprocess.run([*AS_ANY_USER, "touch", str(cache / "x")], capture_output=True).returncode != 0
        report = ran(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache), prefix=AS_ANY_USER))
        sources = manifest_of(repository, "api", "1.0.0").sources
        assert (report["version"], report["pex"]) == ("1.0.0", str(tree(cache, sources)))
        missing = failed(pexrun("run", repository.url, "api@1.9.0", "--cache-dir", str(cache), prefix=AS_ANY_USER))
        assert f"Cannot download api-srcs.pex/release.txt (sha256:{release_txt(manifest_of(repository, 'api', '1.9.0')).sha256}) " in missing
        assert f"into the cache {cache}: Permission denied. Make it writable, or use another with --cache-dir DIR" in missing
        unbuilt = failed(pexrun("run", repository.url, "api@2.0.0rc1", "--cache-dir", str(cache), prefix=AS_ANY_USER))
        assert unbuilt == (
            f"pexrun: error: Cannot build api-srcs.pex of api 2.0.0rc1 in the cache {cache}: Permission denied. Make it "
            "writable, or use another with --cache-dir DIR (or $PEXRUN_CACHE_DIR).\n"
        )
        stuck = failed(pexrun("run", repository.url, "api@1.10.0", "--cache-dir", str(cache), prefix=AS_ANY_USER))
        assert stuck == (
            f"pexrun: error: {in_the_way}, where the cache keeps api-srcs.pex/release.txt (sha256:{in_the_way.name}), is "
            f"damaged (it is not a file), and pexrun cannot remove it (Permission denied): remove it (`rm -r {in_the_way}`) "
            "and run again.\n"
        )
    finally:
        for path in (cache, *(p for p in cache.rglob("*") if not p.is_symlink())):
            path.chmod(0o755)
