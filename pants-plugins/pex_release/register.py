# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The `pex_release` backend: releasable apps as a deps PEX, a sources PEX and a manifest, and
`pex_release_image` for OCI images of them, and `python_zipapp` for plain zipapps (such as
pexrun.pyz)."""

from pex_release import rules as release_rules
from pex_release.goals.zipapp import PythonZipappTarget
from pex_release.target_types import PexReleaseImageTarget, PexReleaseTarget


def target_types():
    return (PexReleaseTarget, PexReleaseImageTarget, PythonZipappTarget)


def rules():
    return release_rules.rules()
