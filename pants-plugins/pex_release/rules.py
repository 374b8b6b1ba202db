# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Every rule of the `pex_release` backend, with the upstream rules it needs to work standalone."""

from pants.backend.python import target_types_rules
from pants.backend.python.dependency_inference import rules as dependency_inference_rules
from pants.backend.python.util_rules import pex, pex_from_targets
from pants.core.target_types import rules as core_target_types_rules
from pex_release.goals import image, package, publish, run, zipapp
from pex_release.util_rules import closure, entry_points, pex_version, release_plan, revision, sbom


def rules():
    return (
        *closure.rules(),
        *entry_points.rules(),
        *image.rules(),
        *package.rules(),
        *pex_version.rules(),
        *publish.rules(),
        *release_plan.rules(),
        *revision.rules(),
        *sbom.rules(),
        *run.rules(),
        *zipapp.rules(),
        *core_target_types_rules(),
        *dependency_inference_rules.rules(),
        *pex.rules(),
        *pex_from_targets.rules(),
        *target_types_rules.rules(),
    )
