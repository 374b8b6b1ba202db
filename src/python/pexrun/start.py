# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun's entry point: a warm `run` goes straight to the release; anything else is pexrun.main.

Each `run` that starts a release from its venv writes down, in a launch record, what it checked and
what it exec'd:

    <cache>/launches/<app>/<version>/<cache tag>.marshal   {invocation: {"checks": [(root, {path: stat}), ...],
                                                                         "exec": argv, ...}}

The invocation is the repository, the release, the interpreter (`--python`, else pexrun's own),
`--script` and $PEXRUN_TRUSTED_KEYS as given. The record is in marshal's format, which Python reads
without importing anything (json would import re: 8 ms), one file per Python version that runs
pexrun (`cpython-312`), as marshal's format is that Python's. The checks are the stat (inode, size, mode, mtime) of every file the decision rested on, as
pexrun recorded them when it verified them: the repository's manifest, the interpreter, the trusted
keys, and each entry of the release's trees and of its venv. A later `run` of the same invocation
whose checks all hold (and whose environment sets no variable of pex's runtime) execs the release
with the standard library's os, sys and marshal only, in a few milliseconds: the same process pexrun.main
would start, on the terms pexrun.cache gives trees (a change to any checked file sends the run to
pexrun.main, which verifies and repairs). Only `file://` repositories and exact versions qualify:
another repository, the highest version or a channel needs the repository's answer on every run.
Options this parser does not know (or `--opt=value` forms) go to pexrun.main, which knows them all.

Where it can, the warm start runs the release in this process rather than exec the venv's python,
saving an interpreter start (about 15 ms of a 70 ms CLI): when this is the venv's interpreter,
started with no options of its own (Python 3.10+'s sys.orig_argv says so), with no variable that
changes the import path it starts with, and with nothing imported from outside the standard library
(a `.pth` file's module, a sitecustomize). The process then becomes what the venv's python would
start: its sys.prefix, sys.executable and import path (the venv's site-packages added by `site`,
`.pth` files and all), the release's environment, none of pexrun's modules, and pexrun_main.py run
as `__main__`. Anything else is exec'd, as pexrun.main does. Either way no wrapper is left: the
release is the process pexrun started as.
"""

import marshal
import os
import sys

CACHE_DIR_ENV = "PEXRUN_CACHE_DIR"
TRUSTED_KEYS_ENV = "PEXRUN_TRUSTED_KEYS"
PROGRESS_ENV = "PEXRUN_PROGRESS"
PROGRESS_MODES = ("auto", "always", "never")
DOWNLOAD_TIMEOUT_ENV = "PEXRUN_DOWNLOAD_TIMEOUT"
LAUNCHES_DIR = "launches"
_LAUNCH_RECORD_VERSION = 1
# The options of `run` a warm start knows, each with a value; it checks --progress and
# --download-timeout as pexrun.main would, and needs neither.
_WARM_OPTIONS = ("--cache-dir", "--python", "--script", "--progress", "--download-timeout")
# Entry-point overrides in pexrun's own environment would silently run something else than the
# release, so pexrun drops them; `--script` is the way to choose one of its scripts.
ENTRY_POINT_OVERRIDES = ("PEX_MODULE", "PEX_SCRIPT")
# pex's runtime reads the other `PEX_*` variables (PEX_INTERPRETER, PEX_INHERIT_PATH, PEX_VERBOSE...);
# PEX_ROOT only says where it keeps its caches, which a release run from pexrun's venv does not use.
_NOT_FOR_PEX_RUNTIME = ("PEX_ROOT", *ENTRY_POINT_OVERRIDES)
# What changes the import path an interpreter starts with: with any set, the venv's python is exec'd
# to read it, rather than emulated in pexrun's process.
_START_PATH_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONPLATLIBDIR", "PYTHONSAFEPATH")


def default_cache_dir() -> str:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return configured
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pexrun")


def base_python() -> str:
    """The interpreter running pexrun, outside the virtual environment it may run in (an activated
    venv's `python3`): pex would re-execute a release started by a venv's interpreter with the base
    interpreter, a second start-up. A venv made with copies keeps its own."""
    if sys.prefix == sys.base_prefix:
        return sys.executable
    resolved = os.path.realpath(sys.executable)  # a venv's python is a link to its base interpreter
    return sys.executable if resolved.startswith(os.path.join(os.path.realpath(sys.prefix), "")) else resolved


def seconds(value: str):
    """value as a number of seconds, if it is one more than 0 (and finite); else None."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 < number < float("inf") else None


def fingerprint(path: str) -> list:
    """What a change to the entry at path changes (see pexrun.cache)."""
    st = os.lstat(path)
    return [st.st_ino, st.st_size, st.st_mode, st.st_mtime_ns]


def pex_runtime_variables(environ) -> list:
    """The `PEX_*` variables set for pex's runtime: with any, the release runs with it, as before."""
    return sorted(name for name in environ if name.startswith("PEX_") and name not in _NOT_FOR_PEX_RUNTIME)


def venv_environ(base, *, app: str, version: str, sources: str, inject_env) -> dict:
    """The environment pex's runtime gives a sources PEX's app, for the release started from its venv:
    no `PEX_*` variables (pex strips them), `PEX` naming the PEX, the injected env where unset, and
    pexrun's `PEXRUN_APP` and `PEXRUN_VERSION`."""
    env = {name: value for name, value in base.items() if not name.startswith("PEX_")}
    env["PEX"] = os.path.realpath(sources)
    for name, value in inject_env.items():
        env.setdefault(name, value)
    env.update(PEXRUN_APP=app, PEXRUN_VERSION=version)
    return env


def exec_argv(argv, env) -> None:
    """Replaces this process: signals reach the release directly, and no wrapper is left."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], list(argv), dict(env))


def launch_key(repository: str, release: str, python: str, script: str, trusted_keys: str) -> tuple:
    """The invocation a launch record is for; `python` is the interpreter's path as given, or pexrun's own."""
    return (_LAUNCH_RECORD_VERSION, repository, release, python, script, trusted_keys)


def launch_record_path(cache_dir: str, app: str, version: str) -> str:
    return os.path.join(cache_dir, LAUNCHES_DIR, app, version, f"{sys.implementation.cache_tag}.marshal")


def _parse_warm_run(argv, environ):
    """(repository, release, options, args) of a `run` whose form a warm start knows, else None."""
    split = argv.index("--") if "--" in argv else len(argv)
    words, args = argv[:split], argv[split + 1 :]
    if not words or words[0] != "run":
        return None
    positional, options = [], {}
    index = 1
    while index < len(words):
        word = words[index]
        if word.startswith("-"):
            if word not in _WARM_OPTIONS or word in options or index + 1 >= len(words):
                return None
            options[word] = words[index + 1]
            index += 2
        else:
            positional.append(word)
            index += 1
    if len(positional) != 2 or not positional[0].startswith("file://"):
        return None
    progress = options.get("--progress", environ.get(PROGRESS_ENV, "auto"))
    timeout = options.get("--download-timeout", environ.get(DOWNLOAD_TIMEOUT_ENV, "1"))
    if progress not in PROGRESS_MODES or seconds(timeout) is None:
        return None  # a usage error, which pexrun.main reports
    return positional[0], positional[1], options, args


def _checks_hold(checks) -> bool:
    try:
        return all(
            fingerprint(os.path.join(root, path)) == value for root, entries in checks for path, value in entries.items()
        )
    except OSError:
        return False


def warm_start(argv, environ) -> None:
    """Runs the release of a `run` whose launch record's checks all hold (in this process, or
    exec'd); returns otherwise."""
    parsed = _parse_warm_run(argv, environ)
    if parsed is None or pex_runtime_variables(environ):
        return
    repository, release, options, args = parsed
    app, _, version = release.partition("@")
    python = options.get("--python") or base_python()
    if not app or not version or "/" in release or release.startswith(".") or not os.path.isabs(python):
        return
    cache_dir = options.get("--cache-dir") or default_cache_dir()
    key = launch_key(repository, release, python, options.get("--script", ""), environ.get(TRUSTED_KEYS_ENV, ""))
    try:
        with open(launch_record_path(cache_dir, app, version), "rb") as f:
            launch = marshal.load(f).get(key)
        if not launch or not _checks_hold(launch["checks"]):
            return
        os.utime(os.path.join(cache_dir, "manifests", app, f"{version}.json"))  # the record of use, for gc
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return
    env = venv_environ(environ, app=app, version=version, sources=launch["sources"], inject_env=launch["inject_env"])
    command, layout = launch["exec"], launch.get("venv")
    del launch  # its checks (a stat per file) would stay alive while the release runs in this process
    if layout and _can_become(layout, environ):
        _become(layout, [*command[1:], *args], env)
    else:
        exec_argv([*command, *args], env)


def _imports_only_stdlib(stdlib) -> bool:
    """Whether every module this process imported but pexrun's own came from the standard library:
    none from a site-packages (a `.pth` file's imports, a sitecustomize), which the venv's python
    would not have imported."""
    stdlib_dirs = tuple(os.path.join(entry, "") for entry in stdlib)
    other_dirs = tuple(os.path.join(entry, "") for entry in sys.path if entry and entry not in stdlib)
    for name, module in list(sys.modules.items()):
        if name in ("__main__", "pexrun") or name.startswith("pexrun."):
            continue
        for location in (getattr(module, "__file__", None), *(getattr(module, "__path__", None) or ())):
            if isinstance(location, str) and (not location.startswith(stdlib_dirs) or location.startswith(other_dirs)):
                return False
    return True


def _can_become(layout, environ) -> bool:
    """Whether this process can be, from here, the one the venv's python would start: the same
    interpreter with no options of its own (sys.orig_argv, Python 3.10+), no variable that changes
    the import path it starts with, and nothing imported from outside the standard library."""
    orig_argv = getattr(sys, "orig_argv", None)
    return (
        orig_argv is not None
        and orig_argv[1:] == sys.argv
        and not any(name in environ for name in _START_PATH_VARIABLES)
        and "sysconfig" not in sys.modules  # its paths are computed once, for the prefix at the time
        and os.path.realpath(sys.executable) == layout["interpreter"]
        and _imports_only_stdlib(layout["stdlib"])
    )


def _become(layout, argv, env) -> None:
    """Runs the release in this process, as the venv's python would start it (`argv`: the runner
    and its arguments): its prefix, executable and import path (site-packages and their `.pth`
    files), the release's environment, and none of pexrun's modules. This saves the second
    interpreter start an exec costs (about 15 ms), and is still no wrapper: the release is this
    process."""
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    os.environ.update(env)
    for name in [name for name in sys.modules if name == "pexrun" or name.startswith("pexrun.")]:
        del sys.modules[name]
    runner = argv[0]
    sys.path[:] = [os.path.dirname(runner), *layout["stdlib"]]  # the script's directory first, as Python puts it
    for entry in [entry for entry in sys.path_importer_cache if entry not in sys.path]:
        del sys.path_importer_cache[entry]
    sys.prefix = sys.exec_prefix = layout["prefix"]
    sys.executable, sys._base_executable = layout["executable"], layout["base_executable"]
    import site  # imported at start-up: Python's, as the checks made sure

    site.PREFIXES[:] = [layout["prefix"]]
    site.ENABLE_USER_SITE = False  # as in every venv without the system site-packages
    for directory in layout["site_packages"]:
        if os.path.isdir(directory):
            site.addsitedir(directory)
    main = type(sys)("__main__")
    main.__file__, main.__builtins__ = runner, sys.modules["builtins"]
    sys.modules["__main__"], sys.argv = main, list(argv)
    with open(runner, "rb") as f:
        code = compile(f.read(), runner, "exec")
    exec(code, vars(main))


def main() -> None:
    warm_start(sys.argv[1:], os.environ)
    from pexrun.main import main as pexrun_main

    sys.exit(pexrun_main())


if __name__ == "__main__":
    main()
