"""CI with a remote cache (a real BuildGrid on loopback) and incremental packaging.

These tests use a scratch copy of their own, because they commit changes to it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from conftest import (
    STOP_PANTSD,
    PantsRun,
    ScratchRepo,
    copy_repo,
    git,
    on_exit,
    release_files,
    remote_cache_state,
    start_remote_cache,
)
from testing.servers import free_port

CI_CONFIG = {"PANTS_CONFIG_FILES": "pants.ci.toml"}
PEX_PROCESS = re.compile(r"^(Building .*PEX|Building .*\.pex|Resolving the closure)")


def pex_processes(run: PantsRun) -> list[str]:
    return [c for c in run.completed if PEX_PROCESS.match(c)]


def packaged_apps(run: PantsRun) -> set[str]:
    return set(re.findall(r"Wrote dist/releases/([\w.-]+)\.release\.json", run.stderr))


@dataclass(frozen=True)
class RemoteCache:
    state: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def ci_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchRepo]:
    base = tmp_path_factory.mktemp("ci")
    # Without pantsd: its tests count remote cache lookups, which pantsd's memory would skip, and
    # change bootstrap options (the local store) from call to call. The --changed-since calls, which
    # count only what is packaged and built, run with it (WITH_PANTSD): ~3 s of start-up, not ~12 s.
    repo = ScratchRepo(root=copy_repo(base / "repo"), store=base / "lmdb_store")
    git(repo.root, "init", "-q", "-b", "main")
    repo.commit("scratch copy")
    with on_exit(os.path.realpath(sys.executable), "-c", STOP_PANTSD, str(repo.root)):
        yield repo


WITH_PANTSD = {"PANTS_PANTSD": "true"}


@contextlib.contextmanager
def cli_edited(repo: ScratchRepo, why: str) -> Iterator[None]:
    """The cli app's sources with a line that no build has seen, so that its sources PEX and the
    processes after it miss the warm local store and go to the remote cache (a cold store would
    rebuild every tool PEX too, at a cost of ~20 s of CPU each time)."""
    main = repo.root / "src/python/apps/cli/main.py"
    original = main.read_text()
    main.write_text(f"{original}\n# {why}\n")
    try:
        yield
    finally:
        main.write_text(original)


@pytest.fixture(scope="module")
def buildgrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteCache]:
    base = tmp_path_factory.mktemp("buildgrid")
    with remote_cache_state(base) as state:
        yield RemoteCache(state, {**start_remote_cache(state), **CI_CONFIG})


def test_a_cold_machine_with_a_warm_remote_cache_runs_no_pex(ci_repo: ScratchRepo, buildgrid: RemoteCache, tmp_path: Path) -> None:
    first = ci_repo.pants("package", "::", env=buildgrid.env)
    assert first.counters["remote_cache_write_successes"] > 0
    built = release_files(ci_repo.root)
    # A new machine: an empty local store, the same remote cache.
    second = ci_repo.pants("package", "::", env={**buildgrid.env, "PANTS_LOCAL_STORE_DIR": str(tmp_path / "store")})
    assert pex_processes(second) == []
    counters = second.counters
    assert counters["remote_cache_requests_uncached"] == 0
    assert counters["remote_cache_requests_cached"] >= len(pex_processes(first)) > 0
    # Pants races each lookup against running the process locally, and gives a lookup up after 1 s
    # (pants.ci.toml): on a busy machine a tiny process (tool discovery) may then run locally, and its
    # lookup is neither a hit nor a miss. Every pex process was a hit (above).
    local = counters.get("remote_cache_speculation_local_completed_first", 0) + counters.get(
        "remote_cache_request_timeouts", 0
    )
    assert counters["remote_cache_requests_cached"] + local == counters["remote_cache_requests"], counters
    assert release_files(ci_repo.root) == built


@pytest.mark.parametrize(
    "change, expected",
    [
        ("src/python/libs/common/settings.py", {"api", "worker"}),  # the library both use
        ("src/python/apps/cli/main.py", {"cli"}),
    ],
)
def test_changed_since_packages_what_a_change_touches(ci_repo: ScratchRepo, change: str, expected: set[str]) -> None:
    path = ci_repo.root / change
    path.write_text(path.read_text() + "\n# a change\n")
    ci_repo.commit(f"change {change}")
    run = ci_repo.pants("--changed-since=HEAD~1", "--changed-dependents=transitive", "package", env=WITH_PANTSD)
    assert packaged_apps(run) == expected
    assert not any("pexrun" in line for line in run.stderr.splitlines() if "Wrote dist/" in line)


def test_lockfile_change_rebuilds_only_the_closures_it_touches(ci_repo: ScratchRepo) -> None:
    # Drop one of setproctitle's artifacts from the lock: only the worker's closure has setproctitle.
    lock = ci_repo.root / "3rdparty/python/default.lock"
    text = lock.read_text()
    musl = re.search(r'\{\s*"algorithm": "sha256",\s*"hash": "\w+",\s*"url": "[^"]+setproctitle-[^"]+musllinux_1_2_riscv64\.whl"\s*\},?', text)
    assert musl, "the lockfile has no setproctitle riscv64 musllinux wheel to drop"
    lock.write_text(text[: musl.start()] + text[musl.end() :])
    ci_repo.commit("lockfile: drop a setproctitle artifact")
    run = ci_repo.pants("--changed-since=HEAD~1", "--changed-dependents=transitive", "package", env=WITH_PANTSD)
    # Every app on the lockfile is packaged, but only the worker's deps PEX is built again.
    assert packaged_apps(run) == {"api", "cli", "reports", "worker"}
    deps_builds = [p for p in pex_processes(run) if p.startswith("Building deps PEX")]
    assert len(deps_builds) == 1 and deps_builds[0].endswith("for src/python/apps/worker:release"), deps_builds


def test_a_cache_that_is_down_costs_one_warning_not_the_build(ci_repo: ScratchRepo) -> None:
    down = {**CI_CONFIG, "PANTS_REMOTE_STORE_ADDRESS": f"grpc://127.0.0.1:{free_port()}"}
    with cli_edited(ci_repo, "the cache is down"):
        run = ci_repo.pants("package", "src/python/apps/cli:release", env=down)
    warnings = [line for line in run.stderr.splitlines() if "remote cache" in line and "[WARN]" in line]
    assert 1 <= len(warnings) <= 2, warnings  # the first failed read, the first failed write
    assert "Connection refused" in warnings[0]
    assert run.counters["remote_cache_read_errors"] + run.counters["remote_cache_write_errors"] > len(warnings)


def test_a_server_killed_mid_build_does_not_break_it(ci_repo: ScratchRepo, tmp_path: Path) -> None:
    with remote_cache_state(tmp_path) as state, cli_edited(ci_repo, "the server is killed mid-build"):
        env = {**start_remote_cache(state), **CI_CONFIG, "PANTS_LOCAL_STORE_DIR": str(ci_repo.store)}
        pid = int((state / "buildgrid.pid").read_text())
        build = subprocess.Popen(
            ["./pants", "--stats-log", "package", "src/python/apps/cli:release"],
            cwd=ci_repo.root,
            env={**os.environ, "PANTS_PANTSD": "false", **env},
            stderr=subprocess.PIPE,
            text=True,
        )
        assert build.stderr is not None
        lines = []
        for line in build.stderr:
            lines.append(line)
            if "Starting: Building sources PEX" in line:
                os.kill(pid, signal.SIGKILL)
                break
        _, rest = build.communicate(timeout=600)
    assert build.returncode == 0, "".join(lines) + rest
    assert "Completed: Building sources PEX" in rest
    assert "Wrote dist/releases/cli.release.json" in rest


def test_wrong_instance_name_is_named_and_the_build_goes_on(ci_repo: ScratchRepo, buildgrid: RemoteCache) -> None:
    env = {**buildgrid.env, "PANTS_REMOTE_INSTANCE_NAME": "no-such-instance"}
    with cli_edited(ci_repo, "the instance name is wrong"):
        run = ci_repo.pants("package", "src/python/apps/cli:release", env=env)
    assert 'Invalid instance name: [no-such-instance]' in run.stderr


def test_malformed_address_is_a_clear_error(ci_repo: ScratchRepo) -> None:
    run = ci_repo.pants("package", "src/python/apps/cli:release", check=False, env={**CI_CONFIG, "PANTS_REMOTE_STORE_ADDRESS": "127.0.0.1:9092"})
    assert run.returncode != 0
    assert "The `remote_store_address` option must begin with one of ['grpc://', 'grpcs://'], but was 127.0.0.1:9092" in run.stderr
