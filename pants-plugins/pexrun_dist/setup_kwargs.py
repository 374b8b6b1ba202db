# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The versions of this repository's wheels, pexrun's (`//:pexrun-dist`) and the plugin's
(`pants-plugins:dist`), each read from `__version__` in its package (the release core's, for
the plugin), where the code reads it too.

Pants' documented hook for computed `python_artifact` kwargs; read from the syntax tree, not by
importing pexrun into Pants' interpreter.
"""

from __future__ import annotations

import ast

from pants.backend.python.util_rules.package_dists import SetupKwargs, SetupKwargsRequest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents, GlobMatchErrorBehavior, PathGlobs
from pants.engine.internals.selectors import Get
from pants.engine.rules import collect_rules, rule
from pants.engine.target import Target
from pants.engine.unions import UnionRule

PEXRUN_DIST = Address("", target_name="pexrun-dist")
PLUGIN_DIST = Address("pants-plugins", target_name="dist")
VERSION_FILES = {
    PEXRUN_DIST: "src/python/pexrun/__init__.py",
    PLUGIN_DIST: "pants-plugins/pex_release_core/__init__.py",  # the builder named in provenance
}


class VersionFileSetupKwargsRequest(SetupKwargsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return target.address in VERSION_FILES


def version_of(source: bytes, path: str, dist: Address) -> str:
    for node in ast.parse(source, filename=path).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise ValueError(
        f'{path} sets no `__version__ = "<version>"`, which the wheel {dist} takes its version from.'
    )


@rule(desc="Reading a wheel's version")
async def version_file_setup_kwargs(request: VersionFileSetupKwargsRequest) -> SetupKwargs:
    dist = request.target.address
    (source,) = await Get(
        DigestContents,
        PathGlobs(
            [VERSION_FILES[dist]],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin=f"the version of {dist}",
        ),
    )
    return SetupKwargs({**request.explicit_kwargs, "version": version_of(source.content, source.path, dist)}, address=dist)


def rules():
    return [*collect_rules(), UnionRule(SetupKwargsRequest, VersionFileSetupKwargsRequest)]
