# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Scenario 9's clock: the time to a server's first answer, on a real server on loopback; the edits the
edit scenarios commit."""

from __future__ import annotations

import ast
import difflib
import sys
from pathlib import Path

import pytest

from alternatives import CommandFailed, ScratchRepo
from monorepo import EDITED_MODULE, generate
from suite import SourceEdits, time_to_answer
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
