# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest

from pants.engine.addresses import Address
from pants.engine.target import InvalidFieldException, InvalidTargetException
from pants.testutil.rule_runner import RuleRunner
from pex_release import register
from pex_release.target_types import (
    PexReleaseAppField,
    PexReleaseScriptsField,
    PexReleaseShebangField,
    PexReleaseVersionField,
)
from pex_release.util_rules.release_plan import PexReleaseFieldSet


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(target_types=register.target_types())


def target(rule_runner: RuleRunner, fields: str, path: str = "src/python/api"):
    rule_runner.write_files({f"{path}/BUILD": f"pex_release(name='release', {fields})"})
    return rule_runner.get_target(Address(path, target_name="release"))


def error(rule_runner: RuleRunner, fields: str, path: str = "src/python/api") -> str:
    """The error building the release reports. Making the target succeeds: a bad field fails its
    own release only, not everything that makes every target (such as dependency inference)."""
    field_set = PexReleaseFieldSet.create(target(rule_runner, fields, path))
    with pytest.raises((InvalidFieldException, InvalidTargetException)) as exc:
        field_set.check()
    return " ".join(str(exc.value).split())


def test_app_defaults_to_directory_name(rule_runner: RuleRunner) -> None:
    assert target(rule_runner, "entry_point='main.py'")[PexReleaseAppField].value_or_default() == "api"
    assert target(rule_runner, "entry_point='main.py', app='inventory'")[PexReleaseAppField].value_or_default() == "inventory"


def test_version_is_normalized_pep_440(rule_runner: RuleRunner) -> None:
    assert target(rule_runner, "entry_point='main.py', version='1.4.0-RC1'")[PexReleaseVersionField].value == "1.4.0rc1"


def test_version_not_pep_440(rule_runner: RuleRunner) -> None:
    message = error(rule_runner, "entry_point='main.py', version='v1.4 final'")
    assert "The `version` field in target src/python/api:release is 'v1.4 final', which is not a PEP 440 version" in message
    assert "To fix, use a version like `1.4.0`" in message


def test_entry_point_and_script_are_exclusive(rule_runner: RuleRunner) -> None:
    both = error(rule_runner, "entry_point='main.py', script='uvicorn'")
    assert "src/python/api:release sets both the `entry_point` and `script` fields. To fix, set exactly one" in both
    neither = error(rule_runner, "version='1'")
    assert "sets neither of the `entry_point` and `script` fields" in neither


def test_platform_must_parse(rule_runner: RuleRunner) -> None:
    message = error(rule_runner, "entry_point='main.py', platforms=['linux-x86_64']")
    assert "The `platforms` field in target src/python/api:release has 'linux-x86_64', which is not a pex platform" in message
    assert "linux_x86_64-cp-312-cp312" in message


def test_scripts_are_checked(rule_runner: RuleRunner) -> None:
    scripts = target(rule_runner, "entry_point='main.py', scripts={'acme-hash': 'tools.py:digest'}")
    assert dict(scripts[PexReleaseScriptsField].value) == {"acme-hash": "tools.py:digest"}
    assert "has the command name 'bad name'" in error(rule_runner, "entry_point='main.py', scripts={'bad name': 'a:b'}")
    assert "can only contain one colon" in error(rule_runner, "entry_point='main.py', scripts={'x': 'a:b:c'}")


def test_app_name_is_checked(rule_runner: RuleRunner) -> None:
    assert "The `app` field in target src/python/api:release is 'My App'" in error(rule_runner, "entry_point='main.py', app='My App'")


def test_app_name_derived_from_the_directory_is_checked(rule_runner: RuleRunner) -> None:
    message = error(rule_runner, "entry_point='main.py'", path="src/python/bad/Bad App")
    assert (
        "The `pex_release` target src/python/bad/Bad App:release has no `app` field, so its app name is its "
        "directory's name, 'Bad App', which is not a valid app name. To fix, set `app=\"bad-app\"`"
    ) in message
    # An explicit, valid `app` is the fix.
    assert target(rule_runner, "entry_point='main.py', app='bad-app'", "src/python/bad/Bad App")[PexReleaseAppField].value == "bad-app"


def test_an_app_name_a_repository_reserves_is_refused(rule_runner: RuleRunner) -> None:
    assert (
        "The `app` field in target src/python/api:release is 'index.json', which is reserved: repositories keep "
        "their index of apps at apps/index.json. To fix, set `app=\"index-json\"`"
    ) in error(rule_runner, "entry_point='main.py', app='index.json'")
    # Taken from the directory, too.
    assert (
        "The `pex_release` target src/python/index.json:release has no `app` field, so its app name is its "
        "directory's name, 'index.json', which is reserved: repositories keep their index of apps at "
        "apps/index.json. To fix, set `app=\"index-json\"`"
    ) in error(rule_runner, "entry_point='main.py'", path="src/python/index.json")


@pytest.mark.parametrize("shebang", ["not a shebang\nrm -rf /", "python3", "/usr/bin/python3\n", "#!/usr/bin/env\x1b[2Jpython"])
def test_shebang_is_one_line_starting_with_a_path(rule_runner: RuleRunner, shebang: str) -> None:
    message = error(rule_runner, f"entry_point='main.py', shebang={shebang!r}")
    assert f"The `shebang` field in target src/python/api:release is {shebang!r}, which is not a shebang" in message
    assert 'To fix, use e.g. `shebang="/usr/bin/env python3.12"`' in message


@pytest.mark.parametrize("shebang", ["/usr/bin/env python3.12", "#!/usr/bin/python3"])
def test_shebang_with_or_without_hash_bang(rule_runner: RuleRunner, shebang: str) -> None:
    assert target(rule_runner, f"entry_point='main.py', shebang={shebang!r}")[PexReleaseShebangField].value == shebang


@pytest.mark.parametrize("name", ["A=B", "", "A\0B", "=x"])
def test_env_names_pex_cannot_inject_as_given_are_refused(rule_runner: RuleRunner, name: str) -> None:
    message = error(rule_runner, f"entry_point='main.py', env={{{name!r}: 'x'}}")
    assert f"The `env` field in target src/python/api:release has the variable name {name!r}" in message
    assert "a name must be non-empty, without `=` or a NUL character" in message
    assert "To fix, rename the variable." in message


def test_env_names_with_any_other_character_are_kept(rule_runner: RuleRunner) -> None:
    field_set = PexReleaseFieldSet.create(target(rule_runner, "entry_point='main.py', env={'ACME_ENV': 'a=b', 'x.y-z': ''}"))
    field_set.check()  # a value may hold `=`; only the name is split at it
    assert dict(field_set.env.value) == {"ACME_ENV": "a=b", "x.y-z": ""}
