# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
from packaging.version import Version

from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner, engine_error
from pex_release.util_rules import pex_version
from pex_release.util_rules.pex_version import CheckedPexVersion, PexTooOldError

# Word for word: users copy the settings from it.
TOO_OLD = """\
The `pex_release` plugin needs pex 2.33.1 or newer (for `pex3 lock subset`), but Pants is set to use pex v2.1.137 (`[pex-cli].version`, whose default in Pants 2.17 is v2.1.137). To fix, set in pants.toml:

  [pex-cli]
  version = "v2.103.5"
  known_versions = [
    "v2.103.5|linux_x86_64|<sha256>|<size>",
    "v2.103.5|linux_arm64|<sha256>|<size>",
    "v2.103.5|macos_x86_64|<sha256>|<size>",
    "v2.103.5|macos_arm64|<sha256>|<size>",
  ]

where <sha256> and <size> are those of the release's `pex` file, the same on every platform: `curl -sSLO https://github.com/pex-tool/pex/releases/download/v2.103.5/pex && sha256sum pex && wc -c < pex`. Where github.com is unreachable, build the tool from PyPI as the `./pants` launcher of pex-release does (its `build_pex_tool`; running that launcher builds it and exports these settings as `PANTS_PEX_CLI_*`), and add `url_template = "file:///<its directory>/pex-{version}.pex"`."""


def checked(*args: str) -> CheckedPexVersion:
    # The check reads `[pex-cli].version` only: no pex is downloaded or run.
    rule_runner = RuleRunner(rules=[*pex_version.rules(), QueryRule(CheckedPexVersion, [])])
    rule_runner.set_options(args)
    return rule_runner.request(CheckedPexVersion, [])


def test_pants_default_pex_is_too_old_and_the_message_says_what_to_set() -> None:
    with pytest.raises(ExecutionError) as captured:
        checked("--pex-cli-version=v2.1.137")
    (error,) = captured.value.wrapped_exceptions
    assert isinstance(error, PexTooOldError)
    assert str(error) == TOO_OLD


def test_the_oldest_pex_with_a_working_lock_subset_passes() -> None:
    assert checked("--pex-cli-version=v2.33.1") == CheckedPexVersion(Version("2.33.1"))
    with engine_error(PexTooOldError, contains="but Pants is set to use pex v2.33.0 (`[pex-cli].version`"):
        checked("--pex-cli-version=v2.33.0")


def test_the_launchers_pex_passes() -> None:
    assert checked("--pex-cli-version=v2.103.5") == CheckedPexVersion(Version("2.103.5"))
