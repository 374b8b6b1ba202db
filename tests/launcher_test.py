"""The ./pants launcher: interpreter discovery, its cache, and how it fails."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import copy_repo, python, sandbox_repo


def launcher_env(**env: str) -> dict[str, str]:
    # Not the `[pex-cli]` settings of the ./pants running these tests: the launcher keeps a caller's own.
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PANTS_PEX_CLI_")}, **env}


def launch(repo: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(repo / "pants"), *args], cwd=cwd or repo, env=launcher_env(**env), capture_output=True, text=True)


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


def solo_launcher(tmp_path: Path, pants_toml: str) -> Path:
    """A repository holding only the launcher, copied alone, and `pants_toml`."""
    repo = tmp_path / "solo"
    repo.mkdir()
    shutil.copy2(sandbox_repo() / "pants", repo / "pants")
    (repo / "pants.toml").write_text(pants_toml)
    return repo


def test_a_39_only_repository_needs_no_other_interpreter(tmp_path: Path) -> None:
    # Not 3.12, which this repository's own constraints ask for: a broken 3.12 would fail the run.
    repo = solo_launcher(tmp_path, '[GLOBAL]\npants_version = "2.17.1"\n[python]\ninterpreter_constraints = ["CPython==3.9.*"]\n')
    result = launch(repo, PEX_RELEASE_BOOTSTRAP_ONLY="1", PEX_RELEASE_PYTHON312="/bin/false")
    assert result.returncode == 0, result.stderr
    (ready,) = result.stderr.splitlines()
    assert ready.endswith(f"interpreters in ['{Path(python('3.9')).parent}']")


def test_each_constraint_gets_one_interpreter(tmp_path: Path) -> None:
    repo = solo_launcher(
        tmp_path,
        '[python]\ninterpreter_constraints = [">=3.11,<3.12"]\n'
        '[python.resolves_to_interpreter_constraints]\ntools = ["CPython==3.12.*"]\nold = ["CPython>=3.7,<3.13"]\n',
    )
    result = launch(repo, PEX_RELEASE_BOOTSTRAP_ONLY="1")
    assert result.returncode == 0, result.stderr
    # No pants_version: 2.17.1. 3.9 (Pants') satisfies `old`.
    assert "Pants in " in result.stderr and "/pants-2.17.1," in result.stderr
    dirs = [str(Path(python(v)).parent) for v in ("3.12", "3.11", "3.9")]
    assert result.stderr.rstrip().endswith(f"interpreters in {dirs}")


def test_a_constraint_without_an_interpreter_says_which_where_and_how(tmp_path: Path) -> None:
    repo = solo_launcher(tmp_path, '[python]\ninterpreter_constraints = ["CPython==3.14.*"]\n')
    result = launch(repo, "--version")
    assert result.returncode == 1
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    assert result.stderr == (
        "./pants: error: no CPython found for the interpreter constraint CPython==3.14.* in pants.toml.\n"
        f"  Looked at:\n    $PEX_RELEASE_PYTHON314 (unset), {pyenv}/versions/3.14.*/bin/python3.14, python3.14 on PATH\n"
        "  To fix: install one (`pyenv install 3.14`, or your OS package manager), point\n"
        "  PEX_RELEASE_PYTHON314 at one, or change the constraint.\n"
    )


def test_the_repository_pex_cli_is_kept_when_new_enough(tmp_path: Path) -> None:
    repo = solo_launcher(tmp_path, '[python]\ninterpreter_constraints = ["CPython==3.9.*"]\n[pex-cli]\nversion = "v2.50.0"\n')
    result = launch(repo, PEX_RELEASE_BOOTSTRAP_ONLY="1")
    assert result.returncode == 0, result.stderr
    (ready,) = result.stderr.splitlines()
    assert "pex tool v2.50.0 ([pex-cli].version in pants.toml), interpreters" in ready


@pytest.mark.parametrize("where", ["pants.toml", "env"])
def test_a_repository_pex_cli_too_old_is_overridden_in_one_line(tmp_path: Path, where: str) -> None:
    pants_toml = '[python]\ninterpreter_constraints = ["CPython==3.9.*"]\n'
    if where == "pants.toml":
        repo = solo_launcher(tmp_path, pants_toml + "[pex-cli]\nversion = 'v2.1.137'\n")
        result = launch(repo, PEX_RELEASE_BOOTSTRAP_ONLY="1")
        source = "[pex-cli].version in pants.toml"
    else:
        repo = solo_launcher(tmp_path, pants_toml)
        result = launch(repo, PEX_RELEASE_BOOTSTRAP_ONLY="1", PANTS_PEX_CLI_VERSION="v2.1.137")
        source = "PANTS_PEX_CLI_VERSION"
    assert result.returncode == 0, result.stderr
    override, ready = result.stderr.splitlines()
    assert override == (
        f"./pants: overriding {source} (v2.1.137) with pex 2.103.5: the pex_release plugin needs pex 2.33.1 "
        'or newer (see README.md, "The pex requirement")'
    )
    assert ", pex tool /" in ready and "/pex-v2.103.5.pex, interpreters" in ready


def test_plugin_resolution_is_announced_on_the_first_run(tmp_path: Path) -> None:
    # The launcher says it once per pants.toml: this one is new (its comment names this test's directory).
    repo = solo_launcher(
        tmp_path,
        f'# {tmp_path}\n[GLOBAL]\nplugins = ["six==1.17.0"]\n[python]\ninterpreter_constraints = ["CPython==3.9.*"]\n',
    )
    first, second = launch(repo, "--no-pantsd", "--version"), launch(repo, "--no-pantsd", "--version")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    announcement = "./pants: Pants is resolving its plugins (six==1.17.0) from [python-repos] and the package index"
    assert announcement in first.stderr
    assert announcement not in second.stderr and first.stdout.strip() == "2.17.1"


def test_a_pants_version_other_than_2_17_is_refused(tmp_path: Path) -> None:
    repo = solo_launcher(tmp_path, '[GLOBAL]\npants_version = "2.18.0"\n')
    result = launch(repo, "--version")
    assert result.returncode == 1
    assert "pants.toml asks for Pants 2.18.0; this launcher runs Pants 2.17.x only" in result.stderr
    assert 'set `pants_version = "2.17.1"` in [GLOBAL] of pants.toml' in result.stderr


def test_pyenv_root_comes_from_pyenv_when_pyenv_root_is_unset(tmp_path: Path) -> None:
    real_root = Path(python("3.9")).parents[3]
    assert real_root.name != "" and (real_root / "versions").is_dir(), "this test needs a pyenv CPython 3.9"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_pyenv = bin_dir / "pyenv"
    fake_pyenv.write_text(f"#!/bin/sh\n[ \"$1\" = root ] && echo {real_root}\n")
    fake_pyenv.chmod(0o755)
    repo = solo_launcher(tmp_path, '[python]\ninterpreter_constraints = ["CPython==3.9.*"]\n')
    env = {k: v for k, v in launcher_env().items() if k != "PYENV_ROOT"}
    # HOME has no .pyenv and PATH no python3.9: only `pyenv root` leads to it.
    env.update(
        HOME=str(tmp_path),
        PATH=f"{bin_dir}:/usr/bin:/bin",
        PEX_RELEASE_BOOTSTRAP_ONLY="1",
        PEX_RELEASE_BOOTSTRAP_CACHE=str(bootstrap_cache()),
    )
    result = subprocess.run([str(repo / "pants")], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"interpreters in ['{real_root}/versions/3.9." in result.stderr


def bootstrap_cache() -> Path:
    """The launcher's default cache, already filled by the `./pants` that runs these tests."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pex-release" / "bootstrap"


def bootstrap(repo: Path, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(repo / "pants")],
        cwd=repo,
        env=launcher_env(PEX_RELEASE_BOOTSTRAP_CACHE=str(cache), PEX_RELEASE_BOOTSTRAP_ONLY="1"),
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
