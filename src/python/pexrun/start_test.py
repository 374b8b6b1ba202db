# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A warm `run` replays its launch record without pexrun.main, and only while every check holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import packaging
import pytest

import pex_release_core
import pexrun
from pex_release_core.publishing import publish
from pex_release_core.repository.file import FileRepository
from pex_release_core.repository.url import open_repository
from pex_release_core.testutil import make_release, python_env
from pexrun.launch import Interpreter
from pexrun.launches import _manifest_check
from pexrun.main_test import manifest_of, ran, site_packages, tree
from pexrun.start import _parse_warm_run, fingerprint
from pexrun.venvs import VenvCache

# pexrun's entry point, with pexrun.main made unimportable: a run that is not warm fails with ImportError.
_WARM_ONLY = "import sys; sys.modules['pexrun.main'] = None; from pexrun.start import main; main()"


def start(*args: str, warm_only: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    program = ["-c", _WARM_ONLY] if warm_only else ["-m", "pexrun.start"]
    return subprocess.run(
        [sys.executable, *program, *args], env={**python_env(), **(env or {})}, capture_output=True, text=True, timeout=120
    )


_SOURCE_ROOT = str(Path(pexrun.__file__).parent.parent)


def start_script(path: Path, import_path: list[str], warm_only: bool) -> str:
    """pexrun's entry point as pexrun.pyz runs it, a script with pexrun's modules first on sys.path
    (no PYTHONPATH, which the interpreters it starts would read); `warm_only` as for `start`."""
    halt = 'sys.modules["pexrun.main"] = None\n' if warm_only else ""
    path.write_text(f"import sys\nsys.path[:0] = {import_path!r}\n{halt}from pexrun.start import main\nmain()\n")
    return str(path)


def python_3_10_or_newer() -> str:
    """A CPython with sys.orig_argv, which a warm start needs to run the release in its own process:
    pyenv's newest, else one on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for candidate in sorted(pyenv.glob("3.1[0-9].*/bin/python3.1[0-9]"), reverse=True):
        return str(candidate)
    for name in ("python3.13", "python3.12", "python3.11", "python3.10"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"no CPython 3.10 or newer under {pyenv} or on PATH")


def not_warm(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 1 and "ModuleNotFoundError: import of pexrun.main halted" in result.stderr


@pytest.fixture
def repository(tmp_path: Path) -> FileRepository:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    assert isinstance(repository, FileRepository)
    for version in ("1.0.0", "1.9.0"):
        publish(repository, make_release(tmp_path / "dist" / version, "api", version, sources=version))
    return repository


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def run_args(repository: FileRepository, cache: Path, release: str = "api@1.0.0", *options: str) -> list[str]:
    return ["run", repository.url, release, "--cache-dir", str(cache), *options]


def test_a_warm_run_replays_the_full_runs_launch(repository: FileRepository, cache: Path) -> None:
    assert not_warm(start(*run_args(repository, cache), "--", "x", warm_only=True))  # cold: pexrun.main's work
    full = ran(start(*run_args(repository, cache), "--", "x"))
    warm = start(*run_args(repository, cache), "--", "y", warm_only=True)
    assert {**ran(warm), "pid": full["pid"], "args": ["x"]} == full  # the same process, args aside
    manifest = manifest_of(repository, "api", "1.0.0")
    assert ran(warm)["deps_from"] == str(site_packages(cache, manifest)) and ran(warm)["args"] == ["y"]
    # The same for a script: its own record.
    assert not_warm(start(*run_args(repository, cache, "api@1.0.0", "--script", "report"), warm_only=True))
    assert ran(start(*run_args(repository, cache, "api@1.0.0", "--script", "report")))["entry"] == "report"
    assert ran(start(*run_args(repository, cache, "api@1.0.0", "--script", "report"), warm_only=True))["entry"] == "report"


def imported_interpreters(result: subprocess.CompletedProcess[str]) -> int:
    """How many interpreters started in a run with PYTHONPROFILEIMPORTTIME=1: each imports encodings."""
    return result.stderr.count("| encodings\n")


def test_a_warm_run_on_the_venvs_interpreter_becomes_the_release(
    repository: FileRepository, cache: Path, tmp_path: Path
) -> None:
    python = python_3_10_or_newer()
    env = {**{n: v for n, v in os.environ.items() if n != "PYTHONPATH"}, "PYTHONPROFILEIMPORTTIME": "1"}
    run = [*run_args(repository, cache, "api@1.0.0", "--python", python), "--", "y"]
    # The same Python runs pexrun cold (launch records are per Python), with pexrun's pure-Python requirements.
    import_path = [_SOURCE_ROOT, str(Path(pex_release_core.__file__).parent.parent), str(Path(packaging.__file__).parent.parent)]
    cold = [python, start_script(tmp_path / "cold.py", import_path, warm_only=False), *run]
    ran(subprocess.run(cold, env=env, capture_output=True, text=True, timeout=120))  # pexrun.main records the launch
    argv = [start_script(tmp_path / "warm.py", [_SOURCE_ROOT], warm_only=True), *run]
    became = subprocess.run([python, *argv], env=env, capture_output=True, text=True, timeout=120)
    # An option of pexrun's interpreter, which the release's would not have: the venv's python is exec'd.
    exec_d = subprocess.run([python, "-X", "importtime", *argv], env=env, capture_output=True, text=True, timeout=120)
    assert (imported_interpreters(became), imported_interpreters(exec_d)) == (1, 2), became.stderr
    assert "| pexrun.start\n" in became.stderr and "| release_deps\n" in became.stderr  # one process imported both
    # The release sees what the venv's own python gives it: executable, prefix, import path, environment.
    assert {**ran(became), "pid": 0} == {**ran(exec_d), "pid": 0}
    manifest = manifest_of(repository, "api", "1.0.0")
    venv = VenvCache(cache).venv_path(manifest.deps, Interpreter.at(python))
    report = ran(became)
    assert (report["executable"], report["prefix"]) == (str(venv / "bin" / "python"), str(venv))
    assert report["path"][0] == str(tree(cache, manifest.sources)) and report["path"][-1] == report["deps_from"]
    assert report["deps_from"].startswith(str(venv)) and report["args"] == ["y"]
    # PYTHONPATH changes the path an interpreter starts with: the venv's python is exec'd to read it.
    with_path = subprocess.run([python, *argv], env={**env, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True, timeout=120)
    assert imported_interpreters(with_path) == 2 and str(tmp_path) in ran(with_path)["path"]
    # PYTHONSAFEPATH (3.11+) puts no script directory on sys.path: the sources still go first, and
    # the venv's own directory is not on it.
    safe = ran(subprocess.run([python, *argv], env={**env, "PYTHONSAFEPATH": "1"}, capture_output=True, text=True, timeout=120))
    assert safe["path"] == report["path"] and str(venv) not in safe["path"]


@pytest.mark.parametrize("imported, only_stdlib", [("json", True), ("from_site_packages", False)])
def test_a_module_from_outside_the_standard_library_keeps_the_release_out_of_pexruns_process(
    tmp_path: Path, imported: str, only_stdlib: bool
) -> None:
    """A module a `.pth` file or a sitecustomize imported at start-up would not be in the venv's
    python: a process that holds one execs it instead."""
    (tmp_path / "from_site_packages.py").write_text("")
    check = (
        f"import sys; sys.path[:0] = [{_SOURCE_ROOT!r}, {str(tmp_path)!r}]; from pexrun.start import _imports_only_stdlib; "
        f"import {imported}; print(_imports_only_stdlib(sys.path[3:]))"  # after those two and the script's ''
    )
    result = subprocess.run([sys.executable, "-S", "-c", check], capture_output=True, text=True, timeout=60)
    assert result.stdout == f"{only_stdlib}\n", result.stderr


def test_a_warm_run_counts_as_a_use_for_gc(repository: FileRepository, cache: Path) -> None:
    ran(start(*run_args(repository, cache, "api@1.0.0")))
    time.sleep(0.05)
    ran(start(*run_args(repository, cache, "api@1.9.0")))
    time.sleep(0.05)
    ran(start(*run_args(repository, cache, "api@1.0.0"), warm_only=True))
    gc = start("gc", "--keep", "1", "--cache-dir", str(cache))
    assert gc.stdout.splitlines()[0] == "removed api@1.9.0", gc.stderr
    assert not (cache / "launches" / "api" / "1.9.0").exists()
    assert ran(start(*run_args(repository, cache, "api@1.0.0"), warm_only=True))["version"] == "1.0.0"


@pytest.mark.parametrize(
    "change",
    [
        "a tree file touched",
        "a venv file touched",
        "the repository's manifest replaced",
        "the launch record damaged",
        "the venv removed",
    ],
)
def test_any_change_to_what_the_run_checked_sends_it_to_pexrun_main(
    repository: FileRepository, cache: Path, change: str
) -> None:
    ran(start(*run_args(repository, cache)))
    manifest = manifest_of(repository, "api", "1.0.0")
    if change == "a tree file touched":
        os.utime(tree(cache, manifest.sources) / "api" / "main.py", (time.time() + 60, time.time() + 60))
    elif change == "a venv file touched":
        os.utime(site_packages(cache, manifest) / "release_deps.py", (time.time() + 60, time.time() + 60))
    elif change == "the repository's manifest replaced":
        published = repository.root / "apps" / "api" / "1.0.0.json"
        data = published.read_bytes()
        published.unlink()
        published.write_bytes(data)
    elif change == "the launch record damaged":
        (launch,) = (cache / "launches" / "api" / "1.0.0").iterdir()
        launch.write_bytes(b"not marshal")
    else:
        shutil.rmtree(cache / "venvs")
    assert not_warm(start(*run_args(repository, cache), warm_only=True))
    assert ran(start(*run_args(repository, cache)))["deps"] == "shared"  # verified, repaired, recorded again
    assert ran(start(*run_args(repository, cache), warm_only=True))["deps"] == "shared"


@pytest.mark.parametrize(
    "options, env",
    [
        ((), {"PEX_INHERIT_PATH": "false"}),  # pex's runtime runs it
        ((), {"PEXRUN_TRUSTED_KEYS": "/nonexistent/key.pem"}),  # another invocation, with its own checks
        (("--python", sys.executable), {}),
        (("--progress", "sometimes"), {}),  # a usage error, which pexrun.main reports
        ((), {"PEXRUN_DOWNLOAD_TIMEOUT": "0"}),
        (("--download-timeout=5",), {}),  # a form the warm start leaves to argparse
        (("--channel", "stable"), {}),
    ],
)
def test_other_invocations_are_not_warm(
    repository: FileRepository, cache: Path, options: tuple[str, ...], env: dict[str, str]
) -> None:
    ran(start(*run_args(repository, cache)))
    assert not_warm(start(*run_args(repository, cache, "api@1.0.0", *options), warm_only=True, env=env))


def test_the_warm_start_parses_only_what_it_knows() -> None:
    assert _parse_warm_run(["run", "file:///r", "api@1", "--cache-dir", "/c", "--", "--cache-dir", "x"], {}) == (
        "file:///r", "api@1", {"--cache-dir": "/c"}, ["--cache-dir", "x"]
    )
    assert _parse_warm_run(["run", "--python", "/p", "file:///r", "api@1"], {}) == ("file:///r", "api@1", {"--python": "/p"}, [])
    for argv in (
        ["run", "s3://bucket/r", "api@1"],  # the repository's answer is needed on every run
        ["run", "file:///r"],
        ["run", "file:///r", "api@1", "extra"],
        ["run", "file:///r", "api@1", "--cache-dir"],
        ["run", "file:///r", "api@1", "--cache-dir", "/a", "--cache-dir", "/b"],
        ["run", "file:///r", "api@1", "-h"],
        ["fetch", "file:///r", "api@1"],
        [],
    ):
        assert _parse_warm_run(argv, {}) is None, argv
    # Settings pexrun.main would refuse as usage errors.
    for environ in ({"PEXRUN_PROGRESS": "yes"}, {"PEXRUN_DOWNLOAD_TIMEOUT": "-1"}):
        assert _parse_warm_run(["run", "file:///r", "api@1"], environ) is None, environ



def test_a_manifest_replaced_while_pexrun_ran_it_gets_no_launch_record(tmp_path: Path) -> None:
    """The record vouches for the manifest file's stat only once the file is seen to hold the bytes
    that were verified: a manifest swapped after the read (and its signature check) is never replayed."""
    published = tmp_path / "1.0.0.json"
    published.write_bytes(b"swapped")
    with pytest.raises(ValueError, match="changed while pexrun ran it"):
        _manifest_check(str(published), b"verified")
    published.write_bytes(b"verified")
    assert _manifest_check(str(published), b"verified") == (str(tmp_path), {"1.0.0.json": fingerprint(str(published))})
