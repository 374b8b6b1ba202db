# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The start-up scenarios' clocks (a server's first answer, on a real server on loopback; a command's exit),
environment and reference venv's commands; the edits the edit scenarios commit."""

from __future__ import annotations

import ast
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alternatives import App, CommandFailed, ScratchRepo
from monorepo import EDITED_MODULE, generate
from suite import (
    BYTECODE_ENV,
    SourceEdits,
    build_entry_point,
    console_script,
    startup_environ,
    time_to_answer,
    time_to_exit,
    venv_command,
)
from testing.servers import free_port


def test_time_to_answer_waits_for_the_first_answer_then_stops_the_server() -> None:
    port, stopped = free_port(), []
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    assert time_to_answer(argv, {}, f"http://127.0.0.1:{port}/", lambda: stopped.append(True)) > 0
    assert stopped == [True]
    with pytest.raises(CommandFailed):  # killed: nothing answers any more
        time_to_answer([sys.executable, "-c", "pass"], {}, f"http://127.0.0.1:{port}/", lambda: None)


def test_a_server_that_exits_without_answering_fails_with_its_output() -> None:
    port = free_port()
    argv = [sys.executable, "-c", "import sys; sys.exit('cannot bind: in use')"]
    with pytest.raises(CommandFailed, match=f"never answered http://127.0.0.1:{port}/healthz:\ncannot bind: in use"):
        time_to_answer(argv, {}, f"http://127.0.0.1:{port}/healthz", lambda: None)


def test_time_to_exit_checks_the_exit_code_and_the_output() -> None:
    env = dict(os.environ)
    assert time_to_exit([sys.executable, "-c", "print('Usage: acme')"], env, "Usage") > 0
    with pytest.raises(CommandFailed, match="exited 0, expected 0 and 'Usage' in its stdout:\nhelp"):
        time_to_exit([sys.executable, "-c", "print('help')"], env, "Usage")
    with pytest.raises(CommandFailed, match="exited 2"):
        time_to_exit([sys.executable, "-c", "print('Usage'); raise SystemExit(2)"], env, "Usage")


def test_startup_environ_sets_or_removes_the_bytecode_setting_and_drops_the_benchs_path(monkeypatch) -> None:
    monkeypatch.setenv(BYTECODE_ENV, "1")
    monkeypatch.setenv("PYTHONPATH", "/checkout/src/python")
    allowed = startup_environ({"PEX_ROOT": "/r"}, write_bytecode=True)
    assert BYTECODE_ENV not in allowed and "PYTHONPATH" not in allowed
    assert allowed["PEX_ROOT"] == "/r" and allowed["PATH"] == os.environ["PATH"]
    monkeypatch.delenv(BYTECODE_ENV)
    assert startup_environ({}, write_bytecode=False)[BYTECODE_ENV] == "1"


def test_the_console_script_runs_the_function_as_pips_does(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme/__init__.py").write_text("")
    (tmp_path / "acme/main.py").write_text("import sys\ndef cli():\n    print(sys.argv[1:])\n    return 3\n")
    script = tmp_path / "acme-cli"
    script.write_text(console_script(sys.executable, "acme.main:cli"))
    script.chmod(0o755)
    assert script.read_text().startswith(f"#!{sys.executable}\n")
    proc = subprocess.run([str(script), "--help"], env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (3, "['--help']\n")


def test_a_venv_starts_an_app_by_its_console_script_or_its_module(tmp_path: Path) -> None:
    cli, api = App("cli", "apps.cli.main:cli"), App("api", "apps.api.main")
    assert venv_command(tmp_path, cli) == [str(tmp_path / "bin/cli")]
    assert venv_command(tmp_path, api) == [str(tmp_path / "bin/python"), "-m", "apps.api.main"]
    assert (build_entry_point(cli), build_entry_point(api)) == ("main.py:cli", "main.py")


def test_source_edits_change_one_line_and_commit_a_new_revision_each_time(tmp_path: Path) -> None:
    repo = ScratchRepo(tmp_path)
    # Made before the module exists, as the scale scenarios make it: the module is read at the first edit.
    edit = SourceEdits(repo, EDITED_MODULE, label="library edit")
    generate(tmp_path, 1)
    repo.git("init", "-q")
    repo.commit("synthetic monorepo")
    module = tmp_path / EDITED_MODULE
    before = module.read_text()
    edit()
    first = module.read_text()
    changed = [line for line in difflib.ndiff(before.splitlines(), first.splitlines()) if line[:1] in "+-"]
    assert len(changed) == 2 and "[library edit 1]" in changed[1]
    edit()
    assert module.read_text() not in (before, first)
    ast.parse(module.read_text())
    assert repo.git("log", "--format=%s").splitlines() == [
        "strings: library edit 2", "strings: library edit 1", "synthetic monorepo"
    ]
