# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""This plugin's own modules as the inputs of a process: a tool PEX's sources, or a script's."""

from __future__ import annotations

import importlib.resources

from pants.engine.fs import CreateDigest, FileContent


def module_files(*modules: str) -> CreateDigest:
    """`pex_release/<module>.py` for each module named, with the package's `__init__.py`."""
    return CreateDigest(
        [
            FileContent("pex_release/__init__.py", b""),
            *(
                FileContent(f"pex_release/{name}.py", importlib.resources.read_binary(__package__, f"{name}.py"))
                for name in sorted(modules)
            ),
        ]
    )
