# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).

# The plugin's version: its wheel's (pants-plugins/pexrun_dist reads it), and the builder's that
# each release's provenance names.
__version__ = "0.1.0"
