# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from pants.engine.addresses import Address
from pants.testutil.rule_runner import RuleRunner
from pex_release import register


def test_pex_release_target_is_registered() -> None:
    rule_runner = RuleRunner(target_types=register.target_types())
    rule_runner.write_files({"src/app/BUILD": "pex_release(name='release', description='The app.')"})
    target = rule_runner.get_target(Address("src/app", target_name="release"))
    assert target.alias == "pex_release"
