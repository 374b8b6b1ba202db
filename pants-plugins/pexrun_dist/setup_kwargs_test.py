# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).

import pytest

from pexrun_dist.setup_kwargs import PEXRUN_DIST, version_of


def test_the_version_is_read_from_the_assignment() -> None:
    assert version_of(b'"""Doc."""\nimport os\n__version__ = "1.2.3"\n', "x.py", PEXRUN_DIST) == "1.2.3"


def test_a_module_without_a_literal_version_is_refused_naming_the_file() -> None:
    with pytest.raises(ValueError, match=r"x.py sets no `__version__ = \"<version>\"`, which the wheel //:pexrun-dist"):
        version_of(b"__version__ = compute()\n", "x.py", PEXRUN_DIST)

