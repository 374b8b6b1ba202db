# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from pex_release.util_rules.sandbox_sources import program_sources


def files(main: str) -> dict[str, bytes]:
    return {f.path: f.content for f in program_sources(main)}


def test_a_program_comes_with_the_modules_it_imports_lazily_too_and_their_packages() -> None:
    publisher = files("pex_release.sandbox.publisher")
    # publishing, and repository.url, which imports repository.http only inside open_repository.
    for path in (
        "pex_release/sandbox/publisher.py",
        "pex_release_core/publishing.py",
        "pex_release_core/repository/url.py",
        "pex_release_core/repository/http.py",
        "pex_release_core/manifest.py",
        "pex_release/__init__.py",
        "pex_release/sandbox/__init__.py",
        "pex_release_core/__init__.py",
        "pex_release_core/repository/__init__.py",
    ):
        assert path in publisher, sorted(publisher)
    # Nothing it does not import: no OCI modules, no other program, no rule.
    assert not [p for p in publisher if "/oci" in p or "/goals/" in p or "/util_rules/" in p], sorted(publisher)


def test_the_sources_are_the_modules_bytes() -> None:
    import pex_release_core.oci.model as model

    built = files("pex_release.sandbox.build_image")
    with open(model.__file__, "rb") as f:
        assert built["pex_release_core/oci/model.py"] == f.read()
    assert "pex_release_core/oci/transfers.py" not in built  # the registry client: not build_image's
