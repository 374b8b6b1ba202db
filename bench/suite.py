# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The benchmark scenarios, run side by side on a scratch copy of this repository: `bench/run`.

Writes bench/results/latest.json, the plots beside it and bench/README.md; nothing else in the checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from alternatives import (
    Alternative,
    App,
    CacheDirs,
    CommandFailed,
    Manual,
    PexBinary,
    PexRelease,
    ScratchRepo,
    Tools,
    disk_bytes,
    run,
    size_of,
)
from images import (
    base_layout,
    client_uploaded_bytes,
    entrypoint_python,
    layout_blobs,
    new_blob_bytes,
    stored_blob_bytes,
    two_pex_containerfile,
)
from harness import (
    Outcome,
    Record,
    Results,
    ScenarioInfo,
    StepTimer,
    Trial,
    find_python,
    measure,
    measure_interleaved,
    this_machine,
    utc_now,
)
from monorepo import APP_PREFIX, EDITED_LIBRARY, EDITED_MODULE, apps_using, generate
from report import (
    COLD_START_TARGET,
    DEPS_TREE_BYTES,
    DEPS_VENVS_BYTES,
    PEX_ROOT_BYTES,
    PEXRUN_START,
    REFERENCE_VENV,
    SINGLE_FILE_START,
    TREES_START,
    WARM_START_TARGET,
    render,
)
from testing.lockfile import add_locked_requirement, index_artifacts, locked_entry, read_lock, replace_locked_version
from testing.containers import Podman, container_args, podman_in
from testing.servers import OciRegistry, free_port, oci_registry

BENCH = Path(__file__).resolve().parent
CHECKOUT = BENCH.parent
APP_NAMES = ("api", "cli", "worker", "reports")
STARTUP_MARKER = '"msg": "serving on http://'
STARTUP_TIMEOUT_SECONDS = 120


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def slug(name: str) -> str:
    """A name as a file or container name: `pex_release (pexrun run)` -> `pex-release-pexrun-run`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class Plan:
    mode: str
    repetitions: int  # Of every build scenario.
    startup_repetitions: int  # Of each cold start-up, after one discarded run.
    warm_start_repetitions: int  # Of each warm start-up (scenarios 6 and 6b), the forms in turn.
    app_counts: tuple[int, ...]  # N in scenario 4.
    scale_counts: tuple[int, ...] = (1, 10, 50)  # N in the scale scenarios (10 to 14).


QUICK = Plan("quick", repetitions=1, startup_repetitions=3, warm_start_repetitions=11, app_counts=(1, 5))
FULL = Plan("full", repetitions=3, startup_repetitions=5, warm_start_repetitions=21, app_counts=(1, 5, 10))


# -----------------------------------------------------------------------------------------------
# The scratch copy
# -----------------------------------------------------------------------------------------------

ENTRY_POINT = re.compile(r'entry_point="(\w+)\.py(?::(\w+))?"')


def app_of(repo: Path, name: str) -> App:
    """The app, with the entry point its pex_release target declares, as a module path."""
    match = ENTRY_POINT.search((repo / f"src/python/apps/{name}/BUILD").read_text())
    assert match, f"src/python/apps/{name}/BUILD has no entry_point"
    module, function = match.groups()
    return App(name, f"apps.{name}.{module}" + (f":{function}" if function else ""))


def build_entry_point(app: App) -> str:
    """The app's entry point as its BUILD file spells it: `main.py` or `main.py:cli`."""
    module, _, function = app.entry_point.rpartition(".")[2].partition(":")
    return f"{module}.py" + (f":{function}" if function else "")


def add_pex_binary(repo: Path, app: App) -> None:
    """A stock `pex_binary` beside the app's `pex_release`, with the same entry point."""
    build = repo / app.directory / "BUILD"
    build.write_text(build.read_text() + f'\npex_binary(name="bin", entry_point="{build_entry_point(app)}")\n')


def unpin_versions(repo: Path) -> None:
    """Every release gets the version derived from its commit: a published version is immutable and
    its manifest names the commit, so a pinned version could be published only once here."""
    for build in repo.glob("src/python/apps/*/BUILD"):
        build.write_text(re.sub(r'\n\s*version="[^"]*",', "", build.read_text()))


def copy_checkout(dest: Path) -> ScratchRepo:
    """The checkout's working tree (tracked and untracked files that git does not ignore, uncommitted edits
    included) as a new git repository."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], CHECKOUT).stdout
    for name in filter(None, listed.split("\0")):
        source = CHECKOUT / name
        if source.is_file():  # Not a deleted, uncommitted file.
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    repo = ScratchRepo(dest)
    unpin_versions(dest)
    for name in APP_NAMES:
        add_pex_binary(dest, app_of(dest, name))
    repo.git("init", "-q", "-b", "main")
    repo.commit("scratch copy")
    return repo


@dataclass(frozen=True)
class Bench:
    plan: Plan
    base: Path
    repo: ScratchRepo
    tools: Tools
    manual: Manual
    pex_binary: PexBinary
    pex_release: PexRelease

    @property
    def alternatives(self) -> tuple[Alternative, ...]:
        return (self.manual, self.pex_binary, self.pex_release)

    @property
    def apps(self) -> tuple[App, ...]:
        return tuple(app_of(self.repo.root, name) for name in APP_NAMES)

    def app(self, name: str) -> App:
        return app_of(self.repo.root, name)


@contextlib.contextmanager
def bench_in_scratch(plan: Plan, keep: bool) -> Iterator[Bench]:
    base = Path(tempfile.mkdtemp(prefix="pex-release-bench-"))
    log(f"scratch directory {base}")
    try:
        repo = copy_checkout(base / "repo")
        # The launcher's own bootstrap (a cached virtualenv) is not what is measured.
        run(["./pants"], repo.root, {**os.environ, "PEX_RELEASE_BOOTSTRAP_ONLY": "1"})
        tools = Tools(venv=Path(sys.prefix), python312=find_python("3.12"))
        releases = base / "repositories"
        yield Bench(
            plan=plan,
            base=base,
            repo=repo,
            tools=tools,
            manual=Manual(repo, CacheDirs(base / "caches/manual"), base / "manual", releases / "manual", tools),
            pex_binary=PexBinary(repo, CacheDirs(base / "caches/pex_binary"), releases / "pex_binary"),
            pex_release=PexRelease(repo, CacheDirs(base / "caches/pex_release"), releases / "pex_release"),
        )
    finally:
        if keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


# -----------------------------------------------------------------------------------------------
# Scenarios 1 to 5: builds, one runner for every alternative
# -----------------------------------------------------------------------------------------------


def build_trial(
    scenario: str, alternative: Alternative, apps: Sequence[App], publish: bool, prepare: Callable[[], None], n: int | None = None
) -> Trial:
    return Trial(scenario, alternative.name, lambda timer: alternative.build(apps, timer, publish), prepare, n)


def cold_build(bench: Bench) -> list[Record]:
    records = [
        measure(build_trial("1-cold", alt, bench.apps, publish=False, prepare=alt.caches.renew), bench.plan.repetitions, log=log)
        for alt in bench.alternatives
    ]
    # The first deploy (untimed), which later scenarios deploy on top of: only pex_release's later
    # uploads depend on what its repository already holds.
    bench.pex_release.build(bench.apps, StepTimer(), publish=True)
    return records


def set_release_field(repo: ScratchRepo, app: App, field: str, value: str | None) -> None:
    """Sets (or, with None, removes) a field of the app's `pex_release(name="release", ...)`, committed."""
    build = repo.root / app.directory / "BUILD"
    text = re.sub(rf", {field}=[^,)]*", "", build.read_text())
    if value is not None:
        text = text.replace('pex_release(name="release"', f'pex_release(name="release", {field}={value}', 1)
    build.write_text(text)
    repo.commit(f"{app.name}: {field}={value}")


def deps_build(bench: Bench) -> list[Record]:
    """The heavy app's deps PEX built as a packed tree of wheel files (the default) and as a zipapp of
    installed wheels (the layout every release had before release trees)."""
    reports, alt = bench.app("reports"), bench.pex_release

    def trial(name: str, layout: str) -> Trial:
        def prepare() -> None:
            set_release_field(bench.repo, reports, "layout", f'"{layout}"')
            alt.renew_build_cache()
            # pex's copies of the closure's installed wheels go too (its downloads and its own tools stay):
            # a zipapp build installs each wheel again, as on a machine that never built this closure.
            wheels = {d["file"] for d in bench.repo.manifest("reports")["deps"]["distributions"]}
            for installed in (alt.caches / "named_caches/pex_root/installed_wheels").glob("*/*/*"):
                if installed.name in wheels:
                    shutil.rmtree(installed.parent, ignore_errors=True)

        def run_once(timer: StepTimer) -> Outcome:
            started = time.perf_counter()
            result = alt.pants(timer, "package", *alt.addresses([reports]))
            deps = [end - start for name, start, end in result.process_intervals() if name.startswith("Building deps PEX")]
            if not deps:
                raise CommandFailed(f"no deps PEX was built for reports with layout={layout}")
            outputs = alt.outputs(result)
            return Outcome(
                pex_runs=result.pex_runs,
                bytes_written=sum(size_of(p) for p in outputs if p.name.startswith("deps-")),
                seconds=sum(deps),
                details={"whole `./pants package` seconds": time.perf_counter() - started},
            )

        return Trial("1b-deps-build", name, run_once, prepare)

    records = [
        measure(trial(name, layout), bench.plan.repetitions, log=log)
        for name, layout in (("zipapp, installed wheels (before)", "zipapp"), ("packed, wheel files", "packed"))
    ]
    set_release_field(bench.repo, reports, "layout", None)
    return records


class SourceEdits:
    """A new one-line edit of a module (its first docstring, at `path` under the repository's root),
    committed, for each repetition of each alternative; `label` keeps one scenario's edits apart from
    another's (no edit repeats an earlier one's content, which would be a cache hit)."""

    def __init__(self, repo: ScratchRepo, path: str, label: str = "revision") -> None:
        self.repo = repo
        self.module = repo.root / path
        self.label = label
        self.count = 0

    @functools.cached_property
    def original(self) -> str:
        # Read at the first edit: the scale scenarios make their edits before they generate the module.
        return self.module.read_text()

    def __call__(self) -> None:
        self.count += 1
        self.module.write_text(self.original.replace('"""', f'"""[{self.label} {self.count}] ', 1))
        self.repo.commit(f"{self.module.parent.name}: {self.label} {self.count}")


def source_edit(bench: Bench, app_name: str) -> list[Record]:
    app = bench.app(app_name)
    edit = SourceEdits(bench.repo, f"{app.directory}/main.py")
    return [
        measure(build_trial(f"2-edit-{app_name}", alt, [app], publish=True, prepare=edit), bench.plan.repetitions, log=log)
        for alt in bench.alternatives
    ]


def source_edit_with_pantsd(bench: Bench, app_name: str) -> list[Record]:
    """Scenario 2's edit on a developer's laptop: the Pants alternatives with pantsd warm."""
    app = bench.app(app_name)
    edit = SourceEdits(bench.repo, f"{app.directory}/main.py", label="pantsd edit")
    return [
        with_pantsd(bench, build_trial(f"2p-edit-{app_name}-pantsd", alt, [app], publish=True, prepare=edit), alt)
        for alt in (bench.pex_binary, bench.pex_release)
    ]


class LockfileEdits:
    """Adds a requirement no app uses to requirements.txt and its locked entry to default.lock, as
    `./pants generate-lockfiles` would (regenerating for real would drift with the package index), and
    commits; a new one each time, taken from the pytest resolve's lockfile."""

    def __init__(self, repo: ScratchRepo) -> None:
        self.repo = repo
        locks = self.repo.root / "3rdparty/python"
        (default,) = read_lock(locks / "default.lock")["locked_resolves"]
        (pytest,) = read_lock(locks / "pytest.lock")["locked_resolves"]
        taken = {r["project_name"] for r in default["locked_requirements"]}
        self.unused = [r for r in pytest["locked_requirements"] if r["project_name"] not in taken]

    def __call__(self) -> None:
        if not self.unused:
            raise SystemExit("bench: no more unused locked requirements to add; use fewer repetitions")
        entry = self.unused.pop(0)
        name = entry["project_name"]
        add_locked_requirement(self.repo.root, name, entry)
        self.repo.commit(f"lockfile: add {name}, which no app uses")


def lockfile_edit(bench: Bench) -> list[Record]:
    edit = LockfileEdits(bench.repo)
    return [
        measure(build_trial("3-lockfile-edit", alt, bench.apps, publish=True, prepare=edit), bench.plan.repetitions, log=log)
        for alt in bench.alternatives
    ]


# Versions of python-dateutil (in reports' closure, through pandas, which needs >=2.9.0) that the index
# publishes as a pure-Python wheel, other than the one default.lock pins. Each bump pins the one after
# the current pin, in turn: so every alternative's repetitions pin versions its repository lacks.
BUMPED_PROJECT = "python-dateutil"
BUMPED_VERSIONS = ("2.9.0", "3.0.0", "4.0.0")
class DependencyBumps:
    """Another version of one wheel in the heavy app's closure, pinned in default.lock and committed, as
    `./pants generate-lockfiles` writes it when the index publishes a release (regenerating for real
    would drift with the index): the one after the current pin in `versions`."""

    def __init__(self, repo: ScratchRepo, versions: Sequence[str] = BUMPED_VERSIONS) -> None:
        self.repo = repo
        self.versions = tuple(versions)

    def __call__(self) -> None:
        pinned = locked_entry(self.repo.root / "3rdparty/python/default.lock", BUMPED_PROJECT)["version"]
        following = self.versions.index(pinned) + 1 if pinned in self.versions else 0
        version = self.versions[following % len(self.versions)]
        replace_locked_version(self.repo.root, BUMPED_PROJECT, version, index_artifacts(BUMPED_PROJECT, version))
        self.repo.commit(f"lockfile: {BUMPED_PROJECT} {version}")


def dependency_bump(bench: Bench) -> list[Record]:
    bump = DependencyBumps(bench.repo)
    reports = bench.app("reports")
    lockfile = bench.repo.root / "3rdparty/python/default.lock"
    pinned = lockfile.read_bytes()
    records = [
        measure(build_trial("3b-dependency-bump", alt, [reports], publish=True, prepare=bump), bench.plan.repetitions, log=log)
        for alt in bench.alternatives
    ]
    # The bumped pins are hand-written, without the new versions' own requirements (python-dateutil 4
    # needs tzdata): the scenarios after this one build the apps from the lockfile as it was.
    if lockfile.read_bytes() != pinned:
        lockfile.write_bytes(pinned)
        bench.repo.commit(f"lockfile: {BUMPED_PROJECT} as pinned before scenario 3b")
    return records


SUBSET_APP_MAIN = '''"""`numbers`: prints a sum with numpy; its closure (numpy) is part of the reports app's."""

import numpy as np


def main() -> None:
    print(int(np.arange(10).sum()))
'''


def subset_app(bench: Bench) -> list[Record]:
    """A new app whose closure is a subset of the reports app's, published once (a first publish is
    what is measured, so one repetition whatever the plan) on top of the releases already there."""
    directory = bench.repo.root / "src/python/apps/numbers"
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    (directory / "main.py").write_text(SUBSET_APP_MAIN)
    (directory / "BUILD").write_text('python_sources()\n\npex_release(name="release", entry_point="main.py:main")\n')
    app = App("numbers", "apps.numbers.main:main")
    add_pex_binary(bench.repo.root, app)
    bench.repo.commit("numbers: a new app, whose closure is numpy")
    return [measure(build_trial("3c-subset-app", alt, [app], publish=True, prepare=lambda: None), 1, log=log)
            for alt in bench.alternatives]


def add_api_copies(bench: Bench, count: int) -> list[App]:
    """`count` copies of the api app under other names: apps with one shared deps closure."""
    api = bench.repo.root / "src/python/apps/api"
    copies = []
    for i in range(1, count + 1):
        name = f"apicopy{i}"
        copy = api.parent / name
        copy.mkdir()
        for source in ("__init__.py", "app.py", "main.py"):
            (copy / source).write_text((api / source).read_text().replace("apps.api.", f"apps.{name}."))
        (copy / "BUILD").write_text('python_sources()\n\npex_release(name="release", entry_point="main.py")\n')
        app = App(name, f"apps.{name}.main")
        add_pex_binary(bench.repo.root, app)
        copies.append(app)
    bench.repo.commit(f"{count} copies of the api app")
    return copies


def n_apps(bench: Bench) -> list[Record]:
    copies = add_api_copies(bench, max(bench.plan.app_counts))
    return [
        measure(
            build_trial("4-n-apps", alt, copies[:n], publish=False, prepare=alt.renew_build_cache, n=n),
            bench.plan.repetitions,
            log=log,
        )
        for n in bench.plan.app_counts
        for alt in bench.alternatives
    ]


# -----------------------------------------------------------------------------------------------
# Scenarios 10 to 14: a synthetic monorepo of N apps (bench/monorepo.py), as CI and a developer build it
# -----------------------------------------------------------------------------------------------

SCALE_COLD = "10-scale-cold"
SCALE_LIB_EDIT = "11-scale-lib-edit"
SCALE_LIB_EDIT_PANTSD = "12-scale-lib-edit-pantsd"
SCALE_LOCK_EDIT = "13-scale-lock-edit"
SCALE_NO_OP = "14-scale-no-op"
SCALE_SCENARIOS = (SCALE_COLD, SCALE_LIB_EDIT, SCALE_LIB_EDIT_PANTSD, SCALE_LOCK_EDIT, SCALE_NO_OP)
# CI's incremental build: what changed since the commit before the edit, and everything depending on it.
CHANGED_SINCE = "HEAD~1"
# Versions of python-dateutil (in the synthetic aws closure only, through botocore, which needs <3.0.0)
# that the index publishes as a pure-Python wheel, other than the one default.lock pins: nine, so that
# within one N no alternative's repetition pins a version it built before.
SCALE_BUMPED_VERSIONS = ("2.9.0", "2.8.2", "2.8.1", "2.8.0", "2.7.5", "2.7.4", "2.7.3", "2.7.2", "2.7.1")


def changed_trial(scenario: str, alternative: Alternative, apps: Sequence[App], prepare: Callable[[], None],
                  n: int, affected: Callable[[], Sequence[App]]) -> Trial:
    """A rebuild and publish after an edit, as CI runs it: Pants with `--changed-since`, the manual recipe
    for the apps that `affected` (what a CI script knows without a build graph) names."""
    if isinstance(alternative, Manual):
        return Trial(scenario, alternative.name, lambda timer: alternative.build(affected(), timer, publish=True), prepare, n)
    return Trial(scenario, alternative.name,
                 lambda timer: alternative.build(apps, timer, publish=True, changed_since=CHANGED_SINCE), prepare, n)


def stop_pantsd(repo: ScratchRepo) -> None:
    """Ends the pantsd this bench started in the scratch copy (by its pid file)."""
    for pid_file in repo.root.glob(".pids/*/pantsd/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def with_pantsd(bench: Bench, trial: Trial, alternative: Alternative) -> Record:
    """The trial with pantsd on, as `./pants` runs on a laptop: one warm-up repetition (which starts the
    daemon and loads the build graph) discarded, then the plan's repetitions."""
    assert isinstance(alternative, (PexBinary, PexRelease))
    without = alternative.extra_env
    alternative.extra_env = {**without, "PANTS_PANTSD": "true"}
    try:
        return measure(trial, bench.plan.repetitions, warmup=1, log=log)
    finally:
        alternative.extra_env = without
        stop_pantsd(bench.repo)


def scale(bench: Bench, selected: set[str]) -> list[Record]:
    """For each N, the synthetic monorepo grown to N apps (fewer apps are a prefix of more), committed;
    then its cold build, a call with nothing to do, the library edit (without and with pantsd), the lockfile
    edit. Every N publishes into empty repositories of its own. Pants sees only the synthetic apps: the
    example apps beside them are another monorepo's (and pandas, in reports' closure, needs a
    python-dateutil the bumps leave)."""
    for alt in (bench.pex_binary, bench.pex_release):
        alt.extra_env = {"PANTS_FILTER_ADDRESS_REGEX": f"['^src/python/apps/{APP_PREFIX}']"}
    try:
        return scale_records(bench, selected)
    finally:
        for alt in (bench.pex_binary, bench.pex_release):
            alt.extra_env = {}


def scale_records(bench: Bench, selected: set[str]) -> list[Record]:
    records: list[Record] = []
    # One edit counter for the whole run: no edit at a larger N brings back an earlier one's content.
    root, library_edit = bench.repo.root, SourceEdits(bench.repo, EDITED_MODULE, label="library edit")
    lock_edit = DependencyBumps(bench.repo, SCALE_BUMPED_VERSIONS)
    for n in bench.plan.scale_counts:
        apps = generate(root, n)
        bench.repo.commit(f"synthetic monorepo: {n} apps")
        for alt in bench.alternatives:
            alt.repository = bench.base / "repositories" / f"scale-{n}" / alt.name
        if SCALE_COLD in selected:
            records += [measure(build_trial(SCALE_COLD, alt, apps, publish=False, prepare=alt.caches.renew, n=n),
                                bench.plan.repetitions, log=log)
                        for alt in bench.alternatives]
        else:
            for alt in bench.alternatives:  # Warm caches (untimed) for the edits.
                alt.build(apps, StepTimer(), publish=False)
        # The first deploy (untimed), which the edits publish on top of.
        bench.pex_release.build(apps, StepTimer(), publish=True)
        if SCALE_NO_OP in selected:
            # What a Pants call costs at this N when it has nothing to build or upload: the start-up the
            # library edit is judged against.
            records += [measure(build_trial(SCALE_NO_OP, alt, apps, publish=True, prepare=lambda: None, n=n),
                                bench.plan.repetitions, log=log)
                        for alt in (bench.pex_binary, bench.pex_release)]

        def edited_apps(apps: Sequence[App] = apps) -> list[App]:
            return apps_using(root, EDITED_LIBRARY, apps)

        if SCALE_LIB_EDIT in selected:
            # No warm-up: a discarded first edit measured the same (61-71 s against 65-67 s at N=1): without
            # pantsd every `--changed-dependents` run computes the whole repository's dependents again.
            records += [measure(changed_trial(SCALE_LIB_EDIT, alt, apps, library_edit, n, edited_apps),
                                bench.plan.repetitions, log=log)
                        for alt in bench.alternatives]
        if SCALE_LIB_EDIT_PANTSD in selected:
            records += [with_pantsd(bench, changed_trial(SCALE_LIB_EDIT_PANTSD, alt, apps, library_edit, n, edited_apps), alt)
                        for alt in (bench.pex_binary, bench.pex_release)]
        if SCALE_LOCK_EDIT in selected:
            records += [measure(changed_trial(SCALE_LOCK_EDIT, alt, apps, lock_edit, n, lambda apps=apps: apps),
                                bench.plan.repetitions, log=log)
                        for alt in bench.alternatives]
    return records


@contextlib.contextmanager
def remote_cache(bench: Bench) -> Iterator[dict[str, str]]:
    """A BuildGrid on loopback (build-support/remote-cache), and the environment that points Pants at it."""
    state = bench.base / "remote-cache"
    script = str(bench.repo.root / "build-support/remote-cache")
    try:
        started = run([script, "start", "--dir", str(state)], bench.repo.root)
        exports = dict(line[len("export ") :].split("=", 1) for line in started.stdout.splitlines() if line.startswith("export "))
        yield {**{k: v.strip("'") for k, v in exports.items()}, "PANTS_CONFIG_FILES": "pants.ci.toml"}
    finally:
        subprocess.run([script, "stop", "--dir", str(state)], cwd=bench.repo.root, capture_output=True)


def warm_remote_cache(bench: Bench, cold_records: Sequence[Record]) -> list[Record]:
    records = []
    with remote_cache(bench) as env:
        for alt in (bench.pex_binary, bench.pex_release):
            alt.extra_env = env
            try:
                alt.caches.renew()
                alt.build(bench.apps, StepTimer(), publish=False)  # Another machine warms the cache.
                trial = build_trial("5-remote-cache", alt, bench.apps, publish=False, prepare=alt.caches.renew)
                records.append(measure(trial, bench.plan.repetitions, log=log))
            finally:
                alt.extra_env = {}
    # The manual recipe has no shared cache: a fresh machine does its cold build.
    records += [replace(r, scenario="5-remote-cache") for r in cold_records if r.alternative == bench.manual.name]
    return records


# -----------------------------------------------------------------------------------------------
# Scenarios 6, 6b and 7: start-up of the api, cli and reports apps
# -----------------------------------------------------------------------------------------------

BYTECODE_ENV = "PYTHONDONTWRITEBYTECODE"
MANUAL_START = "manual (single file)"
VENV_MODE_START = "pex_release (venv mode, run directly)"
COLD_STARTS = (SINGLE_FILE_START, TREES_START, PEXRUN_START)
# What pip writes for a console_scripts entry point (distlib's template), after the venv's python as shebang.
CONSOLE_SCRIPT = """\
#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {function}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({function}())
"""


@dataclass(frozen=True)
class StartupApp:
    """An app whose start is timed: its arguments, and what says that it has started."""

    name: str
    args: Callable[[int], list[str]]  # Given a free port.
    marker: str = ""  # A server: the clock stops at its first stderr line that holds this; then it is killed.
    output: str = ""  # Else a command: the clock stops at its exit, which must be 0, with this in its stdout.


API_START = StartupApp("api", lambda port: ["--port", str(port)], marker=STARTUP_MARKER)
STARTUP_APPS = (
    API_START,
    StartupApp("cli", lambda _: ["--help"], output="Usage"),
    StartupApp("reports", lambda _: ["--help"], output="usage: reports"),  # After its numpy and pandas imports.
)


def time_to_marker(argv: Sequence[str], env: Mapping[str, str], marker: str) -> float:
    """Seconds from starting argv (in exactly env) to its first stderr line that contains marker; then it is killed."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=dict(env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    watchdog = threading.Timer(STARTUP_TIMEOUT_SECONDS, proc.kill)
    watchdog.start()
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if marker in line:
                return time.perf_counter() - start
            seen.append(line)
        raise CommandFailed(f"`{' '.join(argv)}` never printed {marker!r}:\n{''.join(seen)[-3000:]}")
    finally:
        watchdog.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def time_to_exit(argv: Sequence[str], env: Mapping[str, str], output: str) -> float:
    """Seconds from starting argv (in exactly env) to its exit, which must be 0 with output in its stdout."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), env=dict(env), capture_output=True, text=True, timeout=STARTUP_TIMEOUT_SECONDS)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or output not in proc.stdout:
        raise CommandFailed(f"`{' '.join(argv)}` exited {proc.returncode}, expected 0 and {output!r} in its "
                            f"stdout:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def time_to_start(app: StartupApp, argv: Sequence[str], env: Mapping[str, str]) -> float:
    return time_to_marker(argv, env, app.marker) if app.marker else time_to_exit(argv, env, app.output)


def startup_environ(extra: Mapping[str, str], write_bytecode: bool) -> dict[str, str]:
    """This process's environment with extra, PYTHONDONTWRITEBYTECODE set or removed as asked (the shell
    that starts the bench may set it), and no PYTHONPATH: bench/run's names the checkout's sources."""
    env = {name: value for name, value in os.environ.items() if name not in (BYTECODE_ENV, "PYTHONPATH")}
    return {**env, **({} if write_bytecode else {BYTECODE_ENV: "1"}), **extra}


@dataclass(frozen=True)
class StartupVariant:
    alternative: str
    argv: Callable[[int], list[str]]  # The command line, given a free port.
    env: Mapping[str, str]


def venv_release(app: App) -> str:
    """A venv-mode `pex_release` beside the app's, released as `<app>_venv`."""
    return (f'\npex_release(name="release_venv", app="{app.name}_venv", entry_point="{build_entry_point(app)}", '
            'execution_mode="venv")\n')


def build_startup_forms(bench: Bench) -> None:
    """Builds (untimed, once) every form of the apps that the start-up scenarios run: their releases and
    venv-mode releases (published), pexrun, pex_binary's and manual's single files."""
    apps = [bench.app(start.name) for start in STARTUP_APPS]
    builds = [bench.repo.root / app.directory / "BUILD" for app in apps]
    if all("release_venv" in build.read_text() for build in builds):
        return
    for app, build in zip(apps, builds, strict=True):
        build.write_text(build.read_text() + venv_release(app))
    bench.repo.commit("a venv-mode release of each start-up app")
    addresses = [f"{app.directory}:{target}" for app in apps for target in ("release", "release_venv")]
    bench.pex_release.pants(StepTimer(), "package", "publish", *addresses, "src/python/pexrun:pexrun",
                            env=bench.pex_release.publish_env())
    bench.pex_binary.build(apps, StepTimer(), publish=False)
    unbuilt = [app for app in apps if not bench.manual.output(app).is_file()]
    if unbuilt:
        bench.manual.build(unbuilt, StepTimer(), publish=False)


def form_dir(runtime: Path, alternative: str) -> Path:
    """A form's caches (PEX_ROOT, pexrun's cache), apart from the other forms': their disk use is measured."""
    return runtime / slug(alternative)


def pex_variant(alternative: str, runtime: Path, python: str, pex: Path, app: StartupApp,
                env: Mapping[str, str] | None = None) -> StartupVariant:
    """A PEX file or directory run by python, with a PEX_ROOT of its own."""
    return StartupVariant(
        alternative,
        lambda p: [python, str(pex), *app.args(p)],
        {"PEX_ROOT": str(form_dir(runtime, alternative) / "pex_root"), **(env or {})},
    )


def trees_variant(bench: Bench, app: StartupApp, runtime: Path, alternative: str = TREES_START,
                  release: str | None = None) -> StartupVariant:
    """A release's deps and sources trees in dist/releases, run directly (release: the app's, by default)."""
    releases, manifest = bench.repo.root / "dist/releases", bench.repo.manifest(release or app.name)
    return pex_variant(alternative, runtime, bench.tools.python312, releases / manifest["sources"]["file"], app,
                       {"PEX_PATH": str(releases / manifest["deps"]["file"])})


def pexrun_variant(bench: Bench, app: StartupApp, runtime: Path) -> StartupVariant:
    """`pexrun run` of the app's published release, from the file:// repository."""
    pexrun, version = form_dir(runtime, PEXRUN_START), bench.repo.manifest(app.name)["version"]
    return StartupVariant(
        PEXRUN_START,
        lambda p: [bench.tools.python312, str(bench.repo.root / "dist/pexrun.pyz"), "run", "--cache-dir",
                   str(pexrun / "cache"), bench.pex_release.repository.as_uri(), f"{app.name}@{version}", "--",
                   *app.args(p)],
        {"PEX_ROOT": str(pexrun / "pex_root")},
    )


def startup_variants(bench: Bench, app: StartupApp, runtime: Path) -> list[StartupVariant]:
    """How each PEX form of the app is started, each with its caches under runtime."""
    python, built = bench.tools.python312, bench.app(app.name)
    return [
        pex_variant(MANUAL_START, runtime, python, bench.manual.output(built), app),
        pex_variant(SINGLE_FILE_START, runtime, python, bench.pex_binary.output(built), app),
        trees_variant(bench, app, runtime),
        trees_variant(bench, app, runtime, VENV_MODE_START, release=f"{app.name}_venv"),
        pexrun_variant(bench, app, runtime),
    ]


def console_script(python: str, entry_point: str) -> str:
    """The script pip writes into a venv's bin/ for a console_scripts entry point `module:function`."""
    module, function = entry_point.split(":")
    return CONSOLE_SCRIPT.format(python=python, module=module, function=function)


def pip_environ(write_bytecode: bool) -> dict[str, str]:
    """No pip settings of this machine's (its pip.conf adds a constraints file, its environment find-links)."""
    env = {name: value for name, value in startup_environ({}, write_bytecode).items() if not name.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull}


def install_reference_venv(bench: Bench, app: App, venv: Path, write_bytecode: bool) -> None:
    """`python3.12 -m venv`, `pip install --no-deps` of the release's locked wheel files, the scratch copy's
    first-party sources on its path (a .pth file), and a console script if the entry point is a function."""
    deps = bench.repo.root / "dist/releases" / bench.repo.manifest(app.name)["deps"]["file"]
    wheels = sorted(str(wheel) for wheel in (deps / ".deps").glob("*.whl"))
    assert wheels, f"{deps} has no wheel files"
    env = pip_environ(write_bytecode)
    run([bench.tools.python312, "-m", "venv", str(venv)], bench.base, env)
    run([str(venv / "bin/pip"), "install", "--quiet", "--no-deps", "--no-index", *wheels], bench.base, env)
    (site_packages,) = venv.glob("lib/python3.*/site-packages")
    (site_packages / "acme-sources.pth").write_text(f"{bench.repo.root / 'src/python'}\n")
    if ":" in app.entry_point:
        script = venv / "bin" / app.name
        script.write_text(console_script(str(venv / "bin/python"), app.entry_point))
        script.chmod(0o755)


def venv_command(venv: Path, app: App) -> list[str]:
    """How a user starts the app from its venv: its console script, or `python -m` its module."""
    if ":" in app.entry_point:
        return [str(venv / "bin" / app.name)]
    return [str(venv / "bin/python"), "-m", app.entry_point]


def reference_venv_variant(bench: Bench, app: StartupApp, venv: Path, write_bytecode: bool) -> StartupVariant:
    """The reference the issue sets pexrun's warm start against: a plain venv of the locked wheels (built here)."""
    built = bench.app(app.name)
    install_reference_venv(bench, built, venv, write_bytecode)
    command = venv_command(venv, built)
    return StartupVariant(REFERENCE_VENV, lambda p: [*command, *app.args(p)], {})


def startup_trial(scenario: str, app: StartupApp, variant: StartupVariant, write_bytecode: bool,
                  prepare: Callable[[], None] = lambda: None) -> Trial:
    env = startup_environ(variant.env, write_bytecode)

    def run_once(_: StepTimer) -> Outcome:
        return Outcome(seconds=time_to_start(app, variant.argv(free_port()), env))

    return Trial(scenario, variant.alternative, run_once, prepare, app=app.name)


def remove_bytecode(directory: Path) -> None:
    for cache in list(directory.rglob("__pycache__")):
        shutil.rmtree(cache)


def with_disk_use(bench: Bench, app: StartupApp, runtime: Path, records: Sequence[Record]) -> list[Record]:
    """The records, pexrun's and the trees' with the bytes their caches hold after the app's warm starts."""
    deps_tree, pexrun = bench.repo.manifest(app.name)["deps"]["sha256"], form_dir(runtime, PEXRUN_START)
    disk = {
        PEXRUN_START: {
            DEPS_TREE_BYTES: disk_bytes(pexrun / "cache/trees" / deps_tree),
            DEPS_VENVS_BYTES: disk_bytes(pexrun / "cache/venvs" / deps_tree),
            PEX_ROOT_BYTES: disk_bytes(pexrun / "pex_root"),
        },
        TREES_START: {PEX_ROOT_BYTES: disk_bytes(form_dir(runtime, TREES_START) / "pex_root")},
    }
    return [replace(r, details={**r.details, **disk.get(r.alternative, {})}) for r in records]


def warm_startup(bench: Bench, scenario: str, write_bytecode: bool) -> list[Record]:
    """Every form of each app, each after one discarded run, with caches of the scenario's own."""
    build_startup_forms(bench)
    for directory in ("src/python", "dist/releases"):  # The venvs run the sources in place, as do the trees.
        remove_bytecode(bench.repo.root / directory)
    records: list[Record] = []
    for app in STARTUP_APPS:
        runtime = bench.base / f"runtime-{scenario}" / app.name
        variants = [reference_venv_variant(bench, app, runtime / "venv", write_bytecode),
                    *startup_variants(bench, app, runtime)]
        trials = [startup_trial(scenario, app, v, write_bytecode) for v in variants]
        measured = measure_interleaved(trials, bench.plan.warm_start_repetitions, warmup=1, log=log)
        records += with_disk_use(bench, app, runtime, measured)
    return records


def cold_start(bench: Bench) -> list[Record]:
    """The starts with every cache empty: PEX_ROOT, and pexrun's cache (its repository is local)."""
    build_startup_forms(bench)
    records: list[Record] = []
    for app in STARTUP_APPS:
        runtime = bench.base / "runtime-cold" / app.name
        empty = functools.partial(shutil.rmtree, runtime, ignore_errors=True)
        variants = [v for v in startup_variants(bench, app, runtime) if v.alternative in COLD_STARTS]
        records += [measure(startup_trial("7-cold-start", app, v, write_bytecode=True, prepare=empty),
                            bench.plan.startup_repetitions, log=log) for v in variants]
    return records


# -----------------------------------------------------------------------------------------------
# Scenarios 8 and 9: container images of the api app
# -----------------------------------------------------------------------------------------------

API_IMAGE = "src/python/apps/api:image"
TWO_PEX_TARGETS = ("src/python/apps/api:deps", "src/python/apps/api:srcs")
TWO_PEX_IMAGE = "localhost/acme/api-two-pex:latest"
TWO_PEX_REPOSITORY = "acme/api-two-pex"  # pex_release_image pushes to acme/api, in a registry of its own.
CONTAINER_PEX_ROOT = "/tmp/.pex"  # The tmpfs podman mounts on a read-only root, as pex_release_image's.


def add_two_pex_binaries(bench: Bench) -> None:
    """The deps/srcs pair of single-file PEXes the Pants blog builds for its Dockerfile, beside api's
    `pex_release`: `pex_binary`s with `include_sources=False` and `include_requirements=False`."""
    build = bench.repo.root / "src/python/apps/api/BUILD"
    if 'name="srcs"' in build.read_text():
        return
    build.write_text(
        build.read_text()
        + '\npex_binary(name="deps", entry_point="main.py", include_sources=False)'
        + '\npex_binary(name="srcs", entry_point="main.py", include_requirements=False)\n'
    )
    bench.repo.commit("api: a deps and a sources pex_binary, for a Dockerfile-style image")


@contextlib.contextmanager
def in_checkout(bench: Bench) -> Iterator[None]:
    """The test helpers start build-support/ scripts by relative path."""
    with contextlib.chdir(bench.repo.root):
        yield


def image_summary(bench: Bench) -> dict:
    return json.loads((bench.repo.root / "dist/images/api.image.json").read_text())


def build_image(bench: Bench, timer: StepTimer, registry: OciRegistry) -> Outcome:
    """`./pants package publish` of api's pex_release_image into `registry`."""
    layout = bench.repo.root / "dist/images/api.oci"
    built_before, stored_before = layout_blobs(layout), stored_blob_bytes(registry.data_dir)
    result = bench.pex_release.pants(
        timer, "package", "publish", API_IMAGE, env={"PANTS_PEX_RELEASES_REGISTRY": registry.address}
    )
    summary = image_summary(bench)
    listed = client_uploaded_bytes(result.stdout + result.stderr, summary["manifest"]["size"])
    return Outcome(
        pex_runs=result.pex_runs,
        bytes_written=new_blob_bytes(built_before, layout_blobs(layout)),
        bytes_uploaded=stored_blob_bytes(registry.data_dir) - stored_before,
        details={"bytes the client listed (blobs uploaded and the manifest)": listed, "image layers": len(summary["layers"])},
    )


def build_two_pex_image(bench: Bench, podman: Podman, timer: StepTimer) -> Outcome:
    """The Dockerfile-style image: `./pants package` of the deps/srcs pex_binary pair, then `podman build`
    of a Containerfile FROM the base layers of api's pex_release_image (built first, untimed, if absent)."""
    add_two_pex_binaries(bench)
    layout = bench.repo.root / "dist/images/api.oci"
    if not layout.is_dir():
        bench.pex_release.pants(StepTimer(), "package", API_IMAGE)
    alt = bench.pex_binary
    result = alt.pants(timer, "package", *TWO_PEX_TARGETS)
    with timer.step("podman build"):
        context = bench.base / "two-pex-image"
        summary = image_summary(bench)
        base = base_layout(layout, summary, bench.base / "base.oci")
        context.mkdir(exist_ok=True)
        for name in ("deps.pex", "srcs.pex"):
            shutil.copyfile(bench.repo.root / "dist/src.python.apps.api" / name, context / name)
        (context / "Containerfile").write_text(two_pex_containerfile(base, entrypoint_python(layout, summary), CONTAINER_PEX_ROOT))
        podman.podman("build", "--timestamp", "0", "--tag", TWO_PEX_IMAGE, str(context))
    return Outcome(pex_runs=result.pex_runs, bytes_written=sum(size_of(p) for p in alt.outputs(result)))


def push_two_pex_image(podman: Podman, timer: StepTimer, registry: OciRegistry) -> int:
    """`podman push` to the registry; returns the growth of its blob storage."""
    before = stored_blob_bytes(registry.data_dir)
    with timer.step("podman push"):
        podman.podman("push", "--tls-verify=false", TWO_PEX_IMAGE, f"{registry.address}/{TWO_PEX_REPOSITORY}:latest")
    return stored_blob_bytes(registry.data_dir) - before


def image_edit(bench: Bench) -> list[Record]:
    """A one-line source edit of api, then its image built and pushed: pex_release_image against the
    Dockerfile-style two-PEX image, each into a loopback registry of its own, after a first push (untimed)."""
    registries = bench.base / "registries"
    with contextlib.ExitStack() as stack:
        with in_checkout(bench):
            podman = stack.enter_context(podman_in(bench.base / "podman"))
            image_registry = stack.enter_context(oci_registry(registries / "pex_release_image"))
            two_pex_registry = stack.enter_context(oci_registry(registries / "two-pex"))

        def two_pex(timer: StepTimer) -> Outcome:
            built = build_two_pex_image(bench, podman, timer)
            return replace(built, bytes_uploaded=push_two_pex_image(podman, timer, two_pex_registry))

        trials = [
            Trial("8-image-edit", "pex_release_image", lambda timer: build_image(bench, timer, image_registry)),
            Trial("8-image-edit", "Dockerfile-style two-PEX image (podman build)", two_pex),
        ]
        for trial in trials:  # The first push, which the edits' pushes go on top of.
            trial.run(StepTimer())
        edit = SourceEdits(bench.repo, f"{bench.app('api').directory}/main.py")
        return [measure(replace(trial, prepare=edit), bench.plan.repetitions, log=log) for trial in trials]


def time_to_answer(argv: Sequence[str], env: Mapping[str, str], url: str, stop: Callable[[], None]) -> float:
    """Seconds from starting argv to the first answer of `url`; then stop() and the process is killed."""
    output = tempfile.TemporaryFile("w+")  # Not a pipe: nothing reads it until the end.
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        while time.perf_counter() - start < STARTUP_TIMEOUT_SECONDS and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
        output.seek(0)
        raise CommandFailed(f"`{' '.join(argv)}` never answered {url}:\n{output.read()[-3000:]}")
    finally:
        stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        output.close()


def container_variant(name: str, podman: Podman, image: str) -> tuple[StartupVariant, Callable[[], None]]:
    """A fresh container of image per run (read-only root, host network), and how to remove it."""
    container = f"bench-{slug(name)}"
    argv = lambda p: ["podman", "run", "--rm", f"--name={container}",  # noqa: E731
                      *container_args(image, ["--host", "127.0.0.1", "--port", str(p)], network="host")]
    remove = lambda: podman.podman("rm", "--force", "--time", "0", container, check=False)  # noqa: E731
    return StartupVariant(name, argv, podman.env), remove


def answer_trial(variant: StartupVariant, stop: Callable[[], None]) -> Trial:
    def run_once(_: StepTimer) -> Outcome:
        port = free_port()
        return Outcome(seconds=time_to_answer(variant.argv(port), variant.env, f"http://127.0.0.1:{port}/healthz", stop))

    return Trial("9-container-start", variant.alternative, run_once)


def container_start(bench: Bench) -> list[Record]:
    """A fresh container of api's image to its first answered /healthz, against a warm start of the
    release trees on the host, each after one discarded run."""
    bench.pex_release.pants(StepTimer(), "package", API_IMAGE, "src/python/apps/api:release")
    with in_checkout(bench), podman_in(bench.base / "podman") as podman:
        build_two_pex_image(bench, podman, StepTimer())
        image = podman.load(bench.repo.root / "dist/images/api.oci", "latest")
        host = trees_variant(bench, API_START, bench.base / "runtime-host")
        trials = [
            answer_trial(host, stop=lambda: None),
            answer_trial(*container_variant("pex_release_image (podman run)", podman, image)),
            answer_trial(*container_variant("Dockerfile-style two-PEX image (podman run)", podman, TWO_PEX_IMAGE)),
        ]
        return [measure(trial, bench.plan.startup_repetitions, warmup=1, log=log) for trial in trials]


# -----------------------------------------------------------------------------------------------
# What each scenario measures, for the README
# -----------------------------------------------------------------------------------------------

APPS_TEXT = "src/python/apps/{api,cli,worker,reports}"
MANUAL_RECIPE = (
    "per app, in a scratch project holding the app's package and `src/python/libs/common`, whose "
    "`pyproject.toml` depends on the app's closure pins from `default.lock` (`name==version`): `uv lock`, "
    "`uv export --frozen --no-emit-project --format requirements-txt -o requirements.txt` (checked to "
    "reproduce the pins), `uv build --wheel`, `pip download --only-binary :all: --platform manylinux2014_x86_64 "
    "--platform manylinux_2_28_x86_64 --python-version 312 --abi cp312 --abi abi3 -r requirements.txt -d "
    "wheelhouse`, `pex wheelhouse/*.whl <app>.whl --no-transitive --interpreter-constraint 'CPython==3.12.*' "
    "--python-shebang '/usr/bin/env python3.12' -e <entry point> -o <app>.pex`"
)

SCENARIOS: tuple[ScenarioInfo, ...] = (
    ScenarioInfo(
        "1-cold",
        "1. Cold build of all apps",
        f"Every alternative builds the four apps ({APPS_TEXT}) with empty caches: a fresh Pants local store "
        "(`PANTS_LOCAL_STORE_DIR`) and named caches dir (`PANTS_NAMED_CACHES_DIR`), fresh `UV_CACHE_DIR`, "
        "`PIP_CACHE_DIR` and `PEX_ROOT`; the bootstrap of `./pants` itself is done before. "
        f"**manual**: {MANUAL_RECIPE}. **pex_binary**: `./pants package {APPS_TEXT}:bin` "
        "(a `pex_binary(name=\"bin\", entry_point=...)` added to each app). **pex_release**: "
        f"`./pants package {APPS_TEXT}:release`. Bytes uploaded: what the first deploy to an empty "
        "repository uploads (every PEX file for manual and pex_binary, each distinct blob once for pex_release).",
    ),
    ScenarioInfo(
        "1b-deps-build",
        "1b. The heavy app's deps PEX: wheel files in a packed tree, against installed wheels in a zipapp",
        "The time of the `Building deps PEX ...` process alone (from `--stats-log`), for the reports app "
        "(numpy, pandas, python-dateutil, six), with `layout=\"zipapp\"` (how every release's deps PEX was "
        "built before release trees: pex installs each wheel and zips the result) and with the default "
        "`layout=\"packed\"` (`--no-pre-install-wheels`: the locked wheel files themselves). Each repetition "
        "empties pex_release's local store and removes pex's installed copies of the closure's wheels "
        "(`PEX_ROOT/installed_wheels` in the named caches), keeping its downloads and its own tools: the build "
        "a CI machine with warm download caches runs when the closure is new to it. Bytes written: the deps PEX's.",
    ),
    *(
        ScenarioInfo(
            f"2-edit-{app}",
            f"2{letter}. One-line source edit in the {app} app ({kind}), rebuild and publish",
            f"Per repetition, a new one-line edit of `src/python/apps/{app}/main.py` (its docstring), committed, "
            f"and the {app} app rebuilt and published with warm caches, on top of the cold build's releases "
            f"(published untimed). **manual**: the recipe for {app}, then its PEX copied to a `file://` "
            f"directory. **pex_binary**: `./pants package src/python/apps/{app}:bin`, then the PEX copied. "
            f"**pex_release**: `PANTS_PEX_RELEASES_REPOSITORY=file:///... ./pants package publish "
            f"src/python/apps/{app}:release` (uploads only the files the repository lacks; bytes uploaded: "
            "every file the publish added to the repository, its manifest and indexes included)." + extra,
        )
        for letter, app, kind, extra in (
            ("a", "cli", "one small dependency, click",
             " cli's `pex_release` also has `single_file=True`, so pex_release also builds and uploads its"
             " single-file PEX, whole."),
            ("b", "reports", "the heavy one: numpy and pandas", ""),
        )
    ),
    *(
        ScenarioInfo(
            f"2p-edit-{app}-pantsd",
            f"2p{letter}. The {app} edit with pantsd warm (a developer's loop)",
            f"Scenario 2{letter}'s edit and Pants commands with `PANTS_PANTSD=true` (the default of `./pants` on a "
            "laptop): per alternative one warm-up repetition (which starts pantsd and loads the build graph) is "
            "discarded, then the timed repetitions reuse the daemon; it is stopped afterwards. The manual recipe "
            f"has no daemon: its figure is scenario 2{letter}'s.",
        )
        for letter, app in (("a", "cli"), ("b", "reports"))
    ),
    ScenarioInfo(
        "3-lockfile-edit",
        "3. Unrelated lockfile change, rebuild and publish",
        "Per repetition, a requirement no app uses (taken from `3rdparty/python/pytest.lock`) is added to "
        "`requirements.txt` and its locked entry to `default.lock` (as `generate-lockfiles` would write it), "
        "committed; every app is rebuilt and published. **manual**: the recipe for every app (each app's pins "
        f"come from the shared lockfile), PEX files copied. **pex_binary**: `./pants package {APPS_TEXT}:bin`, "
        f"PEX files copied. **pex_release**: `./pants package publish {APPS_TEXT}:release` (each app gets a "
        "new version, since the commit changed).",
    ),
    ScenarioInfo(
        "3b-dependency-bump",
        "3b. One wheel in the heavy app's closure changes version, rebuild and publish",
        f"Per repetition, `{BUMPED_PROJECT}` (a pure-Python dependency of pandas, in the reports app's closure) "
        f"is pinned in `default.lock` to another version the index publishes (the one after the current pin in "
        f"{', '.join(BUMPED_VERSIONS)}, so no alternative's repository has it yet), with that version's wheel URL "
        "and hash, as `generate-lockfiles` would write it; committed. The reports app is rebuilt and published: **manual** and **pex_binary** copy their "
        "rebuilt PEX file, **pex_release** runs `./pants package publish src/python/apps/reports:release`. "
        "Other figures: the files and wheel bytes pex_release's publish added to the repository.",
    ),
    ScenarioInfo(
        "3c-subset-app",
        "3c. A new app whose closure is a subset of another's, first publish",
        "A new app, `src/python/apps/numbers` (imports numpy only: its closure is part of the reports app's), "
        "is added and committed, then built and published once (a first publish, so one repetition) into the "
        "repositories that already hold the four apps. Other figures: the wheels pex_release's publish added.",
    ),
    ScenarioInfo(
        "4-n-apps",
        "4. N apps sharing one deps closure",
        "N copies of the api app (`src/python/apps/apicopy<i>`, same imports, same closure) are built with "
        "warm download caches but no build cache: for Pants an empty local store with the named caches kept, "
        "for manual warm uv/pip/pex caches (it has no build cache). **manual**: the recipe per copy; "
        "**pex_binary**: `./pants package src/python/apps/apicopy<i>:bin ...`; **pex_release**: "
        "`./pants package src/python/apps/apicopy<i>:release ...`. Bytes uploaded: a first deploy of the N apps.",
    ),
    ScenarioInfo(
        "5-remote-cache",
        "5. Fresh machine with a warm remote cache",
        "`build-support/remote-cache start --dir <dir>` runs a BuildGrid on loopback; with its "
        "`PANTS_REMOTE_STORE_ADDRESS`/`PANTS_REMOTE_INSTANCE_NAME` and `PANTS_CONFIG_FILES=pants.ci.toml`, one "
        f"`./pants package {APPS_TEXT}:<bin|release>` with empty caches warms it (untimed), then each repetition "
        "times the same command with an empty local store and named caches dir (a fresh machine). The manual "
        "recipe has no shared cache: its figure is its cold build (scenario 1).",
    ),
    ScenarioInfo(
        "6-startup",
        "6. Start-up of the api, cli and reports apps",
        f"Per app ({', '.join(f'`src/python/apps/{a.name}`' for a in STARTUP_APPS)}), each form runs once untimed "
        f"first (warm caches), then the forms run in turn (A B C ... A B C: a drift of the machine weighs on each "
        f"alike), {QUICK.warm_start_repetitions} times each ({FULL.warm_start_repetitions} in a full run). **api** (FastAPI + uvicorn): from starting the process to its first "
        "stderr line `\"msg\": \"serving on http://...\"` (logged after its imports), on a free port; then it is "
        "killed. **cli** (click): `--help`, to the process's exit (code 0, `Usage` in its output). **reports** "
        "(its module imports numpy and pandas first): `--help`, to its exit (code 0). Forms, each with a `PEX_ROOT` "
        f"of its own. **{REFERENCE_VENV}**, the reference: `python3.12 -m venv V`, then `V/bin/pip install --no-deps "
        "--no-index dist/releases/deps-<key>.pex/.deps/*.whl` (the release's locked wheel files; "
        "`PIP_CONFIG_FILE=/dev/null`), a `.pth` file in its site-packages naming the scratch copy's `src/python`; "
        "started as a user starts it: cli by its console script `V/bin/cli` (as pip writes one for "
        "`apps.cli.main:cli`), api and reports by `V/bin/python -m apps.<app>.main`. Single file: "
        "`python3.12 <app>.pex ARGS` (manual's PEX, and pex_binary's `dist/src.python.apps.<app>/bin.pex`). "
        "Deps + sources trees, run directly: `PEX_PATH=dist/releases/deps-<key>.pex python3.12 "
        "dist/releases/<app>-srcs.pex ARGS` (both directories). Venv mode: the same with a "
        "`pex_release(execution_mode=\"venv\")` of the app. pexrun: `python3.12 dist/pexrun.pyz run --cache-dir C "
        f"file:///... <app>@<version> -- ARGS`. `{BYTECODE_ENV}` is removed from every run's environment (the "
        "machine's shell may set it), so each form may write bytecode, and so is bench/run's `PYTHONPATH`. The "
        "issue's target: pexrun's start within "
        f"{WARM_START_TARGET:g}× the venv's. Bytes on disk, after an app's runs: apparent sizes, each inode "
        "counted once within a directory (the trees are hard links to pexrun's blobs), as `du --apparent-size` "
        "counts files and symlinks: for pexrun its deps tree `C/trees/<deps tree sha256>/`, its virtualenvs of "
        "that tree `C/venvs/<deps tree sha256>/` and its `PEX_ROOT`; for the trees "
        "run directly their `PEX_ROOT`, where pex installs the wheel files.",
        timing_only=True,
    ),
    ScenarioInfo(
        "6b-startup-no-bytecode",
        f"6b. Start-up of the api, cli and reports apps, with `{BYTECODE_ENV}=1`",
        f"As scenario 6, with `{BYTECODE_ENV}=1` in the environment of every run, the untimed one too, and of "
        "the venvs' creation (pip compiles the wheels it installs all the same): the caches of its own start "
        "empty and the sources' and release trees' `__pycache__` directories are removed before, so a form "
        "has only the bytecode it writes despite the setting, as on a host or in a container that sets it.",
        timing_only=True,
    ),
    ScenarioInfo(
        "7-cold-start",
        "7. Cold start of the api, cli and reports apps: empty caches",
        "As scenario 6 (the same apps, arguments and clocks, bytecode allowed), but before each repetition "
        "`PEX_ROOT` and pexrun's cache are emptied: a host's first start. pex_binary's single file unpacks into "
        "`PEX_ROOT`; the trees run directly install their wheel files into `PEX_ROOT` on first use; pexrun also "
        "fetches every file of the release from the `file://` repository into its cache, verifies it and links "
        f"the trees. The issue's target: pexrun within {COLD_START_TARGET:g}× pex_binary's single file.",
        timing_only=True,
    ),
    ScenarioInfo(
        "8-image-edit",
        "8. One-line source edit in the api app, build and push its container image",
        "Per repetition, a new one-line edit of `src/python/apps/api/main.py` (its docstring), committed, then "
        "api's image built and pushed with warm caches, on top of a first push (untimed) before the edits; each "
        "alternative pushes to a Debian `docker-registry` of its own on loopback (`testing.servers.oci_registry`). "
        "**pex_release_image**: `PANTS_PEX_RELEASES_REGISTRY=127.0.0.1:PORT ./pants package publish "
        f"{API_IMAGE}` (base, pex bootstrap, a layer per wheel, deps, sources; only the blobs the registry lacks "
        "are uploaded). **Dockerfile-style two-PEX image** (as Dagster and the Pants blog build it): "
        f"`./pants package {' '.join(TWO_PEX_TARGETS)}` (two single-file `pex_binary`s added to api: "
        "`include_sources=False` and `include_requirements=False`), then `podman build --timestamp 0` of a "
        "Containerfile `FROM` the base layers of api's pex_release_image (the same base image), `ENV PEX_PATH=/app/deps.pex "
        f"PEX_ROOT={CONTAINER_PEX_ROOT}`, `COPY deps.pex`, `COPY srcs.pex`, the same interpreter as entrypoint; then "
        f"`podman push --tls-verify=false` to `{TWO_PEX_REPOSITORY}`. Podman runs with build-support/containers' "
        "settings. Bytes uploaded, for both: the growth of the registry's blob storage (layers, config and "
        "manifest, under `docker/registry/v2/blobs`). Bytes written: for pex_release_image the blobs new in "
        "`dist/images/api.oci` (the layers, config and manifest the edit changed), for the two-PEX image the "
        "rebuilt PEX files (what its new layers hold). Pex runs count the processes that run pex (the image's "
        "layer and base steps do not). Other figures: for pex_release_image, what its registry client listed "
        "(each uploaded blob, plus the manifest).",
    ),
    ScenarioInfo(
        "9-container-start",
        "9. Start of the api app in a fresh container, against a warm start on the host",
        "Time from starting the process to the first answered `GET /healthz` (polled every 20 ms) on a free "
        "port; each form runs once untimed first. **Host**: api's release trees run directly, as in scenario 6 "
        "(`PEX_PATH=dist/releases/deps-<key>.pex python3.12 dist/releases/api-srcs.pex --port P`, warm "
        "`PEX_ROOT`). **Containers**: `podman run --rm --read-only --network=host IMAGE --host 127.0.0.1 --port P`, "
        "a fresh container each time (PEX_ROOT on the tmpfs podman mounts at /tmp, so nothing carries over between "
        "runs), of api's pex_release_image (`podman pull oci:dist/images/api.oci:latest`) and of scenario 8's "
        "Dockerfile-style two-PEX image. The issue's target: the pex_release_image container within 1.5× of the "
        "warm host start.",
        timing_only=True,
    ),
    ScenarioInfo(
        SCALE_COLD,
        "10. Synthetic monorepo: cold build of all N apps",
        "`bench/monorepo.py` grows the scratch copy to N apps (`src/python/apps/scale<i>`: four modules, about "
        "250 lines an app) over 5 distinct closures of `default.lock` (click; click + setproctitle; fastapi + "
        "uvicorn; numpy; boto3), app i having closure i mod 5, and 3 stdlib-only libraries under "
        "`src/python/libs` (`strings`: the first 10 apps; `tables`: every 2nd; `clock`: every 3rd; three "
        "modules, about 450 lines a library), committed. Each repetition empties every cache (downloads too). "
        "**manual**: the recipe per app; **pex_binary**: `./pants package src/python/apps/scale<i>:bin ...`; "
        "**pex_release**: `./pants package src/python/apps/scale<i>:release ...`. Bytes uploaded: a first "
        "deploy of the N apps.",
    ),
    ScenarioInfo(
        SCALE_LIB_EDIT,
        "11. Synthetic monorepo: one-line edit of a library used by 10 apps, CI's incremental build and publish",
        "Per repetition, a new one-line edit of `src/python/libs/strings/m0.py` (its docstring), committed; "
        "`strings` is imported by min(N, 10) apps, two of each closure. Warm caches, on top of a first publish "
        "of the N apps (untimed). **pex_binary**: `./pants --changed-since=HEAD~1 --changed-dependents=transitive "
        "--filter-target-type=pex_binary package`, rebuilt PEX files copied; **pex_release**: the same with "
        "`--filter-target-type=pex_release package publish` to a `file://` repository. **manual**: a CI script "
        "without a build graph rebuilds (recipe per app) every app whose sources import the library "
        "(`grep -l 'libs.strings' src/python/apps/*/*.py`: it does not follow imports through other "
        "libraries, which this monorepo does not have) and copies their PEX files.",
    ),
    ScenarioInfo(
        SCALE_LIB_EDIT_PANTSD,
        "12. Synthetic monorepo: the library edit with pantsd warm (a developer's laptop)",
        "Scenario 11's edit and Pants commands, with `PANTS_PANTSD=true` (the default of `./pants` on a laptop): "
        "per alternative one warm-up repetition (which starts pantsd and loads the build graph) is discarded, "
        "then the timed repetitions reuse the daemon; it is stopped afterwards. The manual recipe has no "
        "daemon: its figure is scenario 11's.",
    ),
    ScenarioInfo(
        SCALE_LOCK_EDIT,
        "13. Synthetic monorepo: a lockfile edit that changes one closure, CI's incremental build and publish",
        f"Per repetition, `{BUMPED_PROJECT}` (through botocore, in the boto3 closure only: the apps i with i mod 5 "
        f"= 4, none when N < 5) is pinned in `default.lock` to another version the index publishes (the one after "
        f"the current pin in {', '.join(SCALE_BUMPED_VERSIONS)}), committed. Pants: scenario 11's "
        "`--changed-since` commands (every requirement depends on the lockfile, so Pants selects every app). "
        "**manual**: a CI script sees the lockfile changed and rebuilds every app.",
    ),
    ScenarioInfo(
        SCALE_NO_OP,
        "14. Synthetic monorepo: a Pants call with nothing to build or upload",
        "Right after the first deploy of the N apps, with nothing changed: **pex_binary**: `./pants package "
        "src/python/apps/scale<i>:bin ...`; **pex_release**: `./pants package publish src/python/apps/scale<i>:release "
        "...` (every process a cache hit, every blob already in the repository). This is Pants' start-up at "
        "that size (a fresh process, the build graph of N apps, cache lookups), the cost scenario 11's library edit "
        "is judged against. The manual recipe has no such call: it rebuilds what it is told to.",
    ),
)

NOTES = (
    "Every `./pants` call runs as `PANTS_PANTSD=false ./pants --stats-log ...`, as CI does: each pays its "
    "start-up, shown as the step `./pants outside logged processes`. Steps named after Pants processes "
    "overlap (two run at once on two cores), so they do not add up to the wall time. Where pex_release "
    "publishes (scenarios 2 and 3), that step also holds the upload: `publish` runs its publisher as an "
    "interactive process, which the log does not time.",
    "pex runs: for Pants the `Completed: Building ...` / `Resolving the closure ...` processes of `--stats-log` "
    "(cache hits run nothing); for manual its `pex` invocations.",
    "Bytes written: the total size of the output PEXes (files, or the files of a tree) whose build ran (outputs "
    "restored from a cache do not count). Bytes uploaded, where a scenario publishes (2, 3, 3b, 3c): for manual "
    "and pex_binary every rebuilt PEX file (they ship whole files), for pex_release every file its publish added "
    "to the `file://` repository (blobs the repository lacked, the manifest, the rewritten indexes). Where a "
    "scenario only builds (1, 4, 5): what a first deploy of those apps to an empty repository uploads (each "
    "distinct file once for pex_release).",
    "The manual recipe's `pip download` adds `--platform manylinux_2_28_x86_64` to the usual manylinux2014: "
    "numpy 2.5.5 and pandas 3.1.1, pinned in `default.lock`, publish no manylinux2014 wheels.",
    "In scenarios 10 to 14 Pants runs with `PANTS_FILTER_ADDRESS_REGEX=['^src/python/apps/scale']`: it "
    "builds the synthetic apps only, not the example apps in the same scratch copy.",
    "Scenarios 2p and 12 alone run `./pants` with pantsd (`PANTS_PANTSD=true`, as on a laptop: a developer's "
    "loop), after one warm-up call that starts the daemon; every other figure is `--no-pantsd`, as CI runs. "
    "Set side by side (2 against 2p, 11 against 12), they show the start-up a developer saves.",
    "In the scratch copy the api app's pinned `version=\"1.4.0\"` is dropped, so every release's version "
    "derives from its commit: a published version is immutable and its manifest names the commit.",
)


# -----------------------------------------------------------------------------------------------
# Main
# -----------------------------------------------------------------------------------------------


def tool_version(argv: Sequence[str]) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    return (proc.stdout or proc.stderr).strip().splitlines()[0]


def versions(bench: Bench) -> dict[str, str]:
    import matplotlib

    pants_version = re.search(r'pants_version = "([^"]+)"', (bench.repo.root / "pants.toml").read_text())
    return {
        "Pants": pants_version.group(1) if pants_version else "unknown",
        "pex": tool_version([bench.tools.bin("pex"), "--version"]),
        "uv": tool_version([bench.tools.bin("uv"), "--version"]),
        "pip": tool_version([bench.tools.bin("python"), "-m", "pip", "--version"]).split(" from ")[0],
        "Python (apps)": tool_version([bench.tools.python312, "--version"]),
        "Python (Pants)": tool_version([find_python("3.9"), "--version"]),
        "Python (bench)": sys.version.split()[0],
        "matplotlib": matplotlib.__version__,
    }


def run_scenarios(bench: Bench, selected: set[str]) -> list[Record]:
    records: list[Record] = []
    steps: list[tuple[str, Callable[[], list[Record]]]] = [
        ("1-cold", lambda: cold_build(bench)),
        ("2-edit-cli", lambda: source_edit(bench, "cli")),
        ("2-edit-reports", lambda: source_edit(bench, "reports")),
        ("2p-edit-cli-pantsd", lambda: source_edit_with_pantsd(bench, "cli")),
        ("2p-edit-reports-pantsd", lambda: source_edit_with_pantsd(bench, "reports")),
        ("3-lockfile-edit", lambda: lockfile_edit(bench)),
        ("3b-dependency-bump", lambda: dependency_bump(bench)),
        ("3c-subset-app", lambda: subset_app(bench)),
        # Empties pex_release's local store, as scenario 4 does for every alternative: so it runs late.
        ("1b-deps-build", lambda: deps_build(bench)),
        ("4-n-apps", lambda: n_apps(bench)),
        ("5-remote-cache", lambda: warm_remote_cache(bench, [r for r in records if r.scenario == "1-cold"])),
        ("6-startup", lambda: warm_startup(bench, "6-startup", write_bytecode=True)),
        ("6b-startup-no-bytecode", lambda: warm_startup(bench, "6b-startup-no-bytecode", write_bytecode=False)),
        ("7-cold-start", lambda: cold_start(bench)),
        ("8-image-edit", lambda: image_edit(bench)),
        ("9-container-start", lambda: container_start(bench)),
    ]
    for scenario, measure_it in steps:
        if scenario in selected:
            log(f"scenario {scenario}")
            records += measure_it()
    if selected & set(SCALE_SCENARIOS):  # Last: they add N apps to the scratch copy.
        log(f"scenarios {', '.join(s for s in SCALE_SCENARIOS if s in selected)}")
        records += scale(bench, selected)
    return records


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repetition of builds, N in {1, 5}")
    parser.add_argument("--scenarios", default=",".join(s.id for s in SCENARIOS),
                        help="comma-separated scenario ids (default: all); 2, 3 and 5 build on 1")
    parser.add_argument("--scale-apps", type=lambda text: tuple(int(n) for n in text.split(",")),
                        help="comma-separated N of the scale scenarios (default: 1,10,50), e.g. 1,3 to try them")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--render-only", action="store_true", help="render README.md and plots from latest.json")
    parser.add_argument("--output", type=Path, default=BENCH,
                        help="write README.md and results/ (latest.json, plots) there instead of bench/: for a partial run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    output = args.output.resolve()
    latest = output / "results/latest.json"
    if args.render_only:
        render(json.loads(latest.read_text()), output)
        return 0
    plan = QUICK if args.quick else FULL
    if args.scale_apps:
        plan = replace(plan, scale_counts=args.scale_apps)
    selected = set(args.scenarios.split(","))
    machine = this_machine()  # The load average before anything runs.
    started = time.perf_counter()
    with bench_in_scratch(plan, args.keep) as bench:
        records = run_scenarios(bench, selected)
        results = Results(
            date=utc_now(),
            mode=plan.mode,
            machine=machine,
            versions=versions(bench),
            scenarios=SCENARIOS,
            records=tuple(records),
            notes=(*NOTES, f"The whole `bench/run{' --quick' if args.quick else ''}` took "
                           f"{(time.perf_counter() - started) / 60:.1f} minutes."),
        )
    results.write(latest)
    readme = render(results.to_json(), output)
    log(f"wrote {latest} and {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
