"""End-to-end fixtures: a scratch copy of this repository, driven through its own `./pants`.

The tests run under `./pants test`, whose sandbox holds the repository's files (the `//:repo`
target). One scratch copy is built per test session and shared, because every Pants call here
pays about 12 s of start-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from testing.servers import S3Server, s3_server

# What the `//:repo` files target puts in the sandbox beside the test runner's own files.
REPO_ENTRIES = (".gitignore", ".importlinter", "BUILD", "pants", "pants.toml", "pants.ci.toml", "3rdparty", "build-support", "pants-plugins", "src", "tests")

PANTS_COUNTER = re.compile(r"^\s+(\w+): (\d+)$", re.MULTILINE)
PANTS_COMPLETED = re.compile(r"\[INFO\] Completed: (.+)$", re.MULTILINE)


def sandbox_repo() -> Path:
    root = Path.cwd()
    assert (root / "pants").is_file() and (root / "pants.toml").is_file(), (
        f"{root} has no ./pants: the end-to-end tests need the `//:repo` target as a dependency"
    )
    return root


def copy_repo(dest: Path) -> Path:
    src = sandbox_repo()
    dest.mkdir(parents=True, exist_ok=True)
    for entry in REPO_ENTRIES:
        path = src / entry
        if path.is_dir():
            shutil.copytree(path, dest / entry, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, dest / entry)
    return dest


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.com",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.com",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def python(version: str) -> str:
    """A CPython `version` (e.g. "3.12"), found the way the launcher finds it."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True):
        return str(candidate)
    found = shutil.which(f"python{version}")
    assert found, f"no CPython {version} on this machine"
    return found


def python312() -> str:
    """The interpreter the apps target."""
    return python("3.12")


def wait_for_http(url: str, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass(frozen=True)
class PantsRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def counters(self) -> dict[str, int]:
        """The engine counters printed by `--stats-log`."""
        return {name: int(value) for name, value in PANTS_COUNTER.findall(self.stderr)}

    @property
    def completed(self) -> list[str]:
        """Descriptions of the processes that ran (cache hits log nothing)."""
        return PANTS_COMPLETED.findall(self.stderr)

    def assert_ok(self) -> PantsRun:
        assert self.returncode == 0, f"./pants {' '.join(self.args)} failed:\n{self.stderr[-6000:]}"
        return self


@dataclass
class ScratchRepo:
    root: Path
    store: Path
    env: Mapping[str, str] = field(default_factory=dict)
    # A warm pantsd makes a call cost ~3 s instead of ~12 s (more on a loaded machine) of start-up.
    # Its in-memory graph skips what did not change, as cache hits do, so the processes a call runs
    # are the same; remote cache counters are not, which is why ci_test's repo runs without it.
    pantsd: bool = False

    def pants(self, *args: str, check: bool = True, env: Mapping[str, str] | None = None) -> PantsRun:
        full_env = {
            **os.environ,
            # A store of its own, so counts of processes run do not depend on what ran before.
            "PANTS_LOCAL_STORE_DIR": str(self.store),
            "PANTS_PANTSD": "true" if self.pantsd else "false",
            **self.env,
            **(env or {}),
        }
        argv = ("--stats-log", *args)
        proc = subprocess.run(["./pants", *argv], cwd=self.root, env=full_env, capture_output=True, text=True)
        run = PantsRun(argv, proc.returncode, proc.stdout, proc.stderr)
        return run.assert_ok() if check else run

    def write(self, relpath: str, content: str) -> None:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    def commit(self, message: str) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD").strip()


def release_files(root: Path) -> dict[str, str]:
    """What dist/releases/ holds: the sha256 of every file, with trees' files as `<pex>/<path>`
    (with ` +x` for executables: the mode a manifest records for them), and `-> <target>` for every
    symlink. Without `__pycache__/`: python writes `__main__`'s bytecode into a PEX directory it runs."""
    releases = root / "dist" / "releases"
    files = {}
    for path in sorted(releases.rglob("*")):
        name = path.relative_to(releases).as_posix()
        if "__pycache__" in path.relative_to(releases).parts:
            continue
        if path.is_symlink():
            files[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            executable = " +x" if "/" in name and os.access(path, os.X_OK) else ""
            files[name] = hashlib.sha256(path.read_bytes()).hexdigest() + executable
    return files


def image_digests(root: Path) -> dict[str, str]:
    """The manifest digest of each image `package` wrote to dist/images/, by app."""
    return {
        summary.name[: -len(".image.json")]: json.loads(summary.read_text())["manifest"]["digest"]
        for summary in sorted((root / "dist" / "images").glob("*.image.json"))
    }


def manifest_files(pex: Mapping) -> dict[str, str]:
    """What a manifest's PEX entry says dist/releases/ holds for it, in `release_files`' terms."""
    if pex["layout"] == "zipapp":
        return {pex["file"]: pex["sha256"]}
    executable = {"0755": " +x", "0644": ""}
    return {
        **{f"{pex['file']}/{f['path']}": f["sha256"] + executable[f["mode"]] for f in pex["files"]},
        **{f"{pex['file']}/{s['path']}": f"-> {s['target']}" for s in pex["symlinks"]},
    }


# An app whose requirements (click, fastapi, pydantic, uvicorn) differ from the api app's
# (fastapi, pydantic, uvicorn) but resolve to the same closure: uvicorn requires click.
API_TWIN = {
    "src/python/apps/api_twin/__init__.py": "",
    "src/python/apps/api_twin/main.py": (
        "import click\nimport fastapi\nimport pydantic\nimport uvicorn\n\n\n"
        "def main():\n    click.echo(f'twin of api, on fastapi {fastapi.__version__}')\n"
    ),
    "src/python/apps/api_twin/BUILD": 'python_sources()\n\npex_release(name="release", entry_point="main.py:main")\n',
}


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


ORIGIN = "https://git.example.com/acme/monorepo.git"
ORIGIN_WITH_CREDENTIALS = "https://ci-bot:s3cret-token@git.example.com/acme/monorepo.git"


@pytest.fixture(scope="session")
def scratch_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchRepo]:
    base = tmp_path_factory.mktemp("e2e")
    root = copy_repo(base / "repo")
    git(root, "init", "-q", "-b", "main")
    # Images record it (with credentials stripped) in their org.opencontainers.image.source label.
    git(root, "remote", "add", "origin", ORIGIN_WITH_CREDENTIALS)
    repo = ScratchRepo(root=root, store=base / "lmdb_store", pantsd=True)
    for relpath, content in API_TWIN.items():
        repo.write(relpath, content)
    repo.commit("scratch copy")
    with on_exit(os.path.realpath(sys.executable), "-c", STOP_PANTSD, str(root)):
        yield repo


@dataclass(frozen=True)
class PackagedRepo:
    repo: ScratchRepo
    cold_run: PantsRun  # The first `package ::`, with an empty store.
    cold_files: dict[str, str]  # dist/releases/ after it.
    cold_images: dict[str, str]  # The manifest digest of each image in dist/images/ after it.

    def manifest(self, app: str) -> dict:
        return json.loads((self.repo.root / "dist" / "releases" / f"{app}.release.json").read_text())

    def path(self, app: str, role: str) -> Path:
        return self.repo.root / "dist" / "releases" / self.manifest(app)[role]["file"]


@pytest.fixture(scope="session")
def packaged_repo(scratch_repo: ScratchRepo) -> PackagedRepo:
    """The scratch repository after a cold `./pants package ::`."""
    run = scratch_repo.pants("package", "::")
    return PackagedRepo(scratch_repo, run, release_files(scratch_repo.root), image_digests(scratch_repo.root))


# -----------------------------------------------------------------------------------------------
# Progress: one line per finished test file in $E2E_PROGRESS_FILE, which .ci/run prints as it grows
# -----------------------------------------------------------------------------------------------

# `./pants test` prints a batch's results only when the whole batch ends, minutes after its first file.
PROGRESS_FILE = os.environ.get("E2E_PROGRESS_FILE")


@dataclass
class FileProgress:
    remaining: int  # Tests not yet finished.
    outcomes: dict[str, str] = field(default_factory=dict)  # "passed", "failed" or "skipped", by test.
    started: float | None = None  # time.monotonic() when its first test started.


progress: dict[str, FileProgress] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    for name, count in Counter(item.location[0] for item in session.items).items():
        progress[name] = FileProgress(remaining=count)


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    file = progress.get(location[0])
    if file is not None and file.started is None:
        file.started = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A test's outcome as the JUnit report counts it: failed if any phase failed."""
    file = progress.get(report.location[0])
    if file is None:
        return
    if report.failed:
        file.outcomes[report.nodeid] = "failed"
    elif report.skipped:
        file.outcomes.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        file.outcomes.setdefault(report.nodeid, "passed")


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    file = progress.get(location[0])
    if file is None:
        return
    file.remaining -= 1
    if file.remaining == 0 and PROGRESS_FILE:
        counts = Counter(file.outcomes.values())
        took = time.monotonic() - (file.started or time.monotonic())
        summary = f"{counts['passed']} passed, {counts['failed']} failed" + (f", {counts['skipped']} skipped" if counts["skipped"] else "")
        with open(PROGRESS_FILE, "a") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {location[0]}: {summary} in {took:.0f} s\n")


# -----------------------------------------------------------------------------------------------
# The remote cache: build-support/remote-cache (BuildGrid)
# -----------------------------------------------------------------------------------------------


def remote_cache(
    *args: str, env: Mapping[str, str] | None = None, python: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the script, by its shebang unless `python` is given (for a PATH without python3)."""
    script = str(sandbox_repo() / "build-support" / "remote-cache")
    argv = [python, script] if python else [script]
    return subprocess.run(
        [*argv, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=900
    )


# Runs its arguments once stdin reaches end of file.
RUN_AT_EOF = "import subprocess, sys; sys.stdin.read(); sys.exit(subprocess.run(sys.argv[1:]).returncode)"


@contextlib.contextmanager
def on_exit(*argv: str) -> Iterator[None]:
    """Runs argv on the way out of the block, even when this process is killed.

    `./pants test` kills a test process whose inputs changed during the run (and on timeouts), and a
    killed process runs no teardown. So a watchdog in a session of its own runs argv when the pipe
    from this process closes: on the way out, or when the kernel closes it for a killed process.
    """
    watchdog = subprocess.Popen(
        [os.path.realpath(sys.executable), "-c", RUN_AT_EOF, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        assert watchdog.wait(timeout=60) == 0


# Stops the pantsd of the repository argv[1], if one runs (it records its pid under .pids/).
STOP_PANTSD = """
import contextlib, os, pathlib, signal, sys
for pid_file in pathlib.Path(sys.argv[1]).glob(".pids/*/pantsd/pid"):
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
"""


@contextlib.contextmanager
def remote_cache_state(scratch: Path) -> Iterator[Path]:
    """A state dir whose servers are stopped on the way out, even when this process is killed."""
    state = scratch / "state"
    # Copies outlive the sandbox, which Pants may delete before the watchdog runs.
    for name in ("remote-cache", "serverlib.py"):
        shutil.copy(sandbox_repo() / "build-support" / name, scratch / name)
    with on_exit(os.path.realpath(sys.executable), str(scratch / "remote-cache"), "stop", "--dir", str(state)):
        yield state


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    with remote_cache_state(tmp_path) as state:
        yield state


def start_remote_cache(state: Path, *args: str, **kwargs) -> dict[str, str]:
    """Starts a BuildGrid; returns the environment that points Pants at it (its `export` lines)."""
    started = remote_cache("start", "--dir", str(state), *args, **kwargs)
    assert started.returncode == 0, started.stderr
    exports = dict(line[len("export ") :].split("=", 1) for line in started.stdout.splitlines())
    return {name: value.strip("'") for name, value in exports.items()}
