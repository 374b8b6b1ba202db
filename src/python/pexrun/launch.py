# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Choosing the interpreter a release needs, and handing the process over to the release."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from pexrun.cache import FetchedRelease

# An interpreter constraint is an optional implementation name, then PEP 440 specifiers:
# `CPython==3.12.*`, `CPython>=3.11,<3.13`, `>=3.9`.
_CONSTRAINT = re.compile(r"^\s*(?P<impl>[A-Za-z][A-Za-z0-9]*)?\s*(?P<specifiers>.*)$")


class LaunchError(Exception):
    """The release cannot run here as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Interpreter:
    path: str
    implementation: str
    version: Version

    @classmethod
    def of(cls, path: str) -> Interpreter:
        if os.path.realpath(path) == os.path.realpath(sys.executable):
            return cls(path, platform.python_implementation(), Version(platform.python_version()))
        try:
            out = subprocess.run(
                [path, "-c", "import platform; print(platform.python_implementation(), platform.python_version())"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
        except (OSError, subprocess.CalledProcessError) as e:
            raise LaunchError(f"{path} is not a working Python interpreter: {e}")
        return cls(path, out[0], Version(out[1]))

    def satisfies(self, constraint: str) -> bool:
        match = _CONSTRAINT.match(constraint)
        assert match is not None  # every part of the pattern is optional
        impl, specifiers = match.group("impl"), match.group("specifiers")
        try:
            specifier_set = SpecifierSet(specifiers)
        except InvalidSpecifier:
            raise LaunchError(f"The manifest's interpreter constraint {constraint!r} is not valid.")
        same_impl = not impl or impl.lower() == self.implementation.lower()
        return same_impl and specifier_set.contains(self.version, prereleases=True)

    def __str__(self) -> str:
        return f"{self.implementation} {self.version} ({self.path})"


def check_interpreter(interpreter: Interpreter, release: FetchedRelease) -> None:
    constraints = release.manifest.interpreter_constraints
    if constraints and not any(interpreter.satisfies(c) for c in constraints):
        manifest = release.manifest
        raise LaunchError(
            f"{manifest.app} {manifest.version} needs Python {' or '.join(constraints)}, but this is "
            f"{interpreter}. Run pexrun with a matching Python (e.g. `python3.12 pexrun.pyz ...`) or pass "
            "`--python /path/to/python`."
        )


def release_environ(release: FetchedRelease, script: str | None, base: Mapping[str, str]) -> dict[str, str]:
    manifest = release.manifest
    env = {
        **base,
        "PEX_PATH": str(release.deps),
        "PEXRUN_APP": manifest.app,
        "PEXRUN_VERSION": manifest.version,
    }
    if script is not None:
        if script not in manifest.scripts:
            available = ", ".join(sorted(manifest.scripts)) or "none"
            raise LaunchError(f"{manifest.app} {manifest.version} has no script {script!r} (its scripts: {available}).")
        env["PEX_MODULE"] = manifest.scripts[script]
    return env


def exec_release(interpreter: Interpreter, release: FetchedRelease, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Replaces this process with the release, so signals reach it directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(interpreter.path, [interpreter.path, str(release.sources), *args], dict(env))
