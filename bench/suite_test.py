# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Scenario 9's clock: the time to a server's first answer, on a real server on loopback."""

from __future__ import annotations

import sys

import pytest

from alternatives import CommandFailed
from suite import time_to_answer
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
