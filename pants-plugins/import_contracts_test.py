# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The import contracts in .importlinter hold for the repository's sources.

The release core (pex_release_core) and pexrun run where there is no Pants, and the sandbox
programs (pex_release.sandbox) run as processes on Pythons without it; the backend's modules are
layered. An import across those lines works in the tests that load everything together and fails
only on a host, or in a rule's sandbox, so import-linter checks them here, in `./pants test ::`.

The sources come from the root `:import-contracts` files target, not from Python targets (those
belong to other resolves). import-linter parses them without importing them, so none of their
requirements are needed here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The repository root in a Pants sandbox (and in a checkout): this file is pants-plugins/<name>.
ROOT = Path(__file__).absolute().parent.parent
SOURCE_ROOTS = ("pants-plugins", "src/python")
CONFIG = ".importlinter"

# `lint-imports`, without its console script: where that lands depends on how pytest runs (Pants
# runs it from a PEX), while the interpreter running this test can always import import-linter.
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Runs `lint-imports --config .importlinter --no-cache --no-logo` in `tree`, a repository copy."""
    roots = [str(tree / root) for root in SOURCE_ROOTS]
    # The child finds import-linter where this process does, and the packages under check only in
    # `tree`: the sandbox's own source roots are dropped, so a copy is checked, not the original.
    # (Entries are made absolute: the child runs in `tree`.)
    own_roots = {str(ROOT / root) for root in SOURCE_ROOTS}
    inherited = [os.path.abspath(entry) for entry in sys.path if entry]
    inherited = [entry for entry in inherited if entry not in own_roots]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*roots, *inherited]),
        # rich (import-linter's output) wraps at 80 columns when not on a terminal.
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--config", CONFIG, "--no-cache", "--no-logo"],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def copy_sources(dest: Path) -> Path:
    """Copies the contracts and the packages they cover to `dest`."""
    shutil.copy2(ROOT / CONFIG, dest / CONFIG)
    for package in ("pants-plugins", "src/python/pexrun"):
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return dest


def test_import_contracts_hold() -> None:
    assert (ROOT / CONFIG).is_file(), f"no {CONFIG} at {ROOT}: the test needs //:import-contracts"
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout


def test_a_forbidden_import_fails_the_check(tmp_path: Path) -> None:
    # The check must fail on a broken contract, not merely run: the core gains a Pants import.
    tree = copy_sources(tmp_path)
    manifest = tree / "pants-plugins/pex_release_core/manifest.py"
    source = manifest.read_text()
    manifest.write_text(f"{source}\nimport pants.engine.rules  # the forbidden import\n")
    line = source.count("\n") + 2

    result = lint_imports(tree)

    assert result.returncode == 1, result.stdout
    assert "pex_release_core imports neither pants nor pex_release BROKEN" in result.stdout, result.stdout
    # grimp names an external package by its top level.
    assert f"pex_release_core.manifest -> pants (l.{line})" in result.stdout, result.stdout
