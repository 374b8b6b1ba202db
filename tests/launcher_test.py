"""The ./pants launcher: interpreter discovery, its cache, and how it fails."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import copy_repo


def launch(repo: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "pants"), *args], cwd=cwd or repo, env={**os.environ, **env}, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("launcher") / "repo")


def test_missing_interpreter_says_which_where_and_how(repo: Path, tmp_path: Path) -> None:
    # No pyenv and a PATH without python3.9 or python3.12.
    result = launch(repo, "--version", PYENV_ROOT=str(tmp_path / "no-pyenv"), PATH="/usr/bin:/bin", HOME=str(tmp_path))
    assert result.returncode == 1
    assert "no CPython 3.9 found (Pants 2.17.1 runs on it)" in result.stderr
    assert f"{tmp_path}/no-pyenv/versions/3.9.*/bin/python3.9, python3.9 on PATH" in result.stderr
    assert "pyenv install 3.9" in result.stderr and "PEX_RELEASE_PYTHON39" in result.stderr


def test_broken_interpreter_override_is_named(repo: Path) -> None:
    result = launch(repo, "--version", PEX_RELEASE_PYTHON312="/bin/false")
    assert result.returncode == 1
    assert "PEX_RELEASE_PYTHON312=/bin/false is not a working CPython 3.12 interpreter" in result.stderr


def test_subdirectory_says_to_run_from_the_root(repo: Path) -> None:
    result = launch(repo, "package", "::", cwd=repo / "src")
    assert result.returncode == 2
    assert "run Pants from the repository root" in result.stderr
    assert f"cd {repo} && ./pants package ::" in result.stderr


def bootstrap(repo: Path, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(repo / "pants")],
        cwd=repo,
        env={**os.environ, "PEX_RELEASE_BOOTSTRAP_CACHE": str(cache), "PEX_RELEASE_BOOTSTRAP_ONLY": "1"},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_cache_survives_concurrency_interruption_and_corruption(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    # A bootstrap killed midway leaves a half-built virtualenv; the next run rebuilds it.
    killed = bootstrap(repo, cache)
    assert killed.stderr is not None
    for line in killed.stderr:
        if "installing pantsbuild.pants" in line:
            time.sleep(2)
            os.killpg(killed.pid, signal.SIGKILL)
            break
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert (cache / "pants-2.17.1").is_dir() and not (cache / "pants-2.17.1" / ".bootstrap-complete").exists()

    # Two launchers at once: both succeed and the cache is built once.
    first, second = bootstrap(repo, cache), bootstrap(repo, cache)
    outputs = [p.communicate()[1] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert sum(out.count("installing pantsbuild.pants") for out in outputs) == 1
    assert sum(out.count("building the pex 2.103.5 tool PEX") for out in outputs) == 1
    assert all("bootstrap: ready" in out for out in outputs)

    # A cache that is complete starts without rebuilding anything.
    again = bootstrap(repo, cache)
    assert again.communicate()[1].count("bootstrap:") == 1  # only "ready"

    # A truncated pex tool is rebuilt, not handed to Pants.
    (pex_tool,) = cache.glob("pex-2.103.5-*/pex-v2.103.5.pex")
    pex_tool.write_bytes(pex_tool.read_bytes()[:1000])
    rebuilt = bootstrap(repo, cache)
    stderr = rebuilt.communicate()[1]
    assert rebuilt.returncode == 0 and "building the pex 2.103.5 tool PEX" in stderr
    assert "installing pantsbuild.pants" not in stderr

    # And the rebuilt cache runs Pants.
    version = launch(repo, "--no-pantsd", "--version", PEX_RELEASE_BOOTSTRAP_CACHE=str(cache))
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "2.17.1"
