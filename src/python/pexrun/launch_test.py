# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from packaging.version import Version

from pex_release_core.manifest import CompletePlatform, ReleaseManifest
from pex_release_core.testutil import make_release, python_env
from pexrun.cache import FetchedRelease
from pexrun.start import base_python
from pexrun.launch import (
    Interpreter,
    LaunchError,
    check_interpreter,
    check_platforms,
    parse_constraint,
    release_environ,
    script_entry_point,
)

CPYTHON_3_12 = Interpreter("/usr/bin/python3.12", "CPython", Version("3.12.1"))


@pytest.fixture
def manifest(tmp_path: Path) -> ReleaseManifest:
    return ReleaseManifest.loads(make_release(tmp_path, "api", "1.4.0").read_bytes(), origin="test")


@pytest.mark.parametrize(
    "constraint, satisfied",
    [
        ("CPython==3.12.*", True),
        ("CPython>=3.11,<3.13", True),
        ("CPython>=3.13", False),
        ("CPython==3.11.*", False),
        (">=3.9", True),  # bare specifiers mean CPython, as in Pants
        ("cpython~=3.12.0", True),
        ("CPython >= 3.11, < 3.13", True),
        ("CPython", True),
        ("PyPy>=3.9", False),
    ],
)
def test_constraints_are_read_as_pants_reads_them(constraint: str, satisfied: bool) -> None:
    assert CPYTHON_3_12.satisfies(constraint) is satisfied


@pytest.mark.parametrize("constraint", ["CPython=>3", "3.12", "CPython>=3.9; os_name == 'nt'"])
def test_an_invalid_constraint_is_named(constraint: str) -> None:
    with pytest.raises(LaunchError) as invalid:
        parse_constraint(constraint)
    assert str(invalid.value) == (
        f"The release's interpreter constraint {constraint!r} is not valid: rebuild it with valid "
        "`interpreter_constraints` (e.g. `CPython==3.12.*`)."
    )


def test_any_constraint_of_the_list_will_do(manifest: ReleaseManifest) -> None:
    check_interpreter(
        CPYTHON_3_12, dataclasses.replace(manifest, interpreter_constraints=("CPython==3.9.*", "CPython==3.12.*"))
    )
    check_interpreter(CPYTHON_3_12, dataclasses.replace(manifest, interpreter_constraints=()))


def test_a_mismatch_says_which_python_is_needed_and_how(manifest: ReleaseManifest) -> None:
    needs_311 = dataclasses.replace(manifest, interpreter_constraints=("CPython>=3.10,<3.12", "PyPy>=3.9"))
    with pytest.raises(LaunchError) as mismatch:
        check_interpreter(CPYTHON_3_12, needs_311)
    assert str(mismatch.value) == (
        "api 1.4.0 needs Python CPython>=3.10,<3.12 or PyPy>=3.9, but this is CPython 3.12.1 (/usr/bin/python3.12). "
        "Pass --python /path/to/python3.10, or run pexrun itself with that Python (`python3.10 pexrun.pyz run ...`)."
    )


def test_this_interpreter_is_known_without_running_it() -> None:
    assert Interpreter.at(sys.executable) == Interpreter(
        sys.executable, platform.python_implementation(), Version(platform.python_version())
    )


def test_another_interpreter_is_asked(tmp_path: Path) -> None:
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    assert Interpreter.at(str(wrapper)) == Interpreter(
        str(wrapper), platform.python_implementation(), Version(platform.python_version())
    )


@pytest.mark.parametrize("path, problem", [("/nonexistent/python", "is not an executable file"), ("false", "is not a working Python")])
def test_not_an_interpreter(path: str, problem: str) -> None:
    with pytest.raises(LaunchError, match=problem):
        Interpreter.at(path)


def test_scripts(manifest: ReleaseManifest) -> None:
    assert script_entry_point(manifest, None) is None
    assert script_entry_point(manifest, "report") == "api.report:main"
    with pytest.raises(LaunchError, match=r"api 1.4.0 has no script 'nope' \(its scripts: report\)"):
        script_entry_point(manifest, "nope")


def test_the_release_environment(manifest: ReleaseManifest, tmp_path: Path) -> None:
    release = FetchedRelease(manifest, tmp_path / "deps", tmp_path / "api.pex")
    base = {"HOME": "/home/x", "PEX_MODULE": "elsewhere", "PEX_SCRIPT": "other", "PEX_ROOT": "/var/pex"}
    assert release_environ(release, None, base) == {
        "HOME": "/home/x",
        "PEX_ROOT": "/var/pex",
        "PEX_PATH": str(tmp_path / "deps"),
        "PEXRUN_APP": "api",
        "PEXRUN_VERSION": "1.4.0",
    }
    assert release_environ(release, "api.report:main", base)["PEX_MODULE"] == "api.report:main"


def host_platform() -> str:
    """This interpreter's most specific wheel tag as a pex platform, e.g. `manylinux_2_35_x86_64-cp-39-cp39`."""
    interpreter, abi, platform = str(next(iter(sys_tags()))).split("-", 2)
    return f"{platform}-{interpreter[:2]}-{interpreter[2:]}-{abi}"


HOST_TAG = str(next(iter(sys_tags())))
PY = f"{sys.version_info.major}{sys.version_info.minor}"


def test_a_release_for_this_host_passes(manifest: ReleaseManifest) -> None:
    this = Interpreter.at(sys.executable)
    check_platforms(this, dataclasses.replace(manifest, platforms=("macosx_11_0_arm64-cp-312-cp312", host_platform())))
    complete = CompletePlatform("platforms/here.json", "a" * 64, "CPython", platform.python_version(), HOST_TAG)
    check_platforms(this, dataclasses.replace(manifest, complete_platforms=(complete,)))


def test_a_release_without_platforms_is_not_checked_by_tags(manifest: ReleaseManifest) -> None:
    nowhere = Interpreter("/nonexistent/python", "CPython", Version("3.12.1"))  # asking it would fail
    check_platforms(nowhere, manifest)


def test_a_release_for_another_platform_is_refused(manifest: ReleaseManifest) -> None:
    mac = dataclasses.replace(manifest, platforms=(f"macosx_11_0_arm64-cp-{PY}-cp{PY}",))
    this = Interpreter.at(sys.executable)
    with pytest.raises(LaunchError) as refused:
        check_platforms(this, mac)
    assert str(refused.value) == (
        f"api 1.4.0 is built for macosx_11_0_arm64-cp-{PY}-cp{PY} (wheel tags cp{PY}-cp{PY}-macosx_11_0_arm64), and this "
        f"host cannot run it: the most specific wheel tag of {this} here is {HOST_TAG}. Run it on a host of its "
        "platforms, pass --python with an interpreter that matches one, or rebuild it with `platforms` that include "
        f"this host's, e.g. `{host_platform()}`."
    )
    musl = CompletePlatform("platforms/alpine.json", "a" * 64, "CPython", "3.12.1", "cp312-cp312-musllinux_1_2_x86_64")
    with pytest.raises(LaunchError, match=r"is built for the complete platform cp312-cp312-musllinux_1_2_x86_64 \("):
        check_platforms(this, dataclasses.replace(manifest, complete_platforms=(musl,)))


def test_another_interpreters_tags_are_asked(tmp_path: Path) -> None:
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    assert Interpreter.at(str(wrapper)).supported_tags() == tuple(str(tag) for tag in sys_tags())


def test_a_venvs_python_runs_releases_with_its_base_interpreter(tmp_path: Path) -> None:
    base = base_python()  # the tests may run in a venv themselves
    subprocess.run([base, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    venv_python = tmp_path / "venv" / "bin" / "python"
    asked = subprocess.run(
        [str(venv_python), "-c", "from pexrun.start import base_python; print(base_python())"],
        env=python_env(), capture_output=True, text=True, check=True,
    )
    assert asked.stdout.strip() == os.path.realpath(venv_python) == os.path.realpath(base)
    assert Interpreter.at(asked.stdout.strip()).version == Version(platform.python_version())
