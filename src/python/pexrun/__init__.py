# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun: fetch, verify and run published releases on any host (`python3 pexrun.pyz --help`)."""

# The one place pexrun's version is set: `pexrun --version` prints it, and the wheel
# (`//:pexrun-dist`) takes it from here (pants-plugins/pexrun_dist).
__version__ = "0.1.0"
