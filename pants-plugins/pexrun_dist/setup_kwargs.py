# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The version of pexrun's wheel (`//:pexrun-dist`), read from `__version__` in pexrun's sources.

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
VERSION_FILE = "src/python/pexrun/__init__.py"


class PexrunSetupKwargsRequest(SetupKwargsRequest):
    @classmethod
    def is_applicable(cls, target: Target) -> bool:
        return target.address == PEXRUN_DIST


def version_of(source: bytes, path: str) -> str:
    for node in ast.parse(source, filename=path).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise ValueError(
        f'{path} sets no `__version__ = "<version>"`, which the wheel {PEXRUN_DIST} takes its version from.'
    )


@rule(desc="Reading pexrun's version")
async def pexrun_setup_kwargs(request: PexrunSetupKwargsRequest) -> SetupKwargs:
    (source,) = await Get(
        DigestContents,
        PathGlobs(
            [VERSION_FILE],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin=f"the version of {PEXRUN_DIST}",
        ),
    )
    return SetupKwargs(
        {**request.explicit_kwargs, "version": version_of(source.content, source.path)}, address=request.target.address
    )


def rules():
    return [*collect_rules(), UnionRule(SetupKwargsRequest, PexrunSetupKwargsRequest)]
