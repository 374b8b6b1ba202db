# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`pexrun run` starts releases from a venv of their deps' wheels, built once per deps tree and
interpreter, checked like a tree, and managed like one (gc, repairs, concurrent and killed builds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pex_release_core.publishing import publish
from pex_release_core.repository.file import FileRepository
from pex_release_core.repository.url import open_repository
from pex_release_core.testutil import add_source_files, make_release, python_env
from pexrun.main_test import failed, manifest_of, pexrun, ran, site_packages, tree, venv


@pytest.fixture
def repository(tmp_path: Path) -> FileRepository:
    """api 1.0.0 and worker 0.1.0 (one deps tree, "shared"), api 2.0.0 (deps "other"), api 3.0.0
    (with injected env and args), and tool 1.0.0 (which runs a console script of its deps)."""
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    assert isinstance(repository, FileRepository)
    dist = tmp_path / "dist"
    publish(repository, make_release(dist / "api-1", "api", "1.0.0"))
    publish(repository, make_release(dist / "worker", "worker", "0.1.0"))
    publish(repository, make_release(dist / "api-2", "api", "2.0.0", deps="other"))
    injected = {"RELEASE_GREETING": "hello", "RELEASE_MODE": "injected"}
    publish(repository, make_release(dist / "api-3", "api", "3.0.0", inject_env=injected, inject_args=("--greeting={pex.env.RELEASE_GREETING}", "{pex.env.RELEASE_UNSET}")))
    publish(repository, make_release(dist / "tool", "tool", "1.0.0", script="release-deps-show"))
    return repository


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def run(repository: FileRepository, cache: Path, release: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return pexrun("run", repository.url, release, "--cache-dir", str(cache), *args, env=env)


def test_a_release_runs_from_a_venv_of_its_deps_wheels(repository: FileRepository, cache: Path) -> None:
    manifest = manifest_of(repository, "api", "1.0.0")
    report = ran(run(repository, cache, "api@1.0.0"))
    site = site_packages(cache, manifest)
    assert report["deps_from"] == str(site) and report["pex_path"] is None
    # Installed as pip installs a wheel: metadata, INSTALLER, the console script, read-only files.
    assert (site / "release_deps-1.0.dist-info" / "INSTALLER").read_text() == "pexrun\n"
    script = venv(cache, manifest) / "bin" / "release-deps-show"
    assert f"{venv(cache, manifest) / 'bin' / 'python'}" in script.read_text().splitlines()[1]  # too long for `#!`
    assert (os.stat(site / "release_deps.py").st_mode & 0o777, os.stat(script).st_mode & 0o777) == (0o444, 0o555)
    record = json.loads((venv(cache, manifest) / "pexrun-record.json").read_bytes())
    assert record["files"]["pexrun_main.py"][1:] == [(venv(cache, manifest) / "pexrun_main.py").stat().st_size, 0o444]
    assert set(record["stat"]) == set(record["files"])
    # Another release with the same deps runs from the same venv.
    assert ran(run(repository, cache, "worker@0.1.0"))["deps_from"] == str(site)
    assert [p.name for p in (cache / "venvs").iterdir()] == [manifest.deps.sha256]


def test_injected_env_and_args_as_pex_injects_them(repository: FileRepository, cache: Path) -> None:
    report = ran(run(repository, cache, "api@3.0.0", "--", "--user"))
    # `{pex.env.NAME}` expands to NAME's value, or "" if unset; the user's args follow.
    assert report["args"] == ["--greeting=hello", "", "--user"]
    assert report["release_env"] == {"RELEASE_GREETING": "hello", "RELEASE_MODE": "injected"}
    # The injected env is a default: the caller's value wins.
    assert ran(run(repository, cache, "api@3.0.0", env={"RELEASE_MODE": "mine"}))["release_env"]["RELEASE_MODE"] == "mine"
    # A script gets the env, but not the injected args (pex skips them for PEX_MODULE).
    script = ran(run(repository, cache, "api@3.0.0", "--script", "report", "--", "x"))
    assert (script["entry"], script["args"], script["release_env"]["RELEASE_GREETING"]) == ("report", ["x"], "hello")


def test_a_release_whose_pex_runs_a_console_script(repository: FileRepository, cache: Path) -> None:
    shown = json.loads(run(repository, cache, "tool@1.0.0", "--", "a", "b").stdout)
    bin_dir = venv(cache, manifest_of(repository, "tool", "1.0.0")) / "bin"
    assert shown == {"script": "shared", "argv0": str(bin_dir / "release-deps-show"), "args": ["a", "b"]}


def test_pex_variables_run_the_release_with_pex_runtime(repository: FileRepository, cache: Path) -> None:
    manifest = manifest_of(repository, "api", "1.0.0")
    with_pex = ran(run(repository, cache, "api@1.0.0", env={"PEX_INHERIT_PATH": "false"}))
    assert (with_pex["pex_path"], with_pex["deps_from"]) == (str(tree(cache, manifest.deps)), str(tree(cache, manifest.deps)))
    assert not (cache / "venvs").exists()
    # PEX_ROOT only says where pex keeps its caches: the venv runs, and pex's variables are stripped.
    with_root = ran(run(repository, cache, "api@1.0.0", env={"PEX_ROOT": str(cache / "pex_root")}))
    assert with_root["deps_from"] == str(site_packages(cache, manifest))


def test_bytecode_is_written_whatever_pythondontwritebytecode_says(repository: FileRepository, cache: Path) -> None:
    assert ran(run(repository, cache, "api@1.0.0", env={"PYTHONDONTWRITEBYTECODE": "1"}))["deps"] == "shared"
    cache_tag = sys.implementation.cache_tag
    site = site_packages(cache, manifest_of(repository, "api", "1.0.0"))
    assert (site / "__pycache__" / f"release_deps.{cache_tag}.pyc").is_file()


def test_a_changed_venv_file_is_put_back_with_a_warning(repository: FileRepository, cache: Path) -> None:
    manifest = manifest_of(repository, "api", "1.0.0")
    ran(run(repository, cache, "api@1.0.0"))
    module = site_packages(cache, manifest) / "release_deps.py"
    module.chmod(0o644)
    module.write_text("NAME = 'edited in the cache'\n")
    repaired = run(repository, cache, "api@1.0.0")
    assert ran(repaired)["deps"] == "shared"
    interpreter = repaired.stderr.split(" for ", 1)[1].split(", had changed")[0]
    assert repaired.stderr == (
        f"pexrun: warning: {venv(cache, manifest)}, the virtualenv of deps-shared.pex for {interpreter}, had changed "
        "since pexrun built it: a file's bytes, mode or type differs from its record. pexrun built it again from "
        "verified blobs.\n"
    )
    assert run(repository, cache, "api@1.0.0").stderr == ""


def test_a_touched_venv_is_hashed_and_kept(repository: FileRepository, cache: Path) -> None:
    manifest = manifest_of(repository, "api", "1.0.0")
    ran(run(repository, cache, "api@1.0.0"))
    module = site_packages(cache, manifest) / "release_deps.py"
    inode = module.stat().st_ino
    os.utime(module, (time.time() + 60, time.time() + 60))
    touched = run(repository, cache, "api@1.0.0")
    assert (ran(touched)["deps"], touched.stderr) == ("shared", "")
    assert module.stat().st_ino == inode  # not rebuilt: its bytes were intact, its new stat is recorded
    record = json.loads((venv(cache, manifest) / "pexrun-record.json").read_bytes())
    assert record["stat"][module.relative_to(venv(cache, manifest)).as_posix()][3] == module.stat().st_mtime_ns


# `pexrun run`, killed (SIGKILL) once it has installed the deps' wheel into the venv it builds.
_KILLED_RUN = """
import os, signal, sys
from pexrun.venvs import VenvCache
from pexrun.main import main
install = VenvCache._install
def install_and_die(*args):
    install(*args)
    os.kill(os.getpid(), signal.SIGKILL)
VenvCache._install = staticmethod(install_and_die)
main(sys.argv[1:])
"""


def test_a_run_killed_while_building_a_venv_and_the_next_run(repository: FileRepository, cache: Path) -> None:
    argv = ["run", repository.url, "api@1.0.0", "--cache-dir", str(cache)]
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, *argv], env=python_env(), capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    (abandoned,) = (cache / "venvs").glob(".*")  # no venv in place: only the one being built
    assert [p.name for p in (cache / "venvs").iterdir() if not p.name.startswith(".")] in ([], [manifest_of(repository, "api", "1.0.0").deps.sha256])
    assert not venv(cache, manifest_of(repository, "api", "1.0.0")).exists()
    assert ran(pexrun(*argv))["deps"] == "shared"
    # gc removes what the killed run left, once it is a day old by the file system's clock.
    os.utime(abandoned, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    assert pexrun("gc", "--keep", "5", "--cache-dir", str(cache)).returncode == 0
    assert not abandoned.exists() and venv(cache, manifest_of(repository, "api", "1.0.0")).is_dir()


def test_gc_removes_the_venvs_of_the_deps_trees_it_removes(repository: FileRepository, cache: Path) -> None:
    ran(run(repository, cache, "api@2.0.0"))  # deps "other"
    ran(run(repository, cache, "api@1.0.0"))  # deps "shared", the most recent
    other = manifest_of(repository, "api", "2.0.0")
    assert venv(cache, other).is_dir() and (cache / "launches" / "api" / "2.0.0").is_dir()
    gc = pexrun("gc", "--keep", "1", "--cache-dir", str(cache))
    assert gc.returncode == 0, gc.stderr
    assert "removed 1 releases, 1 trees, the venvs of 1 deps trees and " in gc.stdout  # its sources tree is 1.0.0's
    assert not (cache / "venvs" / other.deps.sha256).exists()
    assert not (cache / "launches" / "api" / "2.0.0").exists()
    assert venv(cache, manifest_of(repository, "api", "1.0.0")).is_dir()


def test_progress_shows_the_install(repository: FileRepository, cache: Path) -> None:
    cold = run(repository, cache, "api@1.0.0", "--progress", "always")
    lines = cold.stderr.splitlines()
    installing = [line for line in lines if " installing " in line]
    assert len(installing) == 1 and installing[0].startswith("pexrun: api 1.0.0: installing 1 wheel of deps-shared.pex for CPython ")
    assert lines.index(installing[0]) == len(lines) - 2 and lines[-1].startswith("pexrun: api 1.0.0: ready in ")
    assert run(repository, cache, "worker@0.1.0", "--progress", "always").stderr.count("installing") == 0


def test_fetch_prepares_the_venv_for_an_interpreter_that_fits(tmp_path: Path, cache: Path) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    publish(repository, make_release(tmp_path / "dist", "legacy", "1.0", interpreter_constraints=("CPython==2.7.*",)))
    fetched = pexrun("fetch", repository.url, "legacy@1.0", "--cache-dir", str(cache))
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.splitlines()[-1].startswith("  venv     none: legacy 1.0 needs Python CPython==2.7.*, but this is CPython ")
    assert not (cache / "venvs").exists()


def test_a_damaged_sources_pex_info_is_a_clear_error(tmp_path: Path, cache: Path) -> None:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    path = add_source_files(make_release(tmp_path / "dist", "api", "1.0.0"), {"PEX-INFO": "{}"})  # no entry point
    publish(repository, path)
    error = failed(pexrun("run", repository.url, "api@1.0.0", "--cache-dir", str(cache)))
    sources = tree(cache, manifest_of(repository, "api", "1.0.0").sources)
    assert error == (
        f"pexrun: error: api 1.0.0: {sources / 'PEX-INFO'} names no entry point pexrun can run: the sources PEX is "
        "damaged or was not built by pex. Publish the release again.\n"
    )
