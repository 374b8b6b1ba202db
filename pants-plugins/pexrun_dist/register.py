# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""This repository's own build support, not part of the pex_release plugin: pexrun's wheel takes
its version from `pexrun.__version__`, so that the wheel and `pexrun.pyz` carry one number, and
the plugin's wheel from `pex_release_core.__version__`, which provenance names."""

from pexrun_dist import setup_kwargs


def rules():
    return setup_kwargs.rules()
