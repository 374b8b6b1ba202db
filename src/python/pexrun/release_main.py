# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Starts a release from pexrun's virtualenv of its deps, as pex's runtime starts a sources PEX.

pexrun writes this file into each virtualenv it builds (`<venv>/pexrun_main.py`) and execs

    <venv>/bin/python <venv>/pexrun_main.py <sources tree> entry-point|script <target> <N> <N injected args> [args...]

with the environment pex's runtime would give the app (pexrun.start.venv_environ), or, on a warm
start, runs it as `__main__` in pexrun's own process made into what that command would start
(pexrun.start._become). Here the sources tree goes first on sys.path (the venv's site-packages
follow), the injected args are expanded as pex expands them (`{pex.env.NAME}`) before the user's,
and the entry point (`module[:function]`) or the venv's console script runs. Python may write the
bytecode of what the release imports, whatever PYTHONDONTWRITEBYTECODE says: the venv and the trees
are pexrun's cache, compiled once by the interpreter that runs them (the environment, which child
processes inherit, is left alone).

Runs on the release's Python (3.9 or newer), with the standard library only, and imports little:
this is every warm start's cost.
"""

import os
import sys


class _Environment:
    """`{pex.env.NAME}` in an injected arg: NAME's value, or "" (pex's safe namespace)."""

    def __getattr__(self, name):
        return os.environ.get(name, "")

    __getitem__ = __getattr__


class _Replacements:
    env = _Environment()


def _run_entry_point(entry_point):
    module, _, attrs = entry_point.partition(":")
    if not attrs:
        import runpy

        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    target = __import__(module, fromlist=["__name__"])
    for attr in attrs.split("."):
        target = getattr(target, attr)
    return target()


def main():
    sources, kind, target, count = sys.argv[1:5]
    injected, args = sys.argv[5 : 5 + int(count)], sys.argv[5 + int(count) :]
    sys.dont_write_bytecode = False
    if getattr(sys.flags, "safe_path", False):  # PYTHONSAFEPATH: this file's directory is not on sys.path
        sys.path.insert(0, sources)
    else:
        sys.path[0] = sources  # in place of this file's directory
    sys.argv = [sources, *(arg.format(pex=_Replacements) for arg in injected), *args]
    if kind == "script":
        import runpy

        runpy.run_path(os.path.join(sys.prefix, "bin", target), run_name="__main__")
        sys.exit(0)
    sys.exit(_run_entry_point(target))


if __name__ == "__main__":
    main()
