# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
from pants.option.errors import OptionsError
from pants.testutil.option_util import create_subsystem

from pex_release.subsystem import PexReleaseSubsystem


def test_channel_is_unset_by_default_and_checked_when_set() -> None:
    assert create_subsystem(PexReleaseSubsystem, channel=None).channel is None
    assert create_subsystem(PexReleaseSubsystem, channel="canary").channel == "canary"
    with pytest.raises(OptionsError) as error:
        create_subsystem(PexReleaseSubsystem, channel="1.4.1").channel
    assert str(error.value).startswith("[pex-releases].channel: '1.4.1' is not a valid channel name: it reads as a version")
    assert str(error.value).endswith("Set it in pants.toml, or with --pex-releases-channel.")
