# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The sources of a program that a rule runs in a sandbox (`pex_release.sandbox`), as a process's
input: its module and every module of the plugin's packages that it imports, transitively."""

from __future__ import annotations

import ast
import importlib.resources
import importlib.util
from functools import lru_cache

from pants.engine.fs import CreateDigest, FileContent

# The packages a sandbox program may import from (import-linter keeps them off Pants).
_FIRST_PARTY = ("pex_release_core", "pex_release.sandbox")


def _source(module: str) -> bytes:
    package, _, name = module.rpartition(".")
    return importlib.resources.read_binary(package, f"{name}.py")


def _is_package(module: str) -> bool:
    # find_spec imports the parent packages (empty `__init__.py`s), not the module itself.
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent that is not a package
        return False
    return spec is not None and spec.submodule_search_locations is not None


def _is_module(name: str) -> bool:
    """A first-party module (a `.py` file; packages come with their modules)."""
    package, _, base = name.rpartition(".")
    # A top-level package (`from pex_release_core import __version__`) is no module file.
    return bool(package) and name.startswith(_FIRST_PARTY) and _is_package(package) and importlib.resources.is_resource(package, f"{base}.py")


def _imported(module: str) -> set[str]:
    """The first-party modules `module` imports, wherever in it (lazy imports in functions count)."""
    found = set()
    for node in ast.walk(ast.parse(_source(module))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from pex_release_core.oci import model` imports a module, `from ...oci.model import X` a name.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if _is_module(name)}


@lru_cache(maxsize=None)
def _closure(main: str) -> tuple[str, ...]:
    seen, todo = set(), [main]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imported(module))
    return tuple(sorted(seen))


def program_sources(main: str) -> CreateDigest:
    """`main` (a dotted module name) and the modules it needs, each with its packages' `__init__.py`,
    laid out to run as `python -m <main>` or as a PEX's sources."""
    modules = _closure(main)
    packages = sorted({".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)})
    return CreateDigest(
        [
            *(FileContent(f"{_path(p)}/__init__.py", importlib.resources.read_binary(p, "__init__.py")) for p in packages),
            *(FileContent(f"{_path(m)}.py", _source(m)) for m in modules),
        ]
    )


def _path(dotted: str) -> str:
    return dotted.replace(".", "/")
