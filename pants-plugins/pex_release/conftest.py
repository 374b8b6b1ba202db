# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A RuleRunner for the plugin's rule tests, set up like the repository's pants.toml.

The nested engine builds real PEXes, so it uses the launcher's pex tool and interpreters
(`./pants` exports them as PANTS_* variables, which `[test].extra_env_vars` passes through).
"""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

import pytest

from pants.backend.python.target_types import (
    PythonRequirementTarget,
    PythonSourcesGeneratorTarget,
    PythonSourceTarget,
)
from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import PublishProcesses
from pants.core.goals.run import RunRequest
from pants.core.target_types import FileTarget
from pants.engine.fs import Digest, DigestContents
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner
from pex_release import register
from pex_release.goals.publish import PublishPexReleaseRequest
from pex_release.goals.zipapp import PythonZipappFieldSet
from pex_release.util_rules.closure import ClosureLock, ClosureLockRequest
from pex_release.util_rules.release_plan import PexReleaseFieldSet

LAUNCHER_ENV = (
    "PANTS_PEX_CLI_VERSION",
    "PANTS_PEX_CLI_KNOWN_VERSIONS",
    "PANTS_PEX_CLI_URL_TEMPLATE",
    "PANTS_PYTHON_BOOTSTRAP_SEARCH_PATH",
)

# The repository's real lockfile, from the `3rdparty/python:default_lock` dependency.
DEFAULT_LOCK = Path("3rdparty/python/default.lock").read_text()


def requirement(name: str) -> str:
    return f"python_requirement(name='{name}', requirements=['{name}'])\n"


def set_repo_options(rule_runner: RuleRunner, *extra_args: str) -> None:
    """The options of the repository's pants.toml, plus `extra_args` (set_options replaces them all)."""
    # The CA bundle of an HTTPS proxy, as the launcher sets it: pex passes it to pip for downloads.
    ca_certs = os.environ.get("PANTS_CA_CERTS_PATH")
    rule_runner.set_options(
        [
            "--python-enable-resolves",
            "--python-resolves={'python-default': '3rdparty/python/default.lock'}",
            "--python-pip-version=23.1.2",
            "--source-root-patterns=['/src/python']",
            "--subprocess-environment-env-vars=['PIP_CONFIG_FILE=/dev/null']",
            *((f"--ca-certs-path={ca_certs}",) if ca_certs else ()),
            *extra_args,
        ],
        # Not a flag: flagged interpreter constraints would override the targets' own.
        env={"PANTS_PYTHON_INTERPRETER_CONSTRAINTS": "['CPython==3.12.*']"},
        env_inherit={"PATH", "PYENV_ROOT", "HOME", *LAUNCHER_ENV},
    )


@pytest.fixture
def rule_runner() -> RuleRunner:
    return make_rule_runner()


def make_rule_runner(named_caches_dir: str | None = None, isolated_local_store: bool = False) -> RuleRunner:
    """A RuleRunner for the plugin's rules with the repository's options and lockfile; by default
    with this machine's named caches (pex's downloads) and Pants store."""
    caches_args = (f"--named-caches-dir={named_caches_dir}",) if named_caches_dir else ()
    missing = [var for var in LAUNCHER_ENV if var not in os.environ]
    assert not missing, f"run these tests through ./pants, which sets {missing}"
    rule_runner = RuleRunner(
        rules=[
            *register.rules(),
            QueryRule(BuiltPackage, [PexReleaseFieldSet]),
            QueryRule(BuiltPackage, [PythonZipappFieldSet]),
            QueryRule(RunRequest, [PexReleaseFieldSet]),
            QueryRule(PublishProcesses, [PublishPexReleaseRequest]),
            QueryRule(ClosureLock, [ClosureLockRequest]),
            QueryRule(DigestContents, [Digest]),
        ],
        target_types=[
            *register.target_types(),
            FileTarget,
            PythonRequirementTarget,
            PythonSourceTarget,
            PythonSourcesGeneratorTarget,
        ],
        ca_certs_path=os.environ.get("PANTS_CA_CERTS_PATH"),
        bootstrap_args=caches_args,
        isolated_local_store=isolated_local_store,
    )
    set_repo_options(rule_runner, *caches_args)
    rule_runner.write_files(
        {
            "3rdparty/python/default.lock": DEFAULT_LOCK,
            "3rdparty/python/BUILD": "".join(
                requirement(name) for name in ("click", "fastapi", "setproctitle", "numpy")
            ),
        }
    )
    return rule_runner


CLI_APP = dedent(
    """\
    import sys

    import click


    @click.command()
    @click.argument("name")
    def main(name):
        click.echo(f"hello {name} from {sys.argv[0].rsplit('/', 1)[-1]}")


    def shout():
        click.echo(sys.argv[1].upper())
    """
)
