# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The pex tool Pants runs (`[pex-cli]`) must be new enough for what this plugin asks of it.

Pants 2.17 defaults to pex v2.1.137, which lacks `pex3 lock subset` (the closure step): checked
before any work, so that an old pex is reported as such, never as a stale lockfile.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from pants.backend.python.util_rules.pex_cli import PexCli
from pants.engine.rules import collect_rules, rule
from pants.util.strutil import softwrap

# `pex3 lock subset` appeared in pex 2.31.0; 2.33.1 fixed it for universal locks generated with
# interpreter constraints whose requirements have markers on the Python version, which is what
# `generate-lockfiles` writes. Packed layouts and the `--lock` resolves Pants uses are older.
MINIMUM_PEX_VERSION = Version("2.33.1")
# The newest version tested with this plugin (the one ./pants in the pex-release repository uses).
RECOMMENDED_PEX_VERSION = "v2.103.5"
# The platforms of Pants 2.17's own `[pex-cli].known_versions`; the pex PEX is the same file on each.
_PLATFORMS = ("linux_x86_64", "linux_arm64", "macos_x86_64", "macos_arm64")


class PexTooOldError(Exception):
    """`[pex-cli].version` names a pex older than `MINIMUM_PEX_VERSION`."""


def too_old_message(found: str) -> str:
    rows = "".join(f'    "{RECOMMENDED_PEX_VERSION}|{p}|<sha256>|<size>",\n' for p in _PLATFORMS)
    return (
        softwrap(
            f"""
            The `pex_release` plugin needs pex {MINIMUM_PEX_VERSION} or newer (for `pex3 lock
            subset`), but Pants is set to use pex {found} (`[pex-cli].version`, whose default in
            Pants 2.17 is v2.1.137). To fix, set in pants.toml:
            """
        )
        + "\n\n  [pex-cli]\n"
        + f'  version = "{RECOMMENDED_PEX_VERSION}"\n'
        + f"  known_versions = [\n{rows}  ]\n\n"
        + softwrap(
            f"""
            where <sha256> and <size> are those of the release's `pex` file, the same on every
            platform: `curl -sSLO https://github.com/pex-tool/pex/releases/download/{RECOMMENDED_PEX_VERSION}/pex
            && sha256sum pex && wc -c < pex`. Where github.com is unreachable, build the tool from
            PyPI as the `./pants` launcher of pex-release does (its `build_pex_tool`; running that
            launcher builds it and exports these settings as `PANTS_PEX_CLI_*`), and add
            `url_template = "file:///<its directory>/pex-{{version}}.pex"`.
            """
        )
    )


@dataclass(frozen=True)
class CheckedPexVersion:
    """The `[pex-cli].version` in use, checked against `MINIMUM_PEX_VERSION`."""

    version: Version


def check_pex_version(configured: str) -> Version:
    # Pants has already refused a `[pex-cli].version` outside its own `>=2.1.135,<3.0`.
    version = Version(configured.lstrip("v"))
    if version < MINIMUM_PEX_VERSION:
        raise PexTooOldError(too_old_message(configured))
    return version


@rule(desc="Checking the pex version")
async def checked_pex_version(pex_cli: PexCli) -> CheckedPexVersion:
    return CheckedPexVersion(check_pex_version(pex_cli.version))


def rules():
    return collect_rules()
