# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""build-support/remote-cache: a local BuildGrid for Pants' remote cache, started, queried and stopped.

The BuildGrid virtualenv is the user's cached one (installed by the first start if missing). Each
test has a state dir of its own, whose servers are stopped when the test ends, even when it fails or
its process is killed (see `state_dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import pytest

from conftest import remote_cache
from testing.servers import free_port

# An ActionResult with stdout_raw = b"hello" (field 5, length-delimited), serialized by hand so the
# test needs no protobuf: the action cache stores a digest of it and returns it as JSON.
ACTION_RESULT = b"\x2a\x05hello"
ACTION_RESULT_JSON = '"stdoutRaw": "aGVsbG8="'
ACTION = b"remote_cache_test action"


def start(state: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    started = remote_cache("start", "--dir", str(state), *args, **kwargs)
    assert started.returncode == 0, started.stderr
    return started


def status(state: Path) -> tuple[int, dict[str, str]]:
    """The exit code and the `key: value` lines (the first line, running/stopped, as "state")."""
    result = remote_cache("status", "--dir", str(state))
    first, *rest = result.stdout.splitlines()
    return result.returncode, {"state": first, **dict(line.split(": ", 1) for line in rest)}


def process_running(pid: int) -> bool:
    """False once the process is gone or a zombie (its parent, this test's script, has exited)."""
    ps = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    process_state = ps.stdout.strip()
    return bool(process_state) and not process_state.startswith("Z")


def digest(blob: bytes) -> str:
    return f"{hashlib.sha256(blob).hexdigest()}/{len(blob)}"


class Client:
    """`bgd` from the server's own virtualenv, pointed at the server."""

    def __init__(self, server: Mapping[str, str]) -> None:
        self.bgd = str(Path(server["buildgrid"].split(" in ", 1)[1]) / "bin" / "bgd")
        self.remote = ["--remote", server["address"], "--instance-name", json.loads(server["instance"])]

    def run(self, group: str, *args: str) -> str:
        result = subprocess.run([self.bgd, group, *self.remote, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def capabilities(self) -> dict:
        return json.loads(self.run("capabilities"))

    def cache_action_result(self, tmp_path: Path) -> None:
        result_file = tmp_path / "action-result.bin"
        result_file.write_bytes(ACTION_RESULT)
        self.run("cas", "upload-file", str(result_file))
        self.run("actioncache", "update", digest(ACTION), digest(ACTION_RESULT))

    def action_result_cached(self) -> bool:
        return ACTION_RESULT_JSON in self.run("actioncache", "get", digest(ACTION), "--json")


def assert_stopped(state: Path, pids: list[int]) -> None:
    code, server = status(state)
    assert (code, server["state"]) == (3, "stopped")
    assert not any(process_running(pid) for pid in pids)
    assert not list(state.glob("*.pid"))


def test_start_status_capabilities_restart_stop(state_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    started = start(state_dir, "--port", str(port), "--instance", "ci")
    address = f"grpc://127.0.0.1:{port}"
    assert started.stdout == f"export PANTS_REMOTE_STORE_ADDRESS={address}\nexport PANTS_REMOTE_INSTANCE_NAME=ci\n"
    assert f'answering at {address}, instance "ci"' in started.stderr

    code, server = status(state_dir)
    assert (code, server["state"], server["address"], server["instance"]) == (0, "running", address, '"ci"')
    kind = server["action cache"].split()[0]
    assert kind == ("redis" if shutil.which("redis-server") else "memory")
    pids = [int(server["pid"]), *([int(server["redis pid"])] if kind == "redis" else [])]

    client = Client(server)
    cache = client.capabilities()["cacheCapabilities"]
    assert cache["digestFunctions"] == ["SHA256"] and cache["actionCacheUpdateCapabilities"]["updateEnabled"]
    client.cache_action_result(tmp_path)
    assert client.action_result_cached()

    # A second start with the same state dir reports the running server.
    again = start(state_dir)
    assert f"already running (pid {server['pid']})" in again.stderr and again.stdout == started.stdout

    stopped = remote_cache("stop", "--dir", str(state_dir))
    assert stopped.returncode == 0 and f"stopped BuildGrid (pid {server['pid']})" in stopped.stderr
    assert_stopped(state_dir, pids)

    # After a restart the action cache still holds the result if it is redis's, not if it is in memory.
    start(state_dir, "--instance", "ci")
    code, restarted = status(state_dir)
    assert code == 0 and restarted["action cache"].split()[0] == kind
    assert Client(restarted).action_result_cached() == (kind == "redis")

    assert remote_cache("stop", "--dir", str(state_dir)).returncode == 0
    assert_stopped(state_dir, [int(restarted["pid"])])


def test_without_redis_the_action_cache_is_in_memory(state_dir: Path, tmp_path: Path) -> None:
    # PATH without redis-server; the script runs by this interpreter and finds BuildGrid's via pyenv.
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "redis-server").exists())
    started = remote_cache("start", "--dir", str(state_dir), env={"PATH": path}, python=sys.executable)
    if "no CPython 3.13 or 3.12 found" in started.stderr:
        pytest.skip("BuildGrid's interpreter is only in the PATH directory that has redis-server")
    assert started.returncode == 0, started.stderr
    assert (
        "action cache is in memory: it is lost when the server restarts; install redis-server for a persistent one"
        in started.stderr
    )
    assert "export PANTS_REMOTE_INSTANCE_NAME=''\n" in started.stdout

    code, server = status(state_dir)
    assert (code, server["instance"], server["action cache"]) == (0, '""', "memory (lost when the server restarts)")
    Client(server).cache_action_result(tmp_path)

    assert remote_cache("stop", "--dir", str(state_dir)).returncode == 0
    start(state_dir, env={"PATH": path}, python=sys.executable)
    code, restarted = status(state_dir)
    assert code == 0 and not Client(restarted).action_result_cached()


def test_missing_interpreter_says_which_where_and_how(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = remote_cache(
        "start",
        "--dir",
        str(tmp_path / "state"),
        env={"PYENV_ROOT": str(empty), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PEX_RELEASE_CACHE": str(empty)},
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "no CPython 3.13 or 3.12 found (BuildGrid 0.9.1 needs 3.13" in result.stderr
    assert f"{empty}/versions/3.13.*/bin/python3.13, python3.13 on PATH" in result.stderr
    assert f"{empty}/versions/3.12.*/bin/python3.12, python3.12 on PATH" in result.stderr
    assert "pyenv install 3.13" in result.stderr and "PEX_RELEASE_PYTHON313" in result.stderr
    assert list(empty.iterdir()) == []


def test_stop_and_status_when_nothing_runs(tmp_path: Path) -> None:
    for state in (tmp_path / "never-created", tmp_path):
        stopped = remote_cache("stop", "--dir", str(state))
        assert (stopped.returncode, stopped.stdout) == (0, "")
        assert "nothing is running" in stopped.stderr
        assert status(state) == (3, {"state": "stopped", "state dir": str(state)})
