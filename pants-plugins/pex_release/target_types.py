# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from pants.engine.target import COMMON_TARGET_FIELDS, Target
from pants.util.strutil import help_text


class PexReleaseTarget(Target):
    alias = "pex_release"
    core_fields = COMMON_TARGET_FIELDS
    help = help_text("A releasable app: a deps PEX, a sources PEX and a release manifest.")
