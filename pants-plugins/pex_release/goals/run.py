# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""`run` for `pex_release`: runs the sources PEX with the deps PEX on its PEX path, as released."""

from __future__ import annotations

import os

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.core.goals.run import RunRequest
from pants.engine.fs import Digest, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel
from pex_release.util_rules.release_plan import DEPS_PEX, SOURCES_PEX, PexReleaseFieldSet, ReleasePexes


@rule(level=LogLevel.DEBUG)
async def run_pex_release(field_set: PexReleaseFieldSet) -> RunRequest:
    pexes = await Get(ReleasePexes, PexReleaseFieldSet, field_set)
    python, digest = await MultiGet(
        Get(PythonExecutable, InterpreterConstraints(pexes.plan.interpreter_constraints)),
        Get(Digest, MergeDigests([pexes.plan.deps.digest, pexes.sources.digest])),
    )
    return RunRequest(
        digest=digest,
        args=(python.path, os.path.join("{chroot}", SOURCES_PEX)),
        extra_env={"PEX_PATH": os.path.join("{chroot}", DEPS_PEX)},
    )


def rules():
    return [*collect_rules(), *PexReleaseFieldSet.rules()]
