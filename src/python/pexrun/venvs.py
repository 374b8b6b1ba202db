# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The installed form of a deps tree: a virtual environment of its wheels, per interpreter, which
`pexrun run` starts releases from without pex's runtime.

    <cache>/venvs/<deps tree sha256>/<interpreter>/                    a venv (`python -m venv --without-pip`)
                                                                       holding the tree's wheels, and pexrun_main.py
    <cache>/venvs/<deps tree sha256>/<interpreter>/pexrun-record.json  each entry's sha256, size and mode (or link
                                                                       target), and its stat when last verified
    <cache>/venvs/.<deps tree sha256>.<interpreter>.<random>           a venv being built, renamed into place whole

`<interpreter>` is `<implementation>-<version>-<hash of its real path>`: a venv is built by, and only
ever run with, one interpreter. The wheels are the deps tree's `.deps/*.whl` files, which are
verified blobs; pypa's `installer` installs them as pip would (console scripts included), and
the interpreter compiles what a release imports on first import (pexrun_main.py lets it write
bytecode whatever PYTHONDONTWRITEBYTECODE says): compiling everything ahead would make a first start
several times slower (10 CPU-s for numpy and pandas).

Checks are those of trees (see pexrun.cache), with the record standing for the manifest: a warm
start compares each recorded entry's lstat with the record; on a difference pexrun hashes the
venv's files against it, records their new stat if they are intact, and otherwise builds the venv
again from the (verified) deps tree. The record is written by pexrun as it builds the venv, so the
venv is as trustworthy as the blobs it was installed from, on the same terms as a tree: accidents,
killed runs and damaged files, not the cache's own user. Bytecode (`__pycache__`) is not recorded:
Python checks each `.pyc` against its source's mtime and size, and a `.pyc` damaged in place is
not seen (removing the venv rebuilds it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pkgutil
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

from pex_release_core.manifest import ReleasePex
from pex_release_core.transfer import file_sha256
from pexrun.cache import VENVS_DIR, CacheError, FetchedRelease, make_directory, move_into_place, room_for, write_atomically
from pexrun.launch import Interpreter
from pexrun.progress import Progress
from pexrun.start import fingerprint

RUNNER = "pexrun_main.py"
_RECORD = "pexrun-record.json"
_VENV_TIMEOUT_SECONDS = 120
_FILE_MODE, _EXECUTABLE_MODE = 0o444, 0o555
# The venv's own install paths, as its interpreter sees them (a venv's scheme differs between versions).
_PATHS_PROBE = "import json, sys, sysconfig; json.dump(sysconfig.get_paths(), sys.stdout)"
# How the venv's python starts, run with -E -S (no environment, no site): its interpreter, its
# standard library's import path, and the site-packages that `site` adds for the venv's prefix.
_START_PROBE = (
    "import json, os, site, sys; base = getattr(sys, '_base_executable', sys.executable); "
    "json.dump({'executable': sys.executable, 'base_executable': base, 'interpreter': os.path.realpath(base), 'stdlib': sys.path[1:], "
    "'site_packages': site.getsitepackages([sys.argv[1]])}, sys.stdout)"
)


@dataclass(frozen=True)
class ReleaseVenv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def runner(self) -> Path:
        return self.root / RUNNER


def interpreter_key(interpreter: Interpreter) -> str:
    real_path = os.path.realpath(interpreter.path)
    return f"{interpreter.implementation.lower()}-{interpreter.version}-{hashlib.sha256(real_path.encode()).hexdigest()[:12]}"


def wheel_files(deps: ReleasePex, tree: Path) -> list[str] | None:
    """The deps tree's wheel files (`.deps/*.whl`), or None when its PEX holds wheels pex installed
    at build time (older builds), which only pex's runtime runs."""
    try:
        pex_info = json.loads((tree / "PEX-INFO").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(pex_info, dict) or not pex_info.get("deps_are_wheel_files"):
        return None
    return sorted(f.path for f in deps.files if f.path.startswith(".deps/") and f.path.count("/") == 1 and f.path.endswith(".whl"))


def _entries(root: Path) -> dict[str, list[object]]:
    """Each file's [sha256, size, mode] and each symlink's ["->", target] under root, but bytecode and the record."""
    entries: dict[str, list[object]] = {}
    for parent, directories, names in os.walk(root):  # not into linked directories (a venv's lib64)
        directories[:] = [d for d in directories if d != "__pycache__"]
        for name in (*names, *directories):
            path = os.path.join(parent, name)
            mode = os.lstat(path).st_mode
            relative = os.path.relpath(path, root)
            if stat.S_ISLNK(mode):
                entries[relative] = ["->", os.readlink(path)]
            elif stat.S_ISREG(mode) and relative != _RECORD:
                sha256, size = file_sha256(Path(path))
                entries[relative] = [sha256, size, stat.S_IMODE(mode)]
    return entries


def _make_read_only(root: Path) -> None:
    """Its files read-only, as the cache's blobs and trees are (0555 for executables, else 0444); its
    directories stay writable, for the bytecode Python writes."""
    for parent, _, names in os.walk(root):
        for name in names:
            path = os.path.join(parent, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, _EXECUTABLE_MODE if mode & 0o111 else _FILE_MODE)


class VenvCache:
    """The venvs of a cache's deps trees (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._venvs = root / VENVS_DIR

    def venv_path(self, deps: ReleasePex, interpreter: Interpreter) -> Path:
        return self._venvs / deps.sha256 / interpreter_key(interpreter)

    def for_release(
        self, release: FetchedRelease, interpreter: Interpreter, progress: Progress | None, *, verify: bool = False
    ) -> tuple[ReleaseVenv | None, list[str]]:
        """The venv the release runs from with interpreter, built or repaired as needed, and a note for a
        repair; None for a release only pex's runtime runs (a zipapp layout, or wheels pex installed at
        build time). With `verify`, the files of a venv in place are hashed even if their stat is unchanged."""
        deps = release.manifest.deps
        if not deps.is_tree:
            return None, []
        venv = ReleaseVenv(self.venv_path(deps, interpreter))
        if not verify and self._unchanged(venv.root):
            return venv, []
        wheels = wheel_files(deps, release.deps)
        if wheels is None:
            return None, []
        try:
            replacing: int | None = venv.root.lstat().st_ino
        except (FileNotFoundError, NotADirectoryError):
            replacing = None
        if replacing is not None and self._intact(venv.root):
            with contextlib.suppress(OSError):  # read-only: it is hashed again next time
                self._write_record(venv.root, self._record(venv.root)["files"])
            return venv, []
        if progress:
            progress.installing(deps.file, len(wheels), str(interpreter))
        self._build(deps, release.deps, wheels, interpreter, venv.root, replacing)
        if replacing is None:
            return venv, []
        return venv, [
            f"{venv.root}, the virtualenv of {deps.file} for {interpreter}, had changed since pexrun built it: a "
            "file's bytes, mode or type differs from its record. pexrun built it again from verified blobs."
        ]

    @classmethod
    def start_layout(cls, venv: ReleaseVenv) -> dict[str, object]:
        """What pexrun.start needs to run a release in its own process as the venv's python would
        start it (see pexrun.start._become); raises CacheError if the venv's python cannot say."""
        layout = json.loads(cls._run(f"the virtualenv {venv.root}", str(venv.python), "-E", "-S", "-c", _START_PROBE, str(venv.root)))
        return {**layout, "prefix": str(venv.root)}

    def venv_stat(self, venv: ReleaseVenv) -> dict[str, list[int]]:
        """Its entries' stat as last verified (raises OSError or ValueError if its record is damaged)."""
        return self._record(venv.root)["stat"]

    @staticmethod
    def _record(root: Path) -> dict:
        record = json.loads((root / _RECORD).read_bytes())
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict) or not isinstance(record.get("stat"), dict):
            raise ValueError(f"{root / _RECORD} is damaged")
        return record

    def _unchanged(self, root: Path) -> bool:
        try:
            record = self._record(root)
            return len(record["stat"]) == len(record["files"]) and all(
                value == fingerprint(f"{root}/{path}") for path, value in record["stat"].items()
            )
        except (OSError, ValueError):
            return False

    def _intact(self, root: Path) -> bool:
        try:
            files = self._record(root)["files"]
            return bool(files) and _entries(root) == files
        except (OSError, ValueError):
            return False

    @staticmethod
    def _write_record(root: Path, files: dict) -> None:
        stats = {path: fingerprint(f"{root}/{path}") for path in files}
        write_atomically(root / _RECORD, json.dumps({"files": files, "stat": stats}, sort_keys=True).encode())

    def _build(
        self, deps: ReleasePex, tree: Path, wheels: list[str], interpreter: Interpreter, venv: Path, replacing: int | None
    ) -> None:
        what = f"the virtualenv of {deps.file} for {interpreter}"
        try:
            make_directory(self.root, venv.parent)
            building = self._venvs / f".{deps.sha256}.{venv.name}.{uuid.uuid4().hex}"
        except OSError as e:
            raise CacheError(
                f"Cannot build {what} in the cache {self.root}: {e.strerror}. Make it writable, or use another with "
                "--cache-dir DIR (or $PEXRUN_CACHE_DIR)."
            ) from None
        try:
            with room_for(self.root, what):
                self._run(what, interpreter.path, "-m", "venv", "--without-pip", str(building))
                paths = json.loads(self._run(what, str(building / "bin" / "python"), "-c", _PATHS_PROBE))
                for wheel in wheels:
                    self._install(tree / wheel, paths, venv)
                runner = pkgutil.get_data("pexrun", "release_main.py")
                assert runner is not None
                (building / RUNNER).write_bytes(runner)
                _make_read_only(building)
                self._write_record(building, _entries(building))
                move_into_place(building, venv, replacing, lambda: self._unchanged(venv))
        finally:
            shutil.rmtree(building, ignore_errors=True)

    @staticmethod
    def _run(what: str, *argv: str) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=_VENV_TIMEOUT_SECONDS)
        except (OSError, subprocess.SubprocessError) as e:
            raise CacheError(f"Could not build {what}: `{' '.join(argv)}` failed: {e}") from None
        if done.returncode != 0:
            raise CacheError(
                f"Could not build {what}: `{' '.join(argv)}` exited with {done.returncode}: {done.stderr.strip()[-1000:]}"
            )
        return done.stdout

    @staticmethod
    def _install(wheel: Path, paths: dict[str, str], venv: Path) -> None:
        """Installs one wheel into the venv being built, at paths (its interpreter's install paths),
        with console scripts that name the interpreter of the venv once in place."""
        with WheelFile.open(wheel) as source:
            # As pip puts them in a venv: <venv>/include/site/python3.X/<distribution>.
            include = os.path.join(paths["data"], "include", "site", os.path.basename(os.path.dirname(paths["purelib"])))
            destination = SchemeDictionaryDestination(
                scheme_dict={
                    "purelib": paths["purelib"],
                    "platlib": paths["platlib"],
                    "scripts": paths["scripts"],
                    "data": paths["data"],
                    "headers": os.path.join(include, source.distribution),
                },
                interpreter=str(venv / "bin" / "python"),
                script_kind="posix",
            )
            install(source, destination, additional_metadata={"INSTALLER": b"pexrun\n"})
