# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The three ways to build and ship the example apps as PEX files: the manual recipe, stock Pants
`pex_binary`, and this repository's `pex_release`. Each builds a list of apps and says what it did."""

from __future__ import annotations

import abc
import ast
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness import Outcome, StepTimer
from testing.lockfile import read_lock

# The environment the apps run in, for evaluating requirement markers.
TARGET_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.1",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.12.1",
    "python_version": "3.12",
    "sys_platform": "linux",
}


class CommandFailed(RuntimeError):
    pass


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion; a failure raises with the command and the end of its output."""
    proc = subprocess.run(list(argv), cwd=cwd, env=dict(env or os.environ), capture_output=True, text=True)
    if proc.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(argv)}` in {cwd} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


@dataclass(frozen=True)
class App:
    """An app under src/python/apps/<name>, and the module (and function) its PEX runs."""

    name: str
    entry_point: str  # e.g. "apps.cli.main:cli"; a bare module runs as __main__.

    @property
    def directory(self) -> str:
        return f"src/python/apps/{self.name}"


def size_of(path: Path) -> int:
    """The bytes of a PEX: a file's size, or the sum of a directory's files (links not followed)."""
    if not path.is_dir():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def disk_bytes(directory: Path) -> int:
    """The apparent size of what a directory holds, as `du --apparent-size --bytes` counts it minus the
    directories themselves: each file and symlink, each inode once (a cache's trees are hard links to its
    blobs, a venv may link files); 0 if there is no such directory."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, directories, files in os.walk(directory):  # Not into linked directories: it lists them.
        linked = [d for d in directories if os.path.islink(os.path.join(root, d))]
        for name in (*files, *linked):
            stat = os.lstat(os.path.join(root, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


@dataclass(frozen=True)
class Build:
    """What one build of some apps did: pex processes run, and the output PEXes (files or
    directories) they wrote."""

    pex_runs: int
    outputs: tuple[Path, ...]

    @property
    def bytes_written(self) -> int:
        return sum(size_of(p) for p in self.outputs)


class CacheDirs:
    """The caches of one alternative; `renew` swaps them for empty ones (old ones are deleted)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        self.current = root / "0"
        self.current.mkdir(parents=True, exist_ok=True)

    def renew(self) -> None:
        old = self.current
        self.generation += 1
        self.current = self.root / str(self.generation)
        self.current.mkdir(parents=True)
        shutil.rmtree(old, ignore_errors=True)

    def __truediv__(self, name: str) -> Path:
        return self.current / name


def copy_to_repository(files: Iterable[Path], repository: Path) -> int:
    """Publishing whole PEX files, the way manual and pex_binary releases are shipped: bytes copied."""
    repository.mkdir(parents=True, exist_ok=True)
    copied = 0
    for path in files:
        shutil.copyfile(path, repository / f"{path.parent.name}-{path.name}")
        copied += path.stat().st_size
    return copied


def ship_whole_files(alternative: Manual | PexBinary, build: Build, apps: Sequence[App], timer: StepTimer, publish: bool) -> Outcome:
    """Publishes (copies) the rebuilt PEX files; without publishing, what a first deploy of the apps
    uploads: every app's PEX file."""
    if publish:
        with timer.step("copy the PEX files to the repository"):
            uploaded = copy_to_repository(build.outputs, alternative.repository)
    else:
        uploaded = sum(alternative.output(app).stat().st_size for app in apps)
    return Outcome(build.pex_runs, build.bytes_written, uploaded)


# -----------------------------------------------------------------------------------------------
# Pants
# -----------------------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \[INFO\] (Starting|Completed|Canceled): (.+)$", re.MULTILINE)
# The processes that run pex: every `Building ...` PEX, pex_release's `pex3 lock subset`, and an image's
# install of its wheels; not the image rules' own steps (base image, layers), which run no pex.
PEX_PROCESS = re.compile(
    r"^(Building (?!the image of |the image layers of |a base image from )|Resolving the closure|Installing the wheels of deps PEX)"
)
OUTSIDE_PROCESSES = "./pants outside logged processes (start-up, rules, writing dist/)"


@dataclass(frozen=True)
class PantsRun:
    stdout: str
    stderr: str
    seconds: float

    def process_intervals(self) -> list[tuple[str, float, float]]:
        """(description, start, end) of each process that completed, from the log's clock times."""
        started: dict[str, float] = {}
        intervals = []
        for hours, minutes, seconds, event, description in LOG_LINE.findall(self.stderr):
            at = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            if event == "Starting":
                started[description] = at
            elif event == "Completed" and description in started:
                intervals.append((description, started.pop(description), at))
            else:
                started.pop(description, None)
        return intervals

    @property
    def completed(self) -> list[str]:
        return [description for description, _, _ in self.process_intervals()]

    @property
    def pex_runs(self) -> int:
        return sum(1 for c in self.completed if PEX_PROCESS.match(c))

    def steps(self) -> dict[str, float]:
        """Seconds per process (they overlap: Pants runs two at once here), and the rest of the wall time."""
        intervals = self.process_intervals()
        steps: dict[str, float] = {}
        for description, start, end in intervals:
            name = "./pants: " + description.split(" from the ")[0].split(" from 3rdparty")[0]
            steps[name] = steps.get(name, 0.0) + (end - start)
        busy, covered_until = 0.0, float("-inf")  # The length of the union of the intervals.
        for _, start, end in sorted(intervals, key=lambda i: i[1]):
            busy += max(0.0, end - max(start, covered_until))
            covered_until = max(covered_until, end)
        steps[OUTSIDE_PROCESSES] = max(self.seconds - busy, 0.0)
        return steps


class ScratchRepo:
    """The scratch copy that the Pants alternatives build in, a git repository of its own."""

    GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str) -> str:
        return run(["git", *args], self.root, {**os.environ, **self.GIT_ENV}).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def pants(self, args: Sequence[str], env: Mapping[str, str]) -> PantsRun:
        start = time.perf_counter()
        proc = run(["./pants", "--stats-log", *args], self.root, {**os.environ, "PANTS_PANTSD": "false", **env})
        return PantsRun(proc.stdout, proc.stderr, time.perf_counter() - start)

    def manifest(self, app: str) -> dict:
        return json.loads((self.root / "dist/releases" / f"{app}.release.json").read_text())


class PantsAlternative(abc.ABC):
    """An alternative built by `./pants package` in the scratch repository, with caches of its own."""

    name = ""
    target = ""  # The target name in each app's BUILD file.
    target_type = ""  # Its type, for `--filter-target-type`.

    def __init__(self, repo: ScratchRepo, caches: CacheDirs, repository: Path) -> None:
        self.repo = repo
        self.caches = caches
        self.repository = repository  # Where releases are published.
        self.extra_env: dict[str, str] = {}  # e.g. the remote cache's settings.

    def addresses(self, apps: Sequence[App]) -> list[str]:
        return [f"{app.directory}:{self.target}" for app in apps]

    def goal_args(self, goals: Sequence[str], apps: Sequence[App], changed_since: str | None) -> list[str]:
        """The goals on the apps' addresses or, with changed_since, on what CI builds: this alternative's
        targets that depend (transitively) on a file changed since that commit."""
        if changed_since is None:
            return [*goals, *self.addresses(apps)]
        return [f"--changed-since={changed_since}", "--changed-dependents=transitive",
                f"--filter-target-type={self.target_type}", *goals]

    def env(self) -> dict[str, str]:
        return {
            "PANTS_LOCAL_STORE_DIR": str(self.caches / "lmdb_store"),
            "PANTS_NAMED_CACHES_DIR": str(self.caches / "named_caches"),
            **self.extra_env,
        }

    def renew_build_cache(self) -> None:
        """An empty local store; the download caches (named caches) are kept."""
        shutil.rmtree(self.caches / "lmdb_store", ignore_errors=True)

    def pants(self, timer: StepTimer, *args: str, env: Mapping[str, str] | None = None) -> PantsRun:
        result = self.repo.pants(args, {**self.env(), **(env or {})})
        for name, seconds in result.steps().items():
            timer.add(name, seconds)
        return result

    @abc.abstractmethod
    def build(self, apps: Sequence[App], timer: StepTimer, publish: bool, changed_since: str | None = None) -> Outcome:
        """Builds the apps (and publishes them when asked), timing its steps with timer; with changed_since,
        only those of the apps that `--changed-since` selects."""

    @abc.abstractmethod
    def outputs(self, run: PantsRun) -> tuple[Path, ...]:
        """The output PEX files whose build process ran (cache hits build nothing)."""


class PexBinary(PantsAlternative):
    """Stock Pants: one monolithic `pex_binary` per app, shipped whole."""

    name = "pex_binary"
    target = "bin"
    target_type = "pex_binary"
    OUTPUT = re.compile(r"^Building (?:\d+ requirements? for )?(\S+\.pex)\b")

    def outputs(self, run: PantsRun) -> tuple[Path, ...]:
        names = [m.group(1) for m in map(self.OUTPUT.match, run.completed) if m]
        return tuple(p for p in (self.repo.root / "dist" / n for n in names) if p.is_file())

    def output(self, app: App) -> Path:
        return self.repo.root / "dist" / app.directory.replace("/", ".") / "bin.pex"

    def build(self, apps: Sequence[App], timer: StepTimer, publish: bool, changed_since: str | None = None) -> Outcome:
        result = self.pants(timer, *self.goal_args(["package"], apps, changed_since))
        build = Build(result.pex_runs, self.outputs(result))
        return ship_whole_files(self, build, apps, timer, publish)


def stored_files(repository: Path) -> dict[str, tuple[int, int]]:
    """Every file in a file:// repository, with its size and mtime."""
    return {
        str(p.relative_to(repository)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in (repository.rglob("*") if repository.is_dir() else ())
        if p.is_file()
    }


def release_blobs(manifest: dict) -> dict[str, tuple[str, int]]:
    """A schema-2 manifest's blobs: sha256 -> (file, size), for each tree file or zipapp, and its SBOM."""
    blobs = {}
    for role in ("deps", "sources", "single_file"):
        pex = manifest.get(role)
        for entry in (pex.get("files") or [pex]) if pex else ():
            blobs[entry["sha256"]] = (f"{pex['file']}/{entry['path']}" if "path" in entry else pex["file"], entry["size"])
    if manifest.get("sbom"):
        blobs[manifest["sbom"]["sha256"]] = (manifest["sbom"]["file"], manifest["sbom"]["size"])
    return blobs


def is_wheel(file: str) -> bool:
    return "/.deps/" in file and file.endswith(".whl")


class PexRelease(PantsAlternative):
    """This repository: a deps PEX per closure and a sources PEX per app, published by content."""

    name = "pex_release"
    target = "release"
    target_type = "pex_release"
    DEPS = re.compile(r"^Building deps PEX (\w+) ")
    APP_PEX = re.compile(r"^Building (sources|single-file) PEX for src/python/apps/(\w+):")

    def outputs(self, run: PantsRun) -> tuple[Path, ...]:
        releases = self.repo.root / "dist/releases"
        paths: list[Path] = []
        for description in run.completed:
            deps, app_pex = self.DEPS.match(description), self.APP_PEX.match(description)
            if deps:
                paths += releases.glob(f"deps-{deps.group(1)}*.pex")
            elif app_pex:
                kind, app = app_pex.groups()
                paths.append(releases / (f"{app}-srcs.pex" if kind == "sources" else f"{app}.pex"))
        return tuple(p for p in paths if p.exists())

    def blobs(self, apps: Sequence[App]) -> dict[str, tuple[str, int]]:
        return {sha256: blob for app in apps for sha256, blob in release_blobs(self.repo.manifest(app.name)).items()}

    def first_deploy_bytes(self, apps: Sequence[App]) -> int:
        """What publishing these apps to an empty repository uploads: each distinct blob once."""
        return sum(size for _, size in self.blobs(apps).values())

    def uploads(self, apps: Sequence[App], before: dict[str, tuple[int, int]]) -> Outcome:
        """What the publish of apps added to the repository since `before`: every new or rewritten
        file (blobs, manifests, indexes), and of them, the wheels."""
        after = stored_files(self.repository)
        changed = {path: size for path, (size, mtime) in after.items() if before.get(path) != (size, mtime)}
        blobs = self.blobs(apps)
        new_blobs = [blobs[sha256] for sha256 in (path.rsplit("/", 1)[1] for path in changed if path.startswith("blobs/"))]
        wheels = [size for file, size in new_blobs if is_wheel(file)]
        return Outcome(
            bytes_uploaded=sum(changed.values()),
            details={"files uploaded": len(changed), "wheels uploaded": len(wheels),
                     "wheel bytes uploaded": sum(wheels)},
        )

    def publish_env(self) -> dict[str, str]:
        return {"PANTS_PEX_RELEASES_REPOSITORY": self.repository.as_uri()}

    def build(self, apps: Sequence[App], timer: StepTimer, publish: bool, changed_since: str | None = None) -> Outcome:
        if publish:
            before = stored_files(self.repository)
            result = self.pants(timer, *self.goal_args(["package", "publish"], apps, changed_since), env=self.publish_env())
            published = self.uploads(apps, before)
        else:
            result = self.pants(timer, *self.goal_args(["package"], apps, changed_since))
            published = Outcome(bytes_uploaded=self.first_deploy_bytes(apps))
        build = Build(result.pex_runs, self.outputs(result))
        return replace(published, pex_runs=build.pex_runs, bytes_written=build.bytes_written)


# -----------------------------------------------------------------------------------------------
# The manual recipe: uv build + uv export + pip download + pex, per app
# -----------------------------------------------------------------------------------------------


# The files of an app's directory that are its tests, not part of its release.
TEST_FILES = ("*_test.py", "conftest.py")


def imported_modules(directory: Path) -> set[str]:
    """The absolute imports of a directory's released sources (tests are not released; their imports,
    pytest, are not the app's)."""
    imported = set()
    for path in directory.glob("*.py"):
        if any(path.match(pattern) for pattern in TEST_FILES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
    return imported


def first_party_libraries(repo: Path, app: App) -> list[str]:
    """The src/python/libs packages the app's sources import (as Pants infers them), e.g. ["common"]."""
    packages = {m.split(".")[1] for m in imported_modules(repo / app.directory) if m.startswith("libs.")}
    return sorted(p for p in packages if (repo / "src/python/libs" / p).is_dir())


def direct_requirements(repo: Path, app: App) -> set[str]:
    """The requirements.txt projects that the app's and its libraries' sources import (as Pants infers them)."""
    declared = {}
    for line in (repo / "3rdparty/python/requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = canonicalize_name(Requirement(line).name)
            declared[name.replace("-", "_")] = name
    directories = [repo / app.directory, *(repo / "src/python/libs" / lib for lib in first_party_libraries(repo, app))]
    imported = {m.split(".")[0].lower() for directory in directories for m in imported_modules(directory)}
    return {declared[m] for m in imported if m in declared}


def closure_pins(lock: dict, requirements: Iterable[str]) -> dict[str, str]:
    """name -> version of every locked distribution the requirements need on the target environment."""
    (resolve,) = lock["locked_resolves"]
    locked = {canonicalize_name(r["project_name"]): r for r in resolve["locked_requirements"]}
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        entry = locked[name]
        pins[name] = entry["version"]
        for dist in entry["requires_dists"]:
            dependency = Requirement(dist)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(
                dependency.marker.evaluate({**TARGET_ENVIRONMENT, "extra": extra}) for extra in extras
            ):
                pending.append(dependency)
    return pins


EXPORTED_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$", re.MULTILINE)


def exported_pins(requirements_txt: str) -> dict[str, str]:
    """The pins of `uv export` output that apply on the target environment."""
    return {
        canonicalize_name(name): version
        for name, version, marker in EXPORTED_PIN.findall(requirements_txt)
        if not marker or Marker(marker).evaluate({**TARGET_ENVIRONMENT, "extra": ""})
    }


PYPROJECT = """\
[project]
name = "acme-{name}"
version = "1.0.0"
requires-python = "==3.12.*"
dependencies = [{dependencies}]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["apps", "libs"]
"""

# The wheel platforms: the brief's manylinux2014, plus manylinux_2_28, the only Linux wheels of
# numpy 2.5 and pandas 3.1 in the lockfile.
PIP_DOWNLOAD = (
    "download", "--only-binary", ":all:", "--platform", "manylinux2014_x86_64", "--platform",
    "manylinux_2_28_x86_64", "--python-version", "312", "--abi", "cp312", "--abi", "abi3",
)


@dataclass(frozen=True)
class Tools:
    """The bench virtualenv's tools and the apps' interpreter."""

    venv: Path
    python312: str

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


class Manual:
    """The recipe teams follow by hand, per app, into one PEX per app; no cache but uv's, pip's and pex's."""

    name = "manual"

    def __init__(self, repo: ScratchRepo, caches: CacheDirs, work: Path, repository: Path, tools: Tools) -> None:
        self.repo = repo
        self.caches = caches
        self.work = work
        self.repository = repository
        self.tools = tools

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "VIRTUAL_ENV")}
        return {
            **env,
            "PATH": f"{self.tools.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "UV_CACHE_DIR": str(self.caches / "uv"),
            "UV_PYTHON": self.tools.python312,
            "UV_PYTHON_DOWNLOADS": "never",
            "PIP_CACHE_DIR": str(self.caches / "pip"),
            "PIP_CONFIG_FILE": os.devnull,  # The machine's pip.conf may add constraints and find-links.
            "PEX_ROOT": str(self.caches / "pex_root"),
        }

    def output(self, app: App) -> Path:
        return self.work / "dist" / app.name / f"{app.name}.pex"

    def renew_build_cache(self) -> None:
        """Nothing to renew: the recipe has no build cache, every build redoes every step."""

    def stage(self, app: App, directory: Path) -> None:
        """The app's package and the libraries it imports, without tests, in a scratch project directory."""
        shutil.rmtree(directory, ignore_errors=True)
        src, skip = self.repo.root / "src/python", shutil.ignore_patterns(*TEST_FILES, "BUILD", "__pycache__")
        shutil.copytree(src / app.directory.removeprefix("src/python/"), directory / "apps" / app.name, ignore=skip)
        for library in first_party_libraries(self.repo.root, app):
            shutil.copytree(src / "libs" / library, directory / "libs" / library, ignore=skip)
        (directory / "libs").mkdir(exist_ok=True)
        for package in ("apps", "libs"):
            shutil.copyfile(src / package / "__init__.py", directory / package / "__init__.py")

    def build_app(self, app: App, lock: dict, timer: StepTimer, env: Mapping[str, str]) -> Path:
        project = self.work / "projects" / app.name
        with timer.step("pins from default.lock, pyproject.toml"):
            self.stage(app, project)
            pins = closure_pins(lock, direct_requirements(self.repo.root, app))
            dependencies = ", ".join(f'"{name}=={version}"' for name, version in sorted(pins.items()))
            (project / "pyproject.toml").write_text(PYPROJECT.format(name=app.name, dependencies=dependencies))
        with timer.step("uv lock"):
            run([self.tools.bin("uv"), "lock", "--quiet"], project, env)
        with timer.step("uv export"):
            run([self.tools.bin("uv"), "export", "--quiet", "--frozen", "--no-emit-project",
                 "--format", "requirements-txt", "-o", "requirements.txt"], project, env)
        exported = exported_pins((project / "requirements.txt").read_text())
        if exported != pins:
            raise CommandFailed(f"uv export for {app.name} does not reproduce default.lock's pins: {exported} != {pins}")
        with timer.step("uv build --wheel"):
            run([self.tools.bin("uv"), "build", "--quiet", "--wheel", "-o", "wheel"], project, env)
        with timer.step("pip download"):
            run([self.tools.bin("python"), "-m", "pip", "-q", *PIP_DOWNLOAD, "-r", "requirements.txt",
                 "-d", "wheelhouse"], project, env)
        output = self.output(app)
        output.parent.mkdir(parents=True, exist_ok=True)
        with timer.step("pex"):
            wheels = sorted(str(p) for p in (project / "wheelhouse").glob("*.whl"))
            run([self.tools.bin("pex"), *wheels, *map(str, (project / "wheel").glob("*.whl")), "--no-transitive",
                 "--interpreter-constraint", "CPython==3.12.*", "--python-shebang", "/usr/bin/env python3.12",
                 "-e", app.entry_point, "-o", str(output)], project, env)
        return output

    def build(self, apps: Sequence[App], timer: StepTimer, publish: bool) -> Outcome:
        env = self.env()
        with timer.step("pins from default.lock, pyproject.toml"):
            lock = read_lock(self.repo.root / "3rdparty/python/default.lock")
        build = Build(len(apps), tuple(self.build_app(app, lock, timer, env) for app in apps))
        return ship_whole_files(self, build, apps, timer, publish)


Alternative = Union[Manual, PexBinary, PexRelease]
