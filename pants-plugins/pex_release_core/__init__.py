# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).

# pex-release's version: the plugin's wheel takes it (pants-plugins/pexrun_dist), and each
# release's provenance names it as the builder's.
__version__ = "0.1.0"
