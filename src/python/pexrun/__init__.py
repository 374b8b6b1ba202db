# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pexrun: fetch, verify and run published releases on any host (`python3 pexrun.pyz --help`)."""
