# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""What the server scripts in build-support/ (remote-cache, s3-server) share: messages, the cache
directory, locks, a cached virtualenv, ports and processes. Standard library only, Python 3.9+."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, NoReturn

PROG = os.path.basename(sys.argv[0])


def log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def die(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def cache_dir(name: str) -> Path:
    """$PEX_RELEASE_CACHE/<name>, default ~/.cache/pex-release/<name>; empty variables count as unset."""
    xdg_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("PEX_RELEASE_CACHE") or xdg_cache / "pex-release") / name


@contextmanager
def exclusive_lock(lock_file: Path, waiting_message: str | None = None) -> Iterator[None]:
    """Serializes the holders of lock_file; the lock goes with the file when this process ends."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_message:
                log(waiting_message)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_or_die(argv: list[str], what: str) -> None:
    # pip's output goes to stderr: stdout carries only the `export` lines a script prints.
    if subprocess.run(argv, stdout=sys.stderr).returncode != 0:
        die(f"{what} failed (command: {' '.join(argv)})")


def ensure_venv(venv: Path, python: str, requirement: str) -> Path:
    """A virtualenv with `requirement`, installed once: a marker written last says it is complete,
    so an interrupted install is redone, and a lock makes concurrent first runs install it once."""
    marker, stamp = venv / ".install-complete", f"{requirement} {python}"
    if marker.is_file() and marker.read_text() == stamp:
        return venv
    with exclusive_lock(venv.parent / f".{venv.name}.lock", f"waiting for another {PROG} to install {requirement}"):
        if not (marker.is_file() and marker.read_text() == stamp):
            started = time.monotonic()
            log(f"installing {requirement} into {venv} with {python}")
            run_or_die([python, "-m", "venv", "--clear", str(venv)], "creating the virtualenv")
            pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--quiet", "--disable-pip-version-check"]
            run_or_die([*pip, requirement], f"installing {requirement}")
            marker.write_text(stamp)
            log(f"installed in {time.monotonic() - started:.1f} s")
    return venv


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def command_line(pid: int) -> str:
    """The process's command line, or "" when it is gone (or a zombie, whose command line is empty)."""
    if Path("/proc/self").exists():
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    ps = subprocess.run(["ps", "-p", str(pid), "-o", "args="], capture_output=True, text=True)
    return "" if "<defunct>" in ps.stdout else ps.stdout


def launch(argv: list[str], log_file: Path, *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    # A session of its own: the server outlives this script and ignores the terminal's Ctrl-C.
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_gone(pid: int, signature: str, seconds: float) -> bool:
    """Whether the process whose command line has `signature` exits within `seconds` (no reused pids)."""
    deadline = time.monotonic() + seconds
    while signature in command_line(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, signature: str, timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process still runs after `timeout`; returns once it has exited."""
    for sig, seconds in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_until_gone(pid, signature, seconds):
            return
        log(f"pid {pid} still runs {seconds:.0f} s after {sig.name}")


def log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        text = log_file.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = []
    return "\n".join(f"    {line}" for line in text) or "    (empty)"
