# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Checking the interpreter against a release's constraints, and handing the process over to it."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import packaging
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pex_release_core.manifest import ReleaseManifest
from pexrun.cache import FetchedRelease
from pexrun.start import ENTRY_POINT_OVERRIDES, exec_argv

if TYPE_CHECKING:
    from pexrun.venvs import ReleaseVenv

_PROBE = "import platform, sys; sys.stdout.write(platform.python_implementation() + ' ' + platform.python_version())"
# An interpreter constraint as Pants writes it: an implementation (optional), then specifiers.
_CONSTRAINT = re.compile(r"\s*(?P<name>[A-Za-z][A-Za-z0-9._-]*)?\s*(?P<specifiers>[^A-Za-z].*)?", re.DOTALL)
# Run by another interpreter with pexrun's own `packaging` (argv[1] is the directory holding it).
_TAGS_PROBE = "import sys; sys.path.insert(0, sys.argv[1]); from packaging.tags import sys_tags; print(*sys_tags())"


class LaunchError(Exception):
    """The release cannot run here as asked; the message says why and what to do."""


def parse_constraint(constraint: str) -> tuple[str, SpecifierSet]:
    """An interpreter constraint read as Pants reads it: `CPython==3.12.*`, `CPython>=3.11,<3.13`,
    or bare specifiers (`>=3.9`), which mean CPython; returns the implementation and the versions.
    (packaging's requirement parser would do, but importing it costs each start about 40 ms.)"""
    match = _CONSTRAINT.fullmatch(constraint)
    try:
        if match is None:
            raise InvalidSpecifier(constraint)
        return match["name"] or "CPython", SpecifierSet(match["specifiers"] or "")
    except InvalidSpecifier:
        raise LaunchError(
            f"The release's interpreter constraint {constraint!r} is not valid: rebuild it with valid "
            "`interpreter_constraints` (e.g. `CPython==3.12.*`)."
        ) from None


def _allows(constraint: str, implementation: str, version: Version) -> bool:
    name, versions = parse_constraint(constraint)
    return name.lower() == implementation.lower() and versions.contains(version, prereleases=True)


@dataclass(frozen=True)
class Interpreter:
    path: str
    implementation: str  # As platform.python_implementation() says it: "CPython", "PyPy".
    version: Version

    @classmethod
    def at(cls, path: str) -> Interpreter:
        """The interpreter at path (or named path on PATH); others than this one are run to ask."""
        executable = shutil.which(path)
        if executable is None:
            raise LaunchError(f"{path} is not an executable file: pass --python /path/to/python.")
        if sys.executable and os.path.samefile(executable, sys.executable):
            return cls(executable, platform.python_implementation(), Version(platform.python_version()))
        try:
            probe = subprocess.run([executable, "-S", "-c", _PROBE], capture_output=True, text=True, timeout=60)
            implementation, version = probe.stdout.split()
            return cls(executable, implementation, Version(version))
        except (OSError, subprocess.SubprocessError, ValueError, InvalidVersion):
            raise LaunchError(f"{executable} is not a working Python interpreter: pass --python /path/to/python.") from None

    def supported_tags(self) -> tuple[str, ...]:
        """The wheel tags this interpreter supports on this host, most specific first."""
        if sys.executable and os.path.samefile(self.path, sys.executable):
            from packaging.tags import sys_tags  # only releases built for platforms need it

            return tuple(str(tag) for tag in sys_tags())
        packaging_root = os.path.dirname(os.path.dirname(packaging.__file__))
        try:
            probe = subprocess.run(
                [self.path, "-S", "-c", _TAGS_PROBE, packaging_root], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise LaunchError(f"Could not ask {self} for its platform: {e}") from None
        if probe.returncode != 0 or not probe.stdout.split():
            raise LaunchError(f"Could not ask {self} for its platform: {probe.stderr.strip()[-500:]}")
        return tuple(probe.stdout.split())

    def satisfies(self, constraint: str) -> bool:
        return _allows(constraint, self.implementation, self.version)

    def __str__(self) -> str:
        return f"{self.implementation} {self.version} ({self.path})"


def check_interpreter(interpreter: Interpreter, manifest: ReleaseManifest) -> None:
    constraints = manifest.interpreter_constraints
    if not constraints or any(interpreter.satisfies(c) for c in constraints):
        return
    example = f"python{_example_version(constraints)}"
    raise LaunchError(
        f"{manifest.app} {manifest.version} needs Python {' or '.join(constraints)}, but this is {interpreter}. "
        f"Pass --python /path/to/{example}, or run pexrun itself with that Python (`{example} pexrun.pyz run ...`)."
    )


def check_platforms(interpreter: Interpreter, manifest: ReleaseManifest) -> None:
    """A release built for `platforms` holds wheels for those only: it runs where the interpreter
    supports one platform's most specific tag. A release without platforms is not checked here."""
    wanted = manifest.platform_tags
    if not wanted:
        return
    supported = interpreter.supported_tags()
    if set(wanted) & set(supported):
        return
    platforms = [*manifest.platforms, *(f"the complete platform {p.tag}" for p in manifest.complete_platforms)]
    interpreter_tag, abi, platform_tag = supported[0].split("-", 2)
    raise LaunchError(
        f"{manifest.app} {manifest.version} is built for {', '.join(platforms)} (wheel tags {', '.join(wanted)}), "
        f"and this host cannot run it: the most specific wheel tag of {interpreter} here is {supported[0]}. "
        "Run it on a host of its platforms, pass --python with an interpreter that matches one, or rebuild "
        f"it with `platforms` that include this host's, e.g. `{platform_tag}-{interpreter_tag[:2]}-{interpreter_tag[2:]}-{abi}`."
    )


def _example_version(constraints: Sequence[str]) -> str:
    """The oldest CPython 3.x the constraints allow, to name in advice (3 if none of 3.0 to 3.29 fits)."""
    for minor in range(30):
        if any(_allows(c, "CPython", Version(f"3.{minor}.0")) for c in constraints):
            return f"3.{minor}"
    return "3"


def script_entry_point(manifest: ReleaseManifest, script: str | None) -> str | None:
    """The entry point of the release's script named `script`, checked before anything is fetched."""
    if script is None:
        return None
    if script not in manifest.scripts:
        available = ", ".join(sorted(manifest.scripts)) or "none"
        raise LaunchError(f"{manifest.app} {manifest.version} has no script {script!r} (its scripts: {available}).")
    return manifest.scripts[script]


def venv_command(venv: ReleaseVenv, release: FetchedRelease, entry_point: str | None) -> tuple[list[str], dict[str, str]]:
    """The command that starts the release from its venv, but for the user's args (see
    pexrun/release_main.py), and the env its PEX injects: what its PEX-INFO says pex would run, or
    the entry point given (without the injected args, as pex skips them for `PEX_MODULE`)."""
    path = release.sources / "PEX-INFO"
    try:
        pex_info = json.loads(path.read_bytes())
        inject_env = {str(name): str(value) for name, value in pex_info.get("inject_env", {}).items()}
        injected = [str(arg) for arg in pex_info.get("inject_args", [])]
        if entry_point is not None:
            kind, target, injected = "entry-point", entry_point, []
        elif pex_info.get("script"):
            kind, target = "script", str(pex_info["script"])
        else:
            kind, target = "entry-point", str(pex_info["entry_point"])
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        raise LaunchError(
            f"{release.manifest.app} {release.manifest.version}: {path} names no entry point pexrun can run: the "
            "sources PEX is damaged or was not built by pex. Publish the release again."
        ) from None
    python = str(venv.python)  # its own path, not the interpreter's: Python finds its venv from it
    return [python, str(venv.runner), str(release.sources), kind, target, str(len(injected)), *injected], inject_env


def release_environ(release: FetchedRelease, entry_point: str | None, base: Mapping[str, str]) -> dict[str, str]:
    env = {name: value for name, value in base.items() if name not in ENTRY_POINT_OVERRIDES}
    env.update(
        PEX_PATH=str(release.deps),
        PEXRUN_APP=release.manifest.app,
        PEXRUN_VERSION=release.manifest.version,
    )
    if entry_point is not None:
        env["PEX_MODULE"] = entry_point
    return env


def exec_release(interpreter: Interpreter, release: FetchedRelease, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Replaces this process with the release run by pex's runtime."""
    exec_argv([interpreter.path, str(release.sources), *args], env)
