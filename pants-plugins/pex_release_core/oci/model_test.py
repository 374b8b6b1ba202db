# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest

from pex_release_core.oci.model import (
    ImageError,
    Platform,
    check_tag,
)
from pex_release_core.oci.testutil import AMD64


@pytest.mark.parametrize("tag", ["1.4.0", "latest", "_x", "A" * 128, "1.4.0-py3.12_amd64"])
def test_check_tag_accepts_tags_of_the_distribution_spec(tag: str) -> None:
    check_tag(tag)


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "A" * 129, "acme/api", "1.4.0+build", "v1 "])
def test_check_tag_refuses_other_tags_and_quotes_the_rule(tag: str) -> None:
    with pytest.raises(ImageError) as error:
        check_tag(tag)
    assert str(error.value) == (
        f"{tag!r} is not a valid image tag: a tag is 1 to 128 characters, letters, digits, `_`, `.` and `-`, and "
        "does not start with `.` or `-` (the distribution spec's [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}). To fix, "
        "change the tag, e.g. `1.4.0` or `1.4.0-py312`."
    )


def test_platform_parse_host_and_str() -> None:
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8" and str(AMD64) == "linux/amd64"
    assert Platform.host().os == "linux" and Platform.host().architecture in ("amd64", "arm64")
    with pytest.raises(ImageError, match="'linux' is not a platform: write os/architecture"):
        Platform.parse("linux")
