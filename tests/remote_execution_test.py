# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""build-support/remote-execution: BuildGrid, its PostgreSQL and a stand-in worker, started, used
through REAPI, and stopped.

The action goes in through `bgd execute command` from BuildGrid's own virtualenv (a REAPI client:
it uploads the input root, calls Execute and downloads the output files), so the test needs no
grpc of its own. The scripts run from a scratch copy, whose `stop` a watchdog runs even when the
test process is killed (conftest.on_exit).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

from conftest import on_exit, sandbox_repo

SCRIPTS = ("remote-execution", "remote-execution-worker.py", "remote-cache", "serverlib.py")
OUTPUT_BYTES = bytes(range(256))
# Run on the worker by its offered 3.9: where the client's paths are (or are not) and what it runs.
CHECK = """\
import json, os, subprocess, sys
os.makedirs("out", exist_ok=True)
with open("out/bytes.bin", "wb") as out:
    out.write(bytes(range(256)))
py312 = subprocess.run(["/opt/rex/python3.12/bin/python3.12", "-c", "import sys; print(sys.version)"],
                       capture_output=True, text=True)
report = {
    "exists": {path: os.path.exists(path) for path in sys.argv[1:]},
    "cwd": os.getcwd(),
    "python": sys.executable,
    "python312": py312.stdout,
    "environment": sorted(os.environ),
}
with open("out/report.json", "w") as out:
    json.dump(report, out)
"""


def copy_scripts(scratch: Path) -> Path:
    """Copies outlive the sandbox, which Pants may delete before the watchdog runs."""
    scratch.mkdir(parents=True, exist_ok=True)
    for name in SCRIPTS:
        shutil.copy(sandbox_repo() / "build-support" / name, scratch / name)
    return scratch / "remote-execution"


def run(script: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300
    )


def status(script: Path, state: Path) -> tuple[int, dict[str, str]]:
    """The exit code and the `key: value` lines (the first line, running/stopped, as "state")."""
    result = run(script, "status", "--dir", str(state))
    first, *rest = result.stdout.splitlines()
    return result.returncode, {"state": first, **dict(line.split(": ", 1) for line in rest)}


def service_processes(state: Path) -> list[str]:
    """Command lines of live processes that name the state dir: servers, workers and sandboxes."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(state) in text and "stdin.read()" not in text:  # not the watchdog (conftest.on_exit)
            found.append(text)
    return found


def test_an_action_runs_on_the_worker_without_the_client_paths(tmp_path: Path) -> None:
    script = copy_scripts(tmp_path / "scripts")
    state = tmp_path / "state"
    with on_exit(os.path.realpath(sys.executable), str(script), "stop", "--dir", str(state)):
        started = run(script, "start", "--dir", str(state), "--workers", "1", "--instance", "ci")
        assert started.returncode == 0, started.stderr
        exports = dict(line[len("export ") :].split("=", 1) for line in started.stdout.splitlines())
        address = exports["PANTS_REMOTE_EXECUTION_ADDRESS"]
        assert exports == {
            "PANTS_REMOTE_EXECUTION": "true",
            "PANTS_REMOTE_CACHE_READ": "true",
            "PANTS_REMOTE_CACHE_WRITE": "true",
            "PANTS_REMOTE_EXECUTION_ADDRESS": address,
            "PANTS_REMOTE_STORE_ADDRESS": address,
            "PANTS_REMOTE_INSTANCE_NAME": "ci",
        }
        assert f'executing at {address}, instance "ci"' in started.stderr

        code, server = status(script, state)
        assert (code, server["state"], server["address"]) == (0, "running", address)
        assert server["pythons"] == "/opt/rex/python3.12/bin/python3.12 /opt/rex/python3.9/bin/python3.9"
        pids = [int(server["pid"]), int(server["postgres pid"]), *map(int, server["worker pids"].split())]

        input_root = tmp_path / "input"
        input_root.mkdir()
        (input_root / "check.py").write_text(CHECK)
        home = Path.home()
        pyenv = Path(os.environ.get("PYENV_ROOT") or home / ".pyenv")
        client_paths = [str(sandbox_repo()), str(tmp_path), str(home), str(home / ".cache"), str(pyenv)]
        bgd = Path(server["buildgrid"].split(" in ", 1)[1]) / "bin" / "bgd"
        downloaded = tmp_path / "downloaded"
        execute = [str(bgd), "execute", "--remote", address, "--instance-name", "ci", "command"]
        execute += ["--output-file", "out/report.json", "--output-file", "out/bytes.bin"]
        execute += ["--output-directory", str(downloaded), "-p", "OSFamily", "linux", str(input_root)]
        execute += ["/opt/rex/python3.9/bin/python3.9", "check.py", *client_paths]
        executed = subprocess.run(execute, capture_output=True, text=True, timeout=120)
        assert executed.returncode == 0, executed.stdout + executed.stderr
        assert "done: true" in executed.stdout and "worker-1" in executed.stdout  # the worker ran it

        report = json.loads((downloaded / "out" / "report.json").read_text())
        assert report["exists"] == {path: False for path in client_paths}
        assert (report["cwd"], report["python"]) == ("/rex/work", "/opt/rex/python3.9/bin/python3.9")
        assert report["python312"].startswith("3.12.")
        assert not {"PATH", "HOME", "PYENV_ROOT"} & set(report["environment"])  # only the Command's variables
        assert (downloaded / "out" / "bytes.bin").read_bytes() == OUTPUT_BYTES

        stopped = run(script, "stop", "--dir", str(state))
        assert stopped.returncode == 0, stopped.stderr
        buildgrid, postgres, worker = pids
        stopped_all = f"stopped worker 1 (pid {worker}), BuildGrid (pid {buildgrid}), PostgreSQL (pid {postgres})"
        assert stopped_all in stopped.stderr
        assert status(script, state) == (3, {"state": "stopped", "state dir": str(state)})
        assert service_processes(state) == []


def test_start_without_postgresql_names_what_is_missing_and_how_to_get_it(tmp_path: Path) -> None:
    script = copy_scripts(tmp_path / "scripts")
    empty = tmp_path / "empty"
    empty.mkdir()
    state = tmp_path / "state"
    result = run(script, "start", "--dir", str(state), env={"PEX_RELEASE_POSTGRES_BIN": str(empty)})
    assert (result.returncode, result.stdout) == (1, "")
    assert (
        "no PostgreSQL server programs (initdb, pg_ctl, postgres) found in $PEX_RELEASE_POSTGRES_BIN;"
        f" looked at: {empty}." in result.stderr
    )
    assert "`apt-get install postgresql`" in result.stderr and "PEX_RELEASE_POSTGRES_BIN" in result.stderr
    assert status(script, state)[0] == 3 and not (state / "postgres").exists()


def test_start_with_a_bad_worker_count_is_refused(tmp_path: Path) -> None:
    script = copy_scripts(tmp_path / "scripts")
    result = run(script, "start", "--dir", str(tmp_path / "state"), "--workers", "-1")
    assert (result.returncode, result.stdout) == (2, "")
    assert "argument --workers: must be 0 or more, not -1" in result.stderr
